// Socket inode -> processes, and process identity, from /proc (proc(5)).
#include "../parse/procfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "../platform.h"
#include "../posix/fd.h"

namespace pw {
namespace {

struct linux_dirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

// Calls fn(name) for each entry of the directory fd (excluding "." and "..").
template <typename Fn>
int each_entry(int dirfd, Fn fn) {
  alignas(8) char buf[16384];
  for (;;) {
    long n = syscall(SYS_getdents64, dirfd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (n == 0) return 0;
    for (long off = 0; off < n;) {
      auto* d = reinterpret_cast<linux_dirent64*>(buf + off);
      off += d->d_reclen;
      const char* name = d->d_name;
      if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0))) continue;
      if (!fn(name)) return 0;
    }
  }
}

bool parse_pid(const char* name, int& pid) {
  uint64_t v;
  if (!parse_decimal(name, strlen(name), 0x7fffffff, v) || v == 0) return false;
  pid = int(v);
  return true;
}

// Reads a small /proc file relative to dirfd. Returns bytes read, or -errno with `failed`
// naming the system call that failed.
ssize_t read_at(int dirfd, const char* path, char* buf, size_t cap, const char*& failed) {
  UniqueFd fd(openat(dirfd, path, O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    failed = "openat";
    return -errno;
  }
  size_t total = 0;
  while (total < cap) {
    ssize_t n = read(fd.get(), buf + total, cap - total);
    if (n < 0) {
      if (errno == EINTR) continue;
      failed = "read";
      return -errno;
    }
    if (n == 0) break;
    total += size_t(n);
  }
  return ssize_t(total);
}

// A thread id stands for its process (its fd table is the process's). pidfd_open accepts
// only thread-group leaders (a thread id gets EINVAL or, on newer kernels, ENOENT), which
// costs one syscall; only otherwise is /proc/PID/status (expensive to generate) read.
int thread_group_of(int procfd, int pid) {
#ifdef SYS_pidfd_open
  UniqueFd pidfd(int(syscall(SYS_pidfd_open, pid, 0)));
  if (pidfd.valid()) return pid;
  if (errno == ESRCH) return pid;  // gone: the scan will find nothing
#endif
  char path[32];
  snprintf(path, sizeof path, "%d/status", pid);
  char status[1024];
  const char* ignored;
  ssize_t n = read_at(procfd, path, status, sizeof status, ignored);
  uint32_t tgid;
  if (n > 0 && parse_status_tgid(status, size_t(n), tgid) == 0 && tgid != 0) return int(tgid);
  return pid;
}

}  // namespace

int find_owners(const std::vector<uint64_t>& inodes, const std::vector<int>& candidates,
                const std::vector<uint32_t>& uids, bool stop_when_resolved, OwnerScan& out,
                const char*& failed) {
  out.holders.assign(inodes.size(), {});
  out.denied = 0;
  out.scanned = 0;
  std::unordered_map<uint64_t, size_t> index;
  for (size_t i = 0; i < inodes.size(); i++) {
    if (inodes[i] != 0) index.emplace(inodes[i], i);
  }
  if (index.empty()) return 0;
  UniqueFd proc(open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!proc.valid()) {
    failed = "open";
    return -errno;
  }

  size_t unresolved = index.size();
  std::vector<char> resolved(inodes.size(), 0);
  auto scan = [&](int pid) {
    char path[32];
    snprintf(path, sizeof path, "%d/fd", pid);
    UniqueFd dir(openat(proc.get(), path, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir.valid()) {
      if (errno == EACCES || errno == EPERM) out.denied++;
      return;  // ENOENT/ESRCH: exited meanwhile
    }
    out.scanned++;
    each_entry(dir.get(), [&](const char* name) {
      char link[64];
      ssize_t n = readlinkat(dir.get(), name, link, sizeof link);
      uint64_t ino;
      if (n > 0 && parse_socket_link(link, size_t(n), ino)) {
        auto it = index.find(ino);
        if (it != index.end()) {
          auto& h = out.holders[it->second];
          if (h.empty() || h.back() != pid) h.push_back(pid);
          if (!resolved[it->second]) {
            resolved[it->second] = 1;
            unresolved--;
          }
        }
      }
      return true;
    });
  };
  auto done = [&] { return stop_when_resolved && unresolved == 0; };

  // Sets, not linear searches: callers may pass many candidates (the scan stays O(n)).
  std::unordered_set<int> seen;
  for (int pid : candidates) {
    if (pid <= 0) continue;
    pid = thread_group_of(proc.get(), pid);
    if (!seen.insert(pid).second) continue;
    scan(pid);
    if (done()) break;
  }
  if (!done()) {
    std::vector<int> all;
    each_entry(proc.get(), [&](const char* name) {
      int pid;
      if (parse_pid(name, pid) && seen.count(pid) == 0) all.push_back(pid);
      return true;
    });
    if (stop_when_resolved && !uids.empty()) {
      // Processes of the sockets' creators first: usually the holders.
      std::unordered_set<uint32_t> creators(uids.begin(), uids.end());
      std::stable_partition(all.begin(), all.end(), [&](int pid) {
        char name[16];
        snprintf(name, sizeof name, "%d", pid);
        struct stat st;
        return fstatat(proc.get(), name, &st, 0) == 0 && creators.count(uint32_t(st.st_uid)) != 0;
      });
    }
    for (int pid : all) {
      scan(pid);
      if (done()) break;
    }
  }
  for (auto& h : out.holders) std::sort(h.begin(), h.end());
  return 0;
}

int process_info(int pid, ProcessInfo& out, const char*& failed) {
  if (pid <= 0) return -ESRCH;
  char path[32];
  snprintf(path, sizeof path, "/proc/%d", pid);
  failed = "open";
  UniqueFd dir(open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) return errno == ENOENT ? -ESRCH : -errno;
  char buf[4096];
  ssize_t n = read_at(dir.get(), "stat", buf, sizeof buf, failed);
  if (n < 0) return n == -ENOENT ? -ESRCH : int(n);
  ProcStat st;
  failed = "read";  // what it read does not parse
  if (parse_proc_stat(buf, size_t(n), st) < 0) return -EINVAL;
  out.pid = pid;
  out.ppid = st.ppid;
  out.name = st.comm;
  out.state = st.state;
  out.start_time = st.start_time;
  n = read_at(dir.get(), "status", buf, sizeof buf, failed);
  if (n < 0) return n == -ENOENT ? -ESRCH : int(n);
  failed = "read";
  if (parse_status_euid(buf, size_t(n), out.uid) < 0) return -EINVAL;
  // /proc/TID answers for every thread too: a thread id is not a process.
  uint32_t tgid;
  if (parse_status_tgid(buf, size_t(n), tgid) == 0 && int(tgid) != pid) return -ESRCH;
  const char* ignored;
  n = read_at(dir.get(), "cmdline", buf, sizeof buf, ignored);
  out.command.clear();
  if (n > 0) {
    size_t len = size_t(n);
    while (len > 0 && buf[len - 1] == 0) len--;
    for (size_t i = 0; i < len; i++)
      if (buf[i] == 0) buf[i] = ' ';
    out.command.assign(buf, len);
  }
  return 0;
}

int boot_id(std::string& out, const char*& failed) {
  char buf[64];
  failed = "open";
  UniqueFd root(open("/proc/sys/kernel/random", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) return -errno;
  ssize_t n = read_at(root.get(), "boot_id", buf, sizeof buf, failed);
  if (n < 0) return int(n);
  size_t len = size_t(n);
  while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' ')) len--;
  failed = "read";
  if (len == 0) return -EINVAL;
  out.assign(buf, len);
  return 0;
}

}  // namespace pw

#include "pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../platform.h"
#include "fd.h"

namespace pw {
namespace {

// A locked file that is still empty (or unparsable) is re-read this often, 5 ms apart,
// before we answer EAGAIN (as pidfile(3) does).
constexpr int kEmptyRetries = 3;
// A locked file whose record names a dead process is usually a stale file that a reader
// (LOCK_SH) or another claimer holds for a moment: retry the lock this often, 5 ms apart.
constexpr int kStaleRetries = 10;
// Bound on reopen loops (the file was replaced or unlinked between open and lock).
constexpr int kMaxAttempts = 100;

void sleep_ms(int ms) {
  struct timespec ts = {0, long(ms) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

int lock(int fd, int op) {
  for (;;) {
    if (flock(fd, op) == 0) return 0;
    if (errno != EINTR) return -errno;
  }
}

// Reads up to kPidFileMaxBytes from offset 0. Returns the byte count or -errno.
ssize_t read_all(int fd, std::string& out) {
  out.resize(kPidFileMaxBytes);
  size_t total = 0;
  while (total < out.size()) {
    ssize_t n = pread(fd, &out[total], out.size() - total, off_t(total));
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (n == 0) break;
    total += size_t(n);
  }
  out.resize(total);
  return ssize_t(total);
}

int read_record(int fd, PidFileRecord& rec) {
  std::string buf;
  ssize_t n = read_all(fd, buf);
  if (n < 0) return int(n);
  parse_pidfile(buf.data(), buf.size(), rec);
  return 0;
}

// Whether the record names a live process (same start time and boot, when recorded).
// Errors other than "no such process" count as alive: never call a live holder dead.
bool record_alive(const PidFileRecord& rec, const PidFileSelf& self) {
  if (!rec.has_pid) return false;
  if (!rec.boot_id.empty() && !self.boot_id.empty() && rec.boot_id != self.boot_id) return false;
  ProcessInfo info;
  int r = process_info(rec.pid, info);
  if (r == -ESRCH) return false;
  if (r < 0) return true;
  if (info.state == 'Z' || info.state == 'X') return false;
  return !rec.has_start_time || info.start_time == rec.start_time;
}

// Whether an unlocked record may be replaced without `force`: it names nothing (empty), the
// claimer itself (none of our claims holds it, or our flock would have failed: a claim of a
// worker thread that has ended, say), or a process that is provably gone.
bool record_stale(const PidFileRecord& rec, const PidFileSelf& self) {
  if (rec.empty) return true;
  if (!rec.has_pid) return false;  // garbage or another format: cannot be judged
  if (rec.pid == self.pid) return true;
  return !record_alive(rec, self);
}

bool same_file(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// Replaces the contents with one pwrite. Returns the failing syscall (errno set) or null.
const char* write_contents(int fd, bool truncate, const std::string& contents) {
  if (truncate && ftruncate(fd, 0) != 0) return "ftruncate";
  size_t done = 0;
  while (done < contents.size()) {
    ssize_t n = pwrite(fd, contents.data() + done, contents.size() - done, off_t(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EIO;
      return "pwrite";
    }
    done += size_t(n);
  }
  return nullptr;
}

}  // namespace

int pidfile_claim(const char* path, const PidFileSelf& self, const std::string& data, bool force,
                  PidFileClaim& out) {
  out = PidFileClaim();
  const std::string contents = format_pidfile(self.pid, self.start_time, self.boot_id, data);
  int empty_retries = 0;
  int stale_retries = 0;
  for (int attempt = 0; attempt < kMaxAttempts; attempt++) {
    bool created = true;
    out.syscall = "open";
    UniqueFd fd(open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (!fd.valid() && errno == EEXIST) {
      // A symlink (even a dangling one) also gives EEXIST; O_NOFOLLOW turns it into ELOOP.
      created = false;
      fd.reset(open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
      if (!fd.valid() && errno == ENOENT) continue;  // unlinked meanwhile: create it
    }
    if (!fd.valid()) return -errno;

    struct stat st;
    if (fstat(fd.get(), &st) != 0) {
      out.syscall = "fstat";
      return -errno;
    }
    if (!S_ISREG(st.st_mode)) return -EINVAL;  // a FIFO, device or socket: not ours to touch

    int r = lock(fd.get(), LOCK_EX | LOCK_NB);
    if (r == -EWOULDBLOCK) {
      PidFileRecord rec;
      r = read_record(fd.get(), rec);
      if (r < 0) {
        out.syscall = "pread";
        return r;
      }
      // A reader's LOCK_SH lasts microseconds: try once more before judging.
      r = lock(fd.get(), LOCK_EX | LOCK_NB);
    }
    if (r == -EWOULDBLOCK) {
      PidFileRecord rec;
      r = read_record(fd.get(), rec);
      fd.reset();
      if (r < 0) {
        out.syscall = "pread";
        return r;
      }
      if (!rec.has_pid) {
        if (empty_retries++ < kEmptyRetries) {
          sleep_ms(5);
          continue;
        }
        if (rec.empty) {
          out.syscall = "flock";
          return -EAGAIN;
        }
      } else if (!record_alive(rec, self) && stale_retries++ < kStaleRetries) {
        sleep_ms(5);
        continue;
      }
      out.held = true;
      out.locked = true;
      out.holder = rec;
      return 0;
    }
    if (r < 0) {
      // ENOLCK/EOPNOTSUPP/EINVAL: no flock on this filesystem. Leave nothing behind.
      out.syscall = "flock";
      struct stat now;
      if (created && lstat(path, &now) == 0 && same_file(now, st)) unlink(path);
      return r;
    }

    // The path may have been unlinked or replaced between our open and our lock (the
    // previous owner releasing): then this inode is no longer the PID file.
    struct stat now;
    if (fstat(fd.get(), &st) != 0 || st.st_nlink == 0 || lstat(path, &now) != 0 ||
        !same_file(now, st)) {
      continue;
    }
    // Judged under the exclusive lock: no claimer can rewrite the file meanwhile (a file we
    // have just created is empty, unless a tool that does not lock wrote it since). A refusal
    // unlocks and closes without writing: contents and mtime stay as they were.
    PidFileRecord rec;
    r = read_record(fd.get(), rec);
    if (r < 0 || (!force && !record_stale(rec, self))) {
      lock(fd.get(), LOCK_UN);
      fd.reset();
      if (r < 0) {
        out.syscall = "pread";
        return r;
      }
      if (!rec.has_pid) {
        out.syscall = "pread";
        return -EBADMSG;
      }
      out.held = true;
      out.locked = false;
      out.holder = rec;
      return 0;
    }
    out.previous = rec;
    out.took_over = !rec.empty;
    // Locked: nobody else writes it now. A new (empty) file needs no truncation.
    const char* failed = write_contents(fd.get(), st.st_size != 0, contents);
    if (failed) {
      // We hold the lock and the path is ours: remove the broken file.
      int e = errno;
      unlink(path);
      out.syscall = failed;
      return -e;
    }
    out.fd = std::move(fd);
    out.dev = uint64_t(st.st_dev);
    out.ino = uint64_t(st.st_ino);
    out.created = created;
    out.syscall = "";
    return 0;
  }
  return -EAGAIN;
}

int pidfile_release(UniqueFd fd, const char* path, uint64_t dev, uint64_t ino,
                    const char*& failed) {
  int r = 0;
  struct stat st;
  if (lstat(path, &st) != 0) {
    if (errno != ENOENT && errno != ENOTDIR) {
      failed = "lstat";
      r = -errno;
    }
  } else if (uint64_t(st.st_dev) == dev && uint64_t(st.st_ino) == ino && unlink(path) != 0 &&
             errno != ENOENT) {
    failed = "unlink";
    r = -errno;
  }
  fd.reset();  // closed only now: the file stayed locked until it was gone
  return r;
}

int pidfile_read(const char* path, PidFileStatus& out) {
  out = PidFileStatus();
  UniqueFd fd(open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  if (!fd.valid()) {
    if (errno == ENOENT) return 0;
    return -errno;
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0) {
    out.syscall = "fstat";
    return -errno;
  }
  if (!S_ISREG(st.st_mode)) return -EINVAL;
  out.exists = true;
  int r = lock(fd.get(), LOCK_SH | LOCK_NB);
  if (r == 0) {
    // Nobody holds it: stale. Read under our shared lock (no claimer can rewrite it now).
    r = read_record(fd.get(), out.record);
    lock(fd.get(), LOCK_UN);
    if (r < 0) out.syscall = "pread";
    return r;
  }
  if (r != -EWOULDBLOCK) {
    out.syscall = "flock";
    return r;
  }
  out.locked = true;
  for (int i = 0;; i++) {
    r = read_record(fd.get(), out.record);
    if (r < 0 || out.record.has_pid || i >= kEmptyRetries) break;
    sleep_ms(5);
  }
  if (r < 0) out.syscall = "pread";
  return r;
}

int pidfile_rewrite(int fd, const PidFileSelf& who, const std::string& data, const char*& failed) {
  const std::string contents = format_pidfile(who.pid, who.start_time, who.boot_id, data);
  failed = write_contents(fd, true, contents);
  return failed != nullptr ? -errno : 0;
}

}  // namespace pw

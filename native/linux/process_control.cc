// Process exit waits and identity-checked signals with pidfds (pidfd_open(2),
// pidfd_send_signal(2)). pidfd_open needs Linux 5.3, pidfd_send_signal 5.1; older kernels (or
// seccomp filters that answer EPERM for unknown syscalls) get -ENOSYS / the kill(2) fallback.
#include "../process_control.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>

#include "../platform.h"
#include "../posix/fd.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434  // the same number on every architecture
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

namespace pw {
namespace {

// pidfd_open(pid) into `out`: 0, -ESRCH, -ENOSYS (not available here), or another -errno.
int open_pidfd(int pid, UniqueFd& out) {
  out.reset(int(syscall(SYS_pidfd_open, pid, 0)));
  if (out.valid()) return 0;
  int e = errno;
  // EPERM is not a documented pidfd_open error: it is a seccomp filter refusing the call.
  if (e == EPERM) return -ENOSYS;
  // A thread id that is not a thread-group leader (EINVAL before Linux 6.9, ENOENT on newer
  // kernels with pidfs): no process has this pid.
  if (e == ENOENT || e == EINVAL) return -ESRCH;
  return -e;
}

// 0 when `ref` is the process that now has its pid (or no identity was asked for),
// kIdentityMismatch when the pid belongs to another process, -ESRCH when it is gone.
int check_identity(const ProcessRef& ref, const char*& failed) {
  if (ref.start_time < 0) return 0;
  ProcessInfo info;
  int r = process_info(ref.pid, info, failed);
  if (r < 0) return r;
  return int64_t(info.start_time) == ref.start_time ? 0 : kIdentityMismatch;
}

int64_t now_ms() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace

int wait_cancel_open(WaitCancel& out, const char*& failed) {
  out.fd.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (out.fd.valid()) return 0;
  failed = "eventfd";
  return -errno;
}

void wait_cancel_fire(const WaitCancel& cancel) {
  if (!cancel.fd.valid()) return;
  uint64_t one = 1;
  ssize_t n;
  do {
    n = write(cancel.fd.get(), &one, sizeof one);
  } while (n < 0 && errno == EINTR);
}

int wait_any_exit(const std::vector<ProcessRef>& targets, int timeout_ms, const WaitCancel& cancel,
                  std::vector<uint8_t>& gone, const char*& failed) {
  gone.assign(targets.size(), 0);
  std::vector<UniqueFd> pidfds;
  pidfds.reserve(targets.size());
  std::vector<struct pollfd> fds;
  std::vector<size_t> index;  // fds[k] watches targets[index[k]]
  int count = 0;
  for (size_t i = 0; i < targets.size(); i++) {
    UniqueFd pidfd;
    int r = open_pidfd(targets[i].pid, pidfd);
    if (r == -ESRCH) {
      gone[i] = 1;
      count++;
      continue;
    }
    if (r < 0) {
      failed = "pidfd_open";
      return r;
    }
    int fd = pidfd.get();
    pidfds.push_back(std::move(pidfd));
    // The pidfd pins whatever process had the pid at open time; if that is not the one
    // we were asked about, ours is gone (its pid was reused).
    r = check_identity(targets[i], failed);
    if (r == kIdentityMismatch || r == -ESRCH) {
      gone[i] = 1;
      count++;
      continue;
    }
    if (r < 0) return r;
    fds.push_back({fd, POLLIN, 0});
    index.push_back(i);
  }
  if (count > 0) return count;
  if (cancel.fd.valid()) fds.push_back({cancel.fd.get(), POLLIN, 0});

  int64_t deadline = now_ms() + timeout_ms;
  for (;;) {
    int64_t left = deadline - now_ms();
    int n = poll(fds.data(), fds.size(), left > 0 ? int(left) : 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      failed = "poll";
      return -errno;
    }
    for (size_t k = 0; k < index.size(); k++) {
      if (fds[k].revents != 0) {
        gone[index[k]] = 1;
        count++;
      }
    }
    return count;  // exits seen, the cancel fired, or the timeout passed
  }
}

int signal_process(const ProcessRef& target, int sig, bool use_pidfd, const char*& failed) {
  if (target.pid <= 0) return -ESRCH;
  UniqueFd pidfd;
  int r = use_pidfd ? open_pidfd(target.pid, pidfd) : -ENOSYS;
  if (r == -ESRCH) return -ESRCH;
  if (r < 0 && r != -ENOSYS) {
    failed = "pidfd_open";
    return r;
  }
  r = check_identity(target, failed);
  if (r != 0) return r;
  if (!pidfd.valid() && target.start_time < 0) {
    // kill(2) given a thread id signals that thread's whole process: without a pidfd (which
    // only a thread-group leader gets) make sure the pid names a process.
    ProcessInfo info;
    r = process_info(target.pid, info, failed);
    if (r == -ESRCH) return r;
  }
  if (pidfd.valid()) {
    long rc = syscall(SYS_pidfd_send_signal, pidfd.get(), sig, nullptr, 0);
    int e = errno;
    pidfd.reset();
    if (rc == 0) return 0;
    if (e != ENOSYS) {  // ESRCH: it exited after the check
      failed = "pidfd_send_signal";
      return -e;
    }
    r = check_identity(target, failed);  // no pidfd_send_signal (5.1): re-check, then kill
    if (r != 0) return r;
  }
  failed = "kill";
  return kill(target.pid, sig) == 0 ? 0 : -errno;
}

}  // namespace pw

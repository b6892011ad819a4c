// Process exit waits and identity-checked signals on darwin, with kqueue (the contract of
// process_control.h; the Linux version uses pidfds). EVFILT_PROC/NOTE_EXIT fires when the
// process exits, zombie or not. A knote pins the process that had the pid when it was
// added, so the identity check comes after the registration, as with a pidfd. darwin has
// no pidfd_send_signal: signal_process checks the identity immediately before kill(2).
//
// The cancel handle is a kqueue holding one EVFILT_USER event without EV_CLEAR: once
// triggered it stays pending, so the kqueue stays readable, and wait_any_exit watches it
// with EVFILT_READ from its own kqueue (kqueues are readable while events are pending;
// xnu kern_event.c kqread_filtops).
// Compiled on the project's Linux machine (npm run check:darwin), NOT executed: macOS CI only.
#include "../process_control.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/event.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <utility>

#include "../platform.h"
#include "../posix/fd.h"

namespace pw {
namespace {

constexpr uintptr_t kCancelIdent = 1;

// A close-on-exec kqueue into `out`, or -errno with `failed` set.
int open_kqueue(UniqueFd& out, const char*& failed) {
  out.reset(kqueue());
  if (!out.valid()) {
    failed = "kqueue";
    return -errno;
  }
  fcntl(out.get(), F_SETFD, FD_CLOEXEC);
  return 0;
}

// 0 when `ref` is the process that now has its pid (or no identity was asked for),
// kIdentityMismatch when the pid belongs to another process, -ESRCH when it is gone.
// With `zombie_gone`, a zombie is gone too: its NOTE_EXIT has already fired (or the knote
// could not attach), so waiting on it would last until the timeout.
int check_identity(const ProcessRef& ref, bool zombie_gone, const char*& failed) {
  if (ref.start_time < 0 && !zombie_gone) return 0;
  ProcessInfo info;
  int r = process_info(ref.pid, info, failed);
  if (r < 0) return r;
  if (zombie_gone && info.state == 'Z') return -ESRCH;
  if (ref.start_time < 0) return 0;
  return int64_t(info.start_time) == ref.start_time ? 0 : kIdentityMismatch;
}

int64_t now_ms() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace

int wait_cancel_open(WaitCancel& out, const char*& failed) {
  UniqueFd kq;
  int r = open_kqueue(kq, failed);
  if (r < 0) return r;
  struct kevent ev;
  EV_SET(&ev, kCancelIdent, EVFILT_USER, EV_ADD, 0, 0, nullptr);
  if (kevent(kq.get(), &ev, 1, nullptr, 0, nullptr) < 0) {
    failed = "kevent";
    return -errno;
  }
  out.fd = std::move(kq);
  return 0;
}

void wait_cancel_fire(const WaitCancel& cancel) {
  if (!cancel.fd.valid()) return;
  struct kevent ev;
  EV_SET(&ev, kCancelIdent, EVFILT_USER, 0, NOTE_TRIGGER, 0, nullptr);
  while (kevent(cancel.fd.get(), &ev, 1, nullptr, 0, nullptr) < 0 && errno == EINTR) {
  }
}

int wait_any_exit(const std::vector<ProcessRef>& targets, int timeout_ms, const WaitCancel& cancel,
                  std::vector<uint8_t>& gone, const char*& failed) {
  gone.assign(targets.size(), 0);
  UniqueFd kq;
  int r = open_kqueue(kq, failed);
  if (r < 0) return r;
  int count = 0;
  for (size_t i = 0; i < targets.size(); i++) {
    struct kevent change, result;
    EV_SET(&change, uintptr_t(targets[i].pid), EVFILT_PROC, EV_ADD | EV_RECEIPT, NOTE_EXIT, 0,
           nullptr);
    int n;
    do {
      n = kevent(kq.get(), &change, 1, &result, 1, nullptr);
    } while (n < 0 && errno == EINTR);
    failed = "kevent";
    if (n < 0) return -errno;
    int err = (n == 1 && (result.flags & EV_ERROR)) ? int(result.data) : 0;
    if (err == ESRCH) {
      gone[i] = 1;
      count++;
      continue;
    }
    // A sandbox that refuses EVFILT_PROC: the caller polls, as with Linux's seccomp EPERM.
    if (err == EPERM || err == EACCES) return -ENOSYS;
    if (err != 0) return -err;
    r = check_identity(targets[i], true, failed);
    if (r == kIdentityMismatch || r == -ESRCH) {
      gone[i] = 1;
      count++;
      continue;
    }
    if (r < 0) return r;
  }
  if (count > 0) return count;
  failed = "kevent";
  if (cancel.fd.valid()) {
    struct kevent change;
    EV_SET(&change, uintptr_t(cancel.fd.get()), EVFILT_READ, EV_ADD, 0, 0, nullptr);
    if (kevent(kq.get(), &change, 1, nullptr, 0, nullptr) < 0) return -errno;
  }

  int64_t deadline = now_ms() + timeout_ms;
  struct kevent events[64];
  for (;;) {
    int64_t left = deadline - now_ms();
    if (left < 0) left = 0;
    struct timespec ts = {time_t(left / 1000), long((left % 1000) * 1000000)};
    int n = kevent(kq.get(), nullptr, 0, events, 64, &ts);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    for (int k = 0; k < n; k++) {
      if (events[k].filter != EVFILT_PROC) continue;  // the cancel kqueue became readable
      // By pid, not udata: a pid listed twice shares one knote.
      for (size_t i = 0; i < targets.size(); i++) {
        if (uintptr_t(targets[i].pid) == events[k].ident && !gone[i]) {
          gone[i] = 1;
          count++;
        }
      }
    }
    return count;  // exits seen, the cancel fired, or the timeout passed
  }
}

int signal_process(const ProcessRef& target, int sig, bool /*use_pidfd: no pidfds here*/,
                   const char*& failed) {
  if (target.pid <= 0) return -ESRCH;
  int r = check_identity(target, false, failed);
  if (r != 0) return r;
  failed = "kill";
  return kill(target.pid, sig) == 0 ? 0 : -errno;
}

}  // namespace pw

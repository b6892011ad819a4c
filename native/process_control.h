// Waiting for processes to exit and signalling them without a PID-reuse window.
// Plain C++: no napi. Implemented in linux/process_control.cc (pidfd) and
// darwin/process_control.cc (kqueue). Every function returns 0 (or the documented
// non-negative value) or -errno, with `failed` naming the system call that failed, and
// never throws.
#pragma once

#include <cstdint>
#include <vector>

#include "posix/fd.h"

namespace pw {

// One process to watch: `pid`, and the start time it must have (platform.h
// ProcessInfo::start_time), or -1 for "whichever process has this pid now".
struct ProcessRef {
  int pid = 0;
  int64_t start_time = -1;
};

// Wakes a wait_any_exit() blocked on another thread. fire() may be called from any
// thread, any number of times; the descriptor closes with the WaitCancel, once nothing
// can wait on it any more. An empty one (no descriptor) never fires.
struct WaitCancel {
  UniqueFd fd;
};
int wait_cancel_open(WaitCancel& out, const char*& failed);
void wait_cancel_fire(const WaitCancel& cancel);

// Blocks until at least one of `targets` is gone, `cancel` fires (if it has a descriptor), or
// `timeout_ms` (>= 0) passes. A target is gone when its process has exited (a zombie
// counts as exited), or when its pid now belongs to a process with another start time.
// Sets gone[i] to 1 for every target that is gone when the wait ends.
// Returns the number of gone targets (0: timeout or cancelled), -ENOSYS when this kernel
// (or a seccomp filter) offers no pidfd_open, so the caller must poll, or another -errno.
int wait_any_exit(const std::vector<ProcessRef>& targets, int timeout_ms, const WaitCancel& cancel,
                  std::vector<uint8_t>& gone, const char*& failed);

// signal_process() result when the pid now belongs to a process with another start time.
constexpr int kIdentityMismatch = 1;

// Sends `sig` to `target.pid` only if that pid still is the process started at
// `target.start_time` (-1: no identity check). With pidfds, the process is pinned by a
// pidfd before its start time is read, so a pid reused after the check is never hit.
// Without pidfds (`use_pidfd` false, ENOSYS, or a seccomp EPERM on pidfd_open) the
// check is repeated immediately before kill(2).
// Returns 0 (sent), kIdentityMismatch (nothing sent), -ESRCH (no such process), -EPERM
// (not allowed to signal it), or another -errno.
int signal_process(const ProcessRef& target, int sig, bool use_pidfd, const char*& failed);

}  // namespace pw

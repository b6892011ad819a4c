// Atomic PID files with flock (flock(2); FreeBSD pidfile(3)). Plain C++: returns 0
// or -errno, never throws, never touches napi.
//
// Protocol: open O_CREAT|O_EXCL (falling back to the existing file) with O_NOFOLLOW, take
// flock(LOCK_EX|LOCK_NB), check that the path still names the locked inode, judge what the
// file holds, then ftruncate and write the record with one pwrite. The descriptor and its
// lock live as long as the process (the kernel drops the lock when the process dies, even
// on SIGKILL), so taking over a stale file needs no unlink.
//
// A locked file is alive whatever it holds. An unlocked one is stale only when it is empty
// or the process it names is provably gone (no such pid, a zombie, or a recorded start time
// or boot id that does not match); a record naming the claimer itself is stale too (it holds
// no lock on it: a worker thread that ended, say). An unlocked file naming a live process
// belongs to a daemon that does not lock (a plain "<pid>" file), and an unlocked non-empty
// file naming no pid is not a PID file we can judge: both are left untouched unless the
// caller forces the claim. The judgement is made while we hold the exclusive lock, so no
// other claimer can change the file between the check and the write.
#pragma once

#include <cstdint>
#include <string>

#include "../parse/pidfile.h"
#include "fd.h"

namespace pw {

// Identity of the claiming process, written into the file.
struct PidFileSelf {
  int pid = 0;
  uint64_t start_time = 0;
  std::string boot_id;
};

struct PidFileClaim {
  // 0 on success; otherwise the syscall that failed (for the error message).
  const char* syscall = "open";
  // Another live process holds the file; `holder` is what its file says. `locked`: it holds
  // the lock (has_pid is false when the contents name no pid: a locked file is alive
  // whatever it contains); otherwise the unlocked file names a live process other than us.
  bool held = false;
  bool locked = false;
  PidFileRecord holder;
  // Set when we own the file.
  UniqueFd fd;
  uint64_t dev = 0;
  uint64_t ino = 0;
  bool created = false;    // we created the file (O_EXCL succeeded)
  bool took_over = false;  // we replaced a stale record left by a dead owner
  PidFileRecord previous;  // that stale record
};

// Claims `path`. Returns 0 (check out.held), -EAGAIN when the file stays locked but empty
// (its owner is still writing it), -EBADMSG (syscall "pread") when an unlocked file is not
// empty but names no pid (left untouched), -ELOOP for a symlink, -EINVAL (syscall "open")
// when the path is not a regular file, the flock error (ENOLCK, EOPNOTSUPP, EINVAL; syscall
// "flock") on filesystems without flock, or another -errno of open/pread/ftruncate/pwrite.
// `force` takes over any unlocked file (a foreign live pid, unparsable contents); it never
// takes a locked one.
int pidfile_claim(const char* path, const PidFileSelf& self, const std::string& data, bool force,
                  PidFileClaim& out);

// Unlinks `path` if it still names (dev, ino), while the lock is still held, then closes
// fd. Returns 0 or the -errno of lstat or unlink, named by `failed` (the fd is closed in
// every case).
int pidfile_release(UniqueFd fd, const char* path, uint64_t dev, uint64_t ino, const char*& failed);

// Rewrites the record of a file we hold (fd from pidfile_claim) to name `who`: used to hand
// the file to a child process that inherited the locked descriptor. Returns 0 or -errno
// of ftruncate or pwrite, named by `failed`.
int pidfile_rewrite(int fd, const PidFileSelf& who, const std::string& data, const char*& failed);

struct PidFileStatus {
  const char* syscall = "open";
  bool exists = false;
  bool locked = false;  // someone holds the lock: a live instance
  PidFileRecord record;
};

// Reads `path` without taking ownership: flock(LOCK_SH|LOCK_NB) tells whether a live
// process holds it (released at once). Missing file: 0 with exists false.
int pidfile_read(const char* path, PidFileStatus& out);

}  // namespace pw

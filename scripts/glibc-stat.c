// Linked into the glibc prebuilds only (scripts/prebuild-all.mjs), before Zig's libc.
//
// glibc exports stat, lstat, fstat and fstatat only since 2.33; older glibc puts them in
// libc_nonshared.a as wrappers over the exported __xstat family. Zig 0.11's own
// libc_nonshared.a for a glibc < 2.33 target instead makes the system call itself and
// stores a failure in a private, statically linked `errno` (a TLS variable of the addon),
// not in glibc's: the caller then reads a stale errno (seen: a missing path reported as
// ESRCH or "error 0" instead of ENOENT). These definitions are glibc's own
// libc_nonshared wrappers, so errors land in glibc's errno. check-prebuilds.mjs fails a
// glibc build that still carries a TLS segment (the private errno).
#include <fcntl.h>
#include <sys/stat.h>

#if defined(__x86_64__)
#define PW_STAT_VER 1  // _STAT_VER_LINUX (sysdeps/unix/sysv/linux/x86/bits/stat.h)
#elif defined(__aarch64__)
#define PW_STAT_VER 0  // _STAT_VER_KERNEL (sysdeps/unix/sysv/linux/generic/bits/stat.h)
#else
#error "glibc-stat.c: _STAT_VER of this architecture is not known"
#endif

extern int __xstat(int ver, const char* path, struct stat* buf);
extern int __lxstat(int ver, const char* path, struct stat* buf);
extern int __fxstat(int ver, int fd, struct stat* buf);
extern int __fxstatat(int ver, int dirfd, const char* path, struct stat* buf, int flags);

int stat(const char* path, struct stat* buf) {
  return __xstat(PW_STAT_VER, path, buf);
}
int lstat(const char* path, struct stat* buf) {
  return __lxstat(PW_STAT_VER, path, buf);
}
int fstat(int fd, struct stat* buf) {
  return __fxstat(PW_STAT_VER, fd, buf);
}
int fstatat(int dirfd, const char* path, struct stat* buf, int flags) {
  return __fxstatat(PW_STAT_VER, dirfd, path, buf, flags);
}

// 64-bit targets: struct stat64 is struct stat, and the *64 names are aliases.
int stat64(const char* path, struct stat* buf) __attribute__((alias("stat")));
int lstat64(const char* path, struct stat* buf) __attribute__((alias("lstat")));
int fstat64(int fd, struct stat* buf) __attribute__((alias("fstat")));
int fstatat64(int dirfd, const char* path, struct stat* buf, int flags)
    __attribute__((alias("fstatat")));

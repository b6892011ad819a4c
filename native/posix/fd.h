// One owner for every file descriptor the addon opens (Linux and darwin alike). Plain C++,
// no napi.
#pragma once

#include <unistd.h>

#include <cerrno>

namespace pw {

// Closes `fd` once. Returns 0 or -errno. EINTR (and EINPROGRESS, which POSIX allows in its
// place) counts as closed: on Linux and darwin the descriptor is released before close(2)
// can be interrupted, so a retry could close a descriptor another thread has just opened.
inline int close_fd(int fd) {
  if (close(fd) == 0 || errno == EINTR || errno == EINPROGRESS) return 0;
  return -errno;
}

// Owns one descriptor (-1: none) and closes it once: on destruction, reset() or close().
// Move-only; release() hands the descriptor out without closing it.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }

  // The descriptor, no longer owned (-1 if none).
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

  // Closes the owned descriptor (keeping errno: error paths read it after the cleanup) and
  // takes `fd`.
  void reset(int fd = -1) {
    if (fd_ >= 0 && fd_ != fd) {
      int e = errno;
      close_fd(fd_);
      errno = e;
    }
    fd_ = fd;
  }

  // Closes the owned descriptor and reports the error: 0, -errno, or -EBADF when none.
  int close() { return fd_ >= 0 ? close_fd(release()) : -EBADF; }

 private:
  int fd_ = -1;
};

}  // namespace pw

#include "notify.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

#include "fd.h"

namespace pw {

int notify_send(const std::string& path, const std::string& message, const char*& failed) {
  failed = "sendto";  // a path or message it could never be sent to
  if (path.empty() || message.empty() || path.find('\0') != std::string::npos) return -EINVAL;

  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  socklen_t len;
  if (path[0] == '@') {
#ifndef __linux__
    return -EINVAL;  // the abstract namespace exists only on Linux
#else
    // Abstract: a leading NUL, then the name; the length counts exactly those bytes.
    if (path.size() > sizeof addr.sun_path) return -ENAMETOOLONG;
    memcpy(addr.sun_path + 1, path.data() + 1, path.size() - 1);
    len = socklen_t(offsetof(struct sockaddr_un, sun_path) + path.size());
#endif
  } else {
    if (path.size() >= sizeof addr.sun_path) return -ENAMETOOLONG;
    memcpy(addr.sun_path, path.data(), path.size());
    len = socklen_t(offsetof(struct sockaddr_un, sun_path) + path.size() + 1);
  }

#ifdef SOCK_CLOEXEC
  UniqueFd fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
#else
  UniqueFd fd(socket(AF_UNIX, SOCK_DGRAM, 0));
  if (fd.valid()) fcntl(fd.get(), F_SETFD, FD_CLOEXEC);
#endif
  if (!fd.valid()) {
    failed = "socket";
    return -errno;
  }

#ifdef MSG_NOSIGNAL
  const int flags = MSG_NOSIGNAL;
#else
  const int flags = 0;
#endif
  ssize_t n;
  do {
    n = sendto(fd.get(), message.data(), message.size(), flags,
               reinterpret_cast<const struct sockaddr*>(&addr), len);
  } while (n < 0 && errno == EINTR);
  failed = "sendto";
  return n < 0 ? -errno : (size_t(n) == message.size() ? 0 : -EMSGSIZE);
}

}  // namespace pw

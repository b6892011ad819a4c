#include "listen.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <utility>

#ifdef __APPLE__
#include <launch.h>
#endif

#include "../platform.h"
#include "fd.h"

namespace pw {
namespace {

int64_t now_ms() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// socket(2) with FD_CLOEXEC (and O_NONBLOCK when asked) set atomically where possible.
int new_socket(int domain, int type, bool nonblocking, UniqueFd& out, const char*& failed) {
  failed = "socket";
#ifdef SOCK_CLOEXEC
  out.reset(socket(domain, type | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0));
  if (!out.valid()) return -errno;
#else
  out.reset(socket(domain, type, 0));
  if (!out.valid()) return -errno;
  failed = "fcntl";
  if (fcntl(out.get(), F_SETFD, FD_CLOEXEC) != 0 ||
      (nonblocking && fcntl(out.get(), F_SETFL, fcntl(out.get(), F_GETFL) | O_NONBLOCK) != 0)) {
    int e = errno;
    out.reset();
    return -e;
  }
#endif
  return 0;
}

// A unix socket address for `path` ('@name' = abstract, Linux only).
int unix_address(const std::string& path, struct sockaddr_un& addr, socklen_t& len) {
  if (path.empty() || path.find('\0') != std::string::npos) return -EINVAL;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (path[0] == '@') {
#ifndef __linux__
    return -EINVAL;
#else
    if (path.size() > sizeof addr.sun_path) return -ENAMETOOLONG;
    memcpy(addr.sun_path + 1, path.data() + 1, path.size() - 1);
    len = socklen_t(offsetof(struct sockaddr_un, sun_path) + path.size());
    return 0;
#endif
  }
  if (path.size() >= sizeof addr.sun_path) return -ENAMETOOLONG;
  memcpy(addr.sun_path, path.data(), path.size());
  len = socklen_t(offsetof(struct sockaddr_un, sun_path) + path.size() + 1);
  return 0;
}

// CMSG_NXTHDR as a function: musl's macro compares a signed with an unsigned length,
// which -Wsign-compare (part of -Wextra) reports wherever the macro is expanded.
struct cmsghdr* next_cmsg(struct msghdr* msg, struct cmsghdr* c) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
  return CMSG_NXTHDR(msg, c);
#pragma GCC diagnostic pop
}

// Closes every descriptor an SCM_RIGHTS message put into this process, and returns the
// sender pid of an SCM_CREDENTIALS message (-1 without one).
int read_control(struct msghdr& msg) {
  int pid = -1;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = next_cmsg(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET) continue;
    if (c->cmsg_type == SCM_RIGHTS) {
      size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < n; i++) {
        int fd;
        memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        close_fd(fd);
      }
    }
#ifdef __linux__
    if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
      struct ucred cred;
      memcpy(&cred, CMSG_DATA(c), sizeof cred);
      pid = int(cred.pid);
    }
#endif
  }
  return pid;
}

}  // namespace

int describe_socket(int fd, SocketDescription& out) {
  out = SocketDescription();
  struct stat st;
  if (fstat(fd, &st) != 0) {
    out.syscall = "fstat";
    return -errno;
  }
  if (!S_ISSOCK(st.st_mode)) {
    out.syscall = "fstat";
    return -ENOTSOCK;
  }

  int v = 0;
  socklen_t len = sizeof v;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) != 0) {
    out.syscall = "getsockopt";
    return -errno;
  }
  out.type = v;
#ifdef SO_DOMAIN
  len = sizeof v;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) == 0) out.domain = v;
#endif
#ifdef SO_PROTOCOL
  len = sizeof v;
  if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &v, &len) == 0) out.protocol = v;
#endif
  len = sizeof v;
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == 0) out.accepting = v != 0 ? 1 : 0;

  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t slen = sizeof ss;
  if (getsockname(fd, reinterpret_cast<struct sockaddr*>(&ss), &slen) != 0) {
    out.syscall = "getsockname";
    return -errno;
  }
  if (out.domain < 0) out.domain = ss.ss_family;

  char buf[INET6_ADDRSTRLEN];
  if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const struct sockaddr_in*>(&ss);
    out.family = 4;
    out.address = inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf) ? buf : "";
    out.port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const struct sockaddr_in6*>(&ss);
    out.family = 6;
    out.address = inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf) ? buf : "";
    out.port = ntohs(a->sin6_port);
    len = sizeof v;
    if (getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, &len) == 0) out.v6only = v != 0 ? 1 : 0;
  } else if (ss.ss_family == AF_UNIX) {
    const auto* a = reinterpret_cast<const struct sockaddr_un*>(&ss);
    size_t offset = offsetof(struct sockaddr_un, sun_path);
    size_t n = slen > offset ? size_t(slen) - offset : 0;
    if (n > sizeof a->sun_path) n = sizeof a->sun_path;
    if (n > 0 && a->sun_path[0] == '\0') {
      out.address = "@" + std::string(a->sun_path + 1, n - 1);  // abstract
    } else {
      out.address = std::string(a->sun_path, strnlen(a->sun_path, n));
    }
  }
  return 0;
}

int set_cloexec(int fd, bool on) {
  int flags = fcntl(fd, F_GETFD);
  if (flags < 0) return -errno;
  int next = on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC);
  if (next != flags && fcntl(fd, F_SETFD, next) != 0) return -errno;
  return 0;
}

int listen_tcp(const std::string& host, int port, int backlog, UniqueFd& fd_out,
               const char*& failed) {
  fd_out.reset();
  failed = "bind";  // an address that does not parse is refused as bind(2) refuses one
  if (port < 0 || port > 65535 || host.find('\0') != std::string::npos) return -EINVAL;
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t len;
  bool any6 = false;
  auto* a4 = reinterpret_cast<struct sockaddr_in*>(&ss);
  auto* a6 = reinterpret_cast<struct sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, host.c_str(), &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(uint16_t(port));
    len = sizeof *a4;
  } else if (inet_pton(AF_INET6, host.c_str(), &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(uint16_t(port));
    any6 = IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr);
    len = sizeof *a6;
  } else {
    return -EINVAL;
  }
#ifdef __APPLE__
  ss.ss_len = uint8_t(len);
#endif

  UniqueFd fd;
  int r = new_socket(ss.ss_family, SOCK_STREAM, false, fd, failed);
  if (r < 0) return r;
  int one = 1, zero = 0;
  failed = "setsockopt";
  if (setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      (any6 && setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero) != 0)) {
    return -errno;
  }
  failed = "bind";
  if (bind(fd.get(), reinterpret_cast<struct sockaddr*>(&ss), len) != 0) return -errno;
  failed = "listen";
  if (listen(fd.get(), backlog) != 0) return -errno;
  fd_out = std::move(fd);
  return 0;
}

int dgram_open(const std::string& path, UniqueFd& fd_out, const char*& failed) {
  fd_out.reset();
  struct sockaddr_un addr;
  socklen_t len = 0;
  failed = "bind";
  int r = unix_address(path, addr, len);
  if (r < 0) return r;
  UniqueFd fd;
  r = new_socket(AF_UNIX, SOCK_DGRAM, true, fd, failed);
  if (r < 0) return r;
#ifdef __linux__
  int one = 1;
  failed = "setsockopt";
  if (setsockopt(fd.get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof one) != 0) return -errno;
#endif
  failed = "bind";
  if (bind(fd.get(), reinterpret_cast<struct sockaddr*>(&addr), len) != 0) return -errno;
  fd_out = std::move(fd);
  return 0;
}

int dgram_receive(int fd, int timeout_ms, const WaitCancel& cancel, std::vector<Datagram>& out,
                  const char*& failed) {
  out.clear();
  int64_t deadline = now_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
  struct pollfd fds[2] = {{fd, POLLIN, 0}, {cancel.fd.get(), POLLIN, 0}};
  nfds_t nfds = cancel.fd.valid() ? 2 : 1;
  failed = "poll";
  for (;;) {
    int64_t left = deadline - now_ms();
    if (left < 0) left = 0;
    int n = poll(fds, nfds, int(left));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    if (n == 0) return 0;                            // timeout
    if (nfds == 2 && fds[1].revents != 0) return 0;  // cancelled
    if (fds[0].revents & POLLNVAL) return -EBADF;
    break;
  }

  failed = "recvmsg";
  while (out.size() < kMaxDatagramsPerReceive) {
    char data[kMaxDatagramBytes];
    struct iovec iov = {data, sizeof data};
    // Room for the sender's credentials and a few descriptors a sender might push on us
    // (they are closed at once); the kernel closes whatever does not fit (MSG_CTRUNC).
    union {
      char buf[CMSG_SPACE(sizeof(int) * 8) + CMSG_SPACE(64)];
      struct cmsghdr align;
    } control;
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    int flags = MSG_DONTWAIT;
#ifdef MSG_CMSG_CLOEXEC
    flags |= MSG_CMSG_CLOEXEC;
#endif
    ssize_t got = recvmsg(fd, &msg, flags);
    if (got < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (out.empty()) return -errno;
      break;
    }
    Datagram d;
    d.pid = read_control(msg);
    d.data.assign(data, size_t(got));
    d.truncated = (msg.msg_flags & MSG_TRUNC) != 0;
    out.push_back(std::move(d));
  }
  return 0;
}

int launchd_sockets(const std::string& name, std::vector<int>& fds, const char*& failed) {
  fds.clear();
  failed = "launch_activate_socket";
#ifdef __APPLE__
  int* list = nullptr;
  size_t count = 0;
  int r = launch_activate_socket(name.c_str(), &list, &count);
  if (r != 0) return -r;
  for (size_t i = 0; i < count; i++) fds.push_back(list[i]);
  free(list);
  return 0;
#else
  (void)name;
  return -ENOTSUP;
#endif
}

int unix_socket_file(const std::string& path, UnixSocketFile& out, const char*& failed) {
  out = UnixSocketFile();
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return 0;
    failed = "stat";
    return -errno;
  }
  out.exists = true;
  out.is_socket = S_ISSOCK(st.st_mode);
  out.dev = socket_file_dev(st.st_dev);
  out.ino = uint32_t(st.st_ino);
  return 0;
}

}  // namespace pw

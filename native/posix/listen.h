// Sockets handed from a supervisor to its children: describing an inherited descriptor,
// creating a listening TCP socket to pass on, and receiving sd_notify(3) datagrams on a
// private unix socket. Plain C++, no napi. Every function returns 0 or -errno and never
// throws; `failed` (or `syscall`) names the system call that failed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../process_control.h"  // WaitCancel
#include "fd.h"

namespace pw {

// What an inherited descriptor is. Fields the kernel does not report here are -1.
struct SocketDescription {
  int type = -1;        // SOCK_STREAM (1), SOCK_DGRAM (2), SOCK_SEQPACKET (5), ...
  int domain = -1;      // AF_INET, AF_INET6, AF_UNIX (SO_DOMAIN, else the address family)
  int protocol = -1;    // IPPROTO_TCP / IPPROTO_UDP (SO_PROTOCOL, Linux only)
  int accepting = -1;   // SO_ACCEPTCONN: 1 listening, 0 not
  int v6only = -1;      // IPV6_V6ONLY of an AF_INET6 socket
  int family = 0;       // 4, 6, or 0 for any other address family
  std::string address;  // numeric IP; a unix path; '@name' for an abstract unix name
  int port = -1;        // local port of an inet socket (0: not bound)
  const char* syscall = "";
};

// Describes `fd` with fstat, getsockopt and getsockname. -EBADF (no such descriptor),
// -ENOTSOCK (a pipe, a regular file, a tty: `type` is then -1), or another -errno.
int describe_socket(int fd, SocketDescription& out);

// Sets or clears FD_CLOEXEC on `fd`.
int set_cloexec(int fd, bool on);

// A new TCP socket bound to `host` (a numeric IPv4 or IPv6 address) and `port`, listening
// with `backlog`: SO_REUSEADDR set (as every libuv bind does), IPV6_V6ONLY cleared for a
// wildcard '::', FD_CLOEXEC set (a child gets it only through an explicit dup2, such as an
// extra stdio entry of spawn), blocking. Returns the fd in `fd_out`.
// -EINVAL ("bind") for an address that does not parse; the kernel's errors otherwise
// (EADDRINUSE, EACCES below 1024, EAFNOSUPPORT without IPv6, EADDRNOTAVAIL for a foreign
// address).
int listen_tcp(const std::string& host, int port, int backlog, UniqueFd& fd_out,
               const char*& failed);

// An AF_UNIX SOCK_DGRAM socket bound to `path` ('@name': the Linux abstract namespace),
// non-blocking and close-on-exec, with SO_PASSCRED on Linux so that every datagram carries
// its sender's pid. A path socket file is created by bind (EADDRINUSE if it exists).
int dgram_open(const std::string& path, UniqueFd& fd_out, const char*& failed);

struct Datagram {
  std::string data;  // the bytes of one datagram (cut at kMaxDatagramBytes)
  int pid = -1;      // sender pid (SCM_CREDENTIALS, Linux); -1 where the kernel tells none
  bool truncated = false;
};
constexpr size_t kMaxDatagramBytes = 4096;
constexpr size_t kMaxDatagramsPerReceive = 64;

// Waits until `fd` is readable, `cancel` fires, or `timeout_ms` passes; then reads every
// queued datagram (at most kMaxDatagramsPerReceive) without blocking. An empty `out` means
// timeout or cancelled. -errno when poll or recvmsg fail.
int dgram_receive(int fd, int timeout_ms, const WaitCancel& cancel, std::vector<Datagram>& out,
                  const char*& failed);

// macOS: the descriptors launchd opened for the `Sockets` entry `name` of this job's plist
// (launch_activate_socket(3)). -ENOTSUP on other systems; -ENOENT: no such entry; -ESRCH:
// this process is not managed by launchd; -EALREADY: already activated.
int launchd_sockets(const std::string& name, std::vector<int>& fds, const char*& failed);

}  // namespace pw

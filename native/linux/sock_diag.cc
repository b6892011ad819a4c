// inet_dump / unix_dump over NETLINK_SOCK_DIAG (sock_diag(7); iproute2 misc/ss.c).
#include <arpa/inet.h>
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstring>

#include "../parse/netlink.h"
#include "../platform.h"
#include "../posix/fd.h"

namespace pw {

static_assert(sizeof(struct nlmsghdr) == kNlmsgHdrLen, "nlmsghdr layout");
static_assert(sizeof(struct inet_diag_msg) == kInetDiagMsgLen, "inet_diag_msg layout");
static_assert(sizeof(struct unix_diag_msg) == kUnixDiagMsgLen, "unix_diag_msg layout");
static_assert(sizeof(struct inet_diag_req) == 60, "inet_diag_req (compat) layout");
static_assert(NLMSG_ERROR == kNlmsgError && NLMSG_DONE == kNlmsgDone, "netlink types");
static_assert(NLM_F_DUMP_INTR == kNlmFDumpIntr, "NLM_F_DUMP_INTR");
static_assert(INET_DIAG_SKV6ONLY == kInetDiagSkV6Only, "INET_DIAG_SKV6ONLY");
static_assert(UNIX_DIAG_NAME == kUnixDiagName && UNIX_DIAG_VFS == kUnixDiagVfs, "unix_diag attrs");

namespace {

constexpr int kMaxDumpRetries = 8;  // NLM_F_DUMP_INTR retries before giving up with EAGAIN

// A NETLINK_SOCK_DIAG socket, or -errno with `failed` set.
int open_netlink(UniqueFd& out, const char*& failed) {
  out.reset(socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (out.valid()) return 0;
  failed = "socket";
  return -errno;
}

// Sends one request. Every later failure of a dump (recv's own, or an errno the kernel
// answers in the reply, or a malformed reply) is reported as "recv"'s.
int send_request(int fd, const void* req, size_t len, const char*& failed) {
  struct sockaddr_nl kernel = {};
  kernel.nl_family = AF_NETLINK;
  failed = "sendto";
  for (;;) {
    ssize_t n = sendto(fd, req, len, 0, reinterpret_cast<struct sockaddr*>(&kernel), sizeof kernel);
    if (n >= 0) break;
    if (errno != EINTR) return -errno;
  }
  failed = "recv";
  return 0;
}

ssize_t recv_retry(int fd, uint8_t* buf, size_t cap) {
  for (;;) {
    ssize_t n = recv(fd, buf, cap, 0);
    if (n >= 0) return n;
    if (errno != EINTR) return -errno;
  }
}

// Receives until the parser reports the end of dump `seq` (or an error). An interrupted
// dump (-EAGAIN) is read to its end first, so that the socket can take the retry: while a
// dump is still running the kernel answers a new request with EBUSY.
template <typename Parse>
int receive_dump(int fd, uint32_t seq, Parse parse) {
  alignas(NLMSG_ALIGNTO) uint8_t buf[32768];
  for (;;) {
    ssize_t n = recv_retry(fd, buf, sizeof buf);
    if (n < 0) return int(n);
    if (n == 0) return -EBADMSG;
    int r = parse(buf, size_t(n));
    if (r == kParseMore) continue;
    if (r != -EAGAIN) return r == kParseDone ? 0 : r;
    for (;;) {
      int end = parse_dump_end(buf, size_t(n), seq);
      if (end != kParseMore) return end == kParseDone ? -EAGAIN : end;
      n = recv_retry(fd, buf, sizeof buf);
      if (n < 0) return int(n);
      if (n == 0) return -EBADMSG;
    }
  }
}

int receive_inet(int fd, uint32_t seq, uint8_t protocol, uint16_t port,
                 std::vector<InetSocket>& out) {
  size_t before = out.size();
  int r = receive_dump(
      fd, seq, [&](const uint8_t* b, size_t n) { return parse_inet_diag(b, n, seq, port, out); });
  if (r < 0) {
    out.resize(before);
    return r;
  }
  for (size_t i = before; i < out.size(); i++) out[i].protocol = protocol;
  return 0;
}

// One dump of one family (inet_diag_req_v2).
int inet_dump_family(int fd, uint32_t seq, uint8_t family, uint8_t protocol, uint32_t states,
                     uint16_t port, std::vector<InetSocket>& out, const char*& failed) {
  struct {
    struct nlmsghdr nlh;
    struct inet_diag_req_v2 req;
  } msg;
  memset(&msg, 0, sizeof msg);
  msg.nlh.nlmsg_len = sizeof msg;
  msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  msg.nlh.nlmsg_seq = seq;
  msg.req.sdiag_family = family;
  msg.req.sdiag_protocol = protocol;
  msg.req.idiag_states = states;
  msg.req.id.idiag_sport = htons(port);  // filtered in the kernel; re-checked by the parser
  int r = send_request(fd, &msg, sizeof msg, failed);
  return r < 0 ? r : receive_inet(fd, seq, protocol, port, out);
}

// One dump of TCP in both families: the compat request (TCPDIAG_GETSOCK) runs the
// kernel's walk with sdiag_family = AF_UNSPEC, so one hash walk answers for v4 and v6.
int tcp_dump_both(int fd, uint32_t seq, uint32_t states, uint16_t port,
                  std::vector<InetSocket>& out, const char*& failed) {
  struct {
    struct nlmsghdr nlh;
    struct inet_diag_req req;
  } msg;
  memset(&msg, 0, sizeof msg);
  msg.nlh.nlmsg_len = sizeof msg;
  msg.nlh.nlmsg_type = TCPDIAG_GETSOCK;
  msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  msg.nlh.nlmsg_seq = seq;
  msg.req.idiag_family = AF_INET;
  msg.req.idiag_states = states;
  msg.req.id.idiag_sport = htons(port);
  int r = send_request(fd, &msg, sizeof msg, failed);
  return r < 0 ? r : receive_inet(fd, seq, IPPROTO_TCP, port, out);
}

template <typename Dump>
int with_retries(Dump dump) {
  int r;
  int tries = 0;
  do {
    r = dump();
  } while (r == -EAGAIN && ++tries < kMaxDumpRetries);
  return r;
}

int inet_dump_fd(int fd, int& tcp_compat, uint32_t& seq, uint16_t port, uint32_t protocols,
                 uint32_t tcp_states, std::vector<InetSocket>& out, const char*& failed) {
  const uint8_t families[2] = {AF_INET, AF_INET6};
  if ((protocols & kProtoTcp) && tcp_states != 0) {
    int r = -EINVAL;
    if (tcp_compat != 0) {
      r = with_retries([&] { return tcp_dump_both(fd, ++seq, tcp_states, port, out, failed); });
      // Kernels without the compat handler answer EINVAL/ENOENT/EOPNOTSUPP: use v2 dumps.
      if (r == -EINVAL || r == -ENOENT || r == -EOPNOTSUPP) {
        tcp_compat = 0;
      } else if (r == 0) {
        tcp_compat = 1;
      }
    }
    if (tcp_compat == 0) {
      for (uint8_t family : families) {
        r = with_retries([&] {
          return inet_dump_family(fd, ++seq, family, IPPROTO_TCP, tcp_states, port, out, failed);
        });
        if (r < 0) return r;
      }
    } else if (r < 0) {
      return r;
    }
  }
  if (protocols & kProtoUdp) {
    for (uint8_t family : families) {
      int r = with_retries(
          [&] { return inet_dump_family(fd, ++seq, family, IPPROTO_UDP, ~0u, port, out, failed); });
      if (r < 0) return r;
    }
  }
  return 0;
}

}  // namespace

int inet_dump(ProbeCache* cache, uint16_t port, uint32_t protocols, uint32_t tcp_states,
              std::vector<InetSocket>& out, const char*& failed) {
  if (cache == nullptr) {
    UniqueFd sock;
    int r = open_netlink(sock, failed);
    if (r < 0) return r;
    int compat = -1;
    uint32_t seq = 0;
    return inet_dump_fd(sock.get(), compat, seq, port, protocols, tcp_states, out, failed);
  }
  if (!cache->fd.valid()) {
    int r = open_netlink(cache->fd, failed);
    if (r < 0) return r;
  }
  int r = inet_dump_fd(cache->fd.get(), cache->tcp_compat, cache->seq, port, protocols, tcp_states,
                       out, failed);
  // After a failure the socket may still hold the rest of a dump: start afresh next time.
  if (r < 0) cache->fd.reset();
  return r;
}

// unix_diag reports the kernel-internal dev_t: major << 20 | minor.
uint32_t socket_file_dev(dev_t dev) {
  return uint32_t((major(dev) << 20) | minor(dev));
}

int unix_dump(bool by_vfs, const UnixSocketFile& file, const std::string& abstract_name,
              std::vector<UnixSocket>& out, const char*& failed) {
  UniqueFd sock;
  int r = open_netlink(sock, failed);
  if (r < 0) return r;
  struct {
    struct nlmsghdr nlh;
    struct unix_diag_req req;
  } msg;
  std::string want = "@" + abstract_name;
  for (int tries = 0;; tries++) {
    memset(&msg, 0, sizeof msg);
    msg.nlh.nlmsg_len = sizeof msg;
    msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    msg.nlh.nlmsg_seq = uint32_t(tries + 1);
    msg.req.sdiag_family = AF_UNIX;
    msg.req.udiag_states = (1u << kStateListen) | (1u << kStateClose);
    msg.req.udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_VFS;
    r = send_request(sock.get(), &msg, sizeof msg, failed);
    if (r < 0) return r;
    std::vector<UnixSocket> all;
    r = receive_dump(sock.get(), msg.nlh.nlmsg_seq, [&](const uint8_t* b, size_t n) {
      return parse_unix_diag(b, n, msg.nlh.nlmsg_seq, all);
    });
    if (r == -EAGAIN && tries + 1 < kMaxDumpRetries) continue;
    if (r < 0) return r;
    for (auto& s : all) {
      bool match = by_vfs ? (s.has_vfs && s.vfs_ino == file.ino && s.vfs_dev == file.dev)
                          : s.name == want;  // '@' alone: the empty abstract name
      if (match) out.push_back(std::move(s));
    }
    return 0;
  }
}

}  // namespace pw

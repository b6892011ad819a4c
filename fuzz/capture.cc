// Writes the seed corpora of the fuzz harnesses into fuzz/corpus/<harness>/:
//  - real captures from this machine: sock_diag replies (inet_diag v2 per family and
//    protocol, the TCPDIAG_GETSOCK compat dump, unix_diag with names and VFS ids) for
//    sockets this tool opens itself, and /proc/PID/{stat,status} and /proc/PID/fd links;
//  - buffers built from the documented layouts: netlink errors, NLMSG_DONE with -errno,
//    interrupted dumps, attributes, PID files in our and foreign formats, and darwin's
//    socket_fdinfo, PROC_PIDLISTFDS, pcblist_n and KERN_PROCARGS2 (not capturable on Linux).
// Linux only. Run by `bash scripts/fuzz.sh --capture`; the corpora are committed.
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../native/parse/darwin_layout.h"

namespace {

using Bytes = std::vector<uint8_t>;
std::string g_root;
int g_written = 0;

void die(const char* what) {
  perror(what);
  exit(1);
}

void write_seed(const std::string& harness, const std::string& name, const void* data, size_t len) {
  std::string dir = g_root + "/" + harness;
  mkdir(dir.c_str(), 0755);
  std::string path = dir + "/" + name;
  FILE* f = fopen(path.c_str(), "wb");
  if (!f) die(path.c_str());
  if (len > 0 && fwrite(data, 1, len, f) != len) die(path.c_str());
  fclose(f);
  g_written++;
}
void write_seed(const std::string& harness, const std::string& name, const Bytes& b) {
  write_seed(harness, name, b.data(), b.size());
}
void write_seed(const std::string& harness, const std::string& name, const std::string& s) {
  write_seed(harness, name, s.data(), s.size());
}

// ---- real sock_diag captures ----

int netlink_socket() {
  int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) die("socket(NETLINK_SOCK_DIAG)");
  return fd;
}

// Sends `req` and returns every recv() buffer of the reply up to NLMSG_DONE/ERROR.
std::vector<Bytes> dump(const void* req, size_t len) {
  int fd = netlink_socket();
  struct sockaddr_nl kernel = {};
  kernel.nl_family = AF_NETLINK;
  if (sendto(fd, req, len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0)
    die("sendto");
  std::vector<Bytes> out;
  alignas(NLMSG_ALIGNTO) static uint8_t buf[32768];
  for (bool done = false; !done;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) die("recv");
    out.emplace_back(buf, buf + n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) done = true;
    }
  }
  close(fd);
  return out;
}

std::vector<Bytes> inet_dump(uint8_t family, uint8_t protocol, uint32_t states, uint16_t port,
                             uint32_t seq) {
  struct {
    nlmsghdr nlh;
    inet_diag_req_v2 req;
  } msg = {};
  msg.nlh.nlmsg_len = sizeof msg;
  msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  msg.nlh.nlmsg_seq = seq;
  msg.req.sdiag_family = family;
  msg.req.sdiag_protocol = protocol;
  msg.req.idiag_states = states;
  msg.req.id.idiag_sport = htons(port);
  return dump(&msg, sizeof msg);
}

std::vector<Bytes> tcp_compat_dump(uint32_t states, uint16_t port, uint32_t seq) {
  struct {
    nlmsghdr nlh;
    inet_diag_req req;
  } msg = {};
  msg.nlh.nlmsg_len = sizeof msg;
  msg.nlh.nlmsg_type = TCPDIAG_GETSOCK;
  msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  msg.nlh.nlmsg_seq = seq;
  msg.req.idiag_family = AF_INET;
  msg.req.idiag_states = states;
  msg.req.id.idiag_sport = htons(port);
  return dump(&msg, sizeof msg);
}

std::vector<Bytes> unix_dump(uint32_t seq) {
  struct {
    nlmsghdr nlh;
    unix_diag_req req;
  } msg = {};
  msg.nlh.nlmsg_len = sizeof msg;
  msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  msg.nlh.nlmsg_seq = seq;
  msg.req.sdiag_family = AF_UNIX;
  msg.req.udiag_states = (1u << 10) | (1u << 7);
  msg.req.udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_VFS;
  return dump(&msg, sizeof msg);
}

int bound(int family, int type, const char* addr, uint16_t port, int v6only) {
  int fd = socket(family, type | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (family == AF_INET6 && v6only >= 0)
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
  sockaddr_storage ss = {};
  socklen_t sl;
  if (family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    inet_pton(AF_INET, addr, &a->sin_addr);
    sl = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    inet_pton(AF_INET6, addr, &a->sin6_addr);
    sl = sizeof *a;
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), sl) < 0) die("bind");
  if (type == SOCK_STREAM && listen(fd, 8) < 0) die("listen");
  return fd;
}

uint16_t port_of(int fd) {
  sockaddr_storage ss = {};
  socklen_t sl = sizeof ss;
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &sl);
  return ntohs(ss.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                                       : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
}

void capture_netlink() {
  // A port of our own with a mix of sockets: dual-stack and v6only listeners, v4 listeners,
  // an established pair, UDP bound and connected.
  int l6 = bound(AF_INET6, SOCK_STREAM, "::", 0, 0);
  uint16_t p = port_of(l6);
  // Another port: a v4 listener beside a v6only one (both conflict with a dual-stack `::`).
  int l4 = bound(AF_INET, SOCK_STREAM, "127.0.0.2", 0, -1);
  uint16_t q = port_of(l4);
  int l6only = bound(AF_INET6, SOCK_STREAM, "::1", q, 1);
  int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in to = {};
  to.sin_family = AF_INET;
  to.sin_port = htons(p);
  inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  if (connect(c, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0) die("connect");
  int a = accept(l6, nullptr, nullptr);
  int u4 = bound(AF_INET, SOCK_DGRAM, "0.0.0.0", p, -1);
  int u6 = bound(AF_INET6, SOCK_DGRAM, "::1", p, 1);
  int uc = bound(AF_INET, SOCK_DGRAM, "127.0.0.1", 0, -1);
  connect(uc, reinterpret_cast<sockaddr*>(&to), sizeof to);
  uint16_t pc = port_of(uc);

  // A unix listener on a path, an abstract one and a bound datagram socket.
  char dir[] = "/tmp/pw-capture-XXXXXX";
  if (!mkdtemp(dir)) die("mkdtemp");
  std::string path = std::string(dir) + "/s.sock";
  int ux = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un un = {};
  un.sun_family = AF_UNIX;
  strncpy(un.sun_path, path.c_str(), sizeof un.sun_path - 1);
  if (bind(ux, reinterpret_cast<sockaddr*>(&un), sizeof un) < 0 || listen(ux, 4) < 0)
    die("unix bind");
  int ua = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  sockaddr_un abs = {};
  abs.sun_family = AF_UNIX;
  const char kAbstract[] = "\0portwarden-capture";
  memcpy(abs.sun_path, kAbstract, sizeof kAbstract - 1);
  if (bind(ua, reinterpret_cast<sockaddr*>(&abs), socklen_t(2 + sizeof kAbstract - 1)) < 0 ||
      listen(ua, 4) < 0)
    die("abstract bind");
  int ud = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un dg = {};
  dg.sun_family = AF_UNIX;
  std::string dpath = std::string(dir) + "/d.sock";
  strncpy(dg.sun_path, dpath.c_str(), sizeof dg.sun_path - 1);
  if (bind(ud, reinterpret_cast<sockaddr*>(&dg), sizeof dg) < 0) die("unix dgram bind");

  auto save = [](const std::string& h, const std::string& name, const std::vector<Bytes>& bufs) {
    for (size_t i = 0; i < bufs.size(); i++) write_seed(h, name + "-" + std::to_string(i), bufs[i]);
  };
  const uint32_t kListen = 1u << 10;
  save("inet_diag", "real-tcp4-all", inet_dump(AF_INET, IPPROTO_TCP, ~0u, p, 11));
  save("inet_diag", "real-tcp6-all", inet_dump(AF_INET6, IPPROTO_TCP, ~0u, p, 12));
  save("inet_diag", "real-tcp6-listen", inet_dump(AF_INET6, IPPROTO_TCP, kListen, p, 13));
  save("inet_diag", "real-udp4", inet_dump(AF_INET, IPPROTO_UDP, ~0u, p, 14));
  save("inet_diag", "real-udp6", inet_dump(AF_INET6, IPPROTO_UDP, ~0u, p, 15));
  save("inet_diag", "real-udp4-connected", inet_dump(AF_INET, IPPROTO_UDP, ~0u, pc, 16));
  save("inet_diag", "real-compat-both", tcp_compat_dump(~0u, p, 17));
  save("inet_diag", "real-compat-v4-v6only", tcp_compat_dump(~0u, q, 20));
  save("inet_diag", "real-tcp6-v6only", inet_dump(AF_INET6, IPPROTO_TCP, ~0u, q, 22));
  save("inet_diag", "real-tcp-none", inet_dump(AF_INET, IPPROTO_TCP, ~0u, 1, 18));
  // Every listener of the machine (one or more recv buffers; no port filter).
  save("inet_diag", "real-tcp6-every-listener", inet_dump(AF_INET6, IPPROTO_TCP, kListen, 0, 19));
  auto all_unix = unix_dump(21);
  save("unix_diag", "real-unix", all_unix);

  close(a);
  close(c);
  close(l4);
  close(l6);
  close(l6only);
  close(u4);
  close(u6);
  close(uc);
  close(ux);
  close(ua);
  close(ud);
  unlink(path.c_str());
  unlink(dpath.c_str());
  rmdir(dir);
}

// ---- real /proc captures ----

std::string read_file(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::string();
  std::string s;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) s.append(buf, size_t(n));
  close(fd);
  return s;
}

void capture_proc() {
  // This process, pid 1, a kernel thread (pid 2 is kthreadd) and a few other processes.
  std::vector<std::string> pids = {"self", "1", "2"};
  if (DIR* d = opendir("/proc")) {
    int taken = 0;
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] < '1' || e->d_name[0] > '9' || taken >= 6) continue;
      std::string comm = read_file(std::string("/proc/") + e->d_name + "/comm");
      // Prefer unusual names (spaces, parentheses) and keep a few ordinary ones.
      bool odd = comm.find_first_of(" ()") != std::string::npos;
      if (odd || taken < 3) {
        pids.push_back(e->d_name);
        taken++;
      }
    }
    closedir(d);
  }
  int i = 0;
  for (const auto& pid : pids) {
    std::string stat = read_file("/proc/" + pid + "/stat");
    std::string status = read_file("/proc/" + pid + "/status");
    if (!stat.empty()) write_seed("procfs", "real-stat-" + std::to_string(i), stat);
    if (!status.empty()) write_seed("procfs", "real-status-" + std::to_string(i), status);
    i++;
  }
  // fd links of this process: sockets, pipes, anon inodes, files.
  int sv[2];
  socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  int pp[2];
  if (pipe(pp) != 0) die("pipe");
  int k = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      char link[256];
      ssize_t n = readlink((std::string("/proc/self/fd/") + e->d_name).c_str(), link, sizeof link);
      if (n > 0) write_seed("procfs", "real-fdlink-" + std::to_string(k++), link, size_t(n));
    }
    closedir(d);
  }
  close(sv[0]);
  close(sv[1]);
  close(pp[0]);
  close(pp[1]);
}

// ---- documented layouts ----

struct Msg {
  Bytes b;
  void u8(uint8_t v) { b.push_back(v); }
  void u16(uint16_t v) { put(&v, 2); }
  void u32(uint32_t v) { put(&v, 4); }
  void be16(uint16_t v) {
    b.push_back(uint8_t(v >> 8));
    b.push_back(uint8_t(v));
  }
  void put(const void* p, size_t n) {
    auto* c = static_cast<const uint8_t*>(p);
    b.insert(b.end(), c, c + n);
  }
  void pad4() {
    while (b.size() % 4) b.push_back(0);
  }
};

// One netlink message: header + payload (payload padded to 4).
void nlmsg(Msg& out, uint16_t type, uint16_t flags, uint32_t seq, const Bytes& payload) {
  out.u32(uint32_t(16 + payload.size()));
  out.u16(type);
  out.u16(flags);
  out.u32(seq);
  out.u32(4242);
  out.put(payload.data(), payload.size());
  out.pad4();
}

Bytes inet_msg(uint8_t family, uint8_t state, uint16_t sport, const char* local, uint32_t uid,
               uint32_t inode, int v6only) {
  Msg m;
  m.u8(family);
  m.u8(state);
  m.u8(0);
  m.u8(0);
  m.be16(sport);
  m.be16(state == 10 ? 0 : 40000);
  uint8_t addr[16] = {};
  inet_pton(family == AF_INET ? AF_INET : AF_INET6, local, addr);
  m.put(addr, 16);
  uint8_t remote[16] = {};
  m.put(remote, 16);
  m.u32(0);      // if
  m.u32(1);      // cookie
  m.u32(0);      // cookie
  m.u32(0);      // expires
  m.u32(0);      // rqueue
  m.u32(0);      // wqueue
  m.u32(uid);    // uid
  m.u32(inode);  // inode
  if (v6only >= 0) {
    m.u16(5);
    m.u16(INET_DIAG_SKV6ONLY);
    m.u8(uint8_t(v6only));
    m.pad4();
  }
  m.u16(12);  // INET_DIAG_CGROUP_ID (u64)
  m.u16(21);
  m.u32(0x1234);
  m.u32(0);
  return m.b;
}

void synth_netlink() {
  const uint32_t seq = 7;
  const uint16_t kDiag = SOCK_DIAG_BY_FAMILY;
  Msg two;
  nlmsg(two, kDiag, NLM_F_MULTI, seq, inet_msg(AF_INET, 10, 8080, "127.0.0.1", 1000, 555, -1));
  nlmsg(two, kDiag, NLM_F_MULTI, seq, inet_msg(AF_INET6, 10, 8080, "::", 0, 556, 0));
  nlmsg(two, kDiag, NLM_F_MULTI, seq, inet_msg(AF_INET6, 6, 8080, "::ffff:127.0.0.1", 0, 0, -1));
  Bytes zero4 = {0, 0, 0, 0};
  Msg done = two;
  nlmsg(done, NLMSG_DONE, NLM_F_MULTI, seq, zero4);
  write_seed("inet_diag", "synth-listeners-done", done.b);
  write_seed("inet_diag", "synth-listeners-more", two.b);

  Msg err;
  int32_t enoent = -ENOENT;
  Bytes e(reinterpret_cast<uint8_t*>(&enoent), reinterpret_cast<uint8_t*>(&enoent) + 4);
  Bytes nlerr = e;
  Msg req;  // nlmsgerr carries the request's header after the error
  nlmsg(req, kDiag, NLM_F_REQUEST | NLM_F_DUMP, seq, Bytes(56, 0));
  nlerr.insert(nlerr.end(), req.b.begin(), req.b.begin() + 16);
  nlmsg(err, NLMSG_ERROR, 0, seq, nlerr);
  write_seed("inet_diag", "synth-error-enoent", err.b);
  write_seed("unix_diag", "synth-error-enoent", err.b);

  Msg done_err;
  nlmsg(done_err, NLMSG_DONE, NLM_F_MULTI, seq, e);
  write_seed("inet_diag", "synth-done-errno", done_err.b);

  Msg intr;
  nlmsg(intr, kDiag, NLM_F_MULTI | NLM_F_DUMP_INTR, seq,
        inet_msg(AF_INET, 10, 8080, "0.0.0.0", 0, 9, -1));
  nlmsg(intr, NLMSG_DONE, NLM_F_MULTI | NLM_F_DUMP_INTR, seq, zero4);
  write_seed("inet_diag", "synth-interrupted", intr.b);

  Msg other_seq;
  nlmsg(other_seq, kDiag, NLM_F_MULTI, seq + 1, inet_msg(AF_INET, 10, 80, "1.2.3.4", 0, 1, -1));
  nlmsg(other_seq, NLMSG_DONE, NLM_F_MULTI, seq + 1, zero4);
  nlmsg(other_seq, kDiag, NLM_F_MULTI, seq, inet_msg(AF_INET, 10, 80, "1.2.3.4", 0, 2, -1));
  nlmsg(other_seq, NLMSG_DONE, NLM_F_MULTI, seq, zero4);
  write_seed("inet_diag", "synth-other-seq", other_seq.b);

  Msg ack;
  nlmsg(ack, NLMSG_ERROR, 0, seq, Bytes(20, 0));
  write_seed("inet_diag", "synth-ack", ack.b);

  // unix_diag: {u8 family, type, state, pad; u32 ino; u32 cookie[2]} + attrs.
  auto unix_msg = [](uint8_t type, uint8_t state, uint32_t ino, const std::string& name, bool vfs) {
    Msg m;
    m.u8(AF_UNIX);
    m.u8(type);
    m.u8(state);
    m.u8(0);
    m.u32(ino);
    m.u32(1);
    m.u32(0);
    if (!name.empty()) {
      m.u16(uint16_t(4 + name.size()));
      m.u16(UNIX_DIAG_NAME);
      m.put(name.data(), name.size());
      m.pad4();
    }
    if (vfs) {
      m.u16(12);
      m.u16(UNIX_DIAG_VFS);
      m.u32(77);              // ino
      m.u32((8u << 20) | 1);  // dev
    }
    return m.b;
  };
  Msg u;
  nlmsg(u, kDiag, NLM_F_MULTI, seq, unix_msg(1, 10, 100, "/run/app.sock", true));
  nlmsg(u, kDiag, NLM_F_MULTI, seq, unix_msg(5, 10, 101, std::string("\0abstract", 9), false));
  nlmsg(u, kDiag, NLM_F_MULTI, seq, unix_msg(2, 7, 102, std::string("\0", 1), false));
  nlmsg(u, kDiag, NLM_F_MULTI, seq, unix_msg(1, 10, 103, "", false));
  Msg udone = u;
  nlmsg(udone, NLMSG_DONE, NLM_F_MULTI, seq, zero4);
  write_seed("unix_diag", "synth-listeners-done", udone.b);
  write_seed("unix_diag", "synth-listeners-more", u.b);
}

void synth_proc() {
  write_seed("procfs", "synth-stat-parens",
             std::string("42 (a) b) (c) S 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 "
                         "18446744073709551615 0 0\n"));
  write_seed("procfs", "synth-stat-spaces",
             std::string("7 (tmux: server) R 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 123\n"));
  write_seed("procfs", "synth-stat-zombie",
             std::string("9 (x) Z 8 9 9 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 4294967296 0 0 0\n"));
  write_seed("procfs", "synth-status-uid",
             std::string("Name:\tx\nUid:\t0\t65534\t0\t0\nGid:\t0\n"));
  write_seed("procfs", "synth-socket-link", std::string("socket:[4294967296]"));
  write_seed("procfs", "synth-pipe-link", std::string("pipe:[12]"));
}

void synth_pidfile() {
  write_seed(
      "pidfile", "ours-data",
      std::string("4711\n123456789\nd1354778-2068-4b8c-821a-b77d4f1e5705\n{\"port\":8080}\n"));
  write_seed("pidfile", "ours",
             std::string("4711\n123456789\nd1354778-2068-4b8c-821a-b77d4f1e5705\n"));
  write_seed("pidfile", "foreign-newline", std::string("4711\n"));
  write_seed("pidfile", "foreign-bare", std::string("4711"));
  write_seed("pidfile", "foreign-crlf", std::string(" 4711 \r\n"));
  write_seed("pidfile", "empty", std::string());
  write_seed("pidfile", "blank", std::string(" \n\t\n"));
  write_seed("pidfile", "partial", std::string("4711\n1234"));
  write_seed("pidfile", "max", std::string("2147483647\n9007199254740991\nboot\n[]\n"));
  write_seed("pidfile", "overflow", std::string("2147483648\n9007199254740992\n-\n\n"));
}

// ---- darwin layouts (native/parse/darwin_layout.h) ----

void put_le(Bytes& b, size_t off, uint64_t v, size_t n) {
  for (size_t i = 0; i < n; i++) b[off + i] = uint8_t(v >> (8 * i));
}

Bytes socket_fdinfo(int family, int protocol, int kind, int tcp_state, uint16_t lport,
                    uint8_t vflag, uint64_t gencnt) {
  using namespace pw::darwin;
  Bytes b(kSocketFdinfoSize, 0);
  put_le(b, kSfiStatUid, 501, 4);
  put_le(b, kSfiSo, 0xffffff80deadbe00ull, 8);
  put_le(b, kSfiType, protocol == kIpprotoUdp ? 2 : 1, 4);
  put_le(b, kSfiProtocol, uint64_t(protocol), 4);
  put_le(b, kSfiFamily, uint64_t(family), 4);
  put_le(b, kSfiOptions, tcp_state == 1 ? kSoAcceptConn : 0, 2);
  put_le(b, kSfiKind, uint64_t(kind), 4);
  size_t in = kSfiProto;
  b[in + kInLport] = uint8_t(lport >> 8);  // network order in the low half
  b[in + kInLport + 1] = uint8_t(lport);
  put_le(b, in + kInGencnt, gencnt, 8);
  b[in + kInVflag] = vflag;
  if (family == kAfInet || (vflag & kIniIpv4)) {
    b[in + kInLaddr + kInAddr4] = 127;
    b[in + kInLaddr + kInAddr4 + 3] = 1;
  } else {
    b[in + kInLaddr + 15] = 1;  // ::1
  }
  if (kind == kSockinfoTcp) put_le(b, in + kTcpState, uint64_t(tcp_state), 4);
  return b;
}

Bytes unix_fdinfo(const std::string& path, uint8_t sun_len, bool listening) {
  using namespace pw::darwin;
  Bytes b(kSocketFdinfoSize, 0);
  put_le(b, kSfiSo, 0xffffff80cafe0000ull, 8);
  put_le(b, kSfiType, 1, 4);
  put_le(b, kSfiFamily, kAfUnix, 4);
  put_le(b, kSfiOptions, listening ? kSoAcceptConn : 0, 2);
  put_le(b, kSfiKind, kSockinfoUn, 4);
  size_t addr = kSfiProto + kUnAddr;
  b[addr] = sun_len;
  b[addr + 1] = kAfUnix;
  memcpy(&b[addr + kSunPath], path.data(), std::min(path.size(), kSunPathMax));
  return b;
}

// One PCB of pcblist_n: INPCB, SOCKET, RCVBUF, SNDBUF, STATS[, TCPCB], each ROUNDUP64.
void pcb(Bytes& b, int protocol, uint16_t lport, uint64_t gencnt, int state, size_t so_len) {
  using namespace pw::darwin;
  auto rec = [&](uint32_t kind, size_t len) {
    size_t off = b.size();
    b.resize(off + ((len + 7) & ~size_t(7)), 0);
    put_le(b, off + kXgenLen, len, 4);
    put_le(b, off + kXgenKind, kind, 4);
    return off;
  };
  size_t inp = rec(kXsoInpcb, 104);
  b[inp + kXinpLport] = uint8_t(lport >> 8);
  b[inp + kXinpLport + 1] = uint8_t(lport);
  put_le(b, inp + kXinpGencnt, gencnt, 8);
  b[inp + kXinpVflag] = kIniIpv4;
  b[inp + kXinpLaddr + kInAddr4] = 127;
  b[inp + kXinpLaddr + kInAddr4 + 3] = 1;
  size_t so = rec(kXsoSocket, so_len);
  put_le(b, so + kXsoSo, 0x1234, 8);
  put_le(b, so + kXsoFamily, kAfInet, 4);
  put_le(b, so + kXsoUid, 501, 4);
  if (so_len >= kXsoLastPid + 4) put_le(b, so + kXsoLastPid, 4711, 4);
  rec(kXsoRcvbuf, 32);
  rec(kXsoSndbuf, 32);
  rec(kXsoStats, 72);
  if (protocol == kIpprotoTcp) {
    size_t tp = rec(kXsoTcpcb, 120);
    put_le(b, tp + kXtState, uint64_t(state), 4);
  }
}

Bytes pcblist(int protocol, int count, uint64_t gen, uint64_t tail_gen) {
  using namespace pw::darwin;
  Bytes b(kXinpgenSize, 0);
  put_le(b, kXigLen, kXinpgenSize, 4);
  put_le(b, kXigCount, uint64_t(count), 4);
  put_le(b, kXigGen, gen, 8);
  if (count == 0) return b;
  for (int i = 0; i < count; i++)
    pcb(b, protocol, uint16_t(8080 + (i % 2)), uint64_t(i + 1), i % 2 ? 10 : 1, i % 3 ? 104 : 68);
  size_t tail = b.size();
  b.resize(tail + kXinpgenSize, 0);
  put_le(b, tail + kXigLen, kXinpgenSize, 4);
  put_le(b, tail + kXigCount, uint64_t(count), 4);
  put_le(b, tail + kXigGen, tail_gen, 8);
  return b;
}

void synth_darwin() {
  using namespace pw::darwin;
  write_seed("darwin_fdinfo", "tcp4-listen",
             socket_fdinfo(kAfInet, kIpprotoTcp, kSockinfoTcp, 1, 8080, kIniIpv4, 5));
  write_seed("darwin_fdinfo", "tcp6-mapped-established",
             socket_fdinfo(kAfInet6, kIpprotoTcp, kSockinfoTcp, 4, 8080, kIniIpv4, 6));
  write_seed("darwin_fdinfo", "udp6",
             socket_fdinfo(kAfInet6, kIpprotoUdp, kSockinfoIn, 0, 53, kIniIpv6, 7));
  write_seed("darwin_fdinfo", "unix-listen", unix_fdinfo("/tmp/app.sock", 16, true));
  write_seed("darwin_fdinfo", "unix-longest", unix_fdinfo(std::string(104, 'y'), 255, false));
  Bytes fds;
  for (int fd = 0; fd < 6; fd++) {
    Bytes e(kProcFdinfoSize, 0);
    put_le(e, kFdinfoFd, uint64_t(fd), 4);
    put_le(e, kFdinfoType, fd % 2 ? kProxFdtypeSocket : 1, 4);
    fds.insert(fds.end(), e.begin(), e.end());
  }
  write_seed("darwin_fdinfo", "fd-list", fds);

  // pcblist_n: selector byte (protocol), two port bytes, then the buffer.
  auto list = [](uint8_t proto, uint16_t port, const Bytes& b) {
    Bytes out = {proto, uint8_t(port >> 8), uint8_t(port)};
    out.insert(out.end(), b.begin(), b.end());
    return out;
  };
  write_seed("darwin_pcblist", "tcp-3", list(6, 0, pcblist(kIpprotoTcp, 3, 9, 9)));
  write_seed("darwin_pcblist", "tcp-port", list(6, 8081, pcblist(kIpprotoTcp, 4, 9, 9)));
  write_seed("darwin_pcblist", "udp-2", list(17, 0, pcblist(kIpprotoUdp, 2, 9, 9)));
  write_seed("darwin_pcblist", "tcp-changed", list(6, 0, pcblist(kIpprotoTcp, 1, 9, 10)));
  write_seed("darwin_pcblist", "empty", list(17, 0, pcblist(kIpprotoUdp, 0, 3, 3)));

  // KERN_PROCARGS2: {int argc; exec path NUL; padding; argv...; env...}
  auto args = [](int32_t argc, const std::string& rest) {
    Bytes b(4, 0);
    put_le(b, 0, uint32_t(argc), 4);
    b.insert(b.end(), rest.begin(), rest.end());
    return b;
  };
  write_seed(
      "darwin_procargs", "node",
      args(3, std::string("/usr/local/bin/node\0\0\0\0node\0server.js\0--port=80\0HOME=/\0", 53)));
  write_seed("darwin_procargs", "no-args", args(0, std::string("/bin/sh\0\0", 9)));
  write_seed("darwin_procargs", "truncated", args(2, std::string("/bin/sh\0sh\0-c", 13)));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s fuzz/corpus\n", argv[0]);
    return 64;
  }
  g_root = argv[1];
  mkdir(g_root.c_str(), 0755);
  capture_netlink();
  capture_proc();
  synth_netlink();
  synth_proc();
  synth_pidfile();
  synth_darwin();
  printf("capture: %d seed files in %s\n", g_written, g_root.c_str());
  return 0;
}

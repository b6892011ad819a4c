#include "darwin.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unordered_set>

#include "darwin_layout.h"

namespace pw {
namespace {

using namespace darwin;

// darwin is little-endian on x86_64 and arm64: read explicitly, whatever the host.
uint16_t le16(const uint8_t* p) {
  return uint16_t(p[0] | (p[1] << 8));
}
uint32_t le32(const uint8_t* p) {
  return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24);
}
uint64_t le64(const uint8_t* p) {
  return uint64_t(le32(p)) | (uint64_t(le32(p + 4)) << 32);
}
int32_t le32s(const uint8_t* p) {
  return int32_t(le32(p));
}
// A network-order u_short as stored in memory (xinpcb_n inp_lport), or the low half of a
// little-endian int holding one (in_sockinfo insi_lport = inp_lport): ntohs of it.
uint16_t be16(const uint8_t* p) {
  return uint16_t((p[0] << 8) | p[1]);
}

constexpr uint64_t kKeyInet = uint64_t(1) << 52;
constexpr uint64_t kKeyUdp = uint64_t(1) << 51;
constexpr uint64_t kKeyLow51 = kKeyUdp - 1;
constexpr uint64_t kKeyLow52 = kKeyInet - 1;

bool all_zero(const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != 0) return false;
  return true;
}

// Fills family-dependent addresses from two 16-byte address unions (in4in6_addr/in6_addr).
// Returns false when the family is not inet.
bool fill_addresses(int family, uint8_t vflag, const uint8_t* laddr, const uint8_t* faddr,
                    InetSocket& s) {
  static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (family == kAfInet) {
    s.family = 4;
    std::memcpy(s.local, laddr + kInAddr4, 4);
    std::memcpy(s.remote, faddr + kInAddr4, 4);
    return true;
  }
  if (family != kAfInet6) return false;
  s.family = 6;
  if ((vflag & kIniIpv6) == 0 && (vflag & kIniIpv4) != 0) {
    // An IPv4 flow on an AF_INET6 socket (accepted on, or connected from, a dual-stack
    // socket): the kernel keeps only i46a_addr4. Written v4-mapped, as Linux reports it;
    // an unspecified peer stays "::".
    std::memcpy(s.local, kMapped, 12);
    std::memcpy(s.local + 12, laddr + kInAddr4, 4);
    if (!all_zero(faddr + kInAddr4, 4)) {
      std::memcpy(s.remote, kMapped, 12);
      std::memcpy(s.remote + 12, faddr + kInAddr4, 4);
    }
    return true;
  }
  std::memcpy(s.local, laddr, 16);
  std::memcpy(s.remote, faddr, 16);
  return true;
}

// TCP/UDP state and v6only from the protocol-specific fields.
void finish_inet(uint8_t protocol, int bsd_state, uint32_t inp_flags, InetSocket& s) {
  s.protocol = protocol;
  if (protocol == kIpprotoTcp) {
    s.state = darwin_tcp_state(bsd_state);
  } else {
    s.state = s.remote_port != 0 ? kStateEstablished : kStateClose;
  }
  if (s.family == 6 && (s.state == kStateListen || s.state == kStateClose)) {
    s.v6only = (inp_flags & kIn6pIpv6V6only) ? 1 : 0;
  }
}

size_t roundup64(uint32_t n) {
  return (size_t(n) + 7) & ~size_t(7);
}

}  // namespace

uint8_t darwin_tcp_state(int bsd_state) {
  static const uint8_t kMap[11] = {
      kStateClose,        // 0 CLOSED
      kStateListen,       // 1 LISTEN
      kStateSynSent,      // 2 SYN_SENT
      kStateSynRecv,      // 3 SYN_RECEIVED
      kStateEstablished,  // 4 ESTABLISHED
      kStateCloseWait,    // 5 CLOSE_WAIT
      kStateFinWait1,     // 6 FIN_WAIT_1
      kStateClosing,      // 7 CLOSING
      kStateLastAck,      // 8 LAST_ACK
      kStateFinWait2,     // 9 FIN_WAIT_2
      kStateTimeWait,     // 10 TIME_WAIT
  };
  return bsd_state >= 0 && bsd_state <= 10 ? kMap[bsd_state] : 0;
}

uint64_t darwin_inet_key(uint8_t protocol, uint64_t gencnt) {
  if (gencnt == 0) return 0;
  return kKeyInet | (protocol == kIpprotoUdp ? kKeyUdp : 0) | (gencnt & kKeyLow51);
}

uint64_t darwin_unix_key(uint64_t soi_so) {
  uint64_t key = soi_so & kKeyLow52;
  return key != 0 ? key : 1;
}

int parse_socket_fdinfo(const uint8_t* buf, size_t len, InetSocket& out) {
  if (buf == nullptr || len < kSocketFdinfoSize) return -EBADMSG;
  int family = le32s(buf + kSfiFamily);
  int protocol = le32s(buf + kSfiProtocol);
  int kind = le32s(buf + kSfiKind);
  if (family != kAfInet && family != kAfInet6) return kDarwinOther;
  if (kind != kSockinfoIn && kind != kSockinfoTcp) {
    return kind == kSockinfoGeneric ? kDarwinOther : -EBADMSG;  // no PCB yet, or garbage
  }
  if (protocol != kIpprotoTcp && protocol != kIpprotoUdp) return kDarwinOther;  // raw, icmp
  if (kind == kSockinfoTcp && protocol != kIpprotoTcp) return -EBADMSG;
  const uint8_t* in = buf + kSfiProto;
  InetSocket s;
  uint8_t vflag = in[kInVflag];
  if (!fill_addresses(family, vflag, in + kInLaddr, in + kInFaddr, s)) return -EBADMSG;
  s.local_port = be16(in + kInLport);
  s.remote_port = be16(in + kInFport);
  s.uid = le32(buf + kSfiStatUid);
  s.inode = darwin_inet_key(uint8_t(protocol), le64(in + kInGencnt));
  // A TCP socket without a tcpcb (kind IN) has no state: CLOSED.
  int bsd_state = kind == kSockinfoTcp ? le32s(in + kTcpState) : 0;
  finish_inet(uint8_t(protocol), bsd_state, le32(in + kInFlags), s);
  out = s;
  return kDarwinParsed;
}

int parse_socket_fdinfo(const uint8_t* buf, size_t len, UnixSocket& out) {
  if (buf == nullptr || len < kSocketFdinfoSize) return -EBADMSG;
  int family = le32s(buf + kSfiFamily);
  int kind = le32s(buf + kSfiKind);
  if (family != kAfUnix) return kDarwinOther;
  if (kind != kSockinfoUn) return kind == kSockinfoGeneric ? kDarwinOther : -EBADMSG;
  const uint8_t* addr = buf + kSfiProto + kUnAddr;
  UnixSocket s;
  int type = le32s(buf + kSfiType);
  if (type < 0 || type > 255) return -EBADMSG;
  s.type = uint8_t(type);
  int options = le16(buf + kSfiOptions);
  int state = le16(buf + kSfiState);
  s.state = (options & kSoAcceptConn)    ? kStateListen
            : (state & kSoiSIsConnected) ? kStateEstablished
                                         : kStateClose;
  s.inode = darwin_unix_key(le64(buf + kSfiSo));
  uint8_t sun_len = addr[0];
  if (sun_len > kSunPath) {
    size_t max = std::min<size_t>(sun_len - kSunPath, kSunPathMax);
    const char* path = reinterpret_cast<const char*>(addr + kSunPath);
    s.name.assign(path, strnlen(path, max));
  }
  out = std::move(s);
  return kDarwinParsed;
}

int parse_fd_list(const uint8_t* buf, size_t bytes, std::vector<int>& socket_fds) {
  if (bytes % kProcFdinfoSize != 0 || (buf == nullptr && bytes != 0)) return -EBADMSG;
  for (size_t off = 0; off < bytes; off += kProcFdinfoSize) {
    int fd = le32s(buf + off + kFdinfoFd);
    if (fd >= 0 && le32(buf + off + kFdinfoType) == kProxFdtypeSocket) socket_fds.push_back(fd);
  }
  return 0;
}

int walk_pcblist_n(const uint8_t* buf, size_t len, uint8_t protocol, uint16_t port,
                   std::vector<InetSocket>& out, std::vector<int>& last_pids) {
  if (buf == nullptr || len < kXinpgenSize) return -EBADMSG;
  if (protocol != kIpprotoTcp && protocol != kIpprotoUdp) return -EINVAL;
  uint32_t head_len = le32(buf + kXigLen);
  if (head_len < kXinpgenSize || head_len > len || roundup64(head_len) > len) return -EBADMSG;
  uint64_t gen = le64(buf + kXigGen);
  size_t off = roundup64(head_len);
  // No PCB: the kernel writes the head only (get_pcblist_n returns before the tail).
  if (le32(buf + kXigCount) == 0 && off == len) return 0;

  // The kinds read. RCVBUF, SNDBUF and STATS are not needed, and are skipped like unknown
  // kinds: for a PCB without a socket the kernel leaves the buffer records' kind 0
  // (sbtoxsockbuf_n returns before setting xsb_kind when sb is NULL).
  const uint32_t needed = kXsoInpcb | kXsoSocket | (protocol == kIpprotoTcp ? kXsoTcpcb : 0);
  std::vector<InetSocket> found;
  std::vector<int> pids;
  uint32_t have = 0;
  const uint8_t* inp = nullptr;
  const uint8_t* so = nullptr;
  const uint8_t* tp = nullptr;
  uint32_t so_len = 0;
  for (;;) {
    if (off == len) return -EBADMSG;  // no tail: truncated
    if (len - off < kXgenHeaderSize) return -EBADMSG;
    const uint8_t* rec = buf + off;
    uint32_t rlen = le32(rec + kXgenLen);
    uint32_t kind = le32(rec + kXgenKind);
    if (rlen < kXgenHeaderSize || rlen > len - off || roundup64(rlen) > len - off) {
      return -EBADMSG;
    }
    if (rlen == kXinpgenSize && len - off == kXinpgenSize) {
      // The tail xinpgen: a PCB left incomplete means the buffer is garbled.
      if (have != 0) return -EBADMSG;
      if (le64(rec + kXigGen) != gen) return -EAGAIN;
      break;
    }
    off += roundup64(rlen);
    switch (kind) {
      case kXsoInpcb:
        if (rlen < kXinpcbMinLen) return -EBADMSG;
        inp = rec;
        break;
      case kXsoSocket:
        if (rlen < kXsocketMinLen) return -EBADMSG;
        so = rec;
        so_len = rlen;
        break;
      case kXsoTcpcb:
        if (protocol != kIpprotoTcp || rlen < kXtcpcbMinLen) return -EBADMSG;
        tp = rec;
        break;
      default:
        continue;  // RCVBUF, SNDBUF, STATS, kind 0 and unknown kinds (newer kernels)
    }
    if (have & kind) return -EBADMSG;  // a kind twice within one PCB
    have |= kind;
    if (have != needed) continue;
    have = 0;

    if (le64(inp + kXinpGencnt) > gen) continue;  // created after the list was started
    uint16_t lport = be16(inp + kXinpLport);
    if (port != 0 && lport != port) continue;
    InetSocket s;
    int family = le32s(so + kXsoFamily);
    uint8_t vflag = inp[kXinpVflag];
    if (family != kAfInet && family != kAfInet6) {
      // No socket behind the PCB (xsocket_n left zeroed): go by the PCB's vflag.
      family = (vflag & kIniIpv6) ? kAfInet6 : kAfInet;
    }
    fill_addresses(family, vflag, inp + kXinpLaddr, inp + kXinpFaddr, s);
    s.local_port = lport;
    s.remote_port = be16(inp + kXinpFport);
    s.uid = le32(so + kXsoUid);
    bool has_file = le64(so + kXsoSo) != 0 && (le16(so + kXsoState) & kSsNofdref) == 0;
    s.inode = has_file ? darwin_inet_key(protocol, le64(inp + kXinpGencnt)) : 0;
    int bsd_state = protocol == kIpprotoTcp ? le32s(tp + kXtState) : 0;
    finish_inet(protocol, bsd_state, le32(inp + kXinpFlags), s);
    int last = so_len >= kXsoLastPid + 4 ? le32s(so + kXsoLastPid) : 0;
    if (last <= 0 && so_len >= kXsoEPid + 4) last = le32s(so + kXsoEPid);
    found.push_back(s);
    pids.push_back(last > 0 ? last : 0);
  }
  out.insert(out.end(), found.begin(), found.end());
  last_pids.insert(last_pids.end(), pids.begin(), pids.end());
  return 0;
}

int parse_procargs2(const uint8_t* buf, size_t len, std::string& command) {
  command.clear();
  if (buf == nullptr || len < 4) return -EBADMSG;
  int32_t argc = le32s(buf);
  if (argc < 0) return -EBADMSG;
  size_t off = 4;
  while (off < len && buf[off] != 0) off++;  // the exec path
  while (off < len && buf[off] == 0) off++;  // its NUL and the padding
  for (int32_t i = 0; i < argc; i++) {
    const uint8_t* arg = buf + off;
    size_t n = 0;
    while (off + n < len && arg[n] != 0) n++;
    if (off + n >= len) {  // missing or unterminated
      command.clear();
      return -EBADMSG;
    }
    if (i > 0) command.push_back(' ');
    command.append(reinterpret_cast<const char*>(arg), n);
    off += n + 1;
  }
  return 0;
}

std::vector<int> darwin_scan_order(const std::vector<int>& candidates,
                                   const std::vector<int>& all) {
  std::vector<int> order;
  std::unordered_set<int> seen;
  for (int pid : candidates)
    if (pid > 0 && seen.insert(pid).second) order.push_back(pid);
  for (int pid : all)
    if (pid > 0 && seen.insert(pid).second) order.push_back(pid);
  return order;
}

OwnerCollector::OwnerCollector(const std::vector<uint64_t>& keys, OwnerScan& out)
    : out_(out), found_(keys.size(), 0) {
  out_.holders.assign(keys.size(), {});
  out_.denied = 0;
  out_.scanned = 0;
  for (size_t i = 0; i < keys.size(); i++)
    if (keys[i] != 0) index_[keys[i]].push_back(i);
  unresolved_ = index_.size();
}

bool OwnerCollector::add(int pid, uint64_t key) {
  auto it = key != 0 ? index_.find(key) : index_.end();
  if (it == index_.end()) return false;
  for (size_t i : it->second) {
    auto& h = out_.holders[i];
    if (h.empty() || h.back() != pid) h.push_back(pid);
  }
  if (!found_[it->second[0]]) {
    found_[it->second[0]] = 1;
    unresolved_--;
  }
  return true;
}

void OwnerCollector::finish() {
  for (auto& h : out_.holders) {
    std::sort(h.begin(), h.end());
    h.erase(std::unique(h.begin(), h.end()), h.end());
  }
}

}  // namespace pw

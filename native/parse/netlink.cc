#include "netlink.h"

#include <cerrno>
#include <cstring>

namespace pw {
namespace {

constexpr size_t align4(size_t n) {
  return (n + 3) & ~size_t(3);
}

uint16_t rd16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
uint32_t rd32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
uint16_t rd16be(const uint8_t* p) {
  return uint16_t((p[0] << 8) | p[1]);
}

// A negative error carried by the kernel. The kernel's are -4095..-1 (MAX_ERRNO); anything
// below is a garbled buffer, not an errno to hand on (libuv has no name for it).
int as_errno(int32_t err) {
  return err >= -4095 ? err : -EBADMSG;
}

struct Header {
  uint32_t len;
  uint16_t type;
  uint16_t flags;
  uint32_t seq;
};

// Calls `fn(header, payload, payload_len)` for each message of the buffer.
// `fn` returns kParseMore to go on, anything else to stop with that value.
template <typename Fn>
int walk(const uint8_t* buf, size_t len, uint32_t seq, Fn fn) {
  size_t off = 0;
  while (off < len) {
    if (len - off < kNlmsgHdrLen) return -EBADMSG;
    const uint8_t* p = buf + off;
    Header h{rd32(p), rd16(p + 4), rd16(p + 6), rd32(p + 8)};
    if (h.len < kNlmsgHdrLen || h.len > len - off) return -EBADMSG;
    if (h.seq == seq) {
      if (h.flags & kNlmFDumpIntr) return -EAGAIN;
      const uint8_t* payload = p + kNlmsgHdrLen;
      size_t plen = h.len - kNlmsgHdrLen;
      if (h.type == kNlmsgDone) {
        // The payload is an int; a negative value is the dump's -errno.
        if (plen >= 4) {
          int32_t err = int32_t(rd32(payload));
          if (err < 0) return as_errno(err);
        }
        return kParseDone;
      }
      if (h.type == kNlmsgError) {
        if (plen < 4) return -EBADMSG;
        int32_t err = int32_t(rd32(payload));
        return err < 0 ? as_errno(err) : kParseDone;  // error 0 is an ACK
      }
      int r = fn(h, payload, plen);
      if (r != kParseMore) return r;
    }
    size_t step = align4(h.len);
    off += step < len - off ? step : len - off;
  }
  return kParseMore;
}

// Calls `fn(type, data, data_len)` for each attribute in [p, p + len).
template <typename Fn>
void each_attr(const uint8_t* p, size_t len, Fn fn) {
  size_t off = 0;
  while (len - off >= 4) {
    uint16_t alen = rd16(p + off);
    uint16_t atype = rd16(p + off + 2) & 0x3fff;  // strip NLA_F_NESTED / NLA_F_NET_BYTEORDER
    if (alen < 4 || alen > len - off) return;
    fn(atype, p + off + 4, size_t(alen - 4));
    size_t step = align4(alen);
    if (step >= len - off) return;
    off += step;
  }
}

}  // namespace

int parse_inet_diag(const uint8_t* buf, size_t len, uint32_t seq, uint16_t port,
                    std::vector<InetSocket>& out) {
  return walk(buf, len, seq, [&](const Header&, const uint8_t* m, size_t mlen) -> int {
    if (mlen < kInetDiagMsgLen) return -EBADMSG;
    uint8_t family = m[0];
    if (family != 2 && family != 10) return kParseMore;  // AF_INET / AF_INET6 (Linux values)
    uint16_t sport = rd16be(m + 4);
    if (port != 0 && sport != port) return kParseMore;  // re-check the kernel's filter
    InetSocket s;
    s.family = family == 2 ? 4 : 6;
    s.state = m[1];
    s.local_port = sport;
    s.remote_port = rd16be(m + 6);
    std::memcpy(s.local, m + 8, 16);
    std::memcpy(s.remote, m + 24, 16);
    s.uid = rd32(m + 64);
    s.inode = rd32(m + 68);
    each_attr(m + kInetDiagMsgLen, mlen - kInetDiagMsgLen,
              [&](uint16_t type, const uint8_t* data, size_t dlen) {
                if (type == kInetDiagSkV6Only && dlen >= 1) s.v6only = data[0] ? 1 : 0;
              });
    out.push_back(s);
    return kParseMore;
  });
}

int parse_dump_end(const uint8_t* buf, size_t len, uint32_t seq) {
  size_t off = 0;
  while (off < len) {
    if (len - off < kNlmsgHdrLen) return -EBADMSG;
    const uint8_t* p = buf + off;
    uint32_t mlen = rd32(p);
    uint16_t type = rd16(p + 4);
    if (mlen < kNlmsgHdrLen || mlen > len - off) return -EBADMSG;
    if (rd32(p + 8) == seq && (type == kNlmsgDone || type == kNlmsgError)) return kParseDone;
    size_t step = align4(mlen);
    off += step < len - off ? step : len - off;
  }
  return kParseMore;
}

int parse_unix_diag(const uint8_t* buf, size_t len, uint32_t seq, std::vector<UnixSocket>& out) {
  return walk(buf, len, seq, [&](const Header&, const uint8_t* m, size_t mlen) -> int {
    if (mlen < kUnixDiagMsgLen) return -EBADMSG;
    UnixSocket s;
    s.type = m[1];
    s.state = m[2];
    s.inode = rd32(m + 4);
    each_attr(m + kUnixDiagMsgLen, mlen - kUnixDiagMsgLen,
              [&](uint16_t type, const uint8_t* data, size_t dlen) {
                if (type == kUnixDiagName && dlen > 0) {
                  if (data[0] == 0) {
                    // Abstract: the name is every byte of the address. Node pads it with
                    // NULs to the size of sun_path, so trailing NULs are not reported.
                    size_t n = dlen;
                    while (n > 1 && data[n - 1] == 0) n--;
                    s.name.assign(1, '@');
                    s.name.append(reinterpret_cast<const char*>(data) + 1, n - 1);
                  } else {
                    size_t n = strnlen(reinterpret_cast<const char*>(data), dlen);
                    s.name.assign(reinterpret_cast<const char*>(data), n);
                  }
                } else if (type == kUnixDiagVfs && dlen >= 8) {
                  s.has_vfs = true;
                  s.vfs_ino = rd32(data);
                  s.vfs_dev = rd32(data + 4);
                }
              });
    out.push_back(std::move(s));
    return kParseMore;
  });
}

}  // namespace pw

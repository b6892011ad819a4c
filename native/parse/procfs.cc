#include "procfs.h"

#include <cerrno>
#include <cstring>

namespace pw {

bool parse_decimal(const char* buf, size_t len, uint64_t max, uint64_t& out) {
  if (len == 0 || len > 20) return false;
  uint64_t v = 0;
  for (size_t i = 0; i < len; i++) {
    char c = buf[i];
    if (c < '0' || c > '9') return false;
    uint64_t d = uint64_t(c - '0');
    if (v > (max - d) / 10) return false;
    v = v * 10 + d;
  }
  out = v;
  return true;
}

int parse_proc_stat(const char* buf, size_t len, ProcStat& out) {
  if (buf == nullptr || len == 0) return -EINVAL;  // memchr(nullptr, ...) is undefined
  const char* open = static_cast<const char*>(memchr(buf, '(', len));
  if (!open) return -EINVAL;
  const char* close = nullptr;
  for (size_t i = len; i > size_t(open - buf); i--) {
    if (buf[i - 1] == ')') {
      close = buf + i - 1;
      break;
    }
  }
  if (!close) return -EINVAL;
  out.comm.assign(open + 1, size_t(close - open - 1));
  // Fields after ") ": 3 state, 4 ppid, ..., 22 starttime -> tokens 0, 1, ..., 19.
  const char* p = close + 1;
  const char* end = buf + len;
  int index = 0;
  bool have_start = false;
  while (p < end && index <= 19) {
    while (p < end && (*p == ' ' || *p == '\n')) p++;
    const char* tok = p;
    while (p < end && *p != ' ' && *p != '\n') p++;
    size_t tlen = size_t(p - tok);
    if (tlen == 0) break;
    uint64_t v = 0;
    if (index == 0) {
      if (tlen != 1) return -EINVAL;
      out.state = tok[0];
    } else if (index == 1) {
      if (!parse_decimal(tok, tlen, 0x7fffffff, v)) return -EINVAL;
      out.ppid = int(v);
    } else if (index == 19) {
      if (!parse_decimal(tok, tlen, UINT64_MAX, v)) return -EINVAL;
      out.start_time = v;
      have_start = true;
    }
    index++;
  }
  return have_start ? 0 : -EINVAL;
}

bool parse_socket_link(const char* buf, size_t len, uint64_t& inode) {
  static const char kPrefix[] = "socket:[";
  const size_t plen = sizeof kPrefix - 1;
  if (len < plen + 2 || memcmp(buf, kPrefix, plen) != 0 || buf[len - 1] != ']') return false;
  return parse_decimal(buf + plen, len - plen - 1, UINT64_MAX, inode);
}

int parse_status_tgid(const char* buf, size_t len, uint32_t& tgid) {
  const char* p = buf;
  const char* end = buf + len;
  while (p < end) {
    const char* eol = static_cast<const char*>(memchr(p, '\n', size_t(end - p)));
    if (!eol) eol = end;
    if (eol - p > 5 && memcmp(p, "Tgid:", 5) == 0) {
      const char* q = p + 5;
      while (q < eol && (*q == '\t' || *q == ' ')) q++;
      uint64_t v;
      if (!parse_decimal(q, size_t(eol - q), 0x7fffffff, v)) return -EINVAL;
      tgid = uint32_t(v);
      return 0;
    }
    p = eol + 1;
  }
  return -EINVAL;
}

int parse_status_euid(const char* buf, size_t len, uint32_t& uid) {
  const char* p = buf;
  const char* end = buf + len;
  while (p < end) {
    const char* eol = static_cast<const char*>(memchr(p, '\n', size_t(end - p)));
    if (!eol) eol = end;
    if (eol - p > 4 && memcmp(p, "Uid:", 4) == 0) {
      // real, effective, saved, fs: take the second number.
      const char* q = p + 4;
      for (int field = 0; field < 2; field++) {
        while (q < eol && (*q == '\t' || *q == ' ')) q++;
        const char* tok = q;
        while (q < eol && *q != '\t' && *q != ' ') q++;
        uint64_t v;
        if (!parse_decimal(tok, size_t(q - tok), 0xffffffffu, v)) return -EINVAL;
        if (field == 1) {
          uid = uint32_t(v);
          return 0;
        }
      }
    }
    p = eol + 1;
  }
  return -EINVAL;
}

}  // namespace pw

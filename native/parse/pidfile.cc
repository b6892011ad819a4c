#include "pidfile.h"

#include <cerrno>
#include <cstring>

#include "procfs.h"

namespace pw {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

// One line of [begin, end): trims blanks on both sides. `terminated` tells whether a '\n'
// ended it (the last line of a file written by another tool may lack one).
struct Line {
  const char* text = nullptr;
  size_t len = 0;
  bool present = false;
  bool terminated = false;
};

Line next_line(const char*& p, const char* end) {
  Line line;
  if (p >= end) return line;
  const char* eol = static_cast<const char*>(memchr(p, '\n', size_t(end - p)));
  const char* stop = eol ? eol : end;
  const char* b = p;
  const char* e = stop;
  while (b < e && is_space(*b)) b++;
  while (e > b && is_space(e[-1])) e--;
  line.text = b;
  line.len = size_t(e - b);
  line.present = true;
  line.terminated = eol != nullptr;
  p = eol ? eol + 1 : end;
  return line;
}

bool valid_boot_id(const char* s, size_t len) {
  if (len == 0 || len > 64) return false;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '-' || c == '.' || c == ':' || c == '_';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

int parse_pidfile(const char* buf, size_t len, PidFileRecord& out) {
  out = PidFileRecord();
  if (buf == nullptr) len = 0;
  for (size_t i = 0; i < len; i++) {
    if (!is_space(buf[i]) && buf[i] != '\n') {
      out.empty = false;
      break;
    }
  }
  if (out.empty) return -EINVAL;

  const char* p = buf;
  const char* end = buf + len;
  Line pid_line = next_line(p, end);
  uint64_t v = 0;
  if (!parse_decimal(pid_line.text, pid_line.len, 0x7fffffff, v) || v == 0) return -EINVAL;
  out.has_pid = true;
  out.pid = int(v);

  // Later fields count only when their line is complete: an unterminated last line is
  // either a foreign format or a write in progress.
  Line start_line = next_line(p, end);
  if (!start_line.terminated) return 0;
  if (parse_decimal(start_line.text, start_line.len, (uint64_t(1) << 53) - 1, v)) {
    out.has_start_time = true;
    out.start_time = v;
  }
  Line boot_line = next_line(p, end);
  if (!boot_line.terminated) return 0;
  if (valid_boot_id(boot_line.text, boot_line.len))
    out.boot_id.assign(boot_line.text, boot_line.len);
  Line data_line = next_line(p, end);
  if (data_line.terminated && data_line.len > 0 && data_line.len <= kPidFileMaxDataBytes &&
      memchr(data_line.text, '\0', data_line.len) == nullptr) {
    out.has_data = true;
    out.data.assign(data_line.text, data_line.len);
  }
  return 0;
}

std::string format_pidfile(int pid, uint64_t start_time, const std::string& boot_id,
                           const std::string& data) {
  std::string s = std::to_string(pid);
  s += '\n';
  s += std::to_string(start_time);
  s += '\n';
  s += boot_id;
  s += '\n';
  if (!data.empty()) {
    s += data;
    s += '\n';
  }
  return s;
}

}  // namespace pw

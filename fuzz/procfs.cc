// The /proc text parsers: parse_proc_stat (/proc/PID/stat), parse_status_euid and
// parse_status_tgid (/proc/PID/status), parse_socket_link (/proc/PID/fd/N targets), parse_decimal.
#include "../native/parse/procfs.h"

#include <cerrno>
#include <string>

#include "harness.h"

using namespace pw;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* text = reinterpret_cast<const char*>(data);

  ProcStat st;
  int r = parse_proc_stat(text, size, st);
  CHECK(r == 0 || r == -EINVAL);
  if (r == 0) {
    CHECK(st.comm.size() + 2 <= size);  // "(" comm ")" is inside the buffer
    CHECK(st.ppid >= 0);
  }

  uint32_t uid = 0;
  r = parse_status_euid(text, size, uid);
  CHECK(r == 0 || r == -EINVAL);

  uint32_t tgid = 0;
  r = parse_status_tgid(text, size, tgid);
  CHECK(r == 0 || r == -EINVAL);
  if (r == 0) CHECK(tgid <= 0x7fffffffu);

  uint64_t inode = 0;
  if (parse_socket_link(text, size, inode)) {
    CHECK(size > 9 && memcmp(text, "socket:[", 8) == 0 && text[size - 1] == ']');
  }

  uint64_t v = 0;
  const uint64_t max = size > 0 ? uint64_t(data[0]) * 1000003u : 0;
  if (parse_decimal(text, size, max, v)) {
    CHECK(v <= max);
    // The digits, without leading zeros, are the decimal text of v.
    size_t skip = 0;
    while (skip + 1 < size && text[skip] == '0') skip++;
    CHECK(std::string(text + skip, size - skip) == std::to_string(v));
  }
  return 0;
}

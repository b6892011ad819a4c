// Pure parser and formatter of PID-file contents. Compiled on every OS (unit-tested).
//
// Our format (one pwrite, every line ends with '\n'):
//   <pid>\n<startTime>\n<bootId>\n[<one line of JSON caller data>\n]
// Files written by tools that do not lock ("<pid>" or "<pid>\n", as pidfile(3) and most
// daemons write them) parse too: the later fields are then absent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace pw {

// Files are read up to this many bytes; anything after it is ignored.
constexpr size_t kPidFileMaxBytes = 64 * 1024;
// Caller data (the JSON line) is limited to this many bytes.
constexpr size_t kPidFileMaxDataBytes = 16 * 1024;

struct PidFileRecord {
  bool empty = true;  // no bytes other than whitespace (being written, or left by a crash)
  bool has_pid = false;
  int pid = 0;  // 1..2147483647
  bool has_start_time = false;
  uint64_t start_time = 0;  // at most 2^53 - 1, so that JavaScript numbers hold it exactly
  std::string boot_id;      // empty when absent or malformed
  bool has_data = false;
  std::string data;  // the raw JSON line, without its '\n'
};

// Parses the first `len` bytes of a PID file. Never fails on garbage: fields that do not
// parse are reported absent. Returns 0 when a pid was found, -EINVAL otherwise.
int parse_pidfile(const char* buf, size_t len, PidFileRecord& out);

// The bytes we write: "<pid>\n<start>\n<bootId>\n" plus "<data>\n" when data is not empty.
std::string format_pidfile(int pid, uint64_t start_time, const std::string& boot_id,
                           const std::string& data);

}  // namespace pw

// Pure parsers for /proc text. Compiled on every OS (unit-tested and fuzzed).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace pw {

struct ProcStat {
  std::string comm;
  char state = '?';
  int ppid = 0;
  uint64_t start_time = 0;  // field 22, clock ticks since boot
};

// Parses /proc/PID/stat. comm may hold spaces and ')', so the fields are read
// after the last ')'. Returns 0 or -EINVAL.
int parse_proc_stat(const char* buf, size_t len, ProcStat& out);

// "socket:[12345]" -> 12345. Returns false for anything else.
bool parse_socket_link(const char* buf, size_t len, uint64_t& inode);

// The effective uid from /proc/PID/status ("Uid:\treal\teffective\t..."). Returns 0 or -EINVAL.
int parse_status_euid(const char* buf, size_t len, uint32_t& uid);

// The thread-group id from /proc/PID/status ("Tgid:\t1234"): the process a thread id belongs
// to (/proc/TID exists for every thread, though readdir lists processes only). Returns 0 or
// -EINVAL.
int parse_status_tgid(const char* buf, size_t len, uint32_t& tgid);

// Parses a decimal integer with no sign, no spaces, at most `max`. Returns false otherwise.
bool parse_decimal(const char* buf, size_t len, uint64_t max, uint64_t& out);

}  // namespace pw

// Shared types of the native probe. Plain C++: no napi, no OS headers.
// OS backends fill these structs and return 0 or -errno; they never throw.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace pw {

// Protocol bits for inet_dump().
enum : uint32_t { kProtoTcp = 1u << 0, kProtoUdp = 1u << 1 };

// Socket states use the Linux TCP numbering everywhere (darwin maps onto it).
enum : uint8_t {
  kStateEstablished = 1,
  kStateSynSent = 2,
  kStateSynRecv = 3,
  kStateFinWait1 = 4,
  kStateFinWait2 = 5,
  kStateTimeWait = 6,
  kStateClose = 7,  // UDP: bound, not connected ("UNCONN")
  kStateCloseWait = 8,
  kStateLastAck = 9,
  kStateListen = 10,
  kStateClosing = 11,
  kStateNewSynRecv = 12,
  kStateBoundInactive = 13,
};

struct InetSocket {
  uint8_t family = 0;    // 4 or 6: the socket's address family
  uint8_t protocol = 0;  // 6 (TCP) or 17 (UDP)
  uint8_t state = 0;     // see the enum above
  int8_t v6only = -1;    // IPv6 LISTEN/CLOSE sockets: 0 or 1; otherwise -1
  uint8_t local[16] = {};
  uint8_t remote[16] = {};  // IPv4 addresses use the first 4 bytes
  uint16_t local_port = 0;
  uint16_t remote_port = 0;
  uint32_t uid = 0;
  uint64_t inode = 0;  // 0: no file refers to it (TIME_WAIT, orphans)
};

struct UnixSocket {
  uint8_t type = 0;  // SOCK_STREAM 1, SOCK_DGRAM 2, SOCK_SEQPACKET 5
  uint8_t state = 0;
  uint64_t inode = 0;
  std::string name;  // bound path; abstract names start with '@'
  bool has_vfs = false;
  uint32_t vfs_ino = 0;
  uint32_t vfs_dev = 0;  // kernel-internal dev_t (major << 20 | minor)
};

struct ProcessInfo {
  int pid = 0;
  int ppid = 0;
  uint32_t uid = 0;         // effective uid
  std::string name;         // comm
  std::string command;      // argv joined by spaces; empty for kernel threads/zombies
  uint64_t start_time = 0;  // clock ticks since boot (Linux) / µs since epoch (darwin)
  char state = '?';         // R, S, D, Z, T, ...
};

// Result of mapping socket inodes to the processes holding them.
struct OwnerScan {
  std::vector<std::vector<int>> holders;  // per requested inode, ascending pids
  uint32_t denied = 0;                    // processes whose fd table we may not read (EACCES/EPERM)
  uint32_t scanned = 0;                   // processes whose fd table was read
};

}  // namespace pw

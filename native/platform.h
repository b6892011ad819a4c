// The per-OS contract. Implemented in linux/ or darwin/, plus posix/ on both.
// Every function returns 0 (or a documented non-negative value) or -errno; `failed` then
// names the system call that failed (for err.syscall).
#pragma once

#include <sys/types.h>

#include "posix/fd.h"
#include "probe.h"

namespace pw {

// State a backend may keep between synchronous calls of one JS environment (the
// netlink socket on Linux). Never shared between threads; null means "no cache".
struct ProbeCache {
  UniqueFd fd;
  int tcp_compat = -1;  // Linux: -1 untested, 1 the one-dump TCPDIAG_GETSOCK works, 0 it does not
  uint32_t seq = 0;     // last netlink sequence number used on fd
};

// Sockets bound to local port `port` (1..65535) for the given protocols.
// `tcp_states` is a bitmask of (1 << state); UDP sockets of any state are reported.
int inet_dump(ProbeCache* cache, uint16_t port, uint32_t protocols, uint32_t tcp_states,
              std::vector<InetSocket>& out, const char*& failed);

// What a unix socket path names (stat(2), following symlinks). Nothing there (ENOENT,
// ENOTDIR) is 0 with `exists` false. `dev` and `ino` identify the socket file in the
// form unix_dump() matches on (Linux: unix_diag's kernel-internal dev_t).
struct UnixSocketFile {
  bool exists = false;
  bool is_socket = false;
  uint32_t dev = 0;
  uint32_t ino = 0;
};
int unix_socket_file(const std::string& path, UnixSocketFile& out, const char*& failed);
// A file's st_dev in the form unix_dump() matches on (per OS; used by unix_socket_file).
uint32_t socket_file_dev(dev_t dev);

// Unix sockets (listening or bound datagram) whose file is `file` (from unix_socket_file)
// when `by_vfs`, or else whose abstract name equals `abstract_name` (without the leading
// '@'; trailing NULs of the bound address, which Node adds, are ignored).
int unix_dump(bool by_vfs, const UnixSocketFile& file, const std::string& abstract_name,
              std::vector<UnixSocket>& out, const char*& failed);

// Which processes hold each inode. Candidates are scanned first; with
// `stop_when_resolved` the scan ends once every inode has a holder.
int find_owners(const std::vector<uint64_t>& inodes, const std::vector<int>& candidates,
                const std::vector<uint32_t>& uids, bool stop_when_resolved, OwnerScan& out,
                const char*& failed);

// -ESRCH when the process does not exist (or exited while being read).
int process_info(int pid, ProcessInfo& out, const char*& failed);
inline int process_info(int pid, ProcessInfo& out) {
  const char* failed;
  return process_info(pid, out, failed);
}

// Identifies this boot: Linux boot_id, darwin kern.bootsessionuuid (or kern.boottime).
int boot_id(std::string& out, const char*& failed);

}  // namespace pw

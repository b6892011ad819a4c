// The per-OS contract. Implemented in linux/ or darwin/, plus posix/ on both.
// Every function returns 0 (or a documented non-negative value) or -errno.
#pragma once

#include "probe.h"

namespace pw {

// State a backend may keep between synchronous calls of one JS environment (the
// netlink socket on Linux). Never shared between threads; null means "no cache".
struct ProbeCache {
  int fd = -1;
  int tcp_compat = -1;  // Linux: -1 untested, 1 the one-dump TCPDIAG_GETSOCK works, 0 it does not
  uint32_t seq = 0;     // last netlink sequence number used on fd
};
void probe_cache_close(ProbeCache& cache);

// Sockets bound to local port `port` (1..65535) for the given protocols.
// `tcp_states` is a bitmask of (1 << state); UDP sockets of any state are reported.
int inet_dump(ProbeCache* cache, uint16_t port, uint32_t protocols, uint32_t tcp_states,
              std::vector<InetSocket>& out);

// Unix sockets (listening or bound datagram) whose file is (dev, ino) when `by_vfs`, or
// else whose abstract name equals `abstract_name` (without the leading '@'; trailing NULs
// of the bound address, which Node adds, are ignored).
int unix_dump(bool by_vfs, uint32_t vfs_dev, uint32_t vfs_ino, const std::string& abstract_name,
              std::vector<UnixSocket>& out);

// Which processes hold each inode. Candidates are scanned first; with
// `stop_when_resolved` the scan ends once every inode has a holder.
int find_owners(const std::vector<uint64_t>& inodes, const std::vector<int>& candidates,
                const std::vector<uint32_t>& uids, bool stop_when_resolved, OwnerScan& out);

// -ESRCH when the process does not exist (or exited while being read).
int process_info(int pid, ProcessInfo& out);

// Identifies this boot: Linux boot_id, darwin kern.boottime.
int boot_id(std::string& out);

}  // namespace pw

// Pure parsers for what darwin's libproc and pcblist_n sysctls return (layouts in
// darwin_layout.h). Compiled on every OS so that they are unit-tested and fuzzed on Linux;
// native/darwin/*.cc only makes the syscalls and hands the bytes to these functions.
// They read with memcpy-style byte loads, check every length, never read outside
// [buf, buf + len), and report malformed input as -EBADMSG.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "../probe.h"

namespace pw {

// BSD TCP state (TSI_S_* / TCPS_*: 0 CLOSED .. 10 TIME_WAIT) -> the Linux numbering of
// probe.h. Unknown values map to 0 (reported as UNKNOWN).
uint8_t darwin_tcp_state(int bsd_state);

// The InetSocket.inode / UnixSocket.inode of a darwin socket. A real inode does not exist,
// and the 64-bit soi_so / xso_so hashes neither fit a JavaScript number nor agree between
// libproc and pcblist_n on every xnu (in_pcblist.c used VM_KERNEL_ADDRPERM while
// socket_info.c used VM_KERNEL_ADDRHASH). The PCB generation count does: libproc's
// insi_gencnt and pcblist_n's inp_gencnt are the same inp->inp_gencnt, unique per protocol.
// Inet keys: bit 52 set, bit 51 = UDP, low 51 bits = gencnt. Unix keys: bit 52 clear, the
// low 52 bits of soi_so (never 0). Both stay below 2^53. gencnt 0 gives 0 (no key).
uint64_t darwin_inet_key(uint8_t protocol, uint64_t gencnt);
uint64_t darwin_unix_key(uint64_t soi_so);

// Results of parse_socket_fdinfo besides -EBADMSG.
enum : int { kDarwinOther = 0, kDarwinParsed = 1 };

// One `struct socket_fdinfo` (proc_pidfdinfo(PROC_PIDFDSOCKETINFO)). Returns kDarwinParsed
// with `out` filled for a TCP or UDP socket over IPv4/IPv6 (resp. a unix socket),
// kDarwinOther for any other socket, -EBADMSG when `len` is smaller than the struct or the
// fields contradict each other. Addresses are chosen by insi_vflag as lsof does: INI_IPV6
// -> ina_6; INI_IPV4 only -> i46a_addr4 (on an AF_INET6 socket, as a v4-mapped address, so
// that the record equals what Linux reports for an IPv4 peer of a dual-stack socket).
int parse_socket_fdinfo(const uint8_t* buf, size_t len, InetSocket& out);
int parse_socket_fdinfo(const uint8_t* buf, size_t len, UnixSocket& out);

// Appends the socket fds of a PROC_PIDLISTFDS answer (`bytes` long). -EBADMSG when `bytes`
// is not a multiple of sizeof(struct proc_fdinfo).
int parse_fd_list(const uint8_t* buf, size_t bytes, std::vector<int>& socket_fds);

// Walks one net.inet.{tcp,udp}.pcblist_n buffer, dispatching on record kinds as netstat
// does. `protocol` is 6 (TCP: a PCB is complete once its INPCB, SOCKET and TCPCB records
// are in) or 17 (UDP: INPCB and SOCKET). A needed kind seen twice before its PCB is
// complete, or an incomplete PCB at the tail, is garbage. Other kinds (RCVBUF, SNDBUF,
// STATS, unknown ones) are skipped. Appends the complete PCBs whose local port is `port`
// (0: any) and whose inp_gencnt is not above the head's xig_gen; `last_pids` gets one entry
// per appended socket: so_last_pid (else so_e_pid, else 0), the last process that used the
// socket. It may be dead or reused: a hint for the owner scan, never the owner.
// Returns 0, -EAGAIN when the head and tail generations differ (the list changed while the
// kernel copied it: retry), or -EBADMSG for a truncated or garbled buffer (then `out` and
// `last_pids` are left as they were).
int walk_pcblist_n(const uint8_t* buf, size_t len, uint8_t protocol, uint16_t port,
                   std::vector<InetSocket>& out, std::vector<int>& last_pids);

// The command line from a KERN_PROCARGS2 buffer: {int argc; exec path NUL; NUL padding;
// argv[0] NUL ... argv[argc-1] NUL; env...}. Arguments are joined by spaces. Returns 0, or
// -EBADMSG (and an empty `command`) when the buffer is shorter than its argc promises.
int parse_procargs2(const uint8_t* buf, size_t len, std::string& command);

// Pids in scan order: positive `candidates` first (each once), then the other `all` pids.
std::vector<int> darwin_scan_order(const std::vector<int>& candidates, const std::vector<int>& all);

// Records holders of requested keys during an owner scan (OwnerScan of platform.h).
class OwnerCollector {
 public:
  OwnerCollector(const std::vector<uint64_t>& keys, OwnerScan& out);
  bool nothing_to_find() const { return index_.empty(); }
  bool resolved() const { return unresolved_ == 0; }
  // Whether `key` is requested; then notes `pid` as one of its holders.
  bool add(int pid, uint64_t key);
  // Sorts and de-duplicates each holder list.
  void finish();

 private:
  OwnerScan& out_;
  std::unordered_map<uint64_t, std::vector<size_t>> index_;  // key -> indices of `keys`
  std::vector<uint8_t> found_;
  size_t unresolved_ = 0;  // distinct keys without a holder yet
};

}  // namespace pw

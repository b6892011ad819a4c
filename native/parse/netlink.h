// Pure parsers for sock_diag dump replies. Byte offsets follow the uapi structs
// (linux/netlink.h, linux/inet_diag.h, linux/unix_diag.h); the netlink header is in
// host byte order, ports and addresses in inet_diag_sockid are in network order.
// Compiled on every OS so the walkers are unit-tested and fuzzed everywhere.
#pragma once

#include "../probe.h"

namespace pw {

// Result of walking one recv() buffer of a dump.
enum : int { kParseMore = 0, kParseDone = 1 };

// Appends the inet_diag_msg records of `buf` whose local port is `port` (0: any).
// Returns kParseMore, kParseDone, -EAGAIN when the kernel flagged the dump as
// interrupted (NLM_F_DUMP_INTR), -errno carried by NLMSG_ERROR / NLMSG_DONE,
// or -EBADMSG for a malformed buffer. Messages with another sequence are skipped.
int parse_inet_diag(const uint8_t* buf, size_t len, uint32_t seq, uint16_t port,
                    std::vector<InetSocket>& out);

// Same walk for unix_diag_msg records (with UDIAG_SHOW_NAME | UDIAG_SHOW_VFS).
int parse_unix_diag(const uint8_t* buf, size_t len, uint32_t seq, std::vector<UnixSocket>& out);

// Whether `buf` holds the end (NLMSG_DONE or NLMSG_ERROR) of dump `seq`, whatever its
// flags: kParseDone if it does, kParseMore if not, -EBADMSG for a malformed buffer. Used to
// read an interrupted dump to its end: the kernel answers a new request on a socket whose
// dump is still running with EBUSY.
int parse_dump_end(const uint8_t* buf, size_t len, uint32_t seq);

// Layout constants, checked against the kernel headers in linux/sock_diag.cc.
constexpr size_t kNlmsgHdrLen = 16;
constexpr size_t kInetDiagMsgLen = 72;
constexpr size_t kUnixDiagMsgLen = 16;
constexpr uint16_t kNlmsgError = 2;
constexpr uint16_t kNlmsgDone = 3;
constexpr uint16_t kNlmFDumpIntr = 0x10;
constexpr uint16_t kInetDiagSkV6Only = 11;
constexpr uint16_t kUnixDiagName = 0;
constexpr uint16_t kUnixDiagVfs = 1;

}  // namespace pw

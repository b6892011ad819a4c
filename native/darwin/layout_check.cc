// Compile-time check of native/parse/darwin_layout.h (and the TSI_S_* table in
// parse/darwin.cc) against Apple's headers: every mirrored public constant, size and
// offset is static_asserted. Not part of the addon: `npm run check:darwin`
// (scripts/check-darwin.mjs) compiles it with Zig's bundled macOS SDK headers for each
// header set (macOS 11, 12, 13) and architecture (x86_64, arm64).
//
// Negative control: check-darwin.mjs compiles it once more with PW_LAYOUT_SKEW=1, which
// adds 1 to every mirrored value, and requires exactly as many failed static_asserts as
// there are PW_SAME lines here - so each assert is proven to be evaluated.
//
// The pcblist_n records (xinpgen, xinpcb_n, xsocket_n, xtcpcb_n) are #ifdef PRIVATE in
// xnu and in no SDK, Zig's included: they cannot be checked against headers. Their
// provenance is written next to them in darwin_layout.h; the asserts at the end only
// check that the mirror is consistent with itself.
#include <libproc.h>
#include <netinet/in.h>
#include <sys/proc_info.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstddef>

#include "../parse/darwin_layout.h"

#ifndef PW_LAYOUT_SKEW
#define PW_LAYOUT_SKEW 0
#endif

// `actual` (from Apple's headers) must equal `mirror` (ours).
#define PW_SAME(actual, mirror)                                                                    \
  static_assert(static_cast<long long>(actual) == static_cast<long long>(mirror) + PW_LAYOUT_SKEW, \
                "darwin_layout.h: " #mirror " does not match " #actual " in the SDK")
#define PW_FIELD_SIZE(type, field) sizeof(static_cast<type*>(nullptr)->field)

namespace d = pw::darwin;

// Address families, protocols, socket options.
PW_SAME(AF_UNIX, d::kAfUnix);
PW_SAME(AF_INET, d::kAfInet);
PW_SAME(AF_INET6, d::kAfInet6);
PW_SAME(IPPROTO_TCP, d::kIpprotoTcp);
PW_SAME(IPPROTO_UDP, d::kIpprotoUdp);
PW_SAME(SO_ACCEPTCONN, d::kSoAcceptConn);

// struct proc_fdinfo (PROC_PIDLISTFDS).
PW_SAME(sizeof(struct proc_fdinfo), d::kProcFdinfoSize);
PW_SAME(PROC_PIDLISTFD_SIZE, d::kProcFdinfoSize);
PW_SAME(offsetof(struct proc_fdinfo, proc_fd), d::kFdinfoFd);
PW_SAME(offsetof(struct proc_fdinfo, proc_fdtype), d::kFdinfoType);
PW_SAME(PW_FIELD_SIZE(struct proc_fdinfo, proc_fd), 4);
PW_SAME(PW_FIELD_SIZE(struct proc_fdinfo, proc_fdtype), 4);
PW_SAME(PROX_FDTYPE_SOCKET, d::kProxFdtypeSocket);

// struct socket_fdinfo (PROC_PIDFDSOCKETINFO) and struct socket_info.
PW_SAME(sizeof(struct socket_fdinfo), d::kSocketFdinfoSize);
PW_SAME(PROC_PIDFDSOCKETINFO_SIZE, d::kSocketFdinfoSize);
PW_SAME(sizeof(struct proc_fileinfo), d::kSfiPsi);
PW_SAME(offsetof(struct socket_fdinfo, psi), d::kSfiPsi);
PW_SAME(sizeof(struct vinfo_stat), d::kSfiSo - d::kSfiPsi);
PW_SAME(offsetof(struct socket_fdinfo, psi.soi_stat.vst_uid), d::kSfiStatUid);
PW_SAME(PW_FIELD_SIZE(struct vinfo_stat, vst_uid), 4);
PW_SAME(offsetof(struct socket_fdinfo, psi.soi_so), d::kSfiSo);
PW_SAME(PW_FIELD_SIZE(struct socket_info, soi_so), 8);
PW_SAME(offsetof(struct socket_fdinfo, psi.soi_type), d::kSfiType);
PW_SAME(offsetof(struct socket_fdinfo, psi.soi_protocol), d::kSfiProtocol);
PW_SAME(offsetof(struct socket_fdinfo, psi.soi_family), d::kSfiFamily);
PW_SAME(PW_FIELD_SIZE(struct socket_info, soi_family), 4);
PW_SAME(offsetof(struct socket_fdinfo, psi.soi_options), d::kSfiOptions);
PW_SAME(PW_FIELD_SIZE(struct socket_info, soi_options), 2);
PW_SAME(offsetof(struct socket_fdinfo, psi.soi_state), d::kSfiState);
PW_SAME(PW_FIELD_SIZE(struct socket_info, soi_state), 2);
PW_SAME(offsetof(struct socket_fdinfo, psi.soi_kind), d::kSfiKind);
PW_SAME(offsetof(struct socket_fdinfo, psi.soi_proto), d::kSfiProto);
PW_SAME(SOCKINFO_GENERIC, d::kSockinfoGeneric);
PW_SAME(SOCKINFO_IN, d::kSockinfoIn);
PW_SAME(SOCKINFO_TCP, d::kSockinfoTcp);
PW_SAME(SOCKINFO_UN, d::kSockinfoUn);
PW_SAME(SOI_S_ISCONNECTED, d::kSoiSIsConnected);

// struct in_sockinfo (pri_in, and pri_tcp.tcpsi_ini at the same place).
PW_SAME(sizeof(struct in_sockinfo), d::kTcpState);
PW_SAME(offsetof(struct in_sockinfo, insi_fport), d::kInFport);
PW_SAME(offsetof(struct in_sockinfo, insi_lport), d::kInLport);
PW_SAME(PW_FIELD_SIZE(struct in_sockinfo, insi_lport), 4);
PW_SAME(offsetof(struct in_sockinfo, insi_gencnt), d::kInGencnt);
PW_SAME(offsetof(struct in_sockinfo, insi_flags), d::kInFlags);
PW_SAME(offsetof(struct in_sockinfo, insi_vflag), d::kInVflag);
PW_SAME(PW_FIELD_SIZE(struct in_sockinfo, insi_vflag), 1);
PW_SAME(offsetof(struct in_sockinfo, insi_faddr), d::kInFaddr);
PW_SAME(offsetof(struct in_sockinfo, insi_laddr), d::kInLaddr);
PW_SAME(PW_FIELD_SIZE(struct in_sockinfo, insi_laddr), 16);
PW_SAME(offsetof(struct in4in6_addr, i46a_addr4), d::kInAddr4);
PW_SAME(offsetof(struct socket_info, soi_proto.pri_in), d::kSfiProto - d::kSfiPsi);
PW_SAME(offsetof(struct socket_info, soi_proto.pri_tcp.tcpsi_ini), d::kSfiProto - d::kSfiPsi);
PW_SAME(INI_IPV4, d::kIniIpv4);
PW_SAME(INI_IPV6, d::kIniIpv6);

// struct tcp_sockinfo and the TCP states parse/darwin.cc maps by number.
PW_SAME(offsetof(struct tcp_sockinfo, tcpsi_state), d::kTcpState);
PW_SAME(TSI_S_CLOSED, 0);
PW_SAME(TSI_S_LISTEN, 1);
PW_SAME(TSI_S_SYN_SENT, 2);
PW_SAME(TSI_S_SYN_RECEIVED, 3);
PW_SAME(TSI_S_ESTABLISHED, 4);
PW_SAME(TSI_S__CLOSE_WAIT, 5);  // sic: Apple's header spells it with two underscores
PW_SAME(TSI_S_FIN_WAIT_1, 6);
PW_SAME(TSI_S_CLOSING, 7);
PW_SAME(TSI_S_LAST_ACK, 8);
PW_SAME(TSI_S_FIN_WAIT_2, 9);
PW_SAME(TSI_S_TIME_WAIT, 10);

// struct un_sockinfo and struct sockaddr_un.
PW_SAME(offsetof(struct un_sockinfo, unsi_addr), d::kUnAddr);
PW_SAME(offsetof(struct sockaddr_un, sun_path), d::kSunPath);
PW_SAME(PW_FIELD_SIZE(struct sockaddr_un, sun_path), d::kSunPathMax);
PW_SAME(d::kSfiProto - d::kSfiPsi + sizeof(struct un_sockinfo) <= sizeof(struct socket_info), 1);

// pcblist_n: the private records agree with themselves (see darwin_layout.h for sources).
static_assert(d::kXinpcbMinLen == d::kXinpLaddr + 16, "xinpcb_n prefix ends after laddr");
static_assert(d::kXinpLaddr == d::kXinpFaddr + 16, "xinpcb_n addresses are 16 bytes");
static_assert(d::kXsocketMinLen == d::kXsoUid + 4, "xsocket_n prefix ends after so_uid");
static_assert(d::kXsoEPid == d::kXsoLastPid + 4 && d::kXsoLastPid == d::kXsoUid + 4,
              "xsocket_n: so_last_pid and so_e_pid follow so_uid");
static_assert(d::kXtcpcbMinLen == d::kXtState + 4, "xtcpcb_n prefix ends after t_state");
static_assert(d::kXinpgenSize == d::kXigGen + 16, "xinpgen: xig_gen and xig_sogen are u64");

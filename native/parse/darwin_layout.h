// Byte layouts of the darwin structs the parsers read, for the LP64 ABI (x86_64 and arm64
// share it: natural alignment, 8-byte pointers and off_t). Written as offsets so that the
// parsers compile and are tested on every OS; native/darwin/*.cc static_asserts the public
// ones against the SDK headers. Values stored in host byte order unless noted (darwin is
// little-endian on both architectures; ports and addresses are in network order).
//
// Sources (apple-oss-distributions/xnu):
//   bsd/sys/proc_info.h @1031c584 (public SDK header): proc_fdinfo, proc_fileinfo,
//     vinfo_stat, socket_info, in_sockinfo, tcp_sockinfo, un_sockinfo, socket_fdinfo,
//     SOCKINFO_*, INI_IPV4/INI_IPV6, TSI_S_*, PROX_FDTYPE_SOCKET, SOI_S_*.
//   bsd/kern/socket_info.c @2c2f96dc: fill_socketinfo() (which fields are filled, and that
//     insi_lport/insi_fport hold the network-order u_short inp_lport/inp_fport in an int).
//   bsd/netinet/in_pcb.h @0f4c859e (#ifdef PRIVATE, under #pragma pack(4)): xinpgen,
//     xinpcb_n, in_addr_4in6, INP_IPV4/INP_IPV6, IN6P_IPV6_V6ONLY.
//   bsd/sys/socketvar.h @1031c584 (#ifdef PRIVATE, under #pragma pack(4)): xsocket_n,
//     xsockbuf_n, xsockstat_n, XSO_* kinds, SS_NOFDREF.
//   bsd/netinet/tcp_var.h @42e22086 (#ifdef PRIVATE): xtcpcb_n {u32 xt_len, xt_kind; u64 t_segq;
//     int t_dupacks; int t_timer[4]; int t_state; ...}: t_state at 36 with or without pack(4).
//   bsd/netinet/in_pcblist.c @1031c584: get_pcblist_n() (record order INPCB, SOCKET,
//     RCVBUF, SNDBUF, STATS[, TCPCB], each padded to ROUNDUP64; head and tail xinpgen;
//     no tail when xig_count is 0; PCBs with inp_gencnt > xig_gen are skipped; for a PCB
//     without a socket the RCVBUF/SNDBUF records keep kind 0). xso_so is
//     VM_KERNEL_ADDRPERM(so) there but VM_KERNEL_ADDRHASH(so) in newer trees, while
//     socket_info.c's soi_so is VM_KERNEL_ADDRHASH(so): see darwin_inet_key() in darwin.h.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pw {
namespace darwin {

// Address families and socket options as darwin numbers them (AF_INET6 is 30, not 10).
constexpr int kAfUnix = 1;
constexpr int kAfInet = 2;
constexpr int kAfInet6 = 30;
constexpr int kIpprotoTcp = 6;
constexpr int kIpprotoUdp = 17;
constexpr int kSoAcceptConn = 0x0002;  // sys/socket.h SO_ACCEPTCONN (soi_options)

// --- libproc: struct proc_fdinfo { int32_t proc_fd; uint32_t proc_fdtype; } (8 bytes)
constexpr size_t kProcFdinfoSize = 8;
constexpr size_t kFdinfoFd = 0;
constexpr size_t kFdinfoType = 4;
constexpr uint32_t kProxFdtypeSocket = 2;

// --- libproc: struct socket_fdinfo { struct proc_fileinfo pfi; struct socket_info psi; }
// proc_fileinfo is 24 bytes (u32, u32, off_t, i32, u32), so psi starts at 24.
// socket_info: vinfo_stat soi_stat (136 bytes), u64 soi_so, u64 soi_pcb, int soi_type,
// int soi_protocol, int soi_family, short soi_options, soi_linger, soi_state, ...,
// sockbuf_info soi_rcv/soi_snd (24 bytes each), int soi_kind, u32 rfu_1, union soi_proto
// (8-aligned; its largest member un_sockinfo is 528 bytes). sizeof(socket_fdinfo) = 792.
constexpr size_t kSocketFdinfoSize = 792;
constexpr size_t kSfiPsi = 24;
constexpr size_t kSfiStatUid = kSfiPsi + 16;  // soi_stat.vst_uid (zeroed by current xnu)
constexpr size_t kSfiSo = kSfiPsi + 136;      // soi_so: opaque per-socket hash
constexpr size_t kSfiType = kSfiPsi + 152;    // soi_type
constexpr size_t kSfiProtocol = kSfiPsi + 156;
constexpr size_t kSfiFamily = kSfiPsi + 160;
constexpr size_t kSfiOptions = kSfiPsi + 164;  // short: so_options & 0xffff
constexpr size_t kSfiState = kSfiPsi + 168;    // short: so_state (SOI_S_*)
constexpr size_t kSfiKind = kSfiPsi + 232;     // soi_kind (SOCKINFO_*)
constexpr size_t kSfiProto = kSfiPsi + 240;    // union soi_proto

// soi_kind values.
constexpr int kSockinfoGeneric = 0;
constexpr int kSockinfoIn = 1;   // pri_in: struct in_sockinfo (UDP, or TCP without a tcpcb)
constexpr int kSockinfoTcp = 2;  // pri_tcp: struct tcp_sockinfo (in_sockinfo first)
constexpr int kSockinfoUn = 3;   // pri_un: struct un_sockinfo

// soi_state bits.
constexpr int kSoiSIsConnected = 0x0002;

// struct in_sockinfo (80 bytes), at kSfiProto for both pri_in and pri_tcp.tcpsi_ini:
//   int insi_fport @0, int insi_lport @4 (network-order u_short in an int: ntohs the low
//   16 bits as stored), u64 insi_gencnt @8, u32 insi_flags @16, u32 insi_flow @20,
//   u8 insi_vflag @24, u8 insi_ip_ttl @25, u32 rfu_1 @28,
//   union {in4in6_addr ina_46; in6_addr ina_6} insi_faddr @32, insi_laddr @48.
// in4in6_addr is {u32 i46a_pad32[3]; struct in_addr i46a_addr4;}: the IPv4 address is
// bytes 12..15 of the 16-byte union.
constexpr size_t kInFport = 0;
constexpr size_t kInLport = 4;
constexpr size_t kInGencnt = 8;
constexpr size_t kInFlags = 16;
constexpr size_t kInVflag = 24;
constexpr size_t kInFaddr = 32;
constexpr size_t kInLaddr = 48;
constexpr size_t kInAddr4 = 12;  // offset of i46a_addr4 inside the address union
constexpr uint8_t kIniIpv4 = 0x1;
constexpr uint8_t kIniIpv6 = 0x2;
constexpr uint32_t kIn6pIpv6V6only = 0x00008000;  // insi_flags / inp_flags

// struct tcp_sockinfo: in_sockinfo tcpsi_ini @0 (80 bytes), int tcpsi_state @80 (TSI_S_*).
constexpr size_t kTcpState = 80;

// struct un_sockinfo: u64 unsi_conn_so @0, u64 unsi_conn_pcb @8, union {sockaddr_un;
// char[SOCK_MAXADDRLEN=255]} unsi_addr @16, unsi_caddr @271.
// sockaddr_un: u8 sun_len @0, u8 sun_family @1, char sun_path[104] @2.
constexpr size_t kUnAddr = 16;
constexpr size_t kSunPath = 2;
constexpr size_t kSunPathMax = 104;

// --- sysctl net.inet.{tcp,udp}.pcblist_n (private structs, #pragma pack(4))
// Provenance. These records are #ifdef PRIVATE in xnu: no macOS SDK ships them (nor do
// Zig's bundled macOS headers), so `npm run check:darwin` cannot assert them against a
// header the way native/darwin/layout_check.cc asserts the libproc structs above. The
// offsets below were computed by hand, under #pragma pack(4), from the xnu sources
// (apple-oss-distributions/xnu, full commit ids):
//   xinpgen, xinpcb_n: bsd/netinet/in_pcb.h @0f4c859e951fba394238ab619495c4e1d54d0f34
//     (copyright 2000-2022); xinpcb_n = 104 bytes ending inp_flowhash, inp_flags2.
//   xsocket_n, XSO_*:  bsd/sys/socketvar.h @1031c584a5e37aff177559b9f69dbd3c8c3fd30a;
//     the prefix through so_e_pid @72 is also in the older copies netstat carries
//     (network_cmds netstat.tproj); newer trees append fields, so only it is read.
//   xtcpcb_n:          bsd/netinet/tcp_var.h @42e220869062b56f8d7d0726fd4c88954f87902c,
//     TCPT_NTIMERS_EXT = 4.
// Re-checked against those files for the prebuild work: all offsets below match. The
// seeds in fuzz/corpus/darwin_pcblist/ are made from these same offsets, so they test the
// walker, not the layout; only a real macOS kernel (the macOS CI job) tests the layout.
// struct xinpgen {u32 xig_len @0; u_int xig_count @4; u64 xig_gen @8; u64 xig_sogen @16}
constexpr size_t kXinpgenSize = 24;
constexpr size_t kXigLen = 0;
constexpr size_t kXigCount = 4;
constexpr size_t kXigGen = 8;

// Every record starts {u32 len; u32 kind} and is padded to ROUNDUP64(len).
constexpr size_t kXgenLen = 0;
constexpr size_t kXgenKind = 4;
constexpr size_t kXgenHeaderSize = 8;
constexpr uint32_t kXsoSocket = 0x01;
constexpr uint32_t kXsoRcvbuf = 0x02;
constexpr uint32_t kXsoSndbuf = 0x04;
constexpr uint32_t kXsoStats = 0x08;
constexpr uint32_t kXsoInpcb = 0x10;
constexpr uint32_t kXsoTcpcb = 0x20;

// struct xinpcb_n (104 bytes in the sources above; only this prefix is read):
//   u32 xi_len @0, u32 xi_kind @4, u64 xi_inpp @8, u_short inp_fport @16 (network order),
//   u_short inp_lport @18 (network order), u64 inp_ppcb @20, u64 inp_gencnt @28,
//   int inp_flags @36, u32 inp_flow @40, u8 inp_vflag @44, u8 inp_ip_ttl @45,
//   u8 inp_ip_p @46, union inp_dependfaddr @48 (16), union inp_dependladdr @64 (16).
constexpr size_t kXinpFport = 16;
constexpr size_t kXinpLport = 18;
constexpr size_t kXinpGencnt = 28;
constexpr size_t kXinpFlags = 36;
constexpr size_t kXinpVflag = 44;
constexpr size_t kXinpFaddr = 48;
constexpr size_t kXinpLaddr = 64;
constexpr size_t kXinpcbMinLen = 80;  // through inp_dependladdr

// struct xsocket_n (104 bytes in the sources above; older kernels end after so_uid at 68):
//   u32 xso_len @0, u32 xso_kind @4, u64 xso_so @8, short so_type @16, u32 so_options @20,
//   short so_linger @24, short so_state @26, u64 so_pcb @28, int xso_protocol @36,
//   int xso_family @40, short so_qlen @44, so_incqlen @46, so_qlimit @48, so_timeo @50,
//   u_short so_error @52, pid_t so_pgid @56, u32 so_oobmark @60, uid_t so_uid @64,
//   pid_t so_last_pid @68, pid_t so_e_pid @72, so_gen_t so_gencnt @76, ...
constexpr size_t kXsoSo = 8;
constexpr size_t kXsoState = 26;
constexpr size_t kXsoFamily = 40;
constexpr size_t kXsoUid = 64;
constexpr size_t kXsoLastPid = 68;
constexpr size_t kXsoEPid = 72;
constexpr size_t kXsocketMinLen = 68;  // through so_uid
constexpr int kSsNofdref = 0x0001;     // so_state: no file refers to the socket any more

// struct xtcpcb_n: u32 xt_len @0, u32 xt_kind @4, u64 t_segq @8, int t_dupacks @16,
// int t_timer[4] @20, int t_state @36 (TCPS_*, the same numbers as TSI_S_*).
constexpr size_t kXtState = 36;
constexpr size_t kXtcpcbMinLen = 40;

}  // namespace darwin
}  // namespace pw

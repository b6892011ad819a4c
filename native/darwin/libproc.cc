// Socket -> processes, unix sockets, and process identity on darwin, with libproc and
// sysctl (libproc.h, sys/proc_info.h). The bytes libproc returns are parsed by parse/darwin.cc.
// Compiled on the project's Linux machine (npm run check:darwin), NOT executed: macOS CI only.
#include <errno.h>
#include <libproc.h>
#include <sys/proc_info.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysctl.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstring>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "../parse/darwin.h"
#include "../parse/darwin_layout.h"
#include "../platform.h"

namespace pw {

// The offsets parse/darwin.cc reads, checked against the SDK's public header.
namespace d = darwin;
static_assert(sizeof(struct proc_fdinfo) == d::kProcFdinfoSize, "proc_fdinfo");
static_assert(offsetof(struct proc_fdinfo, proc_fdtype) == d::kFdinfoType, "proc_fdtype");
static_assert(PROX_FDTYPE_SOCKET == d::kProxFdtypeSocket, "PROX_FDTYPE_SOCKET");
static_assert(sizeof(struct socket_fdinfo) == d::kSocketFdinfoSize, "socket_fdinfo");
static_assert(offsetof(struct socket_fdinfo, psi) == d::kSfiPsi, "psi");
static_assert(offsetof(struct socket_fdinfo, psi.soi_stat.vst_uid) == d::kSfiStatUid, "vst_uid");
static_assert(offsetof(struct socket_fdinfo, psi.soi_so) == d::kSfiSo, "soi_so");
static_assert(offsetof(struct socket_fdinfo, psi.soi_type) == d::kSfiType, "soi_type");
static_assert(offsetof(struct socket_fdinfo, psi.soi_protocol) == d::kSfiProtocol, "protocol");
static_assert(offsetof(struct socket_fdinfo, psi.soi_family) == d::kSfiFamily, "soi_family");
static_assert(offsetof(struct socket_fdinfo, psi.soi_options) == d::kSfiOptions, "options");
static_assert(offsetof(struct socket_fdinfo, psi.soi_state) == d::kSfiState, "soi_state");
static_assert(offsetof(struct socket_fdinfo, psi.soi_kind) == d::kSfiKind, "soi_kind");
static_assert(offsetof(struct socket_fdinfo, psi.soi_proto) == d::kSfiProto, "soi_proto");
static_assert(offsetof(struct in_sockinfo, insi_fport) == d::kInFport, "insi_fport");
static_assert(offsetof(struct in_sockinfo, insi_lport) == d::kInLport, "insi_lport");
static_assert(offsetof(struct in_sockinfo, insi_gencnt) == d::kInGencnt, "insi_gencnt");
static_assert(offsetof(struct in_sockinfo, insi_flags) == d::kInFlags, "insi_flags");
static_assert(offsetof(struct in_sockinfo, insi_vflag) == d::kInVflag, "insi_vflag");
static_assert(offsetof(struct in_sockinfo, insi_faddr) == d::kInFaddr, "insi_faddr");
static_assert(offsetof(struct in_sockinfo, insi_laddr) == d::kInLaddr, "insi_laddr");
static_assert(offsetof(struct in4in6_addr, i46a_addr4) == d::kInAddr4, "i46a_addr4");
static_assert(offsetof(struct tcp_sockinfo, tcpsi_state) == d::kTcpState, "tcpsi_state");
static_assert(offsetof(struct un_sockinfo, unsi_addr) == d::kUnAddr, "unsi_addr");
static_assert(offsetof(struct sockaddr_un, sun_path) == d::kSunPath, "sun_path");
static_assert(sizeof(((struct sockaddr_un*)nullptr)->sun_path) == d::kSunPathMax, "sun_path");
static_assert(INI_IPV4 == d::kIniIpv4 && INI_IPV6 == d::kIniIpv6, "INI_*");
static_assert(SOCKINFO_IN == d::kSockinfoIn && SOCKINFO_TCP == d::kSockinfoTcp &&
                  SOCKINFO_UN == d::kSockinfoUn,
              "SOCKINFO_*");
static_assert(AF_INET6 == d::kAfInet6 && AF_UNIX == d::kAfUnix, "darwin AF_*");
static_assert(SO_ACCEPTCONN == d::kSoAcceptConn && SOI_S_ISCONNECTED == d::kSoiSIsConnected,
              "SO_ACCEPTCONN / SOI_S_ISCONNECTED");

namespace {

// proc_listpids(type, typeinfo): pids (no zeros) or -errno. libproc answers 0 for errors
// (with errno) and for an empty list (without).
int list_pids(uint32_t type, uint32_t typeinfo, std::vector<int>& out) {
  out.clear();
  errno = 0;
  int need = proc_listpids(type, typeinfo, nullptr, 0);
  if (need <= 0) return errno != 0 ? -errno : 0;
  std::vector<int> buf(size_t(need) / sizeof(int) + 64);  // slack for processes born meanwhile
  int got = 0;
  for (int tries = 0;; tries++) {
    int cap = int(buf.size() * sizeof(int));
    errno = 0;
    got = proc_listpids(type, typeinfo, buf.data(), cap);
    if (got <= 0) return errno != 0 ? -errno : 0;
    if (got < cap || tries == 7) break;  // it fit (or keep the full buffer we have)
    buf.resize(buf.size() * 2);
  }
  size_t n = std::min(size_t(got) / sizeof(int), buf.size());
  for (size_t i = 0; i < n; i++)
    if (buf[i] > 0) out.push_back(buf[i]);
  return 0;
}

// What scanning one process found.
enum class Scan { kRead, kDenied, kGone };

// Reads the socket fds of one process: fn(socket_fdinfo bytes) for each. Reuses its
// buffers across processes.
class FdScanner {
 public:
  template <typename Fn>
  Scan scan(int pid, Fn fn) {
    int n;
    for (;;) {
      errno = 0;
      n = proc_pidinfo(pid, PROC_PIDLISTFDS, 0, fds_.data(), int(fds_.size()));
      if (n <= 0) {
        if (errno == EPERM || errno == EACCES) return Scan::kDenied;
        return errno == 0 ? Scan::kRead : Scan::kGone;  // 0 bytes, errno 0: no fds
      }
      // A full buffer may have cut the list: grow and ask again (psutil does the same).
      if (size_t(n) + PROC_PIDLISTFD_SIZE < fds_.size() || fds_.size() >= kMaxFdBytes) break;
      fds_.resize(fds_.size() * 2);
    }
    size_t bytes = std::min(size_t(n), fds_.size());
    sockets_.clear();
    parse_fd_list(fds_.data(), bytes - bytes % PROC_PIDLISTFD_SIZE, sockets_);
    for (int fd : sockets_) {
      struct socket_fdinfo si;
      errno = 0;
      int got = proc_pidfdinfo(pid, fd, PROC_PIDFDSOCKETINFO, &si, sizeof si);
      if (got < int(sizeof si)) {
        if (errno == ESRCH) return Scan::kRead;    // exited meanwhile: keep what was seen
        if (errno == EPERM) return Scan::kDenied;  // (credentials changed meanwhile)
        continue;  // EBADF: closed meanwhile; EOPNOTSUPP (psutil #1512); others
      }
      fn(reinterpret_cast<const uint8_t*>(&si), sizeof si);
    }
    return Scan::kRead;
  }

 private:
  static constexpr size_t kMaxFdBytes = size_t(64) << 20;
  std::vector<uint8_t> fds_ = std::vector<uint8_t>(size_t(4096) * PROC_PIDLISTFD_SIZE);
  std::vector<int> sockets_;
};

// The key of a socket_fdinfo (inet or unix), or 0.
uint64_t socket_key(const uint8_t* si, size_t len) {
  InetSocket inet;
  if (parse_socket_fdinfo(si, len, inet) == kDarwinParsed) return inet.inode;
  UnixSocket unix_socket;
  if (parse_socket_fdinfo(si, len, unix_socket) == kDarwinParsed) return unix_socket.inode;
  return 0;
}

// The pids to scan, in order, and how many other processes this caller may not read.
int pids_to_scan(const std::vector<int>& candidates, const std::vector<uint32_t>& uids,
                 bool creators_first, std::vector<int>& order, uint32_t& others) {
  others = 0;
  uid_t euid = geteuid();
  std::vector<int> all, first = candidates, own;
  int r = list_pids(PROC_ALL_PIDS, 0, all);
  if (r < 0) return r;
  if (euid == 0) {
    if (creators_first) {
      for (uint32_t uid : uids) {
        if (list_pids(PROC_UID_ONLY, uid, own) == 0)
          first.insert(first.end(), own.begin(), own.end());
      }
    }
    order = darwin_scan_order(first, all);
    return 0;
  }
  // Not root: only processes with our effective uid are readable (CHECK_SAME_USER), and
  // PROC_UID_ONLY filters on that uid. The rest count as denied, as EACCES does on Linux.
  r = list_pids(PROC_UID_ONLY, euid, own);
  if (r < 0) return r;
  order = darwin_scan_order(candidates, own);
  std::unordered_set<int> scanned(order.begin(), order.end());
  for (int pid : all)
    if (scanned.count(pid) == 0) others++;
  return 0;
}

// Calls fn(pid, socket_fdinfo bytes) for the sockets of every readable process, in the
// order of pids_to_scan, while fn returns true.
template <typename Fn>
int scan_processes(const std::vector<int>& candidates, const std::vector<uint32_t>& uids,
                   bool creators_first, OwnerScan* counts, Fn fn) {
  std::vector<int> order;
  uint32_t others = 0;
  int r = pids_to_scan(candidates, uids, creators_first, order, others);
  if (r < 0) return r;
  FdScanner scanner;
  bool stopped = false;
  for (int pid : order) {
    bool go_on = true;
    Scan s = scanner.scan(pid, [&](const uint8_t* si, size_t len) {
      if (go_on) go_on = fn(pid, si, len);
    });
    if (counts && s == Scan::kRead) counts->scanned++;
    if (counts && s == Scan::kDenied) counts->denied++;
    if (!go_on) {
      stopped = true;
      break;
    }
  }
  if (counts && !stopped) counts->denied += others;
  return 0;
}

// The working directory of `pid` ("" when unreadable), to resolve relative socket paths.
std::string process_cwd(int pid) {
  struct proc_vnodepathinfo info;
  if (proc_pidinfo(pid, PROC_PIDVNODEPATHINFO, 0, &info, sizeof info) != int(sizeof info)) {
    return std::string();
  }
  return std::string(info.pvi_cdir.vip_path, strnlen(info.pvi_cdir.vip_path, MAXPATHLEN));
}

std::string lowercase(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

// darwin's dev_t is 32 bits, taken as it is.
uint32_t socket_file_dev(dev_t dev) {
  return uint32_t(dev);
}

int find_owners(const std::vector<uint64_t>& inodes, const std::vector<int>& candidates,
                const std::vector<uint32_t>& uids, bool stop_when_resolved, OwnerScan& out,
                const char*& failed) {
  failed = "proc_listpids";
  OwnerCollector collect(inodes, out);
  if (collect.nothing_to_find()) return 0;
  int r = scan_processes(candidates, uids, stop_when_resolved && !uids.empty(), &out,
                         [&](int pid, const uint8_t* si, size_t len) {
                           collect.add(pid, socket_key(si, len));
                           return !(stop_when_resolved && collect.resolved());
                         });
  collect.finish();
  return r;
}

int unix_dump(bool by_vfs, const UnixSocketFile& file, const std::string& /*abstract*/,
              std::vector<UnixSocket>& out, const char*& failed) {
  failed = "proc_listpids";
  if (!by_vfs) return 0;                          // darwin has no abstract namespace
  std::unordered_map<std::string, bool> matches;  // resolved path -> is (vfs_dev, vfs_ino)
  std::unordered_set<uint64_t> seen;
  return scan_processes({}, {}, false, nullptr, [&](int pid, const uint8_t* si, size_t len) {
    UnixSocket s;
    if (parse_socket_fdinfo(si, len, s) != kDarwinParsed || s.name.empty()) return true;
    if (s.state != kStateListen && s.state != kStateClose) return true;  // as udiag_states
    if (seen.count(s.inode) != 0) return true;
    // A relative path was bound relative to the binder's working directory (its current
    // one is the best guess left).
    std::string path = s.name;
    if (path[0] != '/') {
      std::string cwd = process_cwd(pid);
      if (cwd.empty() || cwd[0] != '/') return true;
      path = cwd + "/" + path;
    }
    auto it = matches.find(path);
    if (it == matches.end()) {
      struct stat st;
      bool same = stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) &&
                  socket_file_dev(st.st_dev) == file.dev && uint32_t(st.st_ino) == file.ino;
      it = matches.emplace(path, same).first;
    }
    if (it->second) {
      seen.insert(s.inode);
      out.push_back(std::move(s));
    }
    return true;
  });
}

int process_info(int pid, ProcessInfo& out, const char*& failed) {
  if (pid <= 0) return -ESRCH;
  failed = "sysctl";
  int mib[4] = {CTL_KERN, KERN_PROC, KERN_PROC_PID, pid};
  struct kinfo_proc kp;
  size_t size = sizeof kp;
  if (sysctl(mib, 4, &kp, &size, nullptr, 0) != 0) return -errno;
  if (size < sizeof kp) return -ESRCH;  // no such process: the sysctl returns nothing
  out.pid = pid;
  out.ppid = kp.kp_eproc.e_ppid;
  out.uid = kp.kp_eproc.e_ucred.cr_uid;  // effective uid
  out.name.assign(kp.kp_proc.p_comm, strnlen(kp.kp_proc.p_comm, sizeof kp.kp_proc.p_comm));
  out.start_time =
      uint64_t(kp.kp_proc.p_starttime.tv_sec) * 1000000u + uint64_t(kp.kp_proc.p_starttime.tv_usec);
  switch (kp.kp_proc.p_stat) {
    case SIDL:
      out.state = 'I';  // being created by fork
      break;
    case SRUN:
      out.state = 'R';
      break;
    case SSLEEP:
      out.state = 'S';
      break;
    case SSTOP:
      out.state = 'T';
      break;
    case SZOMB:
      out.state = 'Z';
      break;
    default:
      out.state = '?';
  }
  // The command line; other users' processes and zombies answer EINVAL/EPERM: left empty.
  out.command.clear();
  int argmax_mib[2] = {CTL_KERN, KERN_ARGMAX};
  int argmax = 0;
  size = sizeof argmax;
  if (sysctl(argmax_mib, 2, &argmax, &size, nullptr, 0) == 0 && argmax > 0) {
    std::vector<uint8_t> args(static_cast<size_t>(argmax));
    int args_mib[3] = {CTL_KERN, KERN_PROCARGS2, pid};
    size = args.size();
    if (sysctl(args_mib, 3, args.data(), &size, nullptr, 0) == 0) {
      parse_procargs2(args.data(), size, out.command);
    }
  }
  return 0;
}

int boot_id(std::string& out, const char*& failed) {
  failed = "sysctlbyname";
  // kern.bootsessionuuid is new for every boot (the analogue of Linux's boot_id).
  char uuid[64];
  size_t size = sizeof uuid;
  if (sysctlbyname("kern.bootsessionuuid", uuid, &size, nullptr, 0) == 0 && size > 1) {
    out = lowercase(std::string(uuid, strnlen(uuid, size)));
    if (!out.empty()) return 0;
  }
  // Older systems: kern.boottime. It moves when the clock is stepped, hence second choice.
  struct timeval tv;
  size = sizeof tv;
  if (sysctlbyname("kern.boottime", &tv, &size, nullptr, 0) != 0) return -errno;
  out = "boottime-" + std::to_string(tv.tv_sec) + "." + std::to_string(tv.tv_usec);
  return 0;
}

}  // namespace pw

// inet_dump on darwin: the sysctls netstat reads, net.inet.tcp.pcblist_n and
// net.inet.udp.pcblist_n (xnu bsd/netinet/in_pcblist.c). They list every PCB, TIME_WAIT included,
// without root; the records are parsed by walk_pcblist_n (parse/darwin.cc).
// Compiled on the project's Linux machine (npm run check:darwin), NOT executed: macOS CI only.
#include <errno.h>
#include <sys/sysctl.h>
#include <sys/types.h>

#include "../parse/darwin.h"
#include "../platform.h"

namespace pw {
namespace {

constexpr int kMaxTries = 8;  // generation changes / ENOMEM before giving up with EAGAIN

// One dump of `name` into `out`, retried while the list changes under the copy.
int dump(const char* name, uint8_t protocol, uint16_t port, uint32_t tcp_states,
         std::vector<InetSocket>& out, const char*& failed) {
  failed = "sysctlbyname";  // also for a list that keeps changing or does not parse
  std::vector<uint8_t> buf;
  for (int tries = 0; tries < kMaxTries; tries++) {
    size_t size = 0;
    if (sysctlbyname(name, nullptr, &size, nullptr, 0) != 0) return -errno;
    size += size / 8 + 4096;  // the kernel adds n/8 PCBs of slack; a little more here
    buf.resize(size);
    if (sysctlbyname(name, buf.data(), &size, nullptr, 0) != 0) {
      if (errno == ENOMEM) continue;  // grew past the slack: size again
      return -errno;
    }
    std::vector<InetSocket> found;
    std::vector<int> last_pids;  // not carried by the platform contract (see the report)
    int r = walk_pcblist_n(buf.data(), size, protocol, port, found, last_pids);
    if (r == -EAGAIN) continue;
    if (r < 0) return r;
    for (const InetSocket& s : found) {
      if (protocol == 6 && ((tcp_states >> s.state) & 1) == 0) continue;
      out.push_back(s);
    }
    return 0;
  }
  return -EAGAIN;
}

}  // namespace

// Nothing is cached on darwin: every dump is two sysctls.
int inet_dump(ProbeCache* /*cache*/, uint16_t port, uint32_t protocols, uint32_t tcp_states,
              std::vector<InetSocket>& out, const char*& failed) {
  size_t before = out.size();
  int r = 0;
  if ((protocols & kProtoTcp) && tcp_states != 0) {
    r = dump("net.inet.tcp.pcblist_n", 6, port, tcp_states, out, failed);
  }
  if (r == 0 && (protocols & kProtoUdp)) {
    r = dump("net.inet.udp.pcblist_n", 17, port, ~0u, out, failed);
  }
  if (r < 0) out.resize(before);
  return r;
}

}  // namespace pw

// walk_pcblist_n over a net.inet.{tcp,udp}.pcblist_n buffer. The first byte picks the
// protocol (even: TCP, odd: UDP), the next two the port filter (big-endian; 0 = any).
#include <cerrno>
#include <vector>

#include "../native/parse/darwin.h"
#include "harness.h"

using namespace pw;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  uint8_t protocol = (data[0] & 1) ? 17 : 6;
  uint16_t port = uint16_t((data[1] << 8) | data[2]);
  const uint8_t* buf = data + 3;
  size_t len = size - 3;
  // Pre-filled: a failed walk must leave both vectors as they were.
  std::vector<InetSocket> out(1);
  std::vector<int> pids(1, -7);
  int r = walk_pcblist_n(buf, len, protocol, port, out, pids);
  CHECK(r == 0 || r == -EAGAIN || r == -EBADMSG);
  CHECK(out.size() == pids.size());
  CHECK(pids[0] == -7);
  if (r != 0) CHECK(out.size() == 1);
  for (size_t i = 1; i < out.size(); i++) {
    const InetSocket& s = out[i];
    CHECK(s.protocol == protocol);
    CHECK(s.family == 4 || s.family == 6);
    CHECK(port == 0 || s.local_port == port);
    CHECK(s.inode < kMaxSafe);
    CHECK(pids[i] >= 0);
  }
  std::vector<InetSocket> none;
  std::vector<int> none_pids;
  CHECK(walk_pcblist_n(buf, len, 1, port, none, none_pids) == (len < 24 ? -EBADMSG : -EINVAL));
  return 0;
}

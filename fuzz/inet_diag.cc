// parse_inet_diag / parse_dump_end over one recv() buffer of a sock_diag dump.
#include <cerrno>
#include <vector>

#include "../native/parse/netlink.h"
#include "harness.h"

using namespace pw;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The sequence number of the first message, so that the walk reads its records (a dump
  // buffer carries one sequence); the port of its first record, 0 (any) and 1.
  uint32_t seq = size >= 12 ? fuzz_rd32(data + 8) : 0;
  uint16_t first = size >= 16 + 6 ? uint16_t((data[16 + 4] << 8) | data[16 + 5]) : 0;
  const uint16_t ports[3] = {0, first, 1};
  int end = parse_dump_end(data, size, seq);
  CHECK(end == kParseMore || end == kParseDone || end == -EBADMSG);
  for (uint16_t port : ports) {
    std::vector<InetSocket> out;
    int r = parse_inet_diag(data, size, seq, port, out);
    CHECK(r == kParseMore || r == kParseDone || (r < 0 && r >= -4095));
    CHECK(out.size() <= size / (kNlmsgHdrLen + kInetDiagMsgLen));
    for (const InetSocket& s : out) {
      CHECK(s.family == 4 || s.family == 6);
      CHECK(s.v6only >= -1 && s.v6only <= 1);
      CHECK(port == 0 || s.local_port == port);
      CHECK(s.inode <= 0xffffffffu);
    }
    // A walk that reached the end of dump `seq` (NLMSG_DONE, NLMSG_ERROR) agrees with the
    // end finder that reads interrupted dumps to their end.
    if (r == kParseDone || (r < 0 && r != -EBADMSG && r != -EAGAIN)) CHECK(end == kParseDone);
  }
  return 0;
}

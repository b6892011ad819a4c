// parse_unix_diag / parse_dump_end over one recv() buffer of a unix_diag dump.
#include <cerrno>
#include <vector>

#include "../native/parse/netlink.h"
#include "harness.h"

using namespace pw;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  uint32_t seq = size >= 12 ? fuzz_rd32(data + 8) : 0;
  int end = parse_dump_end(data, size, seq);
  CHECK(end == kParseMore || end == kParseDone || end == -EBADMSG);
  std::vector<UnixSocket> out;
  int r = parse_unix_diag(data, size, seq, out);
  CHECK(r == kParseMore || r == kParseDone || (r < 0 && r >= -4095));
  CHECK(out.size() <= size / (kNlmsgHdrLen + kUnixDiagMsgLen));
  for (const UnixSocket& s : out) {
    CHECK(s.name.size() <= size);
    CHECK(s.inode <= 0xffffffffu);
  }
  if (r == kParseDone || (r < 0 && r != -EBADMSG && r != -EAGAIN)) CHECK(end == kParseDone);
  return 0;
}

// darwin's libproc answers: parse_socket_fdinfo (struct socket_fdinfo, inet and unix) and
// parse_fd_list (PROC_PIDLISTFDS), on the same bytes.
#include <cerrno>
#include <vector>

#include "../native/parse/darwin.h"
#include "../native/parse/darwin_layout.h"
#include "harness.h"

using namespace pw;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  InetSocket in;
  int r = parse_socket_fdinfo(data, size, in);
  CHECK(r == kDarwinParsed || r == kDarwinOther || r == -EBADMSG);
  if (r == kDarwinParsed) {
    CHECK(in.family == 4 || in.family == 6);
    CHECK(in.protocol == 6 || in.protocol == 17);
    CHECK(in.inode < kMaxSafe);
    CHECK(in.v6only >= -1 && in.v6only <= 1);
  }
  if (size < darwin::kSocketFdinfoSize) CHECK(r == -EBADMSG);

  UnixSocket un;
  r = parse_socket_fdinfo(data, size, un);
  CHECK(r == kDarwinParsed || r == kDarwinOther || r == -EBADMSG);
  if (r == kDarwinParsed) {
    CHECK(un.name.size() <= darwin::kSunPathMax);
    CHECK(un.inode != 0 && un.inode < kMaxSafe);
  }

  std::vector<int> fds;
  r = parse_fd_list(data, size, fds);
  CHECK(r == 0 || r == -EBADMSG);
  CHECK(fds.size() <= size / darwin::kProcFdinfoSize);
  for (int fd : fds) CHECK(fd >= 0);
  return 0;
}

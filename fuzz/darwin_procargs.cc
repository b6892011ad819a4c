// parse_procargs2 over a KERN_PROCARGS2 buffer, and darwin_scan_order over pids read from
// the same bytes.
#include <cerrno>
#include <string>
#include <unordered_set>
#include <vector>

#include "../native/parse/darwin.h"
#include "harness.h"

using namespace pw;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string command = "stale";
  int r = parse_procargs2(data, size, command);
  CHECK(r == 0 || r == -EBADMSG);
  CHECK(command.size() <= size);
  if (r == 0) CHECK(command.find('\0') == std::string::npos);

  std::vector<int> candidates, all;
  for (size_t off = 0; off + 4 <= size; off += 4)
    (off / 4 % 3 == 0 ? candidates : all).push_back(int(fuzz_rd32(data + off)));
  std::vector<int> order = darwin_scan_order(candidates, all);
  std::unordered_set<int> seen;
  for (int pid : order) CHECK(pid > 0 && seen.insert(pid).second);
  return 0;
}

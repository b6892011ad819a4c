// parse_procargs2 over a KERN_PROCARGS2 buffer, and the owner-scan bookkeeping
// (darwin_scan_order, OwnerCollector) over pids and keys read from the same bytes.
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

  // OwnerCollector: keys from the first bytes, (pid, key) sightings from the rest.
  std::vector<uint64_t> keys;
  for (size_t off = 0; off + 1 <= size && keys.size() < 8; off += 1) keys.push_back(data[off] % 5);
  OwnerScan scan;
  OwnerCollector collector(keys, scan);
  std::unordered_set<uint64_t> wanted(keys.begin(), keys.end());
  wanted.erase(0);
  CHECK(collector.nothing_to_find() == wanted.empty());
  std::unordered_set<uint64_t> found;
  for (size_t off = 8; off + 2 <= size; off += 2) {
    int pid = 1 + data[off] % 7;
    uint64_t key = data[off + 1] % 6;
    bool added = collector.add(pid, key);
    CHECK(added == (wanted.count(key) != 0));
    if (added) found.insert(key);
  }
  CHECK(collector.resolved() == (found.size() == wanted.size()));
  collector.finish();
  CHECK(scan.holders.size() == keys.size());
  for (size_t i = 0; i < keys.size(); i++) {
    const auto& h = scan.holders[i];
    for (size_t k = 1; k < h.size(); k++) CHECK(h[k - 1] < h[k]);
    if (keys[i] == 0) CHECK(h.empty());
  }
  return 0;
}

// Runs the darwin parsers (native/parse/darwin.cc) under AddressSanitizer and UBSan.
// test/darwin.test.ts compiles it with -fsanitize=address,undefined and runs it twice:
//
//   darwin_parse_asan --self-test          checks of OwnerCollector, darwin_scan_order and
//                                          the key functions; prints "N passed, 0 failed"
//   darwin_parse_asan CORPUS               for each buffer of CORPUS, copied into a heap
//                                          block of exactly its length (so that a read one
//                                          byte past the end is reported), prints one line
//                                          "<status> <count>"; the test compares these lines
//                                          with what the addon answers for the same corpus.
//
// CORPUS records: u8 what (0 pcblist_n, 1 socket_fdinfo, 2 fd list, 3 procargs2),
// u8 protocol, u16 port (little-endian), u32 length (little-endian), then the bytes.
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../../native/parse/darwin.h"

namespace {

int failures = 0;
int passes = 0;

void check(bool ok, const char* what) {
  if (ok) {
    passes++;
  } else {
    failures++;
    std::fprintf(stderr, "FAILED: %s\n", what);
  }
}

int self_test() {
  using pw::OwnerCollector;
  using pw::OwnerScan;
  {
    OwnerScan scan;
    std::vector<uint64_t> keys = {0, 42, 7, 42};
    OwnerCollector c(keys, scan);
    check(!c.nothing_to_find(), "keys to find");
    check(!c.resolved(), "unresolved at first");
    check(!c.add(5, 0), "key 0 is never requested");
    check(!c.add(5, 99), "unknown key");
    check(c.add(9, 42), "known key");
    check(c.add(3, 42), "second holder");
    check(c.add(3, 42), "same holder twice");
    check(!c.resolved(), "7 still unresolved");
    check(c.add(3, 7), "other key");
    check(c.resolved(), "resolved");
    c.finish();
    check(scan.holders.size() == 4, "one holder list per key");
    check(scan.holders[0].empty(), "key 0 has no holders");
    check((scan.holders[1] == std::vector<int>{3, 9}), "sorted, unique holders");
    check((scan.holders[3] == std::vector<int>{3, 9}), "duplicate keys share holders");
    check((scan.holders[2] == std::vector<int>{3}), "holder of 7");
  }
  {
    OwnerScan scan;
    scan.denied = 3;
    std::vector<uint64_t> keys = {0, 0};
    OwnerCollector c(keys, scan);
    check(c.nothing_to_find() && c.resolved(), "only zero keys");
    check(scan.denied == 0 && scan.holders.size() == 2, "scan reset");
  }
  {
    std::vector<int> order = pw::darwin_scan_order({5, 0, -1, 5, 9}, {1, 9, 5, 7, 0});
    check((order == std::vector<int>{5, 9, 1, 7}), "candidates first, each pid once");
  }
  {
    uint64_t tcp = pw::darwin_inet_key(6, 12345), udp = pw::darwin_inet_key(17, 12345);
    check(tcp != udp, "tcp and udp keys differ");
    check(tcp < (uint64_t(1) << 53) && udp < (uint64_t(1) << 53), "inet keys below 2^53");
    check(pw::darwin_inet_key(6, 0) == 0, "gencnt 0: no key");
    check(pw::darwin_inet_key(6, ~uint64_t(0)) < (uint64_t(1) << 53), "huge gencnt");
    check(pw::darwin_unix_key(0) == 1, "unix key never 0");
    check(pw::darwin_unix_key(~uint64_t(0)) < (uint64_t(1) << 52), "unix key below 2^52");
    check(pw::darwin_unix_key(~uint64_t(0)) != tcp, "unix and inet keys differ");
  }
  for (int s = -1; s <= 12; s++) {
    uint8_t linux_state = pw::darwin_tcp_state(s);
    check(s >= 0 && s <= 10 ? linux_state != 0 : linux_state == 0, "state map range");
  }
  // Null buffers are refused, not dereferenced.
  std::vector<pw::InetSocket> out;
  std::vector<int> pids;
  check(pw::walk_pcblist_n(nullptr, 0, 6, 0, out, pids) == -EBADMSG, "null pcblist");
  pw::InetSocket inet;
  pw::UnixSocket unix_socket;
  check(pw::parse_socket_fdinfo(nullptr, 792, inet) == -EBADMSG, "null fdinfo");
  check(pw::parse_socket_fdinfo(nullptr, 792, unix_socket) == -EBADMSG, "null fdinfo (unix)");
  std::vector<int> fds;
  check(pw::parse_fd_list(nullptr, 0, fds) == 0 && fds.empty(), "empty fd list");
  std::string command;
  check(pw::parse_procargs2(nullptr, 0, command) == -EBADMSG, "null procargs");
  std::printf("%d passed, %d failed\n", passes, failures);
  return failures == 0 ? 0 : 1;
}

uint32_t le32(const uint8_t* p) {
  return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24);
}

int run_corpus(const char* path) {
  FILE* f = std::fopen(path, "rb");
  if (f == nullptr) {
    std::perror(path);
    return 2;
  }
  std::vector<uint8_t> all;
  uint8_t chunk[65536];
  size_t n;
  while ((n = std::fread(chunk, 1, sizeof chunk, f)) > 0) all.insert(all.end(), chunk, chunk + n);
  std::fclose(f);
  size_t off = 0;
  while (off < all.size()) {
    if (all.size() - off < 8) return 3;
    uint8_t what = all[off];
    uint8_t protocol = all[off + 1];
    uint16_t port = uint16_t(all[off + 2] | (all[off + 3] << 8));
    uint32_t len = le32(&all[off + 4]);
    off += 8;
    if (all.size() - off < len) return 3;
    // An exact-size heap copy: ASan reports any read outside [0, len).
    std::unique_ptr<uint8_t[]> buf(new uint8_t[len == 0 ? 1 : len]);
    if (len > 0) std::memcpy(buf.get(), &all[off], len);
    const uint8_t* data = len == 0 ? buf.get() + 1 : buf.get();  // 0 bytes: past-the-end
    off += len;
    int status = 0;
    size_t count = 0;
    if (what == 0) {
      std::vector<pw::InetSocket> out;
      std::vector<int> pids;
      status = pw::walk_pcblist_n(data, len, protocol, port, out, pids);
      count = out.size();
      if (pids.size() != out.size()) return 4;
    } else if (what == 1) {
      pw::InetSocket inet;
      pw::UnixSocket unix_socket;
      int a = pw::parse_socket_fdinfo(data, len, inet);
      int b = pw::parse_socket_fdinfo(data, len, unix_socket);
      status = a;
      count = size_t(b < 0 ? 0 : b);
      if ((a == -EBADMSG) != (b == -EBADMSG) && len < 792) return 4;
    } else if (what == 2) {
      std::vector<int> fds;
      status = pw::parse_fd_list(data, len, fds);
      count = fds.size();
    } else if (what == 3) {
      std::string command;
      status = pw::parse_procargs2(data, len, command);
      count = 0;  // not compared (see the test)
    } else {
      return 3;
    }
    std::printf("%d %zu\n", status, count);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "--self-test") == 0) return self_test();
  if (argc == 2) return run_corpus(argv[1]);
  std::fprintf(stderr, "usage: darwin_parse_asan --self-test | CORPUS\n");
  return 2;
}

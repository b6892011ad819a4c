// Shared by the libFuzzer harnesses: CHECK turns a broken invariant into a crash that
// libFuzzer reports (and saves the input of), like a sanitizer finding.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#define CHECK(cond)                                                                \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      abort();                                                                     \
    }                                                                              \
  } while (0)

inline uint32_t fuzz_rd32(const uint8_t* p) {
  uint32_t v;
  memcpy(&v, p, sizeof v);
  return v;
}

// 2^53: every number the addon hands to JavaScript must stay below it.
constexpr uint64_t kMaxSafe = uint64_t(1) << 53;

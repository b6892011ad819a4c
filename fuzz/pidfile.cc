// parse_pidfile over PID-file contents (ours, foreign formats, garbage), and the round
// trip through format_pidfile.
#include "../native/parse/pidfile.h"

#include <cerrno>
#include <string>

#include "harness.h"

using namespace pw;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > kPidFileMaxBytes) size = kPidFileMaxBytes;  // what the reader reads
  PidFileRecord rec;
  int r = parse_pidfile(reinterpret_cast<const char*>(data), size, rec);
  CHECK(r == 0 || r == -EINVAL);
  CHECK((r == 0) == rec.has_pid);
  if (rec.empty) CHECK(!rec.has_pid && !rec.has_start_time && !rec.has_data);
  if (rec.has_pid) CHECK(rec.pid >= 1);
  if (rec.has_start_time) CHECK(rec.start_time < kMaxSafe);
  CHECK(rec.boot_id.size() <= 64 && rec.boot_id.find('\n') == std::string::npos);
  if (rec.has_data) {
    CHECK(!rec.data.empty() && rec.data.size() <= kPidFileMaxDataBytes);
    CHECK(rec.data.find('\n') == std::string::npos);
    CHECK(rec.data.find('\0') == std::string::npos);
  }
  if (rec.has_pid && rec.has_start_time && !rec.boot_id.empty()) {
    std::string again = format_pidfile(rec.pid, rec.start_time, rec.boot_id, rec.data);
    PidFileRecord back;
    CHECK(parse_pidfile(again.data(), again.size(), back) == 0);
    CHECK(back.pid == rec.pid && back.has_start_time && back.start_time == rec.start_time);
    CHECK(back.boot_id == rec.boot_id);
    CHECK(back.has_data == rec.has_data && back.data == rec.data);
  }
  return 0;
}

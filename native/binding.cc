// The only file that includes napi.h. It unpacks arguments that the TypeScript layer
// has already validated (re-guarding them, so that direct misuse throws instead of
// crashing), calls the plain C++ backends and turns -errno into node-style errors.
// Built with PORTWARDEN_TESTING (binding.gyp's portwarden_testing=1: the test suite's
// build, never a release or a prebuild) it also exports `testing` (the byte parsers) and
// honours PORTWARDEN_FAULT.
#include <arpa/inet.h>
#include <napi.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "parse/darwin.h"
#include "parse/netlink.h"
#include "parse/procfs.h"
#include "platform.h"
#include "posix/fd.h"
#include "posix/listen.h"
#include "posix/notify.h"
#include "posix/pidfile.h"
#include "process_control.h"

namespace pw {
namespace {

// Mirrors node's fs errors: err.code, err.errno (negative), err.syscall (the system call
// that failed, as the backend named it).
Napi::Error errno_error(Napi::Env env, int neg_errno, const char* syscall) {
  int e = neg_errno < 0 ? neg_errno : -neg_errno;
  // libuv has no name for EBADMSG (an unlocked PID file that names no pid).
  const char* code = e == -EBADMSG ? "EBADMSG" : uv_err_name(e);
  const char* text = e == -EBADMSG ? "bad message" : uv_strerror(e);
  bool named = syscall != nullptr && syscall[0] != '\0';
  std::string message = std::string(code) + ": " + text;
  if (named) message += std::string(", ") + syscall;
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  err.Set("errno", Napi::Number::New(env, e));
  if (named) err.Set("syscall", Napi::String::New(env, syscall));
  return err;
}

void throw_errno(Napi::Env env, int neg_errno, const char* syscall) {
  errno_error(env, neg_errno, syscall).ThrowAsJavaScriptException();
}

// ---- Argument guards ------------------------------------------------------------------

// A value as an argument error shows it: 0, -1.5, NaN, 'text', undefined, null, true, or
// its kind (an array of length 3, a Uint16Array, an object). Never runs JS (no getters,
// no toString): it is called on hostile values.
std::string show(const Napi::Value& v) {
  switch (v.Type()) {
    case napi_undefined:
      return "undefined";
    case napi_null:
      return "null";
    case napi_boolean:
      return v.As<Napi::Boolean>().Value() ? "true" : "false";
    case napi_number: {
      double d = v.As<Napi::Number>().DoubleValue();
      if (std::isnan(d)) return "NaN";
      if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
      if (d == 0 && std::signbit(d)) return "-0";
      char buf[32];
      for (int precision = 1; precision <= 17; precision++) {  // the shortest exact form
        snprintf(buf, sizeof buf, "%.*g", precision, d);
        if (strtod(buf, nullptr) == d) break;
      }
      return buf;
    }
    case napi_string: {
      std::string s = v.As<Napi::String>().Utf8Value();
      bool cut = s.size() > 40;
      if (cut) {
        size_t end = 40;
        while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xc0) == 0x80) end--;
        s.resize(end);
      }
      std::string out = "'";
      for (char c : s) {
        if (c == '\'' || c == '\\') {
          out += '\\';
          out += c;
        } else if (c == '\n') {
          out += "\\n";
        } else if (static_cast<unsigned char>(c) < 0x20) {
          char esc[8];
          snprintf(esc, sizeof esc, "\\x%02x", static_cast<unsigned char>(c));
          out += esc;
        } else {
          out += c;
        }
      }
      return out + (cut ? "'..." : "'");
    }
    case napi_symbol:
      return "a symbol";
    case napi_function:
      return "a function";
    case napi_bigint:
      return "a bigint";
    default:
      break;
  }
  if (v.IsArray()) return "an array of length " + std::to_string(v.As<Napi::Array>().Length());
  if (v.IsTypedArray()) {
    static const char* const kNames[] = {
        "an Int8Array",   "a Uint8Array",    "a Uint8ClampedArray", "an Int16Array",
        "a Uint16Array",  "an Int32Array",   "a Uint32Array",       "a Float32Array",
        "a Float64Array", "a BigInt64Array", "a BigUint64Array"};
    size_t type = size_t(v.As<Napi::TypedArray>().TypedArrayType());
    return type < sizeof kNames / sizeof kNames[0] ? kNames[type] : "a typed array";
  }
  if (v.IsArrayBuffer()) return "an ArrayBuffer";
  if (v.IsDataView()) return "a DataView";
  return "an object";
}

// Reads the arguments of one raw addon function. Each reader returns true with the value,
// or throws and returns false: a TypeError (code ERR_INVALID_ARG_TYPE) for a value of the
// wrong type, a RangeError (ERR_OUT_OF_RANGE) for one of the right type outside what the
// call accepts, with a message naming the function, the argument and the value. When an
// exception is already pending (a getter of an array element threw) it is left to
// propagate: throwing a second one would make napi_throw fail, which is fatal.
class Args {
 public:
  static constexpr size_t kUnbounded = SIZE_MAX;

  Args(const Napi::CallbackInfo& info, const char* function) : info_(info), function_(function) {}

  Napi::Env Env() const { return info_.Env(); }
  Napi::Value operator[](size_t i) const { return info_[i]; }

  // An integer in [min, max] (a Number: at most 2^53 - 1 in magnitude).
  bool integer(size_t i, const char* name, int64_t min, int64_t max, int64_t& out) {
    return integer_value(info_[i], name, min, max, out);
  }
  template <typename T>
  bool integer(size_t i, const char* name, int64_t min, int64_t max, T& out) {
    int64_t v = 0;
    if (!integer(i, name, min, max, v)) return false;
    out = T(v);
    return true;
  }

  bool boolean(size_t i, const char* name, bool& out) {
    Napi::Value v = info_[i];
    if (!v.IsBoolean()) return type_error(name, "a boolean", v);
    out = v.As<Napi::Boolean>().Value();
    return true;
  }

  // A boolean, or undefined for false.
  bool optional_boolean(size_t i, const char* name, bool& out) {
    out = false;
    return info_[i].IsUndefined() || boolean(i, name, out);
  }

  // Any string.
  bool string(size_t i, const char* name, std::string& out) {
    Napi::Value v = info_[i];
    if (!v.IsString()) return type_error(name, "a string", v);
    out = v.As<Napi::String>().Utf8Value();
    return true;
  }

  // A string of min_bytes..max_bytes UTF-8 bytes (max_bytes kUnbounded: any length) without
  // NUL, and without '\n' when `one_line`.
  bool string(size_t i, const char* name, size_t min_bytes, size_t max_bytes, std::string& out,
              bool one_line = false) {
    Napi::Value v = info_[i];
    std::string expected = max_bytes != kUnbounded
                               ? "a string of " + std::to_string(min_bytes) + " to " +
                                     std::to_string(max_bytes) + " bytes"
                           : min_bytes > 0 ? "a non-empty string"
                                           : "a string";
    expected += one_line ? " without NUL or newline" : " without NUL";
    if (!v.IsString()) return type_error(name, expected.c_str(), v);
    out = v.As<Napi::String>().Utf8Value();
    if (out.size() < min_bytes || out.size() > max_bytes || out.find('\0') != std::string::npos ||
        (one_line && out.find('\n') != std::string::npos)) {
      return range_error(name, expected.c_str(), v);
    }
    return true;
  }

  // A Uint8Array (a Buffer included). Other views (DataView, Float64Array) are refused: the
  // byte accessors would fail on some of them with a pending exception.
  bool bytes(size_t i, const char* name, Napi::Uint8Array& out) {
    Napi::Value v = info_[i];
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      return type_error(name, "a Uint8Array", v);
    }
    out = v.As<Napi::Uint8Array>();
    return true;
  }

  // An array of at most `max_length` integers, each in [min, max].
  template <typename T>
  bool integers(size_t i, const char* name, int64_t min, int64_t max, uint32_t max_length,
                std::vector<T>& out) {
    Napi::Array arr;
    if (!array(i, name, max_length, arr)) return false;
    uint32_t n = arr.Length();
    out.clear();
    out.reserve(n);
    for (uint32_t k = 0; k < n; k++) {
      Napi::Value v = arr.Get(k);
      if (v.IsEmpty()) return false;  // a getter threw: its exception is pending
      std::string element = std::string(name) + "[" + std::to_string(k) + "]";
      int64_t x = 0;
      if (!integer_value(v, element.c_str(), min, max, x)) return false;
      out.push_back(T(x));
    }
    return true;
  }

  // An array of at most `max_length` elements.
  bool array(size_t i, const char* name, uint32_t max_length, Napi::Array& out) {
    Napi::Value v = info_[i];
    std::string expected = "an array of at most " + std::to_string(max_length) + " elements";
    if (!v.IsArray()) return type_error(name, expected.c_str(), v);
    out = v.As<Napi::Array>();
    if (out.Length() > max_length) return range_error(name, expected.c_str(), v);
    return true;
  }

  bool type_error(const char* name, const char* expected, const Napi::Value& got) {
    return fail(false, name, expected, got);
  }
  bool range_error(const char* name, const char* expected, const Napi::Value& got) {
    return fail(true, name, expected, got);
  }

 private:
  bool integer_value(const Napi::Value& v, const char* name, int64_t min, int64_t max,
                     int64_t& out) {
    std::string expected =
        "an integer between " + std::to_string(min) + " and " + std::to_string(max);
    if (!v.IsNumber()) return type_error(name, expected.c_str(), v);
    double d = v.As<Napi::Number>().DoubleValue();
    if (!(d >= double(min) && d <= double(max)) || std::trunc(d) != d) {
      return range_error(name, expected.c_str(), v);
    }
    out = int64_t(d);
    return true;
  }

  bool fail(bool range, const char* name, const char* expected, const Napi::Value& got) {
    Napi::Env env = info_.Env();
    if (env.IsExceptionPending()) return false;
    std::string message =
        std::string(function_) + ": expected " + name + " to be " + expected + ", got " + show(got);
    Napi::Error err = range ? Napi::Error(Napi::RangeError::New(env, message))
                            : Napi::Error(Napi::TypeError::New(env, message));
    err.Set("code", Napi::String::New(env, range ? "ERR_OUT_OF_RANGE" : "ERR_INVALID_ARG_TYPE"));
    err.ThrowAsJavaScriptException();
    return false;
  }

  const Napi::CallbackInfo& info_;
  const char* function_;
};

constexpr int64_t kMaxSafeInteger = 9007199254740991;  // 2^53 - 1
constexpr int64_t kMaxPid = 2147483647;
constexpr int64_t kMaxFd = 2147483647;
constexpr int64_t kMaxTimeoutMs = 2147483647;
constexpr uint32_t kMaxScanList = 1u << 20;  // inodes, candidates, uids of an owner scan
constexpr uint32_t kMaxWaitTargets = 4096;
constexpr size_t kMaxUnixPath = 107;  // sun_path without its NUL

// ---- Results to JS --------------------------------------------------------------------

std::string format_address(uint8_t family, const uint8_t* addr) {
  char buf[INET6_ADDRSTRLEN];
  static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (family == 4) return inet_ntop(AF_INET, addr, buf, sizeof buf) ? buf : "";
  if (memcmp(addr, kMapped, 12) == 0) {  // v4-mapped: report the IPv4 address
    return inet_ntop(AF_INET, addr + 12, buf, sizeof buf) ? buf : "";
  }
  return inet_ntop(AF_INET6, addr, buf, sizeof buf) ? buf : "";
}

Napi::Object inet_to_js(Napi::Env env, const InetSocket& s) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("protocol", Napi::String::New(env, s.protocol == 6 ? "tcp" : "udp"));
  o.Set("family", Napi::Number::New(env, s.family));
  o.Set("state", Napi::Number::New(env, s.state));
  o.Set("localAddress", Napi::String::New(env, format_address(s.family, s.local)));
  o.Set("localPort", Napi::Number::New(env, s.local_port));
  o.Set("remoteAddress", Napi::String::New(env, format_address(s.family, s.remote)));
  o.Set("remotePort", Napi::Number::New(env, s.remote_port));
  if (s.v6only >= 0) o.Set("v6only", Napi::Boolean::New(env, s.v6only == 1));
  o.Set("uid", Napi::Number::New(env, s.uid));
  o.Set("inode", Napi::Number::New(env, double(s.inode)));
  return o;
}

Napi::Array inet_list_to_js(Napi::Env env, const std::vector<InetSocket>& list) {
  Napi::Array arr = Napi::Array::New(env, list.size());
  for (size_t i = 0; i < list.size(); i++) arr.Set(uint32_t(i), inet_to_js(env, list[i]));
  return arr;
}

Napi::Object unix_to_js(Napi::Env env, const UnixSocket& s) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("type", Napi::Number::New(env, s.type));
  o.Set("state", Napi::Number::New(env, s.state));
  o.Set("inode", Napi::Number::New(env, double(s.inode)));
  o.Set("name", Napi::String::New(env, s.name));
  if (s.has_vfs) {
    o.Set("vfsIno", Napi::Number::New(env, s.vfs_ino));
    o.Set("vfsDev", Napi::Number::New(env, s.vfs_dev));
  }
  return o;
}

Napi::Array unix_list_to_js(Napi::Env env, const std::vector<UnixSocket>& list) {
  Napi::Array arr = Napi::Array::New(env, list.size());
  for (size_t i = 0; i < list.size(); i++) arr.Set(uint32_t(i), unix_to_js(env, list[i]));
  return arr;
}

Napi::Array ints_to_js(Napi::Env env, const std::vector<int>& list) {
  Napi::Array arr = Napi::Array::New(env, list.size());
  for (size_t i = 0; i < list.size(); i++) arr.Set(uint32_t(i), Napi::Number::New(env, list[i]));
  return arr;
}

Napi::Object owners_to_js(Napi::Env env, const OwnerScan& scan) {
  Napi::Object o = Napi::Object::New(env);
  Napi::Array holders = Napi::Array::New(env, scan.holders.size());
  for (size_t i = 0; i < scan.holders.size(); i++) {
    holders.Set(uint32_t(i), ints_to_js(env, scan.holders[i]));
  }
  o.Set("holders", holders);
  o.Set("denied", Napi::Number::New(env, scan.denied));
  o.Set("scanned", Napi::Number::New(env, scan.scanned));
  return o;
}

// Indices of the targets that are gone.
Napi::Array gone_to_js(Napi::Env env, const std::vector<uint8_t>& gone) {
  Napi::Array arr = Napi::Array::New(env);
  for (size_t i = 0; i < gone.size(); i++)
    if (gone[i]) arr.Set(arr.Length(), Napi::Number::New(env, double(i)));
  return arr;
}

// {empty, pid?, startTime?, bootId?, data?}: absent fields did not parse.
Napi::Object pidfile_record_to_js(Napi::Env env, const PidFileRecord& rec) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("empty", Napi::Boolean::New(env, rec.empty));
  if (rec.has_pid) o.Set("pid", Napi::Number::New(env, rec.pid));
  if (rec.has_start_time) o.Set("startTime", Napi::Number::New(env, double(rec.start_time)));
  if (!rec.boot_id.empty()) o.Set("bootId", Napi::String::New(env, rec.boot_id));
  if (rec.has_data) o.Set("data", Napi::String::New(env, rec.data));
  return o;
}

Napi::Object socket_description_to_js(Napi::Env env, const SocketDescription& d) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("type", Napi::Number::New(env, d.type));
  o.Set("domain", Napi::Number::New(env, d.domain));
  if (d.protocol >= 0) o.Set("protocol", Napi::Number::New(env, d.protocol));
  if (d.accepting >= 0) o.Set("listening", Napi::Boolean::New(env, d.accepting == 1));
  if (d.v6only >= 0) o.Set("v6only", Napi::Boolean::New(env, d.v6only == 1));
  o.Set("family", Napi::Number::New(env, d.family));
  o.Set("address", Napi::String::New(env, d.address));
  if (d.port >= 0) o.Set("port", Napi::Number::New(env, d.port));
  return o;
}

Napi::Array datagrams_to_js(Napi::Env env, const std::vector<Datagram>& datagrams) {
  Napi::Array arr = Napi::Array::New(env, datagrams.size());
  for (size_t i = 0; i < datagrams.size(); i++) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("message", Napi::String::New(env, datagrams[i].data));
    o.Set("pid", Napi::Number::New(env, datagrams[i].pid));
    o.Set("truncated", Napi::Boolean::New(env, datagrams[i].truncated));
    arr.Set(uint32_t(i), o);
  }
  return arr;
}

// ---- Calls on the threadpool ----------------------------------------------------------

// A call that runs on the threadpool and settles a promise: Execute() stores the
// backend's result and the failing syscall; Resolve() builds the value on the JS thread.
class PromiseWorker : public Napi::AsyncWorker {
 public:
  PromiseWorker(Napi::Env env, const char* name) : Napi::AsyncWorker(env, name), deferred_(env) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    Settled();
    if (result_ < 0) {
      deferred_.Reject(errno_error(env, result_, failed_).Value());
    } else {
      deferred_.Resolve(Resolve(env));
    }
  }

 protected:
  virtual Napi::Value Resolve(Napi::Env env) = 0;
  virtual void Settled() {}
  int result_ = 0;
  const char* failed_ = nullptr;

 private:
  Napi::Promise::Deferred deferred_;
};

struct OwnerRequest {
  std::vector<uint64_t> inodes;
  std::vector<int> candidates;
  std::vector<uint32_t> uids;
  bool stop_when_resolved = false;
};

// (inodes, candidates, uids, stop) of findOwners and findOwnersAsync.
bool get_owner_request(Args& args, OwnerRequest& req) {
  return args.integers(0, "inodes", 0, kMaxSafeInteger, kMaxScanList, req.inodes) &&
         args.integers(1, "candidates", 0, kMaxPid, kMaxScanList, req.candidates) &&
         args.integers(2, "uids", 0, 4294967295, kMaxScanList, req.uids) &&
         args.boolean(3, "stopWhenResolved", req.stop_when_resolved);
}

class FindOwnersWorker : public PromiseWorker {
 public:
  FindOwnersWorker(Napi::Env env, OwnerRequest req)
      : PromiseWorker(env, "portwarden:findOwners"), req_(std::move(req)) {}
  void Execute() override {
    result_ = find_owners(req_.inodes, req_.candidates, req_.uids, req_.stop_when_resolved, scan_,
                          failed_);
  }
  Napi::Value Resolve(Napi::Env env) override { return owners_to_js(env, scan_); }

 private:
  OwnerRequest req_;
  OwnerScan scan_;
};

// (pids, startTimes) of waitExit and waitExitAsync: at most 4096 positive pids, and a start
// time for each, -1 (no identity check) or a non-negative integer.
bool get_process_refs(Args& args, std::vector<ProcessRef>& out) {
  std::vector<int> pids;
  std::vector<int64_t> starts;
  if (!args.integers(0, "pids", 1, kMaxPid, kMaxWaitTargets, pids) ||
      !args.integers(1, "startTimes", -1, kMaxSafeInteger, kMaxWaitTargets, starts)) {
    return false;
  }
  if (starts.size() != pids.size()) {
    std::string expected = "an array as long as pids (" + std::to_string(pids.size()) + ")";
    return args.range_error("startTimes", expected.c_str(), args[1]);
  }
  out.clear();
  for (size_t k = 0; k < pids.size(); k++) out.push_back({pids[k], starts[k]});
  return true;
}

class WaitExitWorker : public PromiseWorker {
 public:
  WaitExitWorker(Napi::Env env, std::vector<ProcessRef> targets, int timeout_ms,
                 std::shared_ptr<WaitCancel> cancel)
      : PromiseWorker(env, "portwarden:waitExit"),
        targets_(std::move(targets)),
        timeout_ms_(timeout_ms),
        cancel_(std::move(cancel)) {}
  void Execute() override {
    result_ = wait_any_exit(targets_, timeout_ms_, *cancel_, gone_, failed_);
  }
  Napi::Value Resolve(Napi::Env env) override { return gone_to_js(env, gone_); }

 private:
  std::vector<ProcessRef> targets_;
  int timeout_ms_;
  std::shared_ptr<WaitCancel> cancel_;
  std::vector<uint8_t> gone_;
};

// {promise, cancel}: the promise of a worker that waits on the threadpool, and a function
// that ends the wait early (the promise then resolves as on a timeout).
Napi::Object cancellable(Napi::Env env, Napi::Promise promise, std::shared_ptr<WaitCancel> cancel) {
  Napi::Object result = Napi::Object::New(env);
  result.Set("promise", promise);
  result.Set("cancel", Napi::Function::New(
                           env,
                           [cancel](const Napi::CallbackInfo& info) {
                             wait_cancel_fire(*cancel);
                             return info.Env().Undefined();
                           },
                           "cancel"));
  return result;
}

// serve / listenTarget: a notify socket of this environment. The descriptor stays open
// while a receive runs on it (the worker holds a reference), so a close() during a
// receive cannot let the fd number be reused under the waiting thread.
struct NotifyReceiver {
  UniqueFd fd;
  std::shared_ptr<WaitCancel> pending;  // the cancel of the receive in flight, if any
};

class NotifyReceiveWorker : public PromiseWorker {
 public:
  NotifyReceiveWorker(Napi::Env env, std::shared_ptr<NotifyReceiver> receiver, int timeout_ms,
                      std::shared_ptr<WaitCancel> cancel)
      : PromiseWorker(env, "portwarden:notifyReceive"),
        receiver_(std::move(receiver)),
        timeout_ms_(timeout_ms),
        cancel_(std::move(cancel)) {}
  void Execute() override {
    result_ = dgram_receive(receiver_->fd.get(), timeout_ms_, *cancel_, datagrams_, failed_);
  }
  void Settled() override { receiver_->pending.reset(); }
  Napi::Value Resolve(Napi::Env env) override { return datagrams_to_js(env, datagrams_); }

 private:
  std::shared_ptr<NotifyReceiver> receiver_;
  int timeout_ms_;
  std::shared_ptr<WaitCancel> cancel_;
  std::vector<Datagram> datagrams_;
};

// The listeners and notify sockets one environment made; closed when it ends (a worker
// thread exiting), and pending receives woken so that no threadpool thread waits on.
struct ServeState {
  std::map<int, UniqueFd> listeners;
  std::map<int, std::shared_ptr<NotifyReceiver>> receivers;
  ~ServeState() {
    for (auto& [fd, receiver] : receivers)
      if (receiver->pending) wait_cancel_fire(*receiver->pending);
  }
};

}  // namespace

class Addon : public Napi::Addon<Addon> {
 public:
  Addon([[maybe_unused]] Napi::Env env, Napi::Object exports) {
    DefineAddon(exports, {
                             InstanceMethod("inetDump", &Addon::InetDump),
                             InstanceMethod("unixDump", &Addon::UnixDump),
                             InstanceMethod("findOwners", &Addon::FindOwners),
                             InstanceMethod("findOwnersAsync", &Addon::FindOwnersAsync),
                             InstanceMethod("processInfo", &Addon::ProcessInfoJs),
                             InstanceMethod("bootId", &Addon::BootId),
                             InstanceMethod("pidfileClaim", &Addon::PidfileClaim),
                             InstanceMethod("pidfileRelease", &Addon::PidfileRelease),
                             InstanceMethod("pidfileHandOver", &Addon::PidfileHandOver),
                             InstanceMethod("pidfileRead", &Addon::PidfileRead),
                             InstanceMethod("notify", &Addon::Notify),
                             InstanceMethod("waitExit", &Addon::WaitExit),
                             InstanceMethod("waitExitAsync", &Addon::WaitExitAsync),
                             InstanceMethod("signalProcess", &Addon::SignalProcess),
                             // serve and listenTarget (native/posix/listen.h)
                             InstanceMethod("socketInfo", &Addon::SocketInfo),
                             InstanceMethod("setCloexec", &Addon::SetCloexec),
                             InstanceMethod("listenTcp", &Addon::ListenTcp),
                             InstanceMethod("closeListener", &Addon::CloseListener),
                             InstanceMethod("notifySocketOpen", &Addon::NotifySocketOpen),
                             InstanceMethod("notifySocketReceive", &Addon::NotifySocketReceive),
                             InstanceMethod("notifySocketClose", &Addon::NotifySocketClose),
                             InstanceMethod("launchdSockets", &Addon::LaunchdSockets),
                         });
#ifdef PORTWARDEN_TESTING
    // Fault injection for test/faults.test.ts: PORTWARDEN_FAULT=sock_diag_enoent answers
    // every sock_diag dump with ENOENT, as a kernel without the diag modules does.
    const char* fault = getenv("PORTWARDEN_FAULT");
    no_sock_diag_ = fault != nullptr && strcmp(fault, "sock_diag_enoent") == 0;
    DefineProperties(exports, {InstanceValue("testing", TestingExports(env))});
#endif
  }

 private:
  std::string boot_id_;  // per environment, read once
  ProbeCache cache_;     // the netlink socket reused by synchronous probes
  // PID files this environment owns, by fd: closed when the environment ends (a worker
  // thread exiting, the process exiting), so that a lock never outlives its owner's JS world
  // unless a child process shares it. Teardown never unlinks: a file handed over to a child
  // (or inherited by one) is still locked by it, and unlinking would let a second claimer
  // create a new file while that child runs. A file left unlocked names this process: stale
  // once it exits, and taken over by a later claim of this process.
  struct HeldPidFile {
    UniqueFd fd;
    std::string path;
    uint64_t dev;
    uint64_t ino;
  };
  std::map<int, HeldPidFile> pidfiles_;
  PidFileSelf self_;  // our pid, start time and boot id (read once per pid)
  ServeState serve_;  // listeners and notify sockets of serve / listenTarget
#ifdef PORTWARDEN_TESTING
  bool no_sock_diag_ = false;  // PORTWARDEN_FAULT=sock_diag_enoent
#endif

  // Whether sock_diag dumps fail with ENOENT, as the kernel answers without the diag
  // modules (the error then looks like the kernel's: "recv"). Never in a release build.
  bool sock_diag_fault() const {
#ifdef PORTWARDEN_TESTING
    return no_sock_diag_;
#else
    return false;
#endif
  }

  // inetDump(port, protocols, tcpStates) -> InetSocket[]
  Napi::Value InetDump(const Napi::CallbackInfo& info) {
    Args args(info, "inetDump");
    Napi::Env env = info.Env();
    uint16_t port = 0;
    uint32_t protocols = 0, states = 0;
    if (!args.integer(0, "port", 1, 65535, port) ||
        !args.integer(1, "protocols", 0, kProtoTcp | kProtoUdp, protocols) ||
        !args.integer(2, "tcpStates", 0, 0xffffffff, states)) {
      return env.Undefined();
    }
    std::vector<InetSocket> list;
    const char* failed = "recv";
    int r = sock_diag_fault() ? -ENOENT : inet_dump(&cache_, port, protocols, states, list, failed);
    if (r < 0) {
      throw_errno(env, r, failed);
      return env.Undefined();
    }
    return inet_list_to_js(env, list);
  }

  // unixDump(path) -> {exists, isSocket, sockets}; a leading '@' names an abstract socket.
  Napi::Value UnixDump(const Napi::CallbackInfo& info) {
    Args args(info, "unixDump");
    Napi::Env env = info.Env();
    std::string path;
    if (!args.string(0, "path", 1, kMaxUnixPath, path)) return env.Undefined();
    UnixSocketFile file;
    std::vector<UnixSocket> list;
    bool abstract = path[0] == '@';
    const char* failed = "recv";
    int r = 0;
    if (abstract) {
      file.exists = file.is_socket = true;
    } else {
      r = unix_socket_file(path, file, failed);
    }
    if (r == 0 && file.is_socket) {
      r = sock_diag_fault()
              ? -ENOENT
              : unix_dump(!abstract, file, abstract ? path.substr(1) : std::string(), list, failed);
    }
    if (r < 0) {
      throw_errno(env, r, failed);
      return env.Undefined();
    }
    Napi::Object result = Napi::Object::New(env);
    result.Set("exists", Napi::Boolean::New(env, file.exists));
    result.Set("isSocket", Napi::Boolean::New(env, file.is_socket));
    result.Set("sockets", unix_list_to_js(env, list));
    return result;
  }

  Napi::Value FindOwners(const Napi::CallbackInfo& info) {
    Args args(info, "findOwners");
    Napi::Env env = info.Env();
    OwnerRequest req;
    if (!get_owner_request(args, req)) return env.Undefined();
    OwnerScan scan;
    const char* failed = nullptr;
    int r = find_owners(req.inodes, req.candidates, req.uids, req.stop_when_resolved, scan, failed);
    if (r < 0) {
      throw_errno(env, r, failed);
      return env.Undefined();
    }
    return owners_to_js(env, scan);
  }

  Napi::Value FindOwnersAsync(const Napi::CallbackInfo& info) {
    Args args(info, "findOwnersAsync");
    Napi::Env env = info.Env();
    OwnerRequest req;
    if (!get_owner_request(args, req)) return env.Undefined();
    auto* worker = new FindOwnersWorker(env, std::move(req));
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  }

  // processInfo(pid) -> {pid, ppid, uid, name, command, startTime, state} | undefined
  Napi::Value ProcessInfoJs(const Napi::CallbackInfo& info) {
    Args args(info, "processInfo");
    Napi::Env env = info.Env();
    int pid = 0;
    if (!args.integer(0, "pid", 1, kMaxPid, pid)) return env.Undefined();
    ProcessInfo p;
    const char* failed = nullptr;
    int r = process_info(pid, p, failed);
    if (r == -ESRCH) return env.Undefined();
    if (r < 0) {
      throw_errno(env, r, failed);
      return env.Undefined();
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("pid", Napi::Number::New(env, p.pid));
    o.Set("ppid", Napi::Number::New(env, p.ppid));
    o.Set("uid", Napi::Number::New(env, p.uid));
    o.Set("name", Napi::String::New(env, p.name));
    o.Set("command", Napi::String::New(env, p.command));
    o.Set("startTime", Napi::Number::New(env, double(p.start_time)));
    o.Set("state", Napi::String::New(env, std::string(1, p.state)));
    return o;
  }

  // notify(socketPath, message) -> undefined; one datagram ('@' = abstract namespace).
  Napi::Value Notify(const Napi::CallbackInfo& info) {
    Args args(info, "notify");
    Napi::Env env = info.Env();
    std::string path, message;
    if (!args.string(0, "socketPath", path) || !args.string(1, "message", message)) {
      return env.Undefined();
    }
    const char* failed = nullptr;
    int r = notify_send(path, message, failed);
    if (r < 0) throw_errno(env, r, failed);
    return env.Undefined();
  }

  // Our pid, start time and boot id for PID-file records (read again after a fork).
  int self_identity(const char*& failed) {
    int pid = int(getpid());
    if (self_.pid == pid) return 0;
    if (boot_id_.empty()) {
      int r = boot_id(boot_id_, failed);
      if (r < 0) return r;
    }
    ProcessInfo p;
    int r = process_info(pid, p, failed);
    if (r < 0) return r;
    self_.pid = pid;
    self_.start_time = p.start_time;
    self_.boot_id = boot_id_;
    return 0;
  }

  // pidfileClaim(path, data, force?) -> {fd, created, tookOver, pid, startTime, bootId,
  //   previous?} | {held: record, locked}. `data` is '' or one line of JSON (no '\n').
  Napi::Value PidfileClaim(const Napi::CallbackInfo& info) {
    Args args(info, "pidfileClaim");
    Napi::Env env = info.Env();
    std::string path, data;
    bool force = false;
    if (!args.string(0, "path", 1, Args::kUnbounded, path) ||
        !args.string(1, "data", 0, kPidFileMaxDataBytes, data, true) ||
        !args.optional_boolean(2, "force", force)) {
      return env.Undefined();
    }
    const char* failed = nullptr;
    int r = self_identity(failed);
    if (r < 0) {
      throw_errno(env, r, failed);
      return env.Undefined();
    }
    PidFileClaim claim;
    r = pidfile_claim(path.c_str(), self_, data, force, claim);
    if (r < 0) {
      throw_errno(env, r, claim.syscall);
      return env.Undefined();
    }
    Napi::Object o = Napi::Object::New(env);
    if (claim.held) {
      o.Set("held", pidfile_record_to_js(env, claim.holder));
      o.Set("locked", Napi::Boolean::New(env, claim.locked));
      return o;
    }
    int fd = claim.fd.get();
    pidfiles_[fd] = HeldPidFile{std::move(claim.fd), path, claim.dev, claim.ino};
    o.Set("fd", Napi::Number::New(env, fd));
    o.Set("created", Napi::Boolean::New(env, claim.created));
    o.Set("tookOver", Napi::Boolean::New(env, claim.took_over));
    o.Set("pid", Napi::Number::New(env, self_.pid));
    o.Set("startTime", Napi::Number::New(env, double(self_.start_time)));
    o.Set("bootId", Napi::String::New(env, self_.boot_id));
    if (claim.took_over) o.Set("previous", pidfile_record_to_js(env, claim.previous));
    return o;
  }

  // pidfileRelease(fd) -> undefined. Unlinks the file if the path still names it, while
  // still locked, then closes fd. Only fds returned by pidfileClaim are accepted.
  Napi::Value PidfileRelease(const Napi::CallbackInfo& info) {
    Args args(info, "pidfileRelease");
    Napi::Env env = info.Env();
    int fd = 0;
    if (!args.integer(0, "fd", 0, kMaxFd, fd)) return env.Undefined();
    auto it = pidfiles_.find(fd);
    if (it == pidfiles_.end()) {
      throw_errno(env, -EBADF, "close");
      return env.Undefined();
    }
    HeldPidFile held = std::move(it->second);
    pidfiles_.erase(it);
    const char* failed = nullptr;
    int r = pidfile_release(std::move(held.fd), held.path.c_str(), held.dev, held.ino, failed);
    if (r < 0) throw_errno(env, r, failed);
    return env.Undefined();
  }

  // pidfileHandOver(fd, pid, data) -> {pid, startTime, bootId}. Rewrites a file we hold
  // to name `pid` (a child that inherited the locked descriptor). ESRCH if it is gone.
  Napi::Value PidfileHandOver(const Napi::CallbackInfo& info) {
    Args args(info, "pidfileHandOver");
    Napi::Env env = info.Env();
    int fd = 0, pid = 0;
    std::string data;
    if (!args.integer(0, "fd", 0, kMaxFd, fd) || !args.integer(1, "pid", 1, kMaxPid, pid) ||
        !args.string(2, "data", 0, kPidFileMaxDataBytes, data, true)) {
      return env.Undefined();
    }
    if (pidfiles_.find(fd) == pidfiles_.end()) {
      throw_errno(env, -EBADF, "pwrite");
      return env.Undefined();
    }
    const char* failed = nullptr;
    int r = self_identity(failed);
    ProcessInfo p;
    if (r == 0) r = process_info(pid, p, failed);
    PidFileSelf who{pid, p.start_time, self_.boot_id};
    if (r == 0) r = pidfile_rewrite(fd, who, data, failed);
    if (r < 0) {
      throw_errno(env, r, failed);
      return env.Undefined();
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("pid", Napi::Number::New(env, who.pid));
    o.Set("startTime", Napi::Number::New(env, double(who.start_time)));
    o.Set("bootId", Napi::String::New(env, who.boot_id));
    return o;
  }

  // pidfileRead(path) -> {locked, record} | undefined (no such file).
  Napi::Value PidfileRead(const Napi::CallbackInfo& info) {
    Args args(info, "pidfileRead");
    Napi::Env env = info.Env();
    std::string path;
    if (!args.string(0, "path", 1, Args::kUnbounded, path)) return env.Undefined();
    PidFileStatus status;
    int r = pidfile_read(path.c_str(), status);
    if (r < 0) {
      throw_errno(env, r, status.syscall);
      return env.Undefined();
    }
    if (!status.exists) return env.Undefined();
    Napi::Object o = Napi::Object::New(env);
    o.Set("locked", Napi::Boolean::New(env, status.locked));
    o.Set("record", pidfile_record_to_js(env, status.record));
    return o;
  }

  Napi::Value BootId(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (boot_id_.empty()) {
      const char* failed = nullptr;
      int r = boot_id(boot_id_, failed);
      if (r < 0) {
        throw_errno(env, r, failed);
        return env.Undefined();
      }
    }
    return Napi::String::New(env, boot_id_);
  }

  // waitExit(pids, startTimes, timeoutMs) -> indices of the targets that are gone ([] on
  // timeout). Blocks the calling thread; throws ENOSYS where pidfds are unavailable.
  Napi::Value WaitExit(const Napi::CallbackInfo& info) {
    Args args(info, "waitExit");
    Napi::Env env = info.Env();
    std::vector<ProcessRef> refs;
    int timeout = 0;
    if (!get_process_refs(args, refs) || !args.integer(2, "timeoutMs", 0, kMaxTimeoutMs, timeout)) {
      return env.Undefined();
    }
    std::vector<uint8_t> gone;
    const char* failed = nullptr;
    int r = wait_any_exit(refs, timeout, WaitCancel(), gone, failed);
    if (r < 0) {
      throw_errno(env, r, failed);
      return env.Undefined();
    }
    return gone_to_js(env, gone);
  }

  // waitExitAsync(pids, startTimes, timeoutMs) -> {promise, cancel}: the wait runs on the
  // threadpool; cancel() ends it early (the promise then resolves with []).
  Napi::Value WaitExitAsync(const Napi::CallbackInfo& info) {
    Args args(info, "waitExitAsync");
    Napi::Env env = info.Env();
    std::vector<ProcessRef> refs;
    int timeout = 0;
    if (!get_process_refs(args, refs) || !args.integer(2, "timeoutMs", 0, kMaxTimeoutMs, timeout)) {
      return env.Undefined();
    }
    auto cancel = std::make_shared<WaitCancel>();
    const char* failed = nullptr;
    int r = wait_cancel_open(*cancel, failed);
    if (r < 0) {
      throw_errno(env, r, failed);
      return env.Undefined();
    }
    auto* worker = new WaitExitWorker(env, std::move(refs), timeout, cancel);
    Napi::Object result = cancellable(env, worker->Promise(), cancel);
    worker->Queue();
    return result;
  }

  // signalProcess(pid, startTime, signo, usePidfd) -> 'sent' | 'gone' | 'mismatch'.
  // startTime -1 skips the identity check; other failures (EPERM) throw.
  Napi::Value SignalProcess(const Napi::CallbackInfo& info) {
    Args args(info, "signalProcess");
    Napi::Env env = info.Env();
    int pid = 0, signo = 0;
    int64_t start = 0;
    bool use_pidfd = false;
    if (!args.integer(0, "pid", 1, kMaxPid, pid) ||
        !args.integer(1, "startTime", -1, kMaxSafeInteger, start) ||
        !args.integer(2, "signo", 0, 64, signo) || !args.boolean(3, "usePidfd", use_pidfd)) {
      return env.Undefined();
    }
    const char* failed = nullptr;
    int r = signal_process({pid, start}, signo, use_pidfd, failed);
    if (r == -ESRCH) return Napi::String::New(env, "gone");
    if (r == kIdentityMismatch) return Napi::String::New(env, "mismatch");
    if (r < 0) {
      throw_errno(env, r, failed);
      return env.Undefined();
    }
    return Napi::String::New(env, "sent");
  }

  // socketInfo(fd) -> {type, domain, protocol?, listening?, v6only?, family, address, port?}.
  // Throws EBADF (no such descriptor), ENOTSOCK (a pipe, a file) with the failing syscall.
  Napi::Value SocketInfo(const Napi::CallbackInfo& info) {
    Args args(info, "socketInfo");
    Napi::Env env = info.Env();
    int fd = 0;
    if (!args.integer(0, "fd", 0, kMaxFd, fd)) return env.Undefined();
    SocketDescription d;
    int r = describe_socket(fd, d);
    if (r < 0) {
      throw_errno(env, r, d.syscall);
      return env.Undefined();
    }
    return socket_description_to_js(env, d);
  }

  // setCloexec(fd, on) -> undefined
  Napi::Value SetCloexec(const Napi::CallbackInfo& info) {
    Args args(info, "setCloexec");
    Napi::Env env = info.Env();
    int fd = 0;
    bool on = false;
    if (!args.integer(0, "fd", 0, kMaxFd, fd) || !args.boolean(1, "on", on)) {
      return env.Undefined();
    }
    int r = set_cloexec(fd, on);
    if (r < 0) throw_errno(env, r, "fcntl");
    return env.Undefined();
  }

  // listenTcp(host, port, backlog) -> fd: bound, listening, SO_REUSEADDR, close-on-exec.
  Napi::Value ListenTcp(const Napi::CallbackInfo& info) {
    Args args(info, "listenTcp");
    Napi::Env env = info.Env();
    std::string host;
    int port = 0, backlog = 0;
    if (!args.string(0, "host", host) || !args.integer(1, "port", 0, 65535, port) ||
        !args.integer(2, "backlog", 0, 2147483647, backlog)) {
      return env.Undefined();
    }
    UniqueFd fd;
    const char* failed = nullptr;
    int r = listen_tcp(host, port, backlog, fd, failed);
    if (r < 0) {
      throw_errno(env, r, failed);
      return env.Undefined();
    }
    int n = fd.get();
    serve_.listeners[n] = std::move(fd);
    return Napi::Number::New(env, n);
  }

  // closeListener(fd) -> undefined. Only descriptors returned by listenTcp (else EBADF).
  Napi::Value CloseListener(const Napi::CallbackInfo& info) {
    Args args(info, "closeListener");
    Napi::Env env = info.Env();
    int fd = 0;
    if (!args.integer(0, "fd", 0, kMaxFd, fd)) return env.Undefined();
    auto it = serve_.listeners.find(fd);
    if (it == serve_.listeners.end()) {
      throw_errno(env, -EBADF, "close");
      return env.Undefined();
    }
    UniqueFd listener = std::move(it->second);
    serve_.listeners.erase(it);
    int r = listener.close();
    if (r < 0) throw_errno(env, r, "close");
    return env.Undefined();
  }

  // notifySocketOpen(path) -> fd: a unix datagram receiver ('@name' = abstract namespace)
  // that learns each sender's pid (Linux).
  Napi::Value NotifySocketOpen(const Napi::CallbackInfo& info) {
    Args args(info, "notifySocketOpen");
    Napi::Env env = info.Env();
    std::string path;
    if (!args.string(0, "path", 1, kMaxUnixPath, path)) return env.Undefined();
    auto receiver = std::make_shared<NotifyReceiver>();
    const char* failed = nullptr;
    int r = dgram_open(path, receiver->fd, failed);
    if (r < 0) {
      throw_errno(env, r, failed);
      return env.Undefined();
    }
    int fd = receiver->fd.get();
    serve_.receivers[fd] = std::move(receiver);
    return Napi::Number::New(env, fd);
  }

  // notifySocketReceive(fd, timeoutMs) -> {promise, cancel}: the promise resolves with the
  // datagrams queued once the socket is readable ({message, pid, truncated}[]; [] on timeout
  // or cancel). One receive per socket at a time (EBUSY).
  Napi::Value NotifySocketReceive(const Napi::CallbackInfo& info) {
    Args args(info, "notifySocketReceive");
    Napi::Env env = info.Env();
    int fd = 0, timeout = 0;
    if (!args.integer(0, "fd", 0, kMaxFd, fd) ||
        !args.integer(1, "timeoutMs", 0, kMaxTimeoutMs, timeout)) {
      return env.Undefined();
    }
    auto it = serve_.receivers.find(fd);
    if (it == serve_.receivers.end()) {
      throw_errno(env, -EBADF, "recvmsg");
      return env.Undefined();
    }
    if (it->second->pending) {
      throw_errno(env, -EBUSY, "recvmsg");
      return env.Undefined();
    }
    auto cancel = std::make_shared<WaitCancel>();
    const char* failed = nullptr;
    int r = wait_cancel_open(*cancel, failed);
    if (r < 0) {
      throw_errno(env, r, failed);
      return env.Undefined();
    }
    it->second->pending = cancel;
    auto* worker = new NotifyReceiveWorker(env, it->second, timeout, cancel);
    Napi::Object result = cancellable(env, worker->Promise(), cancel);
    worker->Queue();
    return result;
  }

  // notifySocketClose(fd) -> undefined. Ends a pending receive (it resolves []); the
  // descriptor is closed once no receive uses it. EBADF for other descriptors.
  Napi::Value NotifySocketClose(const Napi::CallbackInfo& info) {
    Args args(info, "notifySocketClose");
    Napi::Env env = info.Env();
    int fd = 0;
    if (!args.integer(0, "fd", 0, kMaxFd, fd)) return env.Undefined();
    auto it = serve_.receivers.find(fd);
    if (it == serve_.receivers.end()) {
      throw_errno(env, -EBADF, "close");
      return env.Undefined();
    }
    if (it->second->pending) wait_cancel_fire(*it->second->pending);
    serve_.receivers.erase(it);
    return env.Undefined();
  }

  // launchdSockets(name) -> fds of the launchd `Sockets` entry `name` (macOS; ENOTSUP elsewhere).
  Napi::Value LaunchdSockets(const Napi::CallbackInfo& info) {
    Args args(info, "launchdSockets");
    Napi::Env env = info.Env();
    std::string name;
    if (!args.string(0, "name", name)) return env.Undefined();
    std::vector<int> fds;
    const char* failed = nullptr;
    int r = launchd_sockets(name, fds, failed);
    if (r < 0) {
      throw_errno(env, r, failed);
      return env.Undefined();
    }
    return ints_to_js(env, fds);
  }

#ifdef PORTWARDEN_TESTING
  // ---- testing.*: the byte parsers, for the unit tests (test builds only) ---------------

  static Napi::Object TestingExports(Napi::Env env) {
    Napi::Object testing = Napi::Object::New(env);
    testing.Set("parseInetDiag", Napi::Function::New(env, ParseInetDiag, "parseInetDiag"));
    testing.Set("parseUnixDiag", Napi::Function::New(env, ParseUnixDiag, "parseUnixDiag"));
    testing.Set("parseDumpEnd", Napi::Function::New(env, ParseDumpEnd, "parseDumpEnd"));
    testing.Set("parseProcStat", Napi::Function::New(env, ParseProcStat, "parseProcStat"));
    testing.Set("parsePidFile", Napi::Function::New(env, ParsePidFile, "parsePidFile"));
    testing.Set("parseSocketFdinfo",
                Napi::Function::New(env, ParseSocketFdinfo, "parseSocketFdinfo"));
    testing.Set("walkPcblistN", Napi::Function::New(env, WalkPcblistN, "walkPcblistN"));
    testing.Set("parseFdList", Napi::Function::New(env, ParseFdList, "parseFdList"));
    testing.Set("parseProcargs2", Napi::Function::New(env, ParseProcargs2, "parseProcargs2"));
    return testing;
  }

  static const char* chars(const Napi::Uint8Array& buf) {
    return reinterpret_cast<const char*>(buf.Data());
  }

  // testing.parseInetDiag(buf, seq, port) -> {status, sockets}
  static Napi::Value ParseInetDiag(const Napi::CallbackInfo& info) {
    Args args(info, "parseInetDiag");
    Napi::Env env = info.Env();
    Napi::Uint8Array buf;
    uint32_t seq = 0;
    uint16_t port = 0;
    if (!args.bytes(0, "buf", buf) || !args.integer(1, "seq", 0, 0xffffffff, seq) ||
        !args.integer(2, "port", 0, 65535, port)) {
      return env.Undefined();
    }
    std::vector<InetSocket> list;
    int r = parse_inet_diag(buf.Data(), buf.ByteLength(), seq, port, list);
    Napi::Object o = Napi::Object::New(env);
    o.Set("status", Napi::Number::New(env, r));
    o.Set("sockets", inet_list_to_js(env, list));
    return o;
  }

  // testing.parseUnixDiag(buf, seq) -> {status, sockets}
  static Napi::Value ParseUnixDiag(const Napi::CallbackInfo& info) {
    Args args(info, "parseUnixDiag");
    Napi::Env env = info.Env();
    Napi::Uint8Array buf;
    uint32_t seq = 0;
    if (!args.bytes(0, "buf", buf) || !args.integer(1, "seq", 0, 0xffffffff, seq)) {
      return env.Undefined();
    }
    std::vector<UnixSocket> list;
    int r = parse_unix_diag(buf.Data(), buf.ByteLength(), seq, list);
    Napi::Object o = Napi::Object::New(env);
    o.Set("status", Napi::Number::New(env, r));
    o.Set("sockets", unix_list_to_js(env, list));
    return o;
  }

  // testing.parsePidFile(buf) -> {empty, pid?, startTime?, bootId?, data?}
  static Napi::Value ParsePidFile(const Napi::CallbackInfo& info) {
    Args args(info, "parsePidFile");
    Napi::Uint8Array buf;
    if (!args.bytes(0, "buf", buf)) return info.Env().Undefined();
    PidFileRecord rec;
    parse_pidfile(chars(buf), buf.ByteLength(), rec);
    return pidfile_record_to_js(info.Env(), rec);
  }

  // testing.parseDumpEnd(buf, seq) -> 1 (end of dump seq found), 0 (not yet) or -EBADMSG
  static Napi::Value ParseDumpEnd(const Napi::CallbackInfo& info) {
    Args args(info, "parseDumpEnd");
    Napi::Env env = info.Env();
    Napi::Uint8Array buf;
    uint32_t seq = 0;
    if (!args.bytes(0, "buf", buf) || !args.integer(1, "seq", 0, 0xffffffff, seq)) {
      return env.Undefined();
    }
    return Napi::Number::New(env, parse_dump_end(buf.Data(), buf.ByteLength(), seq));
  }

  // testing.parseProcStat(buf) -> {comm, state, ppid, startTime} | undefined
  static Napi::Value ParseProcStat(const Napi::CallbackInfo& info) {
    Args args(info, "parseProcStat");
    Napi::Env env = info.Env();
    Napi::Uint8Array buf;
    if (!args.bytes(0, "buf", buf)) return env.Undefined();
    ProcStat st;
    if (parse_proc_stat(chars(buf), buf.ByteLength(), st) < 0) return env.Undefined();
    Napi::Object o = Napi::Object::New(env);
    o.Set("comm", Napi::String::New(env, st.comm));
    o.Set("state", Napi::String::New(env, std::string(1, st.state)));
    o.Set("ppid", Napi::Number::New(env, st.ppid));
    o.Set("startTime", Napi::Number::New(env, double(st.start_time)));
    return o;
  }

  // testing.parseSocketFdinfo(buf) -> {inet, unix, socket?, unixSocket?}: the results of
  // parsing buf as an inet and as a unix socket_fdinfo (1 parsed, 0 other, -EBADMSG).
  static Napi::Value ParseSocketFdinfo(const Napi::CallbackInfo& info) {
    Args args(info, "parseSocketFdinfo");
    Napi::Env env = info.Env();
    Napi::Uint8Array buf;
    if (!args.bytes(0, "buf", buf)) return env.Undefined();
    InetSocket inet;
    UnixSocket unix_socket;
    int r_inet = parse_socket_fdinfo(buf.Data(), buf.ByteLength(), inet);
    int r_unix = parse_socket_fdinfo(buf.Data(), buf.ByteLength(), unix_socket);
    Napi::Object o = Napi::Object::New(env);
    o.Set("inet", Napi::Number::New(env, r_inet));
    o.Set("unix", Napi::Number::New(env, r_unix));
    if (r_inet == kDarwinParsed) o.Set("socket", inet_to_js(env, inet));
    if (r_unix == kDarwinParsed) o.Set("unixSocket", unix_to_js(env, unix_socket));
    return o;
  }

  // testing.walkPcblistN(buf, protocol, port) -> {status, sockets, lastPids}
  static Napi::Value WalkPcblistN(const Napi::CallbackInfo& info) {
    Args args(info, "walkPcblistN");
    Napi::Env env = info.Env();
    Napi::Uint8Array buf;
    uint8_t protocol = 0;
    uint16_t port = 0;
    if (!args.bytes(0, "buf", buf) || !args.integer(1, "protocol", 0, 255, protocol) ||
        !args.integer(2, "port", 0, 65535, port)) {
      return env.Undefined();
    }
    std::vector<InetSocket> list;
    std::vector<int> last_pids;
    int r = walk_pcblist_n(buf.Data(), buf.ByteLength(), protocol, port, list, last_pids);
    Napi::Object o = Napi::Object::New(env);
    o.Set("status", Napi::Number::New(env, r));
    o.Set("sockets", inet_list_to_js(env, list));
    o.Set("lastPids", ints_to_js(env, last_pids));
    return o;
  }

  // testing.parseFdList(buf) -> {status, fds}: the socket fds of a PROC_PIDLISTFDS answer.
  static Napi::Value ParseFdList(const Napi::CallbackInfo& info) {
    Args args(info, "parseFdList");
    Napi::Env env = info.Env();
    Napi::Uint8Array buf;
    if (!args.bytes(0, "buf", buf)) return env.Undefined();
    std::vector<int> fds;
    int r = parse_fd_list(buf.Data(), buf.ByteLength(), fds);
    Napi::Object o = Napi::Object::New(env);
    o.Set("status", Napi::Number::New(env, r));
    o.Set("fds", ints_to_js(env, fds));
    return o;
  }

  // testing.parseProcargs2(buf) -> {status, command}
  static Napi::Value ParseProcargs2(const Napi::CallbackInfo& info) {
    Args args(info, "parseProcargs2");
    Napi::Env env = info.Env();
    Napi::Uint8Array buf;
    if (!args.bytes(0, "buf", buf)) return env.Undefined();
    std::string command;
    int r = parse_procargs2(buf.Data(), buf.ByteLength(), command);
    Napi::Object o = Napi::Object::New(env);
    o.Set("status", Napi::Number::New(env, r));
    o.Set("command", Napi::String::New(env, command));
    return o;
  }
#endif  // PORTWARDEN_TESTING
};

}  // namespace pw

using PortwardenAddon = pw::Addon;
NODE_API_ADDON(PortwardenAddon)

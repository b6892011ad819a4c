// The only file that includes napi.h. It unpacks arguments that the TypeScript layer
// has already validated (keeping cheap guards so that direct misuse throws instead of
// crashing), calls the plain C++ backends and turns -errno into node-style errors.
#include <arpa/inet.h>
#include <napi.h>
#include <sys/socket.h>
#include <sys/stat.h>
#ifdef __linux__
#include <sys/sysmacros.h>  // major/minor (darwin has them in sys/types.h)
#endif
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "parse/darwin.h"
#include "parse/netlink.h"
#include "parse/procfs.h"
#include "platform.h"
#include "posix/listen.h"
#include "posix/notify.h"
#include "posix/pidfile.h"
#include "process_control.h"

namespace pw {
namespace {

// Mirrors node's fs errors: err.code, err.errno (negative), err.syscall.
Napi::Error errno_error(Napi::Env env, int neg_errno, const char* syscall) {
  int e = neg_errno < 0 ? neg_errno : -neg_errno;
  // libuv has no name for EBADMSG (an unlocked PID file that names no pid).
  const char* code = e == -EBADMSG ? "EBADMSG" : uv_err_name(e);
  const char* text = e == -EBADMSG ? "bad message" : uv_strerror(e);
  std::string message = std::string(code) + ": " + text + ", " + syscall;
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  err.Set("errno", Napi::Number::New(env, e));
  err.Set("syscall", Napi::String::New(env, syscall));
  return err;
}

// Throws unless an exception is already pending (a getter of an argument threw): that one
// propagates, and throwing a second time would make napi_throw fail, which is fatal.
void throw_type(Napi::Env env, const char* message) {
  if (env.IsExceptionPending()) return;
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
}

// A Uint8Array (Buffer included). Other views (DataView, Float64Array) are refused: the
// buffer accessors would fail on some of them with a pending exception.
bool is_bytes(const Napi::Value& v) {
  return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array;
}

bool get_uint(const Napi::CallbackInfo& info, size_t i, uint32_t max, uint32_t& out) {
  if (info.Length() <= i || !info[i].IsNumber()) return false;
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= double(max)) || d != double(uint64_t(d))) return false;
  out = uint32_t(d);
  return true;
}

// Reads an array of non-negative integers (at most `max`); false on anything else.
template <typename T>
bool get_uint_array(const Napi::CallbackInfo& info, size_t i, double max, std::vector<T>& out) {
  if (info.Length() <= i || !info[i].IsArray()) return false;
  Napi::Array arr = info[i].As<Napi::Array>();
  uint32_t n = arr.Length();
  if (n > (1u << 20)) return false;
  out.reserve(n);
  for (uint32_t k = 0; k < n; k++) {
    Napi::Value v = arr.Get(k);  // empty when a getter threw: the exception is pending
    if (v.IsEmpty() || !v.IsNumber()) return false;
    double d = v.As<Napi::Number>().DoubleValue();
    if (!(d >= 0 && d <= max) || d != double(uint64_t(d))) return false;
    out.push_back(T(d));
  }
  return true;
}

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

Napi::Array unix_list_to_js(Napi::Env env, const std::vector<UnixSocket>& list) {
  Napi::Array arr = Napi::Array::New(env, list.size());
  for (size_t i = 0; i < list.size(); i++) {
    const UnixSocket& s = list[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("type", Napi::Number::New(env, s.type));
    o.Set("state", Napi::Number::New(env, s.state));
    o.Set("inode", Napi::Number::New(env, double(s.inode)));
    o.Set("name", Napi::String::New(env, s.name));
    if (s.has_vfs) {
      o.Set("vfsIno", Napi::Number::New(env, s.vfs_ino));
      o.Set("vfsDev", Napi::Number::New(env, s.vfs_dev));
    }
    arr.Set(uint32_t(i), o);
  }
  return arr;
}

Napi::Object owners_to_js(Napi::Env env, const OwnerScan& scan) {
  Napi::Object o = Napi::Object::New(env);
  Napi::Array holders = Napi::Array::New(env, scan.holders.size());
  for (size_t i = 0; i < scan.holders.size(); i++) {
    const auto& h = scan.holders[i];
    Napi::Array pids = Napi::Array::New(env, h.size());
    for (size_t k = 0; k < h.size(); k++) pids.Set(uint32_t(k), Napi::Number::New(env, h[k]));
    holders.Set(uint32_t(i), pids);
  }
  o.Set("holders", holders);
  o.Set("denied", Napi::Number::New(env, scan.denied));
  o.Set("scanned", Napi::Number::New(env, scan.scanned));
  return o;
}

struct OwnerRequest {
  std::vector<uint64_t> inodes;
  std::vector<int> candidates;
  std::vector<uint32_t> uids;
  bool stop_when_resolved = false;
};

bool get_owner_request(const Napi::CallbackInfo& info, OwnerRequest& req) {
  if (!get_uint_array(info, 0, 9007199254740991.0, req.inodes) ||
      !get_uint_array(info, 1, 2147483647.0, req.candidates) ||
      !get_uint_array(info, 2, 4294967295.0, req.uids) || info.Length() < 4 ||
      !info[3].IsBoolean()) {
    throw_type(info.Env(),
               "findOwners(inodes: number[], candidates: number[], uids: number[], stop: boolean)");
    return false;
  }
  req.stop_when_resolved = info[3].As<Napi::Boolean>().Value();
  return true;
}

class FindOwnersWorker : public Napi::AsyncWorker {
 public:
  FindOwnersWorker(Napi::Env env, OwnerRequest req)
      : Napi::AsyncWorker(env, "portwarden:findOwners"), deferred_(env), req_(std::move(req)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    result_ = find_owners(req_.inodes, req_.candidates, req_.uids, req_.stop_when_resolved, scan_);
  }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (result_ < 0) {
      deferred_.Reject(errno_error(env, result_, "open /proc").Value());
    } else {
      deferred_.Resolve(owners_to_js(env, scan_));
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  OwnerRequest req_;
  OwnerScan scan_;
  int result_ = 0;
};

// (pids: number[], startTimes: number[], ...): positive pids, start times -1 (no identity
// check) or non-negative integers, same length, at most 4096.
bool get_process_refs(const Napi::CallbackInfo& info, std::vector<ProcessRef>& out) {
  std::vector<uint32_t> pids;
  if (!get_uint_array(info, 0, 2147483647.0, pids) || pids.size() > 4096 || info.Length() < 2 ||
      !info[1].IsArray() || info[1].As<Napi::Array>().Length() != pids.size()) {
    return false;
  }
  Napi::Array starts = info[1].As<Napi::Array>();
  out.reserve(pids.size());
  for (uint32_t k = 0; k < pids.size(); k++) {
    Napi::Value v = starts.Get(k);
    if (pids[k] == 0 || !v.IsNumber()) return false;
    double d = v.As<Napi::Number>().DoubleValue();
    if (!(d >= -1 && d <= 9007199254740991.0) || d != double(int64_t(d))) return false;
    out.push_back({int(pids[k]), int64_t(d)});
  }
  return true;
}

// Indices of the targets that are gone.
Napi::Array gone_to_js(Napi::Env env, const std::vector<uint8_t>& gone) {
  Napi::Array arr = Napi::Array::New(env);
  for (size_t i = 0; i < gone.size(); i++)
    if (gone[i]) arr.Set(arr.Length(), Napi::Number::New(env, double(i)));
  return arr;
}

// Owns the wake-up fd shared by a pending wait and its JS cancel() function.
struct CancelHandle {
  WaitCancel cancel;
  ~CancelHandle() { wait_cancel_close(cancel); }
};

class WaitExitWorker : public Napi::AsyncWorker {
 public:
  WaitExitWorker(Napi::Env env, std::vector<ProcessRef> targets, int timeout_ms,
                 std::shared_ptr<CancelHandle> cancel)
      : Napi::AsyncWorker(env, "portwarden:waitExit"),
        deferred_(env),
        targets_(std::move(targets)),
        timeout_ms_(timeout_ms),
        cancel_(std::move(cancel)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    result_ = wait_any_exit(targets_, timeout_ms_, cancel_->cancel, gone_);
  }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (result_ < 0) {
      deferred_.Reject(errno_error(env, result_, "pidfd_open").Value());
    } else {
      deferred_.Resolve(gone_to_js(env, gone_));
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::vector<ProcessRef> targets_;
  int timeout_ms_;
  std::shared_ptr<CancelHandle> cancel_;
  std::vector<uint8_t> gone_;
  int result_ = 0;
};

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

// A path argument for the PID-file calls: a non-empty string without NUL.
bool get_path(const Napi::CallbackInfo& info, size_t i, std::string& out) {
  if (info.Length() <= i || !info[i].IsString()) return false;
  out = info[i].As<Napi::String>().Utf8Value();
  return !out.empty() && out.find('\0') == std::string::npos;
}

// serve / listenTarget: a notify socket of this environment. The descriptor stays open
// while a receive runs on it (the worker holds a reference), so a close() during a
// receive cannot let the fd number be reused under the waiting thread.
struct NotifyReceiver {
  int fd = -1;
  std::shared_ptr<CancelHandle> pending;  // the cancel of the receive in flight, if any
  ~NotifyReceiver() {
    if (fd >= 0) close_fd(fd);
  }
};

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

class NotifyReceiveWorker : public Napi::AsyncWorker {
 public:
  NotifyReceiveWorker(Napi::Env env, std::shared_ptr<NotifyReceiver> receiver, int timeout_ms,
                      std::shared_ptr<CancelHandle> cancel)
      : Napi::AsyncWorker(env, "portwarden:notifyReceive"),
        deferred_(env),
        receiver_(std::move(receiver)),
        timeout_ms_(timeout_ms),
        cancel_(std::move(cancel)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    result_ = dgram_receive(receiver_->fd, timeout_ms_, cancel_->cancel, datagrams_);
  }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    receiver_->pending.reset();
    if (result_ < 0) {
      deferred_.Reject(errno_error(env, result_, "recvmsg").Value());
      return;
    }
    Napi::Array arr = Napi::Array::New(env, datagrams_.size());
    for (size_t i = 0; i < datagrams_.size(); i++) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("message", Napi::String::New(env, datagrams_[i].data));
      o.Set("pid", Napi::Number::New(env, datagrams_[i].pid));
      o.Set("truncated", Napi::Boolean::New(env, datagrams_[i].truncated));
      arr.Set(uint32_t(i), o);
    }
    deferred_.Resolve(arr);
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<NotifyReceiver> receiver_;
  int timeout_ms_;
  std::shared_ptr<CancelHandle> cancel_;
  std::vector<Datagram> datagrams_;
  int result_ = 0;
};

// The listeners and notify sockets one environment made; closed when it ends (a worker
// thread exiting), and pending receives woken so that no threadpool thread waits on.
struct ServeState {
  std::set<int> listeners;
  std::map<int, std::shared_ptr<NotifyReceiver>> receivers;
  ~ServeState() {
    for (int fd : listeners) close_fd(fd);
    for (auto& [fd, receiver] : receivers)
      if (receiver->pending) wait_cancel_fire(receiver->pending->cancel);
  }
};

// A unix socket path argument: 1..107 bytes without NUL ('@name': abstract).
bool get_unix_path(const Napi::CallbackInfo& info, size_t i, std::string& out) {
  if (info.Length() <= i || !info[i].IsString()) return false;
  out = info[i].As<Napi::String>().Utf8Value();
  return !out.empty() && out.size() <= 107 && out.find('\0') == std::string::npos;
}

}  // namespace

class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env env, Napi::Object exports) {
    // Fault injection for test/faults.test.ts: PORTWARDEN_FAULT=sock_diag_enoent answers
    // every sock_diag dump with ENOENT, as a kernel without the diag modules does.
    const char* fault = getenv("PORTWARDEN_FAULT");
    no_sock_diag_ = fault != nullptr && strcmp(fault, "sock_diag_enoent") == 0;
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
                             InstanceValue("testing", testing),
                         });
  }

 private:
  std::string boot_id_;        // per environment, read once
  ProbeCache cache_;           // the netlink socket reused by synchronous probes
  bool no_sock_diag_ = false;  // PORTWARDEN_FAULT=sock_diag_enoent (tests only)
  // PID files this environment owns, by fd: closed when the environment ends (a worker
  // thread exiting, the process exiting), so that a lock never outlives its owner's JS world
  // unless a child process shares it. Teardown never unlinks: a file handed over to a child
  // (or inherited by one) is still locked by it, and unlinking would let a second claimer
  // create a new file while that child runs. A file left unlocked names this process: stale
  // once it exits, and taken over by a later claim of this process.
  struct HeldPidFile {
    std::string path;
    uint64_t dev;
    uint64_t ino;
  };
  std::map<int, HeldPidFile> pidfiles_;
  PidFileSelf self_;  // our pid, start time and boot id (read once per pid)
  ServeState serve_;  // listeners and notify sockets of serve / listenTarget

 public:
  ~Addon() {
    probe_cache_close(cache_);
    for (auto& entry : pidfiles_) close(entry.first);
  }

 private:
  // inetDump(port, protocols, tcpStates) -> InetSocket[]
  Napi::Value InetDump(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t port, protocols, states;
    if (!get_uint(info, 0, 65535, port) || port == 0 || !get_uint(info, 1, 3, protocols) ||
        !get_uint(info, 2, 0xffffffffu, states)) {
      throw_type(env, "inetDump(port: 1..65535, protocols: 0..3, tcpStates: uint32)");
      return env.Undefined();
    }
    std::vector<InetSocket> list;
    int r = no_sock_diag_ ? -ENOENT : inet_dump(&cache_, uint16_t(port), protocols, states, list);
    if (r < 0) {
      errno_error(env, r, "sock_diag").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    return inet_list_to_js(env, list);
  }

  // unixDump(path) -> {exists, isSocket, sockets}; a leading '@' names an abstract socket.
  Napi::Value UnixDump(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) {
      throw_type(env, "unixDump(path: string)");
      return env.Undefined();
    }
    std::string path = info[0].As<Napi::String>().Utf8Value();
    if (path.empty() || path.size() > 107 || path.find('\0') != std::string::npos) {
      throw_type(env, "unixDump(path): 1..107 bytes without NUL");
      return env.Undefined();
    }
    Napi::Object result = Napi::Object::New(env);
    std::vector<UnixSocket> list;
    int r;
    if (path[0] == '@') {
      result.Set("exists", Napi::Boolean::New(env, true));
      result.Set("isSocket", Napi::Boolean::New(env, true));
      r = no_sock_diag_ ? -ENOENT : unix_dump(false, 0, 0, path.substr(1), list);
    } else {
      struct stat st;
      if (stat(path.c_str(), &st) != 0) {
        if (errno != ENOENT && errno != ENOTDIR) {
          errno_error(env, -errno, "stat").ThrowAsJavaScriptException();
          return env.Undefined();
        }
        result.Set("exists", Napi::Boolean::New(env, false));
        result.Set("isSocket", Napi::Boolean::New(env, false));
        result.Set("sockets", Napi::Array::New(env, 0));
        return result;
      }
      bool is_socket = S_ISSOCK(st.st_mode);
      result.Set("exists", Napi::Boolean::New(env, true));
      result.Set("isSocket", Napi::Boolean::New(env, is_socket));
      if (!is_socket) {
        result.Set("sockets", Napi::Array::New(env, 0));
        return result;
      }
      // unix_diag reports the kernel-internal dev_t: major << 20 | minor.
      uint32_t kdev = uint32_t((major(st.st_dev) << 20) | minor(st.st_dev));
      r = no_sock_diag_ ? -ENOENT : unix_dump(true, kdev, uint32_t(st.st_ino), std::string(), list);
    }
    if (r < 0) {
      errno_error(env, r, "sock_diag").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    result.Set("sockets", unix_list_to_js(env, list));
    return result;
  }

  Napi::Value FindOwners(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    OwnerRequest req;
    if (!get_owner_request(info, req)) return env.Undefined();
    OwnerScan scan;
    int r = find_owners(req.inodes, req.candidates, req.uids, req.stop_when_resolved, scan);
    if (r < 0) {
      errno_error(env, r, "open /proc").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    return owners_to_js(env, scan);
  }

  Napi::Value FindOwnersAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    OwnerRequest req;
    if (!get_owner_request(info, req)) return env.Undefined();
    auto* worker = new FindOwnersWorker(env, std::move(req));
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  }

  // processInfo(pid) -> {pid, ppid, uid, name, command, startTime, state} | undefined
  Napi::Value ProcessInfoJs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t pid;
    if (!get_uint(info, 0, 0x7fffffff, pid) || pid == 0) {
      throw_type(env, "processInfo(pid: 1..2147483647)");
      return env.Undefined();
    }
    ProcessInfo p;
    int r = process_info(int(pid), p);
    if (r == -ESRCH) return env.Undefined();
    if (r < 0) {
      errno_error(env, r, "read /proc/pid").ThrowAsJavaScriptException();
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
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString()) {
      throw_type(env, "notify(socketPath: string, message: string)");
      return env.Undefined();
    }
    int r =
        notify_send(info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::String>().Utf8Value());
    if (r < 0) {
      errno_error(env, r, "sendto").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    return env.Undefined();
  }

  // Our pid, start time and boot id for PID-file records (read again after a fork).
  int self_identity() {
    int pid = int(getpid());
    if (self_.pid == pid) return 0;
    if (boot_id_.empty()) {
      int r = boot_id(boot_id_);
      if (r < 0) return r;
    }
    ProcessInfo p;
    int r = process_info(pid, p);
    if (r < 0) return r;
    self_.pid = pid;
    self_.start_time = p.start_time;
    self_.boot_id = boot_id_;
    return 0;
  }

  // pidfileClaim(path, data, force?) -> {fd, created, tookOver, pid, startTime, bootId,
  //   previous?} | {held: record, locked}. `data` is '' or one line of JSON (no '\n').
  Napi::Value PidfileClaim(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string path;
    if (!get_path(info, 0, path) || info.Length() < 2 || !info[1].IsString() ||
        (info.Length() > 2 && !info[2].IsUndefined() && !info[2].IsBoolean())) {
      throw_type(env,
                 "pidfileClaim(path: non-empty string without NUL, data: string, force?: boolean)");
      return env.Undefined();
    }
    bool force = info.Length() > 2 && info[2].IsBoolean() && info[2].As<Napi::Boolean>().Value();
    std::string data = info[1].As<Napi::String>().Utf8Value();
    if (data.size() > kPidFileMaxDataBytes || data.find('\n') != std::string::npos ||
        data.find('\0') != std::string::npos) {
      throw_type(env, "pidfileClaim(path, data): data is one line of at most 16 KiB");
      return env.Undefined();
    }
    int r = self_identity();
    if (r < 0) {
      errno_error(env, r, "read process identity").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    PidFileClaim claim;
    r = pidfile_claim(path.c_str(), self_, data, force, claim);
    if (r < 0) {
      errno_error(env, r, claim.syscall).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Napi::Object o = Napi::Object::New(env);
    if (claim.held) {
      o.Set("held", pidfile_record_to_js(env, claim.holder));
      o.Set("locked", Napi::Boolean::New(env, claim.locked));
      return o;
    }
    pidfiles_[claim.fd] = HeldPidFile{path, claim.dev, claim.ino};
    o.Set("fd", Napi::Number::New(env, claim.fd));
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
    Napi::Env env = info.Env();
    uint32_t fd;
    if (!get_uint(info, 0, 0x7fffffff, fd)) {
      throw_type(env, "pidfileRelease(fd: a descriptor returned by pidfileClaim)");
      return env.Undefined();
    }
    auto it = pidfiles_.find(int(fd));
    if (it == pidfiles_.end()) {
      errno_error(env, -EBADF, "close").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    HeldPidFile held = std::move(it->second);
    pidfiles_.erase(it);
    int r = pidfile_release(int(fd), held.path.c_str(), held.dev, held.ino);
    if (r < 0) {
      errno_error(env, r, "unlink").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    return env.Undefined();
  }

  // pidfileHandOver(fd, pid, data) -> {pid, startTime, bootId}. Rewrites a file we hold
  // to name `pid` (a child that inherited the locked descriptor). ESRCH if it is gone.
  Napi::Value PidfileHandOver(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t fd, pid;
    if (!get_uint(info, 0, 0x7fffffff, fd) || !get_uint(info, 1, 0x7fffffff, pid) || pid == 0 ||
        info.Length() < 3 || !info[2].IsString()) {
      throw_type(env, "pidfileHandOver(fd: a descriptor returned by pidfileClaim, pid, data)");
      return env.Undefined();
    }
    std::string data = info[2].As<Napi::String>().Utf8Value();
    if (data.size() > kPidFileMaxDataBytes || data.find('\n') != std::string::npos ||
        data.find('\0') != std::string::npos) {
      throw_type(env, "pidfileHandOver(fd, pid, data): data is one line of at most 16 KiB");
      return env.Undefined();
    }
    if (pidfiles_.find(int(fd)) == pidfiles_.end()) {
      errno_error(env, -EBADF, "write").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    int r = self_identity();
    ProcessInfo p;
    if (r == 0) r = process_info(int(pid), p);
    PidFileSelf who{int(pid), p.start_time, self_.boot_id};
    if (r == 0) r = pidfile_rewrite(int(fd), who, data);
    if (r < 0) {
      errno_error(env, r, "write").ThrowAsJavaScriptException();
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
    Napi::Env env = info.Env();
    std::string path;
    if (!get_path(info, 0, path)) {
      throw_type(env, "pidfileRead(path: non-empty string without NUL)");
      return env.Undefined();
    }
    PidFileStatus status;
    int r = pidfile_read(path.c_str(), status);
    if (r < 0) {
      errno_error(env, r, status.syscall).ThrowAsJavaScriptException();
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
      int r = boot_id(boot_id_);
      if (r < 0) {
        errno_error(env, r, "read boot id").ThrowAsJavaScriptException();
        return env.Undefined();
      }
    }
    return Napi::String::New(env, boot_id_);
  }

  // waitExit(pids, startTimes, timeoutMs) -> indices of the targets that are gone ([] on
  // timeout). Blocks the calling thread; throws ENOSYS where pidfds are unavailable.
  Napi::Value WaitExit(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::vector<ProcessRef> refs;
    uint32_t timeout;
    if (!get_process_refs(info, refs) || !get_uint(info, 2, 0x7fffffff, timeout)) {
      throw_type(env, "waitExit(pids: number[], startTimes: number[], timeoutMs: uint31)");
      return env.Undefined();
    }
    std::vector<uint8_t> gone;
    int r = wait_any_exit(refs, int(timeout), WaitCancel{}, gone);
    if (r < 0) {
      errno_error(env, r, "pidfd_open").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    return gone_to_js(env, gone);
  }

  // waitExitAsync(pids, startTimes, timeoutMs) -> {promise, cancel}: the wait runs on the
  // threadpool; cancel() ends it early (the promise then resolves with []).
  Napi::Value WaitExitAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::vector<ProcessRef> refs;
    uint32_t timeout;
    if (!get_process_refs(info, refs) || !get_uint(info, 2, 0x7fffffff, timeout)) {
      throw_type(env, "waitExitAsync(pids: number[], startTimes: number[], timeoutMs: uint31)");
      return env.Undefined();
    }
    auto handle = std::make_shared<CancelHandle>();
    int r = wait_cancel_open(handle->cancel);
    if (r < 0) {
      errno_error(env, r, "eventfd").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    auto* worker = new WaitExitWorker(env, std::move(refs), int(timeout), handle);
    Napi::Object result = Napi::Object::New(env);
    result.Set("promise", worker->Promise());
    result.Set("cancel", Napi::Function::New(
                             env,
                             [handle](const Napi::CallbackInfo& info) {
                               wait_cancel_fire(handle->cancel);
                               return info.Env().Undefined();
                             },
                             "cancel"));
    worker->Queue();
    return result;
  }

  // signalProcess(pid, startTime, signo, usePidfd) -> 'sent' | 'gone' | 'mismatch'.
  // startTime -1 skips the identity check; other failures (EPERM) throw.
  Napi::Value SignalProcess(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t pid, signo;
    double start = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>() : -2.0;
    if (!get_uint(info, 0, 0x7fffffff, pid) || pid == 0 || !(start >= -1) ||
        start > 9007199254740991.0 || start != double(int64_t(start)) ||
        !get_uint(info, 2, 64, signo) || info.Length() < 4 || !info[3].IsBoolean()) {
      throw_type(env,
                 "signalProcess(pid: 1..2147483647, startTime: -1 | uint53, signo: 0..64, "
                 "usePidfd: boolean)");
      return env.Undefined();
    }
    int r = signal_process({int(pid), int64_t(start)}, int(signo), info[3].As<Napi::Boolean>());
    if (r == -ESRCH) return Napi::String::New(env, "gone");
    if (r == kIdentityMismatch) return Napi::String::New(env, "mismatch");
    if (r < 0) {
      errno_error(env, r, "kill").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    return Napi::String::New(env, "sent");
  }

  // socketInfo(fd) -> {type, domain, protocol?, listening?, v6only?, family, address, port?}.
  // Throws EBADF (no such descriptor), ENOTSOCK (a pipe, a file) with the failing syscall.
  Napi::Value SocketInfo(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t fd;
    if (!get_uint(info, 0, 0x7fffffff, fd)) {
      throw_type(env, "socketInfo(fd: 0..2147483647)");
      return env.Undefined();
    }
    SocketDescription d;
    int r = describe_socket(int(fd), d);
    if (r < 0) {
      errno_error(env, r, d.syscall).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    return socket_description_to_js(env, d);
  }

  // setCloexec(fd, on) -> undefined
  Napi::Value SetCloexec(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t fd;
    if (!get_uint(info, 0, 0x7fffffff, fd) || info.Length() < 2 || !info[1].IsBoolean()) {
      throw_type(env, "setCloexec(fd: 0..2147483647, on: boolean)");
      return env.Undefined();
    }
    int r = set_cloexec(int(fd), info[1].As<Napi::Boolean>().Value());
    if (r < 0) errno_error(env, r, "fcntl").ThrowAsJavaScriptException();
    return env.Undefined();
  }

  // listenTcp(host, port, backlog) -> fd: bound, listening, SO_REUSEADDR, close-on-exec.
  Napi::Value ListenTcp(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t port, backlog;
    if (info.Length() < 3 || !info[0].IsString() || !get_uint(info, 1, 65535, port) ||
        !get_uint(info, 2, 0x7fffffff, backlog)) {
      throw_type(env, "listenTcp(host: string, port: 0..65535, backlog: uint31)");
      return env.Undefined();
    }
    int fd = -1;
    const char* syscall = "";
    int r =
        listen_tcp(info[0].As<Napi::String>().Utf8Value(), int(port), int(backlog), fd, syscall);
    if (r < 0) {
      errno_error(env, r, syscall).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    serve_.listeners.insert(fd);
    return Napi::Number::New(env, fd);
  }

  // closeListener(fd) -> undefined. Only descriptors returned by listenTcp (else EBADF).
  Napi::Value CloseListener(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t fd;
    if (!get_uint(info, 0, 0x7fffffff, fd)) {
      throw_type(env, "closeListener(fd: a descriptor returned by listenTcp)");
      return env.Undefined();
    }
    if (serve_.listeners.erase(int(fd)) == 0) {
      errno_error(env, -EBADF, "close").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    int r = close_fd(int(fd));
    if (r < 0) errno_error(env, r, "close").ThrowAsJavaScriptException();
    return env.Undefined();
  }

  // notifySocketOpen(path) -> fd: a unix datagram receiver ('@name' = abstract namespace)
  // that learns each sender's pid (Linux).
  Napi::Value NotifySocketOpen(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string path;
    if (!get_unix_path(info, 0, path)) {
      throw_type(env, "notifySocketOpen(path: 1..107 bytes without NUL)");
      return env.Undefined();
    }
    int fd = -1;
    const char* syscall = "";
    int r = dgram_open(path, fd, syscall);
    if (r < 0) {
      errno_error(env, r, syscall).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    auto receiver = std::make_shared<NotifyReceiver>();
    receiver->fd = fd;
    serve_.receivers[fd] = receiver;
    return Napi::Number::New(env, fd);
  }

  // notifySocketReceive(fd, timeoutMs) -> {promise, cancel}: the promise resolves with the
  // datagrams queued once the socket is readable ({message, pid, truncated}[]; [] on timeout
  // or cancel). One receive per socket at a time (EBUSY).
  Napi::Value NotifySocketReceive(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t fd, timeout;
    if (!get_uint(info, 0, 0x7fffffff, fd) || !get_uint(info, 1, 0x7fffffff, timeout)) {
      throw_type(env,
                 "notifySocketReceive(fd: a descriptor of notifySocketOpen, timeoutMs: uint31)");
      return env.Undefined();
    }
    auto it = serve_.receivers.find(int(fd));
    if (it == serve_.receivers.end()) {
      errno_error(env, -EBADF, "recvmsg").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (it->second->pending) {
      errno_error(env, -EBUSY, "recvmsg").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    auto handle = std::make_shared<CancelHandle>();
    int r = wait_cancel_open(handle->cancel);
    if (r < 0) {
      errno_error(env, r, "eventfd").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    it->second->pending = handle;
    auto* worker = new NotifyReceiveWorker(env, it->second, int(timeout), handle);
    Napi::Object result = Napi::Object::New(env);
    result.Set("promise", worker->Promise());
    result.Set("cancel", Napi::Function::New(
                             env,
                             [handle](const Napi::CallbackInfo& info) {
                               wait_cancel_fire(handle->cancel);
                               return info.Env().Undefined();
                             },
                             "cancel"));
    worker->Queue();
    return result;
  }

  // notifySocketClose(fd) -> undefined. Ends a pending receive (it resolves []); the
  // descriptor is closed once no receive uses it. EBADF for other descriptors.
  Napi::Value NotifySocketClose(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t fd;
    if (!get_uint(info, 0, 0x7fffffff, fd)) {
      throw_type(env, "notifySocketClose(fd: a descriptor returned by notifySocketOpen)");
      return env.Undefined();
    }
    auto it = serve_.receivers.find(int(fd));
    if (it == serve_.receivers.end()) {
      errno_error(env, -EBADF, "close").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (it->second->pending) wait_cancel_fire(it->second->pending->cancel);
    serve_.receivers.erase(it);
    return env.Undefined();
  }

  // launchdSockets(name) -> fds of the launchd `Sockets` entry `name` (macOS; ENOTSUP elsewhere).
  Napi::Value LaunchdSockets(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) {
      throw_type(env, "launchdSockets(name: string)");
      return env.Undefined();
    }
    std::vector<int> fds;
    int r = launchd_sockets(info[0].As<Napi::String>().Utf8Value(), fds);
    if (r < 0) {
      errno_error(env, r, "launch_activate_socket").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Napi::Array arr = Napi::Array::New(env, fds.size());
    for (size_t i = 0; i < fds.size(); i++) arr.Set(uint32_t(i), Napi::Number::New(env, fds[i]));
    return arr;
  }

  // testing.parseInetDiag(buf, seq, port) -> {status, sockets}
  static Napi::Value ParseInetDiag(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t seq, port;
    if (info.Length() < 3 || !is_bytes(info[0]) || !get_uint(info, 1, 0xffffffffu, seq) ||
        !get_uint(info, 2, 65535, port)) {
      throw_type(env, "parseInetDiag(buf: Buffer, seq: uint32, port: 0..65535)");
      return env.Undefined();
    }
    auto buf = info[0].As<Napi::Buffer<uint8_t>>();
    std::vector<InetSocket> list;
    int r = parse_inet_diag(buf.Data(), buf.Length(), seq, uint16_t(port), list);
    Napi::Object o = Napi::Object::New(env);
    o.Set("status", Napi::Number::New(env, r));
    o.Set("sockets", inet_list_to_js(env, list));
    return o;
  }

  static Napi::Value ParseUnixDiag(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t seq;
    if (info.Length() < 2 || !is_bytes(info[0]) || !get_uint(info, 1, 0xffffffffu, seq)) {
      throw_type(env, "parseUnixDiag(buf: Buffer, seq: uint32)");
      return env.Undefined();
    }
    auto buf = info[0].As<Napi::Buffer<uint8_t>>();
    std::vector<UnixSocket> list;
    int r = parse_unix_diag(buf.Data(), buf.Length(), seq, list);
    Napi::Object o = Napi::Object::New(env);
    o.Set("status", Napi::Number::New(env, r));
    o.Set("sockets", unix_list_to_js(env, list));
    return o;
  }

  // testing.parsePidFile(buf) -> {empty, pid?, startTime?, bootId?, data?}
  static Napi::Value ParsePidFile(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !is_bytes(info[0])) {  // IsBuffer() also accepts a DataView
      throw_type(env, "parsePidFile(buf: Buffer)");
      return env.Undefined();
    }
    auto buf = info[0].As<Napi::Buffer<char>>();
    PidFileRecord rec;
    parse_pidfile(buf.Data(), buf.Length(), rec);
    return pidfile_record_to_js(env, rec);
  }

  // testing.parseDumpEnd(buf, seq) -> 1 (end of dump seq found), 0 (not yet) or -EBADMSG
  static Napi::Value ParseDumpEnd(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t seq;
    if (info.Length() < 2 || !is_bytes(info[0]) || !get_uint(info, 1, 0xffffffffu, seq)) {
      throw_type(env, "parseDumpEnd(buf: Buffer, seq: uint32)");
      return env.Undefined();
    }
    auto buf = info[0].As<Napi::Buffer<uint8_t>>();
    return Napi::Number::New(env, parse_dump_end(buf.Data(), buf.Length(), seq));
  }

  static Napi::Value ParseProcStat(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !is_bytes(info[0])) {
      throw_type(env, "parseProcStat(buf: Buffer)");
      return env.Undefined();
    }
    auto buf = info[0].As<Napi::Buffer<char>>();
    ProcStat st;
    if (parse_proc_stat(buf.Data(), buf.Length(), st) < 0) return env.Undefined();
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
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !is_bytes(info[0])) {
      throw_type(env, "parseSocketFdinfo(buf: Buffer)");
      return env.Undefined();
    }
    auto buf = info[0].As<Napi::Buffer<uint8_t>>();
    InetSocket inet;
    UnixSocket unix_socket;
    int r_inet = parse_socket_fdinfo(buf.Data(), buf.Length(), inet);
    int r_unix = parse_socket_fdinfo(buf.Data(), buf.Length(), unix_socket);
    Napi::Object o = Napi::Object::New(env);
    o.Set("inet", Napi::Number::New(env, r_inet));
    o.Set("unix", Napi::Number::New(env, r_unix));
    if (r_inet == kDarwinParsed) o.Set("socket", inet_to_js(env, inet));
    if (r_unix == kDarwinParsed) {
      o.Set("unixSocket", unix_list_to_js(env, std::vector<UnixSocket>{unix_socket}).Get(0u));
    }
    return o;
  }

  // testing.walkPcblistN(buf, protocol, port) -> {status, sockets, lastPids}
  static Napi::Value WalkPcblistN(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t protocol, port;
    if (info.Length() < 3 || !is_bytes(info[0]) || !get_uint(info, 1, 255, protocol) ||
        !get_uint(info, 2, 65535, port)) {
      throw_type(env, "walkPcblistN(buf: Buffer, protocol: 6 | 17, port: 0..65535)");
      return env.Undefined();
    }
    auto buf = info[0].As<Napi::Buffer<uint8_t>>();
    std::vector<InetSocket> list;
    std::vector<int> last_pids;
    int r = walk_pcblist_n(buf.Data(), buf.Length(), uint8_t(protocol), uint16_t(port), list,
                           last_pids);
    Napi::Object o = Napi::Object::New(env);
    o.Set("status", Napi::Number::New(env, r));
    o.Set("sockets", inet_list_to_js(env, list));
    Napi::Array pids = Napi::Array::New(env, last_pids.size());
    for (size_t i = 0; i < last_pids.size(); i++)
      pids.Set(uint32_t(i), Napi::Number::New(env, last_pids[i]));
    o.Set("lastPids", pids);
    return o;
  }

  // testing.parseFdList(buf) -> {status, fds}: the socket fds of a PROC_PIDLISTFDS answer.
  static Napi::Value ParseFdList(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !is_bytes(info[0])) {
      throw_type(env, "parseFdList(buf: Buffer)");
      return env.Undefined();
    }
    auto buf = info[0].As<Napi::Buffer<uint8_t>>();
    std::vector<int> fds;
    int r = parse_fd_list(buf.Data(), buf.Length(), fds);
    Napi::Object o = Napi::Object::New(env);
    o.Set("status", Napi::Number::New(env, r));
    Napi::Array arr = Napi::Array::New(env, fds.size());
    for (size_t i = 0; i < fds.size(); i++) arr.Set(uint32_t(i), Napi::Number::New(env, fds[i]));
    o.Set("fds", arr);
    return o;
  }

  // testing.parseProcargs2(buf) -> {status, command}
  static Napi::Value ParseProcargs2(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !is_bytes(info[0])) {
      throw_type(env, "parseProcargs2(buf: Buffer)");
      return env.Undefined();
    }
    auto buf = info[0].As<Napi::Buffer<uint8_t>>();
    std::string command;
    int r = parse_procargs2(buf.Data(), buf.Length(), command);
    Napi::Object o = Napi::Object::New(env);
    o.Set("status", Napi::Number::New(env, r));
    o.Set("command", Napi::String::New(env, command));
    return o;
  }
};

}  // namespace pw

using PortwardenAddon = pw::Addon;
NODE_API_ADDON(PortwardenAddon)

// The only file that includes napi.h. It unpacks arguments that the TypeScript layer
// has already validated (keeping cheap guards so that direct misuse throws instead of
// crashing), calls the plain C++ backends and turns -errno into node-style errors.
#include <arpa/inet.h>
#include <napi.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <uv.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "parse/netlink.h"
#include "parse/procfs.h"
#include "platform.h"

namespace pw {
namespace {

// Mirrors node's fs errors: err.code, err.errno (negative), err.syscall.
Napi::Error errno_error(Napi::Env env, int neg_errno, const char* syscall) {
  int e = neg_errno < 0 ? neg_errno : -neg_errno;
  const char* code = uv_err_name(e);
  std::string message = std::string(code) + ": " + uv_strerror(e) + ", " + syscall;
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  err.Set("errno", Napi::Number::New(env, e));
  err.Set("syscall", Napi::String::New(env, syscall));
  return err;
}

void throw_type(Napi::Env env, const char* message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
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
    Napi::Value v = arr.Get(k);
    if (!v.IsNumber()) return false;
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

}  // namespace

class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env env, Napi::Object exports) {
    Napi::Object testing = Napi::Object::New(env);
    testing.Set("parseInetDiag", Napi::Function::New(env, ParseInetDiag, "parseInetDiag"));
    testing.Set("parseUnixDiag", Napi::Function::New(env, ParseUnixDiag, "parseUnixDiag"));
    testing.Set("parseProcStat", Napi::Function::New(env, ParseProcStat, "parseProcStat"));
    DefineAddon(exports, {
                             InstanceMethod("inetDump", &Addon::InetDump),
                             InstanceMethod("unixDump", &Addon::UnixDump),
                             InstanceMethod("findOwners", &Addon::FindOwners),
                             InstanceMethod("findOwnersAsync", &Addon::FindOwnersAsync),
                             InstanceMethod("processInfo", &Addon::ProcessInfoJs),
                             InstanceMethod("bootId", &Addon::BootId),
                             InstanceValue("testing", testing),
                         });
  }

 private:
  std::string boot_id_;  // per environment, read once
  ProbeCache cache_;     // the netlink socket reused by synchronous probes

 public:
  ~Addon() { probe_cache_close(cache_); }

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
    int r = inet_dump(&cache_, uint16_t(port), protocols, states, list);
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
      r = unix_dump(false, 0, 0, path.substr(1), list);
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
      r = unix_dump(true, kdev, uint32_t(st.st_ino), std::string(), list);
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

  // testing.parseInetDiag(buf, seq, port) -> {status, sockets}
  static Napi::Value ParseInetDiag(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t seq, port;
    if (info.Length() < 3 || !info[0].IsBuffer() || !get_uint(info, 1, 0xffffffffu, seq) ||
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
    if (info.Length() < 2 || !info[0].IsBuffer() || !get_uint(info, 1, 0xffffffffu, seq)) {
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

  static Napi::Value ParseProcStat(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsBuffer()) {
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
};

}  // namespace pw

using PortwardenAddon = pw::Addon;
NODE_API_ADDON(PortwardenAddon)

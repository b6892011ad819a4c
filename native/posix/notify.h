// sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET. Plain C++, no napi.
#pragma once

#include <string>

namespace pw {

// Sends `message` as one datagram to the AF_UNIX SOCK_DGRAM socket at `path`. A leading
// '@' names a socket in the Linux abstract namespace (sent with a leading NUL byte).
// Returns 0, or -errno: -EINVAL (empty path or message, NUL in path, abstract name
// outside Linux), -ENAMETOOLONG (path does not fit sun_path), or what socket/sendto set;
// `failed` names the system call ("socket" or "sendto"; "sendto" for the -EINVAL and
// -ENAMETOOLONG of a destination it could not be sent to).
int notify_send(const std::string& path, const std::string& message, const char*& failed);

}  // namespace pw

#!/usr/bin/env bash
# Builds the addon with AddressSanitizer + UndefinedBehaviorSanitizer into
# build-asan/build/Release/portwarden.node, leaving build/Release (the release build) and
# build-testing/ (the suite's usual addon) untouched. Like build-testing/, it is a testing
# build (binding.gyp portwarden_testing=1): the suite uses its `testing` exports and
# PORTWARDEN_FAULT. node-gyp runs in a staging directory, build-asan/, that holds a copy of
# binding.gyp and symlinks to native/ and node_modules/.
#
# Load it with PORTWARDEN_ADDON_PATH=build-asan/build/Release/portwarden.node and the
# sanitizer runtime preloaded into node (see scripts/test-asan.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
stage=$root/build-asan

mkdir -p "$stage"
cp binding.gyp "$stage/binding.gyp"
ln -sfn "$root/native" "$stage/native"
ln -sfn "$root/node_modules" "$stage/node_modules"

# g++ with libasan + libubsan (Debian: g++, which brings libasan8 and libubsan1). The same
# runtime as `c++ -fsanitize=address` programs that tests build themselves, so those run
# beside the preloaded one. build-asan/runtime names the runtime to preload into node.
flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1"
ldflags="-fsanitize=address,undefined"
export CC=gcc CXX=g++ LINK=g++
runtime=$(g++ -print-file-name=libasan.so)
if [ ! -f "$runtime" ]; then
	echo "build-asan: $runtime not found (Debian: g++ brings libasan8)" >&2
	exit 1
fi
# Node's headers: npm's nodedir setting when run through npm, else the system's, else
# node-gyp downloads them.
nodedir=()
if [ -n "${npm_config_nodedir:-}" ]; then
	nodedir=(--nodedir="$npm_config_nodedir")
elif [ -f /usr/include/node/node_api.h ]; then
	nodedir=(--nodedir=/usr)
fi
cd "$stage"
# -j 2: the machine has two cores shared with other work.
CFLAGS="$flags" CXXFLAGS="$flags" LDFLAGS="$ldflags" \
	node "$root/node_modules/node-gyp/bin/node-gyp.js" rebuild "${nodedir[@]}" -j 2 --loglevel=warn \
	-- -Dportwarden_testing=1 >/dev/null
test -f "$stage/build/Release/portwarden.node"
echo "$runtime" >"$stage/runtime"
echo "build-asan: $stage/build/Release/portwarden.node"

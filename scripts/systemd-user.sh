#!/usr/bin/env bash
# A private systemd user manager for tests.
#
#   scripts/systemd-user.sh start [STATE_DIR]  start one; prints the env lines (KEY=VALUE)
#   scripts/systemd-user.sh env STATE_DIR      print the env lines again
#   scripts/systemd-user.sh stop STATE_DIR     stop exactly the manager started there
#
# STATE_DIR (default: a new /tmp/portwarden-systemd.XXXXXX) holds
#   runtime/          XDG_RUNTIME_DIR of the manager (mode 0700)
#   config/           XDG_CONFIG_HOME of the manager: put units in config/systemd/user
#   state             pid and env of the manager (KEY=VALUE lines)
#   manager.log       its stdout and stderr
# Clients need XDG_RUNTIME_DIR (and, for `systemctl --user`, nothing else: without
# DBUS_SESSION_BUS_ADDRESS systemctl talks to $XDG_RUNTIME_DIR/systemd/private).
#
# When run as root with a writable cgroup tree the manager is started in its own cgroup
# (/portwarden-systemd-<id>), so it manages only that subtree and leaves the others alone.
# As a non-root user systemd --user needs a cgroup delegated to it (what user@.service
# provides); run the tests as root (CI does: sudo -E npm test).
set -euo pipefail

die() {
	echo "systemd-user.sh: $*" >&2
	exit 1
}

find_systemd() {
	local candidate
	for candidate in /lib/systemd/systemd /usr/lib/systemd/systemd; do
		if [[ -x $candidate ]]; then
			echo "$candidate"
			return 0
		fi
	done
	die "systemd is not installed (no /lib/systemd/systemd); install it with: apt-get install -y systemd"
}

as_root() {
	if [[ $(id -u) == 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
		sudo -n "$@"
	else
		return 1
	fi
}

# Running and not a zombie.
alive() {
	[[ -r /proc/$1/stat ]] || return 1
	local state
	state=$(sed 's/^.*) \(.\).*$/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ $state != Z && $state != X ]]
}

state_value() {
	sed -n "s/^$2=//p" "$1/state" | head -n 1
}

print_env() {
	local dir=$1
	[[ -f $dir/state ]] || die "no manager state in $dir"
	echo "XDG_RUNTIME_DIR=$(state_value "$dir" XDG_RUNTIME_DIR)"
	echo "XDG_CONFIG_HOME=$(state_value "$dir" XDG_CONFIG_HOME)"
	echo "SYSTEMD_USER_PID=$(state_value "$dir" PID)"
	echo "SYSTEMD_USER_STATE=$dir"
}

# The cgroup hierarchies a private manager is moved into (v2 and the v1 name=systemd one).
cgroup_roots() {
	if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
		echo /sys/fs/cgroup # unified
	else
		[[ -d /sys/fs/cgroup/unified ]] && echo /sys/fs/cgroup/unified
		[[ -d /sys/fs/cgroup/systemd ]] && echo /sys/fs/cgroup/systemd
	fi
	return 0
}

start() {
	local dir=${1:-}
	local systemd
	systemd=$(find_systemd)
	if [[ ! -d /run/systemd/system ]]; then
		as_root mkdir -p /run/systemd/system ||
			die "/run/systemd/system is missing and cannot be created (needs root); systemd --user refuses to start without it"
	fi

	if [[ -z $dir ]]; then
		dir=$(mktemp -d /tmp/portwarden-systemd.XXXXXX)
	fi
	mkdir -p "$dir/runtime" "$dir/config/systemd/user"
	chmod 0700 "$dir" "$dir/runtime"
	dir=$(cd "$dir" && pwd)

	# Own cgroup when we may create one (root, writable cgroupfs); otherwise the manager
	# stays in the current one.
	local cgroup="" root created=()
	if [[ $(id -u) == 0 ]]; then
		cgroup="/$(basename "$dir" | tr -c 'A-Za-z0-9_\n' '-')"
		for root in $(cgroup_roots); do
			if mkdir "$root$cgroup" 2>/dev/null; then
				created+=("$root$cgroup")
			else
				cgroup=""
				break
			fi
		done
		if [[ -z $cgroup ]]; then
			for root in "${created[@]}"; do
				rmdir "$root" 2>/dev/null || true
			done
		fi
	fi

	rm -f "$dir/pid"
	local enter="echo \$\$ > '$dir/pid'; "
	if [[ -n $cgroup ]]; then
		for root in $(cgroup_roots); do
			enter+="echo \$\$ > '$root$cgroup/cgroup.procs' 2>/dev/null || true; "
		done
	fi

	# setsid: its own session, so the manager does not share our terminal or process group.
	env -u DBUS_SESSION_BUS_ADDRESS -u NOTIFY_SOCKET -u INVOCATION_ID \
		XDG_RUNTIME_DIR="$dir/runtime" XDG_CONFIG_HOME="$dir/config" \
		setsid sh -c "${enter}exec '$systemd' --user" \
		</dev/null >"$dir/manager.log" 2>&1 &
	local launcher=$! pid="" i
	# The launcher writes its own pid before it execs systemd (setsid may have forked).
	for ((i = 0; i < 200; i++)); do
		[[ -s $dir/pid ]] && pid=$(cat "$dir/pid") && break
		kill -0 "$launcher" 2>/dev/null || break
		sleep 0.05
	done
	[[ -n $pid ]] || die "could not start systemd --user; see $dir/manager.log: $(cat "$dir/manager.log" 2>/dev/null)"
	{
		echo "PID=$pid"
		echo "XDG_RUNTIME_DIR=$dir/runtime"
		echo "XDG_CONFIG_HOME=$dir/config"
		echo "CGROUP=$cgroup"
	} >"$dir/state"

	for ((i = 0; i < 200; i++)); do
		if [[ -S $dir/runtime/systemd/private ]]; then
			print_env "$dir"
			return 0
		fi
		if ! alive "$pid"; then
			cat "$dir/manager.log" >&2 || true
			local hint=""
			if [[ $(id -u) != 0 ]]; then
				hint=" (as a non-root user it needs a delegated cgroup: run this as root, or under user@.service)"
			fi
			stop "$dir" || true
			die "systemd --user (pid $pid) exited during startup$hint"
		fi
		sleep 0.05
	done
	cat "$dir/manager.log" >&2 || true
	stop "$dir" || true
	die "systemd --user did not create $dir/runtime/systemd/private within 10 s"
}

# Kills what is left in our private cgroup (processes the manager started) after it exited.
kill_cgroup_leftovers() {
	local cgroup=$1 root pid
	[[ -n $cgroup ]] || return 0
	for root in $(cgroup_roots); do
		[[ -d $root$cgroup ]] || continue
		while read -r pid; do
			[[ -n $pid ]] && kill -KILL "$pid" 2>/dev/null || true
		done < <(find "$root$cgroup" -name cgroup.procs -exec cat {} + 2>/dev/null)
	done
	sleep 0.1
	for root in $(cgroup_roots); do
		[[ -d $root$cgroup ]] || continue
		# Depth first: a cgroup can only be removed once its children are gone.
		find "$root$cgroup" -depth -type d -exec rmdir {} \; 2>/dev/null || true
	done
}

stop() {
	local dir=${1:-}
	[[ -n $dir ]] || die "usage: systemd-user.sh stop STATE_DIR"
	[[ -f $dir/state ]] || die "no manager state in $dir"
	local pid cgroup
	pid=$(state_value "$dir" PID)
	cgroup=$(state_value "$dir" CGROUP)
	# Only signal the pid if it is still our manager (not a reused pid).
	if [[ -n $pid ]] && [[ -r /proc/$pid/cmdline ]] &&
		tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- 'systemd --user'; then
		kill -TERM "$pid" 2>/dev/null || true
		local i
		for ((i = 0; i < 200; i++)); do
			alive "$pid" || break
			sleep 0.05
		done
		if alive "$pid"; then
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	kill_cgroup_leftovers "$cgroup"
	rm -rf "$dir"
}

case ${1:-} in
start) start "${2:-}" ;;
env) print_env "${2:?usage: systemd-user.sh env STATE_DIR}" ;;
stop) stop "${2:-}" ;;
*)
	echo "usage: systemd-user.sh start [STATE_DIR] | env STATE_DIR | stop STATE_DIR" >&2
	exit 64
	;;
esac

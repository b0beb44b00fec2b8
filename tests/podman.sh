#!/usr/bin/env bash
# Podman's Docker-compatible API as a second host engine for the e2e tests
# (tests/e2e_access.rs): Debian's podman, rootful, serving
# `podman system service` on its own unix socket.
#
#   eval "$(bash tests/podman.sh up)"   install podman if missing, start the
#                                       service; prints `export
#                                       BERTH_TEST_PODMAN_SOCK=...` and
#                                       BERTH_TEST_PODMAN_STARTED=0|1
#   bash tests/podman.sh down           stop the service `up` started
#   bash tests/podman.sh status
#
# The service is private to the tests, like the private dockerd of
# tests/engine.sh: its own storage root, run root, temp dir, CNI config dir
# and containers.conf (never /etc/containers or /var/lib/containers), and
# its own network namespace (`unshare --net`), so the bridge and firewall
# rules it makes for containers never touch the host's. Its socket is what
# podman makes: root:root, mode 0600 (the host a Docker Desktop or rootful
# Podman user has: no group can be granted).
#
# This machine's capability bounding set lacks CAP_SYS_RESOURCE, so the
# limits podman gives containers by default (RLIMIT_NOFILE 1048576) cannot
# be set ("error setting rlimit type 7: operation not permitted"); the
# service's containers.conf sets them to the hard limits the service has.
#
# BERTH_TEST_PROVISION=0: never install packages or start the service.
set -euo pipefail
# shellcheck source=tests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BERTH_LOG_TAG=podman

RUN_DIR=${BERTH_TEST_RUN_DIR:-/run/berth-test}
ROOT=${BERTH_TEST_PODMAN_ROOT:-/var/lib/berth-test/podman}
SOCKET="$RUN_DIR/podman.sock"
PIDFILE="$RUN_DIR/podman.pid"
LOGFILE="$RUN_DIR/podman.log"
CONF="$RUN_DIR/podman-containers.conf"
READY_TIMEOUT=60
STOP_TIMEOUT=20
PACKAGES=(podman containernetworking-plugins conmon runc curl)

alive() { [[ -r /proc/$1/cmdline ]] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -qF -- "--root $ROOT"; }
not_alive() { ! alive "$1"; }

service_pid() {
	local pid
	[[ -s $PIDFILE ]] || return 1
	pid=$(<"$PIDFILE")
	alive "$pid" || return 1
	printf '%s\n' "$pid"
}

answers() {
	[[ -S $SOCKET ]] && timeout 10 curl -fsS --unix-socket "$SOCKET" http://podman/_ping >/dev/null 2>&1
}

write_conf() {
	local nofile nproc
	nofile=$(ulimit -Hn)
	# podman 4.3 lowers its own RLIMIT_NPROC to 32768 at start (measured:
	# /proc/PID/limits of the service), so no more than that.
	nproc=$(ulimit -Hu)
	[[ $nproc == unlimited || $nproc -gt 32768 ]] && nproc=32768
	cat >"$CONF" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
}

up() {
	local started=0
	if ! service_pid >/dev/null || ! answers; then
		[[ ${BERTH_TEST_PROVISION:-1} != 0 ]] || die "podman's service is not running and BERTH_TEST_PROVISION=0 forbids starting it"
		is_root || die "podman's service is not running and starting it (rootful) needs root"
		apt_install "${PACKAGES[@]}"
		mkdir -p "$RUN_DIR/podman-run" "$RUN_DIR/podman-tmp" "$RUN_DIR/podman-cni" "$ROOT"
		write_conf
		rm -f "$SOCKET"
		log "starting podman system service on unix://$SOCKET (log: $LOGFILE)"
		CONTAINERS_CONF=$CONF setsid nohup unshare --net -- podman \
			--root "$ROOT" --runroot "$RUN_DIR/podman-run" --tmpdir "$RUN_DIR/podman-tmp" \
			--network-config-dir "$RUN_DIR/podman-cni" \
			system service --time=0 "unix://$SOCKET" >"$LOGFILE" 2>&1 </dev/null &
		echo $! >"$PIDFILE"
		if ! wait_until "$READY_TIMEOUT" "podman's socket to answer" answers; then
			tail -n 30 "$LOGFILE" >&2
			die "podman's service did not answer within ${READY_TIMEOUT}s (log above)"
		fi
		started=1
		log "podman $(podman --version | awk '{print $3}') ready (pid $(<"$PIDFILE"))"
	else
		log "podman's service already runs (pid $(service_pid))"
	fi
	printf 'export BERTH_TEST_PODMAN_SOCK=%q\n' "$SOCKET"
	printf 'export BERTH_TEST_PODMAN_STARTED=%d\n' "$started"
}

down() {
	local pid
	if ! pid=$(service_pid); then
		log "podman's service is not running; nothing to stop"
		return 0
	fi
	log "stopping podman's service (pid $pid)"
	kill -TERM "$pid"
	if ! wait_until "$STOP_TIMEOUT" "podman $pid to exit" not_alive "$pid"; then
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$PIDFILE" "$SOCKET"
	log "podman's service stopped (storage $ROOT kept)"
}

status() {
	if pid=$(service_pid) && answers; then
		log "podman's service runs: pid $pid, unix://$SOCKET"
	else
		log "podman's service is not running"
	fi
}

case ${1:-} in
up) up ;;
down) down ;;
status) status ;;
*) die "usage: $0 up|down|status" ;;
esac

#!/usr/bin/env bash
# A Docker engine for the end-to-end tests.
#
#   eval "$(bash tests/engine.sh up)"   make an engine available; prints
#                                       `export DOCKER_HOST=...` (and
#                                       BERTH_TEST_ENGINE_STARTED=0|1) on stdout
#   bash tests/engine.sh down           stop the engine `up` started, if any
#   bash tests/engine.sh status         say which engine `up` would use
#
# `up` uses an engine that already answers (DOCKER_HOST, then the default
# socket; the default socket is passed over when the bounding set is short,
# see below). Only when there is none, and we are root, does it install Debian's
# docker.io and the other packages the tests need, then start a PRIVATE
# dockerd: its own socket, data root, exec root, pidfile, bridge and address
# pools, configured by a file generated here (never /etc/docker/daemon.json),
# so a user's engine and its configuration are never touched.
#
# Where this machine's capability bounding set is not full, `--privileged`
# containers cannot start ("unable to apply caps: operation not permitted");
# the private engine then runs every container through tests/tools/runc-capbnd,
# which trims the OCI spec to the bounding set before calling runc.
#
# `up` exits non-zero with the reason on stderr when no engine can be had.
# BERTH_TEST_PROVISION=0: never install packages or start a dockerd; use an
# engine that already answers, or fail.
# BERTH_TEST_ENGINE=private: always the private engine, even when another
# answers (on a machine where others start and stop engines at the default
# socket, or to keep test images out of your own engine).
set -euo pipefail
# shellcheck source=tests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BERTH_LOG_TAG=engine

RUN_DIR=${BERTH_TEST_RUN_DIR:-/run/berth-test}
# Images and build cache survive `down`, so the next run starts warm.
DATA_ROOT=${BERTH_TEST_DATA_ROOT:-/var/lib/berth-test/docker}
SOCKET="$RUN_DIR/docker.sock"
PRIVATE_HOST="unix://$SOCKET"
PIDFILE="$RUN_DIR/dockerd.pid"
CONFIG="$RUN_DIR/daemon.json"
LOGFILE="$RUN_DIR/dockerd.log"
# A bridge of our own, with addresses unlikely to collide with a user's engine
# (docker0, 172.17/16). pick_subnets chooses the first free pair, so a private
# engine nested inside a container of another one does not take its parent's
# subnet (then replies, DNS first, are routed into the wrong bridge).
BRIDGE=${BERTH_TEST_BRIDGE:-berthtest0}
BRIDGE_CIDR=${BERTH_TEST_BRIDGE_CIDR:-}
ADDRESS_POOL=${BERTH_TEST_ADDRESS_POOL:-}
READY_TIMEOUT=${BERTH_TEST_ENGINE_TIMEOUT:-90}
STOP_TIMEOUT=30
SHIM="$BERTH_REPO/tests/tools/runc-capbnd"

# What the tests need on a fresh Debian machine. python3 runs the runtime shim.
PACKAGES=(docker.io containerd runc iptables iproute2 uidmap rootlesskit slirp4netns
	debootstrap debian-archive-keyring tini dumb-init catatonit busybox-static
	fuse-overlayfs hyperfine python3 ca-certificates procps)

# bounding_set_is_full: does our CapBnd hold every capability the kernel has?
bounding_set_is_full() {
	local bnd last want
	bnd=$(awk '/^CapBnd:/ {print $2}' /proc/self/status)
	last=$(cat /proc/sys/kernel/cap_last_cap)
	want=$(((1 << (last + 1)) - 1))
	(((16#$bnd & want) == want))
}

# alive PID: running, not merely a zombie nobody has reaped (kill -0 says yes
# to those; in a container whose PID 1 does not reap, that is forever).
alive() {
	local state
	# The state follows the last ')': the command name may hold spaces.
	state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
	[[ -n $state && $state != Z && $state != X ]]
}

not_alive() { ! alive "$1"; }

private_pid() {
	local pid
	[[ -s $PIDFILE ]] || return 1
	pid=$(<"$PIDFILE")
	# Only a dockerd that runs with our config file is ours to signal.
	[[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "--config-file $CONFIG" || return 1
	printf '%s\n' "$pid"
}

private_answers() { DOCKER_HOST=$PRIVATE_HOST engine_answers; }

write_config() {
	local runtimes='' default_runtime=''
	if ! bounding_set_is_full; then
		log "capability bounding set is not full ($(awk '/^CapBnd:/ {print $2}' /proc/self/status)): default runtime is $SHIM"
		runtimes=$(printf '"runtimes": {"capbnd": {"path": "%s"}},' "$SHIM")
		default_runtime='"default-runtime": "capbnd",'
	fi
	cat >"$CONFIG" <<EOF
{
  "hosts": ["$PRIVATE_HOST"],
  "data-root": "$DATA_ROOT",
  "exec-root": "$RUN_DIR/exec",
  "pidfile": "$PIDFILE",
  "bridge": "$BRIDGE",
  "default-address-pools": [{"base": "$ADDRESS_POOL", "size": 24}],
  "containerd-namespace": "berth-test",
  "containerd-plugins-namespace": "berth-test-plugins",
  $runtimes
  $default_runtime
  "iptables": true,
  "log-level": "info"
}
EOF
}

# pick_subnets: set BRIDGE_CIDR and ADDRESS_POOL (unless given) to the first
# candidate pair no local address or route uses yet. An existing bridge of
# ours keeps its address.
pick_subnets() {
	local existing i used
	existing=$(ip -4 -o addr show dev "$BRIDGE" 2>/dev/null | awk '{print $4}' | head -n 1 || true)
	if [[ -z $BRIDGE_CIDR && -n $existing ]]; then
		BRIDGE_CIDR=$existing
	fi
	used=$(
		ip -4 -o addr show | awk '{print $4}'
		ip -4 route show | awk '{print $1}'
	)
	for ((i = 0; i < 16; i++)); do
		if [[ -z $BRIDGE_CIDR ]] && ! grep -q "^172\.31\.$((213 + i))\." <<<"$used"; then
			BRIDGE_CIDR="172.31.$((213 + i)).1/24"
		fi
		if [[ -z $ADDRESS_POOL ]] && ! grep -q "^10\.$((213 + i))\." <<<"$used"; then
			ADDRESS_POOL="10.$((213 + i)).0.0/16"
		fi
	done
	[[ -n $BRIDGE_CIDR && -n $ADDRESS_POOL ]] || die "no free subnet for the test bridge; set BERTH_TEST_BRIDGE_CIDR and BERTH_TEST_ADDRESS_POOL"
}

ensure_bridge() {
	if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
		ip link add "$BRIDGE" type bridge
		ip addr add "$BRIDGE_CIDR" dev "$BRIDGE"
	fi
	ip link set "$BRIDGE" up
}

start_private() {
	apt_install "${PACKAGES[@]}"
	[[ -x $SHIM ]] || die "$SHIM missing or not executable"
	mkdir -p "$RUN_DIR" "$DATA_ROOT"
	if private_pid >/dev/null && private_answers; then
		log "private engine already running (pid $(private_pid)); leaving it to whoever started it"
		return 0
	fi
	# A pidfile left by an unclean stop blocks the next start.
	if [[ -e $PIDFILE ]] && ! private_pid >/dev/null; then
		rm -f "$PIDFILE"
	fi
	# So does containerd's: dockerd takes a pid that kill -0 still finds (a
	# zombie not yet reaped) for a running containerd and waits for its socket.
	local containerd_pidfile=$RUN_DIR/exec/containerd/containerd.pid containerd_pid
	if [[ -s $containerd_pidfile ]]; then
		containerd_pid=$(<"$containerd_pidfile")
		if ! alive "$containerd_pid"; then
			rm -f "$containerd_pidfile"
		fi
	fi
	pick_subnets
	write_config
	ensure_bridge
	# dockerd restores the bridge network it stored last time, address
	# included, over the one just chosen. Containers of this engine never
	# outlive a run, so its network store holds nothing worth keeping.
	rm -f "$DATA_ROOT/network/files/local-kv.db"
	log "starting private dockerd on $PRIVATE_HOST (log: $LOGFILE)"
	# setsid + nohup: the engine outlives this script, `down` stops it.
	setsid nohup dockerd --config-file "$CONFIG" >"$LOGFILE" 2>&1 </dev/null &
	local pid=$!
	local deadline=$((SECONDS + READY_TIMEOUT))
	until private_answers; do
		if ! alive "$pid"; then
			tail -n 40 "$LOGFILE" >&2
			die "dockerd exited during start (log above)"
		fi
		if ((SECONDS >= deadline)); then
			tail -n 40 "$LOGFILE" >&2
			die "dockerd did not answer within ${READY_TIMEOUT}s (log above)"
		fi
		sleep 0.2
	done
	log "private engine ready (pid $pid, $(DOCKER_HOST=$PRIVATE_HOST docker version --format '{{.Server.Version}}'))"
	STARTED=1
}

# choose: set HOST to the engine to use, starting the private engine if
# needed (then STARTED=1).
HOST=
STARTED=0
choose() {
	case ${BERTH_TEST_ENGINE:-auto} in
	auto) ;;
	private)
		log "BERTH_TEST_ENGINE=private: not looking for another engine"
		is_root || die "BERTH_TEST_ENGINE=private needs root"
		start_private
		HOST=$PRIVATE_HOST
		return 0
		;;
	*) die "BERTH_TEST_ENGINE must be auto or private, not ${BERTH_TEST_ENGINE}" ;;
	esac
	if [[ -n ${DOCKER_HOST:-} ]]; then
		if engine_answers; then
			log "using the engine at DOCKER_HOST=$DOCKER_HOST"
			HOST=$DOCKER_HOST
			return 0
		fi
		log "DOCKER_HOST=$DOCKER_HOST does not answer; looking further"
	fi
	if [[ -S /var/run/docker.sock ]] && DOCKER_HOST=unix:///var/run/docker.sock engine_answers; then
		# With a short bounding set only an engine running runc-capbnd can
		# start --privileged containers, and a stock engine does not. An
		# explicit DOCKER_HOST is taken as is; the default socket is not,
		# when we may start the private engine instead.
		if bounding_set_is_full || ! is_root || [[ ${BERTH_TEST_PROVISION:-1} == 0 ]]; then
			bounding_set_is_full || log "warning: short capability bounding set; --privileged containers fail on this engine unless it runs tests/tools/runc-capbnd"
			log "using the engine at /var/run/docker.sock"
			HOST=unix:///var/run/docker.sock
			return 0
		fi
		log "/var/run/docker.sock answers, but the capability bounding set is short and --privileged needs tests/tools/runc-capbnd: using the private engine"
	fi
	[[ ${BERTH_TEST_PROVISION:-1} != 0 ]] || die "no Docker engine answers and BERTH_TEST_PROVISION=0 forbids starting one"
	is_root || die "no Docker engine answers and not root: cannot provision one (set DOCKER_HOST, or run as root)"
	start_private
	HOST=$PRIVATE_HOST
}

# up: stdout is shell for eval: DOCKER_HOST, and BERTH_TEST_ENGINE_STARTED=1
# when this call started the private engine (so the caller owns its `down`).
up() {
	choose
	printf 'export DOCKER_HOST=%q\n' "$HOST"
	printf 'export BERTH_TEST_ENGINE_STARTED=%d\n' "$STARTED"
}

down() {
	local pid
	if ! pid=$(private_pid); then
		log "no private engine running; nothing to stop"
		return 0
	fi
	log "stopping private dockerd (pid $pid)"
	kill -TERM "$pid"
	if ! wait_until "$STOP_TIMEOUT" "dockerd $pid to exit" not_alive "$pid"; then
		log "dockerd ignored SIGTERM for ${STOP_TIMEOUT}s; SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$PIDFILE"
	if ip link show "$BRIDGE" >/dev/null 2>&1; then
		ip link delete "$BRIDGE" || log "could not delete bridge $BRIDGE"
	fi
	log "private engine stopped (data root $DATA_ROOT kept)"
}

status() {
	if pid=$(private_pid); then
		log "private engine running: pid $pid, $PRIVATE_HOST"
	else
		log "private engine not running"
	fi
	if [[ -n ${DOCKER_HOST:-} ]] && engine_answers; then
		log "DOCKER_HOST=$DOCKER_HOST answers"
	fi
	if [[ -S /var/run/docker.sock ]] && DOCKER_HOST=unix:///var/run/docker.sock engine_answers; then
		log "/var/run/docker.sock answers"
	fi
}

case ${1:-} in
up) up ;;
down) down ;;
status) status ;;
*) die "usage: $0 up|down|status" ;;
esac

#!/bin/bash
# The cases of the berth test guest (tests/vm/guest.sh), run inside it by
# guest-init.sh against the guest's dockerd. Each outer container is the
# workspace image `--privileged` with berth as PID 1 (the berth under test is
# bind-mounted from the shared folder over /usr/local/bin/berth) and
# /var/lib/docker on a volume. Each case writes one line:
#
#   BERTH-CASE <name>@<flavour> PASS|FAIL <detail>
#
# for each flavour of the workspace image named in in/flavours (bookworm:
# docker.io 20.10 inside; trixie: 26.x), with three outer containers:
#   default cgroupns:  cgroupns-default, apparmor-default, limits, dockerd-restart
#   --cgroupns=private: cgroupns-private, stop-graceful
#   --cgroupns=host:    cgroupns-host
# The cgroupns-* cases run an inner container with --memory 64m and
# --pids-limit 50 and read both limits back (limits does the same on its
# own line). Inner runs other than apparmor-default's pass --security-opt
# apparmor=unconfined, so each case shows its own fault and not AppArmor's.
set -u
SHARE=${BERTH_VM_SHARE:-/mnt/berth-vm}
OUT=$SHARE/out
RESULTS=$OUT/results
FLAVOUR=
IMAGE=
TINY=berth-vm-tiny
UNCONFINED=(--security-opt apparmor=unconfined)
# Bounds under emulation (TCG): berth's inner dockerd takes ~20-40 s to answer,
# an inner `docker run` ~10 s.
READY_TIMEOUT=180
RUN_TIMEOUT=120

result() {
	printf '%s\n' "$*" >>"$RESULTS"
	printf '%s\n' "$*" >/dev/console
}

# one_line TEXT: TEXT on one line, at most 400 characters.
one_line() { tr '\n\t' '  ' | tr -s ' ' | cut -c1-400; }

pass() { result "BERTH-CASE $1@$FLAVOUR PASS $(printf '%s' "${*:2}" | one_line)"; }
fail() { result "BERTH-CASE $1@$FLAVOUR FAIL $(printf '%s' "${*:2}" | one_line)"; }

uptime_s() { cut -d' ' -f1 /proc/uptime; }

# The outer container's entrypoint: berth (the binary under test), or a
# reference script given with BERTH_VM_REFERENCE.
if [ -x "$SHARE/in/reference" ]; then
	ENTRY=(--entrypoint /berth-vm/reference)
else
	ENTRY=(-v "$SHARE/in/berth:/usr/local/bin/berth:ro")
fi

# start_outer NAME DOCKER-RUN-ARGS...: the workspace container, detached.
start_outer() {
	local name=$1
	shift
	docker volume create "$name-data" >/dev/null
	timeout 120 docker run -d --name "$name" --privileged -v "$name-data:/var/lib/docker" \
		-v "$SHARE/in:/berth-vm:ro" "${ENTRY[@]}" "$@" "$IMAGE" sleep infinity \
		>"$OUT/$name.run.log" 2>&1
}

# inner_ready NAME: wait for the outer container's dockerd to answer, then
# import the tiny image into it. On failure, prints why.
inner_ready() {
	local name=$1 deadline=$((SECONDS + READY_TIMEOUT)) err
	while ! err=$(timeout 30 docker exec "$name" docker version --format '{{.Server.Version}}' 2>&1); do
		if [ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" != true ]; then
			echo "outer container exited ($(docker inspect -f '{{.State.ExitCode}}' "$name" 2>&1)): $(docker logs "$name" 2>&1 | tail -n 5)"
			return 1
		fi
		if ((SECONDS >= deadline)); then
			echo "inner dockerd did not answer in ${READY_TIMEOUT}s: $err"
			return 1
		fi
		sleep 1
	done
	echo "inner engine $err ready at $(uptime_s)s"
	timeout 60 docker exec "$name" docker import /berth-vm/tiny.tar "$TINY" >/dev/null 2>"$OUT/$name.import.log" ||
		{
			echo "docker import of the tiny image failed: $(cat "$OUT/$name.import.log")"
			return 1
		}
}

# inner NAME DOCKER-ARGS...: docker in the outer container, bounded.
inner() {
	local name=$1
	shift
	timeout "$RUN_TIMEOUT" docker exec "$name" docker "$@"
}

# keep_logs NAME: the outer container's log (berth's and its dockerd's).
keep_logs() {
	docker logs "$1" >"$OUT/$1.log" 2>&1
}

remove_outer() {
	keep_logs "$1"
	timeout 60 docker rm -f -v "$1" >/dev/null 2>&1
	timeout 60 docker volume rm "$1-data" >/dev/null 2>&1
}

# run_limited CASE NAME: an inner `docker run --rm` (unconfined) with
# --memory 64m --pids-limit 50 prints ok and finds both limits in its cgroup:
# the engine works in this cgroupns variant and the controllers reached it.
run_limited() {
	local case=$1 name=$2 out want='ok 67108864 50'
	if out=$(inner "$name" run --rm "${UNCONFINED[@]}" --memory 64m --pids-limit 50 "$TINY" \
		sh -c 'echo ok; cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max' 2>&1) &&
		[ "$(printf '%s' "$out" | tr '\n' ' ' | xargs)" = "$want" ]; then
		pass "$case" "inner run printed ok, memory.max 67108864, pids.max 50; outer /proc/1/cgroup: $(docker exec "$name" cat /proc/1/cgroup 2>&1)"
	else
		fail "$case" "want '$want' from an inner run with --memory 64m --pids-limit 50, got: $out"
	fi
}

# --- default cgroupns: cgroupns-default, apparmor-default, limits, dockerd-restart
container_default() {
	local name=vm-default-$FLAVOUR why out
	if ! start_outer "$name"; then
		why="docker run: $(cat "$OUT/$name.run.log")"
		for c in cgroupns-default apparmor-default limits dockerd-restart; do fail "$c" "$why"; done
		return
	fi
	if ! why=$(inner_ready "$name"); then
		keep_logs "$name"
		for c in cgroupns-default apparmor-default limits dockerd-restart; do fail "$c" "$why"; done
		remove_outer "$name"
		return
	fi
	echo "$name: $why"
	run_limited cgroupns-default "$name"

	# No security options from the user: the run must work. What confines it
	# is berth's decision (issue 9 part 3), taken from what the image offers:
	# with apparmor_parser in the image the inner engine can load
	# docker-default, and the container must run under it; without, it runs
	# unconfined, as under docker:dind (whose `container=docker` turns
	# AppArmor off in dockerd and containerd). `docker info` is no guide:
	# its name=apparmor says the kernel has AppArmor, not that the engine
	# applies it (26.x reports it and applies nothing without the parser).
	local secopts label parser
	secopts=$(inner "$name" info --format '{{json .SecurityOptions}}' 2>&1)
	parser=$(docker exec "$name" sh -c 'command -v apparmor_parser || echo none' 2>&1)
	if out=$(inner "$name" run --rm "$TINY" sh -c 'echo ok; cat /proc/self/attr/current' 2>&1) &&
		[ "$(printf '%s\n' "$out" | head -n 1)" = ok ]; then
		label=$(printf '%s\n' "$out" | sed -n 2p)
		if [ "$parser" = none ] || [ "$label" = 'docker-default (enforce)' ]; then
			pass apparmor-default "inner run printed ok under '$label'; apparmor_parser in the image: $parser; inner engine: $secopts"
		else
			fail apparmor-default "the image has $parser, yet the inner container runs under '$label', not docker-default (enforce); inner engine: $secopts"
		fi
	else
		fail apparmor-default "inner docker run (no security options): $out"
	fi

	local want='67108864 50'
	if out=$(inner "$name" run --rm "${UNCONFINED[@]}" --memory 64m --pids-limit 50 "$TINY" \
		cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max 2>&1) &&
		[ "$(printf '%s' "$out" | tr '\n' ' ' | xargs)" = "$want" ]; then
		pass limits "memory.max pids.max = $want"
	else
		fail limits "want memory.max pids.max = $want, got: $out"
	fi

	local before after deadline
	before=$(docker exec "$name" pgrep -x dockerd 2>&1)
	if ! docker exec "$name" kill -9 "$before" 2>"$OUT/$name.kill.log"; then
		fail dockerd-restart "kill -9 of the inner dockerd ($before): $(cat "$OUT/$name.kill.log")"
	else
		deadline=$((SECONDS + READY_TIMEOUT))
		while :; do
			after=$(docker exec "$name" pgrep -x dockerd 2>/dev/null)
			if [ -n "$after" ] && [ "$after" != "$before" ] &&
				out=$(timeout 30 docker exec "$name" docker ps -q 2>&1); then
				pass dockerd-restart "dockerd $before killed, $after answers docker ps"
				break
			fi
			if ((SECONDS >= deadline)); then
				fail dockerd-restart "no new dockerd answering docker ps ${READY_TIMEOUT}s after kill -9 of $before (now: '${after}'): $out"
				break
			fi
			sleep 1
		done
	fi
	remove_outer "$name"
}

# --- --cgroupns=private: cgroupns-private, stop-graceful
container_private() {
	local name=vm-private-$FLAVOUR why out
	if ! start_outer "$name" --cgroupns=private; then
		why="docker run: $(cat "$OUT/$name.run.log")"
		fail cgroupns-private "$why"
		fail stop-graceful "$why"
		return
	fi
	if ! why=$(inner_ready "$name"); then
		keep_logs "$name"
		fail cgroupns-private "$why"
		fail stop-graceful "$why"
		remove_outer "$name"
		return
	fi
	echo "$name: $why"
	run_limited cgroupns-private "$name"

	# An inner container that traps SIGTERM and leaves a marker on a volume.
	local marker=/var/lib/docker/volumes/$name-data/_data/volumes/marks/_data/marker
	if ! out=$(inner "$name" volume create marks 2>&1 &&
		inner "$name" run -d "${UNCONFINED[@]}" -v marks:/m "$TINY" \
			sh -c "trap 'echo clean > /m/marker; exit 0' TERM; echo up > /m/up; while true; do sleep 0.1; done" 2>&1); then
		fail stop-graceful "inner docker run -d: $out"
		remove_outer "$name"
		return
	fi
	local deadline=$((SECONDS + 60))
	until [ -f "${marker%/marker}/up" ] || ((SECONDS >= deadline)); do sleep 0.2; done
	local start took code
	start=$(date +%s.%N)
	timeout 60 docker stop "$name" >/dev/null 2>&1
	took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	code=$(docker inspect -f '{{.State.ExitCode}}' "$name" 2>&1)
	if [ "$(cat "$marker" 2>/dev/null)" = clean ]; then
		pass stop-graceful "marker written; docker stop took ${took}s, outer exit code $code"
	else
		fail stop-graceful "no marker after docker stop (${took}s, outer exit code $code; inner up: $(cat "${marker%/marker}/up" 2>&1))"
	fi
	remove_outer "$name"
}

# --- --cgroupns=host: the Kubernetes privileged-pod case. Also checks that
# nothing outside the container (the guest's own dockerd) was moved.
container_host() {
	local name=vm-host-$FLAVOUR why guest_dockerd before after
	guest_dockerd=$(pgrep -xo dockerd)
	before=$(cat "/proc/$guest_dockerd/cgroup")
	if ! start_outer "$name" --cgroupns=host; then
		fail cgroupns-host "docker run: $(cat "$OUT/$name.run.log")"
		return
	fi
	if ! why=$(inner_ready "$name"); then
		keep_logs "$name"
		fail cgroupns-host "$why"
		remove_outer "$name"
		return
	fi
	echo "$name: $why"
	after=$(cat "/proc/$guest_dockerd/cgroup")
	if [ "$before" != "$after" ]; then
		fail cgroupns-host "the guest's own dockerd was moved from cgroup $before to $after"
	else
		run_limited cgroupns-host "$name"
	fi
	remove_outer "$name"
}

while read -r FLAVOUR; do
	IMAGE=berth/vm-workspace:$FLAVOUR
	echo "$FLAVOUR: cases start at $(uptime_s)s"
	container_default
	echo "$FLAVOUR: default container done at $(uptime_s)s"
	container_private
	echo "$FLAVOUR: private container done at $(uptime_s)s"
	container_host
	echo "$FLAVOUR: host container done at $(uptime_s)s"
done <"$SHARE/in/flavours"

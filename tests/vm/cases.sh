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
# docker.io 20.10 inside; trixie: 26.x), with these outer containers, in
# this order, and the host's AppArmor state each one sees:
#   default cgroupns, docker-default not loaded on the host (a Kubernetes
#     node), the image as built (with apparmor_parser):
#       cgroupns-default, apparmor-default, limits, dockerd-restart
#   --cgroupns=private, docker-default loaded by the host's engine (a Docker
#     host), the image without apparmor_parser:
#       cgroupns-private, stop-graceful, apparmor-docker-host
#   BERTH_APPARMOR=require, no profile loaded, no apparmor_parser: apparmor-require
#   --cgroupns=host, no profile loaded, no apparmor_parser:
#       cgroupns-host, apparmor-fallback
#   --cgroupns=host --pid=host (BERTH_DOCKER=dind: berth is not PID 1 there):
#       cgroupns-host-pid-host
# AppArmor profiles live in the (guest) kernel, not in a container, so the
# host's state is set before each container: docker-default unloaded, or
# loaded from the copy guest-init.sh took when the guest's own dockerd loaded
# it at boot. The cgroupns-* cases run an inner container with --memory 64m
# and --pids-limit 50 and read both limits back (limits does the same on its
# own line). Inner runs other than the apparmor-* cases' pass --security-opt
# apparmor=unconfined, so each case shows its own fault and not AppArmor's.
set -u
SHARE=${BERTH_VM_SHARE:-/mnt/berth-vm}
OUT=$SHARE/out
RESULTS=$OUT/results
FLAVOUR=
IMAGE=
TINY=berth-vm-tiny
UNCONFINED=(--security-opt apparmor=unconfined)
CONFINED='docker-default (enforce)'
# The guest's own dockerd's docker-default, as it loaded it (guest-init.sh).
HOST_PROFILE=/run/berth-vm/docker-default.profile
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
	ENTRY_PROGRAM=/berth-vm/reference
else
	ENTRY=(-v "$SHARE/in/berth:/usr/local/bin/berth:ro")
	ENTRY_PROGRAM=/usr/local/bin/berth
fi
# The same entrypoint in the image without apparmor_parser (what an image
# without Debian's apparmor package is): the parser is removed from the
# container's own layer, then the entrypoint is exec'ed as PID 1.
NO_PARSER=(--entrypoint /bin/sh)
NO_PARSER_CMD=(-c 'rm -f /usr/sbin/apparmor_parser /sbin/apparmor_parser && exec "$0" "$@"' "$ENTRY_PROGRAM" sleep infinity)

# start_outer NAME DOCKER-RUN-ARGS...: the workspace container, detached,
# berth logging at info.
start_outer() {
	local name=$1
	shift
	docker volume create "$name-data" >/dev/null
	timeout 120 docker run -d --name "$name" --privileged -v "$name-data:/var/lib/docker" \
		-e BERTH_LOG_LEVEL=info -v "$SHARE/in:/berth-vm:ro" "${ENTRY[@]}" "$@" "$IMAGE" sleep infinity \
		>"$OUT/$name.run.log" 2>&1
}

# start_outer_without_parser NAME DOCKER-RUN-ARGS...: the same, in the image
# without apparmor_parser.
start_outer_without_parser() {
	local name=$1
	shift
	docker volume create "$name-data" >/dev/null
	timeout 120 docker run -d --name "$name" --privileged -v "$name-data:/var/lib/docker" \
		-e BERTH_LOG_LEVEL=info -v "$SHARE/in:/berth-vm:ro" "${ENTRY[@]}" "${NO_PARSER[@]}" "$@" \
		"$IMAGE" "${NO_PARSER_CMD[@]}" >"$OUT/$name.run.log" 2>&1
}

# host_apparmor unloaded|loaded: the host as a Kubernetes node (no engine
# loaded docker-default) or as a Docker host (its engine did).
host_apparmor() {
	case $1 in
	unloaded)
		if grep -q '^docker-default ' /sys/kernel/security/apparmor/profiles; then
			printf 'docker-default' >/sys/kernel/security/apparmor/.remove
		fi
		;;
	loaded) apparmor_parser -Kr <"$HOST_PROFILE" ;;
	esac
	echo "$FLAVOUR: host AppArmor $1: docker-default $(grep -c '^docker-default ' /sys/kernel/security/apparmor/profiles)"
}

# berth_apparmor NAME: berth's AppArmor decision, the first line of its log
# about it (check="apparmor").
berth_apparmor() {
	docker logs "$1" 2>&1 | grep -m1 'check="apparmor"' | sed 's/^.*berth::docker::finding: //'
}

# apparmor_case CASE NAME WANT: an inner `docker run --rm` with no security
# options prints ok; its AppArmor label is docker-default (enforce) when WANT
# is confined and anything else when it is unconfined; berth's log line says
# the same ("inner containers run under docker-default" or "run unconfined").
apparmor_case() {
	local case=$1 name=$2 want=$3 out label said
	said=$(berth_apparmor "$name")
	if ! out=$(inner "$name" run --rm "$TINY" sh -c 'echo ok; cat /proc/self/attr/current' 2>&1) ||
		[ "$(printf '%s\n' "$out" | head -n 1)" != ok ]; then
		fail "$case" "inner docker run (no security options): $out; berth: $said"
		return
	fi
	label=$(printf '%s\n' "$out" | sed -n 2p)
	case $want:$label in
	"confined:$CONFINED" | unconfined:*)
		if [ "$want" = unconfined ] && [ "$label" = "$CONFINED" ]; then
			fail "$case" "want unconfined, the inner container runs under '$label'; berth: $said"
		elif [ "$want" = confined ] && ! grep -q "inner containers run under docker-default" <<<"$said"; then
			fail "$case" "the inner container runs under '$label' but berth's log does not say so: $said"
		elif [ "$want" = unconfined ] && ! grep -q "inner containers run unconfined" <<<"$said"; then
			fail "$case" "the inner container runs under '$label' but berth's log does not say why: $said"
		else
			pass "$case" "inner run printed ok under '$label'; berth: $said"
		fi
		;;
	*) fail "$case" "want docker-default (enforce), the inner container runs under '$label'; berth: $said" ;;
	esac
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

	# The image has apparmor_parser and the host has no docker-default: the
	# inner dockerd loads it and its containers run under it.
	apparmor_case apparmor-default "$name" confined

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
	local name=vm-private-$FLAVOUR why out c
	host_apparmor loaded
	if ! start_outer_without_parser "$name" --cgroupns=private; then
		why="docker run: $(cat "$OUT/$name.run.log")"
		for c in cgroupns-private stop-graceful apparmor-docker-host; do fail "$c" "$why"; done
		return
	fi
	if ! why=$(inner_ready "$name"); then
		keep_logs "$name"
		for c in cgroupns-private stop-graceful apparmor-docker-host; do fail "$c" "$why"; done
		remove_outer "$name"
		return
	fi
	echo "$name: $why"
	run_limited cgroupns-private "$name"

	# A Docker host (its engine loaded docker-default) and an image without
	# apparmor_parser: Debian's 20.10 applies the loaded profile; 26.x applies
	# a profile only when /sbin/apparmor_parser exists, so none.
	if [ "$FLAVOUR" = bookworm ]; then
		apparmor_case apparmor-docker-host "$name" confined
	else
		apparmor_case apparmor-docker-host "$name" unconfined
	fi

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

# --- BERTH_APPARMOR=require where nothing can confine (no profile loaded,
# no apparmor_parser): berth refuses to start dockerd and exits 69, naming
# what is missing.
container_require() {
	local name=vm-require-$FLAVOUR code logs
	host_apparmor unloaded
	if ! start_outer_without_parser "$name" -e BERTH_APPARMOR=require; then
		fail apparmor-require "docker run: $(cat "$OUT/$name.run.log")"
		return
	fi
	code=$(timeout 120 docker wait "$name" 2>&1)
	logs=$(docker logs "$name" 2>&1 | grep -m1 'BERTH_APPARMOR=require' | sed 's/^.*berth[:a-z_]*: //')
	if [ "$code" = 69 ] && grep -q 'apparmor_parser' <<<"$logs"; then
		pass apparmor-require "exit 69: $logs"
	else
		fail apparmor-require "want exit 69 naming apparmor_parser, got exit '$code': $logs"
	fi
	remove_outer "$name"
}

# outer_cgroup NAME: the outer container's cgroup as the guest sees it
# (berth's, without the init/ it nested itself into).
outer_cgroup() {
	local pid
	pid=$(docker inspect -f '{{.State.Pid}}' "$1")
	sed -n 's/^0:://p' "/proc/$pid/cgroup" | sed 's:/init$::'
}

# host_cgroupns_case CASE NAME GUEST_DOCKERD ITS_CGROUP ROOT_PROCS: in the
# host's cgroup namespace the inner engine works, the limits apply, and the
# inner containers' cgroups are inside the outer container's (not at the
# host's /docker); nothing outside the container was moved: the guest's own
# dockerd, the processes of the guest's root cgroup. Then the outer container
# is removed, and its cgroup must be gone with it (nothing berth nested there
# is left behind).
host_cgroupns_case() {
	local case=$1 name=$2 guest_dockerd=$3 before=$4 root_before=$5 outer inner want='ok 67108864 50' pid moved= verdict detail
	outer=$(outer_cgroup "$name")
	verdict=FAIL
	if [ "$before" != "$(cat "/proc/$guest_dockerd/cgroup")" ]; then
		detail="the guest's own dockerd was moved from cgroup $before to $(cat "/proc/$guest_dockerd/cgroup")"
	else
		for pid in $root_before; do
			[ -d "/proc/$pid" ] || continue
			grep -qx "$pid" /sys/fs/cgroup/cgroup.procs || moved="$moved $pid:$(sed -n 's/^0:://p' "/proc/$pid/cgroup")"
		done
		# --cgroupns=host for the inner container too: it sees its own path.
		if [ -n "$moved" ]; then
			detail="processes of the guest's root cgroup were moved:$moved"
		elif ! inner=$(inner "$name" run --rm "${UNCONFINED[@]}" --cgroupns=host --memory 64m --pids-limit 50 "$TINY" \
			sh -c 'p=$(sed -n "s/^0:://p" /proc/self/cgroup); echo ok; cat /sys/fs/cgroup$p/memory.max /sys/fs/cgroup$p/pids.max; echo $p' 2>&1); then
			detail="inner run: $inner"
		else
			local got path
			got=$(printf '%s\n' "$inner" | head -n 3 | xargs)
			path=$(printf '%s\n' "$inner" | sed -n 4p)
			if [ "$got" != "$want" ]; then
				detail="want '$want' from an inner run with --memory 64m --pids-limit 50, got: $inner"
			elif [ "${path#"$outer"/}" = "$path" ]; then
				detail="the inner container's cgroup $path is outside the outer container's $outer; berth: $(docker logs "$name" 2>&1 | grep -m1 'check="cgroup_nesting"')"
			else
				verdict=PASS
				detail="inner run printed ok, memory.max 67108864, pids.max 50, in cgroup $path inside the outer's $outer; berth: $(docker logs "$name" 2>&1 | grep -m1 'check="cgroup_nesting"' | sed 's/^.*finding: //' | cut -c1-200)"
			fi
		fi
	fi
	remove_outer "$name"
	if [ -n "$outer" ] && [ -d "/sys/fs/cgroup$outer" ]; then
		verdict=FAIL
		detail="cgroup $outer outlived the removed container: $(find "/sys/fs/cgroup$outer" -name cgroup.procs | head -n 5 | xargs); $detail"
	fi
	if [ "$verdict" = PASS ]; then pass "$case" "$detail"; else fail "$case" "$detail"; fi
}

# --- --cgroupns=host: the Kubernetes privileged-pod case, and AppArmor's
# fallback (no profile loaded, no apparmor_parser).
container_host() {
	local name=vm-host-$FLAVOUR why guest_dockerd before root_before
	host_apparmor unloaded
	guest_dockerd=$(pgrep -xo dockerd)
	before=$(cat "/proc/$guest_dockerd/cgroup")
	root_before=$(cat /sys/fs/cgroup/cgroup.procs)
	if ! start_outer_without_parser "$name" --cgroupns=host; then
		why="docker run: $(cat "$OUT/$name.run.log")"
		fail cgroupns-host "$why"
		fail apparmor-fallback "$why"
		return
	fi
	if ! why=$(inner_ready "$name"); then
		keep_logs "$name"
		fail cgroupns-host "$why"
		fail apparmor-fallback "$why"
		remove_outer "$name"
		return
	fi
	echo "$name: $why"
	apparmor_case apparmor-fallback "$name" unconfined
	host_cgroupns_case cgroupns-host "$name" "$guest_dockerd" "$before" "$root_before"
}

# --- --cgroupns=host --pid=host: berth sees every process of the guest, is
# not PID 1 (so dind is asked for by name) and must still touch only its own.
container_host_pid() {
	local name=vm-hostpid-$FLAVOUR why guest_dockerd before root_before
	guest_dockerd=$(pgrep -xo dockerd)
	before=$(cat "/proc/$guest_dockerd/cgroup")
	root_before=$(cat /sys/fs/cgroup/cgroup.procs)
	if ! start_outer "$name" --cgroupns=host --pid=host -e BERTH_DOCKER=dind; then
		fail cgroupns-host-pid-host "docker run: $(cat "$OUT/$name.run.log")"
		return
	fi
	if ! why=$(inner_ready "$name"); then
		keep_logs "$name"
		fail cgroupns-host-pid-host "$why"
		remove_outer "$name"
		return
	fi
	echo "$name: $why"
	host_cgroupns_case cgroupns-host-pid-host "$name" "$guest_dockerd" "$before" "$root_before"
}

while read -r FLAVOUR; do
	IMAGE=berth/vm-workspace:$FLAVOUR
	echo "$FLAVOUR: cases start at $(uptime_s)s"
	host_apparmor unloaded
	container_default
	echo "$FLAVOUR: default container done at $(uptime_s)s"
	container_private
	echo "$FLAVOUR: private container done at $(uptime_s)s"
	container_require
	echo "$FLAVOUR: require container done at $(uptime_s)s"
	container_host
	echo "$FLAVOUR: host container done at $(uptime_s)s"
	container_host_pid
	echo "$FLAVOUR: host-pid container done at $(uptime_s)s"
done <"$SHARE/in/flavours"

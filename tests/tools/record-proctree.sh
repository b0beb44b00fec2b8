#!/bin/sh
# Record the process tree berth starts in, as fixtures for the rule that
# decides whether berth is a container's init (tests/fixtures/proctree/).
#
#   record-proctree.sh snapshot OUT -- COMMAND...
#       (inside the container, in berth's place) write what berth would see
#       at its start into OUT, then exec COMMAND (berth) with the same pid,
#       parent and environment:
#         OUT/self              this pid (berth's, after the exec)
#         OUT/chain             pids from self up through its parents to 0
#         OUT/<pid>/cmdline     /proc/<pid>/cmdline (NUL-separated, as is)
#         OUT/<pid>/stat        /proc/<pid>/stat
#         OUT/<pid>/status      /proc/<pid>/status
#         OUT/<pid>/comm        /proc/<pid>/comm
#         (for self, every ancestor, and PID 1 even when it is no ancestor)
#         OUT/self-mountinfo    /proc/self/mountinfo
#         OUT/self-cgroup, OUT/1-cgroup
#         OUT/environ-names     the names (not the values) of self's environment
#         OUT/markers           /.dockerenv, /run/.containerenv: present or absent
#       self's cmdline is this script's (`/bin/sh .../record-proctree.sh
#       snapshot ...`); everything else is exactly what berth sees.
#       On a host (RECORD_HOST=1) only shells and login programs keep their
#       cmdline (others get cmdline.redacted: a host's daemons carry
#       arguments that are nobody's business), and the environment's names
#       are not recorded.
#
#   record-proctree.sh record [CASE...]
#       (on the host, with DOCKER_HOST, BERTH_IMAGE and, for the
#       devcontainer-cli case, BERTH_DEVCONTAINER_CLI) run each case and
#       write tests/fixtures/proctree/CASE/. Cases: docker-run,
#       docker-run-init, k8s-pod, k8s-shared-pid, envbuilder-exec,
#       envbuilder-sh, devcontainer-cli, host-shell, host-login-shell.
set -eu

snapshot_proc() {
	pid=$1 out=$2
	[ -d "/proc/$pid" ] || return 0
	mkdir -p "$out/$pid"
	for f in stat status comm; do
		cat "/proc/$pid/$f" >"$out/$pid/$f" 2>/dev/null || true
	done
	if [ "${RECORD_HOST:-0}" = 1 ] && ! grep -Eqx -- '-?(sh|bash|dash|zsh|su|sshd|login|systemd|init|sudo)' "$out/$pid/comm"; then
		echo "cmdline of $(cat "$out/$pid/comm") not recorded on a host" >"$out/$pid/cmdline.redacted"
	else
		cat "/proc/$pid/cmdline" >"$out/$pid/cmdline" 2>/dev/null || true
	fi
}

snapshot() {
	out=$1
	shift
	[ "${1:-}" = -- ] && shift
	mkdir -p "$out"
	self=$$
	echo "$self" >"$out/self"
	: >"$out/chain"
	pid=$self
	while [ -n "$pid" ] && [ "$pid" != 0 ]; do
		echo "$pid" >>"$out/chain"
		snapshot_proc "$pid" "$out"
		pid=$(awk '/^PPid:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
	done
	echo 0 >>"$out/chain"
	snapshot_proc 1 "$out"
	cat /proc/self/mountinfo >"$out/self-mountinfo"
	cat /proc/self/cgroup >"$out/self-cgroup"
	cat /proc/1/cgroup >"$out/1-cgroup" 2>/dev/null || true
	if [ "${RECORD_HOST:-0}" != 1 ]; then
		env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' | sort -u >"$out/environ-names"
	fi
	: >"$out/markers"
	for marker in /.dockerenv /run/.containerenv; do
		if [ -e "$marker" ]; then
			echo "$marker present" >>"$out/markers"
		else
			echo "$marker absent" >>"$out/markers"
		fi
	done
	[ $# -gt 0 ] || exit 0
	exec "$@"
}

# ------------------------------------------------------------------ record

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
fixtures="$repo/tests/fixtures/proctree"
image=${BERTH_IMAGE:-berth/workspace}
run_id=${BERTH_TEST_RUN_ID:-1}

# in_container CASE DOCKER_RUN_ARGS... -- IMAGE_AND_COMMAND...: run a
# container with this script at /rec/record-proctree.sh and a fresh /out,
# wait for it, and copy /out to the fixtures.
in_container() {
	case_name=$1
	shift
	work=$(mktemp -d)
	chmod 0777 "$work"
	docker run --rm --label "berth-test=$run_id" -v "$here:/rec:ro" -v "$work:/out" "$@" >/dev/null
	save "$case_name" "$work"
}

save() {
	rm -rf "${fixtures:?}/$1"
	mkdir -p "$fixtures"
	cp -r "$2" "$fixtures/$1"
	rm -rf "$2"
	echo "recorded $fixtures/$1" >&2
}

snap="/rec/record-proctree.sh snapshot /out --"

case_docker_run() {
	in_container docker-run --entrypoint /bin/sh "$image" -c "exec $snap /usr/local/bin/berth -- true"
}

case_docker_run_init() {
	in_container docker-run-init --init --entrypoint /bin/sh "$image" -c "exec $snap /usr/local/bin/berth -- true"
}

# A pod's container without a shared process namespace (the default): the
# runtime starts the entrypoint as PID 1; the pause container is not visible.
case_k8s_pod() {
	in_container k8s-pod -e KUBERNETES_SERVICE_HOST=10.96.0.1 -e KUBERNETES_SERVICE_PORT=443 \
		-e KUBERNETES_PORT=tcp://10.96.0.1:443 --hostname berth-workspace-7d9f \
		--entrypoint /bin/sh "$image" -c "exec $snap /usr/local/bin/berth -- true"
}

# shareProcessNamespace: true: the pause process is PID 1 and every
# container's entrypoint is started from outside the namespace (PPid 0).
case_k8s_shared_pid() {
	pause="berth-proctree-pause-$$"
	docker run -d --rm --label "berth-test=$run_id" --name "$pause" --entrypoint sleep "$image" infinity >/dev/null
	in_container k8s-shared-pid --pid "container:$pause" -e KUBERNETES_SERVICE_HOST=10.96.0.1 \
		-e KUBERNETES_SERVICE_PORT=443 --entrypoint /bin/sh "$image" -c "exec $snap /usr/local/bin/berth -- true" || true
	docker rm -f "$pause" >/dev/null
}

# envbuilder: the builder is PID 1, builds, then execs its init command
# (/bin/sh -c "$ENVBUILDER_INIT_SCRIPT") with the built image's environment.
# shellcheck disable=SC2016 # $ENVBUILDER_INIT_SCRIPT expands in the container
envbuilder() {
	case_name=$1 script=$2
	in_container "$case_name" -e ENVBUILDER_INIT_SCRIPT="$script" -e ENVBUILDER_GIT_URL=https://example.invalid/repo \
		--entrypoint /bin/sh "$image" -c 'echo "envbuilder: build done" >&2; export ENVBUILDER_DEVCONTAINER_ENV=1; exec /bin/sh -c "$ENVBUILDER_INIT_SCRIPT"'
}

# The init script execs berth: berth is PID 1.
case_envbuilder_exec() {
	envbuilder envbuilder-exec "exec $snap /usr/local/bin/berth -- true"
}

# The init script runs berth and then something else: berth is a child of
# the `sh -c` that is PID 1.
case_envbuilder_sh() {
	envbuilder envbuilder-sh "$snap /usr/local/bin/berth -- true; echo init script done"
}

# The devcontainer CLI: `devcontainer up` with the feature; berth-init.sh
# starts /usr/local/bin/berth, here a wrapper that snapshots and execs the
# real berth (bind-mounted at /opt/berth-real).
case_devcontainer_cli() {
	: "${BERTH_DEVCONTAINER_CLI:?set BERTH_DEVCONTAINER_CLI (eval \"\$(bash tests/clients.sh)\")}"
	bin=${BERTH_BIN:-$repo/target/x86_64-unknown-linux-gnu/release/berth}
	ws=$(mktemp -d /tmp/berth-proctree-dc.XXXXXX)
	work=$(mktemp -d)
	chmod 0777 "$work"
	mkdir -p "$ws/.devcontainer/berth" "$ws/tools"
	cp "$repo/devcontainer-feature/berth/devcontainer-feature.json" "$repo/devcontainer-feature/berth/install.sh" "$ws/.devcontainer/berth/"
	cp "$bin" "$ws/.devcontainer/berth/berth"
	cp "$bin" "$ws/tools/berth-real"
	printf '#!/bin/sh\nexec %s /opt/berth-real "$@"\n' "$snap" >"$ws/tools/berth"
	chmod 0755 "$ws/tools/berth"
	cat >"$ws/.devcontainer/Dockerfile" <<'EOF'
FROM debian:bookworm
RUN useradd --create-home --uid 1000 --user-group --shell /bin/bash vscode
EOF
	cat >"$ws/.devcontainer/devcontainer.json" <<EOF
{
  "build": {"dockerfile": "Dockerfile"},
  "features": {"./berth": {}},
  "mounts": [
    {"source": "$here", "target": "/rec", "type": "bind"},
    {"source": "$work", "target": "/out", "type": "bind"},
    {"source": "$ws/tools/berth", "target": "/usr/local/bin/berth", "type": "bind"},
    {"source": "$ws/tools/berth-real", "target": "/opt/berth-real", "type": "bind"}
  ],
  "remoteUser": "vscode"
}
EOF
	"$BERTH_DEVCONTAINER_CLI" up --workspace-folder "$ws" --id-label "berth-test=$run_id" \
		--id-label "berth-proctree=$$" >/dev/null
	id=$(docker ps -q --filter "label=berth-proctree=$$")
	# The snapshot is taken when berth starts; give berth-init.sh a moment.
	i=0
	while [ ! -s "$work/environ-names" ] && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	# The feature's /var/lib/docker volume is a named one: -v leaves it.
	volumes=$(docker inspect --format '{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}} {{end}}{{end}}' "$id")
	docker rm -f -v "$id" >/dev/null
	# shellcheck disable=SC2086 # one name per word
	[ -z "$volumes" ] || docker volume rm -f $volumes >/dev/null
	docker images --format '{{.Repository}}' | grep "^vsc-$(basename "$ws" | tr '[:upper:]' '[:lower:]')-" | xargs -r docker rmi -f >/dev/null
	rm -rf "$ws"
	save devcontainer-cli "$work"
}

case_host_shell() {
	work=$(mktemp -d)
	bin=${BERTH_BIN:-$repo/target/x86_64-unknown-linux-gnu/release/berth}
	RECORD_HOST=1 BERTH_DOCKER=off sh "$here/record-proctree.sh" snapshot "$work" -- "$bin" -- true
	save host-shell "$work"
}

# berth run by hand from a login shell (`su -l`: the shell is `-bash`).
case_host_login_shell() {
	work=$(mktemp -d)
	bin=${BERTH_BIN:-$repo/target/x86_64-unknown-linux-gnu/release/berth}
	su -l root -c "RECORD_HOST=1 BERTH_DOCKER=off sh '$here/record-proctree.sh' snapshot '$work' -- '$bin' -- true"
	save host-login-shell "$work"
}

record() {
	[ $# -gt 0 ] || set -- docker-run docker-run-init k8s-pod k8s-shared-pid envbuilder-exec envbuilder-sh devcontainer-cli host-shell host-login-shell
	for c in "$@"; do
		"case_$(echo "$c" | tr - _)"
	done
}

case ${1:-} in
snapshot)
	shift
	snapshot "$@"
	;;
record)
	shift
	record "$@"
	;;
*)
	echo "usage: $0 snapshot OUT -- COMMAND... | record [CASE...]" >&2
	exit 64
	;;
esac

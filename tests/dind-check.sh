#!/usr/bin/env bash
# What the engine DOCKER_HOST points at can do for docker-in-docker, measured:
#
#   bash tests/dind-check.sh
#
# Needs debian:bookworm and berth/workspace (tests/images.sh). Runs, with the
# image's dockerd started by hand (berth not involved):
#   1. a --privileged container (fails where the bounding set is short and the
#      engine has no runc-capbnd)
#   2. dockerd inside a privileged container, /var/lib/docker on a volume
#      (overlay2 expected) and on the container's overlay root (vfs expected),
#      each running a plain inner container and a --privileged one
# and prints one line per fact. Exit 0 when 1 and the plain inner containers
# work. Everything is labelled berth-test and removed at the end.
set -euo pipefail
# shellcheck source=tests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BERTH_LOG_TAG=dind-check

BASE=${BERTH_BASE_IMAGE:-debian:bookworm}
IMAGE=${BERTH_IMAGE:-berth/workspace}
NAMES=()
FAILURES=0

cleanup() {
	((${#NAMES[@]} == 0)) || docker rm -f -v "${NAMES[@]}" >/dev/null 2>&1 || true
}
trap cleanup EXIT

fact() { printf '%-38s %s\n' "$1" "$2"; }

inner_ready() { docker exec "$1" docker version >/dev/null 2>&1; }

# dind NAME DATA_ROOT: dockerd in a privileged container, then inner runs.
dind() {
	local name=$1 data_root=$2 driver out
	NAMES+=("$name")
	docker run -d --name "$name" --label "$BERTH_TEST_LABEL=1" --privileged --entrypoint bash "$IMAGE" \
		-c "exec dockerd --data-root $data_root >/var/log/dockerd.log 2>&1" >/dev/null
	if ! wait_until 60 "inner dockerd in $name" inner_ready "$name"; then
		docker exec "$name" tail -n 20 /var/log/dockerd.log >&2 || true
		fact "inner dockerd ($data_root)" "did not start"
		FAILURES=$((FAILURES + 1))
		return 0
	fi
	driver=$(docker exec "$name" docker info --format '{{.Driver}}')
	fact "inner storage driver ($data_root)" "$driver on $(docker exec "$name" stat -f -c %T "$data_root")"
	docker save "$BASE" | docker exec -i "$name" docker load >/dev/null
	if out=$(docker exec "$name" docker run --rm "$BASE" sh -c 'grep CapBnd /proc/self/status' 2>&1); then
		fact "inner plain container" "ok (${out//$'\t'/ })"
	else
		fact "inner plain container" "FAILED: $out"
		FAILURES=$((FAILURES + 1))
	fi
	if out=$(docker exec "$name" docker run --rm --privileged "$BASE" true 2>&1); then
		fact "inner --privileged container" "ok"
	else
		fact "inner --privileged container" "fails: $(grep -o 'unable to apply caps[^:]*: [a-z ]*' <<<"$out" || echo "$out")"
	fi
}

main() {
	engine_answers || die "no Docker engine answers (DOCKER_HOST=${DOCKER_HOST:-unset})"
	fact "host CapBnd" "$(awk '/^CapBnd:/ {print $2}' /proc/self/status) (cap_last_cap $(cat /proc/sys/kernel/cap_last_cap))"
	fact "engine default runtime" "$(docker info --format '{{.DefaultRuntime}}')"
	local out
	if out=$(docker run --rm --label "$BERTH_TEST_LABEL=1" --privileged "$BASE" sh -c 'grep CapBnd /proc/self/status' 2>&1); then
		fact "--privileged container" "ok (${out//$'\t'/ })"
	else
		fact "--privileged container" "FAILED: $out"
		FAILURES=$((FAILURES + 1))
	fi
	fact "plain container CapBnd" "$(docker run --rm --label "$BERTH_TEST_LABEL=1" "$BASE" awk '/^CapBnd:/ {print $2}' /proc/self/status)"
	dind "berth-test-dind-vol-$$" /var/lib/docker
	dind "berth-test-dind-root-$$" /srv/docker
	((FAILURES == 0))
}

main "$@"

#!/usr/bin/env bash
# Every test berth has, in one command:
#
#   bash tests/run.sh
#
#  1. cargo fmt --check
#  2. cargo clippy --all-targets -- -D warnings
#  3. cargo build --release
#  4. the real clients (tests/clients.sh): the devcontainer CLI, Compose v2,
#     kubernetes-validate; their paths exported for the tests
#  5. cargo test: unit, integration and doc tests (all but tests/e2e_*.rs)
#  5b. the fuzz smoke (bench/fuzz.sh --smoke): every fuzz target built with
#     libFuzzer, run over its seeds and fuzz/regressions/, then 3 s each
#  6. a Docker engine (tests/engine.sh up), Podman's Docker-compatible
#     service as a second host engine (tests/podman.sh up) and the images
#     (tests/images.sh)
#  7. cargo test --test e2e_*: end-to-end tests against that engine, with
#     BERTH_E2E=1 and DOCKER_HOST exported
#  8. the cgroup v2 + AppArmor guest (tests/vm/guest.sh): docker-in-docker
#     cases in a Debian trixie VM under qemu. BERTH_TEST_VM=0 skips it
#     (refused under CI=true); BERTH_VM_XFAIL lists cases known to fail.
#
# Teardown (a trap, so it also runs on failure or Ctrl-C) removes the
# containers, volumes and networks labelled berth-test=<this run's id>, and
# stops the engine if this run started it.
#
# Without an engine (not root, no socket) the e2e tests are skipped with a loud
# banner and everything else still runs; under CI=true that is a failure. So is
# a client that tests/clients.sh cannot install, or a guest that cannot be
# built or booted (outside CI: a loud skip).
# Exit status: 0 only when every step that ran passed.
set -euo pipefail
# shellcheck source=tests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BERTH_LOG_TAG=run
cd "$BERTH_REPO"

TARGET_DIR=${CARGO_TARGET_DIR:-$BERTH_REPO/target}
RELEASE_BIN="$TARGET_DIR/x86_64-unknown-linux-gnu/release/berth"
# The binary the images get: this checkout's release build, unless BERTH_BIN
# names another (e.g. to run the e2e tests against a build from elsewhere).
IMAGE_BIN=${BERTH_BIN:-$RELEASE_BIN}
# e2e tests share a 2-core machine with each other and the engine.
E2E_THREADS=${BERTH_E2E_THREADS:-2}

LOG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/berth-run.XXXXXX")
# This run's label value: the teardown sweeps berth-test=$BERTH_TEST_RUN_ID
# only, so two runs on one engine do not remove each other's containers.
export BERTH_TEST_RUN_ID=${BERTH_TEST_RUN_ID:-run-$$-$(date +%s)}
FAILED=()
PASSED=()
E2E_SUMMARY="e2e: not reached"
VM_SUMMARY="vm: not reached"
# The guest step's bound, all of it (download, build, boot, cases): a hung
# step ends with an error naming it instead of running into CI's limit.
VM_STEP_TIMEOUT=${BERTH_VM_STEP_TIMEOUT:-2700}

banner() {
	printf '\n==== %s ====\n' "$*" >&2
}

# step NAME COMMAND...: run, record the outcome, never abort the script.
step() {
	local name=$1
	shift
	banner "$name"
	if "$@"; then
		PASSED+=("$name")
	else
		FAILED+=("$name")
		log "FAILED: $name"
	fi
}

skip_banner() {
	local reason=$1
	cat >&2 <<EOF

################################################################
###  E2E SKIPPED: $reason
###  (the Docker end-to-end tests did not run; CI=true makes this a failure)
################################################################

EOF
}

# test_targets: names of the package's integration test targets, as cargo
# sees them (tests/NAME.rs, tests/NAME/main.rs, [[test]] entries).
test_targets() {
	cargo metadata --no-deps --format-version 1 |
		grep -o '"kind":\["test"\][^}]*"name":"[^"]*"' |
		sed 's/.*"name":"\([^"]*\)"$/\1/'
}

# --test NAME arguments for the targets that are (e2e) or are not (other)
# end-to-end tests: e2e targets are the ones named e2e_*.
test_args() {
	local which=$1 name
	while read -r name; do
		case $which:$name in
		e2e:e2e_*) ;;
		other:e2e_* | e2e:*) continue ;;
		esac
		printf -- '--test\n%s\n' "$name"
	done < <(test_targets)
}

# install_clients: run tests/clients.sh and export what it prints
# (BERTH_DEVCONTAINER_CLI, BERTH_COMPOSE, BERTH_KUBERNETES_VALIDATE). Under
# CI=true it fails when a client cannot be installed; otherwise the tests of
# a missing client skip themselves loudly.
install_clients() {
	local exports
	exports=$(bash tests/clients.sh) || return 1
	eval "$exports"
}

unit_and_integration_tests() {
	local args=()
	mapfile -t args < <(test_args other)
	cargo test --no-fail-fast --lib --bins --examples "${args[@]}" && cargo test --doc
}

# result_total WORD LOG: sum of "N WORD;" over cargo's "test result:" lines,
# e.g. "test result: ok. 8 passed; 0 failed; 0 ignored; ...".
result_total() {
	awk -v word="$1;" '/^test result:/ { for (i = 2; i <= NF; i++) if ($i == word) n += $(i - 1) } END { print n + 0 }' "$2"
}

# run_e2e: run the e2e binaries, tee their output, and set E2E_SUMMARY from
# cargo's "test result:" lines and the harness's "E2E SKIPPED:" lines.
run_e2e() {
	local args=() log="$LOG_DIR/e2e.log" rc=0
	mapfile -t args < <(test_args e2e)
	if ((${#args[@]} == 0)); then
		E2E_SUMMARY="e2e: 0 ran, 0 skipped (no e2e_* test targets)"
		return 0
	fi
	# --no-fail-fast: a failing e2e binary must not hide the others' results.
	cargo test --no-fail-fast "${args[@]}" -- --nocapture --test-threads="$E2E_THREADS" 2>&1 | tee "$log" || rc=$?
	local passed failed ignored skipped
	passed=$(result_total passed "$log")
	failed=$(result_total failed "$log")
	ignored=$(result_total ignored "$log")
	skipped=$(grep -c 'E2E SKIPPED:' "$log" || true)
	E2E_SUMMARY="e2e: $((passed + failed - skipped)) ran, $((skipped + ignored)) skipped ($failed failed)"
	return "$rc"
}

# run_engine_unit: the unit tests #[ignore]d for wanting a real engine
# socket (detection and the API-version negotiation against it).
run_engine_unit() {
	local sock=${DOCKER_HOST#unix://}
	if [[ $sock == "$DOCKER_HOST" ]]; then
		printf 'DOCKER_HOST is not a unix socket; engine-backed unit tests not run\n' >&2
		return 0
	fi
	BERTH_TEST_DOCKER_SOCK=$sock cargo test --lib -- --ignored real_
}

# run_vm: the cgroup v2 + AppArmor guest. guest.sh exits 2 when the guest
# cannot be built or booted: a failure under CI=true, a loud skip otherwise.
run_vm() {
	local log="$LOG_DIR/vm.log" rc=0
	if [[ ${BERTH_TEST_VM:-1} == 0 ]]; then
		if in_ci; then
			log "BERTH_TEST_VM=0 is refused under CI=true: the guest's cases must run"
			VM_SUMMARY="vm: not run (BERTH_TEST_VM=0 under CI=true)"
			return 1
		fi
		vm_skip_banner "BERTH_TEST_VM=0"
		VM_SUMMARY="vm: skipped (BERTH_TEST_VM=0)"
		return 0
	fi
	BERTH_BIN=$IMAGE_BIN timeout -k 30 "$VM_STEP_TIMEOUT" bash tests/vm/guest.sh run 2>&1 | tee "$log" || rc=$?
	VM_SUMMARY="vm: $(grep -o 'cases: .*' "$log" | tail -n 1 || true)"
	[[ $VM_SUMMARY != "vm: " ]] || VM_SUMMARY="vm: no verdict (exit $rc, output above)"
	if ((rc == 124 || rc == 137)); then
		log "the guest step ran out of its ${VM_STEP_TIMEOUT}s (BERTH_VM_STEP_TIMEOUT) and was killed; its output is above"
		VM_SUMMARY="vm: killed after ${VM_STEP_TIMEOUT}s"
		return 1
	fi
	if ((rc == 2)) && ! in_ci; then
		vm_skip_banner "the guest could not be built or booted ($(grep 'error:' "$log" | tail -n 1 | sed 's/.*error: //'))"
		VM_SUMMARY="vm: skipped (no guest)"
		return 0
	fi
	return "$rc"
}

vm_skip_banner() {
	cat >&2 <<EOF

################################################################
###  VM SKIPPED: $1
###  (the cgroup v2 + AppArmor guest's cases did not run; CI=true makes this a failure)
################################################################

EOF
}

cleanup_labelled() {
	local ids filter="label=$BERTH_TEST_LABEL=$BERTH_TEST_RUN_ID"
	ids=$(docker ps -aq --filter "$filter" 2>/dev/null || true)
	# shellcheck disable=SC2086 # one id per word
	[[ -z $ids ]] || docker rm -f -v $ids >/dev/null 2>&1 || true
	ids=$(docker volume ls -q --filter "$filter" 2>/dev/null || true)
	# shellcheck disable=SC2086
	[[ -z $ids ]] || docker volume rm -f $ids >/dev/null 2>&1 || true
	ids=$(docker network ls -q --filter "$filter" 2>/dev/null || true)
	# shellcheck disable=SC2086
	[[ -z $ids ]] || docker network rm $ids >/dev/null 2>&1 || true
}

teardown() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ ${ENGINE_READY:-0} == 1 ]]; then
		banner "teardown"
		cleanup_labelled
		if [[ ${BERTH_TEST_PODMAN_STARTED:-0} == 1 ]]; then
			bash tests/podman.sh down || log "podman down failed"
		fi
		if [[ ${BERTH_TEST_ENGINE_STARTED:-0} == 1 ]]; then
			bash tests/engine.sh down || log "engine down failed"
		fi
	fi
	rm -rf "$LOG_DIR"
	exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "cargo fmt --check" cargo fmt --check
step "cargo clippy" cargo clippy --all-targets -- -D warnings
step "cargo build --release" cargo build --release
step "clients (devcontainer CLI, Compose v2, kubernetes-validate)" install_clients
step "cargo test (unit, integration, doc)" unit_and_integration_tests
step "fuzz smoke (bench/fuzz.sh --smoke)" bash bench/fuzz.sh --smoke

E2E_SKIP_REASON=
ENGINE_READY=0
banner "Docker engine"
if [[ ! -x $IMAGE_BIN ]]; then
	E2E_SKIP_REASON="no berth binary at $IMAGE_BIN (cargo build --release failed?)"
elif engine_env=$(bash tests/engine.sh up 2>"$LOG_DIR/engine.err"); then
	cat "$LOG_DIR/engine.err" >&2
	eval "$engine_env"
	ENGINE_READY=1
	banner "Podman"
	# Its tests skip loudly without it (fail under CI=true).
	if podman_env=$(bash tests/podman.sh up); then
		eval "$podman_env"
	elif in_ci; then
		FAILED+=("podman: tests/podman.sh up failed (output above)")
	fi
	banner "images"
	if ! BERTH_BIN=$IMAGE_BIN bash tests/images.sh; then
		E2E_SKIP_REASON="building the images failed (output above)"
	fi
else
	cat "$LOG_DIR/engine.err" >&2
	E2E_SKIP_REASON="no Docker engine: $(grep 'error:' "$LOG_DIR/engine.err" | tail -n 1 | sed 's/.*error: //')"
fi

if [[ -z $E2E_SKIP_REASON ]]; then
	export BERTH_E2E=1 DOCKER_HOST
	step "e2e tests (DOCKER_HOST=$DOCKER_HOST)" run_e2e
	step "engine-backed unit tests" run_engine_unit
	step "cgroup v2 + AppArmor guest (tests/vm)" run_vm
else
	skip_banner "$E2E_SKIP_REASON"
	if in_ci; then
		FAILED+=("e2e: $E2E_SKIP_REASON")
		E2E_SUMMARY="e2e: 0 ran (CI=true: not provisioning the engine/images is a failure)"
	else
		# Run them anyway: each one skips itself and is counted as skipped.
		unset BERTH_E2E
		step "e2e tests (skipping)" run_e2e
	fi
fi

banner "summary"
for name in "${PASSED[@]}"; do printf '  ok      %s\n' "$name" >&2; done
for name in "${FAILED[@]}"; do printf '  FAILED  %s\n' "$name" >&2; done
printf '%s\n' "$E2E_SUMMARY" >&2
printf '%s\n' "$VM_SUMMARY" >&2
[[ -z $E2E_SKIP_REASON ]] || printf 'E2E SKIPPED: %s\n' "$E2E_SKIP_REASON" >&2
((${#FAILED[@]} == 0))

# shellcheck shell=bash
# Helpers shared by the test scripts (engine.sh, base-image.sh, images.sh,
# run.sh). Source it; it defines functions and a few variables, nothing runs.

# shellcheck disable=SC2034 # used by the scripts that source this file
# The repository root, whatever the caller's working directory.
BERTH_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Where tarballs and other slow-to-make inputs are kept between runs.
BERTH_TEST_CACHE=${BERTH_TEST_CACHE:-/var/cache/berth-test}
# Every container, volume and network the tests create carries the label
# berth-test=<run id> (tests/support's label()), so a run's teardown removes
# its own objects and never those of another run sharing the engine.
# shellcheck disable=SC2034
BERTH_TEST_LABEL=berth-test

log() { printf '[%s] %s\n' "${BERTH_LOG_TAG:-berth-test}" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

is_root() { [[ $(id -u) -eq 0 ]]; }

# CI=true turns every "skip" into a failure.
in_ci() { [[ ${CI:-} == true || ${CI:-} == 1 ]]; }

# engine_answers: does the engine DOCKER_HOST (or the default socket) point at
# answer an API call? Bounded so an unreachable tcp:// host cannot hang us.
engine_answers() {
	command -v docker >/dev/null 2>&1 || return 1
	timeout 15 docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}

# wait_until SECONDS DESCRIPTION COMMAND...: poll COMMAND every 0.2 s until it
# succeeds or SECONDS pass. Returns 1 on timeout.
wait_until() {
	local limit=$1 what=$2
	shift 2
	local deadline=$((SECONDS + limit))
	until "$@"; do
		if ((SECONDS >= deadline)); then
			log "timed out after ${limit}s waiting for: $what"
			return 1
		fi
		sleep 0.2
	done
}

# apt_install PACKAGE...: install what is missing, non-interactively. The
# package lists are refreshed once per process, and only when something is
# actually missing, so a provisioned machine never touches the network.
apt_install() {
	local missing=() pkg
	for pkg in "$@"; do
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$pkg")
	done
	((${#missing[@]} == 0)) && return 0
	is_root || die "missing packages ${missing[*]} and not root to install them"
	command -v apt-get >/dev/null 2>&1 || die "missing packages ${missing[*]} and no apt-get"
	log "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	local out
	out=$(mktemp)
	if { [[ -n ${BERTH_APT_UPDATED:-} ]] || apt-get update -q; } >"$out" 2>&1 &&
		apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$out" 2>&1; then
		BERTH_APT_UPDATED=1
		rm -f "$out"
		return 0
	fi
	tail -n 30 "$out" >&2
	rm -f "$out"
	die "apt-get could not install ${missing[*]} (output above)"
}

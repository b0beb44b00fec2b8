#!/usr/bin/env bash
# The real clients berth's users run it with, installed for the tests:
#
#   eval "$(bash tests/clients.sh)"     install what is missing, print exports
#
#   devcontainer CLI    @devcontainers/cli (npm, pinned) under
#                       $BERTH_TEST_CACHE/clients/devcontainer-cli-<version>;
#                       exports BERTH_DEVCONTAINER_CLI
#   Compose v2          Debian trixie's docker-compose package (the Go Compose
#                       v2; bookworm only has the Python Compose v1), its CLI
#                       plugin extracted from the .deb and installed where
#                       every docker CLI looks: /usr/local/lib/docker/cli-plugins
#                       (root) or ~/.docker/cli-plugins; exports BERTH_COMPOSE=1
#   kubernetes-validate PyPI, pinned, in a venv under $BERTH_TEST_CACHE/clients
#                       (it ships the Kubernetes API schemas); exports
#                       BERTH_KUBERNETES_VALIDATE
#   helpers             busybox-static (the recipes' tiny image) and
#                       openssh-client (ssh-keygen), from Debian, as root
#
# Idempotent and cached: a warm run checks versions and touches no network.
# A client that cannot be installed is left out of the exports with a warning
# (its tests then skip loudly); under CI=true it is an error (exit 1).
#
# Knobs: BERTH_TEST_CACHE, BERTH_TEST_MIRROR (Debian mirror for the trixie
# .deb), BERTH_CLIENTS=devcontainer,compose,k8s (which ones; default all).
set -euo pipefail
# shellcheck source=tests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BERTH_LOG_TAG=clients

# Pinned versions. Change them here; the README in tests/ names them too.
DEVCONTAINER_CLI_VERSION=0.89.0
KUBERNETES_VALIDATE_VERSION=1.37.0
# Compose comes from a Debian suite, not a version pin: a suite's point
# release replaces the .deb on the mirror. The major version is checked.
COMPOSE_SUITE=trixie
COMPOSE_PACKAGE=docker-compose
MIRROR=${BERTH_TEST_MIRROR:-http://deb.debian.org/debian}

CLIENTS_DIR="$BERTH_TEST_CACHE/clients"
WANTED=",${BERTH_CLIENTS:-devcontainer,compose,k8s},"
EXPORTS=()
MISSING=()

wanted() { [[ $WANTED == *",$1,"* ]]; }

# missing NAME REASON: record a client that could not be had.
missing() {
	log "warning: $1 not available: $2"
	MISSING+=("$1: $2")
}

# ------------------------------------------------------------- devcontainer

install_devcontainer_cli() {
	local prefix="$CLIENTS_DIR/devcontainer-cli-$DEVCONTAINER_CLI_VERSION"
	local bin="$prefix/node_modules/.bin/devcontainer" have
	have=$("$bin" --version 2>/dev/null || true)
	if [[ $have != "$DEVCONTAINER_CLI_VERSION" ]]; then
		command -v npm >/dev/null 2>&1 || {
			missing "devcontainer CLI" "npm is not installed (Node.js 20 or newer brings it)"
			return 0
		}
		local node_major
		node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
		if ((node_major < 20)); then
			missing "devcontainer CLI" "@devcontainers/cli $DEVCONTAINER_CLI_VERSION needs Node.js >= 20, found $(node --version 2>/dev/null || echo none)"
			return 0
		fi
		log "npm install @devcontainers/cli@$DEVCONTAINER_CLI_VERSION"
		mkdir -p "$prefix"
		if ! npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error \
			"@devcontainers/cli@$DEVCONTAINER_CLI_VERSION" >&2; then
			missing "devcontainer CLI" "npm install @devcontainers/cli@$DEVCONTAINER_CLI_VERSION failed (output above)"
			return 0
		fi
		have=$("$bin" --version 2>/dev/null || true)
		if [[ $have != "$DEVCONTAINER_CLI_VERSION" ]]; then
			missing "devcontainer CLI" "installed, but \`devcontainer --version\` says ${have:-nothing}"
			return 0
		fi
	fi
	log "devcontainer CLI $have: $bin"
	EXPORTS+=("BERTH_DEVCONTAINER_CLI=$bin")
}

# ------------------------------------------------------------------ compose

# The docker CLI looks for plugins here (and in the distribution's own dirs);
# /usr/local is where something not installed by a package belongs.
plugin_dir() {
	if is_root; then
		printf '/usr/local/lib/docker/cli-plugins\n'
	else
		printf '%s/cli-plugins\n' "${DOCKER_CONFIG:-$HOME/.docker}"
	fi
}

# compose_major BIN: the major version a Compose binary reports (2 for v2).
compose_major() {
	"$1" version --short 2>/dev/null | sed 's/^v//' | cut -d. -f1
}

# fetch_compose_deb DIR: download the suite's docker-compose .deb into DIR
# with apt, using a sources list and package lists of our own (never the
# machine's apt configuration).
fetch_compose_deb() {
	local dir=$1 apt_dir="$CLIENTS_DIR/apt-$COMPOSE_SUITE"
	command -v apt-get >/dev/null 2>&1 || return 1
	mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$dir"
	printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' \
		"$MIRROR" "$COMPOSE_SUITE" >"$apt_dir/sources.list"
	local opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
		-o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
		-o Dir::State::status=/dev/null -o Acquire::Languages=none
		-o APT::Sandbox::User=root -q)
	apt-get "${opts[@]}" update >&2 || return 1
	(cd "$dir" && apt-get "${opts[@]}" download "$COMPOSE_PACKAGE" >&2) || return 1
	rm -rf "$apt_dir"
}

install_compose() {
	local dest
	dest="$(plugin_dir)/docker-compose"
	local cached_dir="$CLIENTS_DIR/compose-$COMPOSE_SUITE"
	local cached="$cached_dir/docker-compose"
	if [[ ! -x $cached ]] || [[ $(compose_major "$cached") != 2 ]]; then
		log "fetching $COMPOSE_PACKAGE from Debian $COMPOSE_SUITE"
		local work
		work=$(mktemp -d "${TMPDIR:-/tmp}/berth-compose.XXXXXX")
		# shellcheck disable=SC2064 # expand now: $work is local
		trap "rm -rf '$work'" RETURN
		if ! fetch_compose_deb "$work"; then
			missing "Compose v2" "could not download $COMPOSE_PACKAGE from Debian $COMPOSE_SUITE ($MIRROR)"
			return 0
		fi
		local debs=("$work/$COMPOSE_PACKAGE"_*.deb)
		local deb=${debs[0]}
		dpkg-deb -x "$deb" "$work/root"
		mkdir -p "$cached_dir"
		install -m 0755 "$work/root/usr/libexec/docker/cli-plugins/docker-compose" "$cached.new"
		dpkg-deb -f "$deb" Version >"$cached_dir/deb-version"
		mv -f "$cached.new" "$cached"
		if [[ $(compose_major "$cached") != 2 ]]; then
			missing "Compose v2" "Debian $COMPOSE_SUITE's $COMPOSE_PACKAGE is $("$cached" version --short 2>/dev/null), not Compose v2"
			return 0
		fi
	fi
	if ! cmp -s "$cached" "$dest"; then
		log "installing the Compose plugin at $dest"
		mkdir -p "$(dirname "$dest")"
		install -m 0755 "$cached" "$dest.tmp.$$"
		mv -f "$dest.tmp.$$" "$dest"
	fi
	local version
	version=$(docker compose version --short 2>/dev/null || true)
	if [[ ${version%%.*} != 2 ]]; then
		missing "Compose v2" "\`docker compose version\` says ${version:-nothing} after installing $dest"
		return 0
	fi
	log "Compose $version (Debian $COMPOSE_SUITE $COMPOSE_PACKAGE $(cat "$cached_dir/deb-version" 2>/dev/null)): $dest"
	EXPORTS+=("BERTH_COMPOSE=1")
}

# ------------------------------------------------------- kubernetes-validate

# A python3 with venv and ensurepip: the one on PATH, else Debian's.
venv_python() {
	local py
	for py in python3 /usr/bin/python3; do
		if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import venv, ensurepip' 2>/dev/null; then
			command -v "$py"
			return 0
		fi
	done
	is_root && apt_install python3 python3-venv >/dev/null && [[ -x /usr/bin/python3 ]] &&
		printf '/usr/bin/python3\n'
}

install_kubernetes_validate() {
	local venv="$CLIENTS_DIR/kubernetes-validate-$KUBERNETES_VALIDATE_VERSION"
	local bin="$venv/bin/kubernetes-validate" have
	have=$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("kubernetes-validate"))' 2>/dev/null || true)
	if [[ $have != "$KUBERNETES_VALIDATE_VERSION" ]]; then
		local py
		if ! py=$(venv_python); then
			missing "kubernetes-validate" "no python3 with venv (apt-get install python3-venv)"
			return 0
		fi
		log "pip install kubernetes-validate==$KUBERNETES_VALIDATE_VERSION into $venv"
		rm -rf "$venv"
		if ! { "$py" -m venv "$venv" && "$venv/bin/pip" install --quiet --disable-pip-version-check \
			"kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"; } >&2; then
			rm -rf "$venv"
			missing "kubernetes-validate" "pip install kubernetes-validate==$KUBERNETES_VALIDATE_VERSION failed (output above)"
			return 0
		fi
		have=$KUBERNETES_VALIDATE_VERSION
	fi
	log "kubernetes-validate $have: $bin"
	EXPORTS+=("BERTH_KUBERNETES_VALIDATE=$bin")
}

main() {
	mkdir -p "$CLIENTS_DIR"
	# One installer at a time: parallel runs wait, then find everything cached.
	exec 8>"$CLIENTS_DIR/.lock"
	flock 8
	if wanted devcontainer; then install_devcontainer_cli; fi
	if wanted compose; then install_compose; fi
	if wanted k8s; then install_kubernetes_validate; fi
	if is_root && command -v apt-get >/dev/null 2>&1; then
		# A subshell: apt_install exits on failure, this records it instead.
		(apt_install busybox-static openssh-client) || missing "helpers" "apt-get install busybox-static openssh-client failed"
	fi
	local kv
	for kv in "${EXPORTS[@]}"; do
		printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}"
	done
	if ((${#MISSING[@]} > 0)); then
		if in_ci; then
			die "CI=true and these clients could not be installed: $(printf '%s; ' "${MISSING[@]}")"
		fi
		log "their tests will be skipped: $(printf '%s; ' "${MISSING[@]}")"
	fi
}

main "$@"

#!/bin/sh
# berth devcontainer feature: install berth as the container's init.
#
# The devcontainer CLI runs this as root while it builds the image, with the
# feature's options as upper-case variables (MODE, USER, INSTALLDOCKERIO,
# DOCKERDASHCOMPOSEVERSION, INSTALLDOCKERBUILDX) and _REMOTE_USER /
# _CONTAINER_USER naming the users of devcontainer.json. The
# static berth binary sits next to this script: devcontainer-feature/package.sh
# puts it there.
#
# Every option is checked before anything is changed: a bad value stops the
# build with the fix spelled out, and leaves the image as it was.
#
# What it changes, in this order (so a failed apt-get leaves no berth behind):
#   apt-get install docker.io ...          only with installDockerIo=true,
#                                          dockerDashComposeVersion=v2 or
#                                          installDockerBuildx=true (checked
#                                          against the package lists first)
#   /usr/local/bin/berth                   the binary
#   /usr/local/share/berth-init.sh         the feature's entrypoint
#   /etc/profile.d/berth-docker.sh         only for mode=rootless: DOCKER_HOST
#                                          for login shells (docker exec)
set -eu

FEATURE_DIR=$(cd "$(dirname "$0")" && pwd)
BERTH_SRC="$FEATURE_DIR/berth"
BERTH_DEST=/usr/local/bin/berth
INIT_SCRIPT=/usr/local/share/berth-init.sh
PROFILE_SNIPPET=/etc/profile.d/berth-docker.sh

MODE=${MODE:-auto}
# The option is named `user`, so it arrives as USER: empty means automatic.
REQUESTED_USER=${USER:-automatic}
INSTALL_DOCKER_IO=${INSTALLDOCKERIO:-false}
COMPOSE_VERSION=${DOCKERDASHCOMPOSEVERSION:-none}
INSTALL_BUILDX=${INSTALLDOCKERBUILDX:-false}

fail() {
	printf 'berth feature: error: %s\n' "$*" >&2
	exit 1
}

note() {
	printf 'berth feature: %s\n' "$*" >&2
}

user_exists() {
	id -u "$1" >/dev/null 2>&1
}

first_uid_1000_user() {
	awk -F: '$3 == 1000 { print $1; exit }' /etc/passwd
}

# named_by_devcontainer_json NAME: is NAME the remoteUser or containerUser
# of devcontainer.json? Such a user may be created by a feature that runs
# after this one (common-utils): it is checked again when the container starts.
named_by_devcontainer_json() {
	[ -n "$1" ] && [ "$1" != root ] && { [ "$1" = "${_REMOTE_USER:-}" ] || [ "$1" = "${_CONTAINER_USER:-}" ]; }
}

# resolve_user: print the user berth runs the command as ("" for root).
# automatic follows the official features: the remote user, else the
# container user, else the first user with uid 1000; root counts as none.
# berth-init.sh resolves it again at start, when every feature has run.
resolve_user() {
	case $REQUESTED_USER in
	automatic | auto)
		for candidate in "${_REMOTE_USER:-}" "${_CONTAINER_USER:-}" "$(first_uid_1000_user)"; do
			if [ -n "$candidate" ] && [ "$candidate" != root ] && user_exists "$candidate"; then
				printf '%s\n' "$candidate"
				return 0
			fi
		done
		for candidate in "${_REMOTE_USER:-}" "${_CONTAINER_USER:-}"; do
			if named_by_devcontainer_json "$candidate"; then
				printf '%s\n' "$candidate"
				return 0
			fi
		done
		printf '\n'
		;;
	none | root)
		printf '\n'
		;;
	*)
		if ! printf '%s\n' "$REQUESTED_USER" | grep -Eq '^([A-Za-z_][A-Za-z0-9_.-]*[$]?|[0-9]+)$'; then
			fail "user \"$REQUESTED_USER\" is not a user name: use a name such as vscode, automatic, or none (root)"
		fi
		if ! user_exists "$REQUESTED_USER" && ! named_by_devcontainer_json "$REQUESTED_USER"; then
			fail "user \"$REQUESTED_USER\" does not exist in the image: create it before this feature runs (e.g. common-utils' username option or a RUN useradd in the Dockerfile), or set user to automatic"
		fi
		printf '%s\n' "$REQUESTED_USER"
		;;
	esac
}

# ---------------------------------------------------------------- validation

# The devcontainer CLI writes every option devcontainer.json gives this
# feature, known or not, upper-cased, to devcontainer-features.env next to
# this script. An option berth does not have is a typo or another feature's
# option: say so rather than ignore it.
KNOWN_OPTIONS="MODE USER INSTALLDOCKERIO DOCKERDASHCOMPOSEVERSION INSTALLDOCKERBUILDX"
if [ -f "$FEATURE_DIR/devcontainer-features.env" ]; then
	# shellcheck disable=SC2013 # one name per line, no spaces in names
	for option in $(sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' "$FEATURE_DIR/devcontainer-features.env"); do
		case " $KNOWN_OPTIONS " in
		*" $option "*) ;;
		*) fail "option $option (as the devcontainer CLI passes it, upper-cased) is not an option of the berth feature: remove it from the feature's entry in devcontainer.json, or use one of mode, user, installDockerIo, dockerDashComposeVersion, installDockerBuildx" ;;
		esac
	done
fi

case $MODE in
auto | off | socket | dind | rootless | sysbox | remote) ;;
*) fail "mode \"$MODE\" is not one of auto, off, socket, dind, rootless, sysbox, remote: set the feature's mode option to one of them (auto detects the mode)" ;;
esac

case $INSTALL_DOCKER_IO in
true | false) ;;
*) fail "installDockerIo \"$INSTALL_DOCKER_IO\" is not a boolean: set it to true or false" ;;
esac

case $COMPOSE_VERSION in
none | v2) ;;
v1) fail "dockerDashComposeVersion \"v1\" is not offered: Compose v1 is end of life; set dockerDashComposeVersion to v2 (on a distribution that packages it) or none" ;;
*) fail "dockerDashComposeVersion \"$COMPOSE_VERSION\" is not one of none, v2: set the feature's dockerDashComposeVersion option to one of them" ;;
esac

case $INSTALL_BUILDX in
true | false) ;;
*) fail "installDockerBuildx \"$INSTALL_BUILDX\" is not a boolean: set it to true or false" ;;
esac

[ "$(id -u)" -eq 0 ] || fail "install.sh must run as root (the devcontainer CLI runs feature installers as root)"

arch=$(uname -m)
[ "$arch" = x86_64 ] || fail "the packaged berth binary is built for x86_64, this image is $arch: build berth for $arch and package it with devcontainer-feature/package.sh"

[ -f "$BERTH_SRC" ] || fail "no berth binary at $BERTH_SRC: package the feature with devcontainer-feature/package.sh, which copies the static release build next to install.sh"
if [ -x "$BERTH_SRC" ] && ! "$BERTH_SRC" --version >/dev/null 2>&1; then
	fail "$BERTH_SRC does not run here: it must be the static build (cargo build --release; target/x86_64-unknown-linux-gnu/release/berth)"
fi

TARGET_USER=$(resolve_user)

if [ "$MODE" = rootless ] && [ -z "$TARGET_USER" ]; then
	fail "mode rootless runs dockerd as a non-root user, and none was found (user=$REQUESTED_USER): set user to an existing non-root user, or create one (uid 1000) before this feature"
fi

if [ "$INSTALL_DOCKER_IO" = true ]; then
	command -v apt-get >/dev/null 2>&1 ||
		fail "installDockerIo=true needs apt-get (Debian/Ubuntu): on other distributions install the docker CLI (and dockerd for dind) yourself and set installDockerIo to false"
else
	# A mode that starts dockerd cannot work without it: say so now rather
	# than at every container start.
	case $MODE in
	dind | sysbox)
		command -v dockerd >/dev/null 2>&1 ||
			fail "mode $MODE starts dockerd, which is not installed: set installDockerIo to true, or install Docker in the image before this feature"
		;;
	rootless)
		for tool in dockerd rootlesskit newuidmap; do
			command -v "$tool" >/dev/null 2>&1 ||
				fail "mode rootless needs $tool, which is not installed: set installDockerIo to true (it adds rootlesskit, slirp4netns and uidmap), or install them before this feature"
		done
		;;
	esac
fi

if [ "$COMPOSE_VERSION" = v2 ] || [ "$INSTALL_BUILDX" = true ]; then
	command -v apt-get >/dev/null 2>&1 ||
		fail "dockerDashComposeVersion=v2 and installDockerBuildx=true install the distribution's packages with apt-get (Debian/Ubuntu): set them to none and false here, and install Compose and buildx yourself"
fi

# -------------------------------------------- package lists (no install yet)

# candidate PACKAGE: the version apt would install ("" when there is none).
candidate() {
	apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { if ($2 != "(none)") print $2; exit }'
}

# distro: "Debian GNU/Linux 12 (bookworm)", for messages.
distro() {
	# shellcheck disable=SC1091 # the image's, read at build time
	(. /etc/os-release 2>/dev/null && printf '%s\n' "${PRETTY_NAME:-this distribution}") || printf 'this distribution\n'
}

packages=""
lists_read=false
if [ "$INSTALL_DOCKER_IO" = true ]; then
	packages=" docker.io ca-certificates iptables"
	if [ "$MODE" = rootless ]; then
		packages="$packages rootlesskit slirp4netns uidmap fuse-overlayfs iproute2"
	fi
fi
if [ "$COMPOSE_VERSION" = v2 ] || [ "$INSTALL_BUILDX" = true ]; then
	note "reading the package lists (apt-get update) to find Compose v2 and buildx"
	apt-get update
	lists_read=true
	# Until a package is installed, the lists are the only change: drop them
	# on a failure below, so a bad option leaves the image as it was.
	if [ "$COMPOSE_VERSION" = v2 ]; then
		if [ -n "$(candidate docker-compose-v2)" ]; then
			packages="$packages docker-compose-v2"
		elif compose=$(candidate docker-compose) && [ "${compose%%.*}" -ge 2 ] 2>/dev/null; then
			packages="$packages docker-compose"
		else
			rm -rf /var/lib/apt/lists/*
			fail "dockerDashComposeVersion v2: $(distro) has no Compose v2 package (its docker-compose is ${compose:-missing}; Debian packages Compose v2 from 13 (trixie) on, Ubuntu as docker-compose-v2): use a newer base image, or set dockerDashComposeVersion to none and install Compose yourself"
		fi
	fi
	if [ "$INSTALL_BUILDX" = true ]; then
		if [ -n "$(candidate docker-buildx)" ]; then
			packages="$packages docker-buildx"
		else
			rm -rf /var/lib/apt/lists/*
			fail "installDockerBuildx: $(distro) has no docker-buildx package (Debian packages it from 13 (trixie) on): use a newer base image, or set installDockerBuildx to false"
		fi
	fi
fi

# ------------------------------------------------------------------- changes

if [ -n "$packages" ]; then
	note "installing$packages"
	[ "$lists_read" = true ] || apt-get update
	# shellcheck disable=SC2086 # one package per word
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $packages
	rm -rf /var/lib/apt/lists/*
fi

if [ "$MODE" != off ] && ! command -v docker >/dev/null 2>&1; then
	note "no docker CLI in the image: berth still prepares the socket, but \`docker\` will not be found (set installDockerIo to true to add one)"
fi

install -D -m 0755 "$BERTH_SRC" "$BERTH_DEST"

# The users berth-init.sh tries at start, first existing one wins: for
# automatic, in the official features' order, the remote user, the container
# user (either may be created by a feature after this one), the one found
# now, the first uid-1000 user at start; otherwise the one named.
is_user_name() {
	printf '%s\n' "$1" | grep -Eq '^([A-Za-z_][A-Za-z0-9_.-]*[$]?|[0-9]+)$'
}
start_candidates=""
for candidate in "${_REMOTE_USER:-}" "${_CONTAINER_USER:-}" "$TARGET_USER"; do
	case $REQUESTED_USER in automatic | auto) ;; *) [ "$candidate" = "$TARGET_USER" ] || continue ;; esac
	if [ -n "$candidate" ] && [ "$candidate" != root ] && is_user_name "$candidate"; then
		case " $start_candidates " in *" $candidate "*) ;; *) start_candidates="$start_candidates $candidate" ;; esac
	fi
done
# shellcheck disable=SC2016 # expanded by berth-init.sh at start, not here
case $REQUESTED_USER in
automatic | auto) uid_1000_line='candidates="$candidates $(awk -F: '"'"'$3 == 1000 { print $1; exit }'"'"' /etc/passwd)"' ;;
*) uid_1000_line='' ;;
esac
if [ -n "$start_candidates" ] || [ -n "$uid_1000_line" ]; then
	user_block="# user=$REQUESTED_USER: the first of these users that exists at start.
if [ -z \"\${BERTH_USER:-}\" ]; then
	candidates=\"${start_candidates# }\"
	$uid_1000_line
	for candidate in \$candidates; do
		if [ \"\$candidate\" != root ] && id -u \"\$candidate\" >/dev/null 2>&1; then
			export BERTH_USER=\"\$candidate\"
			break
		fi
	done
fi"
else
	user_block="# user=$REQUESTED_USER: the command runs as the container's user (BERTH_USER unset)"
fi

mkdir -p "$(dirname "$INIT_SCRIPT")"
tmp="$INIT_SCRIPT.tmp.$$"
cat >"$tmp" <<EOF
#!/bin/sh
# Written by the berth devcontainer feature (install.sh); rebuild to change it.
#
# As the image's ENTRYPOINT, berth is PID 1: it prepares Docker, then runs
# "\$@" (or the user's login shell) and stays the init.
#
# The devcontainer CLI instead keeps /bin/sh as PID 1 and runs each feature's
# entrypoint once, without arguments, before the container's command. Then
# berth runs in the background as a subreaper with \`sleep infinity\` for a
# command, keeping Docker prepared (and its own dockerd running), and this
# script returns once berth has started that command: Docker is ready. It
# waits at most BERTH_INIT_WAIT seconds (default 90).
#
# BERTH_DOCKER and BERTH_USER in the container's environment (containerEnv)
# win over the values chosen when the image was built.
BERTH=$BERTH_DEST
export BERTH_DOCKER="\${BERTH_DOCKER:-$MODE}"
$user_block

# Rootless dockerd keeps its data in ~/.local/share/docker, on the
# container's overlay root, where it can only fall back to fuse-overlayfs
# (which needs /dev/fuse) or vfs. The feature's volume at /var/lib/docker is
# there in every mode: link an empty (or missing) data root to a directory of
# the user's on it. (berth's rootless engine does not take
# BERTH_DOCKERD_DATA_ROOT, hence the link.)
if [ "\$BERTH_DOCKER" = rootless ] && [ -n "\${BERTH_USER:-}" ] && [ "\$(id -u)" -eq 0 ] &&
	awk '\$5 == "/var/lib/docker" { found = 1 } END { exit !found }' /proc/self/mountinfo; then
	owner="\$(id -u "\$BERTH_USER"):\$(id -g "\$BERTH_USER")"
	home=\$(getent passwd "\$BERTH_USER" | cut -d: -f6)
	data="\$home/.local/share/docker"
	if [ -n "\$home" ] && { [ ! -e "\$data" ] || rmdir "\$data" 2>/dev/null; }; then
		for dir in "\$home/.local" "\$home/.local/share"; do
			[ -d "\$dir" ] || install -d -o "\${owner%:*}" -g "\${owner#*:}" "\$dir"
		done
		mkdir -p /var/lib/docker/rootless
		chown "\$owner" /var/lib/docker/rootless
		chmod 0700 /var/lib/docker/rootless
		ln -s /var/lib/docker/rootless "\$data"
		chown -h "\$owner" "\$data"
	fi
fi

if [ "\$\$" -eq 1 ] || [ "\$#" -gt 0 ]; then
	exec "\$BERTH" -- "\$@"
fi

case \$BERTH_DOCKER in
off | OFF) exit 0 ;;
esac

"\$BERTH" -- sleep infinity </dev/null &
berth_pid=\$!

# command_started: berth's child \`sleep\` exists, so its set-up is done.
command_started() {
	for status in /proc/[0-9]*/status; do
		awk -v ppid="\$berth_pid" '/^Name:/ { name = \$2 } /^PPid:/ { parent = \$2 }
			END { exit !(name == "sleep" && parent == ppid) }' "\$status" 2>/dev/null && return 0
	done
	return 1
}

wait_s=\${BERTH_INIT_WAIT:-90}
deadline=\$((\$(date +%s) + wait_s))
until command_started; do
	if ! kill -0 "\$berth_pid" 2>/dev/null; then
		wait "\$berth_pid"
		status=\$?
		echo "berth-init: berth exited with status \$status (its messages are above; berth doctor says why)" >&2
		# CAP_SYS_ADMIN (bit 21) missing: the container is not privileged.
		cap_eff=\$(awk '/^CapEff:/ { print \$2 }' /proc/self/status)
		case \$BERTH_DOCKER in
		dind | rootless)
			if [ \$(( (0x\$cap_eff >> 21) & 1 )) -eq 0 ]; then
				echo "berth-init: mode \$BERTH_DOCKER starts dockerd, which needs a privileged container: set \"privileged\": true in devcontainer.json and rebuild (or pick mode socket and mount the host's /var/run/docker.sock)" >&2
			fi
			;;
		esac
		exit 0
	fi
	if [ "\$(date +%s)" -ge "\$deadline" ]; then
		echo "berth-init: berth is still preparing Docker after \${wait_s}s; continuing without waiting" >&2
		exit 0
	fi
	sleep 0.2
done
EOF
chmod 0755 "$tmp"
mv -f "$tmp" "$INIT_SCRIPT"

if [ "$MODE" = rootless ]; then
	cat >"$PROFILE_SNIPPET" <<'EOF'
# Written by the berth devcontainer feature (mode rootless): berth starts the
# user's dockerd under rootlesskit at /run/user/<uid>/docker.sock; later
# sessions (docker exec, the IDE's terminals) find it through DOCKER_HOST.
if [ -z "${DOCKER_HOST:-}" ] && [ -S "/run/user/$(id -u)/docker.sock" ]; then
	export DOCKER_HOST="unix:///run/user/$(id -u)/docker.sock"
fi
EOF
	chmod 0644 "$PROFILE_SNIPPET"
fi

case $MODE in
dind | rootless)
	note "mode $MODE needs a privileged container: set \"privileged\": true in devcontainer.json (and a volume for /var/lib/docker for dind, see the feature's README)"
	;;
esac
note "installed berth $("$BERTH_DEST" --version 2>/dev/null | awk '{ print $2 }') (mode $MODE, user ${TARGET_USER:-root}); entrypoint $INIT_SCRIPT"

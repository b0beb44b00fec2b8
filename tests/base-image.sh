#!/usr/bin/env bash
# Make a base image the Dockerfiles start FROM (debian:bookworm, or
# debian:trixie for the trixie flavour) available to the engine DOCKER_HOST (or
# the default socket) points at.
#
#   bash tests/base-image.sh [image] [SUITE]  ensure debian:SUITE exists
#                                             (SUITE: bookworm, the default,
#                                             or trixie)
#   bash tests/base-image.sh tarball [SUITE]  only build/refresh the cached
#                                             rootfs tarball and print its path
#                                             (no engine; tests/vm uses it)
#   bash tests/base-image.sh key [SUITE]      print the tarball's cache key
#
# Order: the image is already there -> `docker pull` -> debootstrap a minbase
# rootfs from the Debian mirror and `docker import` it. The tarball is cached in
# $BERTH_TEST_CACHE (default /var/cache/berth-test) under a key hashed from
# everything that shapes it (this script, suite, mirror, packages), so the slow
# debootstrap runs once per machine. On a machine with a registry the pull wins
# and nothing here is used.
set -euo pipefail
# shellcheck source=tests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BERTH_LOG_TAG=base-image

SUITE=${2:-bookworm}
case $SUITE in
bookworm | trixie) ;;
*) die "unsupported suite '$SUITE': bookworm or trixie" ;;
esac
BASE_IMAGE=${BERTH_BASE_IMAGE:-debian:$SUITE}
MIRROR=${BERTH_TEST_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${BERTH_TEST_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
# Added to minbase. Empty: the official image has none of these either, and the
# Dockerfiles install what they need.
EXTRA_PACKAGES=()
# A pull against a registry that is not there fails fast on DNS; the bound is
# for a registry that accepts the connection and then stalls.
PULL_TIMEOUT=${BERTH_PULL_TIMEOUT:-120}

cache_key() {
	{
		cat "${BASH_SOURCE[0]}"
		printf 'suite=%s\nmirror=%s\nsecurity=%s\npackages=%s\n' \
			"$SUITE" "$MIRROR" "$SECURITY_MIRROR" "${EXTRA_PACKAGES[*]}"
	} | sha256sum | cut -c1-16
}

# The finishing touches the official image has and debootstrap does not:
# deb822 sources with updates and security, apt caches that clean themselves,
# no package lists baked in.
finish_rootfs() {
	local root=$1
	rm -f "$root/etc/apt/sources.list"
	cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY_MIRROR
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
	cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
	echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/docker-no-languages"
	# Containers get their hostname and resolver from the engine.
	: >"$root/etc/hostname"
	: >"$root/etc/resolv.conf"
	rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb \
		"$root"/var/cache/apt/*.bin "$root"/var/log/* "$root"/tmp/* "$root"/root/.bash_history \
		"$root"/debootstrap
}

# build_tarball: print the path of the cached rootfs tarball, building it first
# when the cache has none for the current key.
build_tarball() {
	local key tarball work root
	key=$(cache_key)
	tarball="$BERTH_TEST_CACHE/debian-$SUITE-minbase-$key.tar.gz"
	if [[ -s $tarball ]]; then
		log "cached rootfs: $tarball"
		printf '%s\n' "$tarball"
		return 0
	fi
	is_root || die "no $BASE_IMAGE, no registry, and debootstrap needs root (or set BERTH_TEST_CACHE to a dir holding $(basename "$tarball"))"
	apt_install debootstrap debian-archive-keyring
	mkdir -p "$BERTH_TEST_CACHE"
	# One builder at a time; a second caller waits and then finds the tarball.
	exec 9>"$BERTH_TEST_CACHE/.debootstrap.lock"
	flock 9
	if [[ -s $tarball ]]; then
		printf '%s\n' "$tarball"
		return 0
	fi
	work=$(mktemp -d "$BERTH_TEST_CACHE/.build.XXXXXX")
	# shellcheck disable=SC2064 # expand now: $work is local
	trap "rm -rf '$work'" EXIT
	root="$work/rootfs"
	local include=()
	((${#EXTRA_PACKAGES[@]} == 0)) || include=("--include=$(
		IFS=,
		echo "${EXTRA_PACKAGES[*]}"
	)")
	log "debootstrap --variant=minbase $SUITE from $MIRROR (a few minutes, once)"
	debootstrap --variant=minbase "${include[@]}" "$SUITE" "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 || {
		tail -n 30 "$work/debootstrap.log" >&2
		die "debootstrap failed (full log above)"
	}
	finish_rootfs "$root"
	tar --numeric-owner --xattrs -C "$root" -c . | gzip -1 >"$work/rootfs.tar.gz"
	# Drop tarballs of older keys: they can never be used again.
	rm -f "$BERTH_TEST_CACHE/debian-$SUITE-minbase-"*.tar.gz
	mv "$work/rootfs.tar.gz" "$tarball"
	rm -rf "$work"
	trap - EXIT
	exec 9>&-
	log "built $tarball ($(du -h "$tarball" | cut -f1))"
	printf '%s\n' "$tarball"
}

ensure_image() {
	engine_answers || die "no Docker engine answers (DOCKER_HOST=${DOCKER_HOST:-unset}); run tests/engine.sh up"
	if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
		log "$BASE_IMAGE present"
		return 0
	fi
	log "trying docker pull $BASE_IMAGE"
	if timeout "$PULL_TIMEOUT" docker pull -q "$BASE_IMAGE" >/dev/null 2>&1; then
		log "pulled $BASE_IMAGE"
		return 0
	fi
	log "pull failed; importing a debootstrapped rootfs instead"
	local tarball
	tarball=$(build_tarball)
	docker import \
		--change 'CMD ["bash"]' \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--message "debootstrap --variant=minbase $SUITE $MIRROR (berth tests/base-image.sh)" \
		"$tarball" "$BASE_IMAGE" >/dev/null
	log "imported $BASE_IMAGE from $tarball"
}

case ${1:-image} in
image) ensure_image ;;
tarball) build_tarball ;;
key) cache_key ;;
*) die "usage: $0 [image|tarball|key] [bookworm|trixie]" ;;
esac

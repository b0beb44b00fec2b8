#!/usr/bin/env bash
# Build the workspace images against the engine DOCKER_HOST (or the default
# socket) points at, in two flavours that differ in the inner engine:
#
#   berth/workspace                   Dockerfile, debian:bookworm (docker.io 20.10)
#   berth/workspace-rootless          Dockerfile.rootless, debian:bookworm
#   berth/workspace:trixie            Dockerfile, DEBIAN=trixie (docker.io 26.x)
#   berth/workspace-rootless:trixie   Dockerfile.rootless, DEBIAN=trixie
#
# Tags: BERTH_IMAGE, BERTH_IMAGE_ROOTLESS, BERTH_IMAGE_TRIXIE,
# BERTH_IMAGE_ROOTLESS_TRIXIE.
# The berth binary is $BERTH_BIN, else `cargo build --release` output. The
# build context is a temp dir holding only the binary, rootfs/ and the
# Dockerfiles, so nothing else of the repository (target/ above all) is sent.
# debian:bookworm and debian:trixie are made available first
# (tests/base-image.sh).
set -euo pipefail
# shellcheck source=tests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BERTH_LOG_TAG=images

WORKSPACE_TAG=${BERTH_IMAGE:-berth/workspace}
ROOTLESS_TAG=${BERTH_IMAGE_ROOTLESS:-berth/workspace-rootless}
WORKSPACE_TRIXIE_TAG=${BERTH_IMAGE_TRIXIE:-berth/workspace:trixie}
ROOTLESS_TRIXIE_TAG=${BERTH_IMAGE_ROOTLESS_TRIXIE:-berth/workspace-rootless:trixie}
DEFAULT_BIN="${CARGO_TARGET_DIR:-$BERTH_REPO/target}/x86_64-unknown-linux-gnu/release/berth"

berth_binary() {
	if [[ -n ${BERTH_BIN:-} ]]; then
		[[ -x $BERTH_BIN ]] || die "BERTH_BIN=$BERTH_BIN is not an executable file"
		printf '%s\n' "$BERTH_BIN"
		return 0
	fi
	log "cargo build --release"
	(cd "$BERTH_REPO" && cargo build --release --quiet) >&2
	[[ -x $DEFAULT_BIN ]] || die "cargo build did not produce $DEFAULT_BIN"
	printf '%s\n' "$DEFAULT_BIN"
}

# The image runs berth with nothing else from the build machine: a binary that
# needs a dynamic loader would fail only at `docker run`.
check_static() {
	local bin=$1
	if command -v readelf >/dev/null 2>&1 && readelf -l "$bin" 2>/dev/null | grep -q 'Requesting program interpreter'; then
		die "$bin is dynamically linked; the image needs the static build (.cargo/config.toml sets crt-static)"
	fi
}

stage_context() {
	local bin=$1 ctx=$2
	cp "$bin" "$ctx/berth"
	chmod 0755 "$ctx/berth"
	cp -a "$BERTH_REPO/rootfs" "$ctx/rootfs"
	# .keep only exists so git keeps an empty rootfs/; it is not image content.
	rm -f "$ctx/rootfs/.keep"
	cp "$BERTH_REPO/Dockerfile" "$BERTH_REPO/Dockerfile.rootless" "$ctx/"
}

# build CONTEXT DOCKERFILE SUITE TAG
build() {
	local ctx=$1 dockerfile=$2 suite=$3 tag=$4 start=$SECONDS
	log "building $tag from $dockerfile on debian:$suite"
	if ! docker build --quiet --file "$ctx/$dockerfile" --build-arg BERTH_BIN=berth \
		--build-arg DEBIAN="$suite" --tag "$tag" "$ctx" >"$ctx/$dockerfile.$suite.log" 2>&1; then
		tail -n 40 "$ctx/$dockerfile.$suite.log" >&2
		die "building $tag failed (log above)"
	fi
	log "built $tag in $((SECONDS - start))s"
}

main() {
	engine_answers || die "no Docker engine answers (DOCKER_HOST=${DOCKER_HOST:-unset}); run: eval \"\$(bash tests/engine.sh up)\""
	bash "$BERTH_REPO/tests/base-image.sh" image bookworm
	bash "$BERTH_REPO/tests/base-image.sh" image trixie
	local bin ctx
	bin=$(berth_binary)
	check_static "$bin"
	ctx=$(mktemp -d "${TMPDIR:-/tmp}/berth-images.XXXXXX")
	# shellcheck disable=SC2064 # expand now: $ctx is local
	trap "rm -rf '$ctx'" EXIT
	stage_context "$bin" "$ctx"
	build "$ctx" Dockerfile bookworm "$WORKSPACE_TAG"
	build "$ctx" Dockerfile.rootless bookworm "$ROOTLESS_TAG"
	build "$ctx" Dockerfile trixie "$WORKSPACE_TRIXIE_TAG"
	build "$ctx" Dockerfile.rootless trixie "$ROOTLESS_TRIXIE_TAG"
}

main "$@"

#!/bin/sh
# Package the berth devcontainer feature: copy the static release binary next
# to install.sh and make the tarball a feature registry (or a local
# "./berth" reference in devcontainer.json) takes.
#
#   cargo build --release && sh devcontainer-feature/package.sh [OUT_DIR]
#
# BERTH_BIN names another binary (default: this checkout's release build).
# Writes OUT_DIR/devcontainer-feature-berth.tgz (OUT_DIR defaults to
# target/feature). The binary is never committed: .gitignore lists it.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
BIN=${BERTH_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/x86_64-unknown-linux-gnu/release/berth}
OUT_DIR=${1:-$REPO/target/feature}

[ -x "$BIN" ] || {
	echo "package.sh: no berth binary at $BIN: run cargo build --release (or set BERTH_BIN)" >&2
	exit 1
}
if command -v readelf >/dev/null 2>&1 && readelf -l "$BIN" 2>/dev/null | grep -q 'Requesting program interpreter'; then
	echo "package.sh: $BIN is dynamically linked; the feature needs the static build (.cargo/config.toml sets crt-static)" >&2
	exit 1
fi

install -m 0755 "$BIN" "$HERE/berth/berth"
mkdir -p "$OUT_DIR"
tar -C "$HERE/berth" -czf "$OUT_DIR/devcontainer-feature-berth.tgz" \
	devcontainer-feature.json install.sh berth
echo "$OUT_DIR/devcontainer-feature-berth.tgz"

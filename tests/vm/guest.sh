#!/usr/bin/env bash
# A second test host for berth's docker-in-docker: a Debian trixie guest with
# cgroup v2 only and AppArmor on, booted under qemu, where the workspace image
# runs `--privileged` with berth as PID 1 and the cases in tests/vm/cases.sh
# check what a user on such a host gets.
#
#   bash tests/vm/guest.sh run       prepare (cached), boot, run the cases
#   bash tests/vm/guest.sh prepare   only build the cached kernel, rootfs, disk
#   bash tests/vm/guest.sh verdict RESULTS   judge a kept run's results again
#
# Made only from Debian's packages, never installed on this machine:
#   kernel   linux-image-amd64 (and the linux-image-6.12* it depends on),
#            `apt-get download`ed with a private apt state and `dpkg -x`ed
#   rootfs   tests/base-image.sh's debootstrapped trixie minbase, plus
#            docker.io, containerd, runc, iptables (nft), apparmor, kmod...
#            installed in a chroot, plus the kernel's modules
#   initrd   busybox-static and the few modules needed to mount the disk and
#            the shared folder (tests/vm/initramfs-init)
#   disk     the rootfs with the workspace image (the Dockerfile's `system`
#            stage, i.e. everything but berth) already in /var/lib/docker:
#            the guest's own dockerd loads it on this machine at prepare time,
#            in a chroot under `unshare --net --mount`, so no image crosses
#            into the guest at run time
# Each piece is cached in $BERTH_TEST_CACHE/vm under a hash of its inputs (the
# disk's includes the image's id). The guest boots from the cached disk with
# `snapshot=on`, so a run never changes it.
#
# At run time a 9p shared folder carries the berth binary under test (bind-
# mounted over /usr/local/bin/berth in each outer container), the guest's init
# and cases, a tiny inner image (busybox), and takes the results back. The
# guest writes `BERTH-FACT <key> <value>` and `BERTH-CASE <name> PASS|FAIL
# <detail>` lines and a final `BERTH-END`, then powers off.
#
# Exit status: 0 every case passed (or failed and is listed in
# BERTH_VM_XFAIL); 1 a case failed, an XFAIL case passed (XPASS), a case never
# reported, or the guest never reached its end marker; 2 the guest could not
# be built or booted (tests/run.sh skips loudly on 2 outside CI).
#
# Knobs:
#   BERTH_BIN               berth under test (default: the release build)
#   BERTH_VM_DEBIAN         flavours of the workspace image (its inner
#                           engine) to run the cases with: "bookworm trixie"
#                           (default), or one of them
#   BERTH_VM_XFAIL          comma-separated cases (<case>@<flavour>, e.g.
#                           apparmor-default@bookworm) known to fail today: their
#                           FAIL is reported as XFAIL and does not fail the
#                           step; their PASS is XPASS and does
#   BERTH_VM_REFERENCE      a script to use as the outer containers' entrypoint
#                           instead of berth (checks the cases themselves)
#   BERTH_VM_CASES          another cases script to run in the guest (for
#                           experiments by hand; BERTH_VM_EXTRA names a
#                           directory that appears as /berth-vm/extra in the
#                           outer containers)
#   BERTH_VM_ACCEL          auto (default: kvm if a probe boot works, else
#                           tcg), kvm or tcg
#   BERTH_VM_TIMEOUT        seconds the guest may run (default 1500)
#   BERTH_VM_MEMORY         guest memory in MiB (default 3072)
#   BERTH_VM_KEEP           1: keep the run directory (console log, results)
set -euo pipefail
# A failure inside $(...) must end the script too.
shopt -s inherit_errexit
# shellcheck source=tests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
BERTH_LOG_TAG=vm

VM_SRC=$BERTH_REPO/tests/vm
VM_CACHE=$BERTH_TEST_CACHE/vm
SUITE=trixie
MIRROR=${BERTH_TEST_MIRROR:-http://deb.debian.org/debian}
KERNEL_PACKAGE=linux-image-amd64
# What the guest's init and cases use, beyond minbase: the engine (docker.io
# 26.x with containerd and runc), iptables (nft backend), AppArmor as Debian
# ships it, modprobe for the kernel's module autoloading, ip, pgrep.
GUEST_PACKAGES=(docker.io docker-cli containerd runc iptables apparmor kmod iproute2 procps)
# Modules the initrd loads to mount the root disk and the shared folder; the
# rest (overlay, bridge, nf_tables...) the guest's kernel autoloads from the
# disk through kmod.
INITRD_MODULES=(virtio_blk ext4 9p 9pnet_virtio)
# The workspace image's flavours (its inner engine) the cases run with.
read -r -a FLAVOURS <<<"${BERTH_VM_DEBIAN:-bookworm trixie}"
# The guest's name for the preloaded images: $GUEST_IMAGE:<flavour>.
GUEST_IMAGE=berth/vm-workspace
DISK_SIZE=16G
# Every case tests/vm/cases.sh reports, in the order it runs them, as
# <case>@<flavour>.
CASE_NAMES=(cgroupns-default apparmor-default limits dockerd-restart cgroupns-private stop-graceful
	apparmor-docker-host apparmor-require cgroupns-host apparmor-fallback cgroupns-host-pid-host)
CASES=()
for flavour in "${FLAVOURS[@]}"; do
	case $flavour in
	bookworm | trixie) ;;
	*) die "BERTH_VM_DEBIAN names '$flavour': bookworm and/or trixie" ;;
	esac
	for case_name in "${CASE_NAMES[@]}"; do CASES+=("$case_name@$flavour"); done
done
BOOT_TIMEOUT=${BERTH_VM_TIMEOUT:-1500}
MEMORY=${BERTH_VM_MEMORY:-3072}

# unbuildable MESSAGE: the guest cannot be built or booted (exit 2).
unbuildable() {
	log "error: $*"
	exit 2
}

# The keys: each level hashes its own inputs and the key of the level below.
# Only the parts of this file that shape a level go into its key, so editing
# the run-time half does not rebuild the disk.
base_key() {
	{
		printf 'suite=%s mirror=%s kernel=%s packages=%s initrd=%s\n' \
			"$SUITE" "$MIRROR" "$KERNEL_PACKAGE" "${GUEST_PACKAGES[*]}" "${INITRD_MODULES[*]}"
		declare -f fetch_kernel build_rootfs build_initrd build_base
		cat "$VM_SRC/initramfs-init"
		bash "$BERTH_REPO/tests/base-image.sh" key "$SUITE"
	} | sha256sum | cut -c1-16
}

# apt_private DIR apt-get|apt-cache ARGS...: apt against trixie with a
# private state in DIR, so this machine's own apt sources and lists are never
# touched.
apt_private() {
	local dir=$1 tool=$2
	shift 2
	"$tool" -q -o Dir::Etc::SourceList="$dir/sources.list" -o Dir::Etc::SourceParts=/dev/null \
		-o Dir::State="$dir/state" -o Dir::State::status="$dir/state/status" \
		-o Dir::Cache="$dir/cache" -o Dir::Etc::Preferences=/dev/null \
		-o Dir::Etc::PreferencesParts=/dev/null -o APT::Sandbox::User=root "$@"
}

# fetch_kernel WORK: download the kernel packages into WORK/debs and unpack
# them into WORK/kernel; print the kernel's version.
fetch_kernel() {
	local work=$1 apt=$1/apt
	mkdir -p "$apt/state/lists/partial" "$apt/cache/archives/partial" "$work/debs" "$work/kernel"
	: >"$apt/state/status"
	printf 'deb %s %s main\n' "$MIRROR" "$SUITE" >"$apt/sources.list"
	apt_private "$apt" apt-get update >"$work/apt.log" 2>&1 || {
		tail -n 20 "$work/apt.log" >&2
		unbuildable "apt-get update for $SUITE from $MIRROR failed (log above)"
	}
	local dep
	dep=$(apt_private "$apt" apt-cache show "$KERNEL_PACKAGE" 2>/dev/null |
		sed -n 's/^Depends: \(linux-image-[^ ,]*\).*/\1/p' | head -n 1)
	[[ -n $dep ]] || unbuildable "cannot tell which kernel $KERNEL_PACKAGE depends on in $SUITE"
	(cd "$work/debs" && apt_private "$apt" apt-get download "$KERNEL_PACKAGE" "$dep") >>"$work/apt.log" 2>&1 || {
		tail -n 20 "$work/apt.log" >&2
		unbuildable "cannot fetch the kernel packages $KERNEL_PACKAGE $dep (log above)"
	}
	local deb
	for deb in "$work"/debs/*.deb; do dpkg -x "$deb" "$work/kernel"; done
	local version
	version=$(basename "$(ls -d "$work"/kernel/usr/lib/modules/*)")
	[[ -f $work/kernel/boot/vmlinuz-$version ]] || unbuildable "$dep has no /boot/vmlinuz-$version"
	printf '%s\n' "$version"
}

# in_root ROOT COMMAND...: run COMMAND chrooted into ROOT with /proc, /sys
# and /dev, in a mount namespace of its own (nothing stays mounted).
in_root() {
	local root=$1
	shift
	# shellcheck disable=SC2016 # expanded by the inner sh
	unshare --mount --fork -- sh -c '
		root=$1; shift
		mount -t proc proc "$root/proc" && mount --rbind /sys "$root/sys" &&
			mount --rbind /dev "$root/dev" && exec chroot "$root" "$@"' sh "$root" "$@"
}

# build_rootfs WORK ROOT KVER: the guest's root file system in ROOT.
build_rootfs() {
	local work=$1 root=$2 kver=$3 base
	base=$(bash "$BERTH_REPO/tests/base-image.sh" tarball "$SUITE") ||
		unbuildable "no $SUITE rootfs from tests/base-image.sh (output above)"
	mkdir -p "$root"
	tar --numeric-owner -xzf "$base" -C "$root"
	cp /etc/resolv.conf "$root/etc/resolv.conf"
	# Services must not start in a chroot.
	printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
	chmod 0755 "$root/usr/sbin/policy-rc.d"
	log "installing ${GUEST_PACKAGES[*]} into the guest rootfs"
	in_root "$root" sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"' \
		sh "${GUEST_PACKAGES[@]}" >"$work/rootfs.log" 2>&1 || {
		tail -n 30 "$work/rootfs.log" >&2
		unbuildable "installing the guest's packages failed (log above)"
	}
	rm -f "$root/usr/sbin/policy-rc.d"
	mkdir -p "$root/usr/lib/modules"
	cp -a "$work/kernel/usr/lib/modules/$kver" "$root/usr/lib/modules/"
	in_root "$root" depmod "$kver"
	printf 'berth-vm\n' >"$root/etc/hostname"
	mkdir -p "$root/mnt/berth-vm"
	: >"$root/etc/resolv.conf"
	rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/log/*
}

# build_initrd WORK ROOT KVER OUT: a gzipped newc cpio with busybox-static, the
# modules in INITRD_MODULES (decompressed, with their dependencies, in load
# order) and tests/vm/initramfs-init as /init.
build_initrd() {
	local work=$1 root=$2 kver=$3 out=$4 initrd=$1/initrd
	mkdir -p "$initrd"/{bin,dev,proc,sys,newroot,modules}
	cp "$(command -v busybox)" "$initrd/bin/busybox"
	cp "$VM_SRC/initramfs-init" "$initrd/init"
	chmod 0755 "$initrd/init"
	local mod path name
	for mod in "${INITRD_MODULES[@]}"; do
		in_root "$root" modprobe --show-depends --set-version "$kver" "$mod"
	done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }' | while read -r path; do
		name=$(basename "$path")
		name=${name%.xz}
		case $path in
		*.xz) xz -dc "$root$path" >"$initrd/modules/$name" ;;
		*) cp "$root$path" "$initrd/modules/$name" ;;
		esac
		printf '%s\n' "$name" >>"$initrd/modules/order"
	done
	[[ -s $initrd/modules/order ]] || unbuildable "no modules found for the initrd (${INITRD_MODULES[*]})"
	(cd "$initrd" && find . | cpio -o -H newc --quiet) | gzip -1 >"$out"
}

# build_base DIR: kernel, initrd and rootfs tarball for the current base key.
build_base() {
	local dir=$1 work kver
	work=$(mktemp -d "$VM_CACHE/.base.XXXXXX")
	# shellcheck disable=SC2064 # expand now: $work is local
	trap "rm -rf '$work'" EXIT
	log "fetching $KERNEL_PACKAGE from $SUITE"
	kver=$(fetch_kernel "$work")
	build_rootfs "$work" "$work/root" "$kver"
	build_initrd "$work" "$work/root" "$kver" "$work/initrd.gz"
	mkdir -p "$work/out"
	cp "$work/kernel/boot/vmlinuz-$kver" "$work/out/vmlinuz"
	mv "$work/initrd.gz" "$work/out/initrd.gz"
	tar --numeric-owner --xattrs --xattrs-include='*' -C "$work/root" -c . | gzip -1 >"$work/out/rootfs.tar.gz"
	{
		printf 'kernel %s\n' "$kver"
		in_root "$work/root" dpkg-query -W "${GUEST_PACKAGES[@]}"
	} >"$work/out/manifest"
	rm -rf "$dir"
	mv "$work/out" "$dir"
	rm -rf "$work"
	trap - EXIT
}

# ensure_base: print the directory of the cached base, building it if needed.
ensure_base() {
	local key dir
	key=$(base_key)
	dir=$VM_CACHE/base-$key
	if [[ -s $dir/rootfs.tar.gz ]]; then
		printf '%s\n' "$dir"
		return 0
	fi
	is_root || unbuildable "building the guest needs root"
	(apt_install debootstrap debian-archive-keyring busybox-static cpio xz-utils e2fsprogs) ||
		unbuildable "cannot install what building the guest needs"
	mkdir -p "$VM_CACHE"
	exec 8>"$VM_CACHE/.base.lock"
	flock 8
	if [[ ! -s $dir/rootfs.tar.gz ]]; then
		local start=$SECONDS
		log "building the guest's kernel, initrd and rootfs (once per input change)"
		build_base "$dir"
		# Older keys can never be used again.
		find "$VM_CACHE" -maxdepth 1 -name 'base-*' ! -name "base-$key" -exec rm -rf {} +
		log "built $dir in $((SECONDS - start))s: $(head -n 1 "$dir/manifest")"
	fi
	exec 8>&-
	printf '%s\n' "$dir"
}

# system_image FLAVOUR: build the Dockerfile's `system` stage (the workspace
# image without berth) on debian:FLAVOUR and print its id. The engine's build
# cache makes this cheap once tests/images.sh has run.
system_image() {
	local flavour=$1
	engine_answers || unbuildable "no Docker engine answers to build the image for the guest (DOCKER_HOST=${DOCKER_HOST:-unset})"
	bash "$BERTH_REPO/tests/base-image.sh" image "$flavour" >&2 ||
		unbuildable "no debian:$flavour base image (output above)"
	local ctx id
	ctx=$(mktemp -d "${TMPDIR:-/tmp}/berth-vm-ctx.XXXXXX")
	cp -a "$BERTH_REPO/rootfs" "$ctx/rootfs"
	rm -f "$ctx/rootfs/.keep"
	cp "$BERTH_REPO/Dockerfile" "$ctx/"
	if ! id=$(docker build -q --target system --build-arg DEBIAN="$flavour" "$ctx" 2>"$ctx/build.err"); then
		cat "$ctx/build.err" >&2
		rm -rf "$ctx"
		unbuildable "building the Dockerfile's system stage on $flavour failed (output above)"
	fi
	rm -rf "$ctx"
	printf '%s\n' "$id"
}

# preload ROOT SOCK FLAVOUR=IMAGE_ID...: (run under unshare) start the guest
# rootfs's own dockerd in a chroot, data root ROOT/var/lib/docker, load each
# image from this machine's engine into it, tag it $GUEST_IMAGE:FLAVOUR, and
# stop it.
preload() {
	local root=$1 sock=$2 pair
	shift 2
	ip link set lo up
	# dockerd makes / rslave: in a chroot that needs / to be a mount point.
	mount --bind "$root" "$root"
	mount -t proc proc "$root/proc"
	mount --rbind /sys "$root/sys"
	mount --rbind /dev "$root/dev"
	mount -t tmpfs tmpfs "$root/run"
	mount -t tmpfs tmpfs "$root/tmp"
	# No bridge and no iptables: nothing runs in this engine, it only stores.
	chroot "$root" dockerd --host "unix:///run/preload.sock" --bridge none --iptables=false \
		--ip6tables=false --storage-driver overlay2 --exec-root /run/docker \
		>"$sock.log" 2>&1 &
	local dockerd=$!
	local guest=(docker --host "unix://$root/run/preload.sock")
	wait_until 120 "the guest's dockerd to start for the preload" "${guest[@]}" version >/dev/null 2>&1 || {
		tail -n 20 "$sock.log" >&2
		return 1
	}
	for pair in "$@"; do
		docker save "${pair#*=}" | "${guest[@]}" load -q >&2
		"${guest[@]}" tag "${pair#*=}" "$GUEST_IMAGE:${pair%%=*}"
	done
	kill -TERM "$dockerd"
	wait "$dockerd" || true
}

# ensure_disk BASE: print the path of the guest disk for BASE and the current
# images, building it if needed.
ensure_disk() {
	local base=$1 images=() flavour key disk
	for flavour in "${FLAVOURS[@]}"; do images+=("$flavour=$(system_image "$flavour")"); done
	key=$(printf '%s %s %s\n' "$(basename "$base")" "${images[*]}" "$(declare -f preload build_disk)" | sha256sum | cut -c1-16)
	disk=$VM_CACHE/disk-$key.raw
	if [[ -s $disk ]]; then
		log "cached guest disk: $disk (${images[*]})"
		printf '%s\n' "$disk"
		return 0
	fi
	exec 8>"$VM_CACHE/.disk.lock"
	flock 8
	if [[ ! -s $disk ]]; then
		local start=$SECONDS
		log "building the guest disk with ${images[*]} preloaded"
		build_disk "$base" "$disk" "${images[@]}"
		find "$VM_CACHE" -maxdepth 1 -name 'disk-*.raw' ! -name "$(basename "$disk")" -delete
		log "built $disk in $((SECONDS - start))s"
	fi
	exec 8>&-
	printf '%s\n' "$disk"
}

# build_disk BASE DISK FLAVOUR=IMAGE_ID...: the rootfs with the images
# preloaded, as an ext4 file system image made with mkfs.ext4 -d (no loop
# device, no mount).
build_disk() {
	local base=$1 disk=$2 work
	shift 2
	work=$(mktemp -d "$VM_CACHE/.disk.XXXXXX")
	# shellcheck disable=SC2064 # expand now: $work is local
	trap "rm -rf '$work'" EXIT
	mkdir "$work/root"
	tar --numeric-owner --xattrs --xattrs-include='*' -xzf "$base/rootfs.tar.gz" -C "$work/root"
	# Its own network (dockerd there touches no bridge of this machine), mount
	# and PID namespaces: when the preload ends, for whatever reason, the
	# kernel ends its dockerd and containerd with it.
	unshare --net --mount --pid --fork --mount-proc -- \
		bash -c "set -euo pipefail; $(declare -f preload wait_until log); BERTH_LOG_TAG=vm-preload GUEST_IMAGE=$GUEST_IMAGE; preload \"\$@\"" \
		preload "$work/root" "$work/preload" "$@" 8>&- || unbuildable "preloading the image into the guest's data root failed (output above)"
	truncate -s "$DISK_SIZE" "$work/disk.raw"
	# No journal and no lazy init: the guest's emulated CPU should not spend
	# its time on either, and the disk is thrown away after each boot.
	mkfs.ext4 -q -F -L berth-vm -O ^has_journal -E lazy_itable_init=0,lazy_journal_init=0 \
		-d "$work/root" "$work/disk.raw" >"$work/mkfs.log" 2>&1 || {
		cat "$work/mkfs.log" >&2
		unbuildable "mkfs.ext4 -d of the guest's rootfs failed (output above)"
	}
	mv "$work/disk.raw" "$disk"
	rm -rf "$work"
	trap - EXIT
}

# accel: kvm when a probe boot of the guest kernel reaches its first panic
# (no root given) under KVM, else tcg. On this project's machines /dev/kvm
# exists but KVM either aborts (an MSR assertion with -cpu host) or stalls in
# an emulation failure, so the probe is bounded.
accel() {
	local kernel=$1 want=${BERTH_VM_ACCEL:-auto} out
	case $want in
	kvm | tcg)
		printf '%s\n' "$want"
		return 0
		;;
	auto) ;;
	*) unbuildable "BERTH_VM_ACCEL=$want: auto, kvm or tcg" ;;
	esac
	if [[ ! -w /dev/kvm ]]; then
		log "no writable /dev/kvm: -accel tcg"
		printf 'tcg\n'
		return 0
	fi
	out=$(timeout -k 2 20 qemu-system-x86_64 -accel kvm -cpu host -m 256 -nodefaults -display none \
		-no-reboot -serial stdio -kernel "$kernel" -append "console=ttyS0 panic=-1 root=/dev/berth-none" 2>&1 || true)
	if grep -q 'Kernel panic' <<<"$out"; then
		printf 'kvm\n'
	else
		log "KVM probe failed ($(grep -m1 -iE 'error|assert|fail' <<<"$out" || echo 'no kernel output in 20s')): -accel tcg"
		printf 'tcg\n'
	fi
}

# tiny_image DIR: a rootfs tarball of busybox-static for the inner runs.
tiny_image() {
	local dir=$1 root
	root=$(mktemp -d "${TMPDIR:-/tmp}/berth-vm-tiny.XXXXXX")
	mkdir -p "$root/bin"
	cp "$(command -v busybox)" "$root/bin/busybox"
	local tool
	for tool in sh echo cat sleep; do ln -s busybox "$root/bin/$tool"; done
	tar --numeric-owner -C "$root" -c . >"$dir/tiny.tar"
	rm -rf "$root"
}

berth_binary() {
	local bin=${BERTH_BIN:-${CARGO_TARGET_DIR:-$BERTH_REPO/target}/x86_64-unknown-linux-gnu/release/berth}
	[[ -x $bin ]] || unbuildable "no berth binary at $bin (cargo build --release, or set BERTH_BIN)"
	printf '%s\n' "$bin"
}

# check_xfail: every name in BERTH_VM_XFAIL is a case.
xfail_list() {
	local name known
	IFS=, read -r -a XFAIL <<<"${BERTH_VM_XFAIL:-}"
	for name in "${XFAIL[@]}"; do
		known=0
		for case_name in "${CASES[@]}"; do [[ $name == "$case_name" ]] && known=1; done
		((known)) || die "BERTH_VM_XFAIL names '$name', which is no case; the cases: ${CASES[*]}"
	done
}

is_xfail() {
	local name
	for name in "${XFAIL[@]}"; do [[ $name == "$1" ]] && return 0; done
	return 1
}

# verdict RESULTS: print the table of cases and a closing count line, and
# return 1 when the step fails.
verdict() {
	local results=$1 failed=0 name line status detail
	local -A count=([PASS]=0 [FAIL]=0 [XFAIL]=0 [XPASS]=0 [MISSING]=0)
	grep '^BERTH-FACT ' "$results" | sed 's/^BERTH-FACT /  guest: /' >&2 || true
	if grep '^BERTH-VM-ERROR ' "$results" >&2; then
		failed=1
	fi
	for name in "${CASES[@]}"; do
		line=$(grep -m1 "^BERTH-CASE $name " "$results" || true)
		if [[ -z $line ]]; then
			printf '  MISSING %-27s never reported\n' "$name" >&2
			count[MISSING]=$((count[MISSING] + 1))
			failed=1
			continue
		fi
		status=$(awk '{print $3}' <<<"$line")
		detail=$(cut -d' ' -f4- <<<"$line")
		case $status:$(is_xfail "$name" && echo x || echo -) in
		PASS:-)
			printf '  PASS    %-27s %s\n' "$name" "$detail" >&2
			count[PASS]=$((count[PASS] + 1))
			;;
		FAIL:x)
			printf '  XFAIL   %-27s %s\n' "$name" "$detail" >&2
			count[XFAIL]=$((count[XFAIL] + 1))
			;;
		PASS:x)
			count[XPASS]=$((count[XPASS] + 1))
			printf '  XPASS   %-27s %s (listed in BERTH_VM_XFAIL but passed: take it off the list)\n' "$name" "$detail" >&2
			failed=1
			;;
		*)
			printf '  FAIL    %-27s %s\n' "$name" "$detail" >&2
			count[FAIL]=$((count[FAIL] + 1))
			failed=1
			;;
		esac
	done
	if ! grep -q '^BERTH-END' "$results"; then
		log "the guest never reached its end marker"
		failed=1
	fi
	log "cases: ${count[PASS]} pass, ${count[FAIL]} fail, ${count[XFAIL]} xfail, ${count[XPASS]} xpass, ${count[MISSING]} missing"
	return "$failed"
}

run() {
	command -v qemu-system-x86_64 >/dev/null 2>&1 || install_qemu
	xfail_list
	local base disk bin run_dir share start=$SECONDS
	base=$(ensure_base)
	disk=$(ensure_disk "$base")
	bin=$(berth_binary)
	run_dir=$(mktemp -d "${TMPDIR:-/tmp}/berth-vm-run.XXXXXX")
	# shellcheck disable=SC2064 # expand now: $run_dir is local
	[[ ${BERTH_VM_KEEP:-0} == 1 ]] || trap "rm -rf '$run_dir'" EXIT
	share=$run_dir/share
	mkdir -p "$share/in" "$share/out"
	cp "$bin" "$share/in/berth"
	cp "$VM_SRC/guest-init.sh" "$share/in/"
	cp "${BERTH_VM_CASES:-$VM_SRC/cases.sh}" "$share/in/cases.sh"
	[[ -z ${BERTH_VM_CASES:-} ]] || log "CASES FROM $BERTH_VM_CASES: the verdict below is about tests/vm/cases.sh's cases only"
	if [[ -n ${BERTH_VM_EXTRA:-} ]]; then
		cp -r "$BERTH_VM_EXTRA" "$share/in/extra"
	fi
	printf '%s\n' "${FLAVOURS[@]}" >"$share/in/flavours"
	if [[ -n ${BERTH_VM_REFERENCE:-} ]]; then
		[[ -f $BERTH_VM_REFERENCE ]] || die "BERTH_VM_REFERENCE=$BERTH_VM_REFERENCE is not a file"
		cp "$BERTH_VM_REFERENCE" "$share/in/reference"
		chmod 0755 "$share/in/reference"
		log "REFERENCE RUN: outer entrypoint is $BERTH_VM_REFERENCE, not berth"
	fi
	tiny_image "$share/in"
	local mode
	mode=$(accel "$base/vmlinuz")
	local cpu=max
	[[ $mode == kvm ]] && cpu=host
	log "booting the guest (-accel $mode, ${MEMORY} MiB, timeout ${BOOT_TIMEOUT}s; prepare took $((SECONDS - start))s)"
	local boot_start=$SECONDS rc=0
	# no_timer_check: under TCG on a busy machine the emulated timer's first
	# ticks come late, and the kernel's IO-APIC timer check then panics
	# ("IO-APIC + timer doesn't work!"); seen here while a build ran beside it.
	timeout -k 10 "$BOOT_TIMEOUT" qemu-system-x86_64 -accel "$mode" -cpu "$cpu" -smp 2 -m "$MEMORY" \
		-nodefaults -display none -no-reboot -nic none \
		-kernel "$base/vmlinuz" -initrd "$base/initrd.gz" \
		-append "console=ttyS0 root=/dev/vda rw cgroup_no_v1=all no_timer_check panic=-1 loglevel=4" \
		-drive "file=$disk,format=raw,if=virtio,snapshot=on" \
		-virtfs "local,path=$share,mount_tag=berthvm,security_model=none,id=berthvm" \
		-serial "file:$run_dir/console.log" </dev/null >"$run_dir/qemu.log" 2>&1 || rc=$?
	local took=$((SECONDS - boot_start))
	local results=$share/out/results
	touch "$results"
	if ((rc == 124 || rc == 137)); then
		log "error: the guest ran out of its ${BOOT_TIMEOUT}s (BERTH_VM_TIMEOUT) and was killed"
	elif ((rc != 0)); then
		log "error: qemu exited with $rc: $(tail -n 3 "$run_dir/qemu.log")"
	fi
	log "guest ran ${took}s (-accel $mode); total $((SECONDS - start))s"
	if verdict "$results" && ((rc == 0)); then
		log "all cases as expected"
		return 0
	fi
	show_logs "$run_dir"
	if ! grep -q '^BERTH-FACT kernel' "$results"; then
		# Not one fact: the guest never came up, which is the environment's
		# failure, not a case's.
		exit 2
	fi
	return 1
}

# show_logs RUN_DIR: what the guest left, short: the console, the guest's
# init and engine, and the end of each outer container's log (berth's and
# its dockerd's). BERTH_VM_KEEP=1 keeps all of it.
show_logs() {
	local run_dir=$1 f
	printf '\n---- guest console (last 40 lines) ----\n' >&2
	tail -n 40 "$run_dir/console.log" >&2 || true
	for f in "$run_dir"/share/out/*.log; do
		[[ -s $f ]] || continue
		printf '\n---- %s (last 15 lines) ----\n' "${f#"$run_dir"/share/out/}" >&2
		tail -n 15 "$f" | cut -c1-400 >&2
	done
	if [[ ${BERTH_VM_KEEP:-0} == 1 ]]; then
		log "kept $run_dir"
	else
		log "BERTH_VM_KEEP=1 keeps the run directory with every log"
	fi
}

# install_qemu: Debian's qemu-system-x86. On bookworm machines whose
# qemu-utils comes from bookworm-backports (10.0), bookworm's 7.2 conflicts
# with it: take qemu-system-x86 from backports then.
install_qemu() {
	is_root || unbuildable "no qemu-system-x86_64 and not root to install it"
	local suite
	suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
	if [[ $suite == bookworm ]] && dpkg-query -W -f='${Version}' qemu-utils 2>/dev/null | grep -q bpo12; then
		if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
			log "adding bookworm-backports to apt's sources (qemu-utils here is the backports one)"
			printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
				"$MIRROR" >/etc/apt/sources.list.d/berth-test-backports.sources
		fi
		log "installing qemu-system-x86 from bookworm-backports"
		export DEBIAN_FRONTEND=noninteractive
		{ apt-get update -q && apt-get install -y -q --no-install-recommends -t bookworm-backports qemu-system-x86; } \
			>/tmp/berth-vm-qemu.log 2>&1 || {
			tail -n 20 /tmp/berth-vm-qemu.log >&2
			unbuildable "cannot install qemu-system-x86 (log above)"
		}
	else
		apt_install qemu-system-x86 || unbuildable "cannot install qemu-system-x86"
	fi
	command -v qemu-system-x86_64 >/dev/null 2>&1 || unbuildable "qemu-system-x86 installed no qemu-system-x86_64"
}

case ${1:-run} in
run) run ;;
verdict)
	# Judge a kept run's results again (e.g. with another BERTH_VM_XFAIL).
	[[ -f ${2:-} ]] || die "usage: $0 verdict RESULTS-FILE"
	xfail_list
	verdict "$2"
	;;
prepare)
	command -v qemu-system-x86_64 >/dev/null 2>&1 || install_qemu
	base=$(ensure_base)
	ensure_disk "$base"
	;;
*) die "usage: $0 [run|prepare|verdict RESULTS]" ;;
esac

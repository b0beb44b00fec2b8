#!/bin/bash
# PID 1 of the berth test guest (tests/vm/guest.sh boots it; the initrd execs
# this from the shared folder). Mounts what a systemd host would (cgroup2 only,
# with nsdelegate; securityfs), loads Debian's AppArmor profiles, starts the
# guest's dockerd, records the host's facts, runs tests/vm/cases.sh, writes
# the end marker and powers off. Results go to /mnt/berth-vm/out/results,
# logs next to it; every line of results is echoed to the console too.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export BERTH_VM_SHARE=/mnt/berth-vm
OUT=$BERTH_VM_SHARE/out
RESULTS=$OUT/results

# result LINE: one machine-readable line, to the results file and the console.
result() {
	printf '%s\n' "$*" >>"$RESULTS"
	printf '%s\n' "$*" >/dev/console
}
fact() { result "BERTH-FACT $1 $(printf '%s' "${*:2}" | tr '\n' ' ')"; }

poweroff_now() {
	sync
	echo o >/proc/sysrq-trigger
	sleep 30
	exit 1
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=0620,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
# What systemd mounts on a cgroup v2 host (v1 is off: cgroup_no_v1=all).
mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup
mount -t securityfs securityfs /sys/kernel/security
hostname berth-vm
ip link set lo up
: >"$RESULTS"
exec >>"$OUT/guest-init.log" 2>&1
echo "guest init up at $(cut -d' ' -f1 /proc/uptime)s"

# Debian's AppArmor profiles, loaded as apparmor.service does at boot.
aa_start=$(cut -d' ' -f1 /proc/uptime)
if [ -x /lib/apparmor/apparmor.systemd ]; then
	/lib/apparmor/apparmor.systemd reload || echo "apparmor.systemd reload failed"
fi
echo "AppArmor profiles loaded in $(awk -v a="$aa_start" '{ print $1 - a }' /proc/uptime)s"

# The guest's dockerd loads its docker-default with `apparmor_parser -Kr
# FILE` (26.1; later versions pipe it to `-Kr`); a wrapper first on its PATH
# keeps a copy, so the cases can load it again and play a Docker host whose
# engine loaded it (tests/vm/cases.sh).
mkdir -p /run/berth-vm/bin
cat >/run/berth-vm/bin/apparmor_parser <<'EOF'
#!/bin/sh
if [ "$1" = -Kr ] && [ "$#" = 2 ]; then
	cp "$2" /run/berth-vm/docker-default.profile
elif [ "$1" = -Kr ] && [ "$#" = 1 ]; then
	tee /run/berth-vm/docker-default.profile | /usr/sbin/apparmor_parser -Kr
	exit
fi
exec /usr/sbin/apparmor_parser "$@"
EOF
chmod 0755 /run/berth-vm/bin/apparmor_parser
PATH=/run/berth-vm/bin:$PATH dockerd --log-level=info >"$OUT/guest-dockerd.log" 2>&1 &
ready=0
for _ in $(seq 600); do
	if docker version >/dev/null 2>&1; then
		ready=1
		break
	fi
	sleep 0.2
done
echo "guest dockerd ready=$ready at $(cut -d' ' -f1 /proc/uptime)s"

# The host plays one that has AppArmor but no docker-default profile loaded:
# a Kubernetes node whose runtime is containerd, a Podman host, a Docker host
# whose engine lacks apparmor_parser (the trixie guest of issue 9). The
# guest's dockerd loaded it at start; its privileged containers never reload
# it. With docker-default already loaded, an inner engine finds it and never
# needs apparmor_parser, which hides the fault.
if grep -q '^docker-default ' /sys/kernel/security/apparmor/profiles; then
	printf 'docker-default' >/sys/kernel/security/apparmor/.remove || echo "cannot unload docker-default"
fi

fact kernel "$(uname -r)"
fact engine "$(docker version --format '{{.Server.Version}}' 2>&1)"
fact cgroupfs "$(stat -fc %T /sys/fs/cgroup)"
fact cgroup-controllers "$(cat /sys/fs/cgroup/cgroup.controllers)"
fact apparmor-enabled "$(cat /sys/module/apparmor/parameters/enabled 2>&1)"
fact apparmor-profiles "$(wc -l </sys/kernel/security/apparmor/profiles 2>/dev/null || echo none) loaded; docker-default: $(grep -c '^docker-default ' /sys/kernel/security/apparmor/profiles)"
fact security-options "$(docker info --format '{{json .SecurityOptions}}' 2>&1)"
fact docker-default-copy "$(wc -c </run/berth-vm/docker-default.profile 2>/dev/null || echo none) bytes kept from the guest's dockerd"
fact boot-seconds "$(cut -d' ' -f1 /proc/uptime)"

if [ "$ready" = 1 ]; then
	bash "$BERTH_VM_SHARE/in/cases.sh"
else
	result "BERTH-VM-ERROR the guest's dockerd did not answer within 120s (guest-dockerd.log)"
fi
fact guest-seconds "$(cut -d' ' -f1 /proc/uptime)"
result "BERTH-END"
poweroff_now

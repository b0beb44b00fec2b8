#!/bin/sh
# A reference docker-in-docker entrypoint for the guest's cases, to check the
# cases themselves (like BERTH_E2E_INIT=/usr/bin/tini for the init tests):
#
#   BERTH_VM_REFERENCE=tests/vm/reference-dind.sh bash tests/vm/guest.sh run
#
# It does what moby's hack/dind and docker:dind's dockerd-entrypoint.sh do
# before they start dockerd, written out here (notes/dind-apparmor-cgroup.md
# quotes the originals):
#   - `container=docker` in dockerd's environment: containerd's and moby's
#     AppArmor check (pkg/apparmor hostSupports) then says "not supported",
#     so the inner engine neither needs apparmor_parser nor applies
#     docker-default;
#   - securityfs on /sys/kernel/security;
#   - cgroup v2: every process of the container's root cgroup moved to a
#     child "init", then every available controller enabled in the root's
#     subtree_control (hack/dind retries this forever; here at most 50 times);
#   - / made rshared, a stale docker.pid removed.
# Then, unlike docker:dind (where dockerd is the main process and a killed
# dockerd ends the container), it restarts dockerd when it dies and, on
# SIGTERM, stops dockerd and waits for it, so the guest's dockerd-restart and
# stop-graceful cases have something to compare berth with.
set -eu
export container=docker

if [ -d /sys/kernel/security ] && ! mountpoint -q /sys/kernel/security; then
	mount -t securityfs none /sys/kernel/security || echo >&2 "reference: cannot mount securityfs"
fi

if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
	mkdir -p /sys/fs/cgroup/init
	tries=0
	until {
		xargs -rn1 </sys/fs/cgroup/cgroup.procs >/sys/fs/cgroup/init/cgroup.procs 2>/dev/null || :
		sed -e 's/ / +/g' -e 's/^/+/' </sys/fs/cgroup/cgroup.controllers >/sys/fs/cgroup/cgroup.subtree_control
	}; do
		tries=$((tries + 1))
		[ "$tries" -lt 50 ] || {
			echo >&2 "reference: cannot enable the cgroup controllers"
			break
		}
	done
fi

mount --make-rshared /
rm -f /var/run/docker.pid

stopping=0
dockerd_pid=
trap 'stopping=1; [ -z "$dockerd_pid" ] || kill -TERM "$dockerd_pid"' TERM INT
(
	# The supervisor: a killed dockerd is started again.
	while :; do
		dockerd >>/var/log/reference-dockerd.log 2>&1 &
		echo $! >/run/reference-dockerd.pid
		wait $! || :
		[ ! -f /run/reference-stop ] || exit 0
		sleep 1
	done
) &
supervisor=$!
"$@" &
command_pid=$!
while [ "$stopping" = 0 ] && kill -0 "$command_pid" 2>/dev/null; do
	dockerd_pid=$(cat /run/reference-dockerd.pid 2>/dev/null || :)
	sleep 0.2
done
touch /run/reference-stop
dockerd_pid=$(cat /run/reference-dockerd.pid 2>/dev/null || :)
[ -z "$dockerd_pid" ] || kill -TERM "$dockerd_pid" 2>/dev/null || :
wait "$supervisor" 2>/dev/null || :
kill -TERM "$command_pid" 2>/dev/null || :
exit 143

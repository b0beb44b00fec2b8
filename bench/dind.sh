#!/usr/bin/env bash
# Docker-in-docker with berth next to bare dockerd, in one run on one engine.
#
#   eval "$(bash tests/engine.sh up)" && bash tests/images.sh && bash bench/dind.sh
#
# Writes bench/dind-results.md. Two measurements, each over BENCH_RUNS runs
# (default 5), median reported; each also for the trixie image
# ($BERTH_IMAGE_TRIXIE, default berth/workspace:trixie: docker.io 26.x inside)
# where noted:
#
# 1. Readiness: time from `docker run -d` to the first inner `docker version`
#    that works. A poller started with `docker exec -d` right after the run
#    loops on `docker version` inside the container and stamps the time, so
#    every variant is measured the same way, without `docker exec` latency in
#    the figure. Variants, all privileged, same image, fresh volume for
#    /var/lib/docker each run:
#      bare dockerd  - `--entrypoint dockerd`: dockerd itself as PID 1
#      berth         - the image's ENTRYPOINT, command `sleep infinity`
#      berth + TLS   - the same with DOCKER_TLS_CERTDIR=/certs (certificates
#                      generated at start, tcp :2376 with TLS)
#    and bare dockerd and berth again in the trixie image.
# 2. `docker stop` of a workspace running 5 inner containers that trap
#    SIGTERM and write a marker to a volume: how long it takes, and how many
#    inner containers shut down cleanly. Variants: berth; bare dockerd as PID
#    1 (what docker's own dind image does after its entrypoint script);
#    "dockerd in the background, exec the command" (a common hand-rolled
#    entrypoint). Then the same with 20 inner containers: berth in both
#    images, bare dockerd in the trixie image. For berth, where the time goes,
#    from the timestamps the outer engine gives berth's log lines (`docker
#    logs -t`; berth logs at info, dockerd's lines at error only): the outer
#    engine delivering SIGTERM, dockerd stopping the inner containers and
#    itself, berth after dockerd exited (containerd, reaping, berth's own
#    exit: up to the container's FinishedAt, which the outer engine takes from
#    the exit event), and the outer engine from then until `docker stop`
#    returns. Log timestamps are when the outer engine read the line (a few
#    ms late), so the berth phase can come out a hair below zero.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench/dind-results.md}
runs=${BENCH_RUNS:-5}
image=${BERTH_IMAGE:-berth/workspace}
image_trixie=${BERTH_IMAGE_TRIXIE:-berth/workspace:trixie}
label=berth-bench=1
docker version >/dev/null || { echo "no Docker engine: run 'eval \"\$(bash tests/engine.sh up)\"' first" >&2; exit 1; }
for i in "$image" "$image_trixie"; do
  docker image inspect "$i" >/dev/null || { echo "no $i: run 'bash tests/images.sh' first" >&2; exit 1; }
done
busybox=$(command -v busybox) || { echo "busybox-static is needed for the inner image" >&2; exit 1; }

cleanup() {
  docker ps -aq --filter "label=$label" | xargs -r docker rm -f >/dev/null 2>&1 || true
  docker volume ls -q --filter "label=$label" | xargs -r docker volume rm >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup

now() { date +%s.%N; }

# A tiny inner image, made from busybox without a registry.
inner_rootfs=$(mktemp -d)
mkdir -p "$inner_rootfs/bin"
cp "$busybox" "$inner_rootfs/bin/busybox"
for tool in sh sleep echo; do ln -s busybox "$inner_rootfs/bin/$tool"; done

# ready_time VARIANT [IMAGE]: seconds from `docker run -d` to a working inner docker.
ready_time() {
  local variant=$1 image=${2:-$image} vol ctr start stamp
  vol=$(docker volume create --label "$label")
  local args=(-d --privileged --label "$label" -v "$vol:/var/lib/docker" -e BERTH_LOG_LEVEL=warn)
  start=$(now)
  case $variant in
    bare) ctr=$(docker run "${args[@]}" --entrypoint dockerd "$image") ;;
    berth) ctr=$(docker run "${args[@]}" "$image" sleep infinity) ;;
    berth-tls) ctr=$(docker run "${args[@]}" -e DOCKER_TLS_CERTDIR=/certs "$image" sleep infinity) ;;
  esac
  docker exec -d "$ctr" sh -c 'until docker -H unix:///var/run/docker.sock version >/dev/null 2>&1; do :; done; date +%s.%N > /tmp/ready'
  for _ in $(seq 600); do
    stamp=$(docker exec "$ctr" cat /tmp/ready 2>/dev/null) && break
    sleep 0.05
  done
  docker rm -f "$ctr" >/dev/null
  docker volume rm "$vol" >/dev/null
  echo "$stamp - $start" | bc
}

# epoch RFC3339-TIMESTAMP: seconds since the epoch, with nanoseconds.
epoch() { date -d "$1" +%s.%N; }

# phases CONTAINER START END: for berth, "to-sigterm dockerd berth outer" in
# seconds: `docker stop` to berth's "SIGTERM received", to its "dockerd
# stopped", to the container's FinishedAt (berth exited), to `docker stop`
# returning; "- - - -" when a line is missing (another variant).
phases() {
  local ctr=$1 start=$2 end=$3 log sigterm dockerd finished
  log=$(docker logs -t "$ctr" 2>&1)
  sigterm=$(grep -m1 'SIGTERM received' <<<"$log" | cut -d' ' -f1)
  dockerd=$(grep -m1 'dockerd stopped' <<<"$log" | cut -d' ' -f1)
  finished=$(docker inspect -f '{{.State.FinishedAt}}' "$ctr")
  if [ -z "$sigterm" ] || [ -z "$dockerd" ]; then
    echo "- - - -"
    return
  fi
  sigterm=$(epoch "$sigterm") dockerd=$(epoch "$dockerd") finished=$(epoch "$finished")
  echo "$(echo "$sigterm - $start" | bc) $(echo "$dockerd - $sigterm" | bc) $(echo "$finished - $dockerd" | bc) $(echo "$end - $finished" | bc)"
}

# stop_run VARIANT [COUNT] [IMAGE]: "seconds clean to-sigterm dockerd
# after-dockerd after-berth" for docker stop with COUNT (default 5) trapping
# inner containers.
stop_run() {
  local variant=$1 count=${2:-5} image=${3:-$image} vol marks ctr start end took clean
  vol=$(docker volume create --label "$label")
  local args=(-d --privileged --label "$label" -v "$vol:/var/lib/docker" -e BERTH_LOG_LEVEL=info,dockerd=error)
  case $variant in
    berth) ctr=$(docker run "${args[@]}" "$image" sleep infinity) ;;
    bare) ctr=$(docker run "${args[@]}" --entrypoint dockerd "$image") ;;
    background) ctr=$(docker run "${args[@]}" --entrypoint sh "$image" -c 'dockerd >/dev/null 2>&1 & exec sleep infinity') ;;
  esac
  for _ in $(seq 600); do docker exec "$ctr" docker version >/dev/null 2>&1 && break; sleep 0.05; done
  tar -C "$inner_rootfs" -c . | docker exec -i "$ctr" docker import - inner:latest >/dev/null
  docker exec "$ctr" docker volume create marks >/dev/null
  for i in $(seq "$count"); do
    docker exec "$ctr" docker run -d -v marks:/m inner sh -c \
      "trap 'echo clean > /m/$i; exit 0' TERM; while true; do sleep 0.1; done" >/dev/null
  done
  # Every inner container must be up (its trap set) before the stop.
  for _ in $(seq 400); do
    [ "$(docker exec "$ctr" docker ps -q | wc -l)" -eq "$count" ] && break
    sleep 0.05
  done
  sleep 0.5
  start=$(now)
  docker stop "$ctr" >/dev/null
  end=$(now)
  took=$(echo "$end - $start" | bc)
  clean=$(docker run --rm --label "$label" -v "$vol:/d" --entrypoint sh "$image" -c \
    'cat /d/volumes/marks/_data/* 2>/dev/null | grep -c clean || true')
  local split
  split=$(phases "$ctr" "$start" "$end")
  docker rm -f "$ctr" >/dev/null
  docker volume rm "$vol" >/dev/null
  echo "$took $clean $split"
}

median() { sort -n | awk '{a[NR]=$1} END {printf "%.3f\n", (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

declare -A ready stop_time stop_clean stop_split
for variant in bare berth berth-tls; do
  samples=()
  for _ in $(seq "$runs"); do samples+=("$(ready_time "$variant")"); done
  ready[$variant]=$(printf '%s\n' "${samples[@]}" | median)
  echo "ready $variant: ${samples[*]} -> median ${ready[$variant]}" >&2
done
for variant in berth bare background; do
  times=() cleans=()
  for _ in $(seq "$runs"); do
    read -r t c _ < <(stop_run "$variant")
    times+=("$t") cleans+=("$c")
  done
  stop_time[$variant]=$(printf '%s\n' "${times[@]}" | median)
  stop_clean[$variant]=$(printf '%s\n' "${cleans[@]}" | median | awk '{printf "%d", $1}')
  echo "stop $variant: ${times[*]} clean ${cleans[*]}" >&2
done
for variant in bare berth; do
  samples=()
  for _ in $(seq "$runs"); do samples+=("$(ready_time "$variant" "$image_trixie")"); done
  ready[trixie-$variant]=$(printf '%s\n' "${samples[@]}" | median)
  echo "ready trixie $variant: ${samples[*]} -> median ${ready[trixie-$variant]}" >&2
done
# 20 inner containers: berth in both images, bare dockerd in the trixie one.
for spec in "berth $image" "berth-trixie $image_trixie" "bare-trixie $image_trixie"; do
  read -r key img <<<"$spec"
  times=() cleans=() p1=() p2=() p3=() p4=()
  for _ in $(seq "$runs"); do
    read -r t c a b d e < <(stop_run "${key%-trixie}" 20 "$img")
    times+=("$t") cleans+=("$c") p1+=("$a") p2+=("$b") p3+=("$d") p4+=("$e")
  done
  stop_time[20-$key]=$(printf '%s\n' "${times[@]}" | median)
  stop_clean[20-$key]=$(printf '%s\n' "${cleans[@]}" | median | awk '{printf "%d", $1}')
  if [ "${p1[0]}" != - ]; then
    stop_split[20-$key]="$(printf '%s\n' "${p1[@]}" | median) | $(printf '%s\n' "${p2[@]}" | median) | $(printf '%s\n' "${p3[@]}" | median) | $(printf '%s\n' "${p4[@]}" | median)"
  fi
  echo "stop 20 $key: ${times[*]} clean ${cleans[*]}; to SIGTERM ${p1[*]}; dockerd ${p2[*]}; berth ${p3[*]}; outer ${p4[*]}" >&2
done

ratio() { printf '%.2f' "$(echo "scale=4; $1 / $2" | bc)"; }
diff_ms() { echo "($1 - $2) * 1000 / 1" | bc; }
{
  echo "# Docker-in-docker benchmark"
  echo
  echo "Produced by \`bash bench/dind.sh\` on $(date -u +%Y-%m-%d), one run, all variants side by side,"
  echo "median of $runs runs each. Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs),"
  echo "kernel $(uname -r); engine $(docker version --format '{{.Server.Version}}'); image $image (dockerd $(docker run --rm --entrypoint dockerd "$image" --version | awk '{print $3}' | tr -d ,)),"
  echo "trixie image $image_trixie (dockerd $(docker run --rm --entrypoint dockerd "$image_trixie" --version | awk '{print $3}' | tr -d ,))."
  echo
  echo "## Time from \`docker run -d\` to a working inner \`docker version\`"
  echo
  echo "| variant | median (s) | vs bare dockerd |"
  echo "|---|---|---|"
  echo "| bare dockerd as PID 1 | ${ready[bare]} | 1.00 |"
  echo "| berth | ${ready[berth]} | $(ratio "${ready[berth]}" "${ready[bare]}") ($(diff_ms "${ready[berth]}" "${ready[bare]}") ms) |"
  echo "| berth, TLS (DOCKER_TLS_CERTDIR) | ${ready[berth-tls]} | $(ratio "${ready[berth-tls]}" "${ready[bare]}") ($(diff_ms "${ready[berth-tls]}" "${ready[bare]}") ms) |"
  echo
  echo "## \`docker stop\` with 5 inner containers that trap SIGTERM"
  echo
  echo "| variant | median stop (s) | inner containers stopped cleanly (median of 5) |"
  echo "|---|---|---|"
  echo "| berth | ${stop_time[berth]} | ${stop_clean[berth]}/5 |"
  echo "| bare dockerd as PID 1 | ${stop_time[bare]} | ${stop_clean[bare]}/5 |"
  echo "| dockerd in the background, exec the command | ${stop_time[background]} | ${stop_clean[background]}/5 |"
  echo
  echo "## Time to a working inner \`docker version\`, trixie image (docker.io 26.x inside)"
  echo
  echo "| variant | median (s) | vs bare dockerd |"
  echo "|---|---|---|"
  echo "| bare dockerd as PID 1 | ${ready[trixie-bare]} | 1.00 |"
  echo "| berth | ${ready[trixie-berth]} | $(ratio "${ready[trixie-berth]}" "${ready[trixie-bare]}") ($(diff_ms "${ready[trixie-berth]}" "${ready[trixie-bare]}") ms) |"
  echo
  echo "## \`docker stop\` with 20 inner containers that trap SIGTERM"
  echo
  echo "| variant | median stop (s) | inner containers stopped cleanly (median of 5) |"
  echo "|---|---|---|"
  echo "| berth, bookworm image | ${stop_time[20-berth]} | ${stop_clean[20-berth]}/20 |"
  echo "| berth, trixie image | ${stop_time[20-berth-trixie]} | ${stop_clean[20-berth-trixie]}/20 |"
  echo "| bare dockerd as PID 1, trixie image | ${stop_time[20-bare-trixie]} | ${stop_clean[20-bare-trixie]}/20 |"
  echo
  echo "Where berth's 20-container stop goes (medians, seconds; from the outer engine's timestamps of berth's log lines and the container's FinishedAt):"
  echo
  echo "| image | \`docker stop\` to berth's SIGTERM (outer engine) | SIGTERM to dockerd's exit (dockerd stops 20 containers and itself) | dockerd's exit to berth's exit (containerd, reaping: berth's own) | berth's exit to \`docker stop\` returning (outer engine) |"
  echo "|---|---|---|---|---|"
  echo "| bookworm | ${stop_split[20-berth]:-} |"
  echo "| trixie | ${stop_split[20-berth-trixie]:-} |"
  echo
  echo "Targets (issue 5): berth within 100 ms of bare dockerd, with TLS or without; stop 5/5 clean in 1.5 s or less."
  echo "Targets (issue 9): the same for the trixie inner engine; stop with 20 inner containers 20/20 clean in 1.5 s or less."
} >"$out"
cat "$out"

#!/usr/bin/env bash
# berth's own docker socket next to the engine's socket itself, in one run.
#
#   eval "$(bash tests/engine.sh up)"
#   BERTH_IMAGE=berth/workspace bash bench/proxy.sh    # writes bench/proxy-results.md
#
# One workspace container gets the engine's socket at /var/run/docker.sock,
# in an image that gives the socket's gid to a group that is not Docker's,
# so berth serves /run/berth/docker.sock in front of it (docker::access).
# Inside that container, as root (who may use both), the same docker CLI
# talks to the engine directly (-H unix:///var/run/docker.sock) and through
# berth (-H unix:///run/berth/docker.sock), the two interleaved run by run
# so drift on a shared machine hits both alike:
#   - `docker version`: latency, median of 50;
#   - `docker run --rm TINY true`: median of 10;
#   - `docker save BIG | docker load` of a ~100 MB image: throughput (MB/s
#     of the saved tar), median of 3; and `docker save BIG >/dev/null`, the
#     stream alone, median of 3;
#   - berth's RSS (PID 1's VmRSS): idle with its socket listening, and the
#     largest seen (sampled every 50 ms) while the save|load runs through it;
#     berth's CPU time per 100 MB forwarded;
#   - the hop alone, without the docker CLI's start-up: curl from the host
#     against both sockets, its own request time (`GET /_ping`, median of
#     200; `GET /images/BIG/get`, the saved tar, as throughput).
# Targets (issue 10): latency and run within 1.1x of direct, throughput at
# least 0.9x.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench/proxy-results.md}
image=${BERTH_IMAGE:-berth/workspace}
versions=${BENCH_VERSIONS:-50}
runs=${BENCH_RUNS:-10}
streams=${BENCH_STREAMS:-3}

sock=${DOCKER_HOST:-unix:///var/run/docker.sock}
sock=${sock#unix://}
[[ -S $sock ]] || { echo "bench/proxy.sh: DOCKER_HOST must be a unix socket (got ${DOCKER_HOST:-unset})" >&2; exit 1; }
gid=$(stat -c %g "$sock")
tag=berth-bench-proxy-$$
tmp=$(mktemp -d)
cleanup() {
  docker rm -f "$tag" >/dev/null 2>&1 || true
  docker rmi -f "$tag:ws" "$tag:tiny" "$tag:big" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# The workspace with the socket's gid given to a group that is not Docker's.
if docker run --rm --entrypoint getent "$image" group "$gid" | grep -q '^docker:'; then
  echo "bench/proxy.sh: gid $gid is the image's docker group: berth would not serve its own socket" >&2
  exit 1
fi
mkdir "$tmp/ws" "$tmp/tiny" "$tmp/big"
printf 'FROM %s\nRUN getent group %s >/dev/null || groupadd --gid %s bench-other\n' "$image" "$gid" "$gid" >"$tmp/ws/Dockerfile"
docker build -q -t "$tag:ws" "$tmp/ws" >/dev/null
cp "$(command -v busybox)" "$tmp/tiny/busybox"
printf 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n' >"$tmp/tiny/Dockerfile"
docker build -q -t "$tag:tiny" "$tmp/tiny" >/dev/null
head -c $((100 * 1024 * 1024)) /dev/urandom >"$tmp/big/blob"
printf 'FROM %s\nCOPY blob /blob\n' "$tag:tiny" >"$tmp/big/Dockerfile"
docker build -q -t "$tag:big" "$tmp/big" >/dev/null

mkdir "$tmp/berth-run"
docker run -d --name "$tag" -v "$sock:/var/run/docker.sock" -v "$tmp/berth-run:/run/berth" \
  --no-healthcheck "$tag:ws" sleep infinity >/dev/null
for _ in $(seq 100); do
  docker exec "$tag" test -S /run/berth/docker.sock && break
  sleep 0.1
done
docker exec "$tag" test -S /run/berth/docker.sock || { docker logs "$tag" >&2; echo "berth serves no socket" >&2; exit 1; }

# Inside the container: one line per measurement, "<what> <direct|proxy> <value>".
# shellcheck disable=SC2016 # expanded inside the container
measure='
set -euo pipefail
D=unix:///var/run/docker.sock P=unix:///run/berth/docker.sock
us() { echo ${EPOCHREALTIME/./}; }
time_us() { local s e; s=$(us); "$@" >/dev/null 2>&1; e=$(us); echo $((e - s)); }
docker -H $D version >/dev/null; docker -H $P version >/dev/null
for i in $(seq '"$versions"'); do
  echo "version direct $(time_us docker -H $D version)"
  echo "version proxy $(time_us docker -H $P version)"
done
for i in $(seq '"$runs"'); do
  echo "run direct $(time_us docker -H $D run --rm '"$tag:tiny"' true)"
  echo "run proxy $(time_us docker -H $P run --rm '"$tag:tiny"' true)"
done
bytes=$(docker -H $D save '"$tag:big"' | wc -c)
echo "bytes - $bytes"
echo "rss_idle - $(awk "/^VmRSS/ {print \$2}" /proc/1/status)"
( peak=0; while :; do r=$(awk "/^VmRSS/ {print \$2}" /proc/1/status); ((r > peak)) && peak=$r && echo $peak > /tmp/peak; sleep 0.05; done ) &
sampler=$!
ticks() { awk "{print \$14 + \$15}" /proc/1/stat; }
proxied_ticks=0
for i in $(seq '"$streams"'); do
  echo "saveload direct $(time_us sh -c "docker -H $D save '"$tag:big"' | docker -H $D load -q")"
  before=$(ticks)
  echo "saveload proxy $(time_us sh -c "docker -H $P save '"$tag:big"' | docker -H $P load -q")"
  proxied_ticks=$((proxied_ticks + $(ticks) - before))
  echo "save direct $(time_us sh -c "docker -H $D save '"$tag:big"' >/dev/null")"
  before=$(ticks)
  echo "save proxy $(time_us sh -c "docker -H $P save '"$tag:big"' >/dev/null")"
  proxied_ticks=$((proxied_ticks + $(ticks) - before))
done
kill $sampler
echo "cpu_ticks - $proxied_ticks"
echo "hz - $(getconf CLK_TCK)"
echo "rss_peak - $(cat /tmp/peak)"
'
docker exec "$tag" bash -c "$measure" >"$tmp/raw"

# The hop alone, from the host (root may use both sockets): curl's own
# request time (-w %{time_total}: connect to the end of the answer, no
# process start-up), both sockets interleaved.
hop_runs=${BENCH_HOP_RUNS:-200}
proxy_sock=$tmp/berth-run/docker.sock
big_id=$(docker image inspect --format '{{.Id}}' "$tag:big")
curl_us() { # socket path -> microseconds
  curl -sf -o /dev/null -w '%{time_total}' --unix-socket "$1" "http://docker$2" | awk '{printf "%d\n", $1 * 1e6}'
}
for _ in $(seq "$hop_runs"); do
  echo "ping direct $(curl_us "$sock" /_ping)"
  echo "ping proxy $(curl_us "$proxy_sock" /_ping)"
done >>"$tmp/raw"
for _ in $(seq "$streams"); do
  echo "get direct $(curl_us "$sock" "/images/$big_id/get")"
  echo "get proxy $(curl_us "$proxy_sock" "/images/$big_id/get")"
done >>"$tmp/raw"

median() { # what which -> median value
  awk -v w="$1" -v k="$2" '$1 == w && $2 == k {print $3}' "$tmp/raw" | sort -n |
    awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
minimum() { awk -v w="$1" -v k="$2" '$1 == w && $2 == k {print $3}' "$tmp/raw" | sort -n | head -n 1; }
value() { awk -v w="$1" '$1 == w {print $3}' "$tmp/raw"; }

bytes=$(value bytes)
v_d=$(median version direct) v_p=$(median version proxy)
r_d=$(median run direct) r_p=$(median run proxy)
sl_d=$(median saveload direct) sl_p=$(median saveload proxy)
s_d=$(median save direct) s_p=$(median save proxy)
ms() { awk -v u="$1" 'BEGIN {printf "%.1f ms", u / 1000}'; }
us() { awk -v u="$1" 'BEGIN {printf "%.0f us", u}'; }
mbs() { awk -v b="$bytes" -v u="$1" 'BEGIN {printf "%.0f MB/s", b / 1e6 / (u / 1e6)}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2fx", a / b}'; }
verdict() { # ratio target op -> met / MISSED
  awk -v r="$1" -v t="$2" -v op="$3" 'BEGIN {ok = (op == "le") ? (r <= t) : (r >= t); print ok ? "met" : "MISSED"}'
}
lat_ratio=$(awk -v a="$v_p" -v b="$v_d" 'BEGIN {print a / b}')
run_ratio=$(awk -v a="$r_p" -v b="$r_d" 'BEGIN {print a / b}')
sl_ratio=$(awk -v a="$sl_d" -v b="$sl_p" 'BEGIN {print a / b}')
s_ratio=$(awk -v a="$s_d" -v b="$s_p" 'BEGIN {print a / b}')
engine=$(docker version --format '{{.Server.Version}}')
cli=$(docker exec "$tag" docker version --format '{{.Client.Version}}')

cat >"$out" <<EOF
# berth's docker socket next to the engine's

Produced by \`bash bench/proxy.sh\` on $(date -u +%Y-%m-%d), one run, both paths
interleaved run by run in one container, as root, with the same docker CLI
($cli) against the same engine ($engine). Machine: $(nproc) cores,
$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), kernel $(uname -r).
berth forwards each connection with \`tokio::io::copy_bidirectional_with_sizes\`
(64 KiB buffers each way) on its single-threaded runtime.

| measure | direct | through berth's socket | proxy vs direct | target |
|---|---|---|---|---|
| \`docker version\`, median of $versions | $(ms "$v_d") | $(ms "$v_p") | $(ratio "$v_p" "$v_d") time | <= 1.1x: $(verdict "$lat_ratio" 1.1 le) |
| \`docker run --rm\` tiny image, median of $runs | $(ms "$r_d") | $(ms "$r_p") | $(ratio "$r_p" "$r_d") time | <= 1.1x: $(verdict "$run_ratio" 1.1 le) |
| \`docker save \| docker load\`, $((bytes / 1000000)) MB, median of $streams | $(mbs "$sl_d") | $(mbs "$sl_p") | $(ratio "$sl_d" "$sl_p") throughput | >= 0.9x: $(verdict "$sl_ratio" 0.9 ge) |
| \`docker save >/dev/null\` alone, median of $streams | $(mbs "$s_d") | $(mbs "$s_p") | $(ratio "$s_d" "$s_p") throughput | |

The fastest of each (less of the machine's other load in it): \`docker
version\` $(ms "$(minimum version direct)") direct, $(ms "$(minimum version proxy)") through berth;
\`docker run --rm\` $(ms "$(minimum run direct)") and $(ms "$(minimum run proxy)"); load average
at the end: $(cut -d' ' -f1-3 /proc/loadavg).

berth's CPU time (PID 1, user + system) while it forwarded the $((streams * 3))
streams above ($((streams * 3 * bytes / 1000000)) MB, the load's upload and both saves'
downloads): $(awk -v t="$(value cpu_ticks)" -v hz="$(value hz)" -v b="$bytes" -v n="$((streams * 3))" 'BEGIN {printf "%.0f ms, %.1f ms per 100 MB", t * 1000 / hz, t * 1000 / hz / (n * b / 1e8)}').

The hop alone, without the docker CLI's start-up (about $(ms "$(minimum version direct)") of
every \`docker\` command here): curl on the host against both sockets,
interleaved, timing only its request (\`-w %{time_total}\`: connect to the
last byte; berth's socket is on a host directory mounted at /run/berth):

| request | direct | through berth's socket | proxy vs direct |
|---|---|---|---|
| \`GET /_ping\`, median of $hop_runs (fastest) | $(us "$(median ping direct)") ($(us "$(minimum ping direct)")) | $(us "$(median ping proxy)") ($(us "$(minimum ping proxy)")) | $(awk -v a="$(median ping proxy)" -v b="$(median ping direct)" 'BEGIN {printf "%+.0f us", a - b}') |
| \`GET /images/BIG/get\` ($((bytes / 1000000)) MB), median of $streams | $(mbs "$(median get direct)") | $(mbs "$(median get proxy)") | $(ratio "$(median get direct)" "$(median get proxy)") throughput |

berth's resident set (PID 1, VmRSS): $(value rss_idle) kB idle with its socket
listening; at most $(value rss_peak) kB seen while \`docker save | docker load\`
ran through it.

Every raw figure (microseconds) is printed by the script on stderr.
EOF
cat "$tmp/raw" >&2
cat "$out"

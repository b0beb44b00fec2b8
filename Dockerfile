# berth workspace image: berth is PID 1, Docker works however the container is
# started (host socket mounted, --privileged for docker-in-docker, remote
# DOCKER_HOST), and the shell runs as the non-root user `dev`.
#
#   bash tests/images.sh      builds it as berth/workspace from a staged context
#                             (and berth/workspace:trixie with DEBIAN=trixie)
#
# By hand, from the repository root after `cargo build --release`:
#   docker build --build-arg BERTH_BIN=target/x86_64-unknown-linux-gnu/release/berth -t berth/workspace .
#
# DEBIAN picks the release, and with it the inner engine: bookworm gives
# docker.io 20.10, trixie gives docker.io 26.x (both with iptables-nft).
ARG DEBIAN=bookworm

# Everything but the berth binary. tests/vm builds this stage alone
# (`--target system`) and bind-mounts the berth under test over
# /usr/local/bin/berth, so its cached guest disk does not change with every
# berth build.
FROM debian:${DEBIAN} AS system

# docker.io brings dockerd, containerd and runc, and on bookworm the CLI too;
# from trixie on the CLI is docker-cli, which docker.io only recommends.
# iptables is what dockerd needs for bridge networking inside the container.
# apparmor (apparmor_parser, /etc/apparmor.d, the parser's config; the image
# grows 2.4 MB on bookworm, 2.9 MB on trixie) lets the inner dockerd load its
# docker-default profile on AppArmor hosts, so inner containers run confined
# there; without it berth keeps dockerd from trying and they run unconfined
# (README, "AppArmor").
RUN apt-get update \
 && cli=$(apt-cache show docker-cli >/dev/null 2>&1 && echo docker-cli || true) \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      apparmor bash ca-certificates docker.io $cli iptables procps \
 && rm -rf /var/lib/apt/lists/*

# `dev` is deliberately in no docker group: berth grants access at start, to
# whichever group owns the socket it finds.
RUN useradd --create-home --uid 1000 --user-group --shell /bin/bash dev

COPY rootfs/ /

# Inner engine's storage: a volume lets dockerd use overlay2 instead of
# falling back to vfs on the container's overlay root.
VOLUME /var/lib/docker
ENV BERTH_USER=dev
WORKDIR /home/dev
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
  CMD ["/usr/local/bin/berth", "health"]
ENTRYPOINT ["/usr/local/bin/berth"]
CMD ["bash"]

FROM system
ARG BERTH_BIN=berth
COPY ${BERTH_BIN} /usr/local/bin/berth
RUN chmod 0755 /usr/local/bin/berth

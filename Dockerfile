# syntax=docker/dockerfile:1
#
# StatusHawk: one image, one binary (`statushawk`), one subcommand per service.
#
#   docker build -t statushawk:local .
#   docker run --rm statushawk:local version
#   docker run --rm statushawk:local migrate
#
# docker-compose.yml builds this image once and runs `migrate`, `topology`
# and `all` from it. The default command is `all`: every service in one
# process (one node).
#
# Needs BuildKit (the default builder since Docker 23) for the cache mounts.

ARG RUST_VERSION=1
ARG DEBIAN_RELEASE=bookworm
ARG NODE_VERSION=20

############################################################################
# Web dashboard (web/dist): served by `statushawk api` from api.web_dir
############################################################################
FROM node:${NODE_VERSION}-${DEBIAN_RELEASE}-slim AS web

WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY web/ ./
RUN npm run build

############################################################################
# Builder
############################################################################
FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS builder

WORKDIR /src

# A Cargo workspace does not lend itself to the "copy the manifests first,
# build the dependencies, then copy the sources" trick without stub crates, so
# copy the whole context (see .dockerignore) and let BuildKit cache mounts keep
# the crates.io registry, git checkouts and the target directory between
# builds: an edit to one crate recompiles only what depends on it.
COPY . .

# The target directory is a cache mount, so it is not part of the image layer:
# copy the binary out of it in the same RUN.
# `--locked`: the build fails if Cargo.lock is missing or out of date.
# Migrations under migrations/ are embedded into the binary at compile time.
RUN --mount=type=cache,id=statushawk-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=statushawk-cargo-git,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,id=statushawk-target,target=/src/target,sharing=locked \
    cargo build --release --locked --bin statushawk \
 && install -D -m 0755 target/release/statushawk /out/statushawk

############################################################################
# Runtime
############################################################################
FROM debian:${DEBIAN_RELEASE}-slim AS runtime

# ca-certificates: HTTPS/TLS checks and TLS to NATS, Postgres, ClickHouse,
# SMTP and webhooks. It pulls in openssl and libssl3, so a binary linked
# against OpenSSL (native-tls) runs here as well as a rustls-only one.
# Unpinned on purpose: the point is the current CA bundle and security fixes.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# Non-root user with a fixed uid/gid (10001), so volume ownership and
# Kubernetes `runAsUser`/`runAsNonRoot` are predictable.
RUN groupadd --system --gid 10001 statushawk \
 && useradd --system --uid 10001 --gid statushawk \
        --home-dir /var/lib/statushawk --create-home \
        --shell /usr/sbin/nologin statushawk

COPY --from=builder /out/statushawk /usr/local/bin/statushawk
COPY --from=web /web/dist /usr/share/statushawk/web

# ICMP checks: the prober needs either
#   * unprivileged ICMP "ping" sockets (SOCK_DGRAM/IPPROTO_ICMP): the
#     container's gid (10001) must be inside the kernel's
#     net.ipv4.ping_group_range. Docker >= 20.10 sets "0 2147483647" in every
#     container network namespace by default; docker-compose.yml sets it
#     explicitly (`sysctls:`), on Kubernetes use a pod securityContext sysctl
#     `net.ipv4.ping_group_range` (a "safe" sysctl since 1.18); or
#   * raw sockets, which need CAP_NET_RAW. Docker keeps CAP_NET_RAW in the
#     bounding set, but a non-root user only gets it as an *effective*
#     capability through file capabilities (`setcap cap_net_raw+ep` on the
#     binary, which `no-new-privileges` would then block) or by running as
#     root with `cap_add: [NET_RAW]`. Prefer the ping sockets above.
# Every other check kind (HTTP, TCP, DNS, TLS) needs no privilege.

USER 10001:10001
WORKDIR /var/lib/statushawk

# In a container the metrics endpoint must listen on all interfaces (the
# binary's defaults are loopback-only); logs go out as JSON.
ENV STATUSHAWK_METRICS_LISTEN=0.0.0.0:9464 \
    STATUSHAWK_LOG_FORMAT=json \
    STATUSHAWK_API_WEB_DIR=/usr/share/statushawk/web

# 8080: HTTP API, web dashboard, status pages, SSE.  9464: Prometheus metrics.
EXPOSE 8080 9464

ENTRYPOINT ["statushawk"]
CMD ["all"]

# syntax=docker/dockerfile:1
#
# One image for every spot-rescue service; the command picks the service:
#   spot-rescue listener | worker | agent
#
#   docker build --build-arg NODE_DIGEST=sha256:... -t spot-rescue:0.1.0 .
#       listener and worker (non-root)
#   docker build --build-arg NODE_DIGEST=sha256:... --target agent -t spot-rescue:0.1.0-agent .
#       node agent (root; a CRIU 4.2 bundle for the nodes, ctr, skopeo, zstd)
#
# The agent is its own target because it alone needs CRIU and root: the
# listener and the worker run without those tools and as an unprivileged user.
# Debian trixie is the base because CRIU must be 4.x (bookworm's 3.17 fails
# `criu check` on 6.x kernels).

# Node LTS on Debian 13 (trixie), pinned by full version and by digest, so a
# re-pushed tag can never change what ships. NODE_VERSION is also the Node the
# tests and the demo run on (infra/lib/install-node.sh). NODE_DIGEST is the
# digest of that tag's image index, as the registry reports it:
#   docker buildx imagetools inspect node:24.22.3-trixie-slim --format '{{json .Manifest.Digest}}'
# Until it is written here it must be passed: without it the base image
# reference is invalid and the build stops at the first FROM, never falling
# back to an unpinned image. NODE_IMAGE may replace the whole reference (a
# mirror), and must keep both tag and digest.
ARG NODE_VERSION=24.22.3
ARG NODE_DIGEST
ARG NODE_IMAGE=node:${NODE_VERSION}-trixie-slim@${NODE_DIGEST}

# ---- build: compile TypeScript to dist/ ------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
COPY tsconfig.json tsconfig.build.json ./
COPY services ./services
RUN npm run build

# ---- prod-deps: production dependencies only -------------------------------
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error \
  && npm cache clean --force

# ---- base: what every service runs -----------------------------------------
FROM ${NODE_IMAGE} AS base
ENV NODE_ENV=production
WORKDIR /app
COPY --from=prod-deps /src/node_modules ./node_modules
COPY --from=build /src/dist/services ./dist/services
COPY package.json ./
COPY bin ./bin
ENTRYPOINT ["node", "/app/bin/spot-rescue.js"]

# ---- criu: CRIU 4.2 as a self-contained bundle -----------------------------
# EKS AL2023 nodes have no CRIU. The agent DaemonSet's init container
# (`spot-rescue install-criu`) copies this bundle - bin/criu and lib/ with
# every library it loads and its own loader - into containerd's opt dir, so
# the node's libc never matters. The same script and packages as the local
# stack's CRIU: 4.2 from Debian forky (before 4.2 CRIU cannot dump sockets on
# Linux 6.16+), its libraries from trixie.
FROM ${NODE_IMAGE} AS criu
WORKDIR /src
COPY infra/lib ./infra/lib
RUN infra/lib/criu-bundle.sh /opt/spot-rescue/criu \
  && rm -rf /var/lib/apt/lists/*

# ---- ctr: containerd's client, to import checkpoint images ------------------
# The agent imports a restored container's checkpoint image into the node's
# containerd through its socket; the same containerd release as the local
# stack's real nodes and EKS AL2023 (infra/lib/build-node-runtime.sh).
FROM ${NODE_IMAGE} AS ctr
ARG CONTAINERD_VERSION=2.2.4
RUN apt-get update \
  && apt-get install -y --no-install-recommends golang-go git ca-certificates \
  && rm -rf /var/lib/apt/lists/* \
  && CGO_ENABLED=0 GOBIN=/out go install -trimpath -ldflags '-s -w' \
    "github.com/containerd/containerd/v2/cmd/ctr@v${CONTAINERD_VERSION}"

# ---- agent: privileged node agent with the checkpoint tools ----------------
# skopeo imports checkpoint images into CRI-O's containers-storage; zstd and
# GNU tar stream archives; runc, iptables and Debian's CRIU serve the local
# runc runtime only.
FROM base AS agent
RUN apt-get update \
  && apt-get install -y --no-install-recommends criu runc iptables zstd tar skopeo ca-certificates \
  && rm -rf /var/lib/apt/lists/* \
  && criu --version | grep -q 'Version: 4\.'
COPY --from=criu /opt/spot-rescue/criu /opt/spot-rescue/criu
COPY --from=ctr /out/ctr /usr/local/bin/ctr
RUN /opt/spot-rescue/criu/lib/ld-linux-x86-64.so.2 --library-path /opt/spot-rescue/criu/lib \
    /opt/spot-rescue/criu/bin/criu --version | grep -q 'Version: 4\.[2-9]' \
  && ctr --version
# Root on purpose: CRIU dumps and restores other processes and the kubelet's
# checkpoint directory is root-owned. The chart runs it privileged on the node.
USER 0:0
CMD ["agent"]

# ---- runtime (default): listener and worker, unprivileged ------------------
FROM base AS runtime
# 65532: the conventional non-root uid; numeric so runAsNonRoot can verify it.
USER 65532:65532
CMD ["listener"]

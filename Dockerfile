# syntax=docker/dockerfile:1
#
# One image for every spot-rescue service; the command picks the service:
#   spot-rescue listener | worker | agent
#
#   docker build --build-arg NODE_DIGEST=sha256:... -t spot-rescue:0.1.0 .
#       listener and worker (non-root)
#   docker build --build-arg NODE_DIGEST=sha256:... --target agent -t spot-rescue:0.1.0-agent .
#       node agent (root; CRIU 4.x, runc, iptables, zstd)
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

# ---- agent: privileged node agent with the checkpoint tools ----------------
FROM base AS agent
RUN apt-get update \
  && apt-get install -y --no-install-recommends criu runc iptables zstd ca-certificates \
  && rm -rf /var/lib/apt/lists/* \
  && criu --version | grep -q 'Version: 4\.'
# Root on purpose: CRIU dumps and restores other processes and the kubelet's
# checkpoint directory is root-owned. The chart runs it privileged on the node.
USER 0:0
CMD ["agent"]

# ---- runtime (default): listener and worker, unprivileged ------------------
FROM base AS runtime
# 65532: the conventional non-root uid; numeric so runAsNonRoot can verify it.
USER 65532:65532
CMD ["listener"]

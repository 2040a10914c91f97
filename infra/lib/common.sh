# Shared settings for the local stack's scripts. Sourced, never run.
# Versions are pinned here; the tools cache is keyed by them so a fresh clone
# (or CI on the same machine) reuses what an earlier run built.

set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TOOLS_DIR=${SPOT_RESCUE_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/spot-rescue}
STATE_DIR=${SPOT_RESCUE_STATE_DIR:-$REPO_ROOT/.stack}

K8S_VERSION=1.34.4
KWOK_VERSION=0.7.0
ETCD_VERSION=3.5.16
MOTO_VERSION=5.2.5
CRIU_VERSION=4.2

# Ports, one per service, all on loopback. Override to run two stacks at once.
REDIS_PORT=${SPOT_RESCUE_REDIS_PORT:-16379}
MOTO_PORT=${SPOT_RESCUE_MOTO_PORT:-15000}
ETCD_PORT=${SPOT_RESCUE_ETCD_PORT:-12379}
ETCD_PEER_PORT=${SPOT_RESCUE_ETCD_PEER_PORT:-12380}
APISERVER_PORT=${SPOT_RESCUE_APISERVER_PORT:-16443}
KCM_PORT=${SPOT_RESCUE_KCM_PORT:-10257}
SCHEDULER_PORT=${SPOT_RESCUE_SCHEDULER_PORT:-10259}
KWOK_PORT=${SPOT_RESCUE_KWOK_PORT:-10247}

log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] error: %s\n' "$*" >&2; exit 1; }

# Typical durations of the long steps on the 2-core machine this project is
# built on, shown while they run. "cold" = empty Go build and module caches.
declare -A TYPICAL_DURATION=(
  [build-k8s]="15-25 min cold, 1-4 min with a warm Go cache"
  [build-kwok]="3-12 min cold"
  [build-containerd]="2-5 min cold"
  [build-runc]="1-2 min cold"
  [build-cni]="1-2 min cold"
  [build-crictl]="1-2 min cold"
  [build-helm]="1-3 min cold"
  [build-terraform]="2-8 min cold"
  [build-terraform-provider-aws]="8-15 min cold"
  [build-terraform-provider-helm]="3-8 min cold"
  [moto-pip]="1-2 min"
  [apt-install]="1-3 min"
)

# Run a build or install step with its output in a log, shown only on failure.
# A step that takes more than half a minute says so every minute, with the
# time so far and the typical time, instead of leaving the terminal silent.
quietly() {
  local name=$1; shift
  mkdir -p "$STATE_DIR/logs"
  local out="$STATE_DIR/logs/install-$name.log" t0=$SECONDS next=30 pid rc=0
  "$@" >"$out" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS - t0 >= next)); then
      log "  ... $name: $(((SECONDS - t0) / 60)) min $(((SECONDS - t0) % 60)) s so far${TYPICAL_DURATION[$name]:+ (typically ${TYPICAL_DURATION[$name]})}"
      next=$((next + 60))
    fi
    sleep 1
  done
  wait "$pid" || rc=$?
  if [ "$rc" -ne 0 ]; then
    tail -n 40 "$out" >&2
    die "$name failed; full log in ${out#"$REPO_ROOT"/}"
  fi
  if ((SECONDS - t0 >= 30)); then log "  $name done in $(((SECONDS - t0) / 60)) min $(((SECONDS - t0) % 60)) s"; fi
}

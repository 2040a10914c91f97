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

# Run a build or install step with its output in a log, shown only on failure.
quietly() {
  local name=$1; shift
  mkdir -p "$STATE_DIR/logs"
  local out="$STATE_DIR/logs/install-$name.log"
  if ! "$@" >"$out" 2>&1; then
    tail -n 40 "$out" >&2
    die "$name failed; full log in ${out#$REPO_ROOT/}"
  fi
}

#!/usr/bin/env bash
# A real Redis Cluster for the tests that run the rescue on one: three
# redis-server masters on loopback with `cluster-enabled yes`, the 16384 slots
# spread over them by `redis-cli --cluster create`. Sourced by infra/stack
# (needs STATE_DIR, start_service, stop_service, service_pid, wait_for, log);
# SPOT_RESCUE_REDIS_CLUSTER_NODES=0 at `up` leaves it out.
read -r -a REDIS_CLUSTER_PORTS <<<"${SPOT_RESCUE_REDIS_CLUSTER_PORTS:-17001 17002 17003}"
REDIS_CLUSTER_DIR="$STATE_DIR/redis-cluster"

redis_cluster_up() {
  if [ "${SPOT_RESCUE_REDIS_CLUSTER_NODES:-1}" = 0 ]; then log "redis cluster left out"; return 0; fi
  local port
  for port in "${REDIS_CLUSTER_PORTS[@]}"; do
    mkdir -p "$REDIS_CLUSTER_DIR/$port"
    start_service "redis-cluster-$port" redis-server --bind 127.0.0.1 --port "$port" \
      --dir "$REDIS_CLUSTER_DIR/$port" --cluster-enabled yes --cluster-config-file nodes.conf \
      --cluster-node-timeout 5000 --save '' --appendonly no --maxmemory-policy noeviction --protected-mode yes
  done
  for port in "${REDIS_CLUSTER_PORTS[@]}"; do
    wait_for "redis-cluster-$port" "redis-cli -p $port ping | grep -q PONG"
  done
  # Slots are assigned once; nodes.conf keeps them across restarts of the same state dir.
  if ! redis-cli -p "${REDIS_CLUSTER_PORTS[0]}" cluster info | grep -q 'cluster_state:ok'; then
    local nodes=()
    for port in "${REDIS_CLUSTER_PORTS[@]}"; do nodes+=("127.0.0.1:$port"); done
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$LOG_DIR/redis-cluster-create.log" 2>&1 ||
      { cat "$LOG_DIR/redis-cluster-create.log" >&2; die "redis-cli --cluster create failed"; }
  fi
  wait_for "redis-cluster-${REDIS_CLUSTER_PORTS[0]}" \
    "redis-cli -p ${REDIS_CLUSTER_PORTS[0]} cluster info | grep -q 'cluster_state:ok'" 60
}

redis_cluster_down() {
  local port
  for port in "${REDIS_CLUSTER_PORTS[@]}"; do stop_service "redis-cluster-$port"; done
  rm -rf "$REDIS_CLUSTER_DIR"
}

redis_cluster_status() {
  local port pid rc=0
  [ -d "$REDIS_CLUSTER_DIR" ] || return 0
  for port in "${REDIS_CLUSTER_PORTS[@]}"; do
    if pid=$(service_pid "redis-cluster-$port"); then printf '%-24s running (pid %s)\n' "redis-cluster-$port" "$pid"
    else printf '%-24s stopped\n' "redis-cluster-$port"; rc=1; fi
  done
  return $rc
}

# One node is enough: the client discovers the others.
redis_cluster_url() { echo "redis+cluster://127.0.0.1:${REDIS_CLUSTER_PORTS[0]}"; }

# Run directly (infra/lib/redis-cluster.sh up|down|status) on a stack that is
# already up, to add or remove the cluster without restarting the rest.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/common.sh"
  source "$REPO_ROOT/infra/lib/services.sh"
  RUN_DIR="$STATE_DIR/run"
  LOG_DIR="$STATE_DIR/logs"
  REDIS_CLUSTER_DIR="$STATE_DIR/redis-cluster"
  case "${1:-}" in
    up) redis_cluster_up ;;
    down) redis_cluster_down ;;
    status) redis_cluster_status ;;
    *) echo "usage: infra/lib/redis-cluster.sh up|down|status" >&2; exit 2 ;;
  esac
fi

#!/usr/bin/env bash
# Puts the project's pinned Node.js (and its npm) first on PATH, installing it
# into the tools cache on first use, so everything a script starts - npm ci,
# tsx, the test runner and the processes they spawn - runs on the Node the
# image ships. SPOT_RESCUE_NODE_VERSION selects another release (see install-node.sh).
#   Sourced (scripts/test, scripts/demo, scripts/run-tests): sets PATH.
#   Run with a command (the bench:* npm scripts): runs it with that PATH.
#     infra/lib/node-env.sh node --import tsx bench/window.ts
spot_rescue_node_bin=$("$(dirname "${BASH_SOURCE[0]}")/install-node.sh") || exit 1
case ":$PATH:" in
  *":$spot_rescue_node_bin:"*) ;;
  *) PATH="$spot_rescue_node_bin:$PATH" ;;
esac
export PATH
unset spot_rescue_node_bin

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  [ $# -gt 0 ] || { echo "usage: infra/lib/node-env.sh <command> [args...]" >&2; exit 2; }
  exec "$@"
fi

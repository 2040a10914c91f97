# Real nodes for the local stack: each a kubelet with its own containerd, runc
# and CNI bridge, registered with the stack's kube-apiserver beside kwok's
# simulated nodes, so the agent's kubelet runtime (kubelet checkpoint API ->
# containerd -> runc -> CRIU) and restores from checkpoint images run for real.
# Sourced by infra/stack after common.sh, install.sh and services.sh; never run.
# Processes are services of the stack (services.sh): real-a-containerd, real-a-kubelet...
#
# Each node is labelled like an EKS node (zone, capacity type, node group) plus
# spot-rescue.io/real-node=true, which kwok's node selector excludes, and its
# spec.providerID names an EC2 instance launched in moto for it, so the
# listener resolves an interruption of that instance to the node.
#
# `infra/stack env` exports, for tests and agents (empty list: no real nodes):
#   SPOT_RESCUE_REAL_NODES          node names, space-separated ("real-a real-b")
#   SPOT_RESCUE_REAL_NODE_CA        CA of the kubelets' serving certificates (the stack's CA)
#   SPOT_RESCUE_NODE_RUNTIME_BIN    containerd, ctr, crictl and runc
#   SPOT_RESCUE_PAUSE_IMAGE, SPOT_RESCUE_WORKLOAD_IMAGE   images present on every real node
#   SPOT_RESCUE_REAL_NODE_CRIU_CONFIG  the CRIU options every real node's containerd passes on
# and per node, with <N> the name upper-cased, dashes as underscores (REAL_A):
#   SPOT_RESCUE_REAL_NODE_<N>_KUBELET_URL        https://<node address>:<port> (checkpoint API, logs)
#   SPOT_RESCUE_REAL_NODE_<N>_CONTAINERD_SOCKET  containerd's socket (images in namespace k8s.io)
#   SPOT_RESCUE_REAL_NODE_<N>_CONTAINERD_CONFIG  its config.toml (beside the socket)
#   SPOT_RESCUE_REAL_NODE_<N>_CHECKPOINTS_DIR    where the kubelet writes checkpoint archives
#   SPOT_RESCUE_REAL_NODE_<N>_ZONE, SPOT_RESCUE_REAL_NODE_<N>_INSTANCE_ID
#
# Settings read at `infra/stack up`:
#   SPOT_RESCUE_REAL_NODES=0            leave the real nodes out (the demo's fast path)
#   SPOT_RESCUE_REAL_NODE_PORT_BASE     first kubelet port (default 10350; +10 per node, healthz +1)
#   SPOT_RESCUE_CONTAINERD_RESTORE_VIA_CREATE=true|false
#                                       containerd's enable_experimental_restore_via_create,
#                                       which 2.2.7+/2.3.4+ need to restore (2.2.4 ignores it)
#
# CRIU is the stack's (install.sh), found on containerd's PATH as runc >= 1.2
# looks for it; its options for these nodes only (tcp-close, skip-in-flight)
# are in <state dir>/real-nodes/criu.conf, named by CRIU_CONFIG_FILE in
# containerd's environment, so the global /etc/criu files stay untouched.
#
# Each node has an address of its own on this machine (10.64.0.0/10, see
# rn_node_ip), which its kubelet serves on and reports as its InternalIP; the
# API server reaches it there with the client certificate
# real_nodes_apiserver_pki makes, so `kubectl logs/exec` work on real pods.

REAL_NODES=(real-a real-b)
REAL_NODE_ZONES=(us-east-1a us-east-1b)
# real-a is the one a test reclaims; real-b is on-demand, the placement's first choice.
REAL_NODE_CAPACITY=(spot on-demand)
REAL_NODE_LABEL=spot-rescue.io/real-node
REAL_NODE_PORT_BASE=${SPOT_RESCUE_REAL_NODE_PORT_BASE:-10350}
REAL_NODES_DIR="$STATE_DIR/real-nodes"
# cgroup v1 hierarchies the kubelet's cgroupRoot must exist in before it starts.
REAL_NODE_CGROUP_HIERARCHIES=(cpu cpuacct cpuset memory systemd pids devices freezer blkio)
# cgroups, bridges and pod subnets are machine-wide: named after the state dir,
# so two stacks on one machine (other ports, other state dirs) never share or
# clean up each other's.
REAL_NODE_STACK_ID=$(printf '%s' "$STATE_DIR" | sha256sum | cut -c1-6)
REAL_NODE_CGROUP_PARENT=spot-rescue-$REAL_NODE_STACK_ID

source "$REPO_ROOT/infra/lib/build-node-runtime.sh"
source "$REPO_ROOT/infra/lib/build-node-images.sh"

rn_index() {
  local i
  for i in "${!REAL_NODES[@]}"; do [ "${REAL_NODES[$i]}" = "$1" ] && { echo "$i"; return 0; }; done
  die "unknown real node $1"
}
rn_dir() { echo "$REAL_NODES_DIR/$1"; }
rn_kubelet_port() { echo $((REAL_NODE_PORT_BASE + 10 * $(rn_index "$1"))); }
rn_socket() { echo "$(rn_dir "$1")/containerd/containerd.sock"; }
rn_bridge() { echo "sr$REAL_NODE_STACK_ID-n$(rn_index "$1")"; }
rn_network() { echo "spot-rescue-$REAL_NODE_STACK_ID-$1"; }
# 10.64.0.0/10 split by stack, a /24 of pods per node, and the node's own address.
rn_subnet() { echo "10.$((64 + 16#$REAL_NODE_STACK_ID % 64)).$(($(rn_index "$1") + 1)).0/24"; }
rn_node_ip() { echo "10.$((64 + 16#$REAL_NODE_STACK_ID % 64)).$(($(rn_index "$1") + 100)).1"; }
# The node's "NIC": a bridge with no ports, only the node's address. The
# kubelet refuses a loopback node IP, and the API server must reach each
# kubelet at the address the node reports (kubectl logs, exec).
rn_host_link() { echo "sr$REAL_NODE_STACK_ID-k$(rn_index "$1")"; }
rn_env_name() { local n=${1^^}; echo "${n//-/_}"; }
rn_admin_curl() {
  curl -sf --cacert "$STATE_DIR/pki/ca.crt" -H "Authorization: Bearer $(cat "$STATE_DIR/pki/admin.token")" "$@"
}
rn_api() { local path=$1; shift; rn_admin_curl "https://127.0.0.1:$APISERVER_PORT$path" "$@"; }

# Client certificate (the Node authorizer's system:node:<name>) and serving
# certificate for the node's address, both from the stack's CA.
rn_pki() {
  local name=$1 dir
  dir="$(rn_dir "$name")/pki"
  [ -f "$dir/serving.crt" ] && return 0
  mkdir -p "$dir"
  (
    cd "$dir"
    local ca="$STATE_DIR/pki/ca.crt" key="$STATE_DIR/pki/ca.key"
    openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj "/O=system:nodes/CN=system:node:$name" 2>/dev/null
    openssl x509 -req -in client.csr -CA "$ca" -CAkey "$key" -CAcreateserial -out client.crt -days 3650 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout serving.key -out serving.csr -subj "/CN=$name" 2>/dev/null
    printf 'subjectAltName=IP:%s,IP:127.0.0.1,DNS:%s\n' "$(rn_node_ip "$name")" "$name" >san.ext
    openssl x509 -req -in serving.csr -CA "$ca" -CAkey "$key" -CAcreateserial -out serving.crt -days 3650 -extfile san.ext 2>/dev/null
    chmod 600 ./*.key
  )
}

rn_ec2() {
  # moto tells services apart by the credential scope; it checks no signature.
  curl -sf "http://127.0.0.1:$MOTO_PORT/" -d Version=2016-11-15 \
    -H "Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/${REAL_NODE_ZONES[0]%[a-z]}/ec2/aws4_request, SignedHeaders=host, Signature=0" "$@"
}

# The node's EC2 instance in moto, launched once per moto lifetime; prints its id.
rn_instance() {
  local name=$1 zone=$2 capacity=$3 id
  id=$(rn_ec2 -d Action=DescribeInstances \
    -d Filter.1.Name="tag:$REAL_NODE_LABEL" -d Filter.1.Value.1="$name" \
    -d Filter.2.Name=instance-state-name -d Filter.2.Value.1=running |
    grep -o '<instanceId>i-[0-9a-f]*</instanceId>' | head -n1 | sed 's/<[^>]*>//g') || true
  if [ -z "$id" ]; then
    local market=()
    [ "$capacity" = spot ] && market=(-d InstanceMarketOptions.MarketType=spot)
    id=$(rn_ec2 -d Action=RunInstances -d ImageId=ami-0eks0000000000000 \
      -d MinCount=1 -d MaxCount=1 -d InstanceType=m5.large -d Placement.AvailabilityZone="$zone" "${market[@]}" \
      -d TagSpecification.1.ResourceType=instance \
      -d TagSpecification.1.Tag.1.Key="$REAL_NODE_LABEL" -d TagSpecification.1.Tag.1.Value="$name" \
      -d TagSpecification.1.Tag.2.Key=Name -d TagSpecification.1.Tag.2.Value="$name" |
      grep -o '<instanceId>i-[0-9a-f]*</instanceId>' | head -n1 | sed 's/<[^>]*>//g')
  fi
  [ -n "$id" ] || die "moto launched no instance for real node $name"
  echo "$id"
}

# The kubelet's cgroupRoot, in every v1 hierarchy (cpuset needs cpus and mems
# before anything can join it).
rn_cgroups() {
  local name=$1 h path
  for h in "${REAL_NODE_CGROUP_HIERARCHIES[@]}"; do
    [ -d "/sys/fs/cgroup/$h" ] || continue
    for path in "$REAL_NODE_CGROUP_PARENT" "$REAL_NODE_CGROUP_PARENT/$name"; do
      mkdir -p "/sys/fs/cgroup/$h/$path"
      if [ "$h" = cpuset ]; then
        local parent; parent=$(dirname "/sys/fs/cgroup/$h/$path")
        [ -s "/sys/fs/cgroup/$h/$path/cpuset.cpus" ] && [ -n "$(cat "/sys/fs/cgroup/$h/$path/cpuset.cpus")" ] ||
          cat "$parent/cpuset.cpus" >"/sys/fs/cgroup/$h/$path/cpuset.cpus"
        [ -n "$(cat "/sys/fs/cgroup/$h/$path/cpuset.mems")" ] || cat "$parent/cpuset.mems" >"/sys/fs/cgroup/$h/$path/cpuset.mems"
      fi
    done
  done
}

rn_write_config() {
  local name=$1 i dir port subnet criu_conf
  i=$(rn_index "$name"); dir=$(rn_dir "$name"); port=$(rn_kubelet_port "$name"); subnet=$(rn_subnet "$name")
  mkdir -p "$dir"/{containerd,runc,kubelet,cni/net.d,cni/ipam,opt,pod-logs}
  # containerd passes CRIU no TCP option: without tcp-close a pod with an open
  # connection cannot be dumped. Given through the environment so that the
  # simulated nodes' CRIU, which reads the global config, is unaffected.
  criu_conf="$REAL_NODES_DIR/criu.conf"
  printf 'tcp-close\nskip-in-flight\n' >"$criu_conf"
  local restore_opt=''
  # containerd 2.2.7+/2.3.4+ restore from a checkpoint image only when asked; 2.2.4 knows no such key.
  [ -n "${SPOT_RESCUE_CONTAINERD_RESTORE_VIA_CREATE:-}" ] &&
    restore_opt="enable_experimental_restore_via_create = $SPOT_RESCUE_CONTAINERD_RESTORE_VIA_CREATE"
  cat >"$dir/containerd/config.toml" <<TOML
version = 3
root = '$dir/containerd/root'
state = '$dir/containerd/state'
disabled_plugins = ['io.containerd.nri.v1.nri']

[grpc]
  address = '$dir/containerd/containerd.sock'

[plugins.'io.containerd.internal.v1.opt']
  path = '$dir/opt'

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = '127.0.0.1'
  stream_server_port = '0'

[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = '$PAUSE_IMAGE'

[plugins.'io.containerd.cri.v1.runtime']
  # root here lacks CAP_SYS_RESOURCE: the sandbox's oom_score_adj of -998 is refused.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  $restore_opt
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = 'runc'
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = 'io.containerd.runc.v2'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = '$RUNC_DIR/bin/runc'
        Root = '$dir/runc'
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ['$CNI_DIR/bin']
    conf_dir = '$dir/cni/net.d'
    max_conf_num = 1
TOML
  cat >"$dir/cni/net.d/10-$name.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "$(rn_network "$name")",
  "plugins": [
    {"type": "bridge", "bridge": "$(rn_bridge "$name")", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "$dir/cni/ipam", "ranges": [[{"subnet": "$subnet"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
JSON
  local zone=${REAL_NODE_ZONES[$i]} capacity=${REAL_NODE_CAPACITY[$i]} instance
  instance=$(rn_instance "$name" "$zone" "$capacity")
  echo "$instance" >"$dir/instance-id"
  echo "aws:///$zone/$instance" >"$dir/provider-id"
  cat >"$dir/kubelet/config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $(rn_node_ip "$name")
port: $port
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $((port + 1))
providerID: aws:///$zone/$instance
tlsCertFile: $dir/pki/serving.crt
tlsPrivateKeyFile: $dir/pki/serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $STATE_DIR/pki/ca.crt}
authorization:
  mode: Webhook
containerRuntimeEndpoint: unix://$dir/containerd/containerd.sock
cgroupDriver: cgroupfs
cgroupRoot: /$REAL_NODE_CGROUP_PARENT/$name
failSwapOn: false
failCgroupV1: false
podLogsDir: $dir/pod-logs
featureGates:
  ContainerCheckpoint: true
maxPods: 30
# Imported images (the workload's, checkpoints) must never be collected, nor
# this busy shared disk make the node evict pods.
imageGCHighThresholdPercent: 100
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
YAML
  cat >"$dir/kubelet/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: 'https://127.0.0.1:$APISERVER_PORT', certificate-authority: '$STATE_DIR/pki/ca.crt'}
users:
- name: $name
  user: {client-certificate: '$dir/pki/client.crt', client-key: '$dir/pki/client.key'}
contexts:
- name: local
  context: {cluster: local, user: $name}
current-context: local
KC
}

rn_labels() {
  local name=$1 i zone capacity
  i=$(rn_index "$name"); zone=${REAL_NODE_ZONES[$i]}; capacity=${REAL_NODE_CAPACITY[$i]}
  local eks=ON_DEMAND; [ "$capacity" = spot ] && eks=SPOT
  local l="$REAL_NODE_LABEL=true,topology.kubernetes.io/zone=$zone,topology.kubernetes.io/region=${zone%[a-z]}"
  l+=",node.kubernetes.io/instance-type=m5.large,eks.amazonaws.com/capacityType=$eks,karpenter.sh/capacity-type=$capacity"
  l+=",eks.amazonaws.com/nodegroup=real"
  echo "$l"
}

# The API server's client certificate for the kubelets (--kubelet-client-certificate):
# in system:masters, which every kubelet's webhook authorizer allows.
real_nodes_apiserver_pki() {
  local pki=$STATE_DIR/pki
  [ -f "$pki/kubelet-client.crt" ] && return 0
  openssl req -newkey rsa:2048 -nodes -keyout "$pki/kubelet-client.key" -out "$pki/kubelet-client.csr" \
    -subj "/O=system:masters/CN=kube-apiserver-kubelet-client" 2>/dev/null
  openssl x509 -req -in "$pki/kubelet-client.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -out "$pki/kubelet-client.crt" -days 3650 2>/dev/null
  chmod 600 "$pki/kubelet-client.key"
}

# Ready, and its kubelet holds the node's lease (which it takes a few seconds after registering).
rn_node_ready() {
  local lease
  lease=$(rn_api "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/$1") || return 1
  rn_api "/api/v1/nodes/$1" | LEASE=$lease NODE=$1 python3 -c '
import json, os, sys
node = json.load(sys.stdin)
lease = json.loads(os.environ["LEASE"])
ready = [c for c in node["status"].get("conditions", []) if c["type"] == "Ready"]
held = lease["spec"].get("holderIdentity") == os.environ["NODE"]
sys.exit(0 if held and ready and ready[0]["status"] == "True" else 1)'
}

# Cheap when the node has them already; a rebuilt image replaces the old one under the same name.
rn_import_images() {
  local tar
  for tar in "$PAUSE_IMAGE_TAR" "$WORKLOAD_IMAGE_TAR"; do
    quietly "import-$1" "$CONTAINERD_DIR/bin/ctr" --address "$(rn_socket "$1")" -n k8s.io images import --local "$tar"
  done
}

rn_provider_id() {
  rn_api "/api/v1/nodes/$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["spec"].get("providerID", ""))'
}

# What a node was started with: a running node whose configuration changed is started again.
rn_config_stamp() {
  local dir; dir=$(rn_dir "$1")
  { cat "$dir/containerd/config.toml" "$dir/kubelet/config.yaml" "$dir"/cni/net.d/*; rn_labels "$1"; rn_node_ip "$1"; } |
    sha256sum | cut -c1-16
}

real_node_up() {
  local name=$1 dir sock
  dir=$(rn_dir "$name"); sock=$(rn_socket "$name")
  rn_pki "$name"
  rn_write_config "$name"
  if service_pid "$name-kubelet" >/dev/null && service_pid "$name-containerd" >/dev/null; then
    if [ "$(rn_config_stamp "$name")" = "$(cat "$dir/started" 2>/dev/null)" ]; then
      rn_api "/api/v1/nodes/$name" -o /dev/null && { rn_import_images "$name"; return 0; }
      # Its Node was deleted, and a kubelet registers only when it starts.
      stop_service "$name-kubelet"
    else
      log "real node $name: its configuration changed; starting it again"
      real_node_down "$name"
      rn_pki "$name"
      rn_write_config "$name"
    fi
  fi
  rn_cgroups "$name"
  local link; link=$(rn_host_link "$name")
  ip link show "$link" >/dev/null 2>&1 || ip link add "$link" type bridge
  ip addr replace "$(rn_node_ip "$name")/32" dev "$link"
  ip link set "$link" up
  # A Node left by an earlier run may name another instance; spec.providerID is immutable.
  local have
  if have=$(rn_provider_id "$name" 2>/dev/null) && [ "$have" != "$(cat "$dir/provider-id")" ]; then
    rn_api "/api/v1/nodes/$name" -X DELETE -o /dev/null
  fi
  start_service "$name-containerd" env PATH="$CRIU_DIR/bin:$NODE_RUNTIME_BIN:$CNI_DIR/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    CRIU_CONFIG_FILE="$REAL_NODES_DIR/criu.conf" \
    "$CONTAINERD_DIR/bin/containerd" --config "$dir/containerd/config.toml"
  wait_for "$name-containerd" "'$CONTAINERD_DIR/bin/ctr' --address '$sock' version"
  rn_import_images "$name"
  start_service "$name-kubelet" "$TOOLS_DIR/k8s-v$K8S_VERSION/bin/kubelet" --config "$dir/kubelet/config.yaml" \
    --kubeconfig "$dir/kubelet/kubeconfig" --root-dir "$dir/kubelet" --hostname-override "$name" --node-ip "$(rn_node_ip "$name")" \
    --node-labels "$(rn_labels "$name")" --v=1
  rn_config_stamp "$name" >"$dir/started"
}

# Brings every real node up and waits until each is Ready.
real_nodes_up() {
  if [ "${SPOT_RESCUE_REAL_NODES:-1}" = 0 ]; then log "real nodes left out (SPOT_RESCUE_REAL_NODES=0)"; return 0; fi
  local t0=$SECONDS name
  "$REPO_ROOT/infra/lib/build-node-runtime.sh"
  "$REPO_ROOT/infra/lib/build-node-images.sh"
  for name in "${REAL_NODES[@]}"; do real_node_up "$name"; done
  for name in "${REAL_NODES[@]}"; do wait_for "$name-kubelet" "rn_node_ready $name" 240; done
  log "real nodes ${REAL_NODES[*]} Ready in $((SECONDS - t0)) s"
}

# Everything a node left, whether it stopped cleanly or crashed: its
# containers and their shims, mounts, network, cgroups and files.
real_node_clean() {
  local name=$1 dir sock id pid
  dir=$(rn_dir "$name"); sock=$(rn_socket "$name")
  if [ -d "$dir/runc/k8s.io" ]; then
    for id in $("$RUNC_DIR/bin/runc" --root "$dir/runc/k8s.io" list --quiet 2>/dev/null); do
      "$RUNC_DIR/bin/runc" --root "$dir/runc/k8s.io" delete --force "$id" >/dev/null 2>&1 || true
    done
  fi
  # Shims outlive a killed containerd; each names the socket of the containerd that started it.
  for pid in $(grep -lsF -- "$sock" /proc/[0-9]*/cmdline | cut -d/ -f3); do
    [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$CONTAINERD_DIR/bin/containerd-shim-runc-v2" ] && kill -KILL "$pid" 2>/dev/null
  done
  local h cg
  for h in "${REAL_NODE_CGROUP_HIERARCHIES[@]}"; do
    cg="/sys/fs/cgroup/$h/$REAL_NODE_CGROUP_PARENT/$name"
    [ -d "$cg" ] || continue
    cat $(find "$cg" -name cgroup.procs) 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
  done
  # Deepest first: a pod's volumes sit on the kubelet's dir, rootfs mounts on containerd's.
  local m
  while read -r m; do umount -l "$m" 2>/dev/null || true; done < <(
    awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r)
  for h in "${REAL_NODE_CGROUP_HIERARCHIES[@]}"; do
    cg="/sys/fs/cgroup/$h/$REAL_NODE_CGROUP_PARENT/$name"
    # A killed process leaves its cgroup a moment later.
    for _ in $(seq 1 20); do
      [ -d "$cg" ] || break
      find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || sleep 0.25
    done
    rmdir "/sys/fs/cgroup/$h/$REAL_NODE_CGROUP_PARENT" 2>/dev/null || true
  done
  ip link del "$(rn_bridge "$name")" 2>/dev/null || true
  ip link del "$(rn_host_link "$name")" 2>/dev/null || true
  rm -f /var/lib/cni/results/"$(rn_network "$name")"-* 2>/dev/null || true
  # Container log links the kubelet made in the global directory.
  find /var/log/containers -maxdepth 1 -type l -lname "$dir/*" -delete 2>/dev/null || true
  if awk -v d="$dir/" 'index($2, d) == 1 {f=1} END {exit !f}' /proc/self/mounts; then
    die "real node $name: mounts remain under $dir; not removing it"
  fi
  rm -rf --one-file-system "$dir"
}

real_node_down() {
  local name=$1 sock
  sock=$(rn_socket "$name")
  stop_service "$name-kubelet"
  # With the kubelet gone nothing restarts them; the CRI removes sandboxes with their network.
  if service_pid "$name-containerd" >/dev/null; then
    CONTAINER_RUNTIME_ENDPOINT="unix://$sock" timeout 60 "$CRICTL_DIR/bin/crictl" rmp --force --all >/dev/null 2>&1 || true
  fi
  stop_service "$name-containerd"
  real_node_clean "$name"
  rn_api "/api/v1/nodes/$name" -X DELETE -o /dev/null 2>/dev/null || true
}

real_nodes_down() {
  local name
  for name in "${REAL_NODES[@]}"; do real_node_down "$name"; done
  rm -rf "$REAL_NODES_DIR"
}

real_nodes_status() {
  local name part pid rc=0
  [ -d "$REAL_NODES_DIR" ] || return 0
  for name in "${REAL_NODES[@]}"; do
    for part in containerd kubelet; do
      if pid=$(service_pid "$name-$part"); then printf '%-24s running (pid %s)\n' "$name-$part" "$pid"
      else printf '%-24s stopped\n' "$name-$part"; rc=1; fi
    done
  done
  return $rc
}

# From the configuration the kubelet was started with, so the env names what runs.
rn_kubelet_url() {
  local c; c="$(rn_dir "$1")/kubelet/config.yaml"
  echo "https://$(awk '/^address:/ {print $2}' "$c"):$(awk '/^port:/ {print $2}' "$c")"
}

real_nodes_env() {
  local names=() name n
  for name in "${REAL_NODES[@]}"; do [ -f "$(rn_dir "$name")/instance-id" ] && names+=("$name"); done
  cat <<ENV
export SPOT_RESCUE_REAL_NODES='${names[*]}'
export SPOT_RESCUE_REAL_NODE_CA='$STATE_DIR/pki/ca.crt'
export SPOT_RESCUE_NODE_RUNTIME_BIN='$NODE_RUNTIME_BIN'
export SPOT_RESCUE_PAUSE_IMAGE='$PAUSE_IMAGE'
export SPOT_RESCUE_WORKLOAD_IMAGE='$WORKLOAD_IMAGE'
export SPOT_RESCUE_REAL_NODE_CRIU_CONFIG='$REAL_NODES_DIR/criu.conf'
ENV
  for name in "${names[@]}"; do
    n=$(rn_env_name "$name")
    cat <<ENV
export SPOT_RESCUE_REAL_NODE_${n}_KUBELET_URL='$(rn_kubelet_url "$name")'
export SPOT_RESCUE_REAL_NODE_${n}_CONTAINERD_SOCKET='$(rn_socket "$name")'
export SPOT_RESCUE_REAL_NODE_${n}_CONTAINERD_CONFIG='$(rn_dir "$name")/containerd/config.toml'
export SPOT_RESCUE_REAL_NODE_${n}_CHECKPOINTS_DIR='$(rn_dir "$name")/kubelet/checkpoints'
export SPOT_RESCUE_REAL_NODE_${n}_ZONE='${REAL_NODE_ZONES[$(rn_index "$name")]}'
export SPOT_RESCUE_REAL_NODE_${n}_INSTANCE_ID='$(cat "$(rn_dir "$name")/instance-id")'
ENV
  done
}

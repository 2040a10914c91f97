################################################################################
# Node settings
#
# containerd restores a pod from a checkpoint image in 2.1 to 2.3 only, and
# from 2.2.7 and 2.3.4 only when its CRI runtime plugin says
# enable_experimental_restore_via_create = true (2.4 removed restore). The
# setting is merged into the node's containerd config through nodeadm's
# NodeConfig (EKS AL2023 AMIs). containerd before 2.2.7 ignores the key with a
# warning, so setting it on every node is safe whatever the AMI release.
#
# This module creates no node groups and no Karpenter node classes: it
# outputs the NodeConfig, and the MIME part to merge into the user data of
# the launch templates of managed node groups, self-managed groups or
# EC2NodeClass spec.userData. CRIU itself is installed by the chart's agent
# (agent.criu.install), not here.
################################################################################

locals {
  containerd_node_config = var.containerd_restore_via_create ? join("\n", [
    "[plugins.\"io.containerd.cri.v1.runtime\"]",
    "  enable_experimental_restore_via_create = true",
    "",
  ]) : ""

  node_config = yamlencode({
    apiVersion = "node.eks.aws/v1alpha1"
    kind       = "NodeConfig"
    spec = {
      containerd = {
        config = local.containerd_node_config
      }
    }
  })

  node_user_data_boundary = "==SPOTRESCUE=="
  node_user_data = join("\n", [
    "MIME-Version: 1.0",
    "Content-Type: multipart/mixed; boundary=\"${local.node_user_data_boundary}\"",
    "",
    "--${local.node_user_data_boundary}",
    "Content-Type: application/node.eks.aws",
    "",
    local.node_config,
    "--${local.node_user_data_boundary}--",
    "",
  ])
}

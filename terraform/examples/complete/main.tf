provider "aws" {
  region = local.region
}

# The chart is installed into the cluster the helm provider points at.
provider "helm" {
  kubernetes = {
    host                   = data.aws_eks_cluster.this.endpoint
    cluster_ca_certificate = base64decode(data.aws_eks_cluster.this.certificate_authority[0].data)
    exec = {
      api_version = "client.authentication.k8s.io/v1beta1"
      command     = "aws"
      args        = ["eks", "get-token", "--cluster-name", local.cluster_name]
    }
  }
}

locals {
  region       = "eu-west-1"
  cluster_name = var.cluster_name

  tags = {
    Example    = "spot-rescue-complete"
    Repository = "spot-rescue"
  }
}

data "aws_eks_cluster" "this" {
  name = local.cluster_name
}

data "aws_eks_node_group" "spot" {
  for_each = toset(var.node_group_names)

  cluster_name    = local.cluster_name
  node_group_name = each.value
}

module "spot_rescue" {
  source = "../.."

  cluster_name = local.cluster_name

  # IAM through EKS Pod Identity, with IRSA as well for clusters migrating between the two.
  enable_pod_identity = true
  enable_irsa         = var.oidc_provider_arn != null
  oidc_provider_arn   = var.oidc_provider_arn

  # Capacity: the worker launches from the node groups' launch templates and passes only their role.
  provisioning_mode    = "ec2"
  launch_template_arns = var.launch_template_arns
  node_iam_role_arns   = distinct([for ng in data.aws_eks_node_group.spot : ng.node_role_arn])

  # Managed node groups are Auto Scaling groups: hook their scale-in too.
  autoscaling_group_names            = flatten([for ng in data.aws_eks_node_group.spot : ng.resources[0].autoscaling_groups[*].name])
  create_autoscaling_lifecycle_hooks = true

  # Redis: an ElastiCache replication group in the cluster's VPC, reachable from its nodes.
  redis_vpc_id                     = data.aws_eks_cluster.this.vpc_config[0].vpc_id
  redis_subnet_ids                 = data.aws_eks_cluster.this.vpc_config[0].subnet_ids
  redis_allowed_security_group_ids = [data.aws_eks_cluster.this.vpc_config[0].cluster_security_group_id]

  rebalance_policy      = "cordon"
  enable_cloudwatch_emf = true
  alarm_actions         = var.alarm_actions

  image_repository = var.image_repository
  image_tag        = var.image_tag

  helm_values = [yamlencode({
    worker = {
      autoscaling = { enabled = true, minReplicas = 2, maxReplicas = 10 }
    }
  })]

  tags = local.tags
}

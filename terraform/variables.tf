################################################################################
# General
################################################################################

variable "create" {
  description = "Whether to create any resource at all (terraform-aws-modules convention)"
  type        = bool
  default     = true
}

variable "name" {
  description = "Name prefix of every resource; defaults to `<cluster_name>-spot-rescue`"
  type        = string
  default     = null

  validation {
    condition     = var.name == null || can(regex("^[a-z0-9][a-z0-9-]{0,37}$", var.name))
    error_message = "The name must be 1-38 lower-case letters, digits and dashes (it prefixes queue, bucket and role names)."
  }
}

variable "cluster_name" {
  description = "Name of the EKS cluster spot-rescue serves"
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9][a-zA-Z0-9_-]{0,99}$", var.cluster_name))
    error_message = "The cluster_name must be an EKS cluster name: 1-100 letters, digits, - and _, starting with a letter or digit."
  }
}

variable "tags" {
  description = "Tags added to every resource"
  type        = map(string)
  default     = {}
}

################################################################################
# SQS
################################################################################

variable "queue_kms_key_id" {
  description = "KMS key (ARN or alias) for the queues' SSE; null uses SQS-managed SSE. A customer managed key must let events.amazonaws.com and sns.amazonaws.com use it."
  type        = string
  default     = null
}

variable "queue_message_retention_seconds" {
  description = "How long an undelivered event stays in the queue; interruption warnings are worthless after two minutes"
  type        = number
  default     = 300

  validation {
    condition     = var.queue_message_retention_seconds >= 60 && var.queue_message_retention_seconds <= 1209600
    error_message = "The queue_message_retention_seconds must be between 60 and 1209600 (SQS limits)."
  }
}

variable "dlq_message_retention_seconds" {
  description = "How long malformed or unprocessable events stay in the dead-letter queue for inspection"
  type        = number
  default     = 1209600
}

variable "queue_max_receive_count" {
  description = "Receives after which a message moves to the dead-letter queue"
  type        = number
  default     = 5
}

################################################################################
# EventBridge
################################################################################

variable "event_kinds" {
  description = "Event kinds routed to the queue (every kind the listener understands by default)"
  type        = set(string)
  default     = ["spot-interruption", "capacity-reservation-interruption", "rebalance-recommendation", "instance-state-change", "scheduled-maintenance", "asg-lifecycle-terminate", "cloudwatch-alarm"]

  validation {
    condition     = length(setsubtract(var.event_kinds, ["spot-interruption", "capacity-reservation-interruption", "rebalance-recommendation", "instance-state-change", "scheduled-maintenance", "asg-lifecycle-terminate", "cloudwatch-alarm"])) == 0
    error_message = "The event_kinds may only contain spot-interruption, capacity-reservation-interruption, rebalance-recommendation, instance-state-change, scheduled-maintenance, asg-lifecycle-terminate and cloudwatch-alarm."
  }
}

variable "cloudwatch_alarm_name_prefix" {
  description = "Only CloudWatch alarms whose names start with this prefix (e.g. per-instance health alarms) trigger a rescue; defaults to `<name>-node-`"
  type        = string
  default     = null
}

################################################################################
# S3 + KMS
################################################################################

variable "create_kms_key" {
  description = "Create a KMS key for the archive bucket (archives hold process memory: treat them as secrets)"
  type        = bool
  default     = true
}

variable "kms_key_arn" {
  description = "Existing KMS key ARN for the archives when `create_kms_key` is false"
  type        = string
  default     = null
}

variable "kms_key_deletion_window_in_days" {
  description = "Waiting period before the created KMS key is deleted"
  type        = number
  default     = 7
}

variable "kms_key_administrators" {
  description = "IAM ARNs allowed to administer the created KMS key (besides the account root)"
  type        = list(string)
  default     = []
}

variable "s3_bucket_name" {
  description = "Name of the archive bucket; defaults to `<name>-archives-<account id>`"
  type        = string
  default     = null
}

variable "s3_force_destroy" {
  description = "Let `terraform destroy` delete a bucket that still holds archives"
  type        = bool
  default     = false
}

variable "archive_expiration_days" {
  description = "Days after which checkpoint archives expire; they are needed only until the restore"
  type        = number
  default     = 3

  validation {
    condition     = var.archive_expiration_days >= 1
    error_message = "The archive_expiration_days must be at least 1."
  }
}

################################################################################
# IAM
################################################################################

variable "enable_pod_identity" {
  description = "Grant the components their IAM roles through EKS Pod Identity (associations created here; needs the eks-pod-identity-agent add-on)"
  type        = bool
  default     = true
}

variable "enable_irsa" {
  description = "Grant the IAM roles through IRSA (the roles trust the cluster's OIDC provider; the chart annotates the ServiceAccounts)"
  type        = bool
  default     = false
}

variable "oidc_provider_arn" {
  description = "ARN of the cluster's IAM OIDC provider, required with `enable_irsa`"
  type        = string
  default     = null
}

variable "iam_role_path" {
  description = "Path of the IAM roles"
  type        = string
  default     = "/"
}

variable "archive_readers" {
  description = "IAM role ARNs that may read archives besides the worker and the archive-access role (break-glass); the bucket policy denies reads to everyone else"
  type        = list(string)
  default     = []
}

variable "iam_role_permissions_boundary" {
  description = "ARN of the permissions boundary of the IAM roles"
  type        = string
  default     = null
}

variable "node_iam_role_arns" {
  description = "IAM roles of the nodes the worker launches (ec2 mode): the only roles it may pass"
  type        = list(string)
  default     = []
}

variable "launch_template_arns" {
  description = "Launch templates the worker may launch instances from (ec2 mode)"
  type        = list(string)
  default     = []
}

variable "launch_instance_types" {
  description = "Instance types the worker may launch (ec2 mode); the IAM policy allows only these (condition ec2:InstanceType). Empty: any type the launch templates allow"
  type        = list(string)
  default     = []
}

variable "autoscaling_group_names" {
  description = "Auto Scaling groups of the cluster's nodes: the worker completes their lifecycle actions (and grows them in asg mode)"
  type        = list(string)
  default     = []
}

variable "containerd_restore_via_create" {
  description = "Put containerd's restore opt-in (enable_experimental_restore_via_create, needed from containerd 2.2.7 and 2.3.4) in the node settings this module outputs (node_config, node_user_data)"
  type        = bool
  default     = true
}

################################################################################
# Redis
################################################################################

variable "redis_url" {
  description = "Bring your own Redis (redis:// or rediss:// URL, maxmemory-policy noeviction); null creates an ElastiCache replication group"
  type        = string
  default     = null
  sensitive   = true
}

variable "redis_auth_token" {
  description = "AUTH token of the created ElastiCache replication group (16 to 128 printable characters, none of @ \" /); null generates one, kept in the Terraform state"
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.redis_auth_token == null || can(regex("^[!#-.0-?A-~]{16,128}$", var.redis_auth_token))
    error_message = "The redis_auth_token must be 16 to 128 printable characters without @, \" or /."
  }
}

variable "redis_subnet_ids" {
  description = "Subnets of the created ElastiCache replication group"
  type        = list(string)
  default     = []
}

variable "redis_vpc_id" {
  description = "VPC of the created ElastiCache replication group"
  type        = string
  default     = null
}

variable "redis_allowed_security_group_ids" {
  description = "The only security groups allowed to reach the created Redis on 6379: the cluster's node security group (every pod on those nodes can then connect; AUTH and the chart's NetworkPolicy keep the rest out), or with security groups for pods the listener's and the worker's"
  type        = list(string)
  default     = []
}

variable "redis_engine" {
  description = "ElastiCache engine: redis or valkey"
  type        = string
  default     = "valkey"

  validation {
    condition     = contains(["redis", "valkey"], var.redis_engine)
    error_message = "The redis_engine must be redis or valkey."
  }
}

variable "redis_engine_version" {
  description = "Engine version"
  type        = string
  default     = "8.0"
}

variable "redis_parameter_group_family" {
  description = "Parameter group family matching the engine version"
  type        = string
  default     = "valkey8"
}

variable "redis_node_type" {
  description = "Cache node type"
  type        = string
  default     = "cache.t4g.small"
}

variable "redis_num_cache_clusters" {
  description = "Nodes of the replication group; 2 or more enables automatic failover and Multi-AZ"
  type        = number
  default     = 2
}

################################################################################
# CloudWatch
################################################################################

variable "create_cloudwatch_alarms" {
  description = "Create alarms on DLQ depth, the oldest message's age and failed rescues"
  type        = bool
  default     = true
}

variable "alarm_actions" {
  description = "ARNs notified when an alarm fires (e.g. an on-call SNS topic); never the rescue topic"
  type        = list(string)
  default     = []
}

variable "oldest_message_age_threshold_seconds" {
  description = "Alarm when the oldest event waits longer than this: the listener is down or too slow"
  type        = number
  default     = 30
}

variable "failed_rescues_threshold" {
  description = "Alarm when more rescues than this fail within 5 minutes"
  type        = number
  default     = 0
}

variable "cloudwatch_metrics_namespace" {
  description = "Namespace of the worker's embedded-metric-format metrics (the chart's metrics.cloudwatchEmf.namespace)"
  type        = string
  default     = "SpotRescue"
}

################################################################################
# ASG lifecycle hooks
################################################################################

variable "create_autoscaling_lifecycle_hooks" {
  description = "Add a termination lifecycle hook to each of `autoscaling_group_names`, so scale-in waits for the rescue"
  type        = bool
  default     = false
}

variable "autoscaling_lifecycle_hook_heartbeat_timeout" {
  description = "Seconds an instance waits in Terminating:Wait for spot-rescue to complete the action"
  type        = number
  default     = 300

  validation {
    condition     = var.autoscaling_lifecycle_hook_heartbeat_timeout >= 30 && var.autoscaling_lifecycle_hook_heartbeat_timeout <= 7200
    error_message = "The autoscaling_lifecycle_hook_heartbeat_timeout must be between 30 and 7200 seconds."
  }
}

################################################################################
# Helm release
################################################################################

variable "create_helm_release" {
  description = "Install the chart with the helm provider"
  type        = bool
  default     = true
}

variable "namespace" {
  description = "Kubernetes namespace of the release"
  type        = string
  default     = "spot-rescue"
}

variable "create_namespace" {
  description = "Create the namespace"
  type        = bool
  default     = true
}

variable "helm_release_name" {
  description = "Name of the Helm release"
  type        = string
  default     = "spot-rescue"
}

variable "helm_chart" {
  description = "Chart: a path or a name in `helm_chart_repository`; defaults to the chart beside this module"
  type        = string
  default     = null
}

variable "helm_chart_repository" {
  description = "Chart repository URL (or oci:// registry); null for a local path"
  type        = string
  default     = null
}

variable "helm_chart_version" {
  description = "Chart version from the repository"
  type        = string
  default     = null
}

variable "image_repository" {
  description = "Container image repository (the chart's image.repository); null keeps the chart's"
  type        = string
  default     = null
}

variable "image_tag" {
  description = "Container image tag; null keeps the chart's appVersion"
  type        = string
  default     = null
}

variable "rebalance_policy" {
  description = "What a rebalance recommendation does: ignore, cordon or migrate"
  type        = string
  default     = "cordon"

  validation {
    condition     = contains(["ignore", "cordon", "migrate"], var.rebalance_policy)
    error_message = "The rebalance_policy must be ignore, cordon or migrate."
  }
}

variable "provisioning_mode" {
  description = "How the worker adds capacity: karpenter, ec2, asg or none"
  type        = string
  default     = "karpenter"

  validation {
    condition     = contains(["karpenter", "ec2", "asg", "none"], var.provisioning_mode)
    error_message = "The provisioning_mode must be karpenter, ec2, asg or none."
  }
}

variable "enable_cloudwatch_emf" {
  description = "Make the worker write embedded-metric-format lines, which the failed-rescues alarm reads (needs the CloudWatch agent or Fluent Bit shipping container logs)"
  type        = bool
  default     = true
}

variable "helm_values" {
  description = "Extra values (YAML documents) merged after the module's"
  type        = list(string)
  default     = []
}

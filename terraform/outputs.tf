################################################################################
# SQS
################################################################################

output "queue_url" {
  description = "URL of the SQS queue the listener consumes"
  value       = try(aws_sqs_queue.this[0].url, null)
}

output "queue_arn" {
  description = "ARN of the SQS queue"
  value       = try(aws_sqs_queue.this[0].arn, null)
}

output "queue_name" {
  description = "Name of the SQS queue"
  value       = try(aws_sqs_queue.this[0].name, null)
}

output "dlq_url" {
  description = "URL of the dead-letter queue"
  value       = try(aws_sqs_queue.dlq[0].url, null)
}

output "dlq_arn" {
  description = "ARN of the dead-letter queue"
  value       = try(aws_sqs_queue.dlq[0].arn, null)
}

################################################################################
# EventBridge + SNS
################################################################################

output "event_rule_arns" {
  description = "EventBridge rule ARN per event kind"
  value       = { for k, rule in aws_cloudwatch_event_rule.this : k => rule.arn }
}

output "sns_topic_arn" {
  description = "ARN of the SNS topic that node alarms target; it delivers to the queue"
  value       = try(aws_sns_topic.this[0].arn, null)
}

output "cloudwatch_alarm_name_prefix" {
  description = "Alarms whose names start with this trigger a rescue of their instance's node"
  value       = local.alarm_name_prefix
}

################################################################################
# S3 + KMS
################################################################################

output "s3_bucket_id" {
  description = "Name of the archive bucket"
  value       = try(aws_s3_bucket.this[0].id, null)
}

output "archive_access_role_arn" {
  description = "Role the worker assumes for each checkpoint and restore, narrowed to that checkpoint by a session policy"
  value       = try(aws_iam_role.archive_access[0].arn, null)
}

output "s3_bucket_arn" {
  description = "ARN of the archive bucket"
  value       = try(aws_s3_bucket.this[0].arn, null)
}

output "kms_key_arn" {
  description = "ARN of the KMS key encrypting the archives"
  value       = local.kms_key_arn
}

################################################################################
# IAM
################################################################################

output "listener_iam_role_arn" {
  description = "IAM role of the listener"
  value       = try(aws_iam_role.this["listener"].arn, null)
}

output "worker_iam_role_arn" {
  description = "IAM role of the worker"
  value       = try(aws_iam_role.this["worker"].arn, null)
}

output "agent_iam_role_arn" {
  description = "IAM role of the agent"
  value       = try(aws_iam_role.this["agent"].arn, null)
}

################################################################################
# Redis
################################################################################

output "redis_url" {
  description = "Redis URL the components use"
  value       = local.create ? local.redis_url : null
  sensitive   = true
}

output "redis_replication_group_id" {
  description = "ID of the created ElastiCache replication group"
  value       = try(aws_elasticache_replication_group.this[0].id, null)
}

################################################################################
# CloudWatch + ASG
################################################################################

output "cloudwatch_alarm_arns" {
  description = "ARNs of the DLQ depth, oldest message age and failed rescues alarms"
  value = compact([
    try(aws_cloudwatch_metric_alarm.dlq_depth[0].arn, ""),
    try(aws_cloudwatch_metric_alarm.oldest_message_age[0].arn, ""),
    try(aws_cloudwatch_metric_alarm.failed_rescues[0].arn, ""),
  ])
}

output "autoscaling_lifecycle_hook_names" {
  description = "Termination lifecycle hook per Auto Scaling group"
  value       = { for asg, hook in aws_autoscaling_lifecycle_hook.this : asg => hook.name }
}

################################################################################
# Node settings
################################################################################

output "node_config" {
  description = "nodeadm NodeConfig (EKS AL2023) with what the nodes' containerd needs to restore checkpoints; merge it into the nodes' user data"
  value       = local.node_config
}

output "node_user_data" {
  description = "node_config as a MIME multipart document, for launch templates of node groups (merged by EKS with its own part) and Karpenter EC2NodeClass spec.userData"
  value       = local.node_user_data
}

################################################################################
# Helm
################################################################################

output "helm_release_status" {
  description = "Status of the Helm release"
  value       = try(helm_release.this[0].status, null)
}

output "namespace" {
  description = "Kubernetes namespace of the release"
  value       = var.namespace
}

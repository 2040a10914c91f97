output "queue_url" {
  description = "URL of the SQS queue"
  value       = module.spot_rescue.queue_url
}

output "sns_topic_arn" {
  description = "Point node alarms (named with the prefix below) at this topic"
  value       = module.spot_rescue.sns_topic_arn
}

output "cloudwatch_alarm_name_prefix" {
  description = "Prefix of alarms that trigger a rescue"
  value       = module.spot_rescue.cloudwatch_alarm_name_prefix
}

output "s3_bucket_id" {
  description = "Archive bucket"
  value       = module.spot_rescue.s3_bucket_id
}

output "iam_role_arns" {
  description = "IAM role per component"
  value = {
    listener = module.spot_rescue.listener_iam_role_arn
    worker   = module.spot_rescue.worker_iam_role_arn
    agent    = module.spot_rescue.agent_iam_role_arn
  }
}

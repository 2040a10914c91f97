data "aws_partition" "current" {
  count = var.create ? 1 : 0
}

data "aws_caller_identity" "current" {
  count = var.create ? 1 : 0
}

data "aws_region" "current" {
  count = var.create ? 1 : 0
}

locals {
  create     = var.create
  name       = coalesce(var.name, "${lower(var.cluster_name)}-spot-rescue")
  partition  = try(data.aws_partition.current[0].partition, "aws")
  account_id = try(data.aws_caller_identity.current[0].account_id, "")
  region     = try(data.aws_region.current[0].region, "")
  dns_suffix = try(data.aws_partition.current[0].dns_suffix, "amazonaws.com")

  # Archives live under s3://<bucket>/<cluster>/... (ARCHITECTURE.md, "Object layout in S3").
  archive_prefix = "${var.cluster_name}/"

  kms_key_arn = var.create_kms_key ? try(aws_kms_key.this[0].arn, null) : var.kms_key_arn

  alarm_name_prefix = coalesce(var.cloudwatch_alarm_name_prefix, "${local.name}-node-")

  create_redis = local.create && var.redis_url == null
  redis_url    = local.create_redis ? "rediss://:${urlencode(local.redis_auth_token)}@${try(aws_elasticache_replication_group.this[0].primary_endpoint_address, "")}:6379" : var.redis_url
  # Generated once and kept in state (uuid() is crypto/rand; ignore_changes pins it): 256 bits, hex.
  redis_auth_token = local.create_redis ? sensitive(coalesce(var.redis_auth_token, try(terraform_data.redis_auth_token[0].output, ""))) : ""

  service_accounts = {
    listener = "${var.helm_release_name}-listener"
    worker   = "${var.helm_release_name}-worker"
    agent    = "${var.helm_release_name}-agent"
  }

  tags = merge(var.tags, {
    "spot-rescue.io/cluster" = var.cluster_name
  })
}

################################################################################
# SQS: the queue EventBridge and SNS deliver to, and its dead-letter queue
################################################################################

resource "aws_sqs_queue" "dlq" {
  count = local.create ? 1 : 0

  name                              = "${local.name}-dlq"
  message_retention_seconds         = var.dlq_message_retention_seconds
  sqs_managed_sse_enabled           = var.queue_kms_key_id == null ? true : null
  kms_master_key_id                 = var.queue_kms_key_id
  kms_data_key_reuse_period_seconds = var.queue_kms_key_id == null ? null : 300

  tags = local.tags
}

resource "aws_sqs_queue" "this" {
  count = local.create ? 1 : 0

  name                              = local.name
  message_retention_seconds         = var.queue_message_retention_seconds
  receive_wait_time_seconds         = 20
  sqs_managed_sse_enabled           = var.queue_kms_key_id == null ? true : null
  kms_master_key_id                 = var.queue_kms_key_id
  kms_data_key_reuse_period_seconds = var.queue_kms_key_id == null ? null : 300

  tags = local.tags
}

resource "aws_sqs_queue_redrive_policy" "this" {
  count = local.create ? 1 : 0

  queue_url = aws_sqs_queue.this[0].id
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq[0].arn
    maxReceiveCount     = var.queue_max_receive_count
  })
}

resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  count = local.create ? 1 : 0

  queue_url = aws_sqs_queue.dlq[0].id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.this[0].arn]
  })
}

data "aws_iam_policy_document" "queue" {
  count = local.create ? 1 : 0

  statement {
    sid       = "AllowEventBridgeRules"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.this[0].arn]

    principals {
      type        = "Service"
      identifiers = ["events.${local.dns_suffix}"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [for rule in aws_cloudwatch_event_rule.this : rule.arn]
    }
  }

  statement {
    sid       = "AllowAlarmTopic"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.this[0].arn]

    principals {
      type        = "Service"
      identifiers = ["sns.${local.dns_suffix}"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_sns_topic.this[0].arn]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.this[0].arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue_policy" "this" {
  count = local.create ? 1 : 0

  queue_url = aws_sqs_queue.this[0].id
  policy    = data.aws_iam_policy_document.queue[0].json
}

data "aws_iam_policy_document" "dlq" {
  count = local.create ? 1 : 0

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.dlq[0].arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue_policy" "dlq" {
  count = local.create ? 1 : 0

  queue_url = aws_sqs_queue.dlq[0].id
  policy    = data.aws_iam_policy_document.dlq[0].json
}

################################################################################
# EventBridge: one rule per event kind the listener understands
################################################################################

locals {
  event_patterns = {
    "spot-interruption" = {
      source      = ["aws.ec2"]
      detail-type = ["EC2 Spot Instance Interruption Warning"]
    }
    # Instances in an interruptible Capacity Reservation whose owner reclaims it: 2 minutes, like Spot.
    "capacity-reservation-interruption" = {
      source      = ["aws.ec2"]
      detail-type = ["EC2 Capacity Reservation Instance Interruption Warning"]
    }
    "rebalance-recommendation" = {
      source      = ["aws.ec2"]
      detail-type = ["EC2 Instance Rebalance Recommendation"]
    }
    "instance-state-change" = {
      source      = ["aws.ec2"]
      detail-type = ["EC2 Instance State-change Notification"]
      detail      = { state = ["stopping", "stopped", "shutting-down", "terminated"] }
    }
    # AWS Health, narrowed to EC2 scheduled changes (retirements, reboots, maintenance).
    "scheduled-maintenance" = {
      source      = ["aws.health"]
      detail-type = ["AWS Health Event"]
      detail = {
        service           = ["EC2"]
        eventTypeCategory = ["scheduledChange"]
      }
    }
    "asg-lifecycle-terminate" = merge(
      {
        source      = ["aws.autoscaling"]
        detail-type = ["EC2 Instance-terminate Lifecycle Action"]
      },
      length(var.autoscaling_group_names) > 0 ? { detail = { AutoScalingGroupName = var.autoscaling_group_names } } : {},
    )
    # Alarms that doom a node, narrowed by name so unrelated alarms never drain anything.
    "cloudwatch-alarm" = {
      source      = ["aws.cloudwatch"]
      detail-type = ["CloudWatch Alarm State Change"]
      detail = {
        alarmName = [{ prefix = local.alarm_name_prefix }]
        state     = { value = ["ALARM"] }
      }
    }
  }
}

resource "aws_cloudwatch_event_rule" "this" {
  for_each = { for k, v in local.event_patterns : k => v if local.create && contains(var.event_kinds, k) }

  name          = "${local.name}-${each.key}"
  description   = "spot-rescue: ${each.key} events for ${var.cluster_name}"
  event_pattern = jsonencode(each.value)

  tags = local.tags
}

resource "aws_cloudwatch_event_target" "this" {
  for_each = aws_cloudwatch_event_rule.this

  rule      = each.value.name
  target_id = "spot-rescue-queue"
  arn       = aws_sqs_queue.this[0].arn
}

################################################################################
# SNS: a topic alarms can target, delivered to the queue
################################################################################

resource "aws_sns_topic" "this" {
  count = local.create ? 1 : 0

  name              = "${local.name}-alarms"
  kms_master_key_id = var.queue_kms_key_id

  tags = local.tags
}

resource "aws_sns_topic_subscription" "queue" {
  count = local.create ? 1 : 0

  topic_arn = aws_sns_topic.this[0].arn
  protocol  = "sqs"
  endpoint  = aws_sqs_queue.this[0].arn
  # The listener unwraps the SNS envelope itself and keeps its metadata.
  raw_message_delivery = false
}

################################################################################
# S3 + KMS: checkpoint archives (process memory: treat as secrets)
################################################################################

data "aws_iam_policy_document" "kms" {
  count = local.create && var.create_kms_key ? 1 : 0

  statement {
    sid       = "AccountRoot"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  dynamic "statement" {
    for_each = length(var.kms_key_administrators) > 0 ? [1] : []

    content {
      sid = "KeyAdministration"
      actions = [
        "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*", "kms:Revoke*",
        "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource", "kms:UntagResource",
        "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
      ]
      resources = ["*"]

      principals {
        type        = "AWS"
        identifiers = var.kms_key_administrators
      }
    }
  }
}

resource "aws_kms_key" "this" {
  count = local.create && var.create_kms_key ? 1 : 0

  description             = "spot-rescue checkpoint archives of ${var.cluster_name}"
  deletion_window_in_days = var.kms_key_deletion_window_in_days
  enable_key_rotation     = true
  policy                  = data.aws_iam_policy_document.kms[0].json

  tags = local.tags
}

resource "aws_kms_alias" "this" {
  count = local.create && var.create_kms_key ? 1 : 0

  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.this[0].key_id
}

resource "aws_s3_bucket" "this" {
  count = local.create ? 1 : 0

  bucket        = coalesce(var.s3_bucket_name, "${local.name}-archives-${local.account_id}")
  force_destroy = var.s3_force_destroy

  tags = local.tags
}

resource "aws_s3_bucket_ownership_controls" "this" {
  count = local.create ? 1 : 0

  bucket = aws_s3_bucket.this[0].id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  count = local.create ? 1 : 0

  bucket                  = aws_s3_bucket.this[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  count = local.create ? 1 : 0

  bucket = aws_s3_bucket.this[0].id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = local.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

# Archives are written once and read once; old versions would only keep secrets around.
resource "aws_s3_bucket_versioning" "this" {
  count = local.create ? 1 : 0

  bucket = aws_s3_bucket.this[0].id

  versioning_configuration {
    status = "Disabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  count = local.create ? 1 : 0

  bucket = aws_s3_bucket.this[0].id

  rule {
    id     = "expire-archives"
    status = "Enabled"

    filter {}

    expiration {
      days = var.archive_expiration_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

data "aws_iam_policy_document" "bucket" {
  count = local.create ? 1 : 0

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.this[0].arn, "${aws_s3_bucket.this[0].arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid       = "DenyOtherEncryption"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.this[0].arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "StringNotEqualsIfExists"
      variable = "s3:x-amz-server-side-encryption"
      values   = ["aws:kms"]
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  count = local.create ? 1 : 0

  bucket = aws_s3_bucket.this[0].id
  policy = data.aws_iam_policy_document.bucket[0].json

  depends_on = [aws_s3_bucket_public_access_block.this]
}

################################################################################
# IAM: one role per component, through EKS Pod Identity or IRSA
################################################################################

data "aws_iam_policy_document" "assume" {
  for_each = local.create ? local.service_accounts : {}

  dynamic "statement" {
    for_each = var.enable_pod_identity ? [1] : []

    content {
      sid     = "EksPodIdentity"
      actions = ["sts:AssumeRole", "sts:TagSession"]

      principals {
        type        = "Service"
        identifiers = ["pods.eks.amazonaws.com"]
      }

      condition {
        test     = "StringEquals"
        variable = "aws:SourceAccount"
        values   = [local.account_id]
      }
    }
  }

  dynamic "statement" {
    for_each = var.enable_irsa ? [1] : []

    content {
      sid     = "Irsa"
      actions = ["sts:AssumeRoleWithWebIdentity"]

      principals {
        type        = "Federated"
        identifiers = [var.oidc_provider_arn]
      }

      condition {
        test     = "StringEquals"
        variable = "${replace(var.oidc_provider_arn, "/^(.*provider/)/", "")}:sub"
        values   = ["system:serviceaccount:${var.namespace}:${each.value}"]
      }

      condition {
        test     = "StringEquals"
        variable = "${replace(var.oidc_provider_arn, "/^(.*provider/)/", "")}:aud"
        values   = ["sts.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_role" "this" {
  for_each = local.create ? local.service_accounts : {}

  name                 = "${local.name}-${each.key}"
  path                 = var.iam_role_path
  description          = "spot-rescue ${each.key} of ${var.cluster_name}"
  assume_role_policy   = data.aws_iam_policy_document.assume[each.key].json
  permissions_boundary = var.iam_role_permissions_boundary

  tags = local.tags

  lifecycle {
    precondition {
      condition     = var.enable_pod_identity || var.enable_irsa
      error_message = "Enable at least one of enable_pod_identity and enable_irsa, or no pod could assume the roles."
    }
    precondition {
      condition     = !var.enable_irsa || var.oidc_provider_arn != null
      error_message = "The oidc_provider_arn is required with enable_irsa."
    }
  }
}

# listener: receive, delete and delay messages of its queue; move malformed ones to the DLQ.
data "aws_iam_policy_document" "listener" {
  count = local.create ? 1 : 0

  statement {
    sid       = "ConsumeEvents"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"]
    resources = [aws_sqs_queue.this[0].arn]
  }

  statement {
    sid       = "DeadLetter"
    actions   = ["sqs:SendMessage", "sqs:GetQueueAttributes"]
    resources = [aws_sqs_queue.dlq[0].arn]
  }

  dynamic "statement" {
    for_each = var.queue_kms_key_id == null ? [] : [1]

    content {
      sid       = "QueueKms"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [var.queue_kms_key_id]
    }
  }
}

# worker: launch capacity from the given launch templates, pass only the node role,
# complete lifecycle actions of the given groups, and its archives in S3.
data "aws_iam_policy_document" "worker" {
  count = local.create ? 1 : 0

  statement {
    sid = "Describe"
    actions = [
      "ec2:DescribeInstances", "ec2:DescribeInstanceTypes", "ec2:DescribeInstanceTypeOfferings",
      "ec2:DescribeLaunchTemplates", "ec2:DescribeLaunchTemplateVersions", "ec2:DescribeSubnets",
      "ec2:DescribeSpotPriceHistory", "ec2:DescribeAvailabilityZones", "autoscaling:DescribeAutoScalingGroups",
    ]
    resources = ["*"]
  }

  # Launches only from the given launch templates, in this region, of the given
  # instance types, tagged as this cluster's rescue capacity (the tags
  # TerminateInstances below requires): a leaked worker credential cannot
  # start arbitrary AMIs, types or regions, nor stop instances it did not start.
  dynamic "statement" {
    for_each = var.provisioning_mode == "ec2" ? [1] : []

    content {
      sid       = "LaunchFromTemplates"
      actions   = ["ec2:CreateFleet", "ec2:RunInstances"]
      resources = var.launch_template_arns

      condition {
        test     = "StringEquals"
        variable = "aws:RequestedRegion"
        values   = [local.region]
      }
    }
  }

  dynamic "statement" {
    for_each = var.provisioning_mode == "ec2" ? [1] : []

    content {
      sid       = "LaunchInstances"
      actions   = ["ec2:CreateFleet", "ec2:RunInstances"]
      resources = ["arn:${local.partition}:ec2:${local.region}:${local.account_id}:instance/*"]

      condition {
        test     = "StringEquals"
        variable = "aws:RequestedRegion"
        values   = [local.region]
      }

      condition {
        test     = "ArnLike"
        variable = "ec2:LaunchTemplate"
        values   = var.launch_template_arns
      }

      condition {
        test     = "StringEquals"
        variable = "aws:RequestTag/spot-rescue.io/cluster"
        values   = [var.cluster_name]
      }

      condition {
        test     = "Null"
        variable = "aws:RequestTag/spot-rescue.io/provisioned-for"
        values   = ["false"]
      }

      dynamic "condition" {
        for_each = length(var.launch_instance_types) > 0 ? [1] : []

        content {
          test     = "StringEquals"
          variable = "ec2:InstanceType"
          values   = var.launch_instance_types
        }
      }
    }
  }

  dynamic "statement" {
    for_each = var.provisioning_mode == "ec2" ? [1] : []

    content {
      sid     = "LaunchResources"
      actions = ["ec2:CreateFleet", "ec2:RunInstances"]
      resources = [
        "arn:${local.partition}:ec2:${local.region}:${local.account_id}:fleet/*",
        "arn:${local.partition}:ec2:${local.region}:${local.account_id}:volume/*",
        "arn:${local.partition}:ec2:${local.region}:${local.account_id}:network-interface/*",
        "arn:${local.partition}:ec2:${local.region}:${local.account_id}:subnet/*",
        "arn:${local.partition}:ec2:${local.region}:${local.account_id}:security-group/*",
        "arn:${local.partition}:ec2:${local.region}:${local.account_id}:spot-instances-request/*",
        "arn:${local.partition}:ec2:${local.region}::image/*",
        "arn:${local.partition}:ec2:${local.region}::snapshot/*",
      ]

      condition {
        test     = "StringEquals"
        variable = "aws:RequestedRegion"
        values   = [local.region]
      }
    }
  }

  dynamic "statement" {
    for_each = var.provisioning_mode == "ec2" ? [1] : []

    content {
      sid       = "TerminateLaunched"
      actions   = ["ec2:TerminateInstances"]
      resources = ["arn:${local.partition}:ec2:${local.region}:${local.account_id}:instance/*"]

      condition {
        test     = "StringEquals"
        variable = "aws:ResourceTag/spot-rescue.io/cluster"
        values   = [var.cluster_name]
      }

      condition {
        test     = "Null"
        variable = "aws:ResourceTag/spot-rescue.io/provisioned-for"
        values   = ["false"]
      }
    }
  }

  dynamic "statement" {
    for_each = var.provisioning_mode == "ec2" ? [1] : []

    content {
      sid       = "TagOnLaunch"
      actions   = ["ec2:CreateTags"]
      resources = ["arn:${local.partition}:ec2:${local.region}:${local.account_id}:*/*"]

      condition {
        test     = "StringEquals"
        variable = "ec2:CreateAction"
        values   = ["CreateFleet", "RunInstances"]
      }
    }
  }

  dynamic "statement" {
    for_each = var.provisioning_mode == "ec2" && length(var.node_iam_role_arns) > 0 ? [1] : []

    content {
      sid       = "PassNodeRole"
      actions   = ["iam:PassRole"]
      resources = var.node_iam_role_arns

      condition {
        test     = "StringEquals"
        variable = "iam:PassedToService"
        values   = ["ec2.${local.dns_suffix}"]
      }
    }
  }

  dynamic "statement" {
    for_each = length(var.autoscaling_group_names) > 0 ? [1] : []

    content {
      sid     = "AutoScalingGroups"
      actions = concat(["autoscaling:CompleteLifecycleAction"], var.provisioning_mode == "asg" ? ["autoscaling:SetDesiredCapacity"] : [])
      resources = [
        for asg in var.autoscaling_group_names :
        "arn:${local.partition}:autoscaling:${local.region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/${asg}"
      ]
    }
  }

  statement {
    sid       = "ArchiveObjects"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.this[0].arn}/${local.archive_prefix}*"]
  }

  statement {
    sid       = "ArchiveList"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.this[0].arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.archive_prefix}*"]
    }
  }

  statement {
    sid       = "ArchiveKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [local.kms_key_arn]
  }
}

# agent: stream archives to and from its prefix, encrypted with the archive key.
data "aws_iam_policy_document" "agent" {
  count = local.create ? 1 : 0

  statement {
    sid = "ArchiveObjects"
    # DeleteObject: a failed checkpoint removes its own uploads (archives, manifest) before it answers.
    actions = [
      "s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts", "s3:DeleteObject",
    ]
    resources = ["${aws_s3_bucket.this[0].arn}/${local.archive_prefix}*"]
  }

  statement {
    sid       = "ArchiveKey"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"]
    resources = [local.kms_key_arn]
  }
}

locals {
  role_policies = {
    listener = try(data.aws_iam_policy_document.listener[0].json, null)
    worker   = try(data.aws_iam_policy_document.worker[0].json, null)
    agent    = try(data.aws_iam_policy_document.agent[0].json, null)
  }
}

resource "aws_iam_role_policy" "this" {
  for_each = local.create ? local.service_accounts : {}

  name   = "spot-rescue-${each.key}"
  role   = aws_iam_role.this[each.key].id
  policy = local.role_policies[each.key]
}

resource "aws_eks_pod_identity_association" "this" {
  for_each = local.create && var.enable_pod_identity ? local.service_accounts : {}

  cluster_name    = var.cluster_name
  namespace       = var.namespace
  service_account = each.value
  role_arn        = aws_iam_role.this[each.key].arn

  tags = local.tags
}

################################################################################
# Redis: bring your own, or an ElastiCache replication group that never evicts
################################################################################

resource "aws_elasticache_parameter_group" "this" {
  count = local.create_redis ? 1 : 0

  name        = "${local.name}-noeviction"
  family      = var.redis_parameter_group_family
  description = "spot-rescue: BullMQ needs every key kept"

  # An evicted job key is a lost rescue: Redis must refuse writes instead.
  parameter {
    name  = "maxmemory-policy"
    value = "noeviction"
  }

  tags = local.tags
}

resource "aws_elasticache_subnet_group" "this" {
  count = local.create_redis ? 1 : 0

  name       = local.name
  subnet_ids = var.redis_subnet_ids

  tags = local.tags
}

resource "aws_security_group" "redis" {
  count = local.create_redis ? 1 : 0

  name_prefix = "${local.name}-redis-"
  description = "spot-rescue Redis of ${var.cluster_name}"
  vpc_id      = var.redis_vpc_id

  tags = merge(local.tags, { Name = "${local.name}-redis" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "redis" {
  for_each = local.create_redis ? toset(var.redis_allowed_security_group_ids) : toset([])

  security_group_id            = aws_security_group.redis[0].id
  description                  = "Redis from the cluster"
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
  referenced_security_group_id = each.value
}

# Every pod on the nodes whose security group reaches Redis can open a
# connection; AUTH is what keeps all but the listener and the worker out.
resource "terraform_data" "redis_auth_token" {
  count = local.create_redis && var.redis_auth_token == null ? 1 : 0

  input = "${replace(uuid(), "-", "")}${replace(uuid(), "-", "")}"

  lifecycle {
    ignore_changes = [input]
  }
}

resource "aws_elasticache_replication_group" "this" {
  count = local.create_redis ? 1 : 0

  replication_group_id       = local.name
  description                = "spot-rescue BullMQ queues of ${var.cluster_name}"
  engine                     = var.redis_engine
  engine_version             = var.redis_engine_version
  node_type                  = var.redis_node_type
  num_cache_clusters         = var.redis_num_cache_clusters
  port                       = 6379
  parameter_group_name       = aws_elasticache_parameter_group.this[0].name
  subnet_group_name          = aws_elasticache_subnet_group.this[0].name
  security_group_ids         = [aws_security_group.redis[0].id]
  automatic_failover_enabled = var.redis_num_cache_clusters > 1
  multi_az_enabled           = var.redis_num_cache_clusters > 1
  at_rest_encryption_enabled = true
  kms_key_id                 = local.kms_key_arn
  transit_encryption_enabled = true
  auth_token                 = local.redis_auth_token
  apply_immediately          = true

  tags = local.tags

  lifecycle {
    precondition {
      condition     = length(var.redis_subnet_ids) > 0 && var.redis_vpc_id != null
      error_message = "Creating Redis needs redis_subnet_ids and redis_vpc_id; or pass redis_url to bring your own."
    }
  }
}

################################################################################
# CloudWatch alarms
################################################################################

resource "aws_cloudwatch_metric_alarm" "dlq_depth" {
  count = local.create && var.create_cloudwatch_alarms ? 1 : 0

  alarm_name          = "${local.name}-dlq-not-empty"
  alarm_description   = "Events spot-rescue could not process are in ${aws_sqs_queue.dlq[0].name}"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.dlq[0].name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions

  tags = local.tags
}

resource "aws_cloudwatch_metric_alarm" "oldest_message_age" {
  count = local.create && var.create_cloudwatch_alarms ? 1 : 0

  alarm_name          = "${local.name}-events-waiting"
  alarm_description   = "Interruption events wait in ${aws_sqs_queue.this[0].name}: the listener is down or too slow, and the two-minute budget is running out"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = aws_sqs_queue.this[0].name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.oldest_message_age_threshold_seconds
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions

  tags = local.tags
}

# Reads the worker's embedded-metric-format output (services/common/emf.ts: RescuesFailed by ClusterName).
resource "aws_cloudwatch_metric_alarm" "failed_rescues" {
  count = local.create && var.create_cloudwatch_alarms ? 1 : 0

  alarm_name          = "${local.name}-rescues-failed"
  alarm_description   = "spot-rescue could neither migrate nor evict pods of ${var.cluster_name}"
  namespace           = var.cloudwatch_metrics_namespace
  metric_name         = "RescuesFailed"
  dimensions          = { ClusterName = var.cluster_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.failed_rescues_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions

  tags = local.tags

  lifecycle {
    precondition {
      condition     = !startswith("${local.name}-rescues-failed", local.alarm_name_prefix)
      error_message = "The cloudwatch_alarm_name_prefix matches spot-rescue's own alarms, which would then drain nodes: choose another prefix."
    }
  }
}

################################################################################
# ASG lifecycle hooks: scale-in waits for the rescue
################################################################################

resource "aws_autoscaling_lifecycle_hook" "this" {
  for_each = local.create && var.create_autoscaling_lifecycle_hooks ? toset(var.autoscaling_group_names) : toset([])

  name                   = "${local.name}-terminate"
  autoscaling_group_name = each.value
  lifecycle_transition   = "autoscaling:EC2_INSTANCE_TERMINATING"
  heartbeat_timeout      = var.autoscaling_lifecycle_hook_heartbeat_timeout
  default_result         = "CONTINUE"
}

################################################################################
# Helm release, wired to all of the above
################################################################################

locals {
  helm_values = {
    clusterName = var.cluster_name
    aws         = { region = local.region }
    queueUrl    = try(aws_sqs_queue.this[0].url, "")
    dlqUrl      = try(aws_sqs_queue.dlq[0].url, "")
    s3 = {
      bucket   = try(aws_s3_bucket.this[0].id, "")
      kmsKeyId = local.kms_key_arn
    }
    rebalance                  = { policy = var.rebalance_policy }
    provisioning               = { mode = var.provisioning_mode, ec2 = { instanceTypes = var.launch_instance_types } }
    asgHeartbeatTimeoutSeconds = var.autoscaling_lifecycle_hook_heartbeat_timeout
    # The listener accepts SNS notifications from this module's topic only.
    snsTopicArns = compact([try(aws_sns_topic.this[0].arn, "")])
    metrics = {
      cloudwatchEmf = {
        enabled   = var.enable_cloudwatch_emf
        namespace = var.cloudwatch_metrics_namespace
      }
    }
    image = merge(
      var.image_repository == null ? {} : { repository = var.image_repository },
      var.image_tag == null ? {} : { tag = var.image_tag },
    )
    listener = { serviceAccount = { name = local.service_accounts.listener, irsaRoleArn = var.enable_irsa ? try(aws_iam_role.this["listener"].arn, "") : "" } }
    worker   = { serviceAccount = { name = local.service_accounts.worker, irsaRoleArn = var.enable_irsa ? try(aws_iam_role.this["worker"].arn, "") : "" } }
    agent    = { serviceAccount = { name = local.service_accounts.agent, irsaRoleArn = var.enable_irsa ? try(aws_iam_role.this["agent"].arn, "") : "" } }
  }
}

resource "helm_release" "this" {
  count = local.create && var.create_helm_release ? 1 : 0

  name             = var.helm_release_name
  namespace        = var.namespace
  create_namespace = var.create_namespace
  chart            = coalesce(var.helm_chart, "${path.module}/../charts/spot-rescue")
  repository       = var.helm_chart_repository
  version          = var.helm_chart_version
  wait             = true
  atomic           = true

  values = concat([yamlencode(local.helm_values)], var.helm_values)

  # The Redis URL may carry credentials: passed as a sensitive value, never in the plan's values.
  set_sensitive = [
    {
      name  = "redis.url"
      value = local.redis_url
    },
  ]

  depends_on = [aws_eks_pod_identity_association.this, aws_iam_role_policy.this]
}

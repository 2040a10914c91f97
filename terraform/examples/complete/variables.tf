variable "cluster_name" {
  description = "Name of an existing EKS cluster"
  type        = string
  default     = "example"
}

variable "node_group_names" {
  description = "Managed node groups running Spot capacity"
  type        = list(string)
  default     = ["spot"]
}

variable "launch_template_arns" {
  description = "Launch templates of those node groups"
  type        = list(string)
  default     = []
}

variable "oidc_provider_arn" {
  description = "The cluster's IAM OIDC provider, to also trust IRSA; null for Pod Identity only"
  type        = string
  default     = null
}

variable "alarm_actions" {
  description = "On-call SNS topics for the module's alarms"
  type        = list(string)
  default     = []
}

variable "image_repository" {
  description = "Where the spot-rescue images are pushed"
  type        = string
  default     = null
}

variable "image_tag" {
  description = "Image tag to run"
  type        = string
  default     = null
}

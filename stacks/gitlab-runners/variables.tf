variable "gitlab_url" {
  description = "the GitLab instance the compatibility runner serves"
  type        = string
}

variable "runner_token" {
  description = "the runner authentication token (glrt-…) from GitLab's runner page: TF_VAR_runner_token, never a tfvars file"
  type        = string
  sensitive   = true
}

variable "chart_version" {
  description = "version of the gitlab-runner chart"
  type        = string
  default     = "0.79.0"
}

variable "concurrent" {
  description = "jobs the runner runs at once"
  type        = number
  default     = 4
}

variable "job_image" {
  description = "default image of jobs that name none"
  type        = string
  default     = "alpine:3.21"
}

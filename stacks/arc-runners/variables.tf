variable "github_config_url" {
  description = "GitHub organization (or repository) URL the runner scale sets register with"
  type        = string
}

variable "github_config_secret" {
  description = "name of the GitHub App Secret, created by hand in arc-systems and arc-runners; never a token"
  type        = string
  default     = "github-app-secret"
}

variable "chart_version" {
  description = "version of the gha-runner-scale-set-controller and gha-runner-scale-set charts"
  type        = string
  default     = "0.14.2"
}

variable "runner_image" {
  description = "runner image of every set without its own `image` in scale-sets.json"
  type        = string
}

variable "work_volume_storage_class" {
  description = "storage class of the work volume of kubernetes-mode sets (null: the cluster default)"
  type        = string
  default     = null
}

variable "attic_public_key" {
  description = "the Attic cache's public key (`gf output attic`: cache_public_key); empty until the attic stack ran"
  type        = string
  default     = ""
}

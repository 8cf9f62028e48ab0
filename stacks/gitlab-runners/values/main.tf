# Values of the gitlab-runners stack (the GitLab compatibility lane), computed without a
# provider: the gitlab-runner chart's values. The runner token is never part of them: the chart
# reads it from the Secret the stack creates (`runners.secret`). Tested with `terraform test`.

variable "gitlab_url" {
  description = "the GitLab instance the runner authenticates with"
  type        = string
  validation {
    condition     = can(regex("^https://[^/]+/?$", var.gitlab_url))
    error_message = "gitlab_url is the https:// base URL of the GitLab instance"
  }
}

variable "namespace" {
  type = string
}

variable "token_secret" {
  description = "name of the Secret holding `runner-token`"
  type        = string
}

variable "concurrent" {
  description = "jobs this runner runs at once"
  type        = number
  validation {
    condition     = var.concurrent >= 1
    error_message = "concurrent must be at least 1"
  }
}

variable "job_image" {
  description = "default image of jobs that name none"
  type        = string
}

module "placement" {
  source = "../../modules/placement"
}

module "cache_plane" {
  source = "../../modules/cache-plane"
}

locals {
  job_env = {
    ATTIC_SERVER       = module.cache_plane.attic.endpoint
    ATTIC_CACHE        = module.cache_plane.attic.cache
    NIX_CONFIG         = "extra-substituters = ${module.cache_plane.attic.endpoint}/${module.cache_plane.attic.cache}"
    BAZEL_REMOTE_CACHE = module.cache_plane.bazel.endpoint
  }

  # config.toml template of the runner: the Kubernetes executor, jobs in this namespace on the
  # stateless node, the cache plane's addresses in every job.
  config_toml = join("\n", [
    "[[runners]]",
    "  executor = \"kubernetes\"",
    "  environment = [${join(", ", [for k in sort(keys(local.job_env)) : jsonencode("${k}=${local.job_env[k]}")])}]",
    "  [runners.kubernetes]",
    "    namespace = \"${var.namespace}\"",
    "    image = \"${var.job_image}\"",
    "    [runners.kubernetes.node_selector]",
    "      \"kubernetes.io/hostname\" = \"${module.placement.stateless_node}\"",
    "",
  ])
}

output "values" {
  description = "the gitlab-runner chart's values"
  value = {
    gitlabUrl    = var.gitlab_url
    concurrent   = var.concurrent
    rbac         = { create = true }
    nodeSelector = module.placement.stateless
    runners = {
      secret = var.token_secret
      config = local.config_toml
    }
  }
}

output "job_env" {
  description = "the environment every job gets"
  value       = local.job_env
}

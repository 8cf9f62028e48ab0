# Values of the arc-runners stack, computed without a provider: the controller release and one
# gha-runner-scale-set release per entry of scale-sets.json (runnerScaleSetName = the runner
# label). Tested with `terraform test` / `tofu test` (values.tftest.hcl).

variable "scale_sets" {
  description = "the entries of stacks/arc-runners/scale-sets.json"
  type = list(object({
    name           = string
    role           = string
    purpose        = string
    container_mode = string
    min_runners    = number
    max_runners    = number
    cpu            = string
    memory         = string
    image          = optional(string)
  }))

  validation {
    condition     = alltrue([for s in var.scale_sets : length(s.name) <= 45 && can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", s.name))])
    error_message = "scale set names are runner labels and release names: lowercase DNS labels of at most 45 characters (gha-runner-scale-set's runnerScaleSetName limit)"
  }
  validation {
    condition     = length(distinct([for s in var.scale_sets : s.name])) == length(var.scale_sets)
    error_message = "scale set names must be unique"
  }
  validation {
    condition     = alltrue([for s in var.scale_sets : contains(["shared", "lane"], s.role)])
    error_message = "a scale set's role is `shared` (drained before the ARC apply) or `lane` (the heavy Nix lane)"
  }
  validation {
    condition     = alltrue([for s in var.scale_sets : contains(["none", "dind", "kubernetes"], s.container_mode)])
    error_message = "container_mode is `none`, `dind` or `kubernetes`"
  }
  validation {
    condition     = alltrue([for s in var.scale_sets : s.min_runners >= 0 && s.max_runners >= s.min_runners && floor(s.min_runners) == s.min_runners && floor(s.max_runners) == s.max_runners])
    error_message = "every scale set needs whole numbers 0 <= min_runners <= max_runners (max < min makes the listener config invalid)"
  }
  validation {
    condition     = length([for s in var.scale_sets : s if s.role == "lane"]) >= 1 && length([for s in var.scale_sets : s if s.role == "shared"]) >= 1
    error_message = "at least one `lane` set (the heavy Nix lane) and one `shared` set are required"
  }
}

variable "github_config_url" {
  description = "the GitHub organization or repository the runners register with"
  type        = string
  validation {
    condition     = can(regex("^https://[^/]+/[^/]+", var.github_config_url))
    error_message = "github_config_url is https://github.com/<org>[/<repo>]"
  }
}

variable "github_config_secret" {
  description = "name of the existing Secret holding the GitHub App credentials (in both namespaces)"
  type        = string
}

variable "controller_namespace" {
  type = string
}

variable "runner_namespace" {
  type = string
}

variable "controller_release" {
  type = string
}

variable "runner_image" {
  type = string
}

variable "work_volume_storage_class" {
  description = "storage class of the work volume in kubernetes container mode (null: the cluster default)"
  type        = string
  default     = null
}

variable "attic" {
  description = "the Attic service (the cache-plane module's `attic` output)"
  type        = object({ endpoint = string, cache = string })
}

variable "bazel_endpoint" {
  type = string
}

variable "attic_public_key" {
  description = "the cache's public key (the attic stack's `cache_public_key` output); empty until known"
  type        = string
  default     = ""
}

locals {
  by_name = { for s in var.scale_sets : s.name => s }

  nix_config = join("\n", compact([
    "extra-substituters = ${var.attic.endpoint}/${var.attic.cache}",
    var.attic_public_key == "" ? "" : "extra-trusted-public-keys = ${var.attic_public_key}",
  ]))

  # Every runner reaches the cache plane the same way.
  cache_env = [
    { name = "ATTIC_SERVER", value = var.attic.endpoint },
    { name = "ATTIC_CACHE", value = var.attic.cache },
    { name = "NIX_CONFIG", value = local.nix_config },
    { name = "BAZEL_REMOTE_CACHE", value = var.bazel_endpoint },
  ]

  container_modes = {
    none = null
    dind = { type = "dind" }
    kubernetes = {
      type = "kubernetes"
      kubernetesModeWorkVolumeClaim = merge(
        { accessModes = ["ReadWriteOnce"], resources = { requests = { storage = "10Gi" } } },
        var.work_volume_storage_class == null ? {} : { storageClassName = var.work_volume_storage_class },
      )
    }
  }

  runner_values = {
    for name, s in local.by_name : name => merge(
      {
        githubConfigUrl    = var.github_config_url
        githubConfigSecret = var.github_config_secret
        runnerScaleSetName = name
        minRunners         = s.min_runners
        maxRunners         = s.max_runners
        controllerServiceAccount = {
          namespace = var.controller_namespace
          name      = "${var.controller_release}-gha-rs-controller"
        }
        template = {
          metadata = {
            labels = {
              "app.kubernetes.io/part-of"   = "gloriousflywheel"
              "app.kubernetes.io/component" = "runner"
              "flywheel.dev/runner-role"    = s.role
            }
          }
          spec = {
            containers = [{
              name    = "runner"
              image   = coalesce(s.image, var.runner_image)
              command = ["/home/runner/run.sh"]
              env     = local.cache_env
              resources = {
                requests = { cpu = s.cpu, memory = s.memory }
                limits   = { memory = s.memory }
              }
            }]
          }
        }
      },
      local.container_modes[s.container_mode] == null ? {} : { containerMode = local.container_modes[s.container_mode] },
    )
  }
}

output "shared_names" {
  description = "the sets the heavy Nix lane drains (stack.json `lane.drain.scale_sets`)"
  value       = [for s in var.scale_sets : s.name if s.role == "shared"]
}

output "lane_names" {
  description = "the heavy Nix lane's own sets (never drained)"
  value       = [for s in var.scale_sets : s.name if s.role == "lane"]
}

output "controller" {
  description = "the gha-runner-scale-set-controller release"
  value = {
    name      = var.controller_release
    namespace = var.controller_namespace
    values = {
      # One controller for every set; its service account is what the sets point at.
      replicaCount = 1
      flags        = { logLevel = "info", logFormat = "json" }
    }
  }
}

output "runner_sets" {
  description = "set name => { namespace, values } of its gha-runner-scale-set release"
  value       = { for name, v in local.runner_values : name => { namespace = var.runner_namespace, values = v } }
}

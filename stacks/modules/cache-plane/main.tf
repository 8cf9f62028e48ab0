# Addresses of the cache plane in `nix-cache`, shared by the stacks that create the services
# (attic) and those that use them (arc-runners, gitlab-runners, runner-dashboard). The Attic
# service is the one stacks/contract.json names in `attic.endpoint`: the attic stack creates
# exactly that Service (name, namespace, port), so gf's cache gate and the runners reach the
# same server. Provider-free.

variable "attic_endpoint" {
  description = "the Attic endpoint; null reads `attic.endpoint` of stacks/contract.json"
  type        = string
  default     = null
}

locals {
  contract = jsondecode(file("${path.module}/../../contract.json"))
  endpoint = coalesce(var.attic_endpoint, try(local.contract.attic.endpoint, null), "http://attic.nix-cache.svc:8080")
  # http://<service>.<namespace>.svc[.cluster.local]:<port>[/]
  parts     = regexall("^http://([a-z0-9-]+)\\.([a-z0-9-]+)\\.svc(?:\\.cluster\\.local)?:([0-9]+)/?$", local.endpoint)
  namespace = length(local.parts) == 1 ? local.parts[0][1] : "nix-cache"
  cache     = coalesce(try(local.contract.attic.cache, null), "main")
}

output "attic" {
  description = "the Attic API service: name, namespace, port, endpoint, cache"
  value = {
    name      = local.parts[0][0]
    namespace = local.parts[0][1]
    port      = tonumber(local.parts[0][2])
    endpoint  = "http://${local.parts[0][0]}.${local.parts[0][1]}.svc:${local.parts[0][2]}"
    cache     = local.cache
  }
  precondition {
    condition     = length(local.parts) == 1
    error_message = "attic.endpoint `${local.endpoint}` must be an in-cluster service address http://<service>.<namespace>.svc:<port>"
  }
}

output "namespace" {
  description = "the cache plane's namespace"
  value       = local.namespace
}

output "bazel" {
  description = "the Bazel remote cache (bazel-remote): gRPC and HTTP"
  value = {
    name      = "bazel-cache"
    namespace = local.namespace
    grpc_port = 9092
    http_port = 8080
    endpoint  = "grpc://bazel-cache.${local.namespace}.svc:9092"
  }
}

output "rustfs" {
  description = "RustFS, the S3-compatible store behind Attic"
  value = {
    name         = "rustfs"
    namespace    = local.namespace
    port         = 9000
    console_port = 9001
    endpoint     = "http://rustfs.${local.namespace}.svc:9000"
  }
}

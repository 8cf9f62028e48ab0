output "namespace" {
  description = "the cache plane's namespace"
  value       = local.ns
  precondition {
    condition     = contains(local.manifest.namespaces, local.ns)
    error_message = "the contract's attic.endpoint names namespace `${local.ns}`, which is not a namespace of the attic stack (stacks/attic/stack.json)"
  }
}

output "manifests" {
  description = "key => Kubernetes object of everything but the Secrets and the bootstrap Job"
  value       = local.manifests
}

output "bootstrap_job" {
  description = "the Job that creates the cache and records its public key"
  value       = local.bootstrap_job
}

output "secret_names" {
  description = "the Secrets the stack creates (token-signing, RustFS credentials) and the one CloudNativePG writes"
  value       = local.secret_names
}

output "key_config_map" {
  description = "the ConfigMap the bootstrap Job writes the cache's public key to"
  value       = local.key_config_map
}

output "endpoints" {
  description = "in-cluster addresses of the cache plane"
  value = {
    attic  = local.attic.endpoint
    cache  = local.attic.cache
    bazel  = local.bazel.endpoint
    rustfs = local.rustfs.endpoint
  }
}

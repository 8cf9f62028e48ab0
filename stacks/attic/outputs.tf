output "cache_endpoint" {
  description = "the Attic endpoint (stacks/contract.json attic.endpoint) and cache"
  value       = "${module.values.endpoints.attic}/${module.values.endpoints.cache}"
}

output "cache_public_key" {
  description = "the cache's public key (name:base64), for GF_ATTIC_TRUSTED_KEYS and `attic.trusted_keys`"
  value       = data.kubernetes_config_map_v1.cache_key.data["public_key"]
}

output "bazel_cache_endpoint" {
  description = "the Bazel remote cache (gRPC)"
  value       = module.values.endpoints.bazel
}

output "rustfs_endpoint" {
  description = "RustFS's S3 API inside the cluster"
  value       = module.values.endpoints.rustfs
}

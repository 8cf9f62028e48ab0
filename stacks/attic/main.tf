# The cache plane on honey, in nix-cache: atticd, RustFS (its S3 store), bazel-remote, and
# PostgreSQL through CloudNativePG where cnpg-system is present. Every object but the Secrets is
# computed by ./values without a provider (tested with `terraform test`); this file applies them.

module "values" {
  source = "./values"

  cnpg_enabled       = var.cnpg_enabled
  images             = var.images
  storage_class      = var.storage_class
  sizes              = var.sizes
  bazel_max_size_gib = var.bazel_max_size_gib
}

resource "kubernetes_namespace_v1" "cache_plane" {
  metadata {
    name = module.values.namespace
    labels = {
      "app.kubernetes.io/part-of"    = "gloriousflywheel"
      "app.kubernetes.io/managed-by" = "opentofu"
    }
  }
}

# atticd signs its JWTs with this (HS256); generated once, kept in state and in the Secret.
resource "random_bytes" "token_signing" {
  length = 64
}

resource "random_password" "rustfs_access_key" {
  length  = 20
  special = false
}

resource "random_password" "rustfs_secret_key" {
  length  = 40
  special = false
}

resource "kubernetes_secret_v1" "token_signing" {
  metadata {
    name      = module.values.secret_names.token_signing
    namespace = kubernetes_namespace_v1.cache_plane.metadata[0].name
  }
  data = {
    token = random_bytes.token_signing.base64
  }
}

resource "kubernetes_secret_v1" "rustfs" {
  metadata {
    name      = module.values.secret_names.rustfs
    namespace = kubernetes_namespace_v1.cache_plane.metadata[0].name
  }
  data = {
    access_key = random_password.rustfs_access_key.result
    secret_key = random_password.rustfs_secret_key.result
  }
}

resource "kubernetes_manifest" "cache_plane" {
  for_each = module.values.manifests

  manifest = each.value

  # The bootstrap Job writes the public key; later applies keep it.
  computed_fields = concat(["metadata.labels", "metadata.annotations"], each.key == "configmap/${module.values.key_config_map}" ? ["data"] : [])

  depends_on = [kubernetes_secret_v1.token_signing, kubernetes_secret_v1.rustfs]
}

resource "kubernetes_manifest" "create_cache" {
  manifest = module.values.bootstrap_job

  wait {
    condition {
      type   = "Complete"
      status = "True"
    }
  }
  timeouts {
    create = "15m"
    update = "15m"
  }

  depends_on = [kubernetes_manifest.cache_plane]
}

# Read after the Job completed, so the first apply already outputs the key.
data "kubernetes_config_map_v1" "cache_key" {
  metadata {
    name      = module.values.key_config_map
    namespace = module.values.namespace
  }
  depends_on = [kubernetes_manifest.create_cache]
}

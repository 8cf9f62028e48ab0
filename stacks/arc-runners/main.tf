# ARC on honey: the gha-runner-scale-set-controller in arc-systems and one gha-runner-scale-set
# release per entry of scale-sets.json in arc-runners. Everything computable without a
# provider lives in ./values (tested with `terraform test`); the resources below only apply it.

locals {
  chart_repository = "oci://ghcr.io/actions/actions-runner-controller-charts"
  # The scale sets are data, read by tofu here and by gf (`gf check`, the heavy Nix lane).
  scale_sets = jsondecode(file("${path.module}/scale-sets.json"))
  manifest   = jsondecode(file("${path.module}/stack.json"))
}

module "cache_plane" {
  source = "../modules/cache-plane"
}

module "values" {
  source = "./values"

  scale_sets                = local.scale_sets
  github_config_url         = var.github_config_url
  github_config_secret      = var.github_config_secret
  controller_namespace      = "arc-systems"
  runner_namespace          = local.manifest.lane.drain.namespace
  controller_release        = "arc"
  runner_image              = var.runner_image
  work_volume_storage_class = var.work_volume_storage_class
  attic                     = module.cache_plane.attic
  bazel_endpoint            = module.cache_plane.bazel.endpoint
  attic_public_key          = var.attic_public_key
}

resource "kubernetes_namespace_v1" "this" {
  for_each = toset(local.manifest.namespaces)

  metadata {
    name = each.key
    labels = {
      "app.kubernetes.io/part-of"    = "gloriousflywheel"
      "app.kubernetes.io/managed-by" = "opentofu"
    }
  }
}

resource "helm_release" "controller" {
  name       = module.values.controller.name
  namespace  = kubernetes_namespace_v1.this[module.values.controller.namespace].metadata[0].name
  repository = local.chart_repository
  chart      = "gha-runner-scale-set-controller"
  version    = var.chart_version
  values     = [yamlencode(module.values.controller.values)]
}

resource "helm_release" "runner_set" {
  for_each = module.values.runner_sets

  name       = each.key
  namespace  = kubernetes_namespace_v1.this[each.value.namespace].metadata[0].name
  repository = local.chart_repository
  chart      = "gha-runner-scale-set"
  version    = var.chart_version
  values     = [yamlencode(each.value.values)]

  depends_on = [helm_release.controller]
}

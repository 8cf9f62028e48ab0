# The operator dashboard on honey, in runner-dashboard: a Deployment, a ClusterIP Service and
# read-only RBAC, reachable only on the tailnet by default. Everything is computed by ./values
# (tested with `terraform test`); this file applies it.

locals {
  namespace = one(jsondecode(file("${path.module}/stack.json")).namespaces)
}

module "values" {
  source = "./values"

  namespace          = local.namespace
  image              = var.image
  port               = var.port
  replicas           = var.replicas
  exposure           = var.exposure
  tailnet_hostname   = var.tailnet_hostname
  watched_namespaces = ["arc-runners", "gitlab-runners"]
}

resource "kubernetes_namespace_v1" "this" {
  metadata {
    name = local.namespace
    labels = {
      "app.kubernetes.io/part-of"    = "gloriousflywheel"
      "app.kubernetes.io/managed-by" = "opentofu"
    }
  }
}

resource "kubernetes_manifest" "dashboard" {
  for_each = module.values.manifests

  manifest = each.value

  depends_on = [kubernetes_namespace_v1.this]
}

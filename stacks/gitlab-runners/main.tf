# GitLab compatibility runners on honey, in gitlab-runners: the gitlab-runner chart with the
# Kubernetes executor. Its values come from ./values (tested with `terraform test`); the token
# reaches the cluster only through the Secret below.

locals {
  namespace    = one(jsondecode(file("${path.module}/stack.json")).namespaces)
  token_secret = "gitlab-runner-token"
}

module "values" {
  source = "./values"

  gitlab_url   = var.gitlab_url
  namespace    = local.namespace
  token_secret = local.token_secret
  concurrent   = var.concurrent
  job_image    = var.job_image
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

resource "kubernetes_secret_v1" "runner_token" {
  metadata {
    name      = local.token_secret
    namespace = kubernetes_namespace_v1.this.metadata[0].name
  }
  data = {
    # The chart reads both keys; registration tokens are deprecated, so that one stays empty.
    "runner-registration-token" = ""
    "runner-token"              = var.runner_token
  }
}

resource "helm_release" "gitlab_runner" {
  name       = "gitlab-runner"
  namespace  = kubernetes_namespace_v1.this.metadata[0].name
  repository = "https://charts.gitlab.io"
  chart      = "gitlab-runner"
  version    = var.chart_version
  values     = [yamlencode(module.values.values)]

  depends_on = [kubernetes_secret_v1.runner_token]
}

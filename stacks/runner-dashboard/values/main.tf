# Values of the runner-dashboard stack, computed without a provider: the operator dashboard's
# Deployment, its ClusterIP Service, read-only RBAC, and its exposure. The dashboard is reachable
# only on the tailnet by default (the Tailscale operator exposes the ClusterIP Service); it is
# never a public Service. Tested with `terraform test`.

variable "namespace" {
  type = string
}

variable "image" {
  type = string
}

variable "port" {
  description = "the port the dashboard's container listens on"
  type        = number
}

variable "replicas" {
  type = number
}

variable "exposure" {
  description = "`tailnet` (Tailscale operator exposes the Service on the tailnet) or `cluster` (in-cluster only)"
  type        = string
  validation {
    condition     = contains(["tailnet", "cluster"], var.exposure)
    error_message = "exposure is `tailnet` or `cluster`: the dashboard is never public"
  }
}

variable "tailnet_hostname" {
  description = "the dashboard's name on the tailnet"
  type        = string
}

variable "watched_namespaces" {
  description = "namespaces whose runners the dashboard shows"
  type        = list(string)
}

module "placement" {
  source = "../../modules/placement"
}

module "cache_plane" {
  source = "../../modules/cache-plane"
}

locals {
  name   = "runner-dashboard"
  labels = { "app.kubernetes.io/name" = local.name, "app.kubernetes.io/part-of" = "gloriousflywheel", "app.kubernetes.io/managed-by" = "opentofu" }
  tailnet_annotations = var.exposure == "tailnet" ? {
    "tailscale.com/expose"   = "true"
    "tailscale.com/hostname" = var.tailnet_hostname
  } : {}

  manifests = {
    "serviceaccount/runner-dashboard" = {
      apiVersion = "v1"
      kind       = "ServiceAccount"
      metadata   = { name = local.name, namespace = var.namespace, labels = local.labels }
    }

    # Read-only: the dashboard shows runners, it never changes them.
    "clusterrole/runner-dashboard" = {
      apiVersion = "rbac.authorization.k8s.io/v1"
      kind       = "ClusterRole"
      metadata   = { name = local.name, labels = local.labels }
      rules = [
        { apiGroups = ["actions.github.com"], resources = ["autoscalingrunnersets", "ephemeralrunners"], verbs = ["get", "list", "watch"] },
        { apiGroups = [""], resources = ["pods"], verbs = ["get", "list", "watch"] },
      ]
    }

    "clusterrolebinding/runner-dashboard" = {
      apiVersion = "rbac.authorization.k8s.io/v1"
      kind       = "ClusterRoleBinding"
      metadata   = { name = local.name, labels = local.labels }
      roleRef    = { apiGroup = "rbac.authorization.k8s.io", kind = "ClusterRole", name = local.name }
      subjects   = [{ kind = "ServiceAccount", name = local.name, namespace = var.namespace }]
    }

    "deployment/runner-dashboard" = {
      apiVersion = "apps/v1"
      kind       = "Deployment"
      metadata   = { name = local.name, namespace = var.namespace, labels = local.labels }
      spec = {
        replicas = var.replicas
        selector = { matchLabels = local.labels }
        template = {
          metadata = { labels = local.labels }
          spec = {
            serviceAccountName = local.name
            nodeSelector       = module.placement.stateless
            containers = [{
              name  = "dashboard"
              image = var.image
              ports = [{ name = "http", containerPort = var.port }]
              env = [
                { name = "PORT", value = tostring(var.port) },
                { name = "WATCH_NAMESPACES", value = join(",", var.watched_namespaces) },
                { name = "ATTIC_SERVER", value = module.cache_plane.attic.endpoint },
              ]
              readinessProbe = { tcpSocket = { port = "http" } }
              securityContext = {
                runAsNonRoot             = true
                allowPrivilegeEscalation = false
                readOnlyRootFilesystem   = true
              }
            }]
          }
        }
      }
    }

    "service/runner-dashboard" = {
      apiVersion = "v1"
      kind       = "Service"
      metadata   = { name = local.name, namespace = var.namespace, labels = local.labels, annotations = local.tailnet_annotations }
      spec = {
        type     = "ClusterIP"
        selector = local.labels
        ports    = [{ name = "http", port = 80, targetPort = "http" }]
      }
    }
  }
}

output "manifests" {
  description = "key => Kubernetes object of the dashboard"
  value       = local.manifests
}

output "service" {
  description = "the in-cluster address and, with tailnet exposure, the tailnet name"
  value = {
    cluster = "http://${local.name}.${var.namespace}.svc"
    tailnet = var.exposure == "tailnet" ? var.tailnet_hostname : null
  }
}

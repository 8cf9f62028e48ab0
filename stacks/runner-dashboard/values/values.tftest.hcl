variables {
  namespace          = "runner-dashboard"
  image              = "ghcr.io/tinyland-inc/runner-dashboard:latest"
  port               = 8080
  replicas           = 1
  tailnet_hostname   = "runner-dashboard"
  watched_namespaces = ["arc-runners", "gitlab-runners"]
}

run "tailnet_only_by_default" {
  command = plan
  variables {
    exposure = "tailnet"
  }

  assert {
    condition     = output.manifests["service/runner-dashboard"].spec.type == "ClusterIP"
    error_message = "the dashboard's Service is ClusterIP: never a public LoadBalancer or NodePort"
  }
  assert {
    condition     = output.manifests["service/runner-dashboard"].metadata.annotations["tailscale.com/expose"] == "true"
    error_message = "by default the Tailscale operator exposes the dashboard on the tailnet"
  }
  assert {
    condition     = length([for k, m in output.manifests : k if contains(["Ingress", "Route"], m.kind) || try(m.spec.type, "ClusterIP") != "ClusterIP"]) == 0
    error_message = "no Ingress and no public Service"
  }
  assert {
    condition     = output.manifests["deployment/runner-dashboard"].spec.template.spec.nodeSelector == { "kubernetes.io/hostname" = "sting" }
    error_message = "the dashboard is stateless: sting"
  }
  assert {
    condition     = alltrue(flatten([for r in output.manifests["clusterrole/runner-dashboard"].rules : [for v in r.verbs : contains(["get", "list", "watch"], v)]]))
    error_message = "the dashboard only reads the cluster"
  }
}

run "cluster_only" {
  command = plan
  variables {
    exposure = "cluster"
  }
  assert {
    condition     = length(output.manifests["service/runner-dashboard"].metadata.annotations) == 0 && output.service.tailnet == null
    error_message = "`cluster` exposure leaves the dashboard in-cluster only"
  }
}

run "public_exposure_is_refused" {
  command = plan
  variables {
    exposure = "public"
  }
  expect_failures = [var.exposure]
}

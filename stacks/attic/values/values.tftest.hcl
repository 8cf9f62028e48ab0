# Invariants of the cache plane, with SQLite (no CloudNativePG) and with PostgreSQL.

variables {
  images = {
    atticd       = "ghcr.io/zhaofengli/attic:latest"
    rustfs       = "rustfs/rustfs:latest"
    bazel_remote = "buchgr/bazel-remote-cache:v2.4.4"
    curl         = "curlimages/curl:8.11.1"
    aws_cli      = "amazon/aws-cli:2.22.0"
  }
  sizes              = { rustfs = "100Gi", bazel = "50Gi", sqlite = "5Gi", postgres = "10Gi" }
  bazel_max_size_gib = 40
}

run "sqlite" {
  command = plan
  variables {
    cnpg_enabled = false
  }

  assert {
    condition     = output.manifests["service/attic"].metadata.name == "attic" && output.manifests["service/attic"].metadata.namespace == "nix-cache" && output.manifests["service/attic"].spec.ports[0].port == 8080
    error_message = "the Attic Service is the contract's attic.endpoint: attic.nix-cache.svc:8080"
  }
  assert {
    condition     = "http://${output.manifests["service/attic"].metadata.name}.${output.manifests["service/attic"].metadata.namespace}.svc:${output.manifests["service/attic"].spec.ports[0].port}" == jsondecode(file("../../contract.json")).attic.endpoint
    error_message = "the contract's attic.endpoint must be the Service this stack creates"
  }
  assert {
    condition     = alltrue([for k, m in output.manifests : m.spec.type == "ClusterIP" if m.kind == "Service"])
    error_message = "no public Service: every Service of the cache plane is ClusterIP"
  }
  assert {
    condition     = length([for k, m in output.manifests : k if contains(["Ingress", "Route"], m.kind)]) == 0
    error_message = "the cache plane has no ingress"
  }
  assert {
    condition     = alltrue([for k in ["statefulset/rustfs", "statefulset/bazel-cache", "deployment/attic"] : output.manifests[k].spec.template.spec.nodeSelector == { "kubernetes.io/hostname" = "bumble" }])
    error_message = "stateful workloads (RustFS, bazel-remote, atticd with its SQLite volume) run on bumble"
  }
  assert {
    condition     = output.manifests["deployment/attic"].spec.replicas == 1 && output.manifests["deployment/attic"].spec.strategy.type == "Recreate"
    error_message = "with SQLite there is exactly one atticd, replaced (never two on one volume)"
  }
  assert {
    condition     = strcontains(output.manifests["configmap/attic-config"].data["server.toml"], "url = \"sqlite:///var/lib/attic/server.db?mode=rwc\"") && contains(keys(output.manifests), "pvc/attic-data")
    error_message = "without CloudNativePG atticd uses SQLite on its own volume"
  }
  assert {
    condition     = !contains(keys(output.manifests), "cluster/attic-db") && !contains(keys(output.manifests), "deployment/attic-gc")
    error_message = "no CloudNativePG Cluster when cnpg-system is absent"
  }
  assert {
    condition     = strcontains(output.manifests["configmap/attic-config"].data["server.toml"], "endpoint = \"http://rustfs.nix-cache.svc:9000\"") && strcontains(output.manifests["configmap/attic-config"].data["server.toml"], "listen = \"[::]:8080\"")
    error_message = "atticd stores in RustFS over its nix-cache address and listens on the Service's port"
  }
  assert {
    condition     = !strcontains(jsonencode(output.manifests), "secret_key\":\"") && length([for k, m in output.manifests : k if m.kind == "Secret"]) == 0
    error_message = "no secret value in the values: Secrets are the stack's, from `random`"
  }
  assert {
    condition     = contains([for e in output.manifests["deployment/attic"].spec.template.spec.containers[0].env : e.name], "ATTIC_SERVER_TOKEN_HS256_SECRET_BASE64")
    error_message = "atticd reads its token-signing secret from the Secret"
  }
  assert {
    condition     = strcontains(output.bootstrap_job.spec.template.spec.containers[0].command[2], "/_api/v1/cache-config/main") && startswith(output.bootstrap_job.metadata.name, "attic-create-cache-main-")
    error_message = "the bootstrap Job creates the cache `main`"
  }
  assert {
    condition     = output.bootstrap_job.spec.template.spec.nodeSelector == { "kubernetes.io/hostname" = "sting" }
    error_message = "the bootstrap Job is stateless: sting"
  }
  assert {
    condition     = output.manifests["role/attic-bootstrap"].rules[0].resourceNames == ["attic-cache-main"] && output.manifests["role/attic-bootstrap"].rules[0].verbs == ["get", "patch"]
    error_message = "the bootstrap Job may only patch the public-key ConfigMap"
  }
  assert {
    condition     = output.endpoints.bazel == "grpc://bazel-cache.nix-cache.svc:9092"
    error_message = "the Bazel cache endpoint is the one the runners get"
  }
}

run "postgres" {
  command = plan
  variables {
    cnpg_enabled = true
  }

  assert {
    condition     = output.manifests["cluster/attic-db"].apiVersion == "postgresql.cnpg.io/v1" && output.manifests["cluster/attic-db"].spec.affinity.nodeSelector == { "kubernetes.io/hostname" = "bumble" }
    error_message = "PostgreSQL is a CloudNativePG Cluster on bumble"
  }
  assert {
    condition     = output.manifests["deployment/attic"].spec.template.spec.nodeSelector == { "kubernetes.io/hostname" = "sting" } && output.manifests["deployment/attic-gc"].spec.template.spec.nodeSelector == { "kubernetes.io/hostname" = "sting" }
    error_message = "with PostgreSQL the atticd API and GC are stateless: sting"
  }
  assert {
    condition     = output.manifests["deployment/attic"].spec.replicas == 2 && !contains(keys(output.manifests), "pvc/attic-data")
    error_message = "stateless atticd runs replicated, without a volume"
  }
  assert {
    condition     = contains([for e in output.manifests["deployment/attic"].spec.template.spec.containers[0].env : e.name], "ATTIC_SERVER_DATABASE_URL") && !strcontains(output.manifests["configmap/attic-config"].data["server.toml"], "sqlite")
    error_message = "the database URL comes from CloudNativePG's secret, not SQLite"
  }
  assert {
    condition     = alltrue([for k in ["statefulset/rustfs", "statefulset/bazel-cache"] : output.manifests[k].spec.template.spec.nodeSelector == { "kubernetes.io/hostname" = "bumble" }])
    error_message = "RustFS and bazel-remote stay on bumble"
  }
}

# Values of the attic stack, computed without a provider: every Kubernetes object of the cache
# plane in nix-cache (atticd, RustFS, bazel-remote, PostgreSQL through CloudNativePG) except the
# Secrets, whose values come from `random` in the stack. Tested with `terraform test`.

module "placement" {
  source = "../../modules/placement"
}

module "cache_plane" {
  source = "../../modules/cache-plane"
}

locals {
  ns     = module.cache_plane.namespace
  attic  = module.cache_plane.attic
  bazel  = module.cache_plane.bazel
  rustfs = module.cache_plane.rustfs

  stateful  = module.placement.stateful
  stateless = module.placement.stateless

  # The attic stack's own manifest: the Service must land in one of its namespaces.
  manifest = jsondecode(file("${path.module}/../stack.json"))

  secret_names = {
    token_signing = "attic-token-signing"
    rustfs        = "rustfs-credentials"
    database      = "attic-db-app" # written by CloudNativePG for Cluster `attic-db`
  }
  key_config_map = "attic-cache-${local.attic.cache}"

  labels = { for c in ["attic", "attic-gc", "rustfs", "bazel-cache", "attic-db", "attic-bootstrap"] : c => {
    "app.kubernetes.io/name"       = c
    "app.kubernetes.io/part-of"    = "gloriousflywheel-cache-plane"
    "app.kubernetes.io/managed-by" = "opentofu"
  } }

  storage_class = var.storage_class == null ? {} : { storageClassName = var.storage_class }

  server_toml = join("\n", concat(
    [
      "listen = \"[::]:${local.attic.port}\"",
      "api-endpoint = \"${local.attic.endpoint}/\"",
      "",
      "[database]",
    ],
    # With PostgreSQL the URL comes from CloudNativePG's secret (ATTIC_SERVER_DATABASE_URL).
    var.cnpg_enabled ? [] : ["url = \"sqlite:///var/lib/attic/server.db?mode=rwc\""],
    [
      "",
      "[storage]",
      "type = \"s3\"",
      "region = \"us-east-1\"",
      "bucket = \"${var.bucket}\"",
      "endpoint = \"${local.rustfs.endpoint}\"",
      "",
      "[chunking]",
      "nar-size-threshold = 65536",
      "min-size = 16384",
      "avg-size = 65536",
      "max-size = 262144",
      "",
      "[compression]",
      "type = \"zstd\"",
      "",
      "[garbage-collection]",
      "interval = \"12 hours\"",
      "",
    ],
  ))

  secret_env = {
    token  = { name = "ATTIC_SERVER_TOKEN_HS256_SECRET_BASE64", valueFrom = { secretKeyRef = { name = local.secret_names.token_signing, key = "token" } } }
    s3_id  = { name = "AWS_ACCESS_KEY_ID", valueFrom = { secretKeyRef = { name = local.secret_names.rustfs, key = "access_key" } } }
    s3_key = { name = "AWS_SECRET_ACCESS_KEY", valueFrom = { secretKeyRef = { name = local.secret_names.rustfs, key = "secret_key" } } }
    db     = { name = "ATTIC_SERVER_DATABASE_URL", valueFrom = { secretKeyRef = { name = local.secret_names.database, key = "uri" } } }
  }
  attic_env = concat(
    [local.secret_env.token, local.secret_env.s3_id, local.secret_env.s3_key],
    var.cnpg_enabled ? [local.secret_env.db] : [],
  )

  config_volume = { name = "config", configMap = { name = "attic-config" } }
  config_mount  = { name = "config", mountPath = "/etc/attic", readOnly = true }
  data_mount    = { name = "data", mountPath = "/var/lib/attic", readOnly = false }

  # atticd: stateless API on sting with PostgreSQL; one replica with its SQLite volume on bumble.
  attic_container = {
    name         = "atticd"
    image        = var.images.atticd
    args         = ["-f", "/etc/attic/server.toml", "--mode", var.cnpg_enabled ? "api-server" : "monolithic"]
    env          = local.attic_env
    ports        = [{ name = "http", containerPort = local.attic.port }]
    volumeMounts = var.cnpg_enabled ? [local.config_mount] : [local.config_mount, local.data_mount]
    readinessProbe = {
      tcpSocket = { port = "http" }
    }
  }

  base = {
    "configmap/attic-config" = {
      apiVersion = "v1"
      kind       = "ConfigMap"
      metadata   = { name = "attic-config", namespace = local.ns, labels = local.labels["attic"] }
      data       = { "server.toml" = local.server_toml }
    }

    "deployment/attic" = {
      apiVersion = "apps/v1"
      kind       = "Deployment"
      metadata   = { name = local.attic.name, namespace = local.ns, labels = local.labels["attic"] }
      spec = {
        replicas = var.cnpg_enabled ? var.api_replicas : 1
        # A SQLite volume is ReadWriteOnce: never two pods at once.
        strategy = var.cnpg_enabled ? { type = "RollingUpdate" } : { type = "Recreate" }
        selector = { matchLabels = local.labels["attic"] }
        template = {
          metadata = { labels = local.labels["attic"] }
          spec = {
            nodeSelector   = var.cnpg_enabled ? local.stateless : local.stateful
            initContainers = var.cnpg_enabled ? [merge(local.attic_container, { name = "db-migrations", args = ["-f", "/etc/attic/server.toml", "--mode", "db-migrations"], ports = [], readinessProbe = null })] : []
            containers     = [local.attic_container]
            volumes = concat(
              [local.config_volume],
              var.cnpg_enabled ? [] : [{ name = "data", persistentVolumeClaim = { claimName = "attic-data" } }],
            )
          }
        }
      }
    }

    "service/attic" = {
      apiVersion = "v1"
      kind       = "Service"
      metadata   = { name = local.attic.name, namespace = local.ns, labels = local.labels["attic"] }
      spec = {
        type     = "ClusterIP"
        selector = local.labels["attic"]
        ports    = [{ name = "http", port = local.attic.port, targetPort = "http" }]
      }
    }

    "statefulset/rustfs" = {
      apiVersion = "apps/v1"
      kind       = "StatefulSet"
      metadata   = { name = local.rustfs.name, namespace = local.ns, labels = local.labels["rustfs"] }
      spec = {
        serviceName = local.rustfs.name
        replicas    = 1
        selector    = { matchLabels = local.labels["rustfs"] }
        template = {
          metadata = { labels = local.labels["rustfs"] }
          spec = {
            nodeSelector = local.stateful
            containers = [{
              name  = "rustfs"
              image = var.images.rustfs
              env = [
                { name = "RUSTFS_VOLUMES", value = "/data" },
                { name = "RUSTFS_ADDRESS", value = ":${local.rustfs.port}" },
                { name = "RUSTFS_CONSOLE_ENABLE", value = "true" },
                { name = "RUSTFS_ACCESS_KEY", valueFrom = { secretKeyRef = { name = local.secret_names.rustfs, key = "access_key" } } },
                { name = "RUSTFS_SECRET_KEY", valueFrom = { secretKeyRef = { name = local.secret_names.rustfs, key = "secret_key" } } },
              ]
              ports = [
                { name = "s3", containerPort = local.rustfs.port },
                { name = "console", containerPort = local.rustfs.console_port },
              ]
              volumeMounts   = [{ name = "data", mountPath = "/data" }]
              readinessProbe = { tcpSocket = { port = "s3" } }
            }]
          }
        }
        volumeClaimTemplates = [{
          metadata = { name = "data" }
          spec = merge(local.storage_class, {
            accessModes = ["ReadWriteOnce"]
            resources   = { requests = { storage = var.sizes.rustfs } }
          })
        }]
      }
    }

    "service/rustfs" = {
      apiVersion = "v1"
      kind       = "Service"
      metadata   = { name = local.rustfs.name, namespace = local.ns, labels = local.labels["rustfs"] }
      spec = {
        type     = "ClusterIP"
        selector = local.labels["rustfs"]
        ports = [
          { name = "s3", port = local.rustfs.port, targetPort = "s3" },
          { name = "console", port = local.rustfs.console_port, targetPort = "console" },
        ]
      }
    }

    "statefulset/bazel-cache" = {
      apiVersion = "apps/v1"
      kind       = "StatefulSet"
      metadata   = { name = local.bazel.name, namespace = local.ns, labels = local.labels["bazel-cache"] }
      spec = {
        serviceName = local.bazel.name
        replicas    = 1
        selector    = { matchLabels = local.labels["bazel-cache"] }
        template = {
          metadata = { labels = local.labels["bazel-cache"] }
          spec = {
            nodeSelector = local.stateful
            containers = [{
              name  = "bazel-remote"
              image = var.images.bazel_remote
              args = [
                "--dir=/data",
                "--max_size=${var.bazel_max_size_gib}",
                "--http_address=0.0.0.0:${local.bazel.http_port}",
                "--grpc_address=0.0.0.0:${local.bazel.grpc_port}",
              ]
              ports = [
                { name = "http", containerPort = local.bazel.http_port },
                { name = "grpc", containerPort = local.bazel.grpc_port },
              ]
              volumeMounts   = [{ name = "data", mountPath = "/data" }]
              readinessProbe = { httpGet = { path = "/status", port = "http" } }
            }]
          }
        }
        volumeClaimTemplates = [{
          metadata = { name = "data" }
          spec = merge(local.storage_class, {
            accessModes = ["ReadWriteOnce"]
            resources   = { requests = { storage = var.sizes.bazel } }
          })
        }]
      }
    }

    "service/bazel-cache" = {
      apiVersion = "v1"
      kind       = "Service"
      metadata   = { name = local.bazel.name, namespace = local.ns, labels = local.labels["bazel-cache"] }
      spec = {
        type     = "ClusterIP"
        selector = local.labels["bazel-cache"]
        ports = [
          { name = "http", port = local.bazel.http_port, targetPort = "http" },
          { name = "grpc", port = local.bazel.grpc_port, targetPort = "grpc" },
        ]
      }
    }

    # The cache's public key, written by the bootstrap Job (the stack reads it back as an output).
    "configmap/${local.key_config_map}" = {
      apiVersion = "v1"
      kind       = "ConfigMap"
      metadata   = { name = local.key_config_map, namespace = local.ns, labels = local.labels["attic-bootstrap"] }
      data       = { public_key = "" }
    }

    "serviceaccount/attic-bootstrap" = {
      apiVersion = "v1"
      kind       = "ServiceAccount"
      metadata   = { name = "attic-bootstrap", namespace = local.ns, labels = local.labels["attic-bootstrap"] }
    }

    "role/attic-bootstrap" = {
      apiVersion = "rbac.authorization.k8s.io/v1"
      kind       = "Role"
      metadata   = { name = "attic-bootstrap", namespace = local.ns, labels = local.labels["attic-bootstrap"] }
      rules = [{
        apiGroups     = [""]
        resources     = ["configmaps"]
        resourceNames = [local.key_config_map]
        verbs         = ["get", "patch"]
      }]
    }

    "rolebinding/attic-bootstrap" = {
      apiVersion = "rbac.authorization.k8s.io/v1"
      kind       = "RoleBinding"
      metadata   = { name = "attic-bootstrap", namespace = local.ns, labels = local.labels["attic-bootstrap"] }
      roleRef    = { apiGroup = "rbac.authorization.k8s.io", kind = "Role", name = "attic-bootstrap" }
      subjects   = [{ kind = "ServiceAccount", name = "attic-bootstrap", namespace = local.ns }]
    }
  }

  sqlite = {
    "pvc/attic-data" = {
      apiVersion = "v1"
      kind       = "PersistentVolumeClaim"
      metadata   = { name = "attic-data", namespace = local.ns, labels = local.labels["attic"] }
      spec = merge(local.storage_class, {
        accessModes = ["ReadWriteOnce"]
        resources   = { requests = { storage = var.sizes.sqlite } }
      })
    }
  }

  postgres = {
    "cluster/attic-db" = {
      apiVersion = "postgresql.cnpg.io/v1"
      kind       = "Cluster"
      metadata   = { name = "attic-db", namespace = local.ns, labels = local.labels["attic-db"] }
      spec = {
        instances = 1
        bootstrap = { initdb = { database = "attic", owner = "attic" } }
        storage   = merge({ size = var.sizes.postgres }, var.storage_class == null ? {} : { storageClass = var.storage_class })
        affinity  = { nodeSelector = local.stateful }
      }
    }

    # Garbage collection runs once, beside the stateless API replicas.
    "deployment/attic-gc" = {
      apiVersion = "apps/v1"
      kind       = "Deployment"
      metadata   = { name = "attic-gc", namespace = local.ns, labels = local.labels["attic-gc"] }
      spec = {
        replicas = 1
        selector = { matchLabels = local.labels["attic-gc"] }
        template = {
          metadata = { labels = local.labels["attic-gc"] }
          spec = {
            nodeSelector = local.stateless
            containers = [merge(local.attic_container, {
              name           = "atticd-gc"
              args           = ["-f", "/etc/attic/server.toml", "--mode", "garbage-collector"]
              ports          = []
              readinessProbe = null
            })]
            volumes = [local.config_volume]
          }
        }
      }
    }
  }

  manifests = merge(
    local.base,
    { for k, v in local.postgres : k => v if var.cnpg_enabled },
    { for k, v in local.sqlite : k => v if !var.cnpg_enabled },
  )

  # The Job that creates the cache: a bucket in RustFS, a short-lived token minted with
  # atticadm (same config and signing secret as the server), the cache created through Attic's
  # API if absent, and its public key written to the ConfigMap above. Idempotent.
  create_cache = jsonencode({
    keypair                  = "Generate"
    is_public                = var.public_cache
    store_dir                = "/nix/store"
    priority                 = 41
    upstream_cache_key_names = ["cache.nixos.org-1"]
  })
  cache_api = "${local.attic.endpoint}/_api/v1/cache-config/${local.attic.cache}"
  bootstrap_script = join("\n", [
    "set -eu",
    "token=$(cat /work/token)",
    "until code=$(curl -s -o /dev/null -w '%%{http_code}' -H \"Authorization: Bearer $token\" '${local.cache_api}') && [ \"$code\" != 000 ]; do sleep 5; done",
    "if [ \"$code\" = 404 ]; then curl -fsS -X POST -H \"Authorization: Bearer $token\" -H 'Content-Type: application/json' --data '${local.create_cache}' '${local.cache_api}'; fi",
    "key=$(curl -fsS -H \"Authorization: Bearer $token\" '${local.cache_api}' | sed -n 's/.*\"public_key\":\"\\([^\"]*\\)\".*/\\1/p')",
    "[ -n \"$key\" ] || { echo 'no public key in the cache config' >&2; exit 1; }",
    "sa=/var/run/secrets/kubernetes.io/serviceaccount",
    "curl -fsS --cacert $sa/ca.crt -H \"Authorization: Bearer $(cat $sa/token)\" -H 'Content-Type: application/merge-patch+json' -X PATCH --data \"{\\\"data\\\":{\\\"public_key\\\":\\\"$key\\\"}}\" https://kubernetes.default.svc/api/v1/namespaces/${local.ns}/configmaps/${local.key_config_map}",
    "echo \"cache ${local.attic.cache}: $key\"",
  ])

  # A Job's template is immutable: its name carries a digest of its spec, so a changed Job is a
  # new one (kubernetes_manifest replaces it) instead of a failed update.
  bootstrap_job = {
    apiVersion = "batch/v1"
    kind       = "Job"
    metadata = {
      name      = "attic-create-cache-${local.attic.cache}-${substr(sha256(jsonencode(local.bootstrap_spec)), 0, 8)}"
      namespace = local.ns
      labels    = local.labels["attic-bootstrap"]
    }
    spec = local.bootstrap_spec
  }

  bootstrap_spec = {
    backoffLimit = 6
    template = {
      metadata = { labels = local.labels["attic-bootstrap"] }
      spec = {
        restartPolicy      = "OnFailure"
        serviceAccountName = "attic-bootstrap"
        nodeSelector       = local.stateless
        initContainers = [
          {
            name    = "bucket"
            image   = var.images.aws_cli
            command = ["/bin/sh", "-c", "until aws --endpoint-url ${local.rustfs.endpoint} s3api head-bucket --bucket ${var.bucket} || aws --endpoint-url ${local.rustfs.endpoint} s3api create-bucket --bucket ${var.bucket}; do sleep 5; done"]
            env = [
              local.secret_env.s3_id,
              local.secret_env.s3_key,
              { name = "AWS_DEFAULT_REGION", value = "us-east-1" },
            ]
          },
          {
            name         = "token"
            image        = var.images.atticd
            command      = ["/bin/sh", "-c", "atticadm -f /etc/attic/server.toml make-token --sub gf-bootstrap --validity 1h --pull ${local.attic.cache} --create-cache ${local.attic.cache} --configure-cache ${local.attic.cache} > /work/token"]
            env          = local.attic_env
            volumeMounts = [local.config_mount, { name = "work", mountPath = "/work", readOnly = false }]
          },
        ]
        containers = [{
          name         = "create-cache"
          image        = var.images.curl
          command      = ["/bin/sh", "-c", local.bootstrap_script]
          volumeMounts = [{ name = "work", mountPath = "/work", readOnly = true }]
        }]
        volumes = [local.config_volume, { name = "work", emptyDir = { medium = "Memory" } }]
      }
    }
  }
}

# Invariants of the ARC values over the real scale-sets.json, and the refusals of bad entries.

variables {
  scale_sets           = jsondecode(file("../scale-sets.json"))
  github_config_url    = "https://github.com/tinyland-inc"
  github_config_secret = "github-app-secret"
  controller_namespace = "arc-systems"
  runner_namespace     = "arc-runners"
  controller_release   = "arc"
  runner_image         = "ghcr.io/actions/actions-runner:2.328.0"
  attic                = { endpoint = "http://attic.nix-cache.svc:8080", cache = "main" }
  bazel_endpoint       = "grpc://bazel-cache.nix-cache.svc:9092"
}

run "real_scale_sets" {
  command = plan

  assert {
    condition     = toset(output.shared_names) == toset(jsondecode(file("../stack.json")).lane.drain.scale_sets)
    error_message = "stack.json's lane.drain.scale_sets must be exactly the `shared` sets of scale-sets.json"
  }
  assert {
    condition     = length(output.lane_names) >= 1 && length(setintersection(toset(output.lane_names), toset(jsondecode(file("../stack.json")).lane.drain.scale_sets))) == 0
    error_message = "there must be a heavy Nix lane set, and it is never drained"
  }
  assert {
    condition     = alltrue([for name, r in output.runner_sets : r.values.runnerScaleSetName == name && length(name) <= 45])
    error_message = "each release's runnerScaleSetName is its set's name (the runner label), at most 45 characters"
  }
  assert {
    condition     = alltrue([for name, r in output.runner_sets : r.values.maxRunners >= r.values.minRunners])
    error_message = "maxRunners >= minRunners for every set"
  }
  assert {
    condition = alltrue([
      for name in output.shared_names : alltrue([
        for want in ["ATTIC_SERVER", "ATTIC_CACHE", "NIX_CONFIG", "BAZEL_REMOTE_CACHE"] :
        contains([for e in output.runner_sets[name].values.template.spec.containers[0].env : e.name], want)
      ])
    ])
    error_message = "every shared set gets the Attic and Bazel cache endpoints"
  }
  assert {
    condition = alltrue([
      for name, r in output.runner_sets :
      [for e in r.values.template.spec.containers[0].env : e.value if e.name == "ATTIC_SERVER"] == ["http://attic.nix-cache.svc:8080"]
      && [for e in r.values.template.spec.containers[0].env : e.value if e.name == "BAZEL_REMOTE_CACHE"] == ["grpc://bazel-cache.nix-cache.svc:9092"]
    ])
    error_message = "runners reach the cache plane on its nix-cache service addresses"
  }
  assert {
    condition     = alltrue([for name, r in output.runner_sets : r.values.githubConfigSecret == "github-app-secret"])
    error_message = "the GitHub App secret is referenced by name, never inlined"
  }
  assert {
    condition     = alltrue([for name, r in output.runner_sets : r.values.controllerServiceAccount == { namespace = "arc-systems", name = "arc-gha-rs-controller" }])
    error_message = "every set points at the one controller's service account in arc-systems"
  }
  assert {
    condition     = output.runner_sets["tinyland-dind"].values.containerMode.type == "dind" && output.runner_sets["tinyland-docker"].values.containerMode.type == "kubernetes" && !contains(keys(output.runner_sets["tinyland-nix"].values), "containerMode")
    error_message = "container modes follow scale-sets.json"
  }
  assert {
    condition     = alltrue([for name, r in output.runner_sets : r.namespace == "arc-runners"])
    error_message = "every set lives in arc-runners"
  }
}

run "trusted_key_reaches_nix_config" {
  command = plan
  variables {
    attic_public_key = "main:AAAA"
  }
  assert {
    condition     = strcontains([for e in output.runner_sets["tinyland-nix"].values.template.spec.containers[0].env : e.value if e.name == "NIX_CONFIG"][0], "extra-trusted-public-keys = main:AAAA")
    error_message = "a known public key is trusted by the runners' Nix"
  }
}

run "max_below_min_is_refused" {
  command = plan
  variables {
    scale_sets = [
      { name = "a", role = "shared", purpose = "", container_mode = "none", min_runners = 3, max_runners = 2, cpu = "1", memory = "1Gi" },
      { name = "b", role = "lane", purpose = "", container_mode = "none", min_runners = 0, max_runners = 1, cpu = "1", memory = "1Gi" },
    ]
  }
  expect_failures = [var.scale_sets]
}

run "a_name_over_45_characters_is_refused" {
  command = plan
  variables {
    scale_sets = [
      { name = "tinyland-nix-this-name-is-much-longer-than-allowed", role = "shared", purpose = "", container_mode = "none", min_runners = 0, max_runners = 1, cpu = "1", memory = "1Gi" },
      { name = "b", role = "lane", purpose = "", container_mode = "none", min_runners = 0, max_runners = 1, cpu = "1", memory = "1Gi" },
    ]
  }
  expect_failures = [var.scale_sets]
}

run "no_lane_set_is_refused" {
  command = plan
  variables {
    scale_sets = [
      { name = "a", role = "shared", purpose = "", container_mode = "none", min_runners = 0, max_runners = 1, cpu = "1", memory = "1Gi" },
    ]
  }
  expect_failures = [var.scale_sets]
}

run "duplicate_names_are_refused" {
  command = plan
  variables {
    scale_sets = [
      { name = "a", role = "shared", purpose = "", container_mode = "none", min_runners = 0, max_runners = 1, cpu = "1", memory = "1Gi" },
      { name = "a", role = "lane", purpose = "", container_mode = "none", min_runners = 0, max_runners = 1, cpu = "1", memory = "1Gi" },
    ]
  }
  expect_failures = [var.scale_sets]
}

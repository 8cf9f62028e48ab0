variables {
  gitlab_url   = "https://gitlab.com"
  namespace    = "gitlab-runners"
  token_secret = "gitlab-runner-token"
  concurrent   = 4
  job_image    = "alpine:3.21"
}

run "compatibility_runner" {
  command = plan

  assert {
    condition     = output.values.runners.secret == "gitlab-runner-token" && !contains(keys(output.values), "runnerToken") && !contains(keys(output.values), "runnerRegistrationToken")
    error_message = "the runner token comes from the Secret only, never from the values"
  }
  assert {
    condition     = strcontains(output.values.runners.config, "executor = \"kubernetes\"") && strcontains(output.values.runners.config, "namespace = \"gitlab-runners\"")
    error_message = "jobs run with the Kubernetes executor in gitlab-runners"
  }
  assert {
    condition     = output.values.nodeSelector == { "kubernetes.io/hostname" = "sting" } && strcontains(output.values.runners.config, "\"kubernetes.io/hostname\" = \"sting\"")
    error_message = "the runner and its jobs are stateless: sting"
  }
  assert {
    condition     = output.job_env.ATTIC_SERVER == jsondecode(file("../../contract.json")).attic.endpoint && strcontains(output.values.runners.config, "BAZEL_REMOTE_CACHE=grpc://bazel-cache.nix-cache.svc:9092")
    error_message = "every job gets the Attic and Bazel cache endpoints"
  }
  assert {
    condition     = output.values.rbac.create
    error_message = "the runner needs RBAC to create job pods"
  }
}

run "a_plain_http_gitlab_is_refused" {
  command = plan
  variables {
    gitlab_url = "http://gitlab.internal"
  }
  expect_failures = [var.gitlab_url]
}

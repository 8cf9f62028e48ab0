# Stack inputs of `arc-runners` in `dev` (honey). No secret belongs here: the GitHub App
# credentials are the Secret `github-app-secret`, referenced by name.
github_config_url = "https://github.com/tinyland-inc"
runner_image      = "ghcr.io/actions/actions-runner:2.328.0"

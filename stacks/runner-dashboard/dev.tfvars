# Stack inputs of `runner-dashboard` in `dev` (honey). Exposure stays `tailnet` (the default).
image = "ghcr.io/tinyland-inc/runner-dashboard:latest"

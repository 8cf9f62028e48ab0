# Stack inputs of `gitlab-runners` in `dev` (honey). The runner token is secret: it comes from
# TF_VAR_runner_token in gf's environment, never from this file.
gitlab_url = "https://gitlab.com"

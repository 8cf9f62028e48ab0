output "release" {
  description = "the gitlab-runner release and its namespace"
  value       = { name = helm_release.gitlab_runner.name, namespace = helm_release.gitlab_runner.namespace }
}

output "job_env" {
  description = "the cache-plane environment every job gets"
  value       = module.values.job_env
}

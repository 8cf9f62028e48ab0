output "service" {
  description = "where the dashboard is reachable: in the cluster, and on the tailnet unless exposure is `cluster`"
  value       = module.values.service
}

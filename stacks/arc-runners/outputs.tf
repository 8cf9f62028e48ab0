output "scale_sets" {
  description = "runner label => { role, min, max } of every scale set"
  value = {
    for s in local.scale_sets : s.name => {
      role        = s.role
      min_runners = s.min_runners
      max_runners = s.max_runners
    }
  }
}

output "shared_scale_sets" {
  description = "the sets the heavy Nix lane drains before an ARC apply"
  value       = module.values.shared_names
}

output "lane_scale_sets" {
  description = "the heavy Nix lane's own sets (the runner labels the ARC apply runs on)"
  value       = module.values.lane_names
}

# Placement on honey, from the contract's node roles (stacks/contract.json `cluster.nodes`):
# stateful workloads (volumes, databases) go to the storage-biased node, stateless ones to the
# stateless compute node. Provider-free: tested with `terraform test` / `tofu test`.

variable "nodes" {
  description = "node name => role; null reads `cluster.nodes` of stacks/contract.json"
  type        = map(string)
  default     = null
}

locals {
  nodes     = var.nodes != null ? var.nodes : jsondecode(file("${path.module}/../../contract.json")).cluster.nodes
  stateful  = [for name, role in local.nodes : name if strcontains(lower(role), "storage")]
  stateless = [for name, role in local.nodes : name if strcontains(lower(role), "stateless")]
  host_key  = "kubernetes.io/hostname"
}

output "stateful_node" {
  description = "the storage-biased node"
  value       = length(local.stateful) == 1 ? local.stateful[0] : null
  precondition {
    condition     = length(local.stateful) == 1
    error_message = "exactly one node must have a storage-biased role, found ${length(local.stateful)}"
  }
}

output "stateless_node" {
  description = "the stateless compute node"
  value       = length(local.stateless) == 1 ? local.stateless[0] : null
  precondition {
    condition     = length(local.stateless) == 1
    error_message = "exactly one node must have a stateless role, found ${length(local.stateless)}"
  }
}

output "stateful" {
  description = "nodeSelector for stateful workloads"
  value       = { (local.host_key) = try(local.stateful[0], null) }
}

output "stateless" {
  description = "nodeSelector for stateless workloads"
  value       = { (local.host_key) = try(local.stateless[0], null) }
}

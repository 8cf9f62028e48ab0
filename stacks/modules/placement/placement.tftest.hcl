# The contract's nodes: stateful on bumble, stateless on sting.
run "contract_nodes" {
  command = plan

  assert {
    condition     = output.stateful_node == "bumble" && output.stateless_node == "sting"
    error_message = "stateful workloads must land on bumble and stateless ones on sting"
  }
  assert {
    condition     = output.stateful == { "kubernetes.io/hostname" = "bumble" }
    error_message = "the stateful nodeSelector must pin the hostname bumble"
  }
  assert {
    condition     = output.stateless == { "kubernetes.io/hostname" = "sting" }
    error_message = "the stateless nodeSelector must pin the hostname sting"
  }
}

run "two_storage_nodes_are_refused" {
  command = plan
  variables {
    nodes = { bumble = "storage-biased", hive = "storage-biased", sting = "stateless compute" }
  }
  expect_failures = [output.stateful_node]
}

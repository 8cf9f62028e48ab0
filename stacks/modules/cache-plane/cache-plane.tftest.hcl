# The contract's `attic.endpoint` is the Service the attic stack creates, in the attic stack's
# own namespace.
run "contract_endpoint" {
  command = plan

  assert {
    condition     = output.attic.name == "attic" && output.attic.namespace == "nix-cache" && output.attic.port == 8080
    error_message = "the contract's attic.endpoint must name Service attic in nix-cache on port 8080"
  }
  assert {
    condition     = output.attic.endpoint == jsondecode(file("../../contract.json")).attic.endpoint
    error_message = "the endpoint the stacks use must be the contract's attic.endpoint byte for byte"
  }
  assert {
    condition     = contains(jsondecode(file("../../attic/stack.json")).namespaces, output.attic.namespace)
    error_message = "the Attic Service must live in a namespace of the attic stack"
  }
  assert {
    condition     = output.attic.cache == jsondecode(file("../../contract.json")).attic.cache
    error_message = "the cache name must be the contract's"
  }
  assert {
    condition     = output.bazel.endpoint == "grpc://bazel-cache.nix-cache.svc:9092" && output.rustfs.endpoint == "http://rustfs.nix-cache.svc:9000"
    error_message = "cache-plane internals use nix-cache namespace addresses"
  }
}

run "a_public_endpoint_is_refused" {
  command = plan
  variables {
    attic_endpoint = "https://cache.example.com"
  }
  expect_failures = [output.attic]
}

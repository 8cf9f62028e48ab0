# The flake's input-less outputs (`lib`): pure Nix, builtins only. They evaluate without nixpkgs,
# so tests on machines that cannot fetch nixpkgs evaluate them directly.
{
  root ? ../.,
}:
let
  data = import ./contract.nix { inherit root; };
in
{
  # `lib.backends { endpoint; bucket; region ? null; }` => { <env>.<stack> = { text; path; }; }
  backends = args: import ./backends.nix ({ inherit root; } // args);
  # { "hashicorp/helm" = "~> 3.0"; … }: the constraints the flake's tofu must satisfy.
  providers = (import ./providers.nix { inherit root; }).set;
  stacks = builtins.attrNames data.stacks;
  environments = builtins.attrNames data.contract.environments;
  systems = [
    "x86_64-linux"
    "aarch64-linux"
    "x86_64-darwin"
    "aarch64-darwin"
  ];
}

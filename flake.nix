{
  description = "gf: the GloriousFlywheel deploy tool, its pinned tofu and the contract's backend files";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

  # Expressions live in nix/: outputs.nix (the outputs), lib.nix and backends.nix (pure, no inputs).
  outputs = { self, nixpkgs }: import ./nix/outputs.nix { inherit self nixpkgs; };
}

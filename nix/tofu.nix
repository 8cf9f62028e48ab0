# The pinned tofu: nixpkgs' OpenTofu with the providers the stacks declare (./providers.nix),
# picked by nixpkgs attribute name. Whether each build satisfies the stacks' constraint is the
# `tofu-providers` check's business (./provider-check.nix): a mismatch fails that one check and
# never the evaluation of this package or anything built on it.
{
  opentofu,
  providers,
}:
opentofu.withPlugins (
  p:
  builtins.concatMap (
    source:
    let
      attr = builtins.replaceStrings [ "/" ] [ "_" ] source;
    in
    if p ? ${attr} then [ p.${attr} ] else [ ]
  ) (builtins.attrNames providers.set)
)

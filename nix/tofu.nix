# The pinned tofu: nixpkgs' OpenTofu with exactly the providers the stacks declare (./providers.nix),
# each at the version the stacks pin. Builtins only besides the given `opentofu`, so a test can
# evaluate the selection against a stand-in provider set.
{
  opentofu,
  providers,
}:
opentofu.withPlugins (
  p:
  map (
    source:
    let
      attr = builtins.replaceStrings [ "/" ] [ "_" ] source;
      plugin = p.${attr} or (throw "gf: the stacks declare `${source}` but nixpkgs has no provider `${attr}`");
    in
    if plugin.version != providers.${source} then
      throw "gf: the stacks pin `${source}` at ${providers.${source}} but the pinned nixpkgs carries ${plugin.version}; change the pin in stacks/*/versions.tf or update flake.lock"
    else
      plugin
  ) (builtins.attrNames providers)
)

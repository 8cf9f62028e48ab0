# Whether a provider set (nix/providers.nix) can be served by nixpkgs' provider builds:
# { ok; messages = [ … ]; versions = { source = version; }; }. Builtins only, so tests evaluate
# it against a stand-in for nixpkgs' provider set. The `tofu-providers` flake check fails with
# these messages; nothing else in the flake depends on it, so a mismatch never breaks evaluation.
{
  providers,
  available,
}:
let
  constraints = import ./constraints.nix;
  attrOf = source: builtins.replaceStrings [ "/" ] [ "_" ] source;
  one =
    source:
    let
      constraint = providers.set.${source};
      attr = attrOf source;
    in
    if !(available ? ${attr}) then
      "the stacks require `${source}` (${constraint}) but the pinned nixpkgs has no provider `${attr}`"
    else if constraints.parse constraint == null then
      "the stacks constrain `${source}` to `${constraint}`, which is not a version constraint (`~> X.Y`)"
    else if !(constraints.satisfies available.${attr}.version constraint) then
      "the stacks require `${source}` ${constraint} but the pinned nixpkgs carries ${available.${attr}.version}: change the constraint in the stacks' `required_providers` or update flake.lock"
    else
      null;
  messages = providers.problems ++ builtins.filter (m: m != null) (map one (builtins.attrNames providers.set));
in
{
  ok = messages == [ ];
  inherit messages;
  versions = builtins.mapAttrs (
    source: _: (available.${attrOf source} or { version = null; }).version
  ) providers.set;
}

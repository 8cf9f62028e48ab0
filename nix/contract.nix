# The deployment contract as Nix data, read with builtins only (no nixpkgs):
# stacks/contract.json and every stacks/<stack>/stack.json. Folders without a stack.json
# (stacks/schema) are not stacks. gf's `gf check` is the authority on validity; this file only
# refuses what would make Nix see different data than gf (a NUL escape, which Nix's fromJSON
# truncates at, and a manifest whose name is not its folder's).
{
  root ? ../.,
}:
let
  dir = toString root;

  contains = needle: haystack: builtins.replaceStrings [ needle ] [ "" ] haystack != haystack;

  readJSON =
    rel:
    let
      text = builtins.readFile "${dir}/${rel}";
    in
    if contains "\\u0000" text then
      throw "gf: `${rel}` contains a `\\u0000` escape; Nix strings cannot hold NUL, refusing to read it"
    else
      builtins.fromJSON text;

  entries = builtins.readDir "${dir}/stacks";
  isStack =
    name: entries.${name} == "directory" && builtins.pathExists "${dir}/stacks/${name}/stack.json";
  names = builtins.filter isStack (builtins.attrNames entries);

  manifest =
    name:
    let
      m = readJSON "stacks/${name}/stack.json";
    in
    if m.name or null != name then
      throw "gf: `stacks/${name}/stack.json` has `name` ${builtins.toJSON (m.name or null)} but the folder is `${name}`"
    else
      m;
in
{
  inherit dir;
  contract = readJSON "stacks/contract.json";
  # Stack name -> manifest, for every folder of stacks/ that holds a stack.json.
  stacks = builtins.listToAttrs (
    map (name: {
      inherit name;
      value = manifest name;
    }) names
  );
}

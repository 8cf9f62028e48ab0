# The OpenTofu providers the stacks declare, read from every stacks/<stack>/*.tf with builtins
# only: { "hashicorp/helm" = "3.0.2"; … }. Each `required_providers` entry must write `source`
# before `version`, and a version must be an exact pin (the flake's tofu carries exactly that
# build). Two stacks pinning one provider at different versions are refused. A test compares this
# with an HCL parser's reading of the same files (tests/it/nix.rs).
{
  root ? ../.,
}:
let
  data = import ./contract.nix { inherit root; };

  entryRegex = ''source[[:space:]]*=[[:space:]]*"([^"]*)"[^}]*version[[:space:]]*=[[:space:]]*"([^"]*)"'';
  exactVersion = "[0-9]+\\.[0-9]+\\.[0-9]+";

  tfFiles =
    stack:
    let
      dir = "${data.dir}/stacks/${stack}";
      entries = builtins.readDir dir;
    in
    map (f: "${dir}/${f}") (
      builtins.filter (
        f: entries.${f} == "regular" && builtins.match ".*\\.tf" f != null
      ) (builtins.attrNames entries)
    );

  # [ { stack; source; version; } … ] of one file.
  entriesOf =
    stack: file:
    map
      (m: {
        inherit stack;
        source = builtins.elemAt m 0;
        version =
          let
            v = builtins.elemAt m 1;
          in
          if builtins.match exactVersion v == null then
            throw "gf: `${file}` pins `${builtins.elemAt m 0}` at `${v}`; the flake's tofu needs an exact version (X.Y.Z)"
          else
            v;
      })
      (builtins.filter builtins.isList (builtins.split entryRegex (builtins.readFile file)));

  all = builtins.concatLists (
    map (stack: builtins.concatLists (map (entriesOf stack) (tfFiles stack))) (builtins.attrNames data.stacks)
  );

  merge =
    acc: e:
    if acc ? ${e.source} && acc.${e.source} != e.version then
      throw "gf: stacks pin `${e.source}` at both `${acc.${e.source}}` and `${e.version}` (see stacks/${e.stack}); one tofu cannot carry both"
    else
      acc // { ${e.source} = e.version; };
in
builtins.foldl' merge { } all

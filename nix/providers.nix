# The provider set of the stacks, read with builtins only: every `required_providers` entry of
# every `*.tf` file under stacks/ (stacks and local modules alike; folders starting with `.`,
# like `.terraform/`, skipped) => { set = { "hashicorp/helm" = "~> 3.0"; … }; problems = [ … ]; }.
# gf reads the same files the same way with an HCL parser (src/providers.rs, `gf check`), and a
# test compares both readings on the real stacks and on a fixture with comments, heredocs and
# module-only providers (tests/it/nix.rs). Nothing here throws: a problem (an entry without a
# source or version, one source with two constraints) is reported by the `tofu-providers` check.
{
  root ? ../.,
}:
let
  dir = toString root;
  inherit (builtins)
    concatLists
    concatStringsSep
    elemAt
    filter
    foldl'
    isList
    length
    match
    split
    ;

  # Every *.tf file under `d`, recursively, skipping hidden folders.
  tfFiles =
    d:
    let
      entries = builtins.readDir d;
      names = builtins.attrNames entries;
    in
    concatLists (
      map (
        n:
        if entries.${n} == "directory" && match "\\..*" n == null then
          tfFiles "${d}/${n}"
        else if entries.${n} == "regular" && match ".*\\.tf" n != null then
          [ "${d}/${n}" ]
        else
          [ ]
      ) names
    );

  lines = text: filter (x: !isList x) (split "\n" text);

  # Heredoc bodies (`<<EOF` … `EOF`, `<<-EOF`) are dropped: they are values, and may hold
  # anything, quotes and `#` included. The opening line keeps an empty string in their place.
  dropHeredocs =
    text:
    let
      step =
        acc: line:
        if acc.marker != null then
          if match "[[:space:]]*${acc.marker}[[:space:]]*" line != null then
            acc // { marker = null; }
          else
            acc
        else
          let
            m = match "([^#\"]*)<<-?([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*" line;
          in
          if m == null then
            acc // { out = acc.out ++ [ line ]; }
          else
            {
              marker = elemAt m 1;
              out = acc.out ++ [ "${elemAt m 0}\"\"" ];
            };
    in
    concatStringsSep "\n" (
      (foldl' step {
        marker = null;
        out = [ ];
      } (lines text)).out
    );

  # Comments (`#`, `//`, `/* … */`) removed; string literals kept as they are.
  token = "(\"([^\"\\\\]|\\\\.)*\")|(/\\*([^*]|\\*+[^*/])*\\*+/)|((#|//)[^\n]*)";
  dropComments =
    text: concatStringsSep "" (map (x: if isList x then (if elemAt x 0 != null then elemAt x 0 else " ") else x) (split token text));

  captures = re: text: filter isList (split re text);

  field =
    name: body:
    let
      m = captures "(^|[^A-Za-z0-9_-])${name}[[:space:]]*=[[:space:]]*\"([^\"]*)\"" body;
    in
    if m == [ ] then null else elemAt (elemAt m 0) 1;

  # [ { file; name; source; version; } … ] of one file.
  entriesOf =
    file:
    let
      text = dropComments (dropHeredocs (builtins.readFile file));
      blocks = map (m: elemAt m 0) (
        captures "required_providers[[:space:]]*[{](([^{}]|[{][^{}]*[}])*)[}]" text
      );
      entries =
        body:
        map (m: {
          inherit file;
          name = elemAt m 0;
          source = field "source" (elemAt m 1);
          version = field "version" (elemAt m 1);
        }) (captures "([A-Za-z_][A-Za-z0-9_-]*)[[:space:]]*=[[:space:]]*[{]([^{}]*)[}]" body);
    in
    concatLists (map entries blocks);

  rel = file: builtins.substring (builtins.stringLength dir + 1) (-1) file;

  all = concatLists (map entriesOf (tfFiles "${dir}/stacks"));

  merge =
    acc: e:
    if e.source == null then
      acc
      // {
        problems = acc.problems ++ [ "`${rel e.file}`: `required_providers` entry `${e.name}` has no `source`" ];
      }
    else if e.version == null then
      acc
      // {
        problems = acc.problems ++ [ "`${rel e.file}`: provider `${e.source}` has no `version` constraint" ];
      }
    else if acc.set ? ${e.source} && acc.set.${e.source} != e.version then
      acc
      // {
        problems = acc.problems ++ [
          "`${rel e.file}`: provider `${e.source}` is constrained to `${e.version}` here but to `${acc.set.${e.source}}` elsewhere; the stacks share one provider set"
        ];
      }
    else
      acc // { set = acc.set // { ${e.source} = e.version; }; };
in
foldl' merge {
  set = { };
  problems = [ ];
} all
// {
  count = length all;
}

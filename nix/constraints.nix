# OpenTofu version constraints, builtins only: `satisfies "3.0.2" "~> 3.0"` => true.
# A constraint is a comma-separated list of clauses `op version` with op one of `~>`, `>=`, `>`,
# `<=`, `<`, `=`, `!=` (none: `=`), as src/providers.rs parses them. `parse` returns null for a
# constraint that is not of that form.
let
  inherit (builtins)
    all
    compareVersions
    elemAt
    filter
    isList
    length
    match
    split
    ;

  clause =
    text:
    let
      m = match "[[:space:]]*(~>|>=|<=|!=|>|<|=)?[[:space:]]*([0-9]+([.][0-9]+)?([.][0-9]+)?)[[:space:]]*" text;
    in
    if m == null then
      null
    else
      {
        op = if elemAt m 0 == null then "=" else elemAt m 0;
        version = elemAt m 1;
      };

  # `~> 3.0` allows >= 3.0 and < 4; `~> 2.38.1` allows >= 2.38.1 and < 2.39.
  upperBound =
    version:
    let
      parts = builtins.splitVersion version;
      n = length parts;
      kept = builtins.genList (i: elemAt parts i) (n - 2);
    in
    builtins.concatStringsSep "." (kept ++ [ (toString (builtins.fromJSON (elemAt parts (n - 2)) + 1)) ]);

  holds =
    v: c:
    let
      cmp = compareVersions v c.version;
    in
    if c.op == "~>" then
      length (builtins.splitVersion c.version) >= 2 && cmp >= 0 && compareVersions v (upperBound c.version) < 0
    else if c.op == ">=" then
      cmp >= 0
    else if c.op == ">" then
      cmp > 0
    else if c.op == "<=" then
      cmp <= 0
    else if c.op == "<" then
      cmp < 0
    else if c.op == "!=" then
      cmp != 0
    else
      cmp == 0;
in
rec {
  parse =
    constraint:
    let
      clauses = map clause (filter (x: !isList x) (split "," constraint));
    in
    if builtins.any (c: c == null) clauses then null else clauses;

  satisfies =
    version: constraint:
    let
      clauses = parse constraint;
    in
    clauses != null && all (holds version) clauses;
}

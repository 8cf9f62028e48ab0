# The S3 backend files of every stack and environment, in pure Nix (builtins only):
#
#   import ./nix/backends.nix { endpoint = "http://rustfs.nix-cache.svc:9000"; bucket = "gf-state"; }
#   => { dev.attic = { text = "bucket = \"gf-state\"\n…"; path = /nix/store/…-attic.dev.s3.tfbackend; }; … }
#
# `text` is byte for byte what `gf backend <stack> --env <env>` prints (src/backend.rs: attribute
# order, HCL escaping); `path` is `builtins.toFile "<stack>.<env>.s3.tfbackend" text`, the path
# `gf backend --nix` computes. An environment a stack has no state key for is absent for that
# stack. What gf refuses, this refuses too (src/backend.rs, src/contract/rules.rs): a value with
# a control character, an endpoint with user info (any `@`, never shown), a bucket name outside
# S3's rules, a state key that is not a relative object key (hidden characters, too long for its
# `.tflock` lock object, a lock object's name), an environment name outside
# `^[a-z][a-z0-9-]{0,31}$`. No credential is an argument: the store is world-readable.
{
  endpoint,
  bucket,
  # Empty or null: the contract's `backend.region` (as gf treats an empty TOFU_BACKEND_S3_REGION).
  region ? null,
  root ? ../.,
}:
let
  data = import ./contract.nix { inherit root; };

  hex = [ "0" "1" "2" "3" "4" "5" "6" "7" "8" "9" "a" "b" "c" "d" "e" "f" ];
  hex2 = i: builtins.elemAt hex (i / 16) + builtins.elemAt hex (i - i / 16 * 16);
  # Rust's char::is_control: U+0001..U+001F, U+007F..U+009F (Nix strings cannot hold U+0000).
  controls = map (i: builtins.fromJSON "\"\\u00${hex2 i}\"") (
    builtins.genList (i: i + 1) 31 ++ builtins.genList (i: i + 127) 33
  );
  hasAny = chars: s: builtins.replaceStrings chars (map (_: "") chars) s != s;
  hasControl = hasAny controls;
  contains = needle: hasAny [ needle ];
  hasPrefix = p: s: builtins.substring 0 (builtins.stringLength p) s == p;
  hasSuffix =
    p: s:
    let
      lp = builtins.stringLength p;
      ls = builtins.stringLength s;
    in
    ls >= lp && builtins.substring (ls - lp) lp s == p;
  u = code: builtins.fromJSON "\"\\u${code}\"";
  # The characters src/contract/rules.rs calls hidden: bidirectional controls and zero-width ones.
  bidi = map u [ "202a" "202b" "202c" "202d" "202e" "2066" "2067" "2068" "2069" "200e" "200f" "061c" ];
  zeroWidth = map u [ "200b" "200c" "200d" "2060" "feff" ];
  # Rust's White_Space beyond the control characters (those are refused anyway).
  spaces = [ " " ] ++ map u [
    "00a0" "1680" "2000" "2001" "2002" "2003" "2004" "2005" "2006" "2007" "2008" "2009" "200a"
    "2028" "2029" "202f" "205f" "3000"
  ];

  # S3's limit on a key, less the `.tflock` tofu appends for the state's lock object.
  stateKeyMax = 1024 - builtins.stringLength ".tflock";
  keyProblem =
    key:
    let
      segments = builtins.filter builtins.isString (builtins.split "/" key);
      len = builtins.stringLength key;
    in
    if key == "" then
      "it is empty"
    else if builtins.any (w: hasPrefix w key || hasSuffix w key) spaces then
      "it has surrounding whitespace"
    else if hasControl key then
      "it contains a control character"
    else if hasAny bidi key then
      "it contains a bidirectional control character"
    else if hasAny zeroWidth key then
      "it contains a zero-width character"
    else if len > stateKeyMax then
      "it is ${toString len} bytes long; at most ${toString stateKeyMax}, so that `<key>.tflock` fits S3's 1024"
    else if hasPrefix "/" key then
      "it starts with `/`"
    else if builtins.elem "" segments then
      "it has an empty segment"
    else if builtins.elem "." segments || builtins.elem ".." segments then
      "it has a `.` or `..` segment"
    else if hasSuffix ".tflock" key then
      "it ends in `.tflock`, the suffix of the S3 backend's lock objects"
    else
      null;
  stateKey =
    what: key:
    let
      problem = if builtins.isString key then keyProblem key else throw "gf: `${what}` must be a string";
    in
    if problem != null then throw "gf: `${what}` is not a relative object key: ${problem}" else key;

  bucketProblem =
    b:
    let
      len = builtins.stringLength b;
    in
    if contains "/" b then
      "it contains `/`, which would move into the object key"
    else if builtins.match "[a-z0-9.-]*" b == null then
      "only lowercase letters, digits, `.` and `-` are allowed"
    else if len < 3 || len > 63 then
      "it is ${toString len} characters long; bucket names have 3 to 63"
    else if builtins.match "[a-z0-9](.*[a-z0-9])?" b == null then
      "it must start and end with a lowercase letter or digit"
    else if contains ".." b then
      "it has two adjacent periods"
    else if builtins.match "[0-9]+[.][0-9]+[.][0-9]+[.][0-9]+" b != null then
      "it is formatted as an IP address"
    else
      null;

  noControl =
    what: value:
    if !builtins.isString value then
      throw "gf: `${what}` must be a string"
    else if hasControl value then
      throw "gf: `${what}` contains a control character; refusing to render it into a backend file"
    else
      value;
  checked =
    what: value:
    if value == "" then
      throw "gf: cannot render the S3 backend: `${what}` is empty"
    else
      noControl what value;

  # A quoted HCL string: `\` and `"` backslash-escaped, `${` and `%{` doubled (never interpolated).
  hclString =
    s:
    "\""
    + builtins.replaceStrings [ "\\" "\"" "\${" "%{" ] [ "\\\\" "\\\"" "$\${" "%%{" ] s
    + "\"";

  flags = [
    "use_path_style"
    "skip_credentials_validation"
    "skip_region_validation"
    "skip_requesting_account_id"
    "skip_metadata_api_check"
    "skip_s3_checksum"
    "use_lockfile"
  ];

  location = {
    endpoint =
      if contains "@" (checked "endpoint" endpoint) then
        throw "gf: `endpoint` contains `@`, the mark of user info (`user:password@host`): credentials in the URL are refused and the value is not shown"
      else
        endpoint;
    bucket =
      let
        problem = bucketProblem (checked "bucket" bucket);
      in
      if problem != null then throw "gf: `bucket` is not a valid S3 bucket name: ${problem}" else bucket;
    region =
      if region == null || region == "" then
        noControl "backend.region" data.contract.backend.region
      else
        checked "region" region;
  };

  render =
    key:
    builtins.concatStringsSep "" (
      [
        "bucket = ${hclString location.bucket}\n"
        "key = ${hclString key}\n"
        "region = ${hclString location.region}\n"
        "endpoints = { s3 = ${hclString location.endpoint} }\n"
      ]
      ++ map (flag: "${flag} = true\n") flags
    );

  backendsOf =
    env:
    builtins.listToAttrs (
      map
        (
          stack:
          let
            key = stateKey "stacks/${stack}/stack.json: state_keys.${env}" data.stacks.${stack}.state_keys.${env};
            text = render key;
          in
          {
            name = stack;
            value = {
              inherit text;
              path = builtins.toFile "${stack}.${env}.s3.tfbackend" text;
            };
          }
        )
        (
          builtins.filter (stack: data.stacks.${stack}.state_keys ? ${env}) (builtins.attrNames data.stacks)
        )
    );
  # Every environment name is checked, as gf refuses the whole contract for one bad name.
  envName =
    env:
    if builtins.match "[a-z][a-z0-9-]{0,31}" env == null then
      throw "gf: environment name ${builtins.toJSON env} in stacks/contract.json does not match `^[a-z][a-z0-9-]{0,31}$`"
    else
      env;
  environments = builtins.listToAttrs (
    map (env: {
      name = envName env;
      value = null;
    }) (builtins.attrNames data.contract.environments)
  );
in
builtins.mapAttrs (env: _: backendsOf env) environments

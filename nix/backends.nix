# The S3 backend files of every stack and environment, in pure Nix (builtins only):
#
#   import ./nix/backends.nix { endpoint = "http://rustfs.nix-cache.svc:9000"; bucket = "gf-state"; }
#   => { dev.attic = { text = "bucket = \"gf-state\"\n…"; path = /nix/store/…-attic.dev.s3.tfbackend; }; … }
#
# `text` is byte for byte what `gf backend <stack> --env <env>` prints (src/backend.rs: attribute
# order, HCL escaping); `path` is `builtins.toFile "<stack>.<env>.s3.tfbackend" text`, the path
# `gf backend --nix` computes. An environment a stack has no state key for is absent for that
# stack. Values with a control character are refused, as gf refuses them. No credential is an
# argument: the store is world-readable.
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
  hasControl = s: builtins.replaceStrings controls (map (_: "") controls) s != s;

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
    endpoint = checked "endpoint" endpoint;
    bucket = checked "bucket" bucket;
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
            key = checked "stacks/${stack}/stack.json: state_keys.${env}" data.stacks.${stack}.state_keys.${env};
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
in
builtins.mapAttrs (env: _: backendsOf env) data.contract.environments

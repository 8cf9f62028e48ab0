#!/usr/bin/env bash
# Benchmark of `gf state migrate` (issue 15), not a test. Real terraform writes two states into a
# loopback HTTP state backend (scripts/http-state-server.py): `small` (300 terraform_data) and
# `large` (2,000 terraform_data with 8 KiB inputs, ~40 MB of state). Each is then moved to S3
# (moto) in interleaved pairs (median of PAIRS, default 5), by
#  - gf:       `gf state migrate <stack> --from-http <address>`;
#  - baseline: what an operator does without gf: in a checkout initialized on the HTTP backend,
#              switch the block to `backend "s3" {}` and run
#              `terraform init -migrate-state -force-copy -backend-config=<gf's rendered file>`.
# Targets: time ratio gf/baseline <= 0.5; gf's peak RSS for `large` <= 3 x the state + 30 MiB.
# Uses the release build (or GF_BIN); terraform is GF_TOFU, else tofu, else terraform on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
PAIRS=${PAIRS:-5}

. scripts/bench-lib.sh
bench_tools
[ -x /usr/bin/time ] || { echo "GNU time (/usr/bin/time) is missing: apt-get install time" >&2; exit 1; }
bench_gf

S3_PORT=$(free_port)
HTTP_PORT=$(free_port)
export HTTP_STATE_USER=bench HTTP_STATE_PASSWORD=bench-http-password
start_moto "$S3_PORT"
python3 scripts/http-state-server.py "$HTTP_PORT" &
BENCH_PIDS+=("$!")

export KUBE_CONTEXT=honey GF_TOFU=$TOFU CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1
export TOFU_BACKEND_S3_ENDPOINT=http://127.0.0.1:$S3_PORT TOFU_BACKEND_S3_BUCKET=gf-state
export TOFU_BACKEND_S3_ACCESS_KEY=bench TOFU_BACKEND_S3_SECRET_KEY=bench-secret
export TF_HTTP_USERNAME=$HTTP_STATE_USER TF_HTTP_PASSWORD=$HTTP_STATE_PASSWORD
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret
unset TF_CLI_CONFIG_FILE

REPO=$WORK/repo
mkdir -p "$REPO/stacks"
cp tests/fixtures/lifecycle/contract.json "$REPO/stacks/"
resources() { # name count input-bytes
  cat <<EOF
locals {
  pad = "$(head -c "$3" /dev/zero | tr '\0' x)"
}

resource "terraform_data" "item" {
  count = $2
  input = "$1-\${count.index}-\${local.pad}"
}
EOF
}
for spec in "small 300 16" "large 2000 8192"; do
  set -- $spec
  d=$REPO/stacks/$1
  mkdir -p "$d" "$WORK/base-$1"
  cat >"$d/stack.json" <<EOF
{ "name": "$1", "purpose": "benchmark", "namespaces": ["$1"], "optional_namespaces": [],
  "depends_on": [], "state_keys": { "dev": "bench/$1/terraform.tfstate" },
  "apply": "operator", "requires_cache": false }
EOF
  resources "$@" >"$d/main.tf"
  printf 'terraform {\n  backend "s3" {}\n}\n' >"$d/versions.tf"
  cp "$d/main.tf" "$WORK/base-$1/main.tf"
  "$GF" -C "$REPO" backend "$1" >"$WORK/$1.tfbackend"
done

address() { echo "http://127.0.0.1:$HTTP_PORT/state/$1"; }
http_init() { # dir name: (re)initialize the baseline checkout on the HTTP backend
  printf 'terraform {\n  backend "http" {}\n}\n' >"$1/backend.tf"
  local a
  a=$(address "$2")
  (cd "$1" && "$TOFU" init -reconfigure -input=false -backend-config="address=$a" \
    -backend-config="lock_address=$a" -backend-config="unlock_address=$a" >/dev/null)
}
s3_delete() { curl -s -H "$S3_AUTH" -X DELETE "http://127.0.0.1:$S3_PORT/gf-state/bench/$1/terraform.tfstate" >/dev/null; }

echo "seeding the HTTP states with terraform apply (the large one takes a while)" >&2
for n in small large; do
  http_init "$WORK/base-$n" "$n"
  (cd "$WORK/base-$n" && "$TOFU" apply -auto-approve -input=false >/dev/null)
done

rss() { sed -n 's/.*Maximum resident set size (kbytes): //p' "$1"; }

for n in small large; do
  size=$(curl -s -u "$HTTP_STATE_USER:$HTTP_STATE_PASSWORD" "$(address "$n")" | wc -c)
  gf_t=() base_t=() gf_rss=() base_rss=()
  for i in $(seq "$PAIRS"); do
    s3_delete "$n"
    t0=$(now)
    /usr/bin/time -v -o "$WORK/gf.time" "$GF" -C "$REPO" state migrate "$n" --from-http "$(address "$n")" >/dev/null 2>&1
    t1=$(now)
    s3_delete "$n"
    http_init "$WORK/base-$n" "$n"
    printf 'terraform {\n  backend "s3" {}\n}\n' >"$WORK/base-$n/backend.tf"
    t2=$(now)
    (cd "$WORK/base-$n" && /usr/bin/time -v -o "$WORK/base.time" "$TOFU" init -migrate-state -force-copy \
      -input=false -backend-config="$WORK/$n.tfbackend" >/dev/null)
    t3=$(now)
    gf_t+=("$(python3 -c "print($t1-$t0)")")
    base_t+=("$(python3 -c "print($t3-$t2)")")
    gf_rss+=("$(rss "$WORK/gf.time")")
    base_rss+=("$(rss "$WORK/base.time")")
    echo "$n pair $i: gf $(printf %.3f "${gf_t[-1]}") s ${gf_rss[-1]} KB, terraform init -migrate-state $(printf %.3f "${base_t[-1]}") s ${base_rss[-1]} KB" >&2
  done
  g=$(median "${gf_t[@]}")
  b=$(median "${base_t[@]}")
  gr=$(median "${gf_rss[@]}")
  br=$(median "${base_rss[@]}")
  echo "$n ($size bytes of state): gf state migrate median ${g} s (peak RSS ${gr%.*} KB); terraform init -migrate-state -force-copy median ${b} s (peak RSS ${br%.*} KB); time ratio $(python3 -c "print('%.3f' % ($g/$b))") (target <= 0.5); gf RSS / (3 x state + 30 MiB) = $(python3 -c "print('%.2f' % ($gr*1024/(3*$size+30*2**20)))") (target <= 1)"
done
echo "machine: $(nproc) cores, $("$TOFU" version | head -n1)"

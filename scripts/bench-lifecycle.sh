#!/usr/bin/env bash
# Benchmark of the lifecycle (issue 3), not a test. Against moto on a loopback port:
#  1. `gf plan` of a 300-resource terraform_data stack vs raw `tofu init -reconfigure` +
#     `tofu plan -out` of the same stack and state, interleaved pairs in the same run
#     (median of PAIRS, default 5; target ratio <= 1.10);
#  2. `gf plan --all --jobs 4` over four independent 300-resource stacks vs `--jobs 1`
#     (median of RUNS, default 3; target ratio <= 0.6).
#  3. with GF_BASE_BIN (another gf build, e.g. the commit before a refactor): `gf plan` of the same
#     stack by that binary vs this one, interleaved pairs (median of PAIRS; the cost of a change).
# Uses the release build (or GF_BIN); the tofu binary is GF_TOFU, else tofu, else terraform on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
PAIRS=${PAIRS:-5}
RUNS=${RUNS:-3}

. scripts/bench-lib.sh
bench_tools
bench_gf
PORT=$(free_port)
start_moto "$PORT"

# Two fixture repositories: one 300-resource stack (REPO), four independent copies (ALL).
REPO=$WORK/repo
ALL=$WORK/all
mkdir -p "$REPO/stacks" "$ALL/stacks"
cp tests/fixtures/lifecycle/contract.json "$REPO/stacks/"
cp tests/fixtures/lifecycle/contract.json "$ALL/stacks/"
for s in big s1 s2 s3 s4; do
  if [ "$s" = big ]; then d=$REPO/stacks/$s; else d=$ALL/stacks/$s; fi
  mkdir -p "$d"
  cat >"$d/stack.json" <<EOF
{ "name": "$s", "purpose": "benchmark", "namespaces": ["$s"], "optional_namespaces": [],
  "depends_on": [], "state_keys": { "dev": "bench/$s/terraform.tfstate" },
  "apply": "automated", "requires_cache": false }
EOF
  cat >"$d/main.tf" <<'EOF'
terraform {
  backend "s3" {}
}

resource "terraform_data" "item" {
  count = 300
  input = "item-${count.index}"
}
EOF
done

export KUBE_CONTEXT=honey GF_TOFU=$TOFU CHECKPOINT_DISABLE=1
export TOFU_BACKEND_S3_ENDPOINT=http://127.0.0.1:$PORT TOFU_BACKEND_S3_BUCKET=gf-state
export TOFU_BACKEND_S3_ACCESS_KEY=bench TOFU_BACKEND_S3_SECRET_KEY=bench-secret
unset TF_CLI_CONFIG_FILE

# Seed the states: every plan below refreshes 300 resources, as a real plan would.
"$GF" -C "$REPO" plan big --allow-empty-state >/dev/null
"$GF" -C "$REPO" apply big >/dev/null
"$GF" -C "$ALL" plan --all --allow-empty-state --jobs 4 >/dev/null
"$GF" -C "$ALL" apply --all >/dev/null

# The raw baseline works in its own copy of the stack, against the same backend and state.
RAW=$WORK/raw
cp -r "$REPO/stacks/big" "$RAW"
"$GF" -C "$REPO" backend big >"$WORK/big.tfbackend"


gf_times=() raw_times=()
for i in $(seq "$PAIRS"); do
  t0=$(now)
  "$GF" -C "$REPO" plan big >/dev/null 2>&1
  t1=$(now)
  (cd "$RAW" && AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret \
    "$TOFU" init -reconfigure -input=false -backend-config="$WORK/big.tfbackend" >/dev/null &&
    AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret \
    "$TOFU" plan -input=false -out=plan.tfplan >/dev/null)
  t2=$(now)
  gf_times+=("$(python3 -c "print($t1-$t0)")")
  raw_times+=("$(python3 -c "print($t2-$t1)")")
  echo "pair $i: gf plan $(printf %.3f "${gf_times[-1]}") s, raw init+plan $(printf %.3f "${raw_times[-1]}") s" >&2
done
g=$(median "${gf_times[@]}")
r=$(median "${raw_times[@]}")
echo "gf plan (300 resources): median ${g} s; raw init -reconfigure + plan -out: median ${r} s; ratio $(python3 -c "print('%.2f' % ($g/$r))"), paired $(paired_ratio "${gf_times[*]}" "${raw_times[*]}") (target <= 1.10)"

j1=() j4=()
for i in $(seq "$RUNS"); do
  t0=$(now)
  "$GF" -C "$ALL" plan --all --jobs 1 >/dev/null 2>&1
  t1=$(now)
  "$GF" -C "$ALL" plan --all --jobs 4 >/dev/null 2>&1
  t2=$(now)
  j1+=("$(python3 -c "print($t1-$t0)")")
  j4+=("$(python3 -c "print($t2-$t1)")")
  echo "run $i: --jobs 1 $(printf %.3f "${j1[-1]}") s, --jobs 4 $(printf %.3f "${j4[-1]}") s" >&2
done
a=$(median "${j1[@]}")
b=$(median "${j4[@]}")
echo "plan of 4 stacks x 300 resources: --jobs 1 median ${a} s; --jobs 4 median ${b} s; ratio $(python3 -c "print('%.2f' % ($b/$a))") (target <= 0.6)"
if [ -n "${GF_BASE_BIN:-}" ]; then
  base=() this=()
  for i in $(seq "$PAIRS"); do
    t0=$(now)
    "$GF_BASE_BIN" -C "$REPO" plan big >/dev/null 2>&1
    t1=$(now)
    "$GF" -C "$REPO" plan big >/dev/null 2>&1
    t2=$(now)
    base+=("$(python3 -c "print($t1-$t0)")")
    this+=("$(python3 -c "print($t2-$t1)")")
    echo "pair $i: base $(printf %.3f "${base[-1]}") s, this $(printf %.3f "${this[-1]}") s" >&2
  done
  x=$(median "${base[@]}")
  y=$(median "${this[@]}")
  echo "gf plan (300 resources), this build vs GF_BASE_BIN: median ${y} s vs ${x} s; ratio $(python3 -c "print('%.3f' % ($y/$x))"), paired $(paired_ratio "${this[*]}" "${base[*]}") (target <= 1.05)"
fi
echo "machine: $(nproc) cores, $("$TOFU" version | head -n1)"

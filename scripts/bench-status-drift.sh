#!/usr/bin/env bash
# Benchmark of `gf status` and `gf drift` (issue 13), not a test. Against moto on a loopback port,
# four independent stacks of RESOURCES (default 100) terraform_data resources each, applied first:
#  1. `gf status --all` vs four sequential `gf state <stack>` calls, interleaved in the same run
#     (median of RUNS, default 7; target ratio <= 0.5);
#     The same again through a loopback proxy that holds every response of moto for LATENCY_MS
#     (default 10; 0 skips it): an S3 endpoint a network away, as the cluster's RustFS is.
#  2. `gf drift --all --jobs 4` vs the sum of the four single `gf drift <stack>` runs, interleaved
#     (median of DRIFTS, default 3).
# Uses the release build (or GF_BIN); the tofu binary is GF_TOFU, else tofu, else terraform on PATH.
# Needs python3 (moto, and the medians) and curl; no other tool.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-7}
DRIFTS=${DRIFTS:-3}
RESOURCES=${RESOURCES:-100}
LATENCY_MS=${LATENCY_MS:-10}
STACKS="s1 s2 s3 s4"

. scripts/bench-lib.sh
bench_tools
bench_gf
PORT=$(free_port)
start_moto "$PORT"

REPO=$WORK/repo
mkdir -p "$REPO/stacks"
cp tests/fixtures/lifecycle/contract.json "$REPO/stacks/"
for s in $STACKS; do
  d=$REPO/stacks/$s
  mkdir -p "$d"
  cat >"$d/stack.json" <<JSON
{ "name": "$s", "purpose": "benchmark", "namespaces": ["$s"], "optional_namespaces": [],
  "depends_on": [], "state_keys": { "dev": "bench/$s/terraform.tfstate" },
  "apply": "automated", "requires_cache": false }
JSON
  cat >"$d/main.tf" <<HCL
terraform {
  backend "s3" {}
}

resource "terraform_data" "item" {
  count = $RESOURCES
  input = "item-\${count.index}"
}

output "items" {
  value = length(terraform_data.item)
}
HCL
done

export KUBE_CONTEXT=honey GF_TOFU=$TOFU CHECKPOINT_DISABLE=1
export TOFU_BACKEND_S3_ENDPOINT=http://127.0.0.1:$PORT TOFU_BACKEND_S3_BUCKET=gf-state
export TOFU_BACKEND_S3_ACCESS_KEY=bench TOFU_BACKEND_S3_SECRET_KEY=bench-secret
unset TF_CLI_CONFIG_FILE

"$GF" -C "$REPO" plan --all --allow-empty-state --jobs 4 >/dev/null 2>&1
"$GF" -C "$REPO" apply --all >/dev/null 2>&1
# One drift first: every stack initialized, so neither side pays for an init below.
"$GF" -C "$REPO" drift --all --jobs 4 >"$WORK/first-drift.log" 2>&1 || { cat "$WORK/first-drift.log" >&2; exit 1; }

ratio() { python3 -c "print('%.2f' % ($1/$2))"; }

# status vs state against the endpoint $1 (label $2).
status_vs_state() {
  local status_t=() state_t=() t0 t1 t2 a b
  for i in $(seq "$RUNS"); do
    t0=$(now)
    TOFU_BACKEND_S3_ENDPOINT=$1 "$GF" -C "$REPO" status --all >/dev/null 2>&1
    t1=$(now)
    for s in $STACKS; do TOFU_BACKEND_S3_ENDPOINT=$1 "$GF" -C "$REPO" state "$s" >/dev/null 2>&1; done
    t2=$(now)
    status_t+=("$(python3 -c "print($t1-$t0)")")
    state_t+=("$(python3 -c "print($t2-$t1)")")
    echo "$2 run $i: status --all $(printf %.3f "${status_t[-1]}") s, 4 x state $(printf %.3f "${state_t[-1]}") s" >&2
  done
  a=$(median "${status_t[@]}")
  b=$(median "${state_t[@]}")
  echo "gf status --all (4 stacks, $2): median ${a} s; 4 sequential gf state: median ${b} s; ratio $(ratio "$a" "$b") (target <= 0.5)"
}
status_vs_state "$TOFU_BACKEND_S3_ENDPOINT" "moto"

if [ "$LATENCY_MS" != 0 ]; then
  PROXY=$(free_port)
  cat >"$WORK/proxy.py" <<'PY'
# A TCP proxy that holds each chunk moto sends back for LATENCY seconds (requests pass at once).
import asyncio, sys
LISTEN, UP, LATENCY = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]) / 1000

async def pipe(r, w, delay):
    try:
        while data := await r.read(1 << 20):
            if delay:
                await asyncio.sleep(delay)
            w.write(data)
            await w.drain()
    except ConnectionError:
        pass
    finally:
        w.close()

async def handle(cr, cw):
    ur, uw = await asyncio.open_connection("127.0.0.1", UP)
    await asyncio.gather(pipe(cr, uw, 0), pipe(ur, cw, LATENCY))

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", LISTEN, backlog=1024)
    async with server:
        await server.serve_forever()

asyncio.run(main())
PY
  python3 "$WORK/proxy.py" "$PROXY" "$PORT" "$LATENCY_MS" >"$WORK/proxy.log" 2>&1 &
  BENCH_PIDS+=("$!")
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PROXY" && break; sleep 0.1; done
  status_vs_state "http://127.0.0.1:$PROXY" "moto + ${LATENCY_MS} ms"
fi

all_t=() sum_t=()
for i in $(seq "$DRIFTS"); do
  t0=$(now)
  "$GF" -C "$REPO" drift --all --jobs 4 >/dev/null 2>&1
  t1=$(now)
  for s in $STACKS; do "$GF" -C "$REPO" drift "$s" >/dev/null 2>&1; done
  t2=$(now)
  all_t+=("$(python3 -c "print($t1-$t0)")")
  sum_t+=("$(python3 -c "print($t2-$t1)")")
  echo "run $i: drift --all --jobs 4 $(printf %.3f "${all_t[-1]}") s, sum of 4 single drifts $(printf %.3f "${sum_t[-1]}") s" >&2
done
a=$(median "${all_t[@]}")
b=$(median "${sum_t[@]}")
echo "gf drift --all --jobs 4 (4 x $RESOURCES resources): median ${a} s; sum of the 4 single drifts: median ${b} s; ratio $(ratio "$a" "$b")"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $("$TOFU" version | head -n1)"

# Shared by the benchmark scripts (sourced, never run): the tools they need, a scratch folder,
# moto on a loopback port, and the figures' arithmetic. Needs python3 and curl; no other tool.

# TOFU: GF_TOFU, else tofu, else terraform on PATH. Also checks moto is importable.
bench_tools() {
  TOFU=${GF_TOFU:-$(command -v tofu || command -v terraform || true)}
  [ -n "$TOFU" ] || { echo "no tofu or terraform on PATH; set GF_TOFU" >&2; exit 1; }
  python3 -c 'import moto.server' 2>/dev/null || { echo "moto is missing: pip install 'moto[server]'" >&2; exit 1; }
}

# GF: GF_BIN, else this checkout's release build (built here).
bench_gf() {
  if [ -n "${GF_BIN:-}" ]; then GF=$GF_BIN; else cargo build --release -q; GF=$PWD/target/release/gf; fi
}

# WORK: a scratch folder; it and every process in BENCH_PIDS go when the script exits.
BENCH_PIDS=()
WORK=$(mktemp -d)
trap 'for p in "${BENCH_PIDS[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$WORK"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# moto accepts any signature; a request without one is refused on some routes.
S3_AUTH='Authorization: AWS4-HMAC-SHA256 Credential=bench/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0'

# start_moto PORT: moto on 127.0.0.1:PORT with the bucket `gf-state`, ready when it returns.
start_moto() {
  python3 -m moto.server -H 127.0.0.1 -p "$1" >"$WORK/moto.log" 2>&1 &
  BENCH_PIDS+=("$!")
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$1" && break; sleep 0.1; done
  curl -s -H "$S3_AUTH" -X PUT "http://127.0.0.1:$1/gf-state" >/dev/null
}

now() { date +%s.%N; }
median() { python3 -c 'import sys,statistics; print("%.3f" % statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
# paired_ratio "A1 A2 …" "B1 B2 …": the median of the per-pair ratios A_i/B_i (a load that drifts
# during the run moves both halves of a pair, so this holds better than the ratio of medians).
paired_ratio() { python3 -c 'import sys,statistics; a=sys.argv[1].split(); b=sys.argv[2].split(); print("%.3f" % statistics.median(float(x)/float(y) for x,y in zip(a,b)))' "$1" "$2"; }

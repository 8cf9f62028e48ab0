#!/usr/bin/env bash
# Benchmark of `gf cache check` (issue 4), figures for the README. Release build, one real
# Nix-made binary cache served by Python's http.server on loopback, and in the same run:
#   1. 200 paths:   gf vs `nix path-info --store http://…` with a cold Nix cache  (target ratio <= 0.05)
#   2. 2,000 paths: gf vs a plain 32-way parallel fetch of the same narinfos     (target ratio <= 1.5)
#   3. 10,000 paths: gf's peak memory (`/usr/bin/time -v`)                       (target < 100 MB)
# The cache (kept in target/bench-cache, reused by later runs): 1,000 input-addressed derivation
# outputs (builder /bin/sh, in chains of 10 that reference their predecessor) from one `nix-build`,
# plus 9,000 `builtins.toFile` text paths, all copied with `nix copy --to file://…?secret-key=…`
# (Debian's Nix 2.8): every narinfo is real and signed by a real `nix-store` key.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '==> %s\n' "$*" >&2; }
need() { printf 'bench setup: %s\n' "$*" >&2; exit 1; }
command -v nix-build >/dev/null || need "nix-build not found: install Debian's nix-bin (apt-get install -y nix-bin)"
[ -x /usr/bin/time ] || need "/usr/bin/time not found: install GNU time (apt-get install -y time)"

W=${BENCH_DIR:-target/bench-cache}
mkdir -p "$W"
W=$(cd "$W" && pwd)
NIX=(nix --extra-experimental-features nix-command --option substituters '')

say "cargo build --release"
cargo build --release --locked -q
GF=$PWD/target/release/gf

if [ ! -f "$W/done" ]; then
  rm -rf "$W/cache" "$W/sk" "$W/pk"
  nix-store --generate-binary-cache-key gf-bench-1 "$W/sk" "$W/pk"
  say "building 1,000 derivation outputs (one nix-build)"
  nix-build --option substituters '' --no-out-link -j 2 -E '
    let
      mk = i: derivation {
        name = "gf-bench-drv-${toString i}";
        system = builtins.currentSystem;
        builder = "/bin/sh";
        args = [ "-c" (if i - (i / 10) * 10 == 0
                       then "echo ${toString i} > $out"
                       else "echo ${toString i} ${mk (i - 1)} > $out") ];
      };
    in builtins.genList mk 1000' 2>/dev/null >"$W/drv.txt"
  say "adding 9,000 builtins.toFile paths"
  nix-instantiate --read-write-mode --eval --strict --json -E \
    'builtins.genList (i: builtins.toFile "gf-bench-text-${toString i}" "text ${toString i}\n") 9000' 2>/dev/null |
    python3 -c 'import json, sys; print("\n".join(json.load(sys.stdin)))' >"$W/text.txt"
  cat "$W/drv.txt" "$W/text.txt" >"$W/all.txt"
  say "nix copy of 10,000 paths to a signed file:// cache"
  xargs -a "$W/all.txt" "${NIX[@]}" copy --to "file://$W/cache?secret-key=$W/sk&compression=none" 2>/dev/null
  touch "$W/done"
fi
[ "$(wc -l <"$W/all.txt")" -eq 10000 ] || need "expected 10,000 paths in $W/all.txt"
head -n 200 "$W/drv.txt" >"$W/p200.txt"
{ cat "$W/drv.txt"; head -n 1000 "$W/text.txt"; } >"$W/p2000.txt"
KEY=$(cat "$W/pk")

mkdir -p "$W/srv"
ln -sfn "$W/cache" "$W/srv/main"

# The server: Python's threaded http.server core, HTTP/1.1 keep-alive, listen backlog 1024, in
# one of two write modes (the figures differ by an order of magnitude between them):
#   one-write   status line, headers and body in one send, as hyper (Attic's server) and nginx do;
#   two-writes  headers, then body, as Python's SimpleHTTPRequestHandler does: with Nagle on the
#               server and delayed ACKs on the client, a reused connection waits ~40 ms per
#               request. This reproduces FACTS' baselines (`nix path-info` ~45 ms/path); gf
#               re-arms TCP_QUICKACK on its sockets (src/cache/net.rs), so it does not wait.
cat >"$W/server.py" <<'PY'
import http.server, os, sys
PORT, MODE, ROOT = int(sys.argv[1]), sys.argv[2], sys.argv[3]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_HEAD(self): self.do_GET(head_only=True)
    def do_GET(self, head_only=False):
        p = os.path.normpath(os.path.join(ROOT, self.path.lstrip("/")))
        try:
            with open(p, "rb") as f: body, code = f.read(), 200
        except OSError:
            body, code = b"not found\n", 404
        head = f"HTTP/1.1 {code} X\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        if head_only: self.wfile.write(head)
        elif MODE == "one-write": self.wfile.write(head + body)
        else: self.wfile.write(head); self.wfile.write(body)
class S(http.server.ThreadingHTTPServer):
    request_queue_size = 1024
    daemon_threads = True
S(("127.0.0.1", PORT), H).serve_forever()
PY
SERVER=
trap '[ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true' EXIT
serve() {
  [ -n "$SERVER" ] && { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; }
  PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  python3 "$W/server.py" "$PORT" "$1" "$W/srv" &
  SERVER=$!
  URL=http://127.0.0.1:$PORT
  for _ in $(seq 50); do curl -sf "$URL/main/nix-cache-info" >/dev/null && return; sleep 0.1; done
  need "the benchmark server did not start"
}

ms() { # ms CMD...: wall time in milliseconds; the command must succeed
  local s e
  s=$(date +%s%N)
  "$@" >/dev/null 2>"$W/last.err" || { cat "$W/last.err" >&2; need "failed: $*"; }
  e=$(date +%s%N)
  echo $(((e - s) / 1000000))
}
median3() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
gf_check() { "$GF" cache check --endpoint "$URL" --cache main --trusted-key "$KEY" --paths "$1"; }
fetch32() { # the plain 32-way parallel fetch: a thread pool, one urllib request per narinfo
  python3 - "$URL/main" "$1" <<'PY'
import concurrent.futures, sys, urllib.request
base, hashes = sys.argv[1], [l.strip()[11:43] for l in open(sys.argv[2]) if l.strip()]
def get(h):
    with urllib.request.urlopen(f"{base}/{h}.narinfo", timeout=10) as r:
        return len(r.read())
with concurrent.futures.ThreadPoolExecutor(32) as ex:
    assert all(n > 0 for n in ex.map(get, hashes))
PY
}
nix_path_info() { # cold: a fresh narinfo disk cache every time
  local cold
  cold=$(mktemp -d)
  XDG_CACHE_HOME=$cold "${NIX[@]}" path-info --store "$URL/main" $(cat "$1")
  rm -rf "$cold"
}
ratio() { python3 -c "print(f'{$1 / $2:.3f}')"; }
verdict() { python3 -c "print('ok' if $1 else 'missed')"; }

echo "| server mode | measurement (same cache, same run) | gf | baseline | ratio | target |"
echo "|---|---|---|---|---|---|"
for mode in one-write two-writes; do
  serve "$mode"
  say "$mode: 200 paths, gf vs nix path-info (cold)"
  g200=$(median3 "$(ms gf_check "$W/p200.txt")" "$(ms gf_check "$W/p200.txt")" "$(ms gf_check "$W/p200.txt")")
  n200=$(ms nix_path_info "$W/p200.txt")
  say "$mode: 2,000 paths, gf vs 32-way parallel fetch"
  g2k=$(median3 "$(ms gf_check "$W/p2000.txt")" "$(ms gf_check "$W/p2000.txt")" "$(ms gf_check "$W/p2000.txt")")
  f2k=$(median3 "$(ms fetch32 "$W/p2000.txt")" "$(ms fetch32 "$W/p2000.txt")" "$(ms fetch32 "$W/p2000.txt")")
  say "$mode: 10,000 paths, peak memory"
  /usr/bin/time -v "$GF" cache check --endpoint "$URL" --cache main --trusted-key "$KEY" --paths "$W/all.txt" \
    >"$W/10k.out" 2>"$W/10k.time" || { cat "$W/10k.time" >&2; need "gf failed on 10,000 paths"; }
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$W/10k.time")
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$W/10k.time")
  r1=$(ratio "$g200" "$n200")
  r2=$(ratio "$g2k" "$f2k")
  mb=$(python3 -c "print(f'{$rss / 1024:.1f}')")
  echo "| $mode | 200 paths vs \`nix path-info\` (cold) | ${g200} ms | ${n200} ms | ${r1} | <= 0.05: $(verdict "$r1 <= 0.05") |"
  echo "| $mode | 2,000 paths vs 32-way parallel fetch | ${g2k} ms | ${f2k} ms | ${r2} | <= 1.5: $(verdict "$r2 <= 1.5") |"
  echo "| $mode | 10,000 paths, peak RSS (wall ${wall}) | ${mb} MB | | | < 100 MB: $(verdict "$mb < 100") |"
done

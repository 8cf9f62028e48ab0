#!/usr/bin/env bash
# Benchmark of `gf affected` (issue 14), not a test. A generated repository of STACKS (default
# 1,000) stacks with nested local modules, cloned once (packed, as a CI checkout is), then for
# each of three changes — a module of a module used by a tenth of the stacks, one stack's file,
# `flake.lock` (every stack) — `gf affected --base HEAD~1 --json` against `git diff --name-only
# HEAD~1 HEAD` alone, interleaved in the same run: median wall time of RUNS (default 11), the ratio
# of the medians, gf's CPU time (user + system, its git children included: what a busy machine
# cannot inflate) and its peak RSS (targets: under 200 ms, under 50 MB).
# Uses the release build (or GF_BIN); needs git and python3 only.
set -euo pipefail
cd "$(dirname "$0")/.."
STACKS=${STACKS:-1000}
RUNS=${RUNS:-11}

if [ -n "${GF_BIN:-}" ]; then GF=$GF_BIN; else cargo build --release -q --locked; GF=$PWD/target/release/gf; fi
WORK=$(mktemp -d)
if [ -n "${KEEP:-}" ]; then echo "keeping $WORK" >&2; else trap 'rm -rf "$WORK"' EXIT; fi
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.invalid
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.invalid

# The repository: STACKS stacks, each calling its family's module `stacks/modules/fam<k>` (100
# families) and `stacks/modules/common`; each family module calls `./inner`, which calls `./leaf`
# and `../../common` (a module of a module of a module, and shared folders reached many ways).
python3 - "$WORK/src" "$STACKS" "$PWD/tests/fixtures/lifecycle/contract.json" <<'EOF'
import json, os, shutil, sys
root, n, contract = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def write(rel, text):
    p = os.path.join(root, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "w") as f:
        f.write(text)
os.makedirs(os.path.join(root, "stacks"))
shutil.copy(contract, os.path.join(root, "stacks/contract.json"))
write("flake.lock", '{ "nodes": { "root": {} }, "root": "root", "version": 7 }\n')
write("README.md", "# benchmark repository\n")
write("stacks/modules/common/main.tf", 'variable "name" {\n  type = string\n}\n\noutput "labels" {\n  value = { app = var.name }\n}\n')
families = 100
for k in range(families):
    write(f"stacks/modules/fam{k}/main.tf", f'module "inner" {{\n  source = "./inner"\n  name   = "fam{k}"\n}}\n\nvariable "name" {{\n  type = string\n}}\n')
    write(f"stacks/modules/fam{k}/inner/main.tf", 'module "leaf" {\n  source = "./leaf"\n}\n\nmodule "common" {\n  source = "../../common"\n  name   = var.name\n}\n\nvariable "name" {\n  type = string\n}\n')
    write(f"stacks/modules/fam{k}/inner/leaf/main.tf", 'output "size" {\n  value = 3\n}\n')
for i in range(n):
    s = f"s{i:04d}"
    deps = [f"s{(i - 1) // 2:04d}"] if i else []
    write(f"stacks/{s}/stack.json", json.dumps({
        "name": s, "purpose": "benchmark", "namespaces": [s], "optional_namespaces": [],
        "depends_on": deps, "state_keys": {"dev": f"bench/{s}/terraform.tfstate"},
        "apply": "operator", "requires_cache": False}, indent=2) + "\n")
    write(f"stacks/{s}/versions.tf", 'terraform {\n  required_version = ">= 1.10.0"\n\n  backend "s3" {}\n}\n')
    write(f"stacks/{s}/main.tf", f'module "family" {{\n  source = "../modules/fam{i % families}"\n  name   = "{s}"\n}}\n\nmodule "common" {{\n  source = "../modules/common"\n  name   = "{s}"\n}}\n\nresource "terraform_data" "marker" {{\n  input = "{s}"\n}}\n')
EOF
git -C "$WORK/src" init -q -b main
git -C "$WORK/src" add -A
git -C "$WORK/src" commit -q -m "generated: $STACKS stacks"
change() { # change <message> <file> : append a line to <file> and commit it
  echo "# $1" >>"$WORK/src/$2"
  git -C "$WORK/src" commit -q -am "$1"
}
change "leaf module" stacks/modules/fam7/inner/leaf/main.tf
change "one stack" stacks/s0500/main.tf
change "pins" flake.lock
git clone -q --no-local "$WORK/src" "$WORK/repo"
REPO=$WORK/repo

python3 - "$GF" "$REPO" "$RUNS" "$STACKS" <<'EOF'
import json, os, shutil, statistics, subprocess, sys, time
gf, repo, runs, stacks = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

def run(argv):
    """Wall seconds and peak RSS (MB) of one process, its output discarded. The peak is an upper
    bound: a spawned child starts as a copy of this Python (about 14 MB) until it execs."""
    t0 = time.perf_counter()
    pid = os.posix_spawn(argv[0] if "/" in argv[0] else shutil.which(argv[0]), argv, os.environ,
                         file_actions=[(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                                       (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)])
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{argv} failed")
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime

def peak_of(argv):
    """gf's own peak RSS (MB) from GNU time, whose own footprint is a few MB; else None."""
    if not os.path.exists("/usr/bin/time"):
        return None
    r = subprocess.run(["/usr/bin/time", "-f", "%M", *argv], capture_output=True, text=True, check=True)
    return int(r.stderr.strip().splitlines()[-1]) / 1024

print(f"gf affected, {stacks} stacks, {os.cpu_count()} cores, {runs} runs each (median)")
print(f"{'change (HEAD~1..HEAD)':34} {'affected':>8} {'gf ms':>8} {'gf cpu ms':>10} {'git diff ms':>12} {'ratio':>7} {'gf peak MB':>11}")
if not os.path.exists("/usr/bin/time"):
    print("(no /usr/bin/time: peaks are upper bounds, the spawning Python's size included)")
for label, rev in [("module of a module (fam7 leaf)", "HEAD~2"), ("one stack file (s0500)", "HEAD~1"), ("flake.lock (every stack)", "HEAD")]:
    gf_argv = [gf, "-C", repo, "affected", "--base", f"{rev}~1", "--head", rev, "--json"]
    git_argv = ["git", "-C", repo, "diff", "--name-only", f"{rev}~1", rev]
    out = subprocess.run(gf_argv, cwd=repo, check=True, capture_output=True).stdout  # warm-up, and the answer
    run(git_argv)
    g, d, cpu, peak = [], [], [], 0.0
    for _ in range(runs):
        w, rss, c = run(gf_argv); g.append(w); cpu.append(c); peak = max(peak, rss)
        w, _, _ = run(git_argv); d.append(w)
    n = len(json.loads(out)["stacks"])
    own = [peak_of(gf_argv) for _ in range(3)]
    if own[0] is not None:
        peak = max(own)
    gm, dm = statistics.median(g), statistics.median(d)
    cm = statistics.median(cpu)
    print(f"{label:34} {n:8d} {gm * 1000:8.1f} {cm * 1000:10.1f} {dm * 1000:12.1f} {gm / dm:7.1f} {peak:11.1f}")
EOF

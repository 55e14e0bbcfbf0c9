"""Warm nightly run, this tree beside an earlier commit, interleaved in one run.

    .venv/bin/python bench/bench_warm.py --before REV [--schools 1000] [--repeat 5]
        [--workdir /tmp/roadmap-bench]

The municipality is bench_folder.py's (generated there and cached in --workdir). One cold run
(this tree) fills the history; then warm runs (every school unchanged: nothing read, nothing
written back, the master rewritten) alternate between the commit REV (exported with `git
archive` into a temporary folder) and this tree, each in a fresh process timing only
`sync.pipeline.run` (imports of sync.pipeline excluded; what `run` imports itself is counted).
Prints the machine, median and every run's seconds, the median CPU seconds of the run (the
figure to trust on a shared machine) and of the processes it forks (the helper of
sync.prepare, which checks the unchanged schools ahead of the loop, and the master writer's copy
that makes the longest sheet's rows: both on the second core), the run's peak RSS and the ratio.
`--profile FILE` instead runs one warm run of this tree under cProfile and saves the stats.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path
from typing import Any

from machine import machine_lines

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

CHILD = """
import json, resource, sys, time
from sync.config import load_config
from sync.demo import DEMO_TODAY
from sync.pipeline import run
config = load_config(sys.argv[1])
start, cpu = time.perf_counter(), time.process_time()
result = run(config, today=DEMO_TODAY)
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
hwm = 0.0
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        hwm = int(line.split()[1]) / 1024
# The processes the run forks and reaps (sync.prepare's helper, the writer's copy): their CPU.
kids = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"seconds": seconds, "cpu": cpu, "peak_mb": hwm, "counts": result.counts,
                  "helper_cpu": kids.ru_utime + kids.ru_stime}))
"""

PROFILE = """
import cProfile, sys
from sync.config import load_config
from sync.demo import DEMO_TODAY
from sync.pipeline import run
config = load_config(sys.argv[1])
cProfile.run("run(config, today=DEMO_TODAY)", sys.argv[2])
"""


def child(tree: Path, config: Path, code: str = CHILD, *extra: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", code, str(config), *extra],
        capture_output=True,
        text=True,
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"run failed in {tree}:\n{done.stderr}")
    lines = done.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else {}


def export(rev: str, into: Path) -> Path:
    """The tree of commit `rev` (sync/, templates/, config/, macros/) in a folder."""
    data = subprocess.run(
        ["git", "archive", "--format=tar", rev, "sync", "templates", "config", "macros"],
        capture_output=True,
        cwd=ROOT,
        check=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    return into


def short_rev(rev: str) -> str:
    """A commit's short hash, as the tables name the codes compared."""
    return subprocess.run(
        ["git", "rev-parse", "--short", rev], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--before", default="HEAD~1", help="the commit to compare with")
    parser.add_argument("--schools", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/roadmap-bench"))
    parser.add_argument("--profile", type=Path, help="cProfile one warm run into this file")
    args = parser.parse_args()

    from bench_folder import generate  # the same cached municipality as bench_folder.py

    args.workdir.mkdir(parents=True, exist_ok=True)
    source, _info = generate(args.workdir, args.schools, 30)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        run_dir.mkdir()
        for name in ("config.toml", "plan.tsv"):
            shutil.copyfile(source / name, run_dir / name)
        shutil.copytree(source / "schools", run_dir / "schools")
        config = run_dir / "config.toml"
        start = time.perf_counter()
        cold = child(ROOT, config)
        cold_s = time.perf_counter() - start
        if args.profile:
            child(ROOT, config, PROFILE, str(args.profile.resolve()))
            print(f"profile of one warm run: {args.profile}")
            return
        before_tree = export(args.before, Path(tmp) / "before")
        short, head = short_rev(args.before), short_rev("HEAD")
        # Each code gets its own copy of the municipality after the cold run, and one unmeasured
        # warm run there: the state a run leaves (the master, its history) is that code's own.
        trees = {"before": before_tree, "after": ROOT}
        configs = {}
        for key, tree in trees.items():
            own = Path(tmp) / f"run-{key}"
            shutil.copytree(run_dir, own)
            configs[key] = own / "config.toml"
            child(tree, configs[key])
        runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
        for r in range(args.repeat):
            for key, tree in trees.items():
                print(f"  run {r + 1}/{args.repeat}: {key}", file=sys.stderr, flush=True)
                runs[key].append(child(tree, configs[key]))
    lines = [f"## Warm run at {args.schools} schools: {short} (before) and {head} (after)", ""]
    lines += machine_lines(["XlsxWriter", "python-calamine"])
    lines += [
        f"- cold run first (this tree): {cold_s:.1f} s, {cold.get('counts')}",
        "- each code on its own copy of the municipality after the cold run, one warm run"
        " there unmeasured, then",
        f"- {args.repeat} warm runs each, interleaved before/after; every school unchanged",
        "",
        "| code | median s | runs s | median CPU s | forked CPU s | peak RSS MB |",
        "|---|---:|---|---:|---:|---:|",
    ]
    med = {}
    for key, label in (("before", f"before ({short})"), ("after", f"after ({head})")):
        seconds = [x["seconds"] for x in runs[key]]
        med[key] = statistics.median(seconds)
        lines.append(
            f"| {label} | {med[key]:.2f} | {' / '.join(f'{s:.2f}' for s in seconds)} |"
            f" {statistics.median(x['cpu'] for x in runs[key]):.2f} |"
            f" {statistics.median(x.get('helper_cpu', 0.0) for x in runs[key]):.2f} |"
            f" {max(x['peak_mb'] for x in runs[key]):.0f} |"
        )
    lines += ["", f"after / before: {med['after'] / med['before']:.2f}"]
    print("\n".join(lines))


if __name__ == "__main__":
    main()

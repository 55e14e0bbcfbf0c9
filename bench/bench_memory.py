"""Whole-process memory and time of `roadmap-sync run` as the municipality grows, this tree
beside an earlier commit.

    .venv/bin/python bench/bench_memory.py --before REV [--schools 1000 3000] [--repeat 3]
        [--workdir /tmp/roadmap-bench]

For each size, the municipality is bench_folder.py's (generated there and cached in --workdir).
Each code gets its own copy: one cold run (every school read, checked, written back, the master
written), one unmeasured warm run, then warm runs (every school unchanged) in turn, before and
after. Every figure is the operating system's account of one finished `python -m sync.cli run
-q` process (os.wait4: peak resident memory, user + system CPU), imports included, as
`/usr/bin/time -v` reports them. The last table gives the growth per school between the
smallest and the largest size: flat memory is a small number there.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from machine import machine_lines

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))


def measured(tree: Path, config: Path, today: str) -> dict[str, float]:
    """One `sync.cli run -q` in a fresh process: wall, CPU seconds and peak RSS (MB)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sync.cli", "run", "-q", "--today", today, "--config", str(config)],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 3):  # 3: some generated workbooks are unreadable on purpose
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        raise SystemExit(f"run failed in {tree} ({proc.returncode}):\n{err}")
    if proc.stderr:
        proc.stderr.close()
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "peak_mb": usage.ru_maxrss / 1024,  # kilobytes on Linux
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--before", default="HEAD~1", help="the commit to compare with")
    parser.add_argument("--schools", type=int, nargs="+", default=[1000, 3000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/roadmap-bench"))
    args = parser.parse_args()

    from bench_folder import generate  # the same cached municipality as bench_folder.py
    from bench_warm import export, short_rev

    from sync.demo import DEMO_TODAY

    today = DEMO_TODAY.isoformat()
    short, head = short_rev(args.before), short_rev("HEAD")
    labels = {"before": f"before ({short})", "after": f"after ({head})"}
    args.workdir.mkdir(parents=True, exist_ok=True)
    results: dict[tuple[int, str], dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"before": export(args.before, Path(tmp) / "before"), "after": ROOT}
        for n in args.schools:
            source, _info = generate(args.workdir, n, 30)
            configs = {}
            for key, tree in trees.items():
                own = Path(tmp) / f"run-{n}-{key}"
                own.mkdir()
                for name in ("config.toml", "plan.tsv"):
                    shutil.copyfile(source / name, own / name)
                shutil.copytree(source / "schools", own / "schools")
                configs[key] = own / "config.toml"
                print(f"  {n} schools: cold run, {key}", file=sys.stderr, flush=True)
                cold = measured(tree, configs[key], today)
                measured(tree, configs[key], today)  # the first warm run, not counted
                results[(n, key)] = {"cold": cold, "warm": []}
            for r in range(args.repeat):
                for key, tree in trees.items():
                    print(f"  {n} schools: warm {r + 1}/{args.repeat}, {key}", file=sys.stderr)
                    results[(n, key)]["warm"].append(measured(tree, configs[key], today))

    lines = [f"## `roadmap-sync run -q` as a whole process: {short} (before), {head} (after)", ""]
    lines += machine_lines(["XlsxWriter", "python-calamine"])
    lines += [
        f"- each size: a cold run and one unmeasured warm run per code on its own copy, then"
        f" {args.repeat} warm runs each, in turn (every school unchanged); medians",
        "",
        "| schools | code | cold CPU s | cold peak MB | warm wall s | warm CPU s | warm peak MB |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for n in args.schools:
        for key in ("before", "after"):
            found = results[(n, key)]
            warm = found["warm"]
            lines.append(
                f"| {n} | {labels[key]} | {found['cold']['cpu']:.1f} |"
                f" {found['cold']['peak_mb']:.0f} |"
                f" {statistics.median(w['wall'] for w in warm):.2f} |"
                f" {statistics.median(w['cpu'] for w in warm):.2f} |"
                f" {statistics.median(w['peak_mb'] for w in warm):.0f} |"
            )
    own = 0.0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            own = int(line.split()[1]) / 1024
    lines += [
        "",
        f"Linux carries a parent's peak into its children's: this script's own was {own:.0f} MB,"
        " below every figure above, so they are the runs' own.",
    ]
    if len(args.schools) > 1:
        low, high = min(args.schools), max(args.schools)
        lines += [
            "",
            f"Growth from {low} to {high} schools (KB a school):",
            "",
            "| code | cold | warm |",
            "|---|---:|---:|",
        ]
        for key in ("before", "after"):
            a, b = results[(low, key)], results[(high, key)]
            cold = (b["cold"]["peak_mb"] - a["cold"]["peak_mb"]) * 1024 / (high - low)
            warm = (
                (
                    statistics.median(w["peak_mb"] for w in b["warm"])
                    - statistics.median(w["peak_mb"] for w in a["warm"])
                )
                * 1024
                / (high - low)
            )
            lines.append(f"| {labels[key]} | {cold:.1f} | {warm:.1f} |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

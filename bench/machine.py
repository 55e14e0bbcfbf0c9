"""The machine a benchmark ran on, as the header lines of its table (shared by the benchmarks)."""

from __future__ import annotations

import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path


def _first(path: str, prefix: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "?"


def machine_lines(packages: list[str]) -> list[str]:
    """CPU, cores, RAM, Python and platform, and the versions of the packages measured."""
    cpu = _first("/proc/cpuinfo", "model name") or platform.processor() or platform.machine()
    mem = _first("/proc/meminfo", "MemTotal")
    ram = f"{int(mem.split()[0]) / 1024 / 1024:.1f} GiB" if mem else "?"
    return [
        f"- CPU: {cpu}, {os.cpu_count()} logical cores; RAM: {ram}",
        f"- Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.platform()}",
        "- " + ", ".join(f"{p} {_version(p)}" for p in packages),
    ]

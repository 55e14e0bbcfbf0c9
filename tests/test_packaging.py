"""Install anywhere: the package carries its templates, macros and examples.

The real wheel is built and installed into a fresh virtualenv by scripts/wheel-check (CI runs it;
building needs setuptools from the package index). Here, offline: pyproject lists every package,
and a copy of the package laid out as the wheel lays it out (pyproject's package-dir mapping)
runs the demo from a folder that has nothing of the checkout in it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

from tests.fixtures import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]


def test_every_package_is_listed_and_every_mapped_folder_exists() -> None:
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "sync").rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    # Folders of data only (the web intake's templates and static files): setuptools treats them
    # as packages and prints a warning box at install unless they are listed.
    data_only = {
        ".".join(d.relative_to(ROOT).parts)
        for d in (ROOT / "sync").rglob("*")
        if d.is_dir()
        and "__pycache__" not in d.parts
        and not (d / "__init__.py").exists()
        and any(f.is_file() for f in d.iterdir())
    }
    mapped = SETUPTOOLS["package-dir"]
    assert set(SETUPTOOLS["packages"]) == found | set(mapped) | data_only
    for package in data_only:
        folder = ROOT.joinpath(*package.split("."))
        patterns = SETUPTOOLS["package-data"][package]
        assert {f.name for f in folder.iterdir() if f.is_file()} == {
            f.name for p in patterns for f in folder.glob(p)
        }, package
    for package, folder in mapped.items():
        assert (ROOT / folder).is_dir(), package
        patterns = SETUPTOOLS["package-data"][package]
        assert any(any((ROOT / folder).glob(p)) for p in patterns), package


def test_the_license_is_an_spdx_string() -> None:
    assert PYPROJECT["project"]["license"] == "MIT"  # a table prints deprecation boxes
    assert any(r.startswith("setuptools>=77") for r in PYPROJECT["build-system"]["requires"])


def installed_copy(site: Path) -> None:
    """sync/ and its mapped data folders as the wheel installs them."""
    shutil.copytree(ROOT / "sync", site / "sync", ignore=shutil.ignore_patterns("__pycache__"))
    for package, folder in SETUPTOOLS["package-dir"].items():
        target = site.joinpath(*package.split("."))
        target.mkdir(parents=True)
        for pattern in SETUPTOOLS["package-data"][package]:
            for f in (ROOT / folder).glob(pattern):
                shutil.copy2(f, target / f.name)


def test_the_installed_layout_runs_the_demo_outside_the_checkout(tmp_path: Path) -> None:
    site, elsewhere = tmp_path / "site", tmp_path / "elsewhere"
    installed_copy(site)
    elsewhere.mkdir()
    # The copy first; the dependencies from this virtualenv's site-packages.
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), sysconfig.get_paths()["purelib"]]),
    }
    code = (
        "import sys; from sync import resources, spec;"
        "print(resources.resource_dir('templates')); print(spec.DEFAULT_TEMPLATE);"
        "from sync.cli import main; sys.argv = ['roadmap-sync', 'demo', '--schools', '2', '-q'];"
        "main()"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    templates, default = done.stdout.splitlines()[:2]
    assert Path(templates) == site / "sync" / "templates"
    assert Path(default).is_relative_to(site)
    assert (elsewhere / "demo" / "master" / "Свод.xlsx").is_file()
    assert (elsewhere / "demo" / "config.toml").is_file()


def test_the_readme_user_steps_are_the_ones_that_work() -> None:
    import re

    from sync.cli import main

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    user = readme.split("## Быстрый старт")[1].split("## Architecture")[0]
    blocks = re.findall(r"```bash\n(.*?)```", user, flags=re.S)
    lines = [line.split("#")[0].strip() for block in blocks for line in block.splitlines()]
    assert ".venv/bin/pip install ." in lines  # a real install, not an editable one
    assert "source .venv/bin/activate" in lines  # bare `roadmap-sync` below needs it
    assert lines.index("source .venv/bin/activate") < min(
        i for i, line in enumerate(lines) if line.startswith("roadmap-sync ")
    )
    for line in lines:
        if line.startswith("roadmap-sync "):
            assert line.split()[1] in main.commands, line
    assert "install -e" not in user

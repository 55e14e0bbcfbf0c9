"""Where the data files beside the code are: in a checkout, or inside an installed wheel.

In the checkout templates/, macros/ and config/ sit beside the package; `pip install .` and the
wheel carry them inside it as sync/templates, sync/macros and sync/examples (pyproject.toml maps
them), so `roadmap-sync demo` works from any folder after a plain install.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
INSTALLED_AS = {"templates": "templates", "macros": "macros", "config": "examples"}


def resource_dir(name: str) -> Path:
    """The folder `name` ("templates", "macros" or "config") of this installation."""
    installed = PACKAGE / INSTALLED_AS[name]
    return installed if installed.is_dir() else PACKAGE.parent / name

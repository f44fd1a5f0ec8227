"""Check the import contracts of ``pyproject.toml`` (DESIGN.md's direction) with import-linter.

import-linter finds a package's modules by walking its folder, but ``rendering/``, ``models/``
and ``gui/`` are folders of their own mapped into ``sleepvit`` (``package-dir``), so in the
source tree it would see neither ``sleepvit.models`` nor ``sleepvit.rendering``. This copies
every module into one ``sleepvit/`` folder, as the wheel installs them, and lints that copy in
a fresh interpreter (so the checkout's own ``sleepvit`` on ``sys.path`` cannot stand in).

    python tests/import_contracts.py      # `make lint` runs this; exit code 1: a contract broke
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINT = "import sys; from importlinter.cli import lint_imports_command; lint_imports_command()"


def installed_layout(repo: Path, target: Path) -> Path:
    """Copy the modules of every package in ``pyproject.toml`` to where the wheel puts them."""
    setuptools = tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = setuptools["package-dir"]
    for package in setuptools["packages"]:
        mapped = max((p for p in folders if package == p or package.startswith(p + ".")), key=len)
        source = repo / folders[mapped] / Path(*package[len(mapped) :].split(".")[1:])
        destination = target / Path(*package.split("."))
        destination.mkdir(parents=True, exist_ok=True)
        for module in source.glob("*.py"):
            shutil.copy2(module, destination / module.name)
    return target


def lint(repo: Path = REPO, extra_modules: dict[str, str] | None = None) -> tuple[int, str]:
    """Exit code and report of import-linter on the installed layout of ``repo``.

    ``extra_modules`` (path in the layout -> source) are added to the copy first: the suite's
    way of checking that a broken contract is caught.
    """
    with tempfile.TemporaryDirectory(prefix="sleepvit-contracts-") as folder:
        layout = installed_layout(repo, Path(folder))
        for path, source in (extra_modules or {}).items():
            (layout / path).write_text(source, encoding="utf-8")
        result = subprocess.run(
            [sys.executable, "-c", LINT, "--no-logo", "--no-cache", str(repo / "pyproject.toml")],
            cwd=layout,
            capture_output=True,
            text=True,
        )
    return result.returncode, result.stdout + result.stderr


if __name__ == "__main__":
    code, report = lint()
    print(report, end="")
    sys.exit(code)

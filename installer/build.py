"""Build the hospital-workstation bundle: ``dist/sleepvit/`` (``make bundle``).

Runs PyInstaller on ``installer/sleepvit.spec`` with the Python that runs this script (the
project's venv, installed from the lock), then prints the bundle's size and what takes it.
The work folder keeps PyInstaller's analysis between builds; ``--clean`` starts afresh.

    python installer/build.py [--dist DIR] [--work DIR] [--clean]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bundle_layout import BUNDLE_NAME  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "installer" / "sleepvit.spec"


def build(dist: Path, work: Path, clean: bool = False) -> Path:
    """Build the bundle into ``dist/sleepvit`` and return that folder; raise on failure."""
    if importlib.util.find_spec("PyInstaller") is None:
        raise SystemExit(
            "error: PyInstaller is not installed in this Python; install the dev extra "
            "(make venv) and run make bundle"
        )
    command = [
        sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
        "--distpath", str(dist), "--workpath", str(work), str(SPEC),
    ]
    if clean:
        command.insert(3, "--clean")
    # PYTHONPATH could smuggle other code into the analysis.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run(command, check=True, env=env)
    return dist / BUNDLE_NAME


def disk_usage(path: Path) -> int:
    """Bytes ``path`` takes on disk, counted as ``du`` counts them (blocks; links once)."""
    entries = [path] if path.is_file() or path.is_symlink() else [path, *path.rglob("*")]
    return sum(p.lstat().st_blocks * 512 for p in entries)


def size_report(bundle: Path, top: int = 12) -> str:
    """The bundle's size and its largest parts (entries of ``_internal/``), in MiB as
    ``du -sh`` shows them."""
    internal = bundle / "_internal"
    parts = sorted(((disk_usage(p), p.name) for p in internal.iterdir()), reverse=True)
    total = disk_usage(bundle)
    lines = [f"{bundle}: {total / 2**20:.0f} MiB"]
    lines += [f"  {size / 2**20:7.1f} MiB  {name}" for size, name in parts[:top]]
    rest = total - sum(size for size, _ in parts[:top])
    lines.append(f"  {rest / 2**20:7.1f} MiB  everything else (the executables included)")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="output folder")
    parser.add_argument(
        "--work", type=Path, default=ROOT / "build" / "bundle", help="PyInstaller work folder"
    )
    parser.add_argument("--clean", action="store_true", help="drop PyInstaller's cache first")
    args = parser.parse_args()
    started = time.perf_counter()
    bundle = build(args.dist.resolve(), args.work.resolve(), clean=args.clean)
    print(f"built in {time.perf_counter() - started:.0f} s")
    print(size_report(bundle))
    return 0


if __name__ == "__main__":
    sys.exit(main())

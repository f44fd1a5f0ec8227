"""The lock file is what every install of the project gets: it must pin all of it, portably."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9._-]+)==(\S+)$")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked() -> dict[str, str]:
    lines = (ROOT / "requirements" / "lock.txt").read_text().splitlines()
    entries = [line.split(" #")[0].strip() for line in lines]
    entries = [e for e in entries if e and not e.startswith("#")]
    unpinned = [e for e in entries if not PIN.match(e)]
    assert not unpinned, f"lock entries that are not name==version: {unpinned}"
    return {normalise(PIN.match(e)[1]): PIN.match(e)[2] for e in entries}


def declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra, names in project["optional-dependencies"].items():
        requirements += [] if extra == "all" else names
    return {normalise(re.match(r"[A-Za-z0-9._-]+", r)[0]) for r in requirements}


def test_lock_pins_every_declared_dependency_and_no_local_path():
    pins = locked()
    assert "sleepvit" not in pins
    missing = sorted(declared() - set(pins))
    assert not missing, f"not in requirements/lock.txt (run make lock): {missing}"


def test_lock_keeps_the_torch_pair_of_pins_in():
    pins = locked()
    wanted = (ROOT / "requirements" / "pins.in").read_text().splitlines()
    for line in wanted:
        if PIN.match(line):
            name, version = PIN.match(line).groups()
            assert pins[normalise(name)] == version

"""The docstring examples of every installed ``sleepvit`` module, run by import name.

Each module is imported by its installed name (``sleepvit.models.backends``), never from its
folder: the folders ``models/``, ``rendering/`` and ``gui/`` would otherwise be imported a
second time as top-level ``models``, ``rendering`` and ``gui``. Which modules exist comes from
the package list of ``pyproject.toml``. Examples marked ``+SKIP`` stay skipped; a docstring
whose examples are all skipped is reported as a skipped test, as pytest's own doctest
collection does.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
OPTIONAL = {"torch", "timm", "captum", "onnx", "safetensors", "PySide6"}
"""Extras a module may need; without them its examples are skipped, not failed."""
FLAGS = doctest.ELLIPSIS
"""What pytest's doctest collection uses by default."""


def _module_names() -> list[str]:
    names = []
    for package in PACKAGES:
        names.append(package)
        path = importlib.import_module(package).__path__
        names += [f"{package}.{m.name}" for m in pkgutil.iter_modules(path) if not m.ispkg]
    return names


def _doctests() -> list:
    finder = doctest.DocTestFinder()
    found = []
    for name in _module_names():
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is None or exc.name.split(".")[0] not in OPTIONAL:
                raise
            found.append(pytest.param(None, id=name, marks=pytest.mark.skip(f"needs {exc.name}")))
            continue
        tests = sorted(test for test in finder.find(module) if test.examples)
        found += [pytest.param(test, id=test.name) for test in tests]
    return found


@pytest.mark.parametrize("test", _doctests())
def test_docstring_examples(test: doctest.DocTest):
    if all(example.options.get(doctest.SKIP, False) for example in test.examples):
        pytest.skip("all examples +SKIP")
    report: list[str] = []
    result = doctest.DocTestRunner(optionflags=FLAGS).run(test, out=report.append)
    if result.failed:
        pytest.fail("".join(report), pytrace=False)


def test_no_module_is_imported_under_a_top_level_name():
    # pytest's doctest collection used to import models/backends.py as `models.backends`
    # besides `sleepvit.models.backends`: two copies, two registries, two of every class.
    assert not {"models", "rendering", "gui"} & set(sys.modules)

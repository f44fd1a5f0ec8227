"""DESIGN.md's import direction, as the import-linter contracts of pyproject.toml."""

from __future__ import annotations

from import_contracts import REPO, lint

# One module per contract that breaks it, added to a copy of the package.
BREAKERS = {
    "gui -> (pipeline, report) -> explain -> (models, rendering) -> io": (
        "sleepvit/io/probe_layers.py",
        "import sleepvit.pipeline\n",
    ),
    "nothing imports sleepvit.gui": ("sleepvit/probe_gui.py", "import sleepvit.gui\n"),
    "io and rendering import neither torch nor the models": (
        "sleepvit/rendering/probe_models.py",
        "from sleepvit.models.configs import EpochViTConfig\n",
    ),
    "the scoring runtime imports no torch, timm or captum": (
        "sleepvit/report/probe_captum.py",
        "import captum.attr\n",
    ),
    "per-night scoring draws no progress bars": (
        "sleepvit/scoring.py",
        (REPO / "sleepvit" / "scoring.py").read_text() + "\nimport tqdm\n",
    ),
    "nothing in sleepvit imports GSSC": (
        "sleepvit/bench/probe_gssc.py",
        "import gssc.infer\n",
    ),
    "train may import evaluate, never the reverse": (
        "sleepvit/evaluate.py",
        (REPO / "sleepvit" / "evaluate.py").read_text() + "\nimport sleepvit.train.loop\n",
    ),
}


def test_the_package_keeps_its_import_contracts():
    code, report = lint()
    assert code == 0, report
    assert "0 broken" in report


def test_breaking_any_contract_fails_the_check():
    code, report = lint(extra_modules=dict(BREAKERS.values()))
    assert code == 1
    broken = [line for line in report.splitlines() if " BROKEN" in line]
    assert len(broken) == len(BREAKERS), report
    for name in BREAKERS:
        assert any(line.startswith(name) for line in broken), f"{name!r} not broken:\n{report}"


def test_explain_reaches_torch_only_through_its_captum_door():
    code, report = lint(extra_modules={"sleepvit/explain/probe_torch.py": "import torch\n"})
    broken = [line for line in report.splitlines() if " BROKEN" in line]
    assert code == 1
    assert [line.split(" BROKEN")[0] for line in broken] == [
        "the scoring runtime imports no torch, timm or captum"
    ], report

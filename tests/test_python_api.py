"""The package as researchers import it: ``import sleepvit`` is instant, its names resolve,
the Python API runs without torch, and the README's example runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import sleepvit

REPO = Path(__file__).resolve().parents[1]


def test_import_sleepvit_pulls_in_nothing_heavy_and_exports_the_api():
    probe = (
        "import sys, sleepvit\n"
        "heavy = ('numpy', 'scipy', 'mne', 'onnxruntime', 'torch', 'pandas', 'yasa')\n"
        "print([m for m in heavy if m in sys.modules])\n"
        "[getattr(sleepvit, name) for name in sleepvit.__all__]\n"
        "print('torch' in sys.modules, 'mne' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["[]", "False False"]
    from sleepvit.pipeline import score_raw

    assert sleepvit.score_raw is score_raw
    with pytest.raises(AttributeError, match="no attribute 'scor_raw'"):
        sleepvit.scor_raw  # noqa: B018


def test_the_python_api_runs_where_torch_cannot_be_imported(hospital_night, torch_free_prelude):
    script = torch_free_prelude + (
        "import mne, sleepvit\n"
        f"raw = mne.io.read_raw_edf({str(hospital_night[0])!r}, preload=True, verbose='error')\n"
        "hypnogram = sleepvit.score_raw(raw)\n"
        "hypnogram.to_yasa(), hypnogram.to_dataframe(), hypnogram.to_mne_annotations()\n"
        "sleepvit.Study.from_mne(raw).to_mne()\n"
        "print(len(hypnogram), 'torch' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["50", "False"]


@pytest.mark.slow
def test_the_readme_example_runs_as_written(tmp_path):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Python API") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    assert "TST " in result.stdout and "Name: Density" in result.stdout

"""Test-time adaptation (``sleepvit score --adapt``): TENT on EpochViT's LayerNorms."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from sleepvit.cli import main

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def night_images(hospital_night, render_nights):
    return render_nights([hospital_night])


def _mean_entropy(model, images, present) -> float:
    from sleepvit.models.epoch_vit import embed_epochs
    from sleepvit.models.tent import softmax_entropy

    logits, _ = embed_epochs(model, images, present)
    return float(softmax_entropy(logits).mean())


def test_tent_trains_only_the_layer_norms_and_lowers_the_nights_entropy(
    tmp_path, save_tiny_weights, night_images
):
    from sleepvit.models.adapt import AdaptSettings
    from sleepvit.models.tent import tent
    from sleepvit.models.torch_artifacts import load_artifacts

    images, present = night_images
    original = load_artifacts(save_tiny_weights(tmp_path / "tiny")).epoch_vit
    before = {name: p.clone() for name, p in original.state_dict().items()}
    # An untrained model is unsure of every epoch, so the reliable-sample filter is off here.
    settings = AdaptSettings(passes=3, learning_rate=1e-2, reliable_fraction=1.0)
    adapted, done = tent(original, images, present, settings)

    assert done["epochs"] == len(images) and done["steps"] > 0
    changed = {name for name, p in adapted.state_dict().items() if not torch.equal(p, before[name])}
    layer_norms = {
        f"{name}.{kind}"
        for name, module in adapted.named_modules()
        if isinstance(module, torch.nn.LayerNorm)
        for kind in ("weight", "bias")
    }
    assert changed and changed <= layer_norms
    assert {"norm.weight", "blocks.0.norm1.weight", "blocks.1.norm2.bias"} <= layer_norms
    assert all(torch.equal(p, before[n]) for n, p in original.state_dict().items())  # a copy
    assert _mean_entropy(adapted, images, present) < _mean_entropy(original, images, present)


def test_the_reliable_sample_filter_leaves_unsure_epochs_out(
    tmp_path, save_tiny_weights, night_images
):
    from sleepvit.models.adapt import AdaptSettings
    from sleepvit.models.tent import tent
    from sleepvit.models.torch_artifacts import load_artifacts

    images, present = night_images
    model = load_artifacts(save_tiny_weights(tmp_path / "tiny")).epoch_vit
    _, done = tent(model, images, present, AdaptSettings(reliable_fraction=0.0))
    assert done["steps"] == 0 and done["reliable_samples"] == 0


def test_adapted_scoring_is_deterministic_and_recorded(hospital_night):
    from sleepvit.io import load_study
    from sleepvit.models.adapt import AdaptSettings
    from sleepvit.models.backends import load_backend
    from sleepvit.pipeline import score_study

    study = load_study(hospital_night[0])
    scorer = load_backend(name="torch", threads=1)
    plain, _ = score_study(study, scorer)
    stages = []
    for _ in range(2):
        adapted, _ = score_study(study, scorer, adapt=AdaptSettings())
        stages.append(adapted.probabilities)
    np.testing.assert_array_equal(*stages)
    info = adapted.metadata["adaptation"]
    assert info["epochs"] == study.n_epochs and info["learning_rate"] == 1e-3
    assert "adapt" in adapted.metadata["timings_s"] and plain.metadata["adaptation"] is None


def test_score_adapt_records_the_adaptation_in_the_summary(hospital_night, tmp_path, capsys):
    assert main(["score", str(hospital_night[0]), "--out", str(tmp_path), "--adapt"]) == 0
    summary = json.loads(next(tmp_path.glob("*.summary.json")).read_text())
    assert summary["model"]["adapted"] is True
    adaptation = summary["adaptation"]
    assert adaptation["method"] == "tent-layernorm+sar-filter"
    assert adaptation["epochs"] == summary["epochs"] and adaptation["passes"] == 1
    assert "adapt" in summary["timings_s"]
    assert "EpochViT adapted to the night" in capsys.readouterr().out


def test_score_adapt_without_torch_is_one_clear_error(torch_free_prelude, hospital_night, tmp_path):
    argv = ["score", str(hospital_night[0]), "--out", str(tmp_path / "out"), "--adapt"]
    script = torch_free_prelude + f"from sleepvit.cli import main\nraise SystemExit(main({argv!r}))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.startswith("error:") and "pip install 'sleepvit[train]'" in result.stderr
    assert "--adapt" in result.stderr and result.stderr.count("\n") == 1
    assert not list((tmp_path / "out").glob("*.summary.json"))

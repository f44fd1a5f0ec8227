"""Sanity checks of the relevance maps (Adebayo et al. 2018) and captum's attributions (torch).

A map that stays the same when the model's weights are replaced by random ones explains the
picture, not the model: every method must fail that test of indifference.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("captum")

from scipy.stats import spearmanr  # noqa: E402

from sleepvit.explain import relevance  # noqa: E402
from sleepvit.io import load_study  # noqa: E402
from sleepvit.models.backends import load_backend  # noqa: E402
from sleepvit.models.configs import EpochViTConfig  # noqa: E402
from sleepvit.models.epoch_vit import EpochViT  # noqa: E402
from sleepvit.models.torch_artifacts import load_artifacts, save_artifacts  # noqa: E402
from sleepvit.rendering import render_epochs  # noqa: E402
from sleepvit.synth.planted import PLANTED_SLOTS, planted_epochs  # noqa: E402

EPOCHS = [5, 25, 45]  # W, N2 and REM epochs of the fixture night


@pytest.fixture(scope="module")
def shipped():
    return load_backend(None, "torch", threads=1)


@pytest.fixture(scope="module")
def randomised(shipped, tmp_path_factory):
    """The shipped weights folder with EpochViT re-initialised (the sequence model kept)."""
    artifacts = load_artifacts(shipped.folder)
    torch.manual_seed(1234)
    config = artifacts.config
    fresh = EpochViT(EpochViTConfig.from_dict(config.epoch_vit.to_dict())).eval()
    folder = tmp_path_factory.mktemp("randomised")
    save_artifacts(
        folder, fresh, artifacts.sequence, render_config=config.render_config, name="random"
    )
    return load_backend(folder, "torch", threads=1)


@pytest.fixture(scope="module")
def epochs(shipped, hospital_night):
    return render_epochs(load_study(hospital_night[0]), shipped.render_config, EPOCHS)


def _rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean([spearmanr(x.ravel(), y.ravel())[0] for x, y in zip(a, b, strict=True)]))


@pytest.mark.parametrize("method", ["rollout", "ig", "occlusion"])
def test_maps_change_when_the_weights_are_randomised(shipped, randomised, epochs, method):
    args = (epochs.images, epochs.present, epochs.config, method)
    trained = relevance(shipped, *args, target=2 if method != "rollout" else None)
    again = relevance(shipped, *args, target=2 if method != "rollout" else None)
    random = relevance(randomised, *args, target=2 if method != "rollout" else None)
    assert _rank_correlation(trained, again) == pytest.approx(1.0)
    assert _rank_correlation(trained, random) < 0.5


@pytest.mark.parametrize("method", ["ig", "occlusion"])
def test_captum_grids_cover_the_model_geometry_and_ignore_absent_slots(shipped, epochs, method):
    present = epochs.present.copy()
    present[[1, 4]] = False  # as if EEG_C and EOG_R were not recorded
    grids = relevance(shipped, epochs.images[:1], present, epochs.config, method)
    vit = shipped.config.epoch_vit
    assert grids.shape == (1, vit.n_slots, vit.n_cols)
    assert grids.sum() == pytest.approx(1.0, abs=1e-5)
    assert np.all(grids[0, ~present] == 0)


def test_planted_features_are_drawn_where_they_say(shipped):
    """The ground truth of the planted-feature benchmark: only the named rows change, and
    only inside the named patch column."""
    config = shipped.render_config
    features = ["spindle", "rem", "spindle", "rem"]
    plain = planted_epochs(["none"] * len(features), config, seed=5)
    planted = planted_epochs(features, config, seed=5)
    row_px = patch_px = config.row_px  # a patch is one row tall and as many pixels wide
    for i, feature in enumerate(features):
        changed = planted.images[i].astype(int) != plain.images[i]
        rows = {config.slots[r // row_px] for r in np.flatnonzero(changed.any(axis=1))}
        per_column = changed.reshape(changed.shape[0], -1, patch_px).sum(axis=(0, 2))
        assert rows and rows <= set(PLANTED_SLOTS[feature])
        # The display filters let a feature ring on a little; most of it stays in its patch.
        assert int(per_column.argmax()) == int(planted.columns[i])
        assert per_column[planted.columns[i]] > 0.5 * per_column.sum()

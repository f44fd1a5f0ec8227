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


@pytest.mark.parametrize("method", ["rollout", "gradient", "ig", "occlusion"])
def test_maps_change_when_the_weights_are_randomised(shipped, randomised, epochs, method):
    args = (epochs.images, epochs.present, epochs.config, method)
    target = 2 if method in ("ig", "occlusion") else None
    trained = relevance(shipped, *args, target=target)
    again = relevance(shipped, *args, target=target)
    random = relevance(randomised, *args, target=target)
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


# ---------------------------------------------------------------- planted features

PLANTED_METHODS = ("rollout", "gradient", "ig", "occlusion")


@pytest.fixture(scope="module")
def planted_model(shipped, tmp_path_factory):
    """The shipped EpochViT fine-tuned until a planted feature decides the stage.

    The shipped weights score a spindle or a burst of rapid eye movements planted into an N1
    screen as N1 still (``sleepvit bench explain`` measures it): for them the feature is not
    decisive, so no map has to point at it. Fine-tuned on planted epochs (N1 background, the
    feature at a random column, the feature's stage as label), the model can only tell the
    classes apart by that one patch — the ground truth every map is then checked against.
    """
    artifacts = load_artifacts(shipped.folder)
    config = artifacts.config.render_config
    # Three N1 nights, so that no one night's background can stand in for the feature.
    nights = [planted_epochs(["none", "spindle", "rem"] * 16, config, seed=s) for s in (31, 33, 35)]
    torch.manual_seed(0)
    torch.set_num_threads(1)
    vit = artifacts.epoch_vit.train()
    images = torch.from_numpy(np.concatenate([n.images for n in nights]))
    labels = torch.from_numpy(np.concatenate([n.labels for n in nights]))
    present = torch.from_numpy(nights[0].present)
    optimizer = torch.optim.AdamW(vit.parameters(), lr=3e-4)
    order = torch.Generator().manual_seed(0)
    for _ in range(300):
        batch = torch.randperm(len(images), generator=order)[:16]
        loss = torch.nn.functional.cross_entropy(vit(images[batch], present)[0], labels[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    folder = tmp_path_factory.mktemp("planted")
    save_artifacts(folder, vit.eval(), artifacts.sequence, render_config=config, name="planted")
    return load_backend(folder, "torch", threads=1)


@pytest.fixture(scope="module")
def planted_hits(planted_model):
    """Per method and per planted feature: share of correctly staged planted epochs whose top
    patch is the planted one."""
    config = planted_model.render_config
    test = planted_epochs(["spindle", "rem"] * 10, config, seed=32)
    stages = planted_model.score(test.images, test.present, config).epoch_vit.argmax(axis=1)
    decided = stages == test.labels
    features = np.array(test.features)
    hits = {}
    for method in PLANTED_METHODS:
        target = test.labels if method in ("ig", "occlusion") else None
        grids = relevance(planted_model, test.images, test.present, config, method, target)
        on_feature = []
        for grid, feature, column in zip(grids, test.features, test.columns, strict=True):
            slot, top_column = np.unravel_index(int(grid.argmax()), grid.shape)
            on_feature.append(config.slots[slot] in PLANTED_SLOTS[feature] and top_column == column)
        on_feature = np.array(on_feature)
        hits[method] = {
            feature: float(np.mean(on_feature[decided & (features == feature)]))
            for feature in PLANTED_SLOTS
        } | {"all": float(np.mean(on_feature[decided]))}
    print(f"planted: {decided.mean():.0%} staged right; top patch on the feature: {hits}")
    return float(decided.mean()), hits


@pytest.mark.slow
def test_the_planted_feature_decides_the_fine_tuned_model(planted_hits):
    staged_right, _ = planted_hits
    assert staged_right >= 0.8


GRADIENT_MISSES_PLANTED_REM = pytest.mark.xfail(
    strict=True,
    reason="gradient-weighted attention of the weights of 2026-12-02b puts planted rapid eye "
    "movements on the chin EMG or EEG rows (occlusion and IG find them): issue 10",
)


@pytest.mark.slow
@pytest.mark.parametrize(
    "method, feature",
    [
        ("gradient", "spindle"),
        pytest.param("gradient", "rem", marks=GRADIENT_MISSES_PLANTED_REM),
        ("ig", "spindle"),
        ("ig", "rem"),
        ("occlusion", "spindle"),
        ("occlusion", "rem"),
    ],
)
def test_maps_land_on_the_planted_signal_and_seconds(planted_hits, method, feature):
    assert planted_hits[1][method][feature] >= 0.8


@pytest.mark.slow
def test_rollout_finds_the_planted_patch_far_above_chance(planted_hits):
    """Chance is 1 or 2 patches of 165. Rollout shows what the CLS token read, for any stage,
    not what decided this one, so it is held to less (its rate is in the README)."""
    assert planted_hits[1]["rollout"]["all"] >= 0.5

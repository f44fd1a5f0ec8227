"""Shared fixtures: short simulated nights written as real EDF+ files at test time.

``hospital_night`` and ``sleep_edf_night`` are ``(edf_path, hypnogram_path)`` of a 25-min
night whose stages are :data:`FIXTURE_STAGES` (10 epochs each of W, N1, N2, N3, REM).
Generated once per test session; nothing large is stored in the repository.
``render_nights`` and ``save_tiny_weights`` make model inputs and a tiny weights folder for the
tests that score, export or batch-process nights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sleepvit.io import load_study
from sleepvit.rendering import RenderConfig, render_epochs
from sleepvit.synth import simulate_night, write_night

FIXTURE_STAGES: tuple[str, ...] = tuple(
    s for s in ("W", "N1", "N2", "N3", "REM") for _ in range(10)
)
"""The fixture nights' hypnogram: 10 epochs of each stage, in this order."""
FIXTURE_SEED = 2026


def _needs_bundle(item) -> bool:
    return "bundle" in getattr(item, "fixturenames", ())


def _is_xdist_worker(config) -> bool:
    return hasattr(config, "workerinput")


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist, the bundle's tests go first: the worker that takes them builds the
    bundle (about a minute) while the other worker runs the rest of the suite. Every worker
    sorts the same way, as xdist requires."""
    if _is_xdist_worker(config):
        items.sort(key=lambda item: not _needs_bundle(item))


def pytest_collection_finish(session):
    """Start building the workstation bundle as soon as a test that needs it is collected, so
    that the build runs alongside the rest of the suite. Not on an xdist worker: each worker
    collects the whole suite but only one runs the bundle's tests, and its fixture starts the
    build when first needed."""
    if _is_xdist_worker(session.config):
        return
    for item in session.items:
        if _needs_bundle(item):
            item.module.start_bundle_build(session.config)
            return


@pytest.fixture(scope="session")
def fixture_stages() -> tuple[str, ...]:
    """Stage names of every epoch of ``hospital_night`` and ``sleep_edf_night``."""
    return FIXTURE_STAGES


@pytest.fixture(scope="session")
def simulated_night_factory(tmp_path_factory):
    """``make(style="hospital", seed=..., stages=None, hours=0.5) -> (edf_path, hypnogram_path)``.

    Nights are written once per distinct argument set and shared across the session.
    """
    made: dict[tuple, tuple[Path, Path]] = {}

    def make(style: str = "hospital", seed: int = FIXTURE_SEED, stages=None, hours: float = 0.5):
        key = (style, seed, tuple(stages) if stages is not None else None, hours)
        if key not in made:
            folder = tmp_path_factory.mktemp(f"night-{style}-{seed}")
            night = simulate_night(hours=hours, seed=seed, style=style, stages=stages)
            made[key] = write_night(night, folder / f"SIM{seed}-{style}.edf")
        return made[key]

    return make


@pytest.fixture(scope="session")
def hospital_night(simulated_night_factory) -> tuple[Path, Path]:
    """A 25-min hospital-style night (16 channels, 256/512 Hz) and its hypnogram."""
    return simulated_night_factory("hospital", stages=FIXTURE_STAGES)


@pytest.fixture(scope="session")
def sleep_edf_night(simulated_night_factory) -> tuple[Path, Path]:
    """A 25-min Sleep-EDF-style night (Fpz-Cz, Pz-Oz, EOG at 100 Hz) and its hypnogram."""
    return simulated_night_factory("sleep-edf", stages=FIXTURE_STAGES)


@pytest.fixture(scope="session")
def render_nights():
    """``render(nights) -> (images, present)`` of ``(edf_path, _)`` nights, epochs concatenated."""

    def render(nights):
        images, present = [], []
        for edf, _ in nights:
            rendered = render_epochs(load_study(edf), RenderConfig())
            images.append(rendered.images)
            present.append(np.repeat(rendered.present[None], len(rendered.images), axis=0))
        return np.concatenate(images), np.concatenate(present)

    return render


TORCH_FREE_PRELUDE = """
import importlib.abc, sys

class NotInstalled(importlib.abc.MetaPathFinder):
    # As if pip had never installed them (a None in sys.modules would confuse scipy).
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"torch", "timm", "captum", "onnx", "safetensors"}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, NotInstalled())
"""


@pytest.fixture(scope="session")
def torch_free_prelude() -> str:
    """Python source to put before a ``python -c`` script: torch, timm, captum, onnx and
    safetensors then import as if they were not installed (the scoring runtime's world)."""
    return TORCH_FREE_PRELUDE


@pytest.fixture(scope="session")
def save_tiny_weights():
    """``save(folder, seed=0, dim=32, depth=2, context=5, train_on=None) -> folder``.

    A tiny weights folder; with ``train_on=(images, present, labels)`` briefly trained, so that
    its stages depend on the epochs (an untrained model scores every epoch alike).
    """
    return _save_tiny_weights


def _save_tiny_weights(folder, seed=0, dim=32, depth=2, context=5, train_on=None):
    import torch

    from sleepvit.models.configs import EpochViTConfig, SequenceConfig
    from sleepvit.models.epoch_vit import EpochViT
    from sleepvit.models.sequence import SequenceTransformer
    from sleepvit.models.torch_artifacts import save_artifacts

    torch.manual_seed(seed)
    vit = EpochViT(EpochViTConfig(dim=dim, depth=depth, heads=2, drop_path=0.0))
    seq = SequenceTransformer(
        SequenceConfig(embed_dim=dim, dim=32, depth=1, heads=2, context=context, dropout=0.0)
    )
    if train_on is not None:
        _train(vit, seq, *(torch.from_numpy(a) for a in train_on))
    save_artifacts(
        folder, vit.eval(), seq.eval(), render_config=RenderConfig(), temperature=1.5, name="tiny"
    )
    return folder


def _train(vit, seq, images, present, labels, steps=15):
    """A few full-batch steps: enough for stages to follow the signals, not a real training."""
    import torch

    from sleepvit.models.backends import sliding_windows

    labels = labels.long()
    optimizer = torch.optim.AdamW(vit.parameters(), lr=5e-3)
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(vit(images, present)[0], labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        embeddings = vit.eval()(images, present)[1].numpy()
    context = seq.config.context
    windows, valid, pad = sliding_windows(embeddings, context)
    padded = np.pad(labels.numpy(), pad)
    targets = torch.from_numpy(np.lib.stride_tricks.sliding_window_view(padded, context).copy())
    windows, valid = torch.from_numpy(windows.copy()), torch.from_numpy(valid.copy())
    optimizer = torch.optim.AdamW(seq.parameters(), lr=5e-3)
    for _ in range(steps):
        logits = seq(windows, valid)
        loss = torch.nn.functional.cross_entropy(logits[valid], targets[valid])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


@pytest.fixture
def user_folders(tmp_path, monkeypatch) -> Path:
    """Private user data and config folders (platformdirs reads XDG_* on Linux), so that a
    test's review sidecars and preferences never meet another test's or the user's."""
    home = tmp_path / "user"
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    return home


@pytest.fixture
def study_copy(tmp_path, hospital_night) -> Path:
    """The hospital night and its scoring copied into a folder of this test's own (GUI tests
    write a review sidecar next to the recording)."""
    import shutil

    folder = tmp_path / "study"
    folder.mkdir()
    edf, hypnogram = hospital_night
    shutil.copy(hypnogram, folder / hypnogram.name)
    return Path(shutil.copy(edf, folder / edf.name))


@pytest.fixture
def crafted_ai():
    """``make(n, {epoch: confidence})``: an AI scoring of N2 everywhere, confident (0.96)
    except at the epochs given — for review-queue tests that must not hang on how sure the
    demo model happens to be."""
    from sleepvit.gui.session.scoring import AiScoring
    from sleepvit.hypnogram import STAGE_CODE

    n2 = STAGE_CODE["N2"]

    def make(n: int, confidence: dict[int, float]) -> AiScoring:
        p = np.full((n, 5), 0.01, np.float32)
        p[:, n2] = 0.96
        for epoch, value in confidence.items():
            p[epoch] = (1 - value) / 4
            p[epoch, n2] = value
        return AiScoring(np.full(n, n2, np.int8), p, None, {"model": {"name": "crafted"}})

    return make


@pytest.fixture
def window(qtbot):
    """The real main window, offscreen, 1280 × 800, with throwaway preferences."""
    from sleepvit.gui.qt.main_window import MainWindow
    from sleepvit.gui.session.settings import Preferences

    window = MainWindow(Preferences(), reviewer="tester", save_preferences=False)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    yield window
    window.close()


@pytest.fixture
def gappy_study(tmp_path) -> Path:
    """10 minutes of C4-M1, E1-M2, E2-M1 and chin EMG (``test_hostile.py``'s writers) with E1
    flat from 2 to 4 minutes (epochs 5-8 scored without it), interrupted after 5 minutes for
    5 minutes (EDF+D): epochs 11-20 have no data."""
    from test_hostile import _discontinuous, _eeg, _montage, _write

    eog = _eeg(256, 600)
    eog[120 * 256 : 240 * 256] = 0.0
    edf = _write(tmp_path / "gappy.edf", _montage(E1=eog))
    _discontinuous(edf, gap_after_s=300, gap_s=300)
    return edf

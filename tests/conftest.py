"""Shared fixtures: short simulated nights written as real EDF+ files at test time.

``hospital_night`` and ``sleep_edf_night`` are ``(edf_path, hypnogram_path)`` of a 25-min
night whose stages are :data:`FIXTURE_STAGES` (10 epochs each of W, N1, N2, N3, REM).
Generated once per test session; nothing large is stored in the repository.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sleepvit.synth import simulate_night, write_night

FIXTURE_STAGES: tuple[str, ...] = tuple(
    s for s in ("W", "N1", "N2", "N3", "REM") for _ in range(10)
)
"""The fixture nights' hypnogram: 10 epochs of each stage, in this order."""
FIXTURE_SEED = 2026


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

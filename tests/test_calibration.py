"""Night calibration: the model reads every night at its own level; the screen stays physical."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from sleepvit.io import load_study
from sleepvit.rendering.calibration import FACTOR_LIMITS
from sleepvit.rendering.config import RenderConfig
from sleepvit.rendering.render import EpochRenderer
from sleepvit.scoring import describe_calibration

NIGHT = RenderConfig(calibration="night")


@pytest.fixture(scope="module")
def study(hospital_night):
    return load_study(hospital_night[0])


def _rows(images, config, slots):
    return {
        s: images[:, i * config.row_px : (i + 1) * config.row_px]
        for i, s in enumerate(config.slots)
        if s in slots
    }


def test_a_night_times_any_gain_is_drawn_alike_for_the_model(study):
    calibrated = ("EEG_F", "EEG_C", "EEG_O", "EOG_L", "EOG_R", "EMG_CHIN")
    base = EpochRenderer(study, NIGHT).render(range(20)).images
    for gain in (0.5, 2.0):
        scaled = EpochRenderer(study.with_gain(gain, study.signals), NIGHT).render(range(20)).images
        for slot, rows in _rows(scaled, NIGHT, calibrated).items():
            same = np.mean(rows == _rows(base, NIGHT, calibrated)[slot])
            assert same > 0.995, f"{slot} ×{gain}: {same:.4f} of pixels equal"


def test_physically_drawn_rows_change_with_gain(study):
    base = EpochRenderer(study).render(range(20)).images
    doubled = EpochRenderer(study.with_gain(2.0, study.signals)).render(range(20)).images
    assert np.mean(base == doubled) < 0.98


def test_the_renderer_reports_each_rows_factor_and_keeps_breathing_and_spo2_physical(study):
    renderer = EpochRenderer(study, NIGHT)
    assert set(renderer.calibration) == {"EEG_F", "EEG_C", "EEG_O", "EOG_L", "EOG_R", "EMG_CHIN"}
    assert all(FACTOR_LIMITS[0] <= f <= FACTOR_LIMITS[1] for f in renderer.calibration.values())
    doubled = EpochRenderer(study.with_gain(2.0, study.signals), NIGHT)
    for slot, factor in renderer.calibration.items():
        assert doubled.calibration[slot] == pytest.approx(2 * factor, rel=1e-3)
    rows = {row.slot: row for row in renderer.rows}
    assert rows["SPO2"].value_range == RenderConfig().rows[-1].range
    assert rows["EEG_C"].value_range == pytest.approx(
        (-75 * renderer.calibration["EEG_C"], 75 * renderer.calibration["EEG_C"])
    )
    assert EpochRenderer(study).calibration == {}


def test_an_unknown_calibration_is_refused():
    with pytest.raises(ValueError, match="calibration 'auto'"):
        RenderConfig(calibration="auto")


def test_physical_configs_keep_the_fingerprint_they_had_before_calibration_existed():
    data = json.loads(RenderConfig().to_json())
    assert "calibration" not in data
    assert RenderConfig.from_dict(data).calibration == "physical"
    night = RenderConfig.from_json(NIGHT.to_json())
    assert night == NIGHT and night.fingerprint() != RenderConfig().fingerprint()


def test_the_gui_screen_stays_physical_for_a_night_calibrated_model(tmp_path, monkeypatch):
    from sleepvit.gui.session import opening
    from sleepvit.models import artifacts

    real = artifacts.read_config

    def night_model(folder):
        return dataclasses.replace(real(folder), render_config=NIGHT)

    monkeypatch.setattr(artifacts, "read_config", night_model)
    config, note = opening._model_render_config(None)
    assert config.calibration == "physical" and note == ""


def test_the_summary_says_which_calibration_was_applied():
    assert describe_calibration({"mode": "physical", "range_factors": {}}) == "physical"
    text = describe_calibration({"mode": "night", "range_factors": {"EEG_C": 1.5}})
    assert "night" in text and "EEG_C 1.50" in text and "screen stays physical" in text


def test_with_gain_scales_a_copy_of_the_named_slots_only(study):
    louder = study.with_gain(2.0, ["EEG_C", "EOG_L"])
    for slot, signal in study.signals.items():
        factor = 2.0 if slot in ("EEG_C", "EOG_L") else 1.0
        np.testing.assert_allclose(louder.signals[slot].data, factor * signal.data, rtol=1e-6)
    assert study.quality is not None and louder.quality is None  # clipping moves with gain
    assert louder.signals["EEG_C"].digital is None and study.signals["EEG_C"].digital is not None

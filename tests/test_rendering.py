"""Technician-screen rendering: geometry, display filters, polarity, layout, low-rate inputs."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

from sleepvit.errors import SleepVitError
from sleepvit.rendering import EpochRenderer, RenderConfig, render_epochs
from sleepvit.rendering.filters import plan_trace
from sleepvit.slots import SLOT_NAMES
from sleepvit.study import SlotSignal, Study

ROW = 16
EEG_C_TOP = SLOT_NAMES.index("EEG_C") * ROW
MINUTES = 4
DURATION_S = MINUTES * 60.0


def _time(fs: float, duration_s: float = DURATION_S) -> np.ndarray:
    return np.arange(int(round(duration_s * fs))) / fs


def _study(duration_s: float = DURATION_S, **signals: tuple[np.ndarray, float]) -> Study:
    """A Study from ``slot=(data, sfreq)`` keyword arguments."""
    slots = {
        slot: SlotSignal(slot, np.asarray(data, dtype=np.float32), fs, slot, "uV")
        for slot, (data, fs) in signals.items()
    }
    return Study("night.edf", datetime(2026, 1, 1, 22), duration_s, slots)


def _sine(freq: float, amplitude: float, fs: float = 256.0) -> tuple[np.ndarray, float]:
    return amplitude * np.sin(2 * np.pi * freq * _time(fs)), fs


def _row(image: np.ndarray, slot: str, row_px: int = ROW) -> np.ndarray:
    top = SLOT_NAMES.index(slot) * row_px
    return image[..., top : top + row_px, :]


def _lit_rows(row: np.ndarray) -> np.ndarray:
    return np.flatnonzero(row.any(axis=1))


def _column_heights(row: np.ndarray) -> np.ndarray:
    return (row > 0).sum(axis=0)


def test_images_follow_the_contract_shape_dtype_and_layout():
    out = render_epochs(_study(EEG_C=_sine(2, 30)))
    assert out.images.shape == (MINUTES * 2, 176, 240)
    assert out.images.dtype == np.uint8
    assert out.present.dtype == bool and out.present.shape == (len(SLOT_NAMES),)
    assert out.epochs.tolist() == list(range(MINUTES * 2))
    assert out.config == RenderConfig()
    assert [r.slot for r in out.rows] == list(SLOT_NAMES)
    assert [r.top for r in out.rows] == [i * ROW for i in range(len(SLOT_NAMES))]
    assert set(np.unique(out.images)) == {0, 255}


def test_sine_of_50_uv_spans_two_thirds_of_a_75_uv_row_around_its_centre():
    image = render_epochs(_study(EEG_C=_sine(2, 50)), epochs=[3]).images[0]
    lit = _lit_rows(_row(image, "EEG_C"))
    # ±50 of ±75 µV on 16 px: pixel rows (75 ∓ 50) / 150 · 15 = 2.5 … 12.5
    assert lit.min() in (2, 3) and lit.max() in (12, 13)
    assert np.array_equal(lit, np.arange(lit.min(), lit.max() + 1))
    outside = np.delete(image, np.arange(EEG_C_TOP, EEG_C_TOP + ROW), axis=0)
    assert not outside.any()


def test_amplitude_is_physical_never_normalised_per_epoch():
    fs = 256.0
    t = _time(fs)
    amplitude = np.where(t < DURATION_S / 2, 20.0, 60.0)
    image = render_epochs(_study(EEG_C=(amplitude * np.sin(2 * np.pi * 2 * t), fs))).images
    small = _lit_rows(_row(image[1], "EEG_C"))
    large = _lit_rows(_row(image[-2], "EEG_C"))
    # ±20 µV of ±75 µV on 16 px: pixel rows 5.5 … 9.5; ±60 µV: rows 1.5 … 13.5
    assert abs(small.min() - 5.5) <= 1 and abs(small.max() - 9.5) <= 1
    assert abs(large.min() - 1.5) <= 1 and abs(large.max() - 13.5) <= 1


def test_spindle_draws_a_thick_band_and_slow_wave_a_thin_line():
    spindle = render_epochs(_study(EEG_C=_sine(13, 40)), epochs=[2]).images[0]
    slow = render_epochs(_study(EEG_C=_sine(0.8, 40)), epochs=[2]).images[0]
    assert np.median(_column_heights(_row(spindle, "EEG_C"))) >= 7
    assert np.median(_column_heights(_row(slow, "EEG_C"))) <= 3
    # A line is connected: every column is lit.
    assert _column_heights(_row(slow, "EEG_C")).min() >= 1


def test_out_of_range_signal_is_clipped_to_its_row_edges():
    flat = np.zeros(int(DURATION_S * 256))
    study = _study(EEG_F=(flat, 256.0), EEG_C=_sine(2, 300), EEG_O=(flat, 256.0))
    image = render_epochs(study, epochs=[4]).images[0]
    eeg_c = _row(image, "EEG_C")
    # The trace runs along both edges while beyond the range (a third of each period here).
    assert eeg_c[0].mean() > 0.3 * 255 and eeg_c[ROW - 1].mean() > 0.3 * 255
    for neighbour in ("EEG_F", "EEG_O"):
        assert _lit_rows(_row(image, neighbour)).tolist() in ([7], [8])


def test_negative_is_drawn_up_for_eeg_and_configurable():
    study = _study(EEG_C=_sine(0.5, 50), FLOW=_sine(0.5, 50, fs=32.0))
    column = 4  # 0.5–0.625 s into the epoch: the sine's positive peak (epochs start on a period)
    for negative_up, eeg_low in ((True, True), (False, False)):
        config = RenderConfig(negative_up=negative_up)
        image = render_epochs(study, config, epochs=[2]).images[0]
        eeg_rows = np.flatnonzero(_row(image, "EEG_C")[:, column])
        assert bool(eeg_rows.mean() > ROW / 2) == eeg_low
        # Breathing is never flipped: inspiration (positive) is up.
        flow_rows = np.flatnonzero(_row(image, "FLOW")[:, column])
        assert flow_rows.mean() < ROW / 2


def test_missing_slot_is_a_blank_row_and_marked_absent():
    out = render_epochs(_study(EEG_C=_sine(2, 30), SPO2=(np.full(int(DURATION_S), 95.0), 1.0)))
    expected = [slot in ("EEG_C", "SPO2") for slot in SLOT_NAMES]
    assert out.present.tolist() == expected
    assert [r.present for r in out.rows] == expected
    for slot, present in zip(SLOT_NAMES, expected, strict=True):
        assert _row(out.images[0], slot).any() == present
    assert out.rows[SLOT_NAMES.index("EOG_L")].label == ""


def test_spo2_uses_its_fixed_range_with_high_saturation_up():
    spo2 = np.where(_time(1.0) < DURATION_S / 2, 99.0, 81.0)
    out = render_epochs(_study(EEG_C=_sine(2, 30), SPO2=(spo2, 1.0)))
    high = _lit_rows(_row(out.images[1], "SPO2"))
    low = _lit_rows(_row(out.images[-2], "SPO2"))
    assert high.tolist() == [1]  # (100 − 99) / 20 · 15 = 0.75
    assert low.tolist() == [14]  # (100 − 81) / 20 · 15 = 14.25


def _amplitude(plan, data: np.ndarray) -> float:
    """Peak display amplitude away from the night's edges."""
    values = plan.segment(data, 0, 6 * plan.samples_per_epoch)
    return float(np.abs(values[2 * plan.samples_per_epoch : 4 * plan.samples_per_epoch]).max())


@pytest.mark.parametrize("mains", [50.0, 60.0])
@pytest.mark.parametrize(("slot", "band"), [("EMG_CHIN", (10.0, 100.0)), ("ECG", (0.3, 70.0))])
def test_notch_removes_mains_hum_inside_the_display_band(mains, slot, band):
    hum, fs = _sine(mains, 50, fs=512.0)
    with_notch = plan_trace(slot, band, fs, 240, 30.0, notch_hz=mains)
    without = plan_trace(slot, band, fs, 240, 30.0, notch_hz=None)
    assert _amplitude(with_notch, hum) < 0.5
    assert _amplitude(without, hum) > 25  # half of it or more passes the band


def test_notched_chin_emg_row_is_free_of_hum():
    hum = _sine(60, 40, fs=512.0)
    study = _study(EEG_C=_sine(2, 30), EMG_CHIN=hum)
    humming = render_epochs(study, epochs=[3]).images[0]
    notched = render_epochs(study, RenderConfig(notch_hz=60), epochs=[3]).images[0]
    assert _lit_rows(_row(humming, "EMG_CHIN")).size >= 10
    assert _lit_rows(_row(notched, "EMG_CHIN")).tolist() in ([7], [8], [7, 8])


def test_slow_drift_is_removed_from_eeg_but_the_trace_kept():
    drift, fs = _sine(0.1, 100)
    plan = plan_trace("EEG_C", (0.3, 35.0), fs, 240, 30.0, notch_hz=None)
    assert _amplitude(plan, drift) < 3.0
    alpha, _ = _sine(10, 20)
    assert _amplitude(plan, drift + alpha) == pytest.approx(20, abs=3)
    image = render_epochs(_study(EEG_C=(drift, fs)), epochs=[3]).images[0]
    assert _lit_rows(_row(image, "EEG_C")).tolist() in ([7], [8], [7, 8])


def test_rendering_is_deterministic_and_independent_of_batching():
    rng = np.random.default_rng(3)
    study = _study(
        EEG_C=(30 * rng.standard_normal(int(DURATION_S * 256)), 256.0),
        FLOW=_sine(0.3, 2.0, fs=16.0),
    )
    everything = render_epochs(study).images
    assert np.array_equal(everything, render_epochs(study).images)
    renderer = EpochRenderer(study)
    for epoch in (0, 3, 7):
        assert np.array_equal(renderer.render([epoch]).images[0], everything[epoch])
    assert np.array_equal(renderer.render([5, 1]).images, everything[[5, 1]])


@pytest.mark.parametrize(
    ("slot", "band", "fs"),
    [("EEG_C", (0.3, 35.0), 256.0), ("FLOW", (0.1, 15.0), 10.0), ("FLOW", (0.1, 15.0), 1.0)],
)
def test_chunked_filtering_matches_filtering_the_whole_night(slot, band, fs):
    rng = np.random.default_rng(4)
    data = 30 * rng.standard_normal(int(fs * 600))
    plan = plan_trace(slot, band, fs, 240, 30.0, notch_hz=50.0)
    total = 20 * plan.samples_per_epoch
    whole = plan.segment(data, 0, total)
    pieces = np.concatenate(
        [plan.segment(data, start, start + 777) for start in range(0, total, 777)]
    )
    np.testing.assert_allclose(pieces[:total], whole, atol=0.01)


def test_eeg_sampled_at_50_hz_looks_like_eeg_sampled_at_256_hz():
    high = render_epochs(_study(EEG_C=_sine(8, 40)), epochs=[3]).images[0]
    low = render_epochs(_study(EEG_C=_sine(8, 40, fs=50.0)), epochs=[3]).images[0]
    high_rows, low_rows = _lit_rows(_row(high, "EEG_C")), _lit_rows(_row(low, "EEG_C"))
    assert abs(high_rows.min() - low_rows.min()) <= 1
    assert abs(high_rows.max() - low_rows.max()) <= 1


def test_one_hz_emg_envelope_is_drawn_as_a_band_of_its_amplitude():
    tone = np.where(_time(1.0) < DURATION_S / 2, 15.0, 4.0)  # µV RMS: awake, then REM atonia
    out = render_epochs(_study(EEG_C=_sine(2, 30), EMG_CHIN=(tone, 1.0)))
    assert out.rows[SLOT_NAMES.index("EMG_CHIN")].envelope
    awake = _row(out.images[1], "EMG_CHIN")
    atonia = _row(out.images[-2], "EMG_CHIN")
    # ±2 × 15 µV of ±50 µV on 16 px: rows 3 … 12; ±8 µV: rows 6.3 … 8.7
    assert _lit_rows(awake).tolist() == list(range(3, 13))
    assert _lit_rows(atonia).tolist() == [6, 7, 8, 9]
    assert (_column_heights(awake) == 10).all()


def test_one_hz_breathing_is_a_connected_line_on_an_automatic_night_scale():
    t = _time(1.0)
    amplitude = np.where(t < DURATION_S / 2, 2.0, 1.0)
    flow = amplitude * np.sin(2 * np.pi * 0.2 * t)
    out = render_epochs(_study(EEG_C=_sine(2, 30), FLOW=(flow, 1.0)))
    layout = out.rows[SLOT_NAMES.index("FLOW")]
    bottom, top = layout.value_range
    assert bottom == -top and 2.0 < top < 3.0
    deep = _row(out.images[1], "FLOW")
    shallow = _row(out.images[-2], "FLOW")
    assert _column_heights(deep).min() >= 1  # no gaps between the 1-Hz samples
    assert _lit_rows(deep).size > 1.6 * _lit_rows(shallow).size


def test_screen_size_uses_the_same_drawing_and_can_be_antialiased():
    study = _study(EEG_C=_sine(2, 50))
    screen = RenderConfig().with_size(1920, 1080)
    sharp = render_epochs(study, screen, epochs=[3]).images[0]
    smooth = render_epochs(study, screen, epochs=[3], antialias=True).images[0]
    assert sharp.shape == smooth.shape == (1078, 1920)
    assert set(np.unique(sharp)) == {0, 255}
    assert len(np.unique(smooth)) > 10
    row_px = screen.row_px
    lit = _lit_rows(_row(sharp, "EEG_C", row_px))
    expected = (75 - 50) / 150 * (row_px - 1), (75 + 50) / 150 * (row_px - 1)
    assert abs(lit.min() - expected[0]) <= 1 and abs(lit.max() - expected[1]) <= 1


def test_epochs_outside_the_night_are_a_user_error_naming_the_file():
    with pytest.raises(SleepVitError, match=r"night\.edf.*epoch 8 is outside.*0-7"):
        render_epochs(_study(EEG_C=_sine(2, 30)), epochs=[2, 8])


def _stage_means(values: np.ndarray, stages: tuple[str, ...]) -> dict[str, float]:
    names = np.array(stages)
    return {stage: float(values[names == stage].mean()) for stage in dict.fromkeys(stages)}


@pytest.mark.parametrize("night", ["hospital_night", "sleep_edf_night"])
def test_simulated_night_screens_show_what_a_technician_scores(night, request, fixture_stages):
    from sleepvit.io import load_study

    study = load_study(request.getfixturevalue(night)[0])
    out = render_epochs(study, epochs=range(len(fixture_stages)))
    lit = out.images > 0
    eeg = _row(lit, "EEG_F")
    # N3: slow waves beyond ±75 µV run along the row edges; no other stage does that often.
    at_edges = _stage_means((eeg[:, 0] | eeg[:, ROW - 1]).mean(axis=1), fixture_stages)
    assert at_edges["N3"] > 3 * max(v for stage, v in at_edges.items() if stage != "N3")
    # Chin EMG: tone while awake, atonia in REM.
    chin = _row(lit, "EMG_CHIN").sum(axis=(1, 2))
    tone = _stage_means(chin, fixture_stages)
    assert tone["W"] > 1.25 * tone["REM"]


def test_render_command_writes_one_png_per_epoch_and_leaves_the_edf_alone(hospital_night, tmp_path):
    from PIL import Image

    from sleepvit.cli import main
    from sleepvit.io import load_study

    edf = hospital_night[0]
    before = edf.read_bytes()
    assert main(["render", str(edf), "--epochs", "3-5", "--out", str(tmp_path)]) == 0
    assert (
        main(["render", str(edf), "--epochs", "4", "--out", str(tmp_path), "--size", "screen"]) == 0
    )
    assert edf.read_bytes() == before
    names = sorted(p.name for p in tmp_path.iterdir())
    stem = edf.stem
    assert names == [
        f"{stem}_e0003_model.png",
        f"{stem}_e0004_model.png",
        f"{stem}_e0004_screen.png",
        f"{stem}_e0005_model.png",
    ]
    expected = render_epochs(load_study(edf), epochs=[3]).images[0]  # epoch 4 counted from 1
    model = Image.open(tmp_path / f"{stem}_e0004_model.png")
    assert model.mode == "L" and np.array_equal(np.asarray(model), expected)
    assert Image.open(tmp_path / f"{stem}_e0004_screen.png").size == (1920, 1078)


@pytest.mark.parametrize(
    ("epochs", "message"),
    [("3-x", "cannot read epochs '3-x'"), ("45-60", "epoch 51 is outside the recording")],
)
def test_render_command_rejects_bad_epochs_in_one_line(
    hospital_night, tmp_path, capsys, epochs, message
):
    from sleepvit.cli import main

    code = main(["render", str(hospital_night[0]), "--epochs", epochs, "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and message in err
    assert err.count("\n") == 1
    assert not list(tmp_path.iterdir())


def test_rendering_runs_without_torch():
    import subprocess
    import sys

    code = "import sys, sleepvit.rendering.export; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_background_and_trace_levels_come_from_the_config():
    paper = RenderConfig(background=255, trace=0)
    image = render_epochs(_study(EEG_C=_sine(2, 50)), paper, epochs=[3]).images[0]
    assert set(np.unique(image)) == {0, 255}
    assert (image == 255).mean() > 0.9  # mostly paper, a dark trace
    assert _lit_rows(_row(image == 0, "EEG_C")).size > 8

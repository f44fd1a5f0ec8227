"""The clinical PDF report, the hypnogram PNG and the epochs flagged for review."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from matplotlib.backends.backend_pdf import PdfPages
from pypdf import PdfReader

from sleepvit.hypnogram import Hypnogram
from sleepvit.metrics.sleep import sleep_statistics
from sleepvit.report.hypnogram_plot import write_hypnogram_png
from sleepvit.report.pdf import DISCLAIMER, study_info, write_report
from sleepvit.report.review import describe_epochs, low_confidence_epochs
from sleepvit.slots import SLOT_NAMES
from sleepvit.study import Identity, SlotSignal, Study

PATIENT = {
    "patient_name": "Quixote Alonso",
    "patient_id": "MRN-88231",
    "birthdate": "1952-07-14",
    "sex": "M",
}
MODEL = {
    "name": "sleepvit-demo",
    "version": "0.1.0",
    "backend": "onnx-int8",
    "scored_at": datetime(2026, 3, 15, 8, 5),
}
START = datetime(2026, 3, 14, 22, 41, 30)


def _night(with_probabilities: bool = True, seed: int = 3) -> Hypnogram:
    """Two sleep cycles (about 3 h) with smoothed random probabilities that hesitate at
    stage changes, as a model does."""
    cycle = ["N1"] * 4 + ["N2"] * 30 + ["N3"] * 40 + ["N2"] * 20 + ["REM"] * 25 + ["W"] * 2
    names = ["W"] * 20 + cycle * 2 + ["N2"] * 30 + ["REM"] * 20 + ["W"] * 30
    names[100:103] = ["UNS"] * 3
    hyp = Hypnogram.from_names(names, start=START)
    if not with_probabilities:
        return hyp
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.0, (len(hyp), 5))
    logits = (logits + np.roll(logits, 1, axis=0) + np.roll(logits, -1, axis=0)) / 3
    scored = np.where(hyp.stages < 0, 0, hyp.stages)
    changes = np.r_[False, np.diff(hyp.stages) != 0]
    logits[np.arange(len(hyp)), scored] += np.where(changes, 0.3, 3.0)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return Hypnogram(hyp.stages, start=START, probabilities=probabilities)


def _info(**overrides) -> dict:
    channels = {"EEG_C": "C4-M1", "EOG_L": "E1-M2", "EMG_CHIN": "Chin1-Chin2"}
    return {
        "file_name": "PSG-0042.edf",
        "recording_start": START,
        "channels": channels,
        **PATIENT,
        **overrides,
    }


def _write(tmp_path: Path, hyp: Hypnogram | None = None, **kwargs) -> Path:
    hyp = hyp or _night()
    stats = sleep_statistics(hyp, lights_off_s=300, lights_on_s=hyp.duration_s - 600)
    flagged = kwargs.pop("flagged", low_confidence_epochs(hyp))
    return write_report(
        tmp_path / "night.report.pdf", hyp, stats, _info(), flagged, MODEL, **kwargs
    )


def _pdf_text(path: Path) -> str:
    """Text of every page, each page ended by a form feed (as pdftotext does)."""
    return "".join(page.extract_text() + "\f" for page in PdfReader(path).pages)


# ---------------------------------------------------------------- PDF report


def test_report_has_two_pages_disclaimer_and_metrics(tmp_path):
    hyp = _night()
    out = _write(tmp_path, hyp)
    text = _pdf_text(out)
    assert 1 <= text.count("\f") <= 2  # pdftotext ends every page with a form feed
    assert DISCLAIMER in " ".join(text.split())
    stats = sleep_statistics(hyp, lights_off_s=300, lights_on_s=hyp.duration_s - 600)
    assert "Total sleep time (TST)" in text and f"{stats.tst_min:.1f} min" in text
    assert f"{stats.sleep_efficiency_pct:.1f} %" in text
    assert "REM latency (from sleep onset)" in text and f"{stats.rem_latency_min:.1f} min" in text
    assert f"{stats.n3_pct_tst:.1f} %" in text
    assert (
        "sleepvit-demo 0.1.0 (onnx-int8)" in text
        and "2026-03-14" in text
        and "2026-03-15 08:05" in text
    )
    assert "C4-M1" in text  # the channel mapping used
    assert PATIENT["patient_name"] in text and PATIENT["patient_id"] in text


def test_flagged_epochs_are_listed_with_time_and_runner_up(tmp_path):
    hyp = _night()
    flagged = describe_epochs(hyp, low_confidence_epochs(hyp))
    assert 0 < len(flagged) < 80  # fits on page 2 without truncation
    text = _pdf_text(_write(tmp_path, hyp))
    for epoch in flagged:
        onset = START.timestamp() + epoch.onset_s
        clock = datetime.fromtimestamp(onset).strftime("%H:%M:%S")
        number = epoch.epoch + 1  # counted from 1, as in STEM.hypnogram.csv
        row = f"{number} {clock} {epoch.stage} {epoch.confidence:.2f} {epoch.runner_up}"
        assert row in " ".join(text.split())


def test_too_many_flagged_epochs_keeps_the_least_confident(tmp_path):
    hyp = _night()
    everything = np.arange(len(hyp))
    raw = _pdf_text(_write(tmp_path, hyp, flagged=everything))
    assert raw.count("\f") == 2
    text = " ".join(raw.split())
    assert f"least confident of {len(hyp)} flagged epochs" in text
    least = int(np.argmin(hyp.confidence))
    assert f"{least + 1} " in text and f"{hyp.confidence[least]:.2f}" in text


def test_deidentified_report_has_no_patient_identity(tmp_path):
    text = _pdf_text(_write(tmp_path, deidentify=True))
    for field in ("patient_name", "patient_id", "birthdate"):
        assert PATIENT[field] not in text
    assert "Quixote" not in text and "PSG-0042" not in text  # the file name can carry the ID
    assert "de-identified" in text
    assert "Total sleep time (TST)" in text  # the clinical content stays


def test_manual_scoring_without_probabilities(tmp_path):
    text = _pdf_text(_write(tmp_path, _night(with_probabilities=False)))
    assert "no model probabilities" in text and "Manual scoring" in text


def test_report_without_identity_or_start_time(tmp_path):
    hyp = Hypnogram.from_names(["W", "N1", "N2", "N3", "N2", "REM", "W"])
    out = write_report(tmp_path / "r.pdf", hyp, sleep_statistics(hyp), {}, [], {})
    text = _pdf_text(out)
    assert "hours since recording start" in text and DISCLAIMER in " ".join(text.split())


def test_crash_mid_write_leaves_no_partial_report(tmp_path, monkeypatch):
    out = tmp_path / "night.report.pdf"
    out.write_bytes(b"previous report")
    calls = []

    def crash_on_second_page(self, figure=None, **kwargs):
        calls.append(figure)
        if len(calls) == 2:
            raise OSError("disk full")
        return original(self, figure, **kwargs)

    original = PdfPages.savefig
    monkeypatch.setattr(PdfPages, "savefig", crash_on_second_page)
    with pytest.raises(OSError, match="disk full"):
        _write(tmp_path)
    assert out.read_bytes() == b"previous report"
    assert [p.name for p in tmp_path.iterdir()] == ["night.report.pdf"]


def test_study_info_from_a_loaded_study():
    signal = SlotSignal("EEG_C", np.zeros(3000, np.float32), 100.0, "C4-M1", "uV")
    identity = Identity(patient_name="Quixote Alonso", patient_id="MRN-88231")
    study = Study(Path("/data/PSG-0042.edf"), START, 30.0, {"EEG_C": signal}, identity=identity)
    info = study_info(study)
    assert info["file_name"] == "PSG-0042.edf" and info["recording_start"] == START
    assert info["patient_name"] == "Quixote Alonso" and info["channels"] == {"EEG_C": "C4-M1"}
    assert set(info["channels"]) <= set(SLOT_NAMES)


# ---------------------------------------------------------------- PNG and review flags


def test_hypnogram_png(tmp_path):
    out = write_hypnogram_png(tmp_path / "night.png", _night())
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["night.png"]
    manual = write_hypnogram_png(tmp_path / "manual.png", _night(with_probabilities=False))
    assert manual.stat().st_size > 0


def test_low_confidence_epochs_skip_unscored_and_manual_scorings():
    p = np.full((4, 5), 0.2)
    p[1] = [0.5, 0.3, 0.1, 0.05, 0.05]
    hyp = Hypnogram(np.array([0, 0, -1, 2]), probabilities=p)
    assert low_confidence_epochs(hyp).tolist() == [0, 1, 3]  # epoch 2 is UNS
    assert low_confidence_epochs(hyp, threshold=0.4).tolist() == [0, 3]
    assert low_confidence_epochs(_night(with_probabilities=False)).size == 0


def test_runner_up_is_measured_against_the_scored_stage():
    p = np.array([[0.1, 0.2, 0.6, 0.05, 0.05]])
    model_choice = describe_epochs(Hypnogram(np.array([2]), probabilities=p), [0])[0]
    assert (model_choice.stage, model_choice.runner_up) == ("N2", "N1")
    # A technician re-scored the epoch N1: the model's alternative is now N2.
    edited = describe_epochs(Hypnogram(np.array([1]), probabilities=p), [0])[0]
    assert (edited.stage, edited.runner_up) == ("N1", "N2")
    assert edited.runner_up_probability == pytest.approx(0.6)
    with pytest.raises(ValueError, match="outside"):
        describe_epochs(Hypnogram(np.array([1]), probabilities=p), [1])


def test_report_of_a_loaded_simulated_night(hospital_night, tmp_path):
    from sleepvit.io import load_study, read_hypnogram

    edf_path, hypnogram_path = hospital_night
    before = edf_path.read_bytes()
    study = load_study(edf_path)
    hyp = read_hypnogram(hypnogram_path)
    info = study_info(study)
    out = write_report(tmp_path / "sim.report.pdf", hyp, sleep_statistics(hyp), info, [], MODEL)
    text = _pdf_text(out)
    assert edf_path.name in text and f"{study.start:%Y-%m-%d}" in text
    assert study.identity.patient_id and study.identity.patient_id in text
    for slot, signal in study.signals.items():
        assert f"{slot} {signal.label}" in " ".join(text.split())
    assert edf_path.read_bytes() == before  # the source recording is never modified

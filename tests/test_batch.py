"""``sleepvit score`` on files and folders: every output file, consistent, atomic, de-identified."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta

import numpy as np
import pytest
from pypdf import PdfReader

from sleepvit import outputs
from sleepvit.batch import find_recordings
from sleepvit.cli import main
from sleepvit.errors import OutputError
from sleepvit.hypnogram import parse_stage
from sleepvit.io import load_study
from sleepvit.outputs import OUTPUT_SUFFIXES

torch = pytest.importorskip("torch")
mne = pytest.importorskip("mne")

PATIENT_NAME = "Simulated Night"  # what the simulator writes as the EDF+ patient name
PATIENT_CODE = "SIM-002026"


@pytest.fixture(scope="module")
def weights(tmp_path_factory, hospital_night, fixture_stages, render_nights, save_tiny_weights):
    """Tiny weights trained a few steps on the fixture night, so that stages vary by epoch,
    exported to fp32 ONNX: scoring runs in ONNX Runtime as by default, and worker processes
    start without importing torch."""
    from sleepvit.models.export import export_fp32
    from sleepvit.models.torch_artifacts import load_artifacts

    images, present = render_nights([hospital_night])
    labels = np.array([parse_stage(s) for s in fixture_stages])
    folder = tmp_path_factory.mktemp("weights") / "tiny"
    save_tiny_weights(folder, train_on=(images, present, labels))
    export_fp32(load_artifacts(folder), folder)
    return folder


def _score(*args) -> int:
    return main(["score", *map(str, args), "--backend", "onnx-fp32"])


@pytest.fixture(scope="module")
def scored(tmp_path_factory, hospital_night, weights):
    """``(out_dir, edf, sha256 before)`` of one score run of the fixture night."""
    edf, _ = hospital_night
    before = _sha(edf)
    out = tmp_path_factory.mktemp("scored")
    assert _score(edf, "--out", out, "--weights", weights) == 0
    return out, edf, before


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _outputs(folder, stem):
    return {kind: folder / f"{stem}{suffix}" for kind, suffix in OUTPUT_SUFFIXES.items()}


def _per_epoch(segments, n_epochs):
    """Stage names per 30-s epoch from ``(onset_s, duration_s, name)`` runs."""
    names = [None] * n_epochs
    for onset, duration, name in segments:
        first = round(onset / 30)
        names[first : first + round(duration / 30)] = [name] * round(duration / 30)
    return names


def test_csv_edf_and_xml_of_one_run_hold_the_same_stages(scored):
    out, edf, _ = scored
    files = _outputs(out, edf.stem)
    with open(files["csv"], newline="") as f:
        csv_stages = [row["stage"] for row in csv.DictReader(f)]
    assert len(set(csv_stages)) >= 3  # the comparison below means something

    annotations = mne.read_annotations(files["edf"])
    edf_names = {"W": "W", "N1": "N1", "N2": "N2", "N3": "N3", "R": "REM"}
    edf_stages = _per_epoch(
        [
            (onset, duration, edf_names[text.removeprefix("Sleep stage ")])
            for onset, duration, text in zip(
                annotations.onset, annotations.duration, annotations.description, strict=True
            )
        ],
        len(csv_stages),
    )
    xml_names = {"Wake": "W", "Stage 1": "N1", "Stage 2": "N2", "Stage 3": "N3", "REM": "REM"}
    events = [
        e
        for e in ET.parse(files["xml"]).getroot().iter("ScoredEvent")
        if e.findtext("EventType") == "Stages|Stages"
    ]
    xml_stages = _per_epoch(
        [
            (
                float(e.findtext("Start")),
                float(e.findtext("Duration")),
                xml_names[next(k for k in xml_names if e.findtext("EventConcept").startswith(k))],
            )
            for e in events
        ],
        len(csv_stages),
    )
    assert csv_stages == edf_stages == xml_stages


def test_summary_has_metrics_mapping_model_timings_and_the_input_is_unchanged(
    scored, fixture_stages
):
    out, edf, before = scored
    assert _sha(edf) == before
    summary = json.loads(_outputs(out, edf.stem)["summary"].read_text())
    with open(_outputs(out, edf.stem)["csv"], newline="") as f:
        stages = [row["stage"] for row in csv.DictReader(f)]
    assert summary["epochs"] == len(fixture_stages)
    assert summary["metrics"]["tib_min"] == len(stages) / 2
    assert summary["metrics"]["tst_min"] == sum(s != "W" for s in stages) / 2
    assert summary["metrics"]["rem_min"] == stages.count("REM") / 2
    assert summary["channels"]["EEG_C"]["label"] == "C4-M1"
    assert summary["channels"]["EOG_L"]["label"] == "E1-M2"
    assert summary["model"]["name"] == "tiny" and summary["model"]["backend"] == "onnx-fp32"
    assert summary["software"]["version"]
    assert set(summary["timings_s"]) == {"load", "render", "epoch_vit", "sequence", "outputs"}
    # The fixture's expert scoring lies next to it: the run is compared with it.
    assert summary["reference"]["epochs"] == len(fixture_stages)
    assert summary["patient"]["name"] == PATIENT_NAME
    assert PATIENT_NAME in _pdf_text(_outputs(out, edf.stem)["pdf"])


def test_a_broken_file_is_reported_and_the_other_nights_are_scored(
    tmp_path, capsys, hospital_night, weights
):
    lab = tmp_path / "lab"
    for patient in ("p1", "p2"):  # the same file name in two folders must not collide
        (lab / patient).mkdir(parents=True)
        shutil.copy(hospital_night[0], lab / patient / "night.edf")
    (lab / "broken.edf").write_bytes(b"0       this is not an EDF header")
    out = tmp_path / "out"

    assert _score(lab, "--out", out, "--weights", weights, "--jobs", "2") == 2
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(lab / "broken.edf") in errors[0]
    for patient in ("p1", "p2"):
        assert all(p.is_file() for p in _outputs(out / patient, "night").values())
    table = captured.out[captured.out.index("night  ") :]
    assert "p1/night" in table and "p2/night" in table
    assert "broken" in table and "failed" in table
    assert not list(out.glob("broken*"))


def test_rerun_skips_scored_nights_and_overwrite_rescores_them(
    tmp_path, capsys, hospital_night, weights
):
    edf, _ = hospital_night
    args = (edf, "--out", tmp_path, "--weights", weights)
    assert _score(*args) == 0
    summary = _outputs(tmp_path, edf.stem)["summary"]
    first = summary.stat().st_mtime_ns
    capsys.readouterr()

    assert _score(*args) == 0
    assert "skipped (exists)" in capsys.readouterr().out
    assert summary.stat().st_mtime_ns == first

    assert _score(*args, "--overwrite") == 0
    assert "skipped" not in capsys.readouterr().out
    assert summary.stat().st_mtime_ns != first


def test_a_crash_while_writing_leaves_the_previous_outputs_and_no_partial_file(
    tmp_path, monkeypatch, scored, weights
):
    out, edf, _ = scored
    for path in out.iterdir():  # earlier outputs, distinguishable from a new run's
        (tmp_path / path.name).write_bytes(b"previous " + path.name.encode())
    previous = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert len(previous) == len(OUTPUT_SUFFIXES)

    def crash_halfway(path, *args, **kwargs):
        with outputs.atomic_open(path, "wb") as f:
            f.write(b"%PDF-1.4 half a report")
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(outputs, "write_report", crash_halfway)
    assert _score(edf, "--out", tmp_path, "--weights", weights, "--overwrite") == 2
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == previous


def test_deidentified_outputs_carry_no_patient_identity(tmp_path, hospital_night, weights):
    edf, _ = hospital_night
    assert PATIENT_NAME in load_study(edf).identity.patient_name  # the test can fail
    assert _score(edf, "--out", tmp_path, "--weights", weights, "--deidentify") == 0
    files = _outputs(tmp_path, edf.stem)
    texts = {
        "pdf": _pdf_text(files["pdf"]).encode(),
        "pdf bytes": files["pdf"].read_bytes(),
        "summary": files["summary"].read_bytes(),
        "xml": files["xml"].read_bytes(),
        "edf header": files["edf"].read_bytes()[:256],
        "csv": files["csv"].read_bytes(),
    }
    for what, content in texts.items():
        for secret in (PATIENT_NAME, PATIENT_NAME.replace(" ", "_"), PATIENT_CODE, edf.stem):
            assert secret.encode() not in content, f"{secret!r} in the {what}"
    assert b"Sleep stage" in files["edf"].read_bytes()  # still a scoring


def test_lights_off_and_on_clock_times_set_time_in_bed(tmp_path, hospital_night, weights):
    edf, _ = hospital_night
    start = load_study(edf).start
    off, on = start + timedelta(minutes=5), start + timedelta(minutes=20)
    args = ("--lights-off", f"{off:%H:%M}", "--lights-on", f"{on:%H:%M}")
    assert _score(edf, "--out", tmp_path, "--weights", weights, *args) == 0
    summary = json.loads(_outputs(tmp_path, edf.stem)["summary"].read_text())
    seconds_off = (off.replace(second=0) - start).total_seconds()
    seconds_on = (on.replace(second=0) - start).total_seconds()
    assert summary["metrics"]["tib_min"] == pytest.approx((seconds_on - seconds_off) / 60, abs=0.5)
    assert summary["lights"]["off"] == f"{off:%H:%M}"
    assert summary["lights"]["off_s"] == pytest.approx(seconds_off, abs=30)


def test_bad_clock_time_is_a_usage_error(tmp_path, capsys, hospital_night):
    with pytest.raises(SystemExit) as exit_info:
        main(["score", str(hospital_night[0]), "--out", str(tmp_path), "--lights-on", "7h"])
    assert exit_info.value.code == 2 and "HH:MM" in capsys.readouterr().err


def test_two_named_files_with_one_stem_are_refused_before_scoring(tmp_path, hospital_night):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copy(hospital_night[0], tmp_path / folder / "night.edf")
    with pytest.raises(OutputError, match="would both write"):
        find_recordings([tmp_path / "a" / "night.edf", tmp_path / "b" / "night.edf"], tmp_path)


def test_folders_skip_hypnograms_and_earlier_outputs(tmp_path, hospital_night, weights):
    edf, hypnogram = hospital_night
    shutil.copy(edf, tmp_path / edf.name)
    shutil.copy(hypnogram, tmp_path / hypnogram.name)
    assert _score(tmp_path, "--out", tmp_path / "scored", "--weights", weights) == 0
    # The output folder now holds an annotation-only EDF inside the searched folder.
    assert [job.path.name for job in find_recordings([tmp_path], tmp_path / "x")] == [edf.name]


def _pdf_text(path) -> str:
    return "".join(page.extract_text() for page in PdfReader(path).pages)


def test_clock_times_cross_midnight():
    from sleepvit.scoring import lights_offsets, parse_clock

    start = datetime(2026, 3, 14, 21, 45)
    off, on = lights_offsets(start, parse_clock("22:15"), parse_clock("06:45"))
    assert (off, on) == (1800.0, 9 * 3600.0)
    assert lights_offsets(start, None, parse_clock("21:30")) == (None, 24 * 3600 - 900)


def test_one_night_reports_its_progress_for_a_gui_and_a_cancel_writes_nothing(
    tmp_path, hospital_night, weights, fixture_stages
):
    from sleepvit.errors import Cancelled
    from sleepvit.models.backends import load_backend
    from sleepvit.scoring import NightJob, score_recording

    edf, _ = hospital_night
    scorer = load_backend(weights, "onnx-fp32")
    heard = []
    job = NightJob.for_recording(edf, tmp_path / "done")
    outcome = score_recording(job, scorer, progress=lambda *report: heard.append(report))
    n = len(fixture_stages)
    assert heard[0] == ("loaded", n) and heard[-1] == ("outputs", 0)
    for stage in ("render", "epoch_vit"):
        assert sum(value for name, value in heard if name == stage) == n
    assert outcome.status == "scored" and outcome.epochs == n
    assert all(p.is_file() for p in _outputs(tmp_path / "done", edf.stem).values())

    heard.clear()
    job = NightJob.for_recording(edf, tmp_path / "cancelled")
    with pytest.raises(Cancelled):
        score_recording(
            job,
            scorer,
            progress=lambda *report: heard.append(report),
            cancelled=lambda: any(stage == "render" for stage, _ in heard),
        )
    assert "epoch_vit" not in {stage for stage, _ in heard}  # it stopped at the next block
    assert not (tmp_path / "cancelled").exists() or not any((tmp_path / "cancelled").iterdir())

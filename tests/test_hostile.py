"""Hostile and unusual recordings (issue 17): each file is made here, byte by byte or with
pyedflib, and each must give the answer a sleep lab expects — never a confident stage for a
signal nobody could read, never a hang, never a leaked library warning."""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import tracemalloc
from datetime import datetime

import numpy as np
import psutil
import pyedflib
import pytest
from pypdf import PdfReader

from sleepvit.cli import main
from sleepvit.io import load_study
from sleepvit.io.edf_annotations import write_edf_annotations
from sleepvit.io.inspect import format_inspection
from sleepvit.io.quality import Problem, assess
from sleepvit.models.backends import load_backend
from sleepvit.pipeline import score_study
from sleepvit.study import Annotation

START = datetime(2026, 12, 1, 22, 30)
MINUTES = 10
EPOCHS = MINUTES * 2
RNG = np.random.default_rng(17)


def _eeg(rate: float, seconds: float, uv: float = 20.0) -> np.ndarray:
    """Noise with a 10-Hz rhythm: alive, in µV, nothing the checks could call flat."""
    t = np.arange(int(rate * seconds)) / rate
    return uv * RNG.standard_normal(t.size) + uv * np.sin(2 * np.pi * 10 * t)


def _write(path, channels, seconds=MINUTES * 60, annotations=(), file_type=None):
    """An EDF+ of ``(label, rate, samples in µV)`` channels, ±3276.8 µV over 16 bits."""
    writer = pyedflib.EdfWriter(
        str(path), len(channels), file_type=file_type or pyedflib.FILETYPE_EDFPLUS
    )
    writer.setSignalHeaders(
        [
            {
                "label": label,
                "dimension": "uV",
                "sample_frequency": rate,
                "physical_min": -3276.8,
                "physical_max": 3276.7,
                "digital_min": -32768,
                "digital_max": 32767,
            }
            for label, rate, _ in channels
        ]
    )
    writer.setStartdatetime(START)
    for onset, duration, text in annotations:
        writer.writeAnnotation(onset, duration, text)
    writer.writeSamples([np.asarray(data, float) for *_, data in channels])
    writer.close()
    return path


def _montage(seconds=MINUTES * 60, **replaced):
    """C4-M1, E1-M2, E2-M1 and chin EMG, alive, unless ``replaced`` gives other samples."""
    layout = (("C4-M1", 256), ("E1-M2", 256), ("E2-M1", 256), ("Chin1-Chin2", 512))
    return [
        (label, rate, replaced.get(label.split("-")[0], _eeg(rate, seconds)))
        for label, rate in layout
    ]


def _patch(path, offset: int, value: bytes):
    raw = bytearray(path.read_bytes())
    raw[offset : offset + len(value)] = value
    path.write_bytes(bytes(raw))


def _score(tmp_path, *paths, extra=()):
    """``sleepvit score`` with the shipped weights (onnx-int8, no torch): exit code."""
    return main(["score", *map(str, paths), "--out", str(tmp_path / "out"), *extra])


def _rows(tmp_path, stem):
    with open(tmp_path / "out" / f"{stem}.hypnogram.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _summary(tmp_path, stem):
    return json.loads((tmp_path / "out" / f"{stem}.summary.json").read_text(encoding="utf-8"))


def _cli(*args, timeout=300) -> subprocess.CompletedProcess:
    """``sleepvit ARGS`` in a fresh interpreter, as a user runs it: its own stderr, logging."""
    return subprocess.run(
        [sys.executable, "-m", "sleepvit.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _pdf_text(path) -> str:
    return "".join(page.extract_text() for page in PdfReader(path).pages)


# ---------------------------------------------------------------- 1. useless signals


USELESS = {
    "every channel all zeros": (
        lambda: _montage(C4=np.zeros(256 * 600), E1=np.zeros(256 * 600), E2=np.zeros(256 * 600)),
        "EEG_C flat",
    ),
    "every sample at the digital maximum": (
        lambda: [(label, rate, np.full(rate * 600, 3276.7)) for label, rate, _ in _montage()],
        "EEG_C clipped",
    ),
    "EEG sampled at 1 Hz": (
        lambda: [("C4-M1", 1, _eeg(1, 600))] + _montage()[1:],
        "EEG_C sampled too slowly",
    ),
}


@pytest.mark.parametrize("case", list(USELESS))
def test_useless_eeg_is_unscored_with_its_reason_never_a_confident_stage(tmp_path, caplog, case):
    make, reason = USELESS[case]
    edf = _write(tmp_path / "night.edf", make())
    with caplog.at_level(logging.WARNING):
        assert _score(tmp_path, edf) == 0
    err = caplog.text
    rows = _rows(tmp_path, "night")
    assert len(rows) == EPOCHS
    assert {r["stage"] for r in rows} == {"UNS"}
    assert {r["confidence"] for r in rows} == {""}  # no confidence at all, let alone high
    assert all(r["reason"] == f"no usable EEG: {reason}" for r in rows)
    summary = _summary(tmp_path, "night")
    assert summary["quality"]["unscored_epochs"] == EPOCHS
    assert summary["stage_epochs"]["UNS"] == EPOCHS and summary["metrics"]["tst_min"] == 0
    assert summary["confidence"]["mean"] is None
    assert f"{EPOCHS} of {EPOCHS} epochs have no usable EEG" in err
    assert any("EEG_C (C4-M1)" in w and "left out" in w for w in summary["warnings"])
    pdf = _pdf_text(tmp_path / "out" / "night.report.pdf")
    assert f"Signal quality: {EPOCHS} epochs unscored" in pdf and "EEG_C" in pdf


def test_a_dropout_block_unscores_only_its_own_epochs(tmp_path, caplog):
    """A tenth of the night at −32768, on every channel: those epochs, and only those."""
    edf = _write(tmp_path / "night.edf", _montage())
    raw = bytearray(edf.read_bytes())
    n_signals = int(raw[252:256])  # the four channels and the annotations
    spr = [int(raw[256 + n_signals * 216 + 8 * i : 256 + n_signals * 216 + 8 * (i + 1)])
           for i in range(n_signals)]  # fmt: skip
    record = 2 * sum(spr)
    for second in range(240, 300):  # epochs 9 and 10 (from 1), 1-s records
        start = 256 * (n_signals + 1) + second * record
        lost = 2 * sum(spr[:4])
        raw[start : start + lost] = b"\x00\x80" * (lost // 2)  # int16 −32768, little-endian
    edf.write_bytes(bytes(raw))
    with caplog.at_level(logging.WARNING):
        assert _score(tmp_path, edf) == 0
    rows = _rows(tmp_path, "night")
    unscored = [i for i, r in enumerate(rows) if r["stage"] == "UNS"]
    assert unscored == [8, 9]
    assert rows[8]["reason"] == "no usable EEG: EEG_C dropout" and rows[8]["confidence"] == ""
    assert all(r["reason"] == "" and r["confidence"] for i, r in enumerate(rows) if i not in (8, 9))
    assert "dropout" in caplog.text


def test_a_lost_slot_is_masked_and_the_epoch_scored_without_it(tmp_path):
    """A flat EOG costs the model its EOG, not the epoch."""
    edf = _write(tmp_path / "night.edf", _montage(E1=np.zeros(256 * 600)))
    hypnogram, _ = score_study(load_study(edf), load_backend())
    assert (hypnogram.stages >= 0).all()
    assert set(hypnogram.reasons) == {"scored without EOG_L (flat)"}
    assert np.isfinite(hypnogram.confidence).all()


def test_mains_hum_is_caught_only_where_it_would_swamp_the_screen(tmp_path):
    seconds = 120
    t = np.arange(256 * seconds) / 256
    hum = 600 * np.sin(2 * np.pi * 50 * t)  # a loose electrode in a 50-Hz country
    faint = 20 * np.sin(2 * np.pi * 50 * t)  # what every bedside picks up: still an EEG
    channels = [
        ("C4-M1", 256, _eeg(256, seconds) + hum),
        ("F4-M1", 256, _eeg(256, seconds) + faint),
    ]
    study = load_study(_write(tmp_path / "hum.edf", channels, seconds=seconds))
    codes = study.quality.problems
    assert (codes[:, 1] == Problem.MAINS_50).all()  # EEG_C
    assert (codes[:, 0] == 0).all()  # EEG_F
    assert study.quality.reasons()[0] == "scored without EEG_C (mains hum (50 Hz))"
    assert (assess(study, notch_hz=50.0).problems == 0).all()  # a notch would remove it


def test_the_simulated_nights_have_nothing_to_report(hospital_night, sleep_edf_night):
    """No false alarms: 256/512-Hz hospital channels, and Sleep-EDF's 100-Hz EEG, 1-Hz chin
    EMG envelope and 1-Hz breathing are all readable."""
    for edf, _ in (hospital_night, sleep_edf_night):
        quality = load_study(edf).quality
        assert quality.findings() == [] and quality.scorable.all()


# ---------------------------------------------------------------- 2. EDF+D gaps


def _discontinuous(path, gap_after_s: int, gap_s: int):
    """Make an EDF+C with 1-s records EDF+D: the records from ``gap_after_s`` start later."""
    raw = bytearray(path.read_bytes())
    raw[192:197] = b"EDF+D"
    n = int(raw[252:256])
    spr = [int(raw[256 + n * 216 + 8 * i : 256 + n * 216 + 8 * (i + 1)]) for i in range(n)]
    labels = [raw[256 + 16 * i : 256 + 16 * (i + 1)].decode().strip() for i in range(n)]
    tal = 256 * (n + 1) + 2 * sum(spr[: labels.index("EDF Annotations")])
    width = 2 * spr[labels.index("EDF Annotations")]
    for record in range(gap_after_s, int(raw[236:244])):
        start = tal + record * 2 * sum(spr)
        old = f"+{record}\x14\x14".encode()
        new = f"+{record + gap_s}\x14\x14".encode()
        patched = bytes(raw[start : start + width]).replace(old, new, 1)
        raw[start : start + width] = patched[:width].ljust(width, b"\x00")
    path.write_bytes(bytes(raw))


def test_epochs_in_an_edf_plus_d_gap_are_unscored_out_of_tst_and_drawn_as_a_gap(tmp_path):
    edf = _write(tmp_path / "gappy.edf", _montage())
    _discontinuous(edf, gap_after_s=300, gap_s=300)
    assert _score(tmp_path, edf) == 0
    rows = _rows(tmp_path, "gappy")
    assert len(rows) == EPOCHS + 10
    gap = [i for i, r in enumerate(rows) if r["reason"] == "no data"]
    assert gap == list(range(10, 20))
    assert all(rows[i]["stage"] == "UNS" and rows[i]["confidence"] == "" for i in gap)
    summary = _summary(tmp_path, "gappy")
    assert summary["quality"]["no_data_epochs"] == 10
    scored_sleep = sum(r["stage"] in ("N1", "N2", "N3", "REM") for r in rows)
    assert summary["metrics"]["tst_min"] == scored_sleep / 2
    assert "drawn hatched" in _pdf_text(tmp_path / "out" / "gappy.report.pdf")


def test_the_sequence_model_never_reads_across_left_out_epochs():
    """Whatever sits in a gap, the stages around it stay the same: it is masked, not read.

    In fp32: int8's dynamic quantization scales each batch by its largest value, so garbage
    anywhere in a batch moves every number a little (the pipeline gives left-out epochs
    zeros)."""
    scorer = load_backend(name="onnx-fp32")
    embeddings = RNG.standard_normal((40, scorer.config.epoch_vit.dim)).astype(np.float32)
    keep = np.ones(40, bool)
    keep[15:25] = False
    first = scorer.sequence_probabilities(embeddings, keep=keep)
    embeddings[15:25] = 100 * RNG.standard_normal((10, embeddings.shape[1]))
    second = scorer.sequence_probabilities(embeddings, keep=keep)
    np.testing.assert_allclose(first[keep], second[keep], atol=1e-6)
    assert np.isnan(first[~keep]).all() and np.isfinite(first[keep]).all()


def test_the_hypnogram_picture_draws_no_data_as_a_hatched_gap():
    from matplotlib.figure import Figure

    from sleepvit.hypnogram import Hypnogram
    from sleepvit.report.hypnogram_plot import draw_hypnogram

    reasons = [""] * 10 + ["no data"] * 10 + [""] * 10
    hyp = Hypnogram([2] * 10 + [-1] * 10 + [2] * 10, reasons=reasons)
    ax = Figure().add_subplot()
    draw_hypnogram(ax, hyp)
    hatched = [p for p in ax.patches if p.get_hatch()]
    assert len(hatched) == 1
    box = hatched[0].get_extents().transformed(ax.transData.inverted())
    assert box.x0 == pytest.approx(10 * 30 / 3600) and box.x1 == pytest.approx(20 * 30 / 3600)


# ---------------------------------------------------------------- 3. duplicate labels


def _duplicates(tmp_path, first, third):
    channels = [("C4-M1", 256, first), ("E1-M2", 256, _eeg(256, 120)), ("C4-M1", 256, third)]
    return _write(tmp_path / "dup.edf", channels, seconds=120)


def test_duplicate_labels_are_told_apart_and_the_better_signal_is_used(tmp_path, caplog):
    edf = _duplicates(tmp_path, np.zeros(256 * 120), _eeg(256, 120))
    with caplog.at_level(logging.WARNING):
        study = load_study(edf)
    assert study.signals["EEG_C"].label == "C4-M1#3"
    assert [c.label for c in study.channels] == ["C4-M1#1", "E1-M2", "C4-M1#3"]
    assert "EEG_C: using C4-M1#3 instead of C4-M1#1 (flat in 4 of 4 epochs)" in caplog.text
    assert study.quality.scorable.all()
    text = format_inspection(study)
    assert "C4-M1#1  256      uV    unused" in text and "C4-M1#3  256      uV    EEG_C" in text
    for name in ("C4-M1#1", "#1"):  # a channel map reaches either signal, by name or number
        assert load_study(edf, channel_map={"EEG_C": name}).signals["EEG_C"].label == "C4-M1#1"
    assert load_study(edf, channel_map={"EEG_C": "C4-M1"}).signals["EEG_C"].label == "C4-M1#3"


def test_duplicates_both_readable_keep_the_first_and_say_so(tmp_path, caplog):
    edf = _duplicates(tmp_path, _eeg(256, 120), _eeg(256, 120))
    with caplog.at_level(logging.WARNING):
        study = load_study(edf)
    assert study.signals["EEG_C"].label == "C4-M1#1"
    assert "C4-M1#1 and C4-M1#3 are the same derivation" in caplog.text


def test_an_unreadable_preferred_channel_gives_way_to_the_next_candidate(tmp_path):
    channels = [("C4-M1", 256, np.zeros(256 * 120)), ("C3-M2", 256, _eeg(256, 120))]
    study = load_study(_write(tmp_path / "night.edf", channels, seconds=120))
    assert study.signals["EEG_C"].label == "C3-M2"
    assert "C4-M1 left out (flat in 4 of 4 epochs)" in study.signals["EEG_C"].reason


# ---------------------------------------------------------------- 4.–6. odd files


def test_junk_after_the_declared_records_is_ignored_with_its_size(tmp_path, caplog):
    edf = _write(tmp_path / "night.edf", _montage(seconds=120), seconds=120)
    clean = load_study(edf)
    record = 2 * (3 * 256 + 512 + int(edf.read_bytes()[256 + 5 * 216 + 32 : 256 + 5 * 216 + 40]))
    edf.write_bytes(edf.read_bytes() + b"\xff" * (3 * record + 17))  # not UTF-8, not a TAL
    with caplog.at_level(logging.WARNING):
        study = load_study(edf)
    assert study.duration_s == clean.duration_s and study.file_format == "EDF+C"
    assert f"the file has {3 * record + 17} bytes after its 120 data records" in caplog.text
    np.testing.assert_array_equal(study.signals["EEG_C"].data, clean.signals["EEG_C"].data)


@pytest.mark.parametrize("closed", [True, False], ids=["closed", "records -1"])
def test_a_latin_1_byte_in_an_annotation_reads_as_latin_1(tmp_path, closed):
    edf = _write(tmp_path / "night.edf", _montage(seconds=120), 120, [(5, 0, "Schlaf gestXrt")])
    raw = edf.read_bytes()
    edf.write_bytes(raw.replace(b"gestXrt", b"gest\xf6rt"))
    if not closed:
        _patch(edf, 236, b"-1      ")
    study = load_study(edf)
    assert "Schlaf gestört" in [a.description for a in study.annotations]


def test_start_time_24_00_00_is_midnight_of_the_next_day(tmp_path, caplog, capsys):
    edf = _write(tmp_path / "night.edf", _montage(seconds=120), seconds=120)
    clean = load_study(edf)
    _patch(edf, 168, b"01.12.2624.00.00")
    with caplog.at_level(logging.WARNING):
        study = load_study(edf)
    assert study.start == datetime(2026, 12, 2, 0, 0)
    assert "'24.00.00' on 01.12.26 is read as 00.00.00 of the next day (02.12.2026)" in caplog.text
    assert study.file_format == "EDF+C"
    np.testing.assert_array_equal(study.signals["EEG_C"].data, clean.signals["EEG_C"].data)
    assert _score(tmp_path, edf) == 0
    assert _summary(tmp_path, "night")["recording"]["start"] == "2026-12-02T00:00:00"


# ---------------------------------------------------------------- 7.–8. paths and ranges


def test_a_device_and_a_fifo_are_not_regular_files_and_never_hang(tmp_path, capsys):
    assert main(["inspect", "/dev/null"]) == 2
    assert "error: /dev/null: is not a regular file (it is a device)" in capsys.readouterr().err
    fifo = tmp_path / "night.edf"
    os.mkfifo(fifo)
    for command in (["inspect", str(fifo)], ["score", str(fifo), "--out", str(tmp_path / "o")]):
        # In a child process: if it opened the FIFO, it would block forever.
        done = _cli(*command, timeout=120)
        assert done.returncode == 2
        assert done.stderr.strip().splitlines()[-1] == (
            f"error: {fifo}: is not a regular file (it is a named pipe (FIFO)); give the path "
            + (
                "of an EDF/BDF recording"
                if command[0] == "inspect"
                else "of a recording or a folder of them"
            )
        )


def test_render_checks_a_huge_range_against_the_night_before_allocating(tmp_path, capsys):
    edf = _write(tmp_path / "night.edf", _montage(seconds=120), seconds=120)
    tracemalloc.start()
    code = main(["render", str(edf), "--epochs", "1-999999999", "--out", str(tmp_path / "shots")])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert code == 2
    err = capsys.readouterr().err
    assert "epoch 5 is outside the recording, which has epochs 1-4" in err
    assert peak < 100e6 and not (tmp_path / "shots").exists()


def test_render_draws_and_writes_a_batch_at_a_time(tmp_path, monkeypatch):
    from sleepvit.rendering import export
    from sleepvit.rendering.render import EpochRenderer

    edf = _write(tmp_path / "night.edf", _montage())
    drawn = []
    original = EpochRenderer.render
    monkeypatch.setattr(
        EpochRenderer, "render", lambda self, e: drawn.append(len(e)) or original(self, e)
    )
    written = export.export_epochs(load_study(edf), export.parse_epochs("1-20,3"), tmp_path)
    assert len(written) == 21 and max(drawn) <= export.EXPORT_BATCH


# ---------------------------------------------------------------- 9. parallel workers


def _copies(tmp_path, hospital_night, n=4):
    lab = tmp_path / "lab"
    lab.mkdir()
    for i in range(n):
        shutil.copy(hospital_night[0], lab / f"night{i}.edf")
    return lab


def _start_batch(tmp_path, lab):
    process = subprocess.Popen(
        [sys.executable, "-m", "sleepvit.cli", "score", str(lab), "--out", str(tmp_path / "o")]
        + ["--jobs", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    parent = psutil.Process(process.pid)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        workers = [c for c in parent.children(recursive=True) if "python" in c.name().lower()]
        if len(workers) >= 2:
            time.sleep(2)  # let them load the model and start a night
            return process, parent.children(recursive=True)
        time.sleep(0.2)
    process.kill()
    pytest.fail("the batch started no workers")


@pytest.mark.parametrize("kill", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_workers_never_outlive_the_batch(tmp_path, hospital_night, kill):
    process, children = _start_batch(tmp_path, _copies(tmp_path, hospital_night))
    process.send_signal(kill)
    out, err = process.communicate(timeout=120)  # returns only once nobody holds the pipes
    gone, alive = psutil.wait_procs(children, timeout=30)
    assert not alive, [p.cmdline() for p in alive]
    if kill == signal.SIGTERM:
        assert process.returncode == 128 + signal.SIGTERM
        last = err.strip().splitlines()[-1]
        assert last.startswith("error: terminated (SIGTERM): stopped after "), err
        assert "not scored (stopped)" in out


# ---------------------------------------------------------------- 10. staging folders


def test_stale_staging_folders_of_a_night_are_removed_and_live_ones_kept(tmp_path):
    from sleepvit.outputs import STAGING_OWNER, remove_stale_staging

    dead = subprocess.Popen(["true"])
    dead.wait()

    def staging(name, owner=None, age_s=0.0):
        folder = tmp_path / name
        folder.mkdir()
        (folder / ".night.hypnogram.csv.x1y2z3.tmp").write_text("epoch,stage\n")
        if owner is not None:
            (folder / STAGING_OWNER).write_text(json.dumps(owner))
        stamp = time.time() - age_s
        os.utime(folder, (stamp, stamp))
        return folder

    host = socket.gethostname()
    killed = staging(".night.abcd1234.partial", {"pid": dead.pid, "host": host})
    running = staging(".night.efgh5678.partial", {"pid": os.getpid(), "host": host})
    elsewhere = staging(".night.ijkl9012.partial", {"pid": dead.pid, "host": "other-pc"})
    old = staging(".night.mnop3456.partial", age_s=7200)  # no owner file: an older version's
    other_night = staging(".night2.qrst7890.partial", {"pid": dead.pid, "host": host})
    not_ours = staging(".night.partial", {"pid": dead.pid, "host": host})
    removed = remove_stale_staging(tmp_path, "night")
    assert sorted(removed) == sorted([killed, old])
    assert all(p.is_dir() for p in (running, elsewhere, other_night, not_ours))


def test_the_next_run_of_a_night_removes_what_a_killed_run_left(tmp_path):
    edf = _write(tmp_path / "night.edf", _montage(seconds=120), seconds=120)
    leftover = tmp_path / "out" / ".night.abcd1234.partial"
    leftover.mkdir(parents=True)
    (leftover / ".night.report.pdf.x1y2z3.tmp").write_bytes(b"%PDF-")
    stamp = time.time() - 7200
    os.utime(leftover, (stamp, stamp))
    assert _score(tmp_path, edf) == 0
    assert not leftover.exists()
    assert not list((tmp_path / "out").glob(".*"))


# ---------------------------------------------------------------- 11.–13. headers


def test_an_annotation_only_file_is_named_a_scoring_and_its_recording_suggested(tmp_path, capsys):
    _write(tmp_path / "night.edf", _montage(seconds=60), seconds=60)
    scoring = tmp_path / "night-Hypnogram.edf"
    write_edf_annotations(scoring, START, [Annotation(0, 60, "Sleep stage W")])
    assert main(["inspect", str(scoring)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {scoring}: contains only annotations (a scoring, not a recording); pass "
        "night.edf instead, and keep this file next to it as its scoring"
    )


def _with_patient(path, field: bytes):
    _patch(path, 8, field.ljust(80, b"\x00"))


def test_nul_padded_fields_are_trimmed_and_no_glyph_warning_leaks(tmp_path):
    edf = _write(tmp_path / "night.edf", _montage(seconds=120), seconds=120)
    _with_patient(edf, b"P-17 F 01-JAN-1970 Doe_Jane")
    for signal_number in range(4):  # every label NUL-padded after its text
        offset = 256 + 16 * signal_number
        label = edf.read_bytes()[offset : offset + 16].rstrip(b" ")
        _patch(edf, offset, label.ljust(16, b"\x00"))
    study = load_study(edf)
    assert study.identity.patient_name == "Doe Jane"
    assert [c.label for c in study.channels] == ["C4-M1", "E1-M2", "E2-M1", "Chin1-Chin2"]
    done = _cli("score", edf, "--out", tmp_path / "o")
    assert done.returncode == 0, done.stderr
    assert "Glyph" not in done.stderr and "findfont" not in done.stderr
    summary = json.loads((tmp_path / "o" / "night.summary.json").read_text(encoding="utf-8"))
    assert summary["patient"]["name"] == "Doe Jane"


def test_a_cjk_file_name_reaches_the_report_without_a_warning(tmp_path):
    edf = _write(tmp_path / "睡眠_夜.edf", _montage(seconds=120), seconds=120)
    done = _cli("score", edf, "--out", tmp_path / "o")
    assert done.returncode == 0, done.stderr
    # Two minutes of synthetic sines may well be unlike the training data: that verdict is the
    # recording's, not the file name's.
    warnings = [line for line in done.stderr.splitlines() if "warning" in line.lower()]
    assert not [line for line in warnings if "unlike the training data" not in line]
    assert "睡眠_夜.edf" in _pdf_text(tmp_path / "o" / "睡眠_夜.report.pdf")


@pytest.mark.parametrize(
    ("field", "name", "encoding"),
    [("Zoë_夏".encode(), "Zoë 夏", "UTF-8"), ("Zoë".encode("latin-1"), "Zoë", "Latin-1")],
)
def test_non_ascii_header_text_is_read_as_utf8_or_latin1_with_a_warning(
    tmp_path, caplog, field, name, encoding
):
    edf = _write(tmp_path / "night.edf", _montage(seconds=60), seconds=60)
    _with_patient(edf, b"P-17 F 01-JAN-1970 " + field)
    with caplog.at_level(logging.WARNING):
        study = load_study(edf)
    assert study.identity.patient_name == name
    assert f"header text is not ASCII, which EDF requires; read as {encoding}: patient" in (
        caplog.text
    )


# ---------------------------------------------------------------- 14. the output folder


def test_an_unusable_output_folder_is_refused_before_any_recording_is_read(
    tmp_path, capsys, monkeypatch
):
    import sleepvit.batch

    monkeypatch.setattr(
        sleepvit.batch, "find_recordings", lambda *a: pytest.fail("a recording was read")
    )
    taken = tmp_path / "outfile.txt"
    taken.write_text("a file, not a folder")
    for out, problem in (
        (taken, "is not a folder (it is a file)"),
        (taken / "sub", f"cannot be created: {taken} is not a folder (it is a file)"),
    ):
        assert main(["score", str(tmp_path / "night.edf"), "--out", str(out)]) == 2
        assert capsys.readouterr().err.strip() == (
            f"error: {out}: {problem}; choose another output folder (see --out)"
        )


def test_warnings_come_before_the_error_line_which_comes_last(tmp_path):
    edf = _write(tmp_path / "night.edf", [("Marker", 256, _eeg(256, 60))], seconds=60)
    _patch(edf, 168, b"01.12.2624.00.00")  # a warning, then an error: no EEG
    done = _cli("inspect", edf, timeout=120)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) >= 2
    assert all(line.startswith("warning: ") for line in lines[:-1])
    assert lines[-1].startswith(f"error: {edf}: no recognisable EEG channel")


def test_warnings_of_parallel_workers_reach_the_terminal_before_their_night_s_error(tmp_path):
    lab = tmp_path / "lab"
    lab.mkdir()
    for name, channels in (("good", _montage(120)), ("bad", [("Marker", 256, _eeg(256, 120))])):
        edf = _write(lab / f"{name}.edf", channels, seconds=120)
        _patch(edf, 168, b"01.12.2624.00.00")
    done = _cli("score", lab, "--out", tmp_path / "o", "--jobs", "2")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    error = next(i for i, line in enumerate(lines) if line.startswith("error:"))
    warned = next(i for i, line in enumerate(lines) if line.startswith("warning: bad.edf: start"))
    assert warned < error and "bad.edf: no recognisable EEG" in lines[error]
    assert all(line.startswith(("warning: ", "error: ")) for line in lines)

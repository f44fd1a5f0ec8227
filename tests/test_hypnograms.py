"""Hypnogram formats: reading what scorers produce, writing what SleepViT exports, alignment."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta

import mne
import numpy as np
import pyedflib
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sleepvit.errors import HypnogramError, OutputError
from sleepvit.hypnogram import (
    STAGE_CODE,
    Hypnogram,
    align_to_recording,
    parse_stage,
    stage_name,
)
from sleepvit.io import find_hypnogram, load_study, read_hypnogram, write_hypnogram
from sleepvit.io.edf_annotations import write_edf_annotations
from sleepvit.study import Annotation

START = datetime(2026, 3, 14, 22, 41, 7)
NAMES = ["W", "W", "N1", "N2", "N2", "N3", "N3", "N2", "REM", "REM", "UNS", "W"]


def _night(probabilities: bool = False, offset_s: float = 0.0) -> Hypnogram:
    rng = np.random.default_rng(7)
    probs = rng.dirichlet(np.ones(5), size=len(NAMES)).astype(np.float32) if probabilities else None
    return Hypnogram.from_names(NAMES, start=START, probabilities=probs, offset_s=offset_s)


def _assert_one_line_naming(exc: pytest.ExceptionInfo, path) -> None:
    message = str(exc.value)
    assert "\n" not in message
    assert path.name in message


# --- stage spellings --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spelling", "stage"),
    [
        ("Sleep stage W", "W"),
        ("Sleep stage 1", "N1"),
        ("Sleep stage 2", "N2"),
        ("Sleep stage 3", "N3"),
        ("Sleep stage 4", "N3"),
        ("Sleep stage R", "REM"),
        ("Sleep stage ?", "UNS"),
        ("Movement time", "UNS"),
        ("Sleep stage N1", "N1"),
        ("Sleep Stage N2", "N2"),
        ("Stage 2 sleep", "N2"),
        ("Stage 4 sleep|4", "N3"),
        ("REM sleep|5", "REM"),
        ("Wake|0", "W"),
        ("Unscored|9", "UNS"),
        ("wake", "W"),
        ("S1", "N1"),
        ("s3", "N3"),
        ("5", "REM"),
        ("4", "N3"),
        ("0", "W"),
        ("2.0", "N2"),
        ("-1", "UNS"),
        ("Artifact", "UNS"),
        ("A", "UNS"),
        ("SLEEP-S2", "N2"),
        ("sleep_stage_N3", "N3"),
    ],
)
def test_stage_spellings_used_by_scorers_map_to_aasm_stages(spelling, stage):
    assert stage_name(parse_stage(spelling)) == stage


@pytest.mark.parametrize("label", ["Arousal", "Lights off", "Obstructive apnea", "N5", ""])
def test_labels_that_are_not_stages_are_rejected(label):
    with pytest.raises(ValueError):
        parse_stage(label)


# --- round trips ------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".edf", ".csv", ".tsv", ".xml", ".json"])
@pytest.mark.parametrize("offset_s", [0.0, 90.0])
def test_every_format_round_trips_stages_and_onsets(tmp_path, suffix, offset_s):
    hyp = _night(offset_s=offset_s)
    path = write_hypnogram(hyp, tmp_path / f"night{suffix}")
    back = read_hypnogram(path)
    assert back.names() == NAMES
    np.testing.assert_allclose(back.onsets_s, hyp.onsets_s)
    assert back.epoch_s == 30.0


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    codes=st.lists(st.integers(-1, 4), min_size=1, max_size=200),
    offset_epochs=st.integers(0, 100),
    start=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2080, 1, 1)),
    suffix=st.sampled_from([".edf", ".csv", ".tsv", ".xml", ".json"]),
)
def test_any_scoring_round_trips(tmp_path, codes, offset_epochs, start, suffix):
    hyp = Hypnogram(codes, start=start.replace(microsecond=0), offset_s=30.0 * offset_epochs)
    back = read_hypnogram(write_hypnogram(hyp, tmp_path / f"night{suffix}"))
    assert back.names() == hyp.names()
    np.testing.assert_allclose(back.onsets_s, hyp.onsets_s)
    if suffix in (".edf", ".xml", ".json"):
        assert back.start == hyp.start


@pytest.mark.parametrize("suffix", [".edf", ".xml", ".json"])
def test_formats_with_a_clock_keep_the_start_time(tmp_path, suffix):
    back = read_hypnogram(write_hypnogram(_night(), tmp_path / f"night{suffix}"))
    assert back.start == START


@pytest.mark.parametrize("suffix", [".edf", ".xml", ".json"])
def test_an_unknown_start_stays_unknown(tmp_path, suffix):
    hyp = Hypnogram.from_names(NAMES)
    assert read_hypnogram(write_hypnogram(hyp, tmp_path / f"night{suffix}")).start is None


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".json"])
def test_model_scorings_keep_their_probabilities(tmp_path, suffix):
    hyp = _night(probabilities=True)
    back = read_hypnogram(write_hypnogram(hyp, tmp_path / f"night{suffix}"))
    np.testing.assert_allclose(back.probabilities, hyp.probabilities, atol=1e-4)


def test_scoring_csv_has_the_design_columns(tmp_path):
    path = write_hypnogram(_night(probabilities=True), tmp_path / "night.hypnogram.csv")
    lines = path.read_text().splitlines()
    assert lines[0] == "epoch,onset_s,stage,confidence,p_W,p_N1,p_N2,p_N3,p_REM"
    assert lines[1].startswith("1,0,W,")
    assert len(lines) == len(NAMES) + 1
    human = write_hypnogram(_night(), tmp_path / "human.csv")
    assert human.read_text().splitlines()[:2] == ["epoch,onset_s,stage", "1,0,W"]


def test_edf_output_reads_in_mne_with_merged_aasm_descriptions(tmp_path):
    path = write_hypnogram(_night(), tmp_path / "night.annotations.edf")
    annotations = mne.read_annotations(path)
    assert list(annotations.description) == [
        "Sleep stage W",
        "Sleep stage N1",
        "Sleep stage N2",
        "Sleep stage N3",
        "Sleep stage N2",
        "Sleep stage R",
        "Sleep stage ?",
        "Sleep stage W",
    ]
    np.testing.assert_allclose(annotations.onset, [0, 60, 90, 150, 210, 240, 300, 330])
    np.testing.assert_allclose(annotations.duration, [60, 30, 60, 60, 30, 60, 30, 30])


def test_edf_output_passes_edflib_checks_with_header_start(tmp_path):
    # edflib (behind pyedflib) is EDFbrowser's reader and rejects non-compliant headers.
    path = write_hypnogram(_night(), tmp_path / "night.annotations.edf")
    with pyedflib.EdfReader(str(path)) as reader:
        assert reader.signals_in_file == 0
        assert reader.getStartdatetime() == START
        onsets, durations, texts = reader.readAnnotations()
    assert list(texts)[:3] == ["Sleep stage W", "Sleep stage N1", "Sleep stage N2"]
    assert onsets[2] == 90 and durations[2] == 60


def test_nsrr_output_uses_nsrr_event_concepts(tmp_path):
    text = write_hypnogram(_night(), tmp_path / "night.nsrr.xml").read_text()
    for concept in ("Wake|0", "Stage 1 sleep|1", "Stage 2 sleep|2", "Stage 3 sleep|3"):
        assert f"<EventConcept>{concept}</EventConcept>" in text
    assert "<EventConcept>REM sleep|5</EventConcept>" in text
    assert "<EventConcept>Unscored|9</EventConcept>" in text
    assert "<EventType>Stages|Stages</EventType>" in text


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".edf", ".xml", ".json"])
def test_a_reviewed_scoring_keeps_the_ai_stages_and_reads_as_the_reviewed_one(tmp_path, suffix):
    ai = _night(probabilities=True)
    reviewed = Hypnogram(ai.stages.copy(), start=START, probabilities=ai.probabilities)
    reviewed.stages[[2, 8]] = [STAGE_CODE["N2"], STAGE_CODE["W"]]
    path = write_hypnogram(reviewed, tmp_path / f"night.reviewed{suffix}", ai=ai)
    assert read_hypnogram(path).names() == reviewed.names()
    if suffix == ".edf":
        ai_runs = [a for a in mne.read_annotations(path).description if "AI" in a]
        assert ai_runs[:3] == [f"SleepViT AI: Sleep stage {s}" for s in ("W", "N1", "N2")]
    elif suffix == ".xml":
        assert path.read_text().count("<EventType>SleepViT AI|SleepViT AI</EventType>") == 8
    elif suffix == ".json":
        import json

        assert json.loads(path.read_text())["ai_stages"] == NAMES
    else:
        delimiter = "\t" if suffix == ".tsv" else ","
        rows = [line.split(delimiter) for line in path.read_text().splitlines()]
        assert rows[0][:5] == ["epoch", "onset_s", "stage", "ai_stage", "confidence"]
        assert [row[3] for row in rows[1:]] == NAMES
        assert rows[3][2:4] == ["N2", "N1"]  # epoch 3: reviewed N2, the AI said N1


def test_writing_is_atomic_and_never_overwrites_a_recording(tmp_path):
    psg = tmp_path / "night.edf"
    _write_psg(psg, [])
    before = psg.read_bytes()
    with pytest.raises(OutputError):
        write_hypnogram(_night(), psg)
    assert psg.read_bytes() == before
    write_hypnogram(_night(), tmp_path / "night.hypnogram.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["night.edf", "night.hypnogram.json"]


def test_unknown_output_extension_is_refused(tmp_path):
    with pytest.raises(OutputError, match="extension"):
        write_hypnogram(_night(), tmp_path / "night.txt")


# --- reading what others write ------------------------------------------------------------


def test_sleep_edf_hypnogram_maps_rk_stages_movement_and_unknown(tmp_path):
    path = tmp_path / "SC4001EC-Hypnogram.edf"
    write_edf_annotations(
        path,
        START,
        [
            Annotation(0, 90, "Sleep stage W"),
            Annotation(90, 30, "Sleep stage 1"),
            Annotation(120, 60, "Sleep stage 2"),
            Annotation(180, 30, "Sleep stage 3"),
            Annotation(210, 60, "Sleep stage 4"),
            Annotation(270, 30, "Movement time"),
            Annotation(300, 60, "Sleep stage R"),
            Annotation(360, 30, "Sleep stage ?"),
        ],
    )
    # Sleep-EDF's own files declare a data record duration of 0 s.
    path.write_bytes(_with_header_field(path, 244, b"0       "))
    hyp = read_hypnogram(path)
    assert hyp.names() == (
        ["W"] * 3 + ["N1"] + ["N2"] * 2 + ["N3"] * 3 + ["UNS"] + ["REM"] * 2 + ["UNS"]
    )
    assert hyp.start == START


def test_stage_annotations_inside_a_psg_file_are_read_among_other_events(tmp_path):
    path = tmp_path / "psg.edf"
    _write_psg(
        path,
        [
            (0.0, 60.0, "Sleep stage W"),
            (45.0, 3.0, "Arousal"),
            (60.0, 30.0, "Sleep stage N1"),
            (77.5, 2.5, "Movement"),  # a limb movement, not the R&K "movement time" stage
            (90.0, 30.0, "Sleep stage N2"),
        ],
    )
    hyp = read_hypnogram(path)
    assert hyp.names() == ["W", "W", "N1", "N2"]
    assert hyp.metadata["other_annotations"] == 2
    assert hyp.start == START


def test_zero_duration_stage_marks_last_until_the_next_stage(tmp_path):
    path = tmp_path / "marks.edf"
    write_edf_annotations(
        path, START, [Annotation(0, 0, "Sleep stage W"), Annotation(90, 0, "Sleep stage N2")]
    )
    assert read_hypnogram(path).names() == ["W", "W", "W", "N2"]


@pytest.mark.parametrize(
    ("text", "suffix"),
    [
        ("W\nN1\nN2\nN3\nR\n", ".txt"),
        ("Stage\nWake\nS1\nS2\nS4\nREM\n", ".csv"),
        ("# exported by a scorer\nsleep_stage\n0\n1\n2\n3\n5\n", ".csv"),
        ("epoch;stage\n1;W\n2;N1\n3;N2\n4;N3\n5;R\n", ".csv"),
        ("epoch\tSleep Stage\n1\tW\n2\tN1\n3\tN2\n4\tS3\n5\tREM\n", ".tsv"),
        ("W,N1,N2,N3,REM\n", ".txt"),
        ("\ufeffStage\r\nW\r\nN1\r\nN2\r\nN3\r\nREM\r\n", ".csv"),
    ],
)
def test_csv_spelling_and_layout_variants(tmp_path, text, suffix):
    path = tmp_path / f"scoring{suffix}"
    path.write_text(text, encoding="utf-8")
    assert read_hypnogram(path).names() == ["W", "N1", "N2", "N3", "REM"]


def test_csv_event_list_reads_stage_runs_and_skips_other_events(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(
        "onset,duration,description\n"
        "60,60,Sleep stage W\n"
        "100,12,Obstructive apnea\n"
        "120,90,Sleep stage N2\n"
        "240,30,Sleep stage R\n"
    )
    hyp = read_hypnogram(path)
    assert hyp.names() == ["W", "W", "N2", "N2", "N2", "UNS", "REM"]
    assert hyp.offset_s == 60


def test_csv_run_lengths_without_onsets_follow_each_other(tmp_path):
    path = tmp_path / "runs.csv"
    path.write_text("Sleep Stage,Duration\nWK,60\nN2,90\nREM,30\n")
    assert read_hypnogram(path).names() == ["W", "W", "N2", "N2", "N2", "REM"]


def test_remlogic_export_with_preamble_and_clock_times_aligns_across_midnight(tmp_path):
    # CAP Sleep Database / Embla RemLogic text export: a preamble, then events at clock times.
    path = tmp_path / "n1.txt"
    path.write_text(
        "Patient Name:\tanonymous\n"
        "Recording Date:\t14/03/2026\n"
        "Events Included:\n"
        "SLEEP-S0\n"
        "\n"
        "Sleep Stage\tPosition\tTime [hh:mm:ss]\tEvent\tDuration[s]\tLocation\n"
        "W\tSupine\t23.59.00\tSLEEP-S0\t30\tROC-LOC\n"
        "W\tSupine\t23.59.30\tSLEEP-S0\t30\tROC-LOC\n"
        "S1\tSupine\t00.00.00\tSLEEP-S1\t30\tROC-LOC\n"
        "S1\tSupine\t00.00.12\tMCAP-A1\t4\tFp2-F4\n"
        "S2\tSupine\t00.00.30\tSLEEP-S2\t30\tROC-LOC\n"
        "R\tSupine\t00.01.00\tSLEEP-REM\t30\tROC-LOC\n"
    )
    hyp = read_hypnogram(path)
    assert hyp.names() == ["W", "W", "N1", "N2", "REM"]
    assert hyp.start is None and hyp.metadata["start_clock"] == "23:59:00"
    recording_start = datetime(2026, 3, 14, 23, 58)
    aligned = read_hypnogram(path, recording_start, recording_duration_s=8 * 30)
    assert aligned.names() == ["UNS", "UNS", "W", "W", "N1", "N2", "REM", "UNS"]


def test_csv_epoch_rows_with_a_gap_leave_the_gap_unscored(tmp_path):
    path = tmp_path / "gap.csv"
    path.write_text("epoch,onset_s,stage\n1,30,W\n2,60,N2\n4,120,N3\n")
    hyp = read_hypnogram(path)
    assert hyp.names() == ["W", "N2", "UNS", "N3"]
    assert hyp.offset_s == 30


def test_nsrr_xml_reads_stage_events_and_ignores_the_rest(tmp_path):
    path = tmp_path / "shhs1-200001-nsrr.xml"
    path.write_text(
        """<?xml version="1.0" encoding="UTF-8"?>
<PSGAnnotation>
<SoftwareVersion>Compumedics</SoftwareVersion>
<EpochLength>30</EpochLength>
<ScoredEvents>
<ScoredEvent><EventType/><EventConcept>Recording Start Time</EventConcept><Start>0</Start>
<Duration>34200.0</Duration><ClockTime>00.00.00 23.00.00</ClockTime></ScoredEvent>
<ScoredEvent><EventType>Stages|Stages</EventType><EventConcept>Wake|0</EventConcept>
<Start>0.0</Start><Duration>60.0</Duration></ScoredEvent>
<ScoredEvent><EventType>Respiratory|Respiratory</EventType>
<EventConcept>Obstructive apnea|Obstructive Apnea</EventConcept>
<Start>75.2</Start><Duration>14.1</Duration><SignalLocation>ABDO RES</SignalLocation></ScoredEvent>
<ScoredEvent><EventType>Stages|Stages</EventType><EventConcept>Stage 2 sleep|2</EventConcept>
<Start>60.0</Start><Duration>60.0</Duration></ScoredEvent>
<ScoredEvent><EventType>Stages|Stages</EventType><EventConcept>Stage 4 sleep|4</EventConcept>
<Start>120.0</Start><Duration>30.0</Duration></ScoredEvent>
<ScoredEvent><EventType>Stages|Stages</EventType><EventConcept>REM sleep|5</EventConcept>
<Start>150.0</Start><Duration>30.0</Duration></ScoredEvent>
</ScoredEvents>
</PSGAnnotation>
"""
    )
    hyp = read_hypnogram(path)
    assert hyp.names() == ["W", "W", "N2", "N2", "N3", "REM"]
    assert hyp.start is None  # a de-identified clock time has no date: counts from the PSG start


def test_profusion_xml_reads_the_epoch_list(tmp_path):
    path = tmp_path / "shhs1-200001-profusion.xml"
    stages = "".join(f"<SleepStage>{code}</SleepStage>" for code in (0, 1, 2, 3, 4, 5, 9))
    path.write_text(
        "<?xml version='1.0'?><CMPStudyConfig><EpochLength>30</EpochLength>"
        f"<SleepStages>{stages}</SleepStages></CMPStudyConfig>"
    )
    assert read_hypnogram(path).names() == ["W", "N1", "N2", "N3", "N3", "REM", "UNS"]


def test_reading_never_modifies_the_source(tmp_path):
    path = write_hypnogram(_night(), tmp_path / "night.annotations.edf")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    read_hypnogram(path, recording_start=START, recording_duration_s=len(NAMES) * 30)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


# --- alignment ----------------------------------------------------------------------------


def test_alignment_shifts_by_the_start_difference_and_pads_with_unscored():
    hyp = Hypnogram.from_names(["N2", "N3"], start=START + timedelta(seconds=60))
    aligned = align_to_recording(hyp, START, duration_s=5 * 30 + 12)
    assert aligned.names() == ["UNS", "UNS", "N2", "N3", "UNS"]
    assert aligned.start == START and aligned.offset_s == 0


def test_alignment_trims_a_few_trailing_epochs_with_a_warning(caplog):
    hyp = Hypnogram.from_names(["N2"] * 10, start=START)
    with caplog.at_level(logging.WARNING):
        aligned = align_to_recording(hyp, START, duration_s=8 * 30 + 20)
    assert len(aligned) == 8
    assert "dropped 2 scored epoch(s)" in caplog.text
    assert aligned.metadata["warnings"]


def test_alignment_trims_a_few_leading_epochs_with_a_warning(caplog):
    hyp = Hypnogram.from_names(["W", "W", "N1", "N2"], start=START - timedelta(seconds=60))
    with caplog.at_level(logging.WARNING):
        aligned = align_to_recording(hyp, START, duration_s=4 * 30)
    assert aligned.names() == ["N1", "N2", "UNS", "UNS"]
    assert "dropped 2 scored epoch(s) of the hypnogram before the recording starts" in caplog.text


def test_alignment_drops_trailing_unscored_epochs_silently(caplog):
    hyp = Hypnogram.from_names(["N2"] * 4 + ["UNS"] * 100, start=START)
    with caplog.at_level(logging.WARNING):
        aligned = align_to_recording(hyp, START, duration_s=4 * 30)
    assert aligned.names() == ["N2"] * 4
    assert not caplog.text


def test_alignment_keeps_probabilities_epoch_for_epoch():
    hyp = _night(probabilities=True, offset_s=60)
    aligned = align_to_recording(hyp, START, duration_s=(len(NAMES) + 2) * 30)
    np.testing.assert_array_equal(aligned.probabilities[2:], hyp.probabilities)
    assert np.isnan(aligned.probabilities[:2]).all()


@pytest.mark.parametrize(
    ("hyp", "duration_s", "problem"),
    [
        (Hypnogram.from_names(["N2"] * 20, start=START), 10 * 30, "after the recording ends"),
        (Hypnogram.from_names(["N2"] * 5, start=START + timedelta(hours=9)), 8 * 3600, "after"),
        (Hypnogram.from_names(["N2"] * 5, start=START - timedelta(hours=3)), 3600, "before"),
        (Hypnogram.from_names(["N2"] * 5, start=START - timedelta(minutes=5)), 3600, "before"),
        (Hypnogram.from_names(["N2"] * 5, start=START + timedelta(seconds=15)), 3600, "grid"),
        (Hypnogram.from_names(["N2"] * 5, start=START, epoch_s=20.0), 3600, "20-s epochs"),
    ],
)
def test_hypnograms_that_do_not_fit_are_refused_clearly(hyp, duration_s, problem):
    with pytest.raises(HypnogramError, match=problem):
        align_to_recording(hyp, START, duration_s)


def test_read_with_recording_aligns_and_errors_name_the_file(tmp_path):
    path = write_hypnogram(_night(offset_s=30), tmp_path / "night.hypnogram.json")
    aligned = read_hypnogram(path, START, recording_duration_s=(len(NAMES) + 1) * 30)
    assert aligned.names() == ["UNS", *NAMES]
    with pytest.raises(HypnogramError) as exc:
        read_hypnogram(path, START + timedelta(days=1), recording_duration_s=3600)
    _assert_one_line_naming(exc, path)


# --- pairing by name ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("recording", "scoring"),
    [
        ("SC4001E0-PSG.edf", "SC4001EC-Hypnogram.edf"),
        ("ST7011J0-PSG.edf", "ST7011JP-Hypnogram.edf"),
        ("night.edf", "night-Hypnogram.edf"),
        ("night.edf", "night.hypnogram.xml"),
        ("NIGHT.EDF", "night.hypnogram.csv"),
        ("shhs1-200001.edf", "shhs1-200001-nsrr.xml"),
    ],
)
def test_find_hypnogram_pairs_by_name(tmp_path, recording, scoring):
    for name in (recording, scoring, "SC4002E0-PSG.edf", "SC4002EC-Hypnogram.edf"):
        (tmp_path / name).write_text("x")
    assert find_hypnogram(tmp_path / recording) == tmp_path / scoring


def test_find_hypnogram_ignores_other_nights_and_model_output(tmp_path):
    (tmp_path / "SC4001E0-PSG.edf").write_text("x")
    (tmp_path / "SC4011EH-Hypnogram.edf").write_text("x")
    (tmp_path / "SC4001E0-PSG.hypnogram.csv").write_text(
        "epoch,onset_s,stage,confidence,p_W,p_N1,p_N2,p_N3,p_REM\n"
    )
    assert find_hypnogram(tmp_path / "SC4001E0-PSG.edf") is None


# --- files that are not hypnograms ----------------------------------------------------------


def _bad_files(tmp_path):
    rng = np.random.default_rng(0)
    plain = tmp_path / "plain.edf"
    _write_psg(plain, [], edf_plus=False)
    no_stages = tmp_path / "events-only.edf"
    write_edf_annotations(no_stages, START, [Annotation(10, 0, "Lights off")])
    return {
        "empty.edf": b"",
        "random.csv": rng.integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "report.pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n",
        "scoring.edf": b"epoch,onset_s,stage\n1,0,W\n",
        "truncated.edf": b"0       " + b"X" * 100,
        "no-signals.edf": _with_header_field(no_stages, 252, b"0   "),
        "negative-signals.edf": _with_header_field(no_stages, 252, b"-1  "),
        "garbage-signals.edf": _with_header_field(no_stages, 252, b"abc "),
        "no-records.edf": no_stages.read_bytes()[:512],
        "broken.xml": b"<PSGAnnotation><ScoredEvents>",
        "other.xml": b"<html><body>hello</body></html>",
        "nostages.json": b'{"epochs": 3}',
        "bad-stage.csv": b"stage\nW\nN5\n",
        "plain.edf": plain.read_bytes(),
        "events-only.edf": no_stages.read_bytes(),
        "header-only.csv": b"epoch,onset_s,stage\n",
        "empty-profusion.xml": b"<CMPStudyConfig><SleepStages></SleepStages></CMPStudyConfig>",
    }


def test_files_that_are_not_hypnograms_get_one_line_errors(tmp_path):
    for name, content in _bad_files(tmp_path).items():
        path = tmp_path / "bad" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(content)
        with pytest.raises(HypnogramError) as exc:
            read_hypnogram(path)
        _assert_one_line_naming(exc, path)


@pytest.mark.parametrize("onsets", [(0, 30, 45), (0, 60, 30), (0, 30, 30)])
def test_epoch_rows_off_the_grid_or_out_of_order_name_the_row(tmp_path, onsets):
    path = tmp_path / "onsets.csv"
    path.write_text("onset,stage\n" + "".join(f"{o},N2\n" for o in onsets))
    with pytest.raises(HypnogramError, match="data row 3"):
        read_hypnogram(path)


def test_bad_stage_error_names_the_line(tmp_path):
    path = tmp_path / "typo.csv"
    path.write_text("stage\nW\nN2\nN5\n")
    with pytest.raises(HypnogramError, match="line 4: 'N5'"):
        read_hypnogram(path)


def _with_header_field(path, offset: int, value: bytes) -> bytes:
    content = bytearray(path.read_bytes())
    content[offset : offset + len(value)] = value
    return bytes(content)


def _write_psg(path, annotations, edf_plus: bool = True) -> None:
    """A 2-minute one-channel recording, optionally with EDF+ annotations."""
    kind = pyedflib.FILETYPE_EDFPLUS if edf_plus else pyedflib.FILETYPE_EDF
    with pyedflib.EdfWriter(str(path), 1, file_type=kind) as writer:
        writer.setSignalHeaders(
            [
                {
                    "label": "EEG Fpz-Cz",
                    "dimension": "uV",
                    "sample_frequency": 100,
                    "physical_min": -200.0,
                    "physical_max": 200.0,
                    "digital_min": -32768,
                    "digital_max": 32767,
                }
            ]
        )
        writer.setStartdatetime(START)
        for onset, duration, text in annotations:
            writer.writeAnnotation(onset, duration, text)
        writer.writeSamples([np.sin(np.arange(12000) / 10.0) * 50])


# --- with the simulator's nights ------------------------------------------------------------


@pytest.mark.parametrize("night", ["hospital_night", "sleep_edf_night"])
def test_simulated_night_pairs_and_aligns_with_its_scoring(request, night, fixture_stages):
    edf_path, hypnogram_path = request.getfixturevalue(night)
    assert find_hypnogram(edf_path) == hypnogram_path
    study = load_study(edf_path)
    hyp = read_hypnogram(hypnogram_path, study.start, study.duration_s)
    assert len(hyp) == study.n_epochs
    assert hyp.names() == list(fixture_stages)[: study.n_epochs]


def test_damaged_annotation_list_in_edf_scoring_is_a_one_line_error(tmp_path):
    path = tmp_path / "damaged.edf"
    write_edf_annotations(path, START, [Annotation(0, 30, "Sleep stage W")])
    raw = path.read_bytes()
    path.write_bytes(raw.replace(b"+0\x1530\x14", b"x0\x1530\x14"))
    with pytest.raises(HypnogramError, match="malformed annotation in data record 1") as exc:
        read_hypnogram(path)
    _assert_one_line_naming(exc, path)

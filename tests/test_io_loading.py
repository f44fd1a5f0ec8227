"""load_study: EDF, EDF+C, EDF+D and BDF load back with the right slots, units and times."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime

import numpy as np
import pyedflib
import pytest

from sleepvit.bench.load import write_noise_edf
from sleepvit.io import load_study
from sleepvit.io.inspect import format_inspection
from sleepvit.slots import SLOT_NAMES

SECONDS = 90
START = datetime(2024, 3, 5, 22, 41, 7)


def _sine(rate: int, freq: float, amplitude: float) -> np.ndarray:
    t = np.arange(rate * SECONDS) / rate
    return amplitude * np.sin(2 * np.pi * freq * t)


# label, rate, unit, physical range, data (in that unit)
SIGNALS = [
    ("EEG C4-A1", 256, "uV", 500.0, _sine(256, 10, 100.0)),
    ("EOG E1-M2", 256, "mV", 0.5, _sine(256, 1, 0.08)),  # 80 µV stored in mV
    ("EMG Chin", 512, "V", 5e-4, _sine(512, 40, 2e-5)),  # 20 µV stored in V
    ("Leg L", 256, "uV", 500.0, _sine(256, 30, 10.0)),
    ("Thor", 32, "mV", 1000.0, _sine(32, 0.25, 300.0)),
    ("SpO2", 1, "%", 100.0, np.full(SECONDS, 96.0)),
]


def _write(path, file_type=pyedflib.FILETYPE_EDFPLUS, signals=SIGNALS, annotate=True):
    bdf = file_type in (pyedflib.FILETYPE_BDF, pyedflib.FILETYPE_BDFPLUS)
    digital = 8388607 if bdf else 32767
    writer = pyedflib.EdfWriter(str(path), len(signals), file_type=file_type)
    writer.setSignalHeaders(
        [
            {
                "label": label,
                "dimension": unit,
                "sample_frequency": rate,
                "physical_min": 0.0 if unit == "%" else -span,
                "physical_max": span,
                "digital_min": -digital - 1,
                "digital_max": digital,
            }
            for label, rate, unit, span, _ in signals
        ]
    )
    writer.setStartdatetime(START)
    if file_type in (pyedflib.FILETYPE_EDFPLUS, pyedflib.FILETYPE_BDFPLUS):
        writer.setPatientCode("P-0042")
        writer.setPatientName("Doe_Jane")
        writer.setSex(0)
        writer.setTechnician("RPSGT_Smith")
        writer.setEquipment("AliceLE")
        if annotate:
            writer.writeAnnotation(12.5, 3.0, "Lights off")
    writer.writeSamples([data for *_, data in signals])
    writer.close()
    return path


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("file_type", "name", "expected_format"),
    [
        (pyedflib.FILETYPE_EDFPLUS, "night.edf", "EDF+C"),
        (pyedflib.FILETYPE_EDF, "night.edf", "EDF"),
        (pyedflib.FILETYPE_BDFPLUS, "night.bdf", "BDF+C"),
        (pyedflib.FILETYPE_BDF, "night.bdf", "BDF"),
    ],
)
def test_formats_load_with_slots_in_microvolts(tmp_path, file_type, name, expected_format):
    path = _write(tmp_path / name, file_type)
    before = _sha(path)
    study = load_study(path)
    assert _sha(path) == before
    assert study.file_format == expected_format
    assert list(study.signals) == ["EEG_C", "EOG_L", "EMG_CHIN", "EFFORT_THO", "SPO2"]
    assert study.duration_s == SECONDS and study.n_epochs == 3
    assert study.start == START
    tolerance = 0.05 if expected_format.startswith("EDF") else 0.001
    for slot, peak in (("EEG_C", 100.0), ("EOG_L", 80.0), ("EMG_CHIN", 20.0)):
        signal = study.signals[slot]
        assert signal.unit == "uV" and signal.data.dtype == np.float32
        assert np.abs(signal.data).max() == pytest.approx(peak, rel=tolerance)
    assert study.signals["EMG_CHIN"].sfreq == 512 and study.signals["SPO2"].sfreq == 1
    assert study.signals["SPO2"].unit == "%"
    np.testing.assert_allclose(study.signals["SPO2"].data, 96.0, atol=0.01)
    thorax = study.signals["EFFORT_THO"]
    assert thorax.unit == "mV"  # breathing keeps its native unit
    assert np.abs(thorax.data).max() == pytest.approx(300.0, rel=0.01)
    assert study.present.tolist() == [name in study.signals for name in SLOT_NAMES]
    assert [c.label for c in study.channels][-1] == "SpO2"  # annotation signal not listed


def test_edf_plus_identity_and_annotations_are_kept_apart(tmp_path):
    study = load_study(_write(tmp_path / "night.edf"))
    identity = study.identity
    assert (identity.patient_id, identity.patient_name) == ("P-0042", "Doe Jane")
    assert (identity.technician, identity.equipment) == ("RPSGT Smith", "AliceLE")
    assert identity.deidentified().patient_name == ""
    assert [(a.onset_s, a.duration_s, a.description) for a in study.annotations] == [
        (12.5, 3.0, "Lights off")
    ]


def test_only_mapped_channels_are_read(tmp_path, monkeypatch):
    from sleepvit.io.edf_readers import BlockReader

    read: list[set[int]] = []
    original = BlockReader.read
    monkeypatch.setattr(
        BlockReader, "read", lambda self, idx: read.append(set(idx)) or original(self, idx)
    )
    load_study(_write(tmp_path / "night.edf"))
    assert read == [{0, 1, 2, 4, 5}]  # "Leg L" (index 3) is never read


def _make_discontinuous(path, gap_after: int, gap_s: int):
    """Turn an EDF+C with 1-s records into EDF+D: records from ``gap_after`` on start later."""
    raw = bytearray(path.read_bytes())
    raw[192:197] = b"EDF+D"
    n_signals = int(raw[252:256])
    spr = [
        int(raw[256 + n_signals * 216 + 8 * i : 256 + n_signals * 216 + 8 * (i + 1)])
        for i in range(n_signals)
    ]
    record_bytes = 2 * sum(spr)
    tal_offset = 256 * (n_signals + 1) + 2 * sum(spr[:-1])
    for record in range(gap_after, int(raw[236:244])):
        start = tal_offset + record * record_bytes
        old, new = f"+{record}\x14\x14".encode(), f"+{record + gap_s}\x14\x14".encode()
        tal = bytes(raw[start : start + 2 * spr[-1]])
        assert tal.startswith(old) and len(new) <= 2 * spr[-1]
        patched = tal.replace(old, new, 1)[: 2 * spr[-1]].ljust(2 * spr[-1], b"\x00")
        raw[start : start + 2 * spr[-1]] = patched
    path.write_bytes(bytes(raw))


def test_edf_plus_d_gap_is_placed_at_its_time_and_flagged(tmp_path, caplog):
    signals = [("C3-M2", 100, "uV", 500.0, _sine(100, 2, 50.0) + 60.0)]
    path = _write(tmp_path / "gappy.edf", signals=signals, annotate=False)
    _make_discontinuous(path, gap_after=60, gap_s=30)
    with caplog.at_level(logging.WARNING):
        study = load_study(path)
    assert study.file_format.startswith("EDF+D")
    assert study.duration_s == SECONDS + 30
    data = study.signals["EEG_C"].data
    assert data.size == (SECONDS + 30) * 100
    assert np.all(data[60 * 100 : 90 * 100] == 0)  # the gap is flat …
    assert data[:6000].min() > 5 and data[9000:].min() > 5  # … the records around it are not
    assert any(
        a.description == "recording gap (no data)" and a.onset_s == 60 for a in study.annotations
    )
    assert "interrupted at 60 s for 30 s" in caplog.text


def _patch(path, offset: int, value: bytes):
    raw = bytearray(path.read_bytes())
    raw[offset : offset + len(value)] = value
    path.write_bytes(bytes(raw))


def _signal_field(n_signals: int, field_offset: int, signal: int) -> int:
    """Byte offset of one signal's 8-byte header field; ``field_offset`` counts per-signal bytes
    before that field (unit 96, physical min 104, digital min 120, digital max 128)."""
    return 256 + n_signals * field_offset + 8 * signal


@pytest.mark.parametrize(
    ("slot", "signal", "spelling", "warned"),
    [
        ("EEG_C", 0, b"UV", "non-standard unit 'UV'; read as µV"),
        ("EOG_L", 1, b"MV", "non-standard unit 'MV'; read as mV"),
        # Not ASCII, so not EDF (said once), but a unit every reader knows.
        ("EEG_C", 0, "µV".encode("latin-1"), "read as Latin-1: unit of signal 1"),
    ],
)
def test_unit_spellings_are_read_as_microvolts(tmp_path, caplog, slot, signal, spelling, warned):
    path = _write(tmp_path / "night.edf")
    reference = load_study(path).signals[slot].data
    _patch(path, _signal_field(7, 96, signal), spelling.ljust(8))
    with caplog.at_level(logging.WARNING):
        study = load_study(path)
    np.testing.assert_allclose(study.signals[slot].data, reference)
    assert warned in caplog.text
    assert ("non-standard unit" in caplog.text) == ("non-standard" in warned)


def test_non_compliant_digital_range_falls_back_to_mne_with_a_warning(tmp_path, caplog):
    path = _write(tmp_path / "night.edf")
    reference = load_study(path).signals["EEG_C"].data
    # Swap digital min and max: non-compliant, yet still a well-defined (inverted) scale.
    _patch(path, _signal_field(7, 120, 0), b"32767   ")
    _patch(path, _signal_field(7, 128, 0), b"-32768  ")
    before = _sha(path)
    with caplog.at_level(logging.WARNING):
        study = load_study(path)
    assert _sha(path) == before
    assert study.file_format == "EDF+C (mne fallback)"
    assert "digital minimum > maximum in signal 1 (EEG C4-A1)" in caplog.text
    assert "reading it with MNE" in study.warnings[0]
    text = format_inspection(study)
    assert "EDF+C (non-compliant, read with the mne fallback)" in text
    assert "Warnings\n  - night.edf: the file is not EDF-compliant" in text
    np.testing.assert_allclose(study.signals["EEG_C"].data, -reference, atol=0.05)
    np.testing.assert_allclose(
        study.signals["EMG_CHIN"].data, load_study(path).signals["EMG_CHIN"].data
    )


def test_unclosed_recording_with_minus_one_records_reads_like_the_closed_one(tmp_path, caplog):
    path = _write(tmp_path / "night.edf")
    reference = load_study(path)
    _patch(path, 236, b"-1      ")
    with caplog.at_level(logging.WARNING):
        study = load_study(path)
    assert study.file_format == "EDF+C (mne fallback)"
    assert "number of data records is -1" in caplog.text
    assert study.duration_s == reference.duration_s
    for slot, signal in reference.signals.items():
        np.testing.assert_allclose(study.signals[slot].data, signal.data, rtol=1e-6, atol=1e-5)


def test_cut_last_record_keeps_the_complete_ones_and_says_what_is_missing(tmp_path, caplog):
    path = write_noise_edf(tmp_path / "cut.edf", 120)
    full = load_study(path)
    path.write_bytes(path.read_bytes()[:-5000])
    before = _sha(path)
    with caplog.at_level(logging.WARNING):
        study = load_study(path)
    assert _sha(path) == before
    assert study.duration_s == 119
    assert "119 of 120 data records are complete" in caplog.text
    assert "the last 1 s of the recording is missing" in caplog.text
    np.testing.assert_allclose(
        study.signals["EEG_C"].data, full.signals["EEG_C"].data[: 119 * 256], atol=1e-4
    )


def test_hospital_montage_maps_every_slot_and_inspect_shows_it(tmp_path):
    study = load_study(write_noise_edf(tmp_path / "hospital.edf", 60))
    assert list(study.signals) == list(SLOT_NAMES)
    text = format_inspection(study)
    assert "EEG_C       C4-M1" in text and "alias match, preferred over C3-M2" in text
    assert "Leg L" in text and "unused" in text
    assert "2 epochs of 30 s" in text and "missing: none" in text


SLEEP_EDF_MONTAGE = (
    ("EEG Fpz-Cz", 100, "uV"),
    ("EEG Pz-Oz", 100, "uV"),
    ("EOG horizontal", 100, "uV"),
    ("Resp oro-nasal", 1, ""),
    ("EMG submental", 1, "uV"),
    ("Temp rectal", 1, "DegC"),
    ("Event marker", 1, ""),
)


def test_sleep_edf_montage_maps_to_its_slots(tmp_path):
    study = load_study(write_noise_edf(tmp_path / "SC4001E0-PSG.edf", 60, SLEEP_EDF_MONTAGE))
    labels = {slot: s.label for slot, s in study.signals.items()}
    assert labels == {
        "EEG_F": "EEG Fpz-Cz",
        "EEG_O": "EEG Pz-Oz",
        "EOG_L": "EOG horizontal",
        "EMG_CHIN": "EMG submental",
        "FLOW": "Resp oro-nasal",
    }


def test_simulated_hospital_night_fills_every_slot_via_inspect(hospital_night, capsys):
    from sleepvit.cli import main

    edf_path, _ = hospital_night
    assert main(["inspect", str(edf_path)]) == 0
    out = capsys.readouterr().out
    assert "missing: none" in out and "50 epochs of 30 s" in out
    study = load_study(edf_path)
    assert list(study.signals) == list(SLOT_NAMES)
    assert study.signals["EEG_C"].label == "C4-M1"
    assert study.signals["EEG_C"].reason == "alias match, preferred over C3-M2"
    # Simulated EEG is tens of µV: a unit slip (V or mV) would be off by 10³ or more.
    assert 5 < np.percentile(np.abs(study.signals["EEG_C"].data), 99) < 500


def test_simulated_sleep_edf_night_maps_its_five_signals(sleep_edf_night):
    study = load_study(sleep_edf_night[0])
    assert {slot: s.label for slot, s in study.signals.items()} == {
        "EEG_F": "EEG Fpz-Cz",
        "EEG_O": "EEG Pz-Oz",
        "EOG_L": "EOG horizontal",
        "EMG_CHIN": "EMG submental",
        "FLOW": "Resp oro-nasal",
    }
    assert study.signals["EEG_F"].sfreq == 100


def test_edf_plus_d_with_overlapping_onsets_is_read_back_to_back(tmp_path, caplog):
    signals = [("C3-M2", 100, "uV", 500.0, _sine(100, 2, 50.0))]
    path = _write(tmp_path / "overlap.edf", signals=signals, annotate=False)
    _make_discontinuous(path, gap_after=60, gap_s=-5)
    with caplog.at_level(logging.WARNING):
        study = load_study(path)
    assert study.duration_s == SECONDS
    assert "record 61 starts before record 60 ends" in caplog.text


def test_damaged_annotation_list_leaves_the_recording_readable(tmp_path):
    path = _write(tmp_path / "night.edf")
    raw = bytearray(path.read_bytes())
    onset = raw.rindex(b"\x00", 0, raw.index(b"Lights off")) + 1
    assert raw[onset : onset + 1] == b"+"
    raw[onset] = ord("x")
    path.write_bytes(bytes(raw))
    study = load_study(path)
    assert study.annotations == []
    assert study.n_epochs == SECONDS // 30

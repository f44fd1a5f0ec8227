"""Channel mapping: real label spellings, referential derivation, preference order, overrides."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sleepvit.bench.load import write_noise_edf
from sleepvit.errors import ChannelMappingError
from sleepvit.io import load_study
from sleepvit.io.channels import SourceChannel, choose_channels, slot_of_label

REAL_SPELLINGS = {
    "EEG_F": ["F4-M1", "F3-M2", "EEG Fpz-Cz", "Fpz-Cz", "FP1-A2", "F4-A1", "EEG F3-A2", "F4:M1"],
    "EEG_C": [
        "C4-M1",
        "C4:M1",
        "C4-M1 ",
        "c4 - m1",
        "EEG C4-A1",
        "C3-M2",
        "C3-A1",
        "Cz-A1",
        "C4A1",
        "EEG",
        "EEG(sec)",
        "EEG2",
        "EEG C4",
    ],
    "EEG_O": ["O2-M1", "O1-M2", "O1-A1", "EEG Pz-Oz", "Pz-Oz", "EEG O2-A1"],
    "EOG_L": ["E1-M2", "EOG E1-M2", "LOC", "LOC-A2", "EOG(L)", "EOG1", "EOG1-A1", "EOG horizontal"],
    "EOG_R": ["E2-M1", "ROC", "ROC-A1", "EOG(R)", "EOG2", "EOG2-A1", "EOG E2-M1"],
    "EMG_CHIN": [
        "EMG Chin",
        "Chin EMG",
        "CHIN1-CHIN2",
        "Chin1-Chin2",
        "Chin 1-2",
        "EMG submental",
        "EMG",
        "EMG1",
        "Chin1",
    ],
    "ECG": ["ECG", "EKG", "ECG I", "ECG II", "ECG1-ECG2", "ECG L"],
    "FLOW": [
        "Flow",
        "Airflow",
        "NAF1",
        "Nasal Pressure",
        "Flow Patient",
        "Resp oro-nasal",
        "Thermistor",
        "NEW AIR",
        "PFlow",
    ],
    "EFFORT_THO": ["Thor", "THORAX", "Chest", "VTH", "Effort THO", "THOR RES", "RIP Thor"],
    "EFFORT_ABD": ["ABD", "Abdo", "Abdomen", "VAB", "Effort ABD", "ABDO RES", "RIP Abdom"],
    "SPO2": ["SpO2", "SaO2", "SAT", "SpO2 %", "OSat"],
}
NEVER_MAPPED = [
    "Pleth",
    "SpO2 Pleth",
    "Pulse",
    "H.R.",
    "HR",
    "Leg L",
    "Leg R",
    "EMG Leg",
    "LAT",
    "RAT",
    "Tib L",
    "PLM l",
    "Snore",
    "Position",
    "POS",
    "RIP Sum",
    "Light",
    "M1",
    "A2",
    "T3-M2",
    "EDF Annotations",
    "CPAP Pressure",
]


@pytest.mark.parametrize(
    ("label", "slot"), [(label, slot) for slot, ls in REAL_SPELLINGS.items() for label in ls]
)
def test_real_spellings_map_to_their_slot(label, slot):
    assert slot_of_label(label) == slot


@pytest.mark.parametrize("label", NEVER_MAPPED)
def test_non_sleep_channels_are_never_mapped(label):
    assert slot_of_label(label) is None


def _chosen(labels, rate=256.0, channel_map=None):
    channels = [SourceChannel(i, label, rate) for i, label in enumerate(labels)]
    return choose_channels(channels, channel_map)


@pytest.mark.parametrize(
    ("slot", "order"),
    [
        ("EEG_C", ["C4-M1", "C3-M2", "C4-A1", "C3-A1", "Cz-A1"]),
        ("EEG_F", ["F4-M1", "F3-M2", "Fpz-Cz", "Fp1-A2"]),
        ("EEG_O", ["O2-M1", "O1-M2", "Pz-Oz"]),
        ("EOG_L", ["E1-M2", "LOC-A2", "E1-M1", "EOG horizontal"]),
        ("ECG", ["ECG II", "ECG", "ECG I"]),
    ],
)
def test_preference_order_picks_the_best_remaining_candidate(slot, order):
    # Shuffle so file position cannot explain the choice; drop each winner in turn.
    remaining = list(reversed(order))
    for expected in order:
        choice = _chosen(remaining)[slot]
        assert choice.label == expected
        remaining.remove(expected)


def test_reason_says_which_candidates_lost():
    choice = _chosen(["C3-M2", "C4-M1", "Leg L"])["EEG_C"]
    assert choice.reason == "alias match, preferred over C3-M2"
    assert _chosen(["Chin EMG"])["EMG_CHIN"].reason == "alias match"


@pytest.mark.parametrize(
    ("labels", "expected", "reason"),
    [
        (["C4", "M1"], "C4 - M1 (derived)", "derived from C4 − M1"),
        (["EEG C4", "EEG A1"], "EEG C4 - EEG A1 (derived)", "derived from EEG C4 − EEG A1"),
        (["C3", "M1", "M2"], "C3 - M2 (derived)", "derived from C3 − M2, preferred over"),
    ],
)
def test_referential_electrodes_are_derived(labels, expected, reason):
    choice = _chosen(labels)["EEG_C"]
    assert choice.label == expected
    assert choice.reason.startswith(reason)
    assert len(choice.indices) == 2


def test_derivation_prefers_stored_channel_and_needs_equal_rates():
    assert _chosen(["C4", "M1", "C4-M1"])["EEG_C"].label == "C4-M1"
    channels = [SourceChannel(0, "C4", 256.0), SourceChannel(1, "M1", 200.0)]
    assert choose_channels(channels)["EEG_C"].label == "C4"  # bare electrode, not a bad diff


def test_a_and_m_mastoid_naming_are_equivalent_for_derivation():
    choice = _chosen(["F3", "A2", "A1", "E1", "E2"])
    assert choice["EEG_F"].label == "F3 - A2 (derived)"
    assert choice["EOG_L"].label == "E1 - A2 (derived)"
    assert choice["EOG_R"].label == "E2 - A1 (derived)"


def test_channel_map_string_list_and_null():
    labels = ["C4-M1", "C3-M2", "F3", "M2", "E1-M2", "E2-M1"]
    chosen = _chosen(labels, channel_map={"EEG_C": "C3-M2", "EEG_F": ["F3", "M2"], "EOG_R": None})
    assert chosen["EEG_C"].label == "C3-M2"
    assert chosen["EEG_C"].reason == "channel map"
    assert chosen["EEG_F"].indices == (2, 3)
    assert "EOG_R" not in chosen
    assert chosen["EOG_L"].label == "E1-M2"  # unnamed slots still map automatically


def test_channel_map_channel_is_not_reused_by_automatic_mapping():
    chosen = _chosen(["C4-M1", "C3-M2"], channel_map={"EEG_F": "C4-M1"})
    assert chosen["EEG_F"].label == "C4-M1"
    assert chosen["EEG_C"].label == "C3-M2"


def test_channel_map_matches_labels_loosely():
    assert _chosen(["EEG C3-A2"], channel_map={"EEG_C": "eeg c3-a2"})["EEG_C"].label == "EEG C3-A2"


def test_channel_map_errors_list_valid_choices():
    with pytest.raises(ChannelMappingError, match="valid slots are EEG_F, EEG_C"):
        _chosen(["C4-M1"], channel_map={"EEG_X": "C4-M1"})
    with pytest.raises(ChannelMappingError, match="choose one of: 'C4-M1', 'Leg L'"):
        _chosen(["C4-M1", "Leg L"], channel_map={"EEG_C": "Cz-M1"})
    with pytest.raises(ChannelMappingError, match="list of two labels or null"):
        _chosen(["C4-M1"], channel_map={"EEG_C": ["C4-M1"]})


MONTAGE = (
    ("C4", 256, "uV"),
    ("M1", 256, "uV"),
    ("C3-M2", 256, "uV"),
    ("Leg L", 256, "uV"),
    ("SpO2", 1, "%"),
)


def test_loaded_derivation_is_the_difference_of_the_two_electrodes(tmp_path):
    path = write_noise_edf(tmp_path / "ref.edf", 60, MONTAGE, seed=3)
    derived = load_study(path)
    assert derived.signals["EEG_C"].label == "C4 - M1 (derived)"
    assert derived.signals["EEG_C"].reason == "derived from C4 − M1, preferred over C3-M2, C4"
    single = load_study(path, channel_map={"EEG_C": "C4", "EEG_F": "M1"})
    expected = single.signals["EEG_C"].data - single.signals["EEG_F"].data
    np.testing.assert_allclose(derived.signals["EEG_C"].data, expected, atol=1e-3)


def test_channel_map_from_json_file_and_text(tmp_path):
    path = write_noise_edf(tmp_path / "ref.edf", 60, MONTAGE, seed=3)
    map_file = tmp_path / "map.json"
    map_file.write_text(json.dumps({"EEG_C": "C3-M2", "SPO2": None}))
    for source in (map_file, str(map_file), map_file.read_text()):
        study = load_study(path, channel_map=source)
        assert study.signals["EEG_C"].label == "C3-M2"
        assert "SPO2" not in study.signals


def test_channel_map_mistakes_name_the_recording(tmp_path):
    path = write_noise_edf(tmp_path / "ref.edf", 60, MONTAGE, seed=3)
    bad = tmp_path / "bad.json"
    bad.write_text("{EEG_C: C3}")
    with pytest.raises(ChannelMappingError, match="not valid JSON"):
        load_study(path, channel_map=bad)
    with pytest.raises(ChannelMappingError, match=r"ref\.edf.*no such channel"):
        load_study(path, channel_map={"EEG_C": "O1-M2"})

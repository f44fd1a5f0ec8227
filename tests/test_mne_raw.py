"""An MNE Raw scored and mapped as its file is, and a Study as a Raw and back (issue 14).

A researcher's Raw is scored as its file is (same mapping, same errors, same stages), units
come out right whether the Raw holds volts or µV, and ``Study.to_mne``/``Study.from_mne`` go
there and back without losing a slot, a rate, a unit, the clock or an annotation.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import mne
import numpy as np
import pytest
from conftest import FIXTURE_SEED, FIXTURE_STAGES
from scipy.signal import resample

from sleepvit import Study, score_raw
from sleepvit.bench.load import write_noise_edf
from sleepvit.cli import main
from sleepvit.errors import ChannelMappingError, InvalidRecordingError
from sleepvit.io import load_study, read_hypnogram
from sleepvit.slots import SLOT_BY_NAME
from sleepvit.synth import simulate_night, write_night
from sleepvit.synth.night import SimulatedNight

NIGHTS = ["hospital_night", "sleep_edf_night"]
MNE_TYPES = {"C4-M1": "eeg", "E1-M2": "eog", "Chin EMG": "emg", "ECG": "ecg", "Flow": "resp"}


def read_raw(path) -> mne.io.BaseRaw:
    return mne.io.read_raw_edf(path, preload=True, verbose="error")


def hospital_night_as_read(raw: mne.io.BaseRaw) -> SimulatedNight:
    """The fixture's hospital night with every channel replaced by the Raw's: one rate, MNE's
    samples back in the night's own units (MNE holds µV channels in volts)."""
    night = simulate_night(stages=FIXTURE_STAGES, seed=FIXTURE_SEED, style="hospital")
    channels = [
        replace(
            ch,
            spec=replace(ch.spec, fs=raw.info["sfreq"]),
            data=(raw.get_data(picks=[ch.label])[0] * (1e6 if ch.unit == "uV" else 1.0)).astype(
                np.float32
            ),
        )
        for ch in night.channels
    ]
    return replace(night, channels=channels)


def test_score_raw_gives_the_stages_sleepvit_score_writes_for_the_file(
    sleep_edf_night, tmp_path, capsys
):
    edf, _ = sleep_edf_night
    assert main(["score", str(edf), "--out", str(tmp_path)]) == 0
    from_file = read_hypnogram(tmp_path / f"{edf.stem}.hypnogram.csv")
    # MNE resamples every channel to the fastest one (here the 1-Hz chin envelope to 100 Hz).
    from_raw = score_raw(read_raw(edf))
    assert len(set(from_file.names())) >= 4  # stages that follow the night, not one class
    assert from_raw.names() == from_file.names()
    np.testing.assert_allclose(from_raw.probabilities, from_file.probabilities, atol=0.1)
    assert from_raw.start == load_study(edf).start
    assert from_raw.metadata["backend"] == "onnx-int8"


def test_score_raw_scores_the_signals_the_raw_holds_now(hospital_night, tmp_path, capsys):
    """MNE brings the hospital night's 1-Hz SpO2, 32-Hz breathing and 256-Hz EEG to the chin's
    512 Hz, which can move an unsure epoch's stage: the Raw is scored as the file of its
    resampled signals is."""
    edf, _ = hospital_night
    raw = read_raw(edf)
    as_read, _ = write_night(hospital_night_as_read(raw), tmp_path / "as-read.edf")
    assert main(["score", str(as_read), "--out", str(tmp_path)]) == 0
    from_file = read_hypnogram(tmp_path / "as-read.hypnogram.csv")
    from_raw = score_raw(raw)
    assert len(set(from_file.names())) >= 4
    assert from_raw.names() == from_file.names()
    # EDF stores 16-bit samples: the file's signals differ from the Raw's by rounding only.
    np.testing.assert_allclose(from_raw.probabilities, from_file.probabilities, atol=0.02)
    assert from_raw.start == load_study(edf).start


def test_a_raw_in_volts_and_one_in_microvolts_come_out_in_microvolts(hospital_night):
    edf, _ = hospital_night
    in_volts = read_raw(edf)
    # As if built from µV arrays (pyedflib's, say), SpO2 in %.
    to_microvolts = np.where(np.array(in_volts.ch_names) == "SpO2", 1.0, 1e6)
    in_microvolts = mne.io.RawArray(
        in_volts.get_data() * to_microvolts[:, None], in_volts.info, verbose="error"
    )
    from_file = load_study(edf)
    from_v, from_uv = Study.from_mne(in_volts), Study.from_mne(in_microvolts)
    assert from_v.warnings == []
    read_as_uv = [w for w in from_uv.warnings if "read as µV" in w]
    electrophysiology = [s for s in from_file.signals if SLOT_BY_NAME[s].is_electrophysiology]
    assert len(read_as_uv) == len(electrophysiology)
    for slot in electrophysiology:
        v, uv = from_v.signals[slot], from_uv.signals[slot]
        assert v.unit == uv.unit == "uV"
        np.testing.assert_allclose(uv.data, v.data, rtol=1e-5, atol=1e-3)
        # MNE upsampled the file's channels by FFT: FFT back to the file's rate gives its µV.
        own = from_file.signals[slot]
        back = resample(v.data.astype(np.float64), own.data.size)
        np.testing.assert_allclose(back, own.data, atol=1e-2 * np.abs(own.data).max())
    for study in (from_v, from_uv):
        assert study.signals["SPO2"].unit == "%"
        assert 80 < float(np.median(study.signals["SPO2"].data)) <= 100
    assert score_raw(in_microvolts).names() == score_raw(in_volts).names()


def test_a_raw_without_eeg_gets_the_error_its_file_gets(tmp_path):
    montage = (("Leg L", 256, "uV"), ("Snore", 256, "uV"), ("Ch 3", 256, "uV"))
    path = write_noise_edf(tmp_path / "no_eeg.edf", 60, montage).resolve()
    raw = mne.io.read_raw_edf(path, verbose="error")
    with pytest.raises(ChannelMappingError) as from_file:
        load_study(path)
    with pytest.raises(ChannelMappingError) as from_raw:
        score_raw(raw)
    assert str(from_raw.value) == str(from_file.value)
    assert "\n" not in str(from_raw.value) and from_raw.value.settings == ("channel_map",)
    built = mne.io.RawArray(raw.get_data(), raw.info, verbose="error")
    with pytest.raises(ChannelMappingError) as from_array:
        Study.from_mne(built)
    assert str(from_array.value) == str(from_file.value).replace(str(path), "<RawArray>")
    # … and the channel map that fixes the file fixes the Raw.
    fixed = Study.from_mne(raw, channel_map={"EEG_C": "Ch 3"}).signals["EEG_C"]
    assert (fixed.label, fixed.reason) == ("Ch 3", "channel map")


def test_a_wrong_channel_map_or_a_short_raw_gets_the_error_its_file_gets(tmp_path):
    path = write_noise_edf(tmp_path / "night.edf", 60).resolve()
    raw = mne.io.read_raw_edf(path, verbose="error")
    wrong = {"EEG_C": "C5-M1"}
    with pytest.raises(ChannelMappingError) as from_file:
        load_study(path, channel_map=wrong)
    with pytest.raises(ChannelMappingError) as from_raw:
        Study.from_mne(raw, channel_map=wrong)
    assert str(from_raw.value) == str(from_file.value)
    with pytest.raises(InvalidRecordingError, match="lasts 20 s, shorter than one 30-s epoch"):
        Study.from_mne(raw.copy().crop(0, 20, include_tmax=False))


def test_channels_marked_bad_are_not_used(hospital_night):
    raw = read_raw(hospital_night[0])
    raw.info["bads"] = ["C4-M1"]
    chosen = Study.from_mne(raw).signals["EEG_C"]
    assert chosen.label == "C3-M2"


def test_electrodes_stored_apart_are_derived_as_in_a_file(hospital_night):
    raw = read_raw(hospital_night[0]).pick(["C4-M1", "E1-M2", "Chin EMG"])
    c4 = raw.get_data(picks=["C4-M1"])[0]
    m1 = np.random.default_rng(0).normal(0, 5e-6, c4.size)
    montage = mne.create_info(["C4", "M1", "LOC", "Kinn"], raw.info["sfreq"], "eeg")
    data = np.stack([c4 + m1, m1, raw.get_data(picks=["E1-M2"])[0], raw.get_data()[2]])
    electrodes = mne.io.RawArray(data, montage, verbose="error")
    study = Study.from_mne(electrodes, channel_map={"EMG_CHIN": "Kinn"})
    derived = study.signals["EEG_C"]
    assert derived.label == "C4 - M1 (derived)"
    assert derived.reason == "derived from C4 − M1, preferred over C4"
    np.testing.assert_allclose(derived.data, c4 * 1e6, rtol=1e-4, atol=1e-3)
    assert study.signals["EOG_L"].label == "LOC - M1 (derived)"
    assert study.signals["EMG_CHIN"].label == "Kinn"


@pytest.mark.parametrize("night", NIGHTS)
def test_study_to_mne_and_back_keeps_every_mapped_slot(night, request):
    study = load_study(request.getfixturevalue(night)[0])
    raw = study.to_mne()
    assert raw.info["sfreq"] == max(s.sfreq for s in study.signals.values())
    assert raw.ch_names == [s.label for s in study.signals.values()]
    assert raw.info["meas_date"].replace(tzinfo=None) == study.start
    types = dict(zip(raw.ch_names, raw.get_channel_types(), strict=True))
    for label, kind in MNE_TYPES.items():
        assert types.get(label, kind) == kind
    eeg = raw.get_data(picks=[study.signals[next(iter(study.signals))].label])
    assert 1e-7 < np.abs(eeg).max() < 1e-3  # volts, as MNE keeps them
    if "SPO2" in study.signals:
        assert types["SpO2"] == "misc" and 80 < np.median(raw.get_data(picks=["SpO2"])) <= 100
    again = Study.from_mne(raw)
    assert list(again.signals) == list(study.signals)
    for slot, signal in study.signals.items():
        back = again.signals[slot]
        shown = (back.label, back.unit, back.sfreq, back.reason)
        assert shown == (signal.label, signal.unit, signal.sfreq, signal.reason)
        scale = float(np.abs(signal.data).max()) or 1.0
        np.testing.assert_allclose(back.data, signal.data, rtol=1e-5, atol=1e-5 * scale)
    assert (again.start, again.duration_s) == (study.start, study.duration_s)
    assert [a.description for a in again.annotations] == [a.description for a in study.annotations]
    for kept, original in zip(again.annotations, study.annotations, strict=True):
        assert (kept.onset_s, kept.duration_s) == pytest.approx(
            (original.onset_s, original.duration_s)
        )


def test_raw_to_study_and_back_keeps_samples_clock_and_annotations(hospital_night):
    raw = read_raw(hospital_night[0]).crop(tmin=60)  # a researcher's crop
    study = Study.from_mne(raw)
    assert study.start == load_study(hospital_night[0]).start + timedelta(seconds=60)
    back = study.to_mne()
    assert back.info["sfreq"] == raw.info["sfreq"] and back.n_times == raw.n_times
    for name in back.ch_names:
        np.testing.assert_allclose(
            back.get_data(picks=[name]), raw.get_data(picks=[name]), rtol=1e-5, atol=1e-9
        )
    first_sample = raw.info["meas_date"] + timedelta(seconds=raw.first_time)
    assert back.info["meas_date"] + timedelta(seconds=back.first_time) == first_sample
    kept = raw.annotations.onset >= raw.first_time
    assert back.annotations.description.tolist() == raw.annotations.description[kept].tolist()
    np.testing.assert_allclose(
        back.annotations.onset + back.first_time, raw.annotations.onset[kept] - raw.first_time
    )


def test_a_raw_from_to_mne_keeps_the_mapping_a_channel_map_made(hospital_night):
    mapped = {"EEG_F": "C3-M2", "EOG_R": None, "EMG_CHIN": ["Chin EMG", "ECG"]}
    study = load_study(hospital_night[0], channel_map=mapped)
    raw = study.to_mne()
    # The Raw remembers its slots in memory, through copies and crops.
    again = Study.from_mne(raw.copy().crop(tmin=30))
    assert {s: again.signals[s].label for s in again.signals} == {
        s: study.signals[s].label for s in study.signals
    }
    assert "EOG_R" not in again.signals and again.signals["EEG_F"].reason == "channel map"
    # A Raw saved and read again has forgotten: its channels are mapped by their labels.
    info = mne.create_info(raw.ch_names, raw.info["sfreq"])
    forgotten = Study.from_mne(mne.io.RawArray(raw.get_data(), info, verbose="error"))
    assert "EEG_F" not in forgotten.signals and "EMG_CHIN" not in forgotten.signals

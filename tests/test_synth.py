"""The simulator's physiology, measured on its signals the way a scorer would look at them."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import scipy.signal
import yasa
from conftest import FIXTURE_STAGES

from sleepvit.cli import main
from sleepvit.errors import SleepVitError
from sleepvit.hypnogram import STAGE_CODE
from sleepvit.io import find_hypnogram, load_study, read_hypnogram
from sleepvit.synth import simulate_night, write_night
from sleepvit.synth.architecture import sample_stages
from sleepvit.synth.subject import Subject

SEEDS = (1, 2, 3)


@pytest.fixture(scope="module", params=SEEDS)
def night(request):
    return simulate_night(stages=FIXTURE_STAGES, seed=request.param, style="hospital")


def _epochs(night, label: str, stage: str, band=None) -> np.ndarray:
    """``[n_epochs, samples]`` of ``label`` in epochs scored ``stage``, optionally filtered."""
    ch = night.channel(label)
    x = ch.data.astype(np.float64)
    if band is not None:
        sos = scipy.signal.butter(4, band, btype="bandpass", fs=ch.sfreq, output="sos")
        x = scipy.signal.sosfiltfilt(sos, x)
    per_epoch = int(30 * ch.sfreq)
    epochs = x[: len(night.hypnogram) * per_epoch].reshape(-1, per_epoch)
    return epochs[night.hypnogram.stages == STAGE_CODE[stage]]


def _band_power(epochs: np.ndarray, fs: float, low: float, high: float) -> float:
    """Band power of the median epoch (a scorer judges typical epochs, not brief arousals)."""
    freqs, psd = scipy.signal.welch(epochs, fs=fs, nperseg=int(4 * fs), axis=-1)
    return float(np.median(psd[:, (freqs >= low) & (freqs <= high)].sum(axis=-1)))


def _slow_wave_share(epoch: np.ndarray, fs: float) -> float:
    """Share of the epoch covered by 0.5-2 Hz waves larger than 75 µV peak to peak (AASM N3)."""
    down = np.flatnonzero((epoch[:-1] >= 0) & (epoch[1:] < 0))
    covered = 0
    for a, b in zip(down[:-1], down[1:], strict=True):
        if 0.5 * fs <= b - a <= 2.0 * fs and np.ptp(epoch[a:b]) > 75:
            covered += b - a
    return covered / epoch.size


def test_occipital_alpha_is_stronger_awake_than_in_n2(night):
    w = _band_power(_epochs(night, "O2-M1", "W"), 256, 8, 12)
    n2 = _band_power(_epochs(night, "O2-M1", "N2"), 256, 8, 12)
    frontal_w = _band_power(_epochs(night, "F4-M1", "W"), 256, 8, 12)
    assert w > 2 * n2
    assert w > frontal_w  # posterior maximum


def test_alpha_frequency_follows_the_sleeper(night):
    epochs = _epochs(night, "O1-M2", "W")
    freqs, psd = scipy.signal.welch(epochs, fs=256, nperseg=1024, axis=-1)
    alpha = (freqs >= 7.5) & (freqs <= 12.5)
    measured = freqs[alpha][np.argmax(psd.mean(axis=0)[alpha])]
    assert abs(measured - night.subject.alpha_hz) < 0.6


def test_n3_epochs_have_enough_high_slow_waves_and_n2_epochs_do_not(night):
    n3 = [_slow_wave_share(e, 256) for e in _epochs(night, "F4-M1", "N3", (0.5, 2.0))]
    n2 = [_slow_wave_share(e, 256) for e in _epochs(night, "F4-M1", "N2", (0.5, 2.0))]
    assert min(n3) >= 0.2, n3
    assert np.median(n2) < 0.2, n2


@pytest.mark.parametrize("stage", ["N2", "N3"])
def test_sleep_eeg_carries_more_2_to_4_hz_than_theta_as_real_eeg_does(night, stage):
    """Real central EEG (dreams-dev): 2-4 Hz holds 27 % (N2) and 20 % (N3) of the 0.5-30 Hz
    power against theta's 15 % and 8 %; slow waves below 2 Hz hold the most."""
    epochs = _epochs(night, "C4-M1", stage)
    slow, fast, theta = (_band_power(epochs, 256, lo, hi) for lo, hi in ((0.5, 2), (2, 4), (4, 8)))
    assert slow > fast > theta


SPINDLE_NIGHT_STAGES = ("W",) * 10 + ("N1",) * 4 + ("N2",) * 40 + ("N3",) * 6 + ("REM",) * 10
"""Twenty minutes of N2: spindles are rare events, and five minutes leave the density to chance."""


@pytest.mark.parametrize("seed", SEEDS)
def test_n2_has_spindles_with_a_central_maximum(seed):
    """YASA's detector (11-16 Hz bursts of 0.5-2 s) finds the spindles where a scorer would."""
    night = simulate_night(stages=SPINDLE_NIGHT_STAGES, seed=seed, style="hospital")

    def spindle_stages(label):
        signal = night.channel(label).data.astype(np.float64)
        hypno = np.repeat(night.hypnogram.stages, 30 * 256)
        found = yasa.spindles_detect(signal, 256, hypno=hypno, include=(0, 1, 2, 3, 4),
                                     verbose="error")  # fmt: skip
        return np.array([]) if found is None else found.summary()["Stage"].to_numpy()

    central, occipital = spindle_stages("C4-M1"), spindle_stages("O2-M1")
    n2_minutes = SPINDLE_NIGHT_STAGES.count("N2") / 2
    assert np.sum(central == 2) / n2_minutes >= 1.0
    assert np.sum(central == 2) > 2 * np.sum(np.isin(central, (0, 4)))
    assert np.sum(central == 2) > np.sum(occipital == 2)


def test_chin_emg_is_lowest_in_rem(night):
    # The median epoch: a REM epoch may hold a brief arousal with an EMG burst.
    rms = {
        stage: float(
            np.median(np.sqrt(np.mean(_epochs(night, "Chin EMG", stage, (10, 100)) ** 2, axis=1)))
        )
        for stage in ("W", "N1", "N2", "N3", "REM")
    }
    assert min(rms, key=rms.get) == "REM", rms
    assert rms["W"] > 2 * rms["REM"]


def test_eye_movements_are_out_of_phase_in_rem_and_cortical_leak_in_phase_in_n3(night):
    def correlation(stage):
        e1 = _epochs(night, "E1-M2", stage, (0.3, 10)).ravel()
        e2 = _epochs(night, "E2-M1", stage, (0.3, 10)).ravel()
        return float(np.corrcoef(e1, e2)[0, 1])

    assert correlation("REM") < -0.3
    assert correlation("N3") > 0.3


def test_stage_changes_are_gradual_over_seconds_not_switched_at_the_epoch_boundary(night):
    chin = night.channel("Chin EMG")
    boundary = FIXTURE_STAGES.index("REM") * 30  # N3 -> REM: muscle tone falls to atonia

    def tone(start_s, stop_s):
        x = chin.data[int(start_s * chin.sfreq) : int(stop_s * chin.sfreq)].astype(np.float64)
        return float(np.median(np.sqrt(np.mean(x.reshape(-1, int(chin.sfreq / 4)) ** 2, axis=1))))

    before, during, after = (
        tone(boundary - 12, boundary - 6),
        tone(boundary - 1, boundary + 1),
        tone(boundary + 6, boundary + 12),
    )
    assert after < during < before
    assert 0.2 < (before - during) / (before - after) < 0.8


def test_heart_rate_is_plausible_and_slower_in_deep_sleep(night):
    ecg = night.channel("ECG")
    peaks, _ = scipy.signal.find_peaks(
        ecg.data, height=0.5 * night.subject.ecg_r_uv, distance=int(0.33 * ecg.sfreq)
    )
    beat_times = peaks / ecg.sfreq
    rates = 60.0 / np.diff(beat_times)
    assert 40 < np.median(rates) < 100

    def rate_in(stage):
        epoch_of_beat = (beat_times[1:] // 30).astype(int)
        keep = night.hypnogram.stages[np.minimum(epoch_of_beat, 49)] == STAGE_CODE[stage]
        return float(np.median(rates[keep]))

    assert rate_in("N3") < rate_in("W")


def test_same_seed_gives_identical_files_and_other_seeds_differ(tmp_path):
    def digest(seed, name):
        edf, hyp = write_night(simulate_night(hours=0.25, seed=seed), tmp_path / f"{name}.edf")
        return hashlib.sha256(edf.read_bytes()).hexdigest(), hyp.read_bytes()

    first, again, other = digest(5, "a"), digest(5, "b"), digest(6, "c")
    assert first == again
    assert first[0] != other[0]


@pytest.mark.parametrize("seed", range(3))
def test_respiratory_events_are_followed_by_desaturation(seed):
    # A sleeper with sleep apnoea: the first seed (after ``seed``) whose trait draw says so.
    candidate = next(
        s
        for s in range(1000 * seed, 1000 * seed + 1000)
        if Subject.draw(np.random.default_rng([s, 0])).ahi > 20
    )
    night = simulate_night(hours=1.0, seed=candidate, style="hospital")
    spo2 = night.channel("SpO2").data
    events = [e for e in night.events if e.description in ("Obstructive apnea", "Hypopnea")]
    assert events
    for e in events:
        end = int(e.onset_s + e.duration_s)
        before = np.median(spo2[max(0, int(e.onset_s) - 20) : int(e.onset_s)])
        after = spo2[end : end + 45]
        if before.size and after.size == 45:
            assert after.min() <= before - 2


def test_periodic_leg_movements_recur_every_20_to_40_seconds():
    seed = next(
        s for s in range(200) if Subject.draw(np.random.default_rng([s, 0])).plm_per_hour > 20
    )
    leg = simulate_night(hours=2.0, seed=seed).channel("Leg L")
    fs = int(leg.sfreq)
    rms = np.sqrt(np.mean(leg.data[: leg.data.size // fs * fs].reshape(-1, fs) ** 2, axis=1))
    onsets = np.flatnonzero((rms[1:] > 8) & (rms[:-1] <= 8))
    intervals = np.diff(onsets)
    assert onsets.size >= 20
    assert np.mean((intervals >= 18) & (intervals <= 42)) > 0.4


def test_sampled_nights_have_realistic_architecture():
    shares, rem_latency, early_n3, late_rem = [], [], [], []
    for seed in range(40):
        stages = sample_stages(8.0, np.random.default_rng(seed))
        assert stages.size == 960 and stages[0] == STAGE_CODE["W"]  # lights off awake
        sleep = stages[stages > 0]
        shares.append(np.bincount(sleep, minlength=5)[1:] / sleep.size)
        onset = np.flatnonzero(stages > 0)[0]
        rem = np.flatnonzero(stages == STAGE_CODE["REM"])
        rem_latency.append((rem[0] - onset) / 2 if rem.size else np.inf)
        n3 = np.flatnonzero(stages == STAGE_CODE["N3"])
        early_n3.append(np.mean(n3 < 480) if n3.size else 1.0)
        late_rem.append(np.mean(rem >= 480) if rem.size else 1.0)
    n1, n2, n3, rem = np.mean(shares, axis=0)
    assert 0.35 <= n2 <= 0.60 and 0.15 <= rem <= 0.30 and 0.05 <= n3 <= 0.25 and n1 < 0.2
    assert 60 <= np.median(rem_latency) <= 130  # minutes: the first NREM-REM cycle
    assert np.mean(early_n3) > 0.6 and np.mean(late_rem) > 0.55


def test_young_sleepers_get_more_deep_sleep_than_old_ones():
    def n3_share(deep_sleep):
        nights = [sample_stages(8.0, np.random.default_rng(s), deep_sleep) for s in range(30)]
        return np.mean([np.mean(n[n > 0] == STAGE_CODE["N3"]) for n in nights])

    assert n3_share(1.6) > 1.2 * n3_share(0.7)


def test_sleep_onset_latency_and_final_awakening_frame_the_night():
    for seed in range(10):
        stages = sample_stages(8.0, np.random.default_rng(seed))
        onset_min = np.flatnonzero(stages > 0)[0] / 2
        assert 3 <= onset_min <= 35
        assert stages[-1] == STAGE_CODE["W"]


def test_stage_override_is_followed_and_bad_stages_are_refused():
    night = simulate_night(stages=["W", "N2", "REM", "N3"], seed=0, style="sleep-edf")
    assert night.hypnogram.names() == ["W", "N2", "REM", "N3"]
    assert night.channel("EEG Fpz-Cz").data.size == 4 * 30 * 100
    with pytest.raises(SleepVitError, match="unknown stage"):
        simulate_night(stages=["W", "S5"], seed=0)
    with pytest.raises(SleepVitError, match="unknown stage code"):
        simulate_night(stages=[0, 7], seed=0)
    again = simulate_night(stages=night.hypnogram, seed=0, style="sleep-edf")
    assert np.array_equal(again.channel("EEG Pz-Oz").data, night.channel("EEG Pz-Oz").data)
    with pytest.raises(SleepVitError, match="unknown recording style"):
        simulate_night(hours=0.1, style="holter")


def test_hospital_night_loads_back_with_every_slot(hospital_night):
    edf, hypnogram = hospital_night
    study = load_study(edf)
    labels = {slot: s.label for slot, s in study.signals.items()}
    assert labels == {
        "EEG_F": "F4-M1", "EEG_C": "C4-M1", "EEG_O": "O2-M1", "EOG_L": "E1-M2",
        "EOG_R": "E2-M1", "EMG_CHIN": "Chin EMG", "ECG": "ECG", "FLOW": "Flow",
        "EFFORT_THO": "Thor", "EFFORT_ABD": "Abdo", "SPO2": "SpO2",
    }  # fmt: skip
    assert study.n_epochs == len(FIXTURE_STAGES)
    assert study.signals["EMG_CHIN"].sfreq == 512
    assert find_hypnogram(edf) == hypnogram
    assert read_hypnogram(hypnogram).names() == list(FIXTURE_STAGES)


def test_sleep_edf_night_loads_back_like_the_cassette_files(sleep_edf_night):
    edf, hypnogram = sleep_edf_night
    study = load_study(edf)
    labels = {slot: s.label for slot, s in study.signals.items()}
    assert labels == {
        "EEG_F": "EEG Fpz-Cz", "EEG_O": "EEG Pz-Oz", "EOG_L": "EOG horizontal",
        "EMG_CHIN": "EMG submental", "FLOW": "Resp oro-nasal",
    }  # fmt: skip
    assert study.signals["EEG_F"].sfreq == 100 and study.signals["EMG_CHIN"].sfreq == 1
    assert edf.read_bytes()[244:252].strip() == b"30"  # 30-s data records, like the originals
    assert read_hypnogram(hypnogram).names() == list(FIXTURE_STAGES)


def test_sleep_edf_chin_emg_is_a_one_hertz_rms_envelope_lowest_in_rem():
    night = simulate_night(stages=FIXTURE_STAGES, seed=4, style="sleep-edf")
    emg = night.channel("EMG submental")
    assert emg.sfreq == 1 and emg.data.min() >= 0
    per_epoch = emg.data.reshape(-1, 30).mean(axis=1)
    by_stage = {s: per_epoch[night.hypnogram.stages == STAGE_CODE[s]].mean() for s in ("W", "REM")}
    assert by_stage["REM"] < 0.5 * by_stage["W"]


def test_simulate_command_writes_both_files(tmp_path, capsys):
    out = tmp_path / "night.edf"
    assert (
        main(["simulate", str(out), "--hours", "0.2", "--seed", "9", "--style", "sleep-edf"]) == 0
    )
    printed = capsys.readouterr().out
    assert str(out) in printed and "night-Hypnogram.edf" in printed and "TST" in printed
    assert len(read_hypnogram(tmp_path / "night-Hypnogram.edf")) == 24


def test_simulate_command_refuses_a_non_edf_name(tmp_path, capsys):
    assert main(["simulate", str(tmp_path / "night.csv"), "--hours", "0.1"]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert not list(tmp_path.iterdir())


def test_ocular_leak_puts_blinks_on_the_eeg_most_at_the_forehead():
    stages = ["W"] * 20
    clean = simulate_night(stages=stages, seed=4, style="hospital")
    leaky = simulate_night(stages=stages, seed=4, style="hospital", traits={"ocular_leak": 2.0})
    blinks = {}
    for label in ("F4-M1", "C4-M1", "O2-M1"):
        added = leaky.channel(label).data.astype(np.float64) - clean.channel(label).data
        blinks[label] = np.percentile(np.abs(added), 99.9)
    assert blinks["F4-M1"] > 1.5 * blinks["C4-M1"] > 1.5 * blinks["O2-M1"] > 0
    assert blinks["C4-M1"] > 20  # a blink of 120–260 µV at the eye, ×2 × 0.15 centrally
    for label in ("E1-M2", "Chin EMG", "ECG"):
        np.testing.assert_array_equal(leaky.channel(label).data, clean.channel(label).data)


def test_physiology_traits_move_their_rhythm_and_default_to_the_textbook_sleeper():
    stages = ["N2"] * 20
    textbook = simulate_night(stages=stages, seed=5, style="hospital")
    same = simulate_night(
        stages=stages,
        seed=5,
        style="hospital",
        traits={"theta_scale": 1.0, "delta_scale": 1.0, "beta_scale": 1.0, "ocular_leak": 0.0},
    )
    np.testing.assert_array_equal(same.channel("C4-M1").data, textbook.channel("C4-M1").data)
    low_theta = simulate_night(stages=stages, seed=5, style="hospital", traits={"theta_scale": 0.5})
    fs = textbook.channel("C4-M1").sfreq
    theta = [_band_power(_epochs(n, "C4-M1", "N2"), fs, 4.5, 7.0) for n in (textbook, low_theta)]
    assert theta[1] < 0.6 * theta[0]

"""Recording families: held-out nights stay apart from training, by seed and by setting."""

from __future__ import annotations

import numpy as np
import pytest

from sleepvit.errors import SleepVitError
from sleepvit.io.channels import slot_of_label
from sleepvit.synth.families import (
    FAMILY_SEED_STRIDE,
    HELD_OUT_FAMILIES,
    HELD_OUT_SEED_BASE,
    TRAINING_GAIN,
    TRAINING_HIGHPASS_HZ,
    TRAINING_LOWPASS_HZ,
    TRAINING_MAINS_UV,
    TRAINING_MUSCLE_LEAK,
    TRAINING_PHYSIOLOGY,
    TRAINING_PINK_UV,
    TRAINING_RATES_HZ,
    Recording,
    check_training_seed,
    family_seed,
    record,
    simulate_family_night,
    training_recording,
)
from sleepvit.synth.night import simulate_night
from sleepvit.train.corpus import plan_corpus, simulate_corpus_night


def test_every_held_out_family_owns_its_own_seed_block():
    blocks = {
        (family_seed(f.name, 0) - HELD_OUT_SEED_BASE) // FAMILY_SEED_STRIDE
        for f in HELD_OUT_FAMILIES
    }
    assert len(blocks) == len(HELD_OUT_FAMILIES)
    last = family_seed(HELD_OUT_FAMILIES[-1].name, FAMILY_SEED_STRIDE - 1)
    assert last < HELD_OUT_SEED_BASE + len(HELD_OUT_FAMILIES) * FAMILY_SEED_STRIDE


@pytest.mark.parametrize("family", [f.name for f in HELD_OUT_FAMILIES])
def test_the_training_corpus_refuses_every_held_out_seed(family, tmp_path):
    seed = family_seed(family, 3)
    with pytest.raises(SleepVitError, match=family):
        check_training_seed(seed)
    with pytest.raises(SleepVitError, match="reserved"):
        plan_corpus(1, 0, 0, seed_base=seed)
    with pytest.raises(SleepVitError, match="reserved"):
        training_recording("hospital", seed)
    night = plan_corpus(1, 0, 0)[0]
    with pytest.raises(SleepVitError, match="reserved"):
        simulate_corpus_night(type(night)(night.split, seed, "hospital", "full", 0.1), tmp_path)


def test_a_default_corpus_stays_below_the_held_out_seeds():
    plan = plan_corpus(10_000, 10_000, 10_000)
    assert max(n.seed for n in plan) < HELD_OUT_SEED_BASE


def _within(value, bounds):
    return bounds[0] <= value <= bounds[1]


def test_training_settings_stay_inside_the_training_ranges():
    for seed in range(1000, 1200):
        for style in ("hospital", "sleep-edf"):
            r = training_recording(style, seed)
            assert r.rate_hz is None or r.rate_hz in TRAINING_RATES_HZ
            assert all(_within(g, TRAINING_GAIN) for g in r.gains.values())
            assert r.highpass_hz is None or _within(r.highpass_hz, TRAINING_HIGHPASS_HZ)
            assert r.lowpass_hz is None or _within(r.lowpass_hz, TRAINING_LOWPASS_HZ)
            assert _within(r.pink_uv, TRAINING_PINK_UV)
            assert _within(r.muscle_leak, TRAINING_MUSCLE_LEAK)
            assert _within(r.mains_uv, TRAINING_MAINS_UV)
            assert not r.derivations and r.keep is None
            assert set(r.traits) == set(TRAINING_PHYSIOLOGY)
            for name, value in r.traits.items():
                assert _within(value, TRAINING_PHYSIOLOGY[name]) or (
                    name == "ocular_leak" and value == 0.0
                )


def _outside_training(r: Recording) -> list[str]:
    """Which knobs of ``r`` lie outside every training range."""
    found = []
    if r.gains and all(not _within(g, TRAINING_GAIN) for g in r.gains.values()):
        found.append("gains")
    if r.derivations:
        found.append("derivations")
    if r.rate_hz is not None and r.rate_hz not in TRAINING_RATES_HZ:
        found.append("rate")
    if r.highpass_hz is not None and r.highpass_hz > TRAINING_HIGHPASS_HZ[1]:
        found.append("highpass")
    if r.pink_uv > TRAINING_PINK_UV[1] or r.muscle_leak > TRAINING_MUSCLE_LEAK[1]:
        found.append("noise")
    if set(r.traits) - set(TRAINING_PHYSIOLOGY):
        found.append("traits")
    return found


@pytest.mark.parametrize("family", HELD_OUT_FAMILIES, ids=lambda f: f.name)
def test_every_held_out_family_records_outside_the_training_ranges(family):
    for i in range(20):
        settings = family.draw(np.random.default_rng([family_seed(family.name, i), 101]))
        assert _outside_training(settings), f"{family.name} night {i} looks like training"


def test_held_out_traits_leave_the_simulators_own_ranges():
    """The trait families reach values Subject.draw never gives a training night."""
    from sleepvit.synth.subject import Subject

    drawn = [Subject.draw(np.random.default_rng(s)) for s in range(2000)]
    by_name = {f.name: f for f in HELD_OUT_FAMILIES}
    rng = np.random.default_rng(0)
    assert by_name["apnoea"].draw(rng).traits["ahi"] > max(s.ahi for s in drawn)
    assert by_name["ageing"].draw(rng).traits["age"] > max(s.age for s in drawn)
    assert by_name["plm-rbd"].draw(rng).traits["plm_per_hour"] > max(s.plm_per_hour for s in drawn)
    assert by_name["artefacts"].draw(rng).traits["artifact_load"] > np.percentile(
        [s.artifact_load for s in drawn], 99.5
    )


def test_record_applies_rate_gain_polarity_and_derivations():
    night = simulate_night(stages=["N2"] * 4, seed=5)
    settings = Recording(
        derivations=(("Cz-A1", (("C3-M2", 0.7), ("C4-M1", 0.7))),),
        keep=("Cz-A1", "E1-M2", "Chin EMG", "Flow"),
        rate_hz=100.0,
        gains={"E1-M2": 2.0},
        flipped=frozenset({"Cz-A1"}),
    )
    recorded = record(night, settings, np.random.default_rng(0))
    assert [c.label for c in recorded.channels] == ["E1-M2", "Chin EMG", "Flow", "Cz-A1"]
    assert recorded.channel("Cz-A1").sfreq == 100.0
    assert recorded.channel("Flow").sfreq == night.channel("Flow").sfreq
    ratio = recorded.channel("E1-M2").data.std() / night.channel("E1-M2").data.std()
    assert ratio == pytest.approx(2.0, rel=0.05)  # resampling to 100 Hz keeps the EOG band
    derived = record(
        night, Recording(derivations=settings.derivations, flipped=settings.flipped), None
    ).channel("Cz-A1")
    expected = -0.7 * (night.channel("C3-M2").data + night.channel("C4-M1").data)
    assert np.allclose(derived.data, expected, atol=1e-3)
    assert slot_of_label("Cz-A1") == "EEG_C"


def test_a_held_out_night_is_reproducible_and_in_its_seed_block():
    a = simulate_family_night("single-central", 1, 0.1)
    b = simulate_family_night("single-central", 1, 0.1)
    assert a.seed == family_seed("single-central", 1)
    assert [c.label for c in a.channels] == [c.label for c in b.channels]
    assert np.array_equal(a.channels[0].data, b.channels[0].data)
    eeg = [c for c in a.channels if slot_of_label(c.label) in ("EEG_F", "EEG_C", "EEG_O")]
    assert len(eeg) == 1 and eeg[0].label in ("C3-A1", "Cz-A1")

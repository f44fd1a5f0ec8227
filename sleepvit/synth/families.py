"""Recording families: how a simulated night is recorded, within training ranges or held out.

A simulated night (:func:`sleepvit.synth.simulate_night`) has one lab's recording habits:
its rates, filters and amplifier calibration. Real recordings differ between labs in exactly
these, and a model that learned one lab's habits reads them as the stage. So every training
night is *recorded* here with settings drawn per night and per channel from the training
ranges (:data:`TRAINING`), and the generalisation benchmark scores nights of **held-out
families**, each recorded with settings outside those ranges: another per-channel calibration,
derivations the simulator never writes (C3-A1, Cz-A1, Fpz-Cz on a hospital amplifier),
sampling rates of 50 or 512 Hz, narrow amplifier filters, loud noise, heavy artefacts,
old sleepers and pathological nights.

Held-out nights are kept apart structurally: each held-out family owns its own block of seeds
at or above :data:`HELD_OUT_SEED_BASE`, and :func:`check_training_seed`, which the training
corpus calls for every night it plans or simulates, refuses those seeds. The held-out ranges
are disjoint from the training ranges (``tests/test_families.py`` checks both).

Examples
--------
>>> [f.name for f in HELD_OUT_FAMILIES][:3]
['calibration', 'derivations', 'single-central']
>>> family_seed("calibration", 0) >= HELD_OUT_SEED_BASE
True
>>> try:
...     check_training_seed(family_seed("noise", 2))
... except SleepVitError as error:
...     print(str(error)[:61])
seed 6060002 belongs to the held-out recording family 'noise'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import signal

from sleepvit.errors import SleepVitError
from sleepvit.io.channels import slot_of_label
from sleepvit.synth.montage import ChannelSpec
from sleepvit.synth.night import SimulatedChannel, SimulatedNight, simulate_night
from sleepvit.synth.noise import pink, spectral_noise

HELD_OUT_SEED_BASE = 6_000_000
"""First seed of the held-out families; training corpora must stay below it."""
FAMILY_SEED_STRIDE = 10_000
"""Seeds per held-out family: family ``k`` owns ``[base + k·stride, base + (k+1)·stride)``."""

_EEG_EOG = ("EEG_F", "EEG_C", "EEG_O", "EOG_L", "EOG_R")
_RESAMPLED = (*_EEG_EOG, "EMG_CHIN")
"""Slots whose channels follow the recording's EEG rate (ECG and breathing keep their own)."""


@dataclass(frozen=True)
class Recording:
    """Concrete recording settings of one night (what a family draws for it)."""

    style: str = "hospital"
    traits: Mapping[str, float] = field(default_factory=dict)
    """Overrides of drawn :class:`~sleepvit.synth.subject.Subject` traits."""
    derivations: tuple[tuple[str, tuple[tuple[str, float], ...]], ...] = ()
    """New channels as weighted sums of recorded ones: ``(label, ((source, weight), …))``."""
    keep: tuple[str, ...] | None = None
    """Labels kept after the derivations (``None``: every channel)."""
    rate_hz: float | None = None
    """Sampling rate of EEG, EOG and chin EMG channels (``None``: as simulated)."""
    highpass_hz: float | None = None
    lowpass_hz: float | None = None
    """Amplifier filters (causal Butterworth, 1st-order high-pass, 4th-order low-pass)."""
    gains: Mapping[str, float] = field(default_factory=dict)
    """Calibration factor per label (missing: 1)."""
    flipped: frozenset[str] = frozenset()
    """Labels recorded with the electrodes swapped (polarity reversed)."""
    pink_uv: float = 0.0
    """1/f noise added to EEG and EOG, µV standard deviation."""
    muscle_leak: float = 0.0
    """Share of the chin EMG picked up by every EEG channel (scalp muscle contamination)."""
    mains_uv: float = 0.0
    """Extra mains hum on EEG and EOG, µV amplitude."""


@dataclass(frozen=True)
class Family:
    """A way of recording nights: a name, whether it is held out, and its settings sampler."""

    name: str
    held_out: bool
    description: str
    draw: Callable[[np.random.Generator], Recording]


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


# --- training ranges --------------------------------------------------------------------------
TRAINING_RATES_HZ = (100.0, 128.0, 200.0, 256.0)
TRAINING_GAIN = (0.6, 1.6)
TRAINING_HIGHPASS_HZ = (0.05, 0.3)
TRAINING_LOWPASS_HZ = (40.0, 70.0)
TRAINING_PINK_UV = (0.0, 3.0)
TRAINING_MUSCLE_LEAK = (0.0, 0.05)
TRAINING_MAINS_UV = (0.0, 3.0)
TRAINING_FLIP_P = 0.1
TRAINING_PHYSIOLOGY: dict[str, tuple[float, float]] = {
    "theta_scale": (0.7, 1.4),
    "delta_scale": (0.7, 1.4),
    "fast_delta_scale": (0.6, 1.6),
    "beta_scale": (0.6, 1.8),
    "spindle_amplitude": (0.5, 1.2),
    "ocular_leak": (0.3, 2.5),
}
"""Log-uniform ranges of the sleeper's physiology per training night (Subject fields the
simulator otherwise fixes): theta, slow and fast delta and beta levels, spindle amplitude, and
eye movements reaching the EEG. They span the textbook sleeper, whose band shares by stage at
central leads match real EEG's (dreams-dev), and real EEG's smaller spindles and blinks on the
EEG in wake."""
TRAINING_OCULAR_P = 0.8
"""Share of training nights whose EEG picks up the eyes at all."""


def _electrophysiology(labels: tuple[str, ...]) -> list[str]:
    return [label for label in labels if slot_of_label(label) in _RESAMPLED]


def _hospital_labels() -> tuple[str, ...]:
    from sleepvit.synth.montage import HOSPITAL

    return tuple(s.label for s in HOSPITAL)


def _sleep_edf_labels() -> tuple[str, ...]:
    from sleepvit.synth.montage import SLEEP_EDF

    return tuple(s.label for s in SLEEP_EDF)


def _training_recording(style: str, rng: np.random.Generator) -> Recording:
    """Settings of one training night of ``style``, every knob drawn from the training ranges."""
    labels = _hospital_labels() if style == "hospital" else _sleep_edf_labels()
    electro = _electrophysiology(labels)
    eeg_eog = [label for label in electro if slot_of_label(label) in _EEG_EOG]
    return Recording(
        style=style,
        rate_hz=float(rng.choice(TRAINING_RATES_HZ)) if style == "hospital" else None,
        highpass_hz=float(rng.uniform(*TRAINING_HIGHPASS_HZ)) if rng.random() < 0.5 else None,
        lowpass_hz=float(rng.uniform(*TRAINING_LOWPASS_HZ)) if rng.random() < 0.5 else None,
        gains={label: _log_uniform(rng, *TRAINING_GAIN) for label in electro},
        flipped=frozenset(label for label in eeg_eog if rng.random() < TRAINING_FLIP_P),
        pink_uv=float(rng.uniform(*TRAINING_PINK_UV)),
        muscle_leak=float(rng.uniform(*TRAINING_MUSCLE_LEAK)) if style == "hospital" else 0.0,
        mains_uv=float(rng.uniform(*TRAINING_MAINS_UV)),
        traits=_training_physiology(rng),
    )


def _training_physiology(rng: np.random.Generator) -> dict[str, float]:
    traits = {name: _log_uniform(rng, *r) for name, r in TRAINING_PHYSIOLOGY.items()}
    if rng.random() >= TRAINING_OCULAR_P:
        traits["ocular_leak"] = 0.0
    return traits


def training_recording(style: str, seed: int) -> Recording:
    """The recording settings of training night ``seed`` (refused for held-out seeds).

    >>> training_recording("hospital", 1000).rate_hz in TRAINING_RATES_HZ
    True
    """
    check_training_seed(seed)
    return _training_recording(style, np.random.default_rng([int(seed), 101]))


# --- held-out families ------------------------------------------------------------------------
def _calibration(rng: np.random.Generator) -> Recording:
    """Every channel calibrated outside the training gains: ×0.4–0.55 or ×1.8–2.5."""
    electro = _electrophysiology(_hospital_labels())

    def gain() -> float:
        return _log_uniform(rng, 0.4, 0.55) if rng.random() < 0.5 else _log_uniform(rng, 1.8, 2.5)

    return Recording(gains={label: gain() for label in electro})


_DERIVATIONS: dict[str, tuple[tuple[str, float], ...]] = {
    # Longer inter-electrode distances record more of the field: Cz-A1 and C3-A1 are larger
    # than C4-M1; Fpz-Cz is the frontal-minus-central bipole of Sleep-EDF on a hospital amplifier.
    "C3-A1": (("C3-M2", 1.15),),
    "Cz-A1": (("C3-M2", 0.7), ("C4-M1", 0.7)),
    "Fpz-Cz": (("F4-M1", 1.1), ("C4-M1", -0.55)),
    "F4-A1": (("F4-M1", 1.2),),
}


def _derivations(rng: np.random.Generator) -> Recording:
    """Hospital nights with derivations the simulator never writes, two EEG and one EOG."""
    frontal, central = str(rng.choice(["Fpz-Cz", "F4-A1"])), str(rng.choice(["C3-A1", "Cz-A1"]))
    return Recording(
        derivations=tuple((name, _DERIVATIONS[name]) for name in (frontal, central)),
        keep=(frontal, central, "E1-M2", "Chin EMG"),
        rate_hz=float(rng.choice([200.0, 256.0])),
    )


def _single_central(rng: np.random.Generator) -> Recording:
    """One central EEG (C3-A1 or Cz-A1) + one EOG + chin at 50–200 Hz, as older databases."""
    central = str(rng.choice(["C3-A1", "Cz-A1"]))
    return Recording(
        derivations=((central, _DERIVATIONS[central]),),
        keep=(central, "E1-M2", "Chin EMG"),
        rate_hz=float(rng.choice([50.0, 100.0, 200.0])),
    )


def _eeg_only(rng: np.random.Generator) -> Recording:
    """One central EEG (C3-A1 or Cz-A1) and nothing else at 50–200 Hz: research excerpts and
    ambulatory EEG, where W, N1 and REM must be told apart without EOG or chin EMG."""
    central = str(rng.choice(["C3-A1", "Cz-A1"]))
    return Recording(
        derivations=((central, _DERIVATIONS[central]),),
        keep=(central,),
        rate_hz=float(rng.choice([50.0, 100.0, 200.0])),
    )


def _rate_50(rng: np.random.Generator) -> Recording:
    return Recording(rate_hz=50.0)


def _rate_512(rng: np.random.Generator) -> Recording:
    return Recording(rate_hz=512.0)


def _amplifier(rng: np.random.Generator) -> Recording:
    """Narrow amplifier filters: high-pass 0.5–0.8 Hz, low-pass 20–30 Hz."""
    return Recording(
        highpass_hz=float(rng.uniform(0.5, 0.8)), lowpass_hz=float(rng.uniform(20.0, 30.0))
    )


def _noise(rng: np.random.Generator) -> Recording:
    """Loud 1/f noise, scalp-muscle contamination and mains hum on every EEG/EOG channel."""
    return Recording(
        pink_uv=float(rng.uniform(6.0, 10.0)),
        muscle_leak=float(rng.uniform(0.15, 0.3)),
        mains_uv=float(rng.uniform(8.0, 20.0)),
    )


def _traits(**ranges: tuple[float, float]) -> Callable[[np.random.Generator], Recording]:
    """A family of sleepers whose named traits are drawn uniformly from ``ranges``."""

    def draw(rng: np.random.Generator) -> Recording:
        return Recording(traits={name: float(rng.uniform(*r)) for name, r in ranges.items()})

    return draw


TRAINING = Family(
    "training",
    False,
    "the training corpus's ranges: rates 100–256 Hz, gains ×0.6–1.6, mild filters and noise",
    lambda rng: _training_recording("hospital", rng),
)
HELD_OUT_FAMILIES: tuple[Family, ...] = (
    Family("calibration", True, "every channel ×0.4–0.55 or ×1.8–2.5", _calibration),
    Family("derivations", True, "Fpz-Cz/F4-A1 + C3-A1/Cz-A1, one EOG", _derivations),
    Family("single-central", True, "one C3-A1/Cz-A1 EEG, one EOG, 50–200 Hz", _single_central),
    Family("rate-50", True, "EEG, EOG and EMG at 50 Hz", _rate_50),
    Family("rate-512", True, "EEG, EOG and EMG at 512 Hz", _rate_512),
    Family("amplifier", True, "high-pass 0.5–0.8 Hz, low-pass 20–30 Hz", _amplifier),
    Family("noise", True, "1/f 6–10 µV, scalp EMG 15–30 %, mains 8–20 µV", _noise),
    Family("artefacts", True, "artefact load ×5–8", _traits(artifact_load=(5.0, 8.0))),
    Family(
        "ageing",
        True,
        "78–90 years: slow waves ×0.45–0.65, 1–2.5 spindles/min, little alpha",
        _traits(
            age=(78.0, 90.0),
            slow_wave_scale=(0.45, 0.65),
            spindles_per_min=(1.0, 2.5),
            alpha_scale=(0.3, 0.5),
        ),
    ),
    Family("apnoea", True, "AHI 50–70 per hour", _traits(ahi=(50.0, 70.0))),
    Family(
        "plm-rbd",
        True,
        "60–90 PLM/h, REM without atonia",
        _traits(plm_per_hour=(60.0, 90.0), rem_atonia=(0.0, 0.3)),
    ),
    # Appended, so that the families above keep their seed blocks.
    Family("eeg-only", True, "one C3-A1/Cz-A1 EEG, no EOG or EMG, 50–200 Hz", _eeg_only),
)
FAMILIES: dict[str, Family] = {f.name: f for f in (TRAINING, *HELD_OUT_FAMILIES)}


def family(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise SleepVitError(
            f"unknown recording family {name!r}; choose one of {', '.join(FAMILIES)}"
        ) from None


def family_seed(name: str, index: int) -> int:
    """Seed of night ``index`` of held-out family ``name`` (inside its reserved block)."""
    names = [f.name for f in HELD_OUT_FAMILIES]
    if name not in names:
        raise SleepVitError(f"{name!r} is not a held-out family; choose one of {', '.join(names)}")
    if not 0 <= index < FAMILY_SEED_STRIDE:
        raise SleepVitError(f"night index {index} is outside 0-{FAMILY_SEED_STRIDE - 1}")
    return HELD_OUT_SEED_BASE + names.index(name) * FAMILY_SEED_STRIDE + index


def check_training_seed(seed: int) -> None:
    """Refuse a seed reserved for a held-out family (the training corpus calls this)."""
    if seed >= HELD_OUT_SEED_BASE:
        k = (seed - HELD_OUT_SEED_BASE) // FAMILY_SEED_STRIDE
        owner = HELD_OUT_FAMILIES[k].name if k < len(HELD_OUT_FAMILIES) else "(reserved)"
        raise SleepVitError(
            f"seed {seed} belongs to the held-out recording family {owner!r} (seeds from "
            f"{HELD_OUT_SEED_BASE} are reserved for the generalisation benchmark); choose a "
            f"training seed below {HELD_OUT_SEED_BASE}"
        )


def simulate_training_night(seed: int, hours: float, style: str = "hospital") -> SimulatedNight:
    """A night recorded with training-range settings (the corpus's nights are made so)."""
    settings = training_recording(style, seed)
    night = simulate_night(hours=hours, seed=seed, style=style, traits=settings.traits)
    return record(night, settings, np.random.default_rng([int(seed), 102]))


def simulate_family_night(name: str, index: int, hours: float) -> SimulatedNight:
    """Night ``index`` of held-out family ``name``: simulated and recorded with its settings."""
    seed = family_seed(name, index)
    rng = np.random.default_rng([seed, 101])
    settings = family(name).draw(rng)
    night = simulate_night(hours=hours, seed=seed, style=settings.style, traits=settings.traits)
    return record(night, settings, rng)


# --- applying settings ------------------------------------------------------------------------
def _butter(x: np.ndarray, fs: float, settings: Recording) -> np.ndarray:
    if settings.highpass_hz is not None:
        x = signal.sosfilt(
            signal.butter(1, settings.highpass_hz, "highpass", fs=fs, output="sos"), x
        )
    if settings.lowpass_hz is not None and settings.lowpass_hz < 0.45 * fs:
        x = signal.sosfilt(signal.butter(4, settings.lowpass_hz, "lowpass", fs=fs, output="sos"), x)
    return x


def _resampled(x: np.ndarray, fs: float, rate: float) -> np.ndarray:
    up, down = int(rate), int(fs)
    g = np.gcd(up, down)
    return signal.resample_poly(x, up // g, down // g)


def _derive(channels: list[SimulatedChannel], settings: Recording) -> list[SimulatedChannel]:
    by_label = {c.label: c for c in channels}
    derived = []
    for label, terms in settings.derivations:
        first = by_label[terms[0][0]]
        data = sum(weight * by_label[source].data.astype(np.float64) for source, weight in terms)
        active, _, reference = label.partition("-")
        spec = replace(first.spec, label=label, electrodes=(active, reference))
        derived.append(SimulatedChannel(spec, np.asarray(data, dtype=np.float32)))
    channels = channels + derived
    if settings.keep is not None:
        channels = [c for c in channels if c.label in settings.keep]
    return channels


def record(night: SimulatedNight, settings: Recording, rng: np.random.Generator) -> SimulatedNight:
    """``night`` as recorded with ``settings``: derivations, filters, rate, noise, calibration.

    >>> night = simulate_night(stages=["W", "N2"], seed=1)
    >>> settings = Recording(rate_hz=100.0, gains={"C4-M1": 2.0})
    >>> recorded = record(night, settings, np.random.default_rng(0))
    >>> recorded.channel("C4-M1").sfreq, recorded.channel("SpO2").sfreq
    (100.0, 1.0)
    """
    channels = _derive(list(night.channels), settings)
    chin = next((c for c in channels if slot_of_label(c.label) == "EMG_CHIN"), None)
    out = []
    for channel in channels:
        slot = slot_of_label(channel.label)
        spec, x = channel.spec, channel.data.astype(np.float64)
        if slot in _EEG_EOG:
            x = x + _added_noise(x.size, spec, settings, chin, rng)
            x = _butter(x, spec.fs, settings)
        if slot in _RESAMPLED and settings.rate_hz is not None and spec.fs > 1.0:
            if settings.rate_hz != spec.fs:
                x = _resampled(x, spec.fs, settings.rate_hz)
                spec = replace(spec, fs=settings.rate_hz)
        gain = settings.gains.get(channel.label, 1.0)
        sign = -1.0 if channel.label in settings.flipped else 1.0
        x = sign * gain * x
        if gain > 1.0:
            lo, hi = spec.physical
            spec = replace(spec, physical=(float(np.floor(lo * gain)), float(np.ceil(hi * gain))))
        out.append(SimulatedChannel(spec, np.clip(x, *spec.physical).astype(np.float32)))
    return replace(night, channels=out)


def _added_noise(
    n: int,
    spec: ChannelSpec,
    settings: Recording,
    chin: SimulatedChannel | None,
    rng: np.random.Generator,
) -> np.ndarray:
    noise = np.zeros(n)
    if settings.pink_uv > 0:
        noise += settings.pink_uv * spectral_noise(n, spec.fs, pink(1.0, 0.3, spec.fs / 2), rng)
    if settings.mains_uv > 0:
        hz = float(rng.choice([50.0, 60.0]))
        if hz < spec.fs / 2:
            t = np.arange(n) / spec.fs
            noise += settings.mains_uv * np.sin(2 * np.pi * hz * t + rng.uniform(0, 2 * np.pi))
    if settings.muscle_leak > 0 and chin is not None and chin.sfreq > 2 * 30.0:
        muscle = _resampled(chin.data.astype(np.float64), chin.sfreq, spec.fs)[:n]
        noise[: muscle.size] += settings.muscle_leak * muscle
    return noise

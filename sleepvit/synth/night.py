"""Simulate a whole polysomnography night and write it as EDF+ with its hypnogram."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyedflib

from sleepvit.errors import OutputError, SleepVitError
from sleepvit.hypnogram import STAGE_CODE, STAGES, Hypnogram
from sleepvit.io.atomic import atomic_path
from sleepvit.io.hypnograms import write_hypnogram
from sleepvit.study import Annotation
from sleepvit.synth import artifacts, cardiac, emg, respiration
from sleepvit.synth.architecture import sample_stages
from sleepvit.synth.eeg import (
    COMPONENTS,
    OCULAR_PROPAGATION,
    cortical_sources,
    electrode_noise,
    local_envelope,
    local_noise_pool,
    site_signal,
)
from sleepvit.synth.eyes import eye_movements
from sleepvit.synth.montage import RECORD_SECONDS, ChannelSpec, channels_for
from sleepvit.synth.noise import band, spectral_noise
from sleepvit.synth.subject import Subject
from sleepvit.synth.timeline import Timeline, build_timeline

_STREAMS = (
    "subject",
    "hypnogram",
    "timeline",
    "respiration",
    "eeg",
    "eyes",
    "muscle",
    "heart",
    "channels",
    "artifacts",
    "montage",
)


@dataclass
class SimulatedChannel:
    """One simulated channel, ready to be written to EDF."""

    spec: ChannelSpec
    data: np.ndarray
    """float32 in ``spec.unit``."""

    @property
    def label(self) -> str:
        return self.spec.label

    @property
    def sfreq(self) -> float:
        return self.spec.fs

    @property
    def unit(self) -> str:
        return self.spec.unit


@dataclass
class SimulatedNight:
    """A simulated recording: its channels, the true hypnogram and what happened when."""

    channels: list[SimulatedChannel]
    hypnogram: Hypnogram
    start: datetime
    style: str
    seed: int
    subject: Subject
    events: list[Annotation] = field(default_factory=list)
    """Arousals, respiratory events and movements (onset, duration, AASM name)."""

    def channel(self, label: str) -> SimulatedChannel:
        """The channel called ``label`` (``KeyError`` listing the labels if absent)."""
        for ch in self.channels:
            if ch.label == label:
                return ch
        raise KeyError(f"no channel {label!r}; have {[c.label for c in self.channels]}")

    @property
    def duration_s(self) -> float:
        return self.hypnogram.duration_s

    def summary(self) -> str:
        """One line: length, total sleep time and the share of each stage.

        Examples
        --------
        >>> simulate_night(stages=["W", "N2", "N2", "REM"], seed=0).summary()
        'seed 0 hospital: 0.03 h in bed, TST 0.03 h; W 25% N1 0% N2 50% N3 0% REM 25%'
        """
        codes = self.hypnogram.stages
        shares = " ".join(
            f"{name} {np.count_nonzero(codes == STAGE_CODE[name]) / codes.size:.0%}"
            for name in STAGES
        )
        tst_h = np.count_nonzero(codes > 0) * self.hypnogram.epoch_s / 3600
        return (
            f"seed {self.seed} {self.style}: {self.duration_s / 3600:.2f} h in bed, "
            f"TST {tst_h:.2f} h; {shares}"
        )


def _stage_codes(stages) -> np.ndarray:
    """Stage codes from a :class:`Hypnogram`, stage names or codes (UNS = -1 allowed)."""
    if isinstance(stages, Hypnogram):
        stages = stages.stages
    codes = []
    for s in stages:
        if isinstance(s, str):
            if s not in STAGE_CODE:
                raise SleepVitError(f"unknown stage {s!r}; use one of {', '.join(STAGES)} or UNS")
            codes.append(STAGE_CODE[s])
        elif int(s) not in STAGE_CODE.values():
            raise SleepVitError(f"unknown stage code {s}; use 0-4 (W, N1, N2, N3, REM) or -1 (UNS)")
        else:
            codes.append(int(s))
    if not codes:
        raise SleepVitError("the stage sequence is empty; give at least one 30-s epoch")
    return np.array(codes, dtype=np.int8)


class _Generator:
    """Builds each channel's signal from shared sources, computing every source once."""

    def __init__(self, tl: Timeline, subject: Subject, found, rngs):
        self.tl, self.subject, self.found, self.rngs = tl, subject, found, rngs
        self.phase = respiration.breath_phase(tl, subject, rngs["respiration"])
        self._cache: dict[tuple, object] = {}

    def _once(self, key: tuple, make):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def _cortex(self, fs):
        return self._once(
            ("cortex", fs), lambda: cortical_sources(self.tl, self.subject, fs, self.rngs["eeg"])
        )

    def _eyes(self, fs):
        return self._once(("eyes", fs), lambda: eye_movements(self.tl, fs, self.rngs["eyes"]))

    def _breathing(self, fs):
        return self._once(
            ("breathing", fs),
            lambda: respiration.breathing(
                self.tl, self.subject, self.phase, self.found, fs, self.rngs["respiration"]
            ),
        )

    def ecg(self, fs):
        return self._once(
            ("ecg", fs),
            lambda: cardiac.ecg(self.tl, self.subject, fs, self.phase, self.rngs["heart"]),
        )

    def _cortical_view(self, site: str, fs: float) -> np.ndarray:
        rng = self.rngs["channels"]
        jitter = np.exp(rng.normal(0, 0.08, len(COMPONENTS)))
        x = site_signal(self._cortex(fs), site, jitter)
        pool = self._once(("pool", fs), lambda: local_noise_pool(self.tl.duration_s, fs, rng))
        envelope = self._once(("local", fs), lambda: local_envelope(self.tl, self.subject, fs))
        x += electrode_noise(pool, envelope, rng)
        leak = self.subject.ocular_leak * OCULAR_PROPAGATION[site]
        if leak > 0:
            eyes = self._eyes(fs)
            x += np.float32(leak) * (eyes.vertical + 0.3 * eyes.horizontal)
        return x

    def signal(self, spec: ChannelSpec) -> np.ndarray:
        kind, _, detail = spec.source.partition(":")
        fs, tl, s = spec.fs, self.tl, self.subject
        if kind == "eeg":
            return self._cortical_view(detail, fs)
        if kind == "eog":
            eyes = self._eyes(fs)
            leak = self._cortical_view("eye", fs)
            if detail == "horizontal":  # bipolar across both canthi: cortical leak mostly cancels
                return 1.8 * eyes.horizontal - 0.2 * eyes.vertical + 0.35 * leak
            sign = 1.0 if detail == "E1" else -1.0
            return sign * (eyes.horizontal - 0.5 * eyes.vertical) + leak
        if spec.source == "emg:chin":
            return emg.chin_emg(tl, s, fs, self.rngs["muscle"])
        if spec.source == "emg:chin-rms":
            return emg.chin_emg_rms(tl, s, self.rngs["muscle"])
        if kind == "leg":
            return emg.leg_emg(tl, s, fs, self.rngs["muscle"])
        if kind == "ecg":
            return self.ecg(fs)
        if kind in ("flow", "thorax", "abdomen"):
            return self._breathing(fs)[("flow", "thorax", "abdomen").index(kind)]
        if kind == "resp":  # a 1-Hz thermistor trace: mean of each second of the flow
            flow = self._breathing(4.0)[0]
            return flow[: flow.size // 4 * 4].reshape(-1, 4).mean(axis=1)
        if kind == "spo2":
            return respiration.spo2(tl, s, self.found, self.rngs["respiration"])
        if kind == "temp":
            return self._temperature()
        if kind == "marker":
            marker = np.zeros(int(tl.duration_s), dtype=np.float32)
            marker[:3] = 1000.0  # the lights-off button press
            return marker
        raise ValueError(f"no generator for source {spec.source!r}")

    def _temperature(self) -> np.ndarray:
        """Rectal temperature falling towards its circadian minimum in the early morning."""
        seconds = int(self.tl.duration_s)
        hours = np.arange(seconds, dtype=np.float32) / 3600
        rng = self.rngs["channels"]
        drift = 0.05 * spectral_noise(seconds // 4 + 1, 0.25, band(0.0002, 0.01, 0.0002), rng)
        base = 37.0 + rng.uniform(-0.3, 0.3) - 0.45 * np.sin(np.pi * np.clip(hours / 9, 0, 1))
        return (base + np.repeat(drift, 4)[:seconds]).astype(np.float32)


def simulate_night(
    hours: float = 8.0,
    seed: int = 0,
    style: str = "hospital",
    stages=None,
    start: datetime | None = None,
    traits: Mapping[str, float] | None = None,
) -> SimulatedNight:
    """Simulate one night, lights off to lights on, deterministic for a given ``seed``.

        ``stages`` (a :class:`Hypnogram`, names like ``"N2"`` or codes) fixes the hypnogram and
        then also the length of the night; otherwise ``hours`` of realistic sleep architecture
        are sampled. ``start`` is the recording's clock time (default: an evening set by seed).
    ``traits`` overrides drawn :class:`Subject` traits by name (e.g. ``{"ahi": 60.0}``), as the
    recording families of :mod:`sleepvit.synth.families` do.

        Examples
        --------
        >>> night = simulate_night(stages=["W", "N1", "N2", "N3", "REM"], seed=3, style="sleep-edf")
        >>> [c.label for c in night.channels][:2], night.hypnogram.names()[-1]
        (['EEG Fpz-Cz', 'EEG Pz-Oz'], 'REM')
    """
    rngs = {name: np.random.default_rng([int(seed), i]) for i, name in enumerate(_STREAMS)}
    specs = channels_for(style, rngs["montage"])
    subject = Subject.draw(rngs["subject"])
    if traits:
        subject = replace(subject, **traits)
    if stages is None:
        if not hours > 0:
            raise SleepVitError(
                f"a night lasts a positive number of hours, not {hours}", settings=("hours",)
            )
        # Slow-wave sleep declines with age in amount as well as in amplitude.
        codes = sample_stages(hours, rngs["hypnogram"], deep_sleep=subject.slow_wave_scale**2)
    else:
        codes = _stage_codes(stages)
    if start is None:
        start = datetime(2026, 1, 5, 22, 0) + timedelta(
            minutes=int(rngs["subject"].integers(0, 90))
        )

    found = respiration.schedule_events(codes, subject, rngs["respiration"])
    after_events = [
        (ev.onset_s + ev.duration_s - 1.0, float(rngs["timeline"].uniform(3, 12)))
        for ev in found
        if rngs["timeline"].random() < 0.75
    ]
    tl = build_timeline(codes, rngs["timeline"], subject.eyes_open_prob, after_events)
    generator = _Generator(tl, subject, found, rngs)
    data = []
    for spec in specs:
        n = int(round(tl.duration_s * spec.fs))
        data.append(np.ascontiguousarray(generator.signal(spec)[:n], dtype=np.float32))

    arng = rngs["artifacts"]
    moves = artifacts.movements(data, specs, tl, subject, arng)
    artifacts.electrode_pops(data, specs, tl, subject, arng)
    artifacts.sweat(data, specs, tl, subject, arng)
    artifacts.mains_hum(data, specs, subject, tl.duration_s, arng)
    ecg_specs = [sp for sp in specs if sp.source == "ecg"]
    if ecg_specs:
        artifacts.cardiac_field(data, specs, generator.ecg(ecg_specs[0].fs), ecg_specs[0].fs, arng)

    channels = [
        SimulatedChannel(spec, np.clip(x, *spec.physical).astype(np.float32))
        for spec, x in zip(specs, data, strict=True)
    ]
    annotations = sorted(
        [Annotation(o, d, "Arousal") for o, d in tl.arousals]
        + [Annotation(ev.onset_s, ev.duration_s, ev.kind) for ev in found]
        + [Annotation(o, d, "Movement") for o, d in moves],
        key=lambda a: a.onset_s,
    )
    hypnogram = Hypnogram(codes, start=start, metadata={"source": f"sleepvit.synth seed {seed}"})
    return SimulatedNight(channels, hypnogram, start, style, int(seed), subject, annotations)


def _digital(x: np.ndarray, spec: ChannelSpec) -> np.ndarray:
    lo, hi = spec.physical
    scaled = (x.astype(np.float64) - lo) / (hi - lo) * 65535.0 - 32768.0
    return np.clip(np.round(scaled), -32768, 32767).astype(np.int16)


def _fake_identity(writer: pyedflib.EdfWriter, night: SimulatedNight) -> None:
    # EDF+ header subfields must not contain spaces.
    writer.setPatientCode(f"SIM-{night.seed:06d}")
    writer.setPatientName("Simulated_Night")
    writer.setPatientAdditional("not_a_real_person")
    writer.setTechnician("sleepvit_simulator")
    writer.setEquipment("sleepvit.synth")
    writer.setRecordingAdditional(f"{night.style}_seed_{night.seed}")
    writer.setStartdatetime(night.start)


def _write_psg(night: SimulatedNight, path: Path, annotate: bool) -> None:
    record_s = RECORD_SECONDS[night.style]
    n_records = int(night.duration_s) // record_s
    writer = pyedflib.EdfWriter(str(path), len(night.channels), pyedflib.FILETYPE_EDFPLUS)
    try:
        _fake_identity(writer, night)
        with warnings.catch_warnings():  # pyedflib warns whenever the duration is not 1 s
            warnings.simplefilter("ignore", UserWarning)
            writer.setDatarecordDuration(record_s)
        writer.setSignalHeaders(
            [
                {
                    "label": ch.label,
                    "dimension": ch.unit,
                    "sample_frequency": ch.sfreq,
                    "physical_min": ch.spec.physical[0],
                    "physical_max": ch.spec.physical[1],
                    "digital_min": -32768,
                    "digital_max": 32767,
                    "transducer": ch.spec.transducer,
                    "prefilter": ch.spec.prefilter,
                }
                for ch in night.channels
            ]
        )
        # One row per data record: every channel's samples side by side, as EDF stores them.
        records = np.concatenate(
            [
                _digital(ch.data, ch.spec).reshape(n_records, int(ch.sfreq * record_s))
                for ch in night.channels
            ],
            axis=1,
        )
        for record in records:
            writer.blockWriteDigitalShortSamples(record)
        if annotate:
            for a in night.events:
                writer.writeAnnotation(a.onset_s, a.duration_s, a.description)
    finally:
        writer.close()


def night_paths(path: str | Path) -> tuple[Path, Path]:
    """``(edf_path, hypnogram_path)`` that :func:`write_night` writes for ``path``.

    Examples
    --------
    >>> [p.name for p in night_paths("night.edf")]
    ['night.edf', 'night-Hypnogram.edf']
    """
    path = Path(path)
    if path.suffix.lower() != ".edf":
        raise OutputError(
            f"the recording must be written as .edf, not {path.suffix or 'no suffix'}; "
            f"use e.g. {path.with_suffix('.edf').name}",
            path,
        )
    return path, path.with_name(f"{path.stem}-Hypnogram.edf")


def write_night(night: SimulatedNight, path: str | Path) -> tuple[Path, Path]:
    """Write ``night`` as EDF+ to ``path`` and its hypnogram to ``<stem>-Hypnogram.edf``.

    Both files are written atomically. Returns ``(edf_path, hypnogram_path)``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> night = simulate_night(stages=["W"] * 2, seed=1, style="sleep-edf")
    >>> edf, hyp = write_night(night, pathlib.Path(tempfile.mkdtemp()) / "n.edf")
    >>> edf.name, hyp.name
    ('n.edf', 'n-Hypnogram.edf')
    """
    path, hypnogram_path = night_paths(path)
    with atomic_path(path) as tmp:
        _write_psg(night, tmp, annotate=night.style == "hospital")
    write_hypnogram(night.hypnogram, hypnogram_path)
    return path, hypnogram_path

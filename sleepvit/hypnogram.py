"""The hypnogram: one sleep stage per 30-s epoch, aligned to the recording start.

Stages are stored as small integer codes so that arrays of them are cheap and can be
compared directly with model outputs: ``W=0, N1=1, N2=2, N3=3, REM=4, UNS=-1``.
``UNS`` (unscored, artifact, movement) is excluded from every metric.

Scorers spell stages in many ways (``Sleep stage 4``, ``Stage 2 sleep|2``, ``REM``, ``5``);
:func:`parse_stage` is the one place that knows them all, and
:func:`align_to_recording` puts a scoring onto a recording's 30-s epoch grid.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, time

import numpy as np

from sleepvit.errors import HypnogramError
from sleepvit.slots import EPOCH_SECONDS

log = logging.getLogger(__name__)

STAGES: tuple[str, ...] = ("W", "N1", "N2", "N3", "REM")
"""Scored stages in model-output order."""
UNS = -1
STAGE_CODE: dict[str, int] = {name: code for code, name in enumerate(STAGES)} | {"UNS": UNS}


MAX_TRIM_EPOCHS = 4
"""Scored epochs that may hang over the recording's edges before alignment refuses (2 min).

Scorings exported by PSG software often run a few epochs past the last complete epoch of
the recording (the final partial record); more than this means another recording's scoring.
"""

GRID_TOLERANCE_S = 0.5
"""How far an epoch onset may miss the 30-s grid (clock rounding in exports)."""


def stage_name(code: int) -> str:
    return "UNS" if code == UNS else STAGES[code]


# Normalised spellings (see _normalise_label) -> stage code. Numbers follow the R&K / NSRR
# coding used in files (4 = S4 -> N3, 5 = REM, 6 = movement, 9 = unscored), which is not
# the internal code order.
_SPELLING_GROUPS: dict[str, int] = {
    **dict.fromkeys(("w", "wk", "wake", "awake", "wakefulness", "0", "s0"), STAGE_CODE["W"]),
    **dict.fromkeys(("n1", "s1", "1", "nrem1"), STAGE_CODE["N1"]),
    **dict.fromkeys(("n2", "s2", "2", "nrem2"), STAGE_CODE["N2"]),
    **dict.fromkeys(
        ("n3", "n4", "s3", "s4", "3", "4", "nrem3", "nrem4", "sws", "slow wave"),
        STAGE_CODE["N3"],
    ),
    **dict.fromkeys(("r", "rem", "5", "s5", "paradoxical"), STAGE_CODE["REM"]),
    **dict.fromkeys(
        (
            "?", "uns", "unscored", "unknown", "unsure", "not scored", "none",
            "a", "art", "artifact", "artefact",
            "m", "mt", "movement", "movement time", "mvt",
            "6", "7", "8", "9", "-1", "-2",
        ),
        UNS,
    ),
}  # fmt: skip

_SPELLINGS = {spelling.replace(" ", ""): code for spelling, code in _SPELLING_GROUPS.items()}
_PREFIXES = ("sleep stage ", "stage ", "sleep ")


def _normalise_label(label: str) -> str:
    text = label.split("|", 1)[0].strip().lower()
    if re.fullmatch(r"[+-]?\d+(\.0*)?", text):
        return str(int(float(text)))
    text = re.sub(r"[\s_\-]+", " ", text).strip()
    for prefix in _PREFIXES:
        if text.startswith(prefix) and len(text) > len(prefix):
            text = text[len(prefix) :]
            break
    return text.removesuffix(" sleep").replace(" ", "")


def parse_stage(label: str | int) -> int:
    """Stage code of one scorer's spelling of a stage.

    Understands Sleep-EDF (``Sleep stage 4``, ``Movement time``), AASM (``N2``, ``R``),
    NSRR (``Stage 2 sleep|2``, ``Unscored|9``) and R&K numbers (``4`` = S4 -> N3,
    ``5`` = REM). S3 and S4 map to N3; ``?``, movement and artifact map to ``UNS``.

    Raises :class:`ValueError` for anything that is not a stage (e.g. ``Arousal``).

    Examples
    --------
    >>> [stage_name(parse_stage(s)) for s in ("Sleep stage 4", "REM sleep|5", "S2", "Wake")]
    ['N3', 'REM', 'N2', 'W']
    >>> stage_name(parse_stage("Movement time"))
    'UNS'
    """
    key = _normalise_label(str(label))
    if key in _SPELLINGS:
        return _SPELLINGS[key]
    raise ValueError(f"{label!r} is not a sleep stage")


def is_stage_label(label: str) -> bool:
    """Whether ``label`` names a sleep stage (so event lists can skip arousals, apneas, …).

    >>> is_stage_label("Sleep stage R"), is_stage_label("Arousal")
    (True, False)
    """
    return _normalise_label(label) in _SPELLINGS


@dataclass
class Hypnogram:
    """Stages per epoch, with optional per-epoch class probabilities.

    Examples
    --------
    >>> from datetime import datetime
    >>> hyp = Hypnogram.from_names(["W", "N1", "N2", "N2", "REM"], start=datetime(2026, 1, 1, 22))
    >>> hyp.names()
    ['W', 'N1', 'N2', 'N2', 'REM']
    >>> hyp.duration_s
    150.0
    """

    stages: np.ndarray
    """int8 codes, shape ``[n_epochs]``."""
    start: datetime | None = None
    probabilities: np.ndarray | None = None
    """float32 ``[n_epochs, 5]`` in :data:`STAGES` order, or ``None`` for a human scoring."""
    epoch_s: float = EPOCH_SECONDS
    offset_s: float = 0.0
    """Onset of epoch 0 relative to the recording start."""
    metadata: dict = field(default_factory=dict)
    reasons: list[str] | None = None
    """Per epoch, why it is unscored or what its stage was scored without (``""`` when
    nothing is amiss), e.g. ``"no data"``, ``"no usable EEG: EEG_C flat"``, ``"scored
    without EOG_L (clipped)"``; ``None`` when nobody said (a human scoring)."""

    def __post_init__(self) -> None:
        self.stages = np.asarray(self.stages, dtype=np.int8)
        if self.stages.ndim != 1:
            raise ValueError("stages must be one-dimensional")
        if self.stages.size and (self.stages.min() < UNS or self.stages.max() >= len(STAGES)):
            raise ValueError(f"stage codes must lie in [{UNS}, {len(STAGES) - 1}]")
        if self.probabilities is not None:
            self.probabilities = np.asarray(self.probabilities, dtype=np.float32)
            if self.probabilities.shape != (self.stages.size, len(STAGES)):
                raise ValueError(
                    f"probabilities must have shape ({self.stages.size}, {len(STAGES)}), "
                    f"got {self.probabilities.shape}"
                )
        if self.reasons is not None:
            self.reasons = [str(reason) for reason in self.reasons]
            if len(self.reasons) != self.stages.size:
                raise ValueError(
                    f"reasons must have one entry per epoch ({self.stages.size}), "
                    f"got {len(self.reasons)}"
                )

    @classmethod
    def from_names(cls, names, **kwargs) -> Hypnogram:
        return cls(np.array([STAGE_CODE[n] for n in names], dtype=np.int8), **kwargs)

    @classmethod
    def from_segments(
        cls,
        segments: Iterable[tuple[float, float, int]],
        epoch_s: float = EPOCH_SECONDS,
        **kwargs,
    ) -> Hypnogram:
        """Build per-epoch stages from ``(onset_s, duration_s, code)`` scoring segments.

        Segments are how EDF+ and NSRR files store a scoring: one annotation per run of
        equal stages. Epoch 0 starts at the earliest onset (``offset_s``); epochs no
        segment covers are ``UNS``. A zero duration lasts until the next segment (one
        epoch for the last). Raises :class:`ValueError` when an onset is off the epoch grid.

        Examples
        --------
        >>> hyp = Hypnogram.from_segments([(0, 60, 0), (60, 30, 2), (120, 30, 4)])
        >>> hyp.names()
        ['W', 'W', 'N2', 'UNS', 'REM']
        """
        ordered = sorted((float(o), float(d), int(c)) for o, d, c in segments)
        if not ordered:
            raise ValueError("no sleep-stage segments")
        offset = ordered[0][0]
        spans = []
        for i, (onset, duration, code) in enumerate(ordered):
            position = (onset - offset) / epoch_s
            first = round(position)
            if abs(position - first) * epoch_s > GRID_TOLERANCE_S:
                raise ValueError(
                    f"the stage at {onset:g} s is not on the {epoch_s:g}-s epoch grid that "
                    f"starts at {offset:g} s"
                )
            if duration <= 0:
                next_onset = ordered[i + 1][0] if i + 1 < len(ordered) else onset + epoch_s
                duration = next_onset - onset
            spans.append((first, max(1, round(duration / epoch_s)), code))
        n_epochs = max(begin + count for begin, count, _ in spans)
        stages = np.full(n_epochs, UNS, dtype=np.int8)
        for begin, count, code in spans:
            stages[begin : begin + count] = code
        return cls(stages, epoch_s=epoch_s, offset_s=offset, **kwargs)

    def segments(self) -> list[tuple[float, float, int]]:
        """Runs of equal stages as ``(onset_s, duration_s, code)``, the inverse of
        :meth:`from_segments`.

        >>> Hypnogram.from_names(["W", "W", "N1"]).segments()
        [(0.0, 60.0, 0), (60.0, 30.0, 1)]
        """
        if not len(self):
            return []
        starts = np.flatnonzero(np.diff(self.stages, prepend=self.stages[0] - 1))
        ends = np.append(starts[1:], len(self))
        return [
            (
                self.offset_s + int(a) * self.epoch_s,
                int(b - a) * self.epoch_s,
                int(self.stages[a]),
            )
            for a, b in zip(starts, ends, strict=True)
        ]

    def __len__(self) -> int:
        return int(self.stages.size)

    def names(self) -> list[str]:
        return [stage_name(int(c)) for c in self.stages]

    @property
    def duration_s(self) -> float:
        return len(self) * self.epoch_s

    @property
    def onsets_s(self) -> np.ndarray:
        return self.offset_s + np.arange(len(self)) * self.epoch_s

    @property
    def confidence(self) -> np.ndarray | None:
        """Probability of the chosen stage per epoch, if probabilities are known.

        ``NaN`` where the epoch has no probabilities (it was not scored, e.g. no data).
        """
        if self.probabilities is None:
            return None
        return self.probabilities.max(axis=1)

    def mean_confidence(self) -> float | None:
        """Mean confidence over the epochs that have one; ``None`` if none has.

        >>> p = np.array([[0.9, 0.1, 0, 0, 0], [np.nan] * 5], np.float32)
        >>> round(Hypnogram(np.array([0, -1]), probabilities=p).mean_confidence(), 2)
        0.9
        """
        confidence = self.confidence
        if confidence is None or not np.isfinite(confidence).any():
            return None
        return float(confidence[np.isfinite(confidence)].mean())

    # The objects of MNE, YASA and pandas; those packages are imported only when asked for.

    def to_mne_annotations(self):
        """The stages as ``mne.Annotations`` (``Sleep stage W/N1/N2/N3/R``, ``?`` for UNS),
        one per run of a stage, ``orig_time`` = ``start``: ready for ``raw.set_annotations``.

        >>> from datetime import datetime
        >>> hyp = Hypnogram.from_names(["W", "W", "N1"], start=datetime(2026, 1, 1, 22))
        >>> annotations = hyp.to_mne_annotations()
        >>> annotations.description.tolist(), annotations.duration.tolist()
        (['Sleep stage W', 'Sleep stage N1'], [60.0, 30.0])
        >>> Hypnogram.from_mne_annotations(annotations).names()
        ['W', 'W', 'N1']
        """
        from sleepvit.io.hypnograms.mne_annotations import to_annotations

        return to_annotations(self)

    @classmethod
    def from_mne_annotations(
        cls,
        annotations,
        recording_start: datetime | None = None,
        recording_duration_s: float | None = None,
    ) -> Hypnogram:
        """The scoring among ``mne.Annotations`` (e.g. ``mne.read_annotations`` of a Sleep-EDF
        hypnogram), other annotations skipped; aligned epoch for epoch to a recording when
        its start (and duration) are given, as :func:`~sleepvit.io.read_hypnogram` does."""
        from sleepvit.io.hypnograms.mne_annotations import from_annotations

        return from_annotations(annotations, recording_start, recording_duration_s)

    def to_yasa(self):
        """A 5-stage ``yasa.Hypnogram`` with these probabilities as its ``proba`` (needs YASA).

        >>> hyp = Hypnogram.from_names(["W", "N2", "REM"], start=datetime(2026, 1, 1, 22))
        >>> hyp.to_yasa().hypno.tolist()
        ['WAKE', 'N2', 'REM']
        """
        from sleepvit.io.hypnograms.dataframes import to_yasa

        return to_yasa(self)

    def to_dataframe(self):
        """A pandas DataFrame, one row per epoch (index ``epoch``, from 0): ``onset_s``,
        ``time``, ``stage``, ``confidence``, ``p_W`` … ``p_REM`` (needs pandas).

        >>> p = np.eye(5, dtype=np.float32)[[0, 2]] * 0.8 + 0.04
        >>> frame = Hypnogram(p.argmax(1), probabilities=p).to_dataframe()
        >>> frame[["onset_s", "stage", "confidence", "p_N2"]].round(2).to_dict("list")
        {'onset_s': [0.0, 30.0], 'stage': ['W', 'N2'], 'confidence': [0.84, 0.84], \
'p_N2': [0.04, 0.84]}
        """
        from sleepvit.io.hypnograms.dataframes import to_dataframe

        return to_dataframe(self)


def align_to_recording(hyp: Hypnogram, start: datetime, duration_s: float | None) -> Hypnogram:
    """Put ``hyp`` onto the epoch grid of a recording that starts at ``start``.

    The result has ``start = start``, ``offset_s = 0`` and one epoch per complete 30-s
    epoch of the recording (``duration_s``), so ``result.stages[i]`` scores recording
    epoch ``i``. Epochs the scoring does not cover are ``UNS`` (probabilities ``NaN``).
    Up to :data:`MAX_TRIM_EPOCHS` scored epochs hanging over either edge are dropped with
    a warning (also kept in ``metadata["warnings"]``); unscored ones are dropped silently.
    A hypnogram without a start time is taken to count from the recording start. With
    ``duration_s=None`` only the start is aligned.

    Raises :class:`~sleepvit.errors.HypnogramError` when the scoring does not fit: it
    starts after the recording ends, ends before it starts, is much longer, is scored
    in another epoch length, or is off the 30-s grid. A scoring that only knows the clock
    time of its first epoch (``metadata["start_clock"]``, e.g. ``"22:13:00"`` from a table
    of clock times) is placed at the nearest such moment, within 12 h of ``start``.

    Examples
    --------
    >>> from datetime import datetime
    >>> hyp = Hypnogram.from_names(["N2", "N3"], start=datetime(2026, 1, 1, 22, 1))
    >>> aligned = align_to_recording(hyp, datetime(2026, 1, 1, 22), duration_s=240)
    >>> aligned.names()
    ['UNS', 'UNS', 'N2', 'N3', 'UNS', 'UNS', 'UNS', 'UNS']
    """
    if not math.isclose(hyp.epoch_s, EPOCH_SECONDS):
        raise HypnogramError(
            f"the hypnogram is scored in {hyp.epoch_s:g}-s epochs; SleepViT needs "
            f"{EPOCH_SECONDS:g}-s epochs, re-export the scoring with {EPOCH_SECONDS:g}-s epochs"
        )
    shift_s = hyp.offset_s
    if hyp.start is not None:
        shift_s += (_naive(hyp.start) - _naive(start)).total_seconds()
    elif "start_clock" in hyp.metadata:
        shift_s += _seconds_to_clock(start, hyp.metadata["start_clock"])
    position = shift_s / EPOCH_SECONDS
    first = round(position)
    if abs(position - first) * EPOCH_SECONDS > GRID_TOLERANCE_S:
        raise HypnogramError(
            f"the hypnogram's first epoch begins {shift_s:g} s after the recording start "
            f"({_clock(start)}), not a whole number of {EPOCH_SECONDS:g}-s epochs; it was "
            "scored on another epoch grid, re-export it aligned to the recording start"
        )
    n_epochs = len(hyp) + max(first, 0) if duration_s is None else int(duration_s // EPOCH_SECONDS)
    if duration_s is not None and first >= n_epochs:
        raise HypnogramError(
            f"the hypnogram starts {_span(shift_s)} after the recording start "
            f"({_clock(start)}), after the recording ends ({_span(duration_s)} long); "
            "it belongs to another recording"
        )
    if first + len(hyp) <= 0:
        raise HypnogramError(
            f"the hypnogram ends {_span(-(shift_s + hyp.duration_s))} before the recording "
            f"starts ({_clock(start)}); it belongs to another recording"
        )
    scored = hyp.stages != UNS
    cut_before = max(0, -first)
    cut_after = max(0, first + len(hyp) - n_epochs)
    lost_before = int(scored[:cut_before].sum())
    lost_after = int(scored[len(hyp) - cut_after :].sum()) if cut_after else 0
    warnings = list(hyp.metadata.get("warnings", []))
    for lost, where in (
        (lost_before, "before the recording starts"),
        (lost_after, "after the recording ends"),
    ):
        if lost > MAX_TRIM_EPOCHS:
            raise HypnogramError(
                f"the hypnogram has {lost} scored epochs ({_span(lost * EPOCH_SECONDS)}) "
                f"{where} (recording start {_clock(start)}, length {_span(duration_s or 0)}); "
                "it belongs to another recording or was cut from a longer one"
            )
        if lost:
            message = f"dropped {lost} scored epoch(s) of the hypnogram {where}"
            log.warning(message)
            warnings.append(message)
    stages = np.full(n_epochs, UNS, dtype=np.int8)
    kept = slice(cut_before, len(hyp) - cut_after)
    target = slice(max(first, 0), max(first, 0) + kept.stop - kept.start)
    stages[target] = hyp.stages[kept]
    probabilities = None
    if hyp.probabilities is not None:
        probabilities = np.full((n_epochs, len(STAGES)), np.nan, dtype=np.float32)
        probabilities[target] = hyp.probabilities[kept]
    reasons = None
    if hyp.reasons is not None:
        reasons = [""] * n_epochs
        reasons[target] = hyp.reasons[kept]
    metadata = dict(hyp.metadata) | ({"warnings": warnings} if warnings else {})
    return replace(
        hyp,
        stages=stages,
        start=start,
        probabilities=probabilities,
        offset_s=0.0,
        metadata=metadata,
        reasons=reasons,
    )


def _seconds_to_clock(start: datetime, clock: str) -> float:
    """Seconds from ``start`` to the nearest moment the wall clock reads ``clock`` (±12 h)."""
    moment = datetime.combine(start.date(), time.fromisoformat(clock))
    seconds = (moment - _naive(start)).total_seconds()
    return (seconds + 43200) % 86400 - 43200


def _naive(moment: datetime) -> datetime:
    # EDF clock times carry no time zone; compare wall-clock readings.
    return moment.replace(tzinfo=None)


def _clock(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S}"


def _span(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if abs(seconds) < 7200 else f"{seconds / 3600:.1f} h"

"""One recording scored into its output files, for whoever shows the progress.

:func:`score_recording` loads a night, scores it (:func:`sleepvit.pipeline.score_study`),
computes its sleep statistics, compares it with an expert scoring found next to it
(:func:`reference_agreement`) and writes every output file
(:func:`sleepvit.outputs.write_night_outputs`). It draws no progress bar and starts no
process: it reports through a ``progress`` callback and stops when ``cancelled()`` says so,
so the command line's batch (:mod:`sleepvit.batch`) and the GUI's worker thread call the same
function, each with its own display and cancel button.

Examples
--------
>>> scorer = load_backend()                                                  # doctest: +SKIP
>>> job = NightJob.for_recording("lab/night.edf", out_dir="scored")         # doctest: +SKIP
>>> outcome = score_recording(job, scorer, ScoreOptions(), progress=print)  # doctest: +SKIP
loaded 960
render 100
...
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from datetime import time as clock_time
from pathlib import Path

from sleepvit.errors import Cancelled, HypnogramError, SleepVitError
from sleepvit.explain import NightExplanation, review_queue
from sleepvit.hypnogram import Hypnogram
from sleepvit.io import find_hypnogram, load_study, read_hypnogram
from sleepvit.metrics.agreement import agreement
from sleepvit.metrics.sleep import sleep_statistics
from sleepvit.models.adapt import AdaptSettings
from sleepvit.models.backends import Backend
from sleepvit.outputs import ScoredNight, write_night_outputs
from sleepvit.pipeline import Progress, score_study, summarize
from sleepvit.study import Study


@dataclass(frozen=True)
class NightJob:
    """One recording to score and where its outputs go."""

    path: Path
    out_dir: Path
    stem: str
    """The outputs are ``out_dir/STEM.*``."""
    name: str
    """Shown in progress and in the table: the stem, after its subfolder if it has one."""

    @classmethod
    def for_recording(
        cls, path: str | Path, out_dir: str | Path, subfolder: str | Path = ""
    ) -> NightJob:
        """The job of ``path``, named by its stem (after ``subfolder``, if it came from one).

        >>> NightJob.for_recording("lab/p1/night.edf", "scored/p1", "p1").name
        'p1/night'
        """
        path = Path(path)
        return cls(path, Path(out_dir), path.stem, (Path(subfolder) / path.stem).as_posix())


@dataclass(frozen=True)
class ScoreOptions:
    """How to score every night of a batch (the options of ``sleepvit score``).

    ``backend`` and ``weights`` choose the scorer, ``jobs`` and ``overwrite`` steer a batch
    (:func:`sleepvit.batch.score_batch`); the others apply to each night. ``explain`` also
    writes each night's relevance grids, scores and review queue (``STEM.relevance.npz``);
    ``adapt`` adapts EpochViT to each night before scoring it (:mod:`sleepvit.models.adapt`,
    with its default :class:`~sleepvit.models.adapt.AdaptSettings`; needs torch).
    """

    backend: str = "onnx-int8"
    weights: str | Path | None = None
    channel_map: str | Path | None = None
    lights_off: clock_time | None = None
    lights_on: clock_time | None = None
    deidentify: bool = False
    overwrite: bool = False
    jobs: int = 1
    explain: bool = False
    adapt: bool = False


@dataclass(frozen=True)
class NightOutcome:
    """What happened to one night: a row of the summary table."""

    name: str
    status: str
    """``scored``, ``skipped (exists)`` or ``failed``."""
    seconds: float = 0.0
    epochs: int | None = None
    tst_min: float | None = None
    sleep_efficiency_pct: float | None = None
    kappa: float | None = None
    mean_confidence: float | None = None
    flagged: int | None = None
    summary: str = ""
    """Epochs per stage and mean confidence (:func:`sleepvit.pipeline.summarize`)."""
    error: str = ""
    internal_error: bool = False
    traceback: str = ""
    """Of an internal error: what a bug report needs (``sleepvit --debug`` prints it)."""


# ---------------------------------------------------------------- lights off / on


def parse_clock(text: str) -> clock_time:
    """``HH:MM`` (or ``HH:MM:SS``) as a time of day; raises :class:`ValueError` otherwise.

    >>> parse_clock("22:45"), parse_clock("6:30")
    (datetime.time(22, 45), datetime.time(6, 30))
    """
    parts = text.strip().split(":")
    if len(parts) not in (2, 3) or not all(p.isdigit() for p in parts):
        raise ValueError(f"{text!r} is not a clock time; write it as HH:MM, e.g. 22:45")
    return clock_time(*map(int, parts))


def clock_offset_s(start: datetime, clock: clock_time, not_before_s: float) -> float:
    """Seconds from ``start`` to the first moment at or after ``not_before_s`` (seconds from
    ``start``) at which the wall clock reads ``clock``: nights cross midnight.

    >>> start = datetime(2026, 3, 14, 22, 0)
    >>> clock_offset_s(start, clock_time(21, 50), -12 * 3600)   # lights off before the start
    -600.0
    >>> clock_offset_s(start, clock_time(6, 30), 0.0) / 3600    # lights on the next morning
    8.5
    """
    moment = datetime.combine(start.date(), clock)
    seconds = (moment - start.replace(tzinfo=None)).total_seconds()
    return seconds + 86400 * math.ceil((not_before_s - seconds) / 86400)


def lights_offsets(
    start: datetime, lights_off: clock_time | None, lights_on: clock_time | None
) -> tuple[float | None, float | None]:
    """Lights off and on as seconds from the recording start (``None`` where not given).

    Lights off is the moment nearest the start (within 12 h either side); lights on is the
    first moment after lights off (or after the start).

    >>> lights_offsets(datetime(2026, 3, 14, 23, 10), clock_time(23, 0), clock_time(7, 0))
    (-600.0, 28200.0)
    """
    off_s = None if lights_off is None else clock_offset_s(start, lights_off, -43200.0)
    on_s = None if lights_on is None else clock_offset_s(start, lights_on, off_s or 0.0)
    return off_s, on_s


# ---------------------------------------------------------------- one night


def describe_calibration(calibration: dict | None) -> str:
    """The scale the model read the night at, for the summary and the report.

    >>> describe_calibration({"mode": "night", "range_factors": {"EEG_C": 1.3, "EOG_L": 0.9}})
    'night (model rows ×: EEG_C 1.30, EOG_L 0.90; the screen stays physical)'
    >>> describe_calibration({"mode": "physical", "range_factors": {}})
    'physical'
    """
    if not calibration or calibration.get("mode", "physical") == "physical":
        return "physical"
    factors = ", ".join(f"{slot} {f:.2f}" for slot, f in calibration["range_factors"].items())
    return f"night (model rows ×: {factors}; the screen stays physical)"


def score_recording(
    job: NightJob,
    scorer: Backend,
    options: ScoreOptions | None = None,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> NightOutcome:
    """Score ``job`` with a loaded ``scorer`` and write all its outputs; raises on failure.

    ``progress(stage, value)`` hears ``loaded`` (value: the night's epochs), then ``render``
    and ``epoch_vit`` after each block of epochs (value: epochs in the block), then
    ``outputs`` (0) when the files are written. ``cancelled()`` is asked between blocks; when
    it answers True, :class:`~sleepvit.errors.Cancelled` is raised and no file is written.
    Bad input raises a :class:`~sleepvit.errors.SleepVitError` naming the file. The
    pipeline's stage times (load, render, epoch_vit, sequence, outputs) end up in the night's
    ``summary.json``.
    """
    options = options or ScoreOptions()
    notify = progress or (lambda stage, value: None)
    stop = cancelled or (lambda: False)
    started = time.perf_counter()
    study = load_study(job.path, channel_map=options.channel_map)
    timings = {"load": time.perf_counter() - started}
    notify("loaded", study.n_epochs)
    hypnogram, scores = score_study(
        study,
        scorer,
        progress=notify,
        cancelled=stop,
        relevance=options.explain,
        adapt=AdaptSettings() if options.adapt else None,
    )
    timings |= hypnogram.metadata["timings_s"]
    off_s, on_s = lights_offsets(study.start, options.lights_off, options.lights_on)
    try:
        stats = sleep_statistics(hypnogram, off_s, on_s)
    except HypnogramError as exc:
        raise exc.about(job.path) from exc
    warnings = list(study.warnings) + list(hypnogram.metadata.get("warnings", []))
    night = ScoredNight(
        study=study,
        hypnogram=hypnogram,
        stats=stats,
        flagged=review_queue(scores.sequence, scores.epoch_vit, hypnogram.stages),
        model={
            "name": scorer.model_name,
            "version": scorer.config.version,
            "backend": scorer.name,
            "weights": str(scorer.folder),
            "calibration": describe_calibration(hypnogram.metadata.get("calibration")),
            "stages_from": hypnogram.metadata.get("stages_from", "sequence"),
            "adapted": hypnogram.metadata.get("adaptation") is not None,
        },
        lights={
            key: f"{value:%H:%M}"
            for key, value in (("off", options.lights_off), ("on", options.lights_on))
            if value is not None
        },
        timings_s=timings,
        reference=reference_agreement(job.path, study, hypnogram, warnings),
        warnings=warnings,
        quality=hypnogram.metadata.get("quality"),
        explanation=(
            NightExplanation.from_scores(scores, hypnogram.stages, scorer, study)
            if options.explain
            else None
        ),
    )
    if stop():
        raise Cancelled(f"scoring {job.path} was cancelled; nothing was written")
    notify("outputs", 0)
    write_night_outputs(night, job.out_dir, job.stem, deidentify=options.deidentify)
    return NightOutcome(
        name=job.name,
        status="scored",
        seconds=time.perf_counter() - started,
        epochs=len(hypnogram),
        tst_min=stats.tst_min,
        sleep_efficiency_pct=stats.sleep_efficiency_pct,
        kappa=night.reference["kappa"] if night.reference else None,
        mean_confidence=hypnogram.mean_confidence(),
        flagged=len(night.flagged),
        summary=summarize(hypnogram),
    )


def reference_agreement(
    path: Path, study: Study, hypnogram: Hypnogram, warnings: list[str]
) -> dict | None:
    """κ and accuracy against an expert scoring stored next to the recording, if there is one.

    The scoring is found by name (:func:`~sleepvit.io.find_hypnogram`); one that cannot be
    read or does not fit the recording is not compared, and ``warnings`` says why.
    """
    reference_path = find_hypnogram(path)
    if reference_path is None:
        return None
    try:
        reference = read_hypnogram(reference_path, study.start, study.duration_s)
    except SleepVitError as exc:
        warnings.append(f"reference scoring not compared: {exc}")
        return None
    result = agreement(reference.stages, hypnogram.stages)
    return {
        "file": reference_path.name,
        "epochs": result["n_epochs"],
        "kappa": result["kappa"],
        "accuracy": result["accuracy"],
    }

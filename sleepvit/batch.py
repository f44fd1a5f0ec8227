"""Batch scoring: many recordings to their output files, in parallel processes if asked.

:func:`find_recordings` turns files and folders into :class:`NightJob` s (one output folder
and stem each, never two nights writing the same files); :func:`score_batch` scores them —
load, render, models, statistics, then :func:`sleepvit.outputs.write_night_outputs` — with a
progress bar per night and one overall. A night that fails is reported in one line and the
batch goes on; :func:`format_table` and :func:`exit_code` summarise the outcome.

Examples
--------
>>> jobs = find_recordings(["lab/"], out="scored")                      # doctest: +SKIP
>>> outcomes = score_batch(jobs, ScoreOptions(jobs=2))                  # doctest: +SKIP
>>> print(format_table(outcomes))                                       # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import queue
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime
from datetime import time as clock_time
from pathlib import Path

from tqdm import tqdm

from sleepvit.errors import HypnogramError, InvalidRecordingError, SleepVitError

RECORDING_SUFFIXES = (".edf", ".bdf")
SKIPPED = "skipped (exists)"
NUMPY_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

Events = Callable[[str, int], None]
"""``events(kind, value)``: ``loaded`` (epochs), ``render`` / ``epoch_vit`` (epochs done),
``outputs`` (0)."""


@dataclass(frozen=True)
class NightJob:
    """One recording to score and where its outputs go."""

    path: Path
    out_dir: Path
    stem: str
    name: str
    """Shown in progress and in the table: the stem, after its subfolder if it has one."""


@dataclass(frozen=True)
class ScoreOptions:
    """How to score every night of a batch (the options of ``sleepvit score``)."""

    backend: str = "onnx-int8"
    weights: str | Path | None = None
    channel_map: str | Path | None = None
    lights_off: clock_time | None = None
    lights_on: clock_time | None = None
    deidentify: bool = False
    overwrite: bool = False
    jobs: int = 1
    debug: bool = False
    """Let internal errors propagate with their traceback instead of reporting them."""


@dataclass(frozen=True)
class NightOutcome:
    """What happened to one night: a row of the summary table."""

    name: str
    status: str
    """``scored``, :data:`SKIPPED` or ``failed``."""
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


# ---------------------------------------------------------------- finding the nights


def find_recordings(paths: Iterable[str | Path], out: str | Path) -> list[NightJob]:
    """The nights to score in ``paths`` (files, or folders searched recursively).

    In folders, every ``.edf`` / ``.bdf`` is taken except hidden files, ``*-Hypnogram.edf``
    and other annotation-only EDFs (scorings, earlier outputs); a night found in a subfolder
    writes its outputs to the same subfolder of ``out``, so ``p1/night.edf`` and
    ``p2/night.edf`` do not collide. A file named on the command line is always taken.
    Raises :class:`InvalidRecordingError` for a path that does not exist or a folder without
    recordings, and :class:`~sleepvit.errors.OutputError` when two nights would write the
    same output files.

    Examples
    --------
    >>> [job.name for job in find_recordings(["lab"], out="scored")]      # doctest: +SKIP
    ['p1/night', 'p2/night', 'SC4001E0-PSG']
    """
    out = Path(out)
    jobs: dict[Path, NightJob] = {}
    for given in map(Path, paths):
        if given.is_dir():
            found = [p for p in sorted(given.rglob("*")) if _is_recording(p, given)]
            if not found:
                raise InvalidRecordingError(
                    "holds no EDF or BDF recording (searched its subfolders too); pass the "
                    "folder of the nights or the recordings themselves",
                    given,
                )
            for path in found:
                relative = path.parent.relative_to(given)
                jobs.setdefault(path.resolve(), _job(path, out / relative, relative))
        elif given.is_file():
            jobs.setdefault(given.resolve(), _job(given, out, Path()))
        else:
            raise InvalidRecordingError("does not exist; check the path", given)
    _refuse_collisions(list(jobs.values()))
    return list(jobs.values())


def _job(path: Path, out_dir: Path, relative: Path) -> NightJob:
    return NightJob(path, out_dir, path.stem, (relative / path.stem).as_posix())


def _is_recording(path: Path, root: Path) -> bool:
    from sleepvit.io.edf_header import read_header

    hidden = any(part.startswith(".") for part in path.relative_to(root).parts)
    if hidden or path.suffix.lower() not in RECORDING_SUFFIXES or not path.is_file():
        return False
    if path.stem.lower().endswith("-hypnogram"):
        return False
    try:
        header = read_header(path)
    except SleepVitError:
        return True  # a broken recording is scored, so that its failure gets reported
    return not all(signal.is_annotation for signal in header.signals)


def _refuse_collisions(jobs: list[NightJob]) -> None:
    from sleepvit.errors import OutputError

    seen: dict[tuple[str, str], NightJob] = {}
    for job in jobs:
        # Case-insensitive: hospital workstations run file systems that ignore case.
        key = (str(job.out_dir).casefold(), job.stem.casefold())
        if key in seen:
            raise OutputError(
                f"{seen[key].path} and {job.path} would both write {job.out_dir / job.stem}.*; "
                "rename one, or score them in separate runs with different --out folders",
                job.path,
            )
        seen[key] = job


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


def score_recording(
    job: NightJob, scorer, options: ScoreOptions, events: Events | None = None
) -> NightOutcome:
    """Score ``job`` with a loaded ``scorer`` and write all its outputs; raises on failure.

    The pipeline's stage times (load, render, epoch_vit, sequence, outputs) end up in the
    night's ``summary.json``.
    """
    from sleepvit.io import load_study
    from sleepvit.metrics.sleep import sleep_statistics
    from sleepvit.outputs import ScoredNight, write_night_outputs
    from sleepvit.pipeline import score_study, summarize
    from sleepvit.report.review import low_confidence_epochs

    notify = events or (lambda kind, value: None)
    started = time.perf_counter()
    study = load_study(job.path, channel_map=options.channel_map)
    timings = {"load": time.perf_counter() - started}
    notify("loaded", study.n_epochs)
    hypnogram, _ = score_study(study, scorer, progress=notify)
    timings |= hypnogram.metadata["timings_s"]
    off_s, on_s = lights_offsets(study.start, options.lights_off, options.lights_on)
    try:
        stats = sleep_statistics(hypnogram, off_s, on_s)
    except HypnogramError as exc:
        raise HypnogramError(str(exc), job.path) from exc
    warnings = list(study.warnings)
    night = ScoredNight(
        study=study,
        hypnogram=hypnogram,
        stats=stats,
        flagged=low_confidence_epochs(hypnogram),
        model={
            "name": scorer.model_name,
            "version": scorer.config.version,
            "backend": scorer.name,
            "weights": str(scorer.folder),
        },
        lights={
            key: f"{value:%H:%M}"
            for key, value in (("off", options.lights_off), ("on", options.lights_on))
            if value is not None
        },
        timings_s=timings,
        reference=_reference_agreement(job.path, study, hypnogram, warnings),
        warnings=warnings,
    )
    notify("outputs", 0)
    write_night_outputs(night, job.out_dir, job.stem, deidentify=options.deidentify)
    confidence = hypnogram.confidence
    return NightOutcome(
        name=job.name,
        status="scored",
        seconds=time.perf_counter() - started,
        epochs=len(hypnogram),
        tst_min=stats.tst_min,
        sleep_efficiency_pct=stats.sleep_efficiency_pct,
        kappa=night.reference["kappa"] if night.reference else None,
        mean_confidence=float(confidence.mean()) if confidence is not None else None,
        flagged=len(night.flagged),
        summary=summarize(hypnogram),
    )


def _reference_agreement(path: Path, study, hypnogram, warnings: list[str]) -> dict | None:
    """κ and accuracy against an expert scoring stored next to the recording, if there is one."""
    from sleepvit.io.hypnograms import find_hypnogram, read_hypnogram
    from sleepvit.metrics.agreement import agreement

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


def _attempt(job: NightJob, scorer, options: ScoreOptions, events: Events) -> NightOutcome:
    """:func:`score_recording`, with a failure turned into a ``failed`` outcome."""
    started = time.perf_counter()
    try:
        return score_recording(job, scorer, options, events)
    except SleepVitError as exc:
        error, internal = str(exc), False
    except Exception as exc:
        if options.debug:
            raise
        error, internal = f"{job.path}: internal error ({type(exc).__name__}: {exc})", True
    return NightOutcome(
        job.name, "failed", time.perf_counter() - started, error=error, internal_error=internal
    )


# ---------------------------------------------------------------- many nights


def threads_per_process(jobs: int) -> int:
    """CPU threads each of ``jobs`` processes may use, so that together they fit the cores."""
    return max(1, (os.cpu_count() or 1) // max(jobs, 1))


def score_batch(jobs: list[NightJob], options: ScoreOptions) -> list[NightOutcome]:
    """Score every job (in ``options.jobs`` processes), skipping those already done.

    Nights whose outputs all exist are skipped unless ``options.overwrite``. The models are
    loaded before any night is touched, so missing weights fail at once. Outcomes come back
    in the order of ``jobs``; progress goes to stderr, one line per night to stdout.
    """
    from sleepvit.models.backends import load_backend
    from sleepvit.outputs import outputs_complete

    outcomes: dict[int, NightOutcome] = {}
    todo = []
    for index, job in enumerate(jobs):
        if not options.overwrite and outputs_complete(job.out_dir, job.stem):
            outcomes[index] = NightOutcome(job.name, SKIPPED)
        else:
            todo.append(index)
    workers = max(1, min(options.jobs, len(todo)))
    threads = threads_per_process(workers)
    # Loaded before any night is touched, so that missing weights fail at once; with several
    # workers each process loads its own.
    scorer = load_backend(options.weights, options.backend, threads=threads) if todo else None
    if scorer is not None:
        print(f"model {scorer.model_name} {scorer.config.version}, backend {scorer.name}")
    with _Progress(jobs, workers) as progress:
        for index in outcomes:
            progress.finished(index, outcomes[index])
        if workers == 1:
            for index in todo:
                outcome = _attempt(jobs[index], scorer, options, progress.events_of(index))
                outcomes[index] = outcome
                progress.finished(index, outcome)
        else:
            outcomes |= _score_in_processes(jobs, todo, options, workers, threads, progress)
    return [outcomes[i] for i in range(len(jobs))]


_WORKER: dict = {}
"""The scorer and event queue of a worker process, set once by :func:`_start_worker`."""


def _start_worker(events, options: ScoreOptions, threads: int) -> None:
    from sleepvit.models.backends import load_backend

    _WORKER["scorer"] = load_backend(options.weights, options.backend, threads=threads)
    _WORKER["events"] = events


def _score_in_worker(index: int, job: NightJob, options: ScoreOptions) -> NightOutcome:
    events = _WORKER["events"]
    return _attempt(
        job, _WORKER["scorer"], options, lambda kind, value: events.put((index, kind, value))
    )


def _score_in_processes(
    jobs: list[NightJob],
    todo: list[int],
    options: ScoreOptions,
    workers: int,
    threads: int,
    progress: _Progress,
) -> dict[int, NightOutcome]:
    # spawn, not fork: a forked child would inherit the parent's runtime thread pools broken.
    context = multiprocessing.get_context("spawn")
    events = context.Queue()
    outcomes = {}
    with (
        _thread_limits(threads),
        ProcessPoolExecutor(
            workers,
            mp_context=context,
            initializer=_start_worker,
            initargs=(events, options, threads),
        ) as pool,
    ):
        pending = {pool.submit(_score_in_worker, i, jobs[i], options): i for i in todo}
        while pending:
            done, _ = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
            progress.drain(events)
            for future in done:
                index = pending.pop(future)
                outcomes[index] = future.result()
                progress.finished(index, outcomes[index])
    return outcomes


@contextlib.contextmanager
def _thread_limits(threads: int) -> Iterator[None]:
    """Cap numpy's BLAS/OpenMP threads in worker processes, which read them at start-up.

    A limit the user set in the environment is kept.
    """
    added = [name for name in NUMPY_THREAD_VARIABLES if name not in os.environ]
    os.environ.update({name: str(threads) for name in added})
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


_STAGE_LABELS = {
    "loaded": "render",
    "render": "render",
    "epoch_vit": "model",
    "outputs": "outputs",
}


class _Progress:
    """An overall bar, a bar per night being scored (render, then model) and a line per night.

    Bars go to stderr and only to a terminal; the lines go to stdout, errors to stderr.
    """

    def __init__(self, jobs: list[NightJob], workers: int):
        self.jobs = jobs
        self.overall = tqdm(total=len(jobs), desc="nights", unit="night", disable=None)
        self.bars: dict[int, tuple[tqdm, int]] = {}
        self.free_positions = list(range(1, workers + 1))
        self.done: set[int] = set()

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc_info) -> None:
        for bar, _ in self.bars.values():
            bar.close()
        self.overall.close()

    def events_of(self, index: int) -> Events:
        return lambda kind, value: self.event(index, kind, value)

    def event(self, index: int, kind: str, value: int) -> None:
        if index in self.done:
            return  # a late message from a worker about a night already reported
        if kind == "loaded":
            position = self.free_positions.pop(0)
            bar = tqdm(total=2 * value, unit="epoch", position=position, leave=False, disable=None)
            self.bars[index] = (bar, position)
            value = 0
        bar, _ = self.bars[index]
        bar.set_description(f"{self.jobs[index].name} · {_STAGE_LABELS[kind]}", refresh=False)
        bar.update(value)

    def drain(self, events) -> None:
        while True:
            try:
                self.event(*events.get_nowait())
            except queue.Empty:
                return

    def finished(self, index: int, outcome: NightOutcome) -> None:
        self.done.add(index)
        if index in self.bars:
            bar, position = self.bars.pop(index)
            bar.close()
            self.free_positions.append(position)
        self.overall.update(1)
        if outcome.status == "failed":
            tqdm.write(f"error: {outcome.error}", file=sys.stderr)
        elif outcome.status == SKIPPED:
            tqdm.write(f"{outcome.name}: {SKIPPED}", file=sys.stdout)
        else:
            tqdm.write(f"{outcome.name} ({outcome.seconds:.1f} s): {outcome.summary}")


# ---------------------------------------------------------------- the summary


def format_table(outcomes: list[NightOutcome]) -> str:
    """The table printed at the end of ``sleepvit score``: one row per night.

    >>> print(format_table([NightOutcome("night", SKIPPED)]))
    night  epochs  TST min  SE %    κ  mean conf.  flagged  status              s
    night       —        —     —  n/a           —        —  skipped (exists)  0.0
    """

    def number(value, digits: int) -> str:
        return "—" if value is None else f"{value:.{digits}f}"

    header = ("night", "epochs", "TST min", "SE %", "κ", "mean conf.", "flagged", "status", "s")
    rows = [
        (
            o.name,
            number(o.epochs, 0),
            number(o.tst_min, 1),
            number(o.sleep_efficiency_pct, 1),
            "n/a" if o.kappa is None else f"{o.kappa:.3f}",
            number(o.mean_confidence, 2),
            number(o.flagged, 0),
            o.status,
            f"{o.seconds:.1f}",
        )
        for o in outcomes
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    left = {0, 7}
    return "\n".join(
        "  ".join(
            cell.ljust(width) if i in left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in [header, *rows]
    )


def exit_code(outcomes: list[NightOutcome]) -> int:
    """0 if no night failed; 2 if one failed on its input; 1 if only internal errors failed.

    >>> exit_code([NightOutcome("a", "scored"), NightOutcome("b", "failed", error="bad")])
    2
    """
    failed = [o for o in outcomes if o.status == "failed"]
    if not failed:
        return 0
    return 1 if all(o.internal_error for o in failed) else 2

"""Batch scoring (``sleepvit score``): many recordings, in parallel processes if asked.

:func:`find_recordings` turns files and folders into :class:`~sleepvit.scoring.NightJob` s
(one output folder and stem each, never two nights writing the same files);
:func:`score_batch` scores them, each with :func:`sleepvit.scoring.score_recording`, and shows
progress through a :class:`BatchProgress` (by default :class:`TerminalProgress`: a bar per
night and one overall). A night that fails is reported in one line and the batch goes on;
:func:`format_table` and :func:`exit_code` summarise the outcome.

Examples
--------
>>> jobs = find_recordings(["lab/"], out="scored")                      # doctest: +SKIP
>>> outcomes = score_batch(jobs, ScoreOptions(jobs=2))                  # doctest: +SKIP
>>> print(format_table(outcomes))                                       # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Protocol

from tqdm import tqdm

from sleepvit.errors import InvalidRecordingError, OutputError, SleepVitError
from sleepvit.io.edf_header import read_header
from sleepvit.io.paths import file_kind, require_regular_file
from sleepvit.models.backends import Backend, load_backend
from sleepvit.outputs import outputs_complete
from sleepvit.pipeline import Progress
from sleepvit.scoring import NightJob, NightOutcome, ScoreOptions, score_recording

RECORDING_SUFFIXES = (".edf", ".bdf")
SKIPPED = "skipped (exists)"
STOPPED = "not scored (stopped)"
NUMPY_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class BatchProgress(Protocol):
    """What :func:`score_batch` reports while it works; ``index`` is the job's position."""

    def model_loaded(self, scorer: Backend) -> None:
        """The scorer is ready (before any night is touched)."""

    def night_progress(self, index: int, stage: str, value: int) -> None:
        """A :data:`~sleepvit.pipeline.Progress` report of the night being scored."""

    def night_finished(self, index: int, outcome: NightOutcome) -> None:
        """The night is scored, skipped or failed."""


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
                job = NightJob.for_recording(path, out / relative, relative)
                jobs.setdefault(path.resolve(), job)
        elif file_kind(given) == "file":
            jobs.setdefault(given.resolve(), NightJob.for_recording(given, out))
        else:
            require_regular_file(given, InvalidRecordingError, "a recording or a folder of them")
    _refuse_collisions(list(jobs.values()))
    return list(jobs.values())


def _is_recording(path: Path, root: Path) -> bool:
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
    seen: dict[tuple[str, str], NightJob] = {}
    for job in jobs:
        # Case-insensitive: hospital workstations run file systems that ignore case.
        key = (str(job.out_dir).casefold(), job.stem.casefold())
        if key in seen:
            raise OutputError(
                f"{seen[key].path} and {job.path} would both write {job.out_dir / job.stem}.*; "
                "rename one, or score them in separate runs with different output folders",
                job.path,
                settings=("out",),
            )
        seen[key] = job


# ---------------------------------------------------------------- many nights


def threads_per_process(jobs: int) -> int:
    """CPU threads each of ``jobs`` processes may use, so that together they fit the cores."""
    return max(1, (os.cpu_count() or 1) // max(jobs, 1))


def score_batch(
    jobs: list[NightJob], options: ScoreOptions, progress: BatchProgress | None = None
) -> list[NightOutcome]:
    """Score every job (in ``options.jobs`` processes), skipping those already done.

    Nights whose outputs all exist are skipped unless ``options.overwrite``. The models are
    loaded before any night is touched, so missing weights fail at once. A night that fails
    becomes a ``failed`` outcome and the others go on. Outcomes come back in the order of
    ``jobs``; ``progress`` hears about each step (default: a :class:`TerminalProgress`).
    """
    outcomes: dict[int, NightOutcome] = {}
    todo = []
    for index, job in enumerate(jobs):
        if not options.overwrite and outputs_complete(job.out_dir, job.stem, options.explain):
            outcomes[index] = NightOutcome(job.name, SKIPPED)
        else:
            todo.append(index)
    workers = max(1, min(options.jobs, len(todo)))
    threads = threads_per_process(workers)
    if progress is None:
        display = TerminalProgress(jobs, workers)
    else:
        display = contextlib.nullcontext(progress)
    with display as report:
        try:
            # Loaded before any night is touched, so that missing weights fail at once; with
            # several workers each process loads its own.
            scorer = (
                load_backend(options.weights, options.backend, threads=threads) if todo else None
            )
            if scorer is not None:
                report.model_loaded(scorer)
            for index in list(outcomes):
                report.night_finished(index, outcomes[index])
            if workers == 1:
                for index in todo:
                    night_progress = _night_progress(report, index)
                    outcomes[index] = _attempt(jobs[index], scorer, options, night_progress)
                    report.night_finished(index, outcomes[index])
            else:
                _score_in_processes(jobs, todo, options, workers, threads, report, outcomes)
        except KeyboardInterrupt as interrupt:
            stopped = [NightOutcome(jobs[i].name, STOPPED) for i in range(len(jobs))]
            raise BatchStopped([outcomes.get(i, stopped[i]) for i in range(len(jobs))]) from (
                interrupt
            )
    return [outcomes[i] for i in range(len(jobs))]


class BatchStopped(Exception):
    """The batch was interrupted (Ctrl-C, SIGTERM): the nights not finished were not scored.

    ``outcomes`` holds every night's outcome, :data:`STOPPED` for those left; the interrupt
    is the exception's ``__cause__``. No output of an unfinished night was written.
    """

    def __init__(self, outcomes: list[NightOutcome]):
        self.outcomes = outcomes
        finished = [o.name for o in outcomes if o.status != STOPPED]
        left = [o.name for o in outcomes if o.status == STOPPED]
        super().__init__(
            f"stopped after {len(finished)} of {len(outcomes)} nights"
            + (f" (finished: {', '.join(finished)})" if finished else "")
            + (f"; not scored: {', '.join(left)}" if left else "")
        )


def _night_progress(report: BatchProgress, index: int) -> Progress:
    return lambda stage, value: report.night_progress(index, stage, value)


def _attempt(job: NightJob, scorer, options: ScoreOptions, progress: Progress) -> NightOutcome:
    """:func:`score_recording`, with a failure turned into a ``failed`` outcome."""
    started = time.perf_counter()
    trace = ""
    try:
        return score_recording(job, scorer, options, progress)
    except SleepVitError as exc:
        error, internal = str(exc), False
    except Exception as exc:
        error, internal = f"{job.path}: internal error ({type(exc).__name__}: {exc})", True
        trace = traceback.format_exc()
    return NightOutcome(
        job.name,
        "failed",
        time.perf_counter() - started,
        error=error,
        internal_error=internal,
        traceback=trace,
    )


_WORKER: dict = {}
"""The scorer, progress queue and captured warnings of a worker process, set once by
:func:`_start_worker`."""
_PR_SET_PDEATHSIG = 1
"""Linux ``prctl`` option: the signal a process gets when its parent dies."""


def _start_worker(reports, options: ScoreOptions, threads: int, parent: int) -> None:
    _die_with_parent(parent)
    # Ctrl-C reaches the whole process group; the parent decides, and stops the workers.
    # SIGTERM keeps its default: the worker ends at once (a night it was writing leaves only
    # a hidden staging folder, which the next run removes).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    reports.put(("worker", os.getpid()))
    captured: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = captured.append
    logging.getLogger().addHandler(handler)
    _WORKER["log"] = captured
    _WORKER["reports"] = reports
    _WORKER["scorer"] = load_backend(options.weights, options.backend, threads=threads)


def _die_with_parent(parent: int) -> None:
    """Make this worker end when the batch's process does, however that one ends.

    On Linux the kernel sends SIGTERM when the parent dies (``prctl(PR_SET_PDEATHSIG)``); a
    thread watching the parent's pid does the same elsewhere, and covers a parent that died
    before the ``prctl`` call.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGTERM)


def _score_in_worker(index: int, job: NightJob, options: ScoreOptions):
    """``(outcome, warnings logged meanwhile)``: the parent logs them before the outcome."""
    reports, log = _WORKER["reports"], _WORKER["log"]
    log.clear()
    outcome = _attempt(
        job, _WORKER["scorer"], options, lambda stage, value: reports.put((index, stage, value))
    )
    for record in log:  # picklable: the message made, no traceback objects
        record.msg, record.args, record.exc_info = record.getMessage(), None, None
    return outcome, list(log)


def _score_in_processes(
    jobs: list[NightJob],
    todo: list[int],
    options: ScoreOptions,
    workers: int,
    threads: int,
    report: BatchProgress,
    outcomes: dict[int, NightOutcome],
) -> None:
    """Score ``todo`` in worker processes, adding to ``outcomes`` as each night finishes.

    On an interrupt (KeyboardInterrupt, which SIGTERM also raises in ``sleepvit``), every
    worker is sent SIGTERM and the pool shut down before the interrupt goes on.
    """
    # spawn, not fork: a forked child would inherit the parent's runtime thread pools broken.
    context = multiprocessing.get_context("spawn")
    reports = context.Queue()
    pids: set[int] = set()
    with _thread_limits(threads):
        pool = ProcessPoolExecutor(
            workers,
            mp_context=context,
            initializer=_start_worker,
            initargs=(reports, options, threads, os.getpid()),
        )
    try:
        pending = {pool.submit(_score_in_worker, i, jobs[i], options): i for i in todo}
        while pending:
            done, _ = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
            _drain(reports, report, pids)
            for future in done:
                index = pending.pop(future)
                outcomes[index], records = future.result()
                for record in records:
                    logging.getLogger(record.name).handle(record)
                report.night_finished(index, outcomes[index])
    except BaseException:
        _drain(reports, report, pids)
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _drain(reports, report: BatchProgress, pids: set[int]) -> None:
    """Pass on what the workers reported since the last look; note new workers' pids."""
    while True:
        try:
            message = reports.get_nowait()
        except queue.Empty:
            return
        if message[0] == "worker":
            pids.add(message[1])
        else:
            report.night_progress(*message)


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
    "adapt": "adapting",
    "epoch_vit": "model",
    "outputs": "outputs",
}


class TerminalProgress:
    """An overall bar, a bar per night being scored (render, then model) and a line per night.

    Bars go to stderr and only to a terminal; the lines go to stdout, errors to stderr.
    """

    def __init__(self, jobs: list[NightJob], workers: int):
        self.jobs = jobs
        self.overall = tqdm(total=len(jobs), desc="nights", unit="night", disable=None)
        self.bars: dict[int, tuple[tqdm, int]] = {}
        self.free_positions = list(range(1, workers + 1))
        self.done: set[int] = set()

    def __enter__(self) -> TerminalProgress:
        return self

    def __exit__(self, *exc_info) -> None:
        for bar, _ in self.bars.values():
            bar.close()
        self.overall.close()

    def model_loaded(self, scorer: Backend) -> None:
        tqdm.write(f"model {scorer.model_name} {scorer.config.version}, backend {scorer.name}")

    def night_progress(self, index: int, stage: str, value: int) -> None:
        if index in self.done:
            return  # a late message from a worker about a night already reported
        if stage == "loaded":
            position = self.free_positions.pop(0)
            bar = tqdm(total=2 * value, unit="epoch", position=position, leave=False, disable=None)
            self.bars[index] = (bar, position)
            value = 0
        bar, _ = self.bars[index]
        bar.set_description(f"{self.jobs[index].name} · {_STAGE_LABELS[stage]}", refresh=False)
        bar.update(value)

    def night_finished(self, index: int, outcome: NightOutcome) -> None:
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

"""One scored night's output files: every file complete, none half-written.

``sleepvit score`` writes, per night, into one folder with ``STEM`` = the recording's stem:

=========================  ==================================================================
``STEM.hypnogram.csv``     ``epoch,onset_s,stage,confidence,p_W,p_N1,p_N2,p_N3,p_REM,reason``
``STEM.annotations.edf``   EDF+ ``Sleep stage W/N1/N2/N3/R`` annotations (MNE, EDFbrowser)
``STEM.nsrr.xml``          NSRR XML ``ScoredEvents``
``STEM.summary.json``      sleep statistics, channel mapping, signal quality, model, timings,
                           warnings, out-of-distribution verdict (``ood``)
``STEM.report.pdf``        the clinical report (:mod:`sleepvit.report.pdf`)
``STEM.hypnogram.png``     the hypnogram with its confidence strip
``STEM.relevance.npz``     with explanations: relevance grids, scores, embeddings, review
                           queue (:mod:`sleepvit.explain.night` lists the keys)
=========================  ==================================================================

Each file is written atomically into a hidden staging folder next to the outputs, and the
set is moved into place (one ``os.replace`` per file) only once every file is complete: a
crash while scoring or writing leaves the previous outputs of the night as they were and no
partial file behind. Only a crash within the final renames — microseconds — could leave old
and new files side by side, each of them complete. A process killed outright (``kill -9``)
leaves its hidden staging folder; the next run of the same night removes it, once sure that
its writer is gone (:func:`remove_stale_staging`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import numpy as np

from sleepvit import __version__
from sleepvit.errors import OutputError
from sleepvit.explain import NightExplanation, Reason, ReviewQueue
from sleepvit.explain.night import SUFFIX as RELEVANCE_SUFFIX
from sleepvit.hypnogram import STAGE_CODE, STAGES, Hypnogram
from sleepvit.io.atomic import atomic_open
from sleepvit.io.hypnograms import write_hypnogram
from sleepvit.io.paths import check_output_folder
from sleepvit.metrics.sleep import SleepStatistics
from sleepvit.report.hypnogram_plot import write_hypnogram_png
from sleepvit.report.pdf import study_info, write_report
from sleepvit.report.review import REVIEW_THRESHOLD, TechnicianReview
from sleepvit.study import Study

OUTPUT_SUFFIXES: dict[str, str] = {
    "csv": ".hypnogram.csv",
    "edf": ".annotations.edf",
    "xml": ".nsrr.xml",
    "pdf": ".report.pdf",
    "png": ".hypnogram.png",
    "summary": ".summary.json",
}
"""Output kind -> file name suffix after ``STEM`` (every night)."""
EXPLANATION = "relevance"
"""The output kind of ``STEM.relevance.npz``, written when a night is scored with explanations."""

ANONYMOUS_DATE = datetime(1985, 1, 1)
"""The start date EDF+ prescribes for de-identified files; clock times are kept."""


@dataclass
class ScoredNight:
    """Everything the output files of one night are made from."""

    study: Study
    hypnogram: Hypnogram
    stats: SleepStatistics
    flagged: np.ndarray | ReviewQueue
    """The review queue (:func:`~sleepvit.explain.review.review_queue`), or plain epoch indices
    flagged for review."""
    model: dict
    """``name``, ``version``, ``backend`` and ``weights`` (folder)."""
    lights: dict = field(default_factory=dict)
    """``off`` / ``on`` clock times as given (``HH:MM``), absent when not given."""
    timings_s: dict = field(default_factory=dict)
    """Seconds per pipeline stage; ``outputs`` is added while writing."""
    reference: dict | None = None
    """Agreement with a reference scoring found next to the recording, if any."""
    warnings: list[str] = field(default_factory=list)
    review: TechnicianReview | None = None
    """Set when ``hypnogram`` is a technician's review of the AI scoring: the files then keep
    the AI's stages beside the reviewed ones and the report names the changes."""
    quality: dict | None = None
    """The signal-quality summary (:meth:`sleepvit.io.quality.SignalQuality.to_dict`)."""
    explanation: NightExplanation | None = None
    """Every epoch's relevance, written as ``STEM.relevance.npz`` with the other files."""


def output_paths(folder: str | Path, stem: str, explain: bool = False) -> dict[str, Path]:
    """Path of every output file of the night ``stem`` in ``folder``, by kind.

    ``explain`` adds ``STEM.relevance.npz`` (kind :data:`EXPLANATION`).

    >>> output_paths("out", "night")["csv"].as_posix()
    'out/night.hypnogram.csv'
    >>> output_paths("out", "night", explain=True)["relevance"].as_posix()
    'out/night.relevance.npz'
    """
    suffixes = OUTPUT_SUFFIXES | ({EXPLANATION: RELEVANCE_SUFFIX} if explain else {})
    return {kind: Path(folder) / f"{stem}{suffix}" for kind, suffix in suffixes.items()}


def outputs_complete(folder: str | Path, stem: str, explain: bool = False) -> bool:
    """True when every output file of ``stem`` exists in ``folder`` (the night can be skipped);
    with ``explain``, its ``STEM.relevance.npz`` too."""
    return all(path.is_file() for path in output_paths(folder, stem, explain).values())


def _queue_summary(flagged) -> dict:
    if not isinstance(flagged, ReviewQueue):
        return {"flagged_epochs": len(flagged)}
    return {
        "flagged_epochs": len(flagged),
        "review_queue": {
            "epochs": len(flagged),
            "coverage": flagged.coverage,
            "ranking": flagged.ranking,
            "reasons": {reason.name.lower(): flagged.count(reason) for reason in Reason},
        },
    }


def night_summary(night: ScoredNight, deidentify: bool = False) -> dict:
    """The content of ``STEM.summary.json``: plain JSON types only.

    ``deidentify`` leaves out the patient, the file name and the recording date (file names
    and dates often carry identity); clock times stay.
    """
    study, hyp = night.study, night.hypnogram
    summary = {
        "software": {"name": "SleepViT", "version": __version__},
        "scored_at": datetime.now().isoformat(timespec="seconds"),
        "recording": {
            "start_clock": f"{study.start:%H:%M:%S}",
            "duration_s": study.duration_s,
            "file_format": study.file_format,
        },
        "model": dict(night.model),
        "lights": {
            "off": night.lights.get("off"),
            "on": night.lights.get("on"),
            "off_s": night.stats.lights_off_s,
            "on_s": night.stats.lights_on_s,
        },
        "epochs": len(hyp),
        "stage_epochs": {
            name: int(np.count_nonzero(hyp.stages == STAGE_CODE[name])) for name in (*STAGES, "UNS")
        },
        "metrics": night.stats.to_dict(),
        "confidence": {
            "mean": hyp.mean_confidence(),
            "review_threshold": REVIEW_THRESHOLD,
            **_queue_summary(night.flagged),
        },
        "quality": night.quality,
        "ood": hyp.metadata.get("ood"),
        "adaptation": hyp.metadata.get("adaptation"),
        "reference": night.reference,
        "channels": {
            slot: {"label": s.label, "sfreq": s.sfreq, "unit": s.unit, "reason": s.reason}
            for slot, s in study.signals.items()
        },
        "timings_s": dict(night.timings_s),
        "warnings": list(night.warnings),
    }
    if night.review is not None:
        review = night.review
        summary["review"] = {
            "reviewed_epochs": review.reviewed_epochs,
            "changed_epochs": [int(e) + 1 for e in review.changed_epochs(hyp)],
            "ai_stage_epochs": {
                name: int(np.count_nonzero(review.ai.stages == code))
                for code, name in enumerate(STAGES)
            },
            "signed_off_by": review.reviewer,
            "signed_off_at": review.signed_at.isoformat() if review.signed_at else None,
            "audit": list(review.audit),
        }
    if deidentify:
        name = study.path.name
        summary["warnings"] = [w.replace(name, "<recording>") for w in summary["warnings"]]
        if night.reference:
            summary["reference"] = {k: v for k, v in night.reference.items() if k != "file"}
        summary["deidentified"] = True
    else:
        identity = study.identity
        summary["recording"] |= {"file": study.path.name, "start": study.start.isoformat()}
        summary["patient"] = {
            "id": identity.patient_id,
            "name": identity.patient_name,
            "birthdate": identity.birthdate,
            "sex": identity.sex,
        }
    return summary


def write_night_outputs(
    night: ScoredNight, folder: str | Path, stem: str, deidentify: bool = False
) -> dict[str, Path]:
    """Write every output file of ``night`` as ``folder/STEM.*``; returns them by kind.

    The files are written into a staging folder first and moved into place once all are
    complete (see the module docstring). The time spent is recorded as ``timings_s["outputs"]``
    (without the summary itself, which carries it).

    Examples
    --------
    >>> paths = write_night_outputs(night, "out", "night")       # doctest: +SKIP
    >>> sorted(paths)                                             # doctest: +SKIP
    ['csv', 'edf', 'pdf', 'png', 'summary', 'xml']
    """
    folder = Path(folder)
    check_output_folder(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        remove_stale_staging(folder, stem)
        staging = Path(tempfile.mkdtemp(prefix=f".{stem}.", suffix=STAGING_SUFFIX, dir=folder))
        (staging / STAGING_OWNER).write_text(
            json.dumps({"pid": os.getpid(), "host": socket.gethostname()}), encoding="utf-8"
        )
    except OSError as exc:
        raise OutputError(
            f"cannot write to {folder} ({exc.strerror}); choose another output folder", folder
        ) from exc
    try:
        explain = night.explanation is not None
        staged = output_paths(staging, stem, explain)
        started = time.perf_counter()
        _write_files(night, staged, deidentify)
        if explain:
            night.explanation.save(staged[EXPLANATION])
        night.timings_s["outputs"] = time.perf_counter() - started
        with atomic_open(staged["summary"], encoding="utf-8") as handle:
            json.dump(night_summary(night, deidentify), handle, indent=1)
            handle.write("\n")
        final = output_paths(folder, stem, explain)
        for kind, path in staged.items():
            os.replace(path, final[kind])
        return final
    except OSError as exc:
        raise OutputError(
            f"cannot write the outputs of {stem} ({exc.strerror}); check the free space and "
            "permissions of the output folder",
            folder,
        ) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)


STAGING_SUFFIX = ".partial"
STAGING_OWNER = ".owner"
"""File in each staging folder naming the process writing it: ``{"pid": …, "host": …}``."""
STALE_AFTER_S = 86400.0
"""A staging folder this old belongs to no live run: a night's outputs take seconds."""
_UNOWNED_STALE_AFTER_S = 3600.0
"""Age after which a staging folder without an owner file (older versions) is stale."""


def remove_stale_staging(folder: str | Path, stem: str) -> list[Path]:
    """Remove the staging folders of ``stem`` in ``folder`` that a dead run left behind.

    A staging folder is ours when its name is what :func:`write_night_outputs` makes
    (``.STEM.<8 random characters>.partial``) and it holds only files. It is left alone while
    its writer may be alive: its owner file names a process on this machine that still
    runs, or (another machine's, or no owner file) it is younger than :data:`STALE_AFTER_S`
    (:data:`_UNOWNED_STALE_AFTER_S` without an owner file). Returns what was removed.
    """
    name = re.compile(rf"\.{re.escape(stem)}\.[a-z0-9_]{{8}}{re.escape(STAGING_SUFFIX)}")
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for entry in entries:
        if name.fullmatch(entry.name) and _is_stale(entry):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def _is_stale(staging: Path) -> bool:
    try:
        if not staging.is_dir() or staging.is_symlink():
            return False
        if any(not entry.is_file() or entry.is_symlink() for entry in staging.iterdir()):
            return False
        age = time.time() - staging.stat().st_mtime
    except OSError:
        return False
    try:
        owner = json.loads((staging / STAGING_OWNER).read_text(encoding="utf-8"))
    except FileNotFoundError:  # written before owners were recorded
        return age > _UNOWNED_STALE_AFTER_S
    except (OSError, ValueError):
        return False
    if age > STALE_AFTER_S:
        return True
    if not isinstance(owner, dict) or owner.get("host") != socket.gethostname():
        return False
    return not _process_alive(owner.get("pid"))


def _process_alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    if os.name == "nt":
        return True  # os.kill would terminate it there; the age rule decides
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process
        return True
    return True


def _write_files(night: ScoredNight, paths: dict[str, Path], deidentify: bool) -> None:
    hyp = night.hypnogram
    if deidentify and hyp.start is not None:
        hyp = replace(hyp, start=datetime.combine(ANONYMOUS_DATE.date(), hyp.start.timetz()))
    ai = night.review.ai if night.review is not None else None
    write_hypnogram(hyp, paths["csv"], ai=ai)
    write_hypnogram(hyp, paths["edf"], ai=ai)
    write_hypnogram(hyp, paths["xml"], ai=ai)
    write_hypnogram_png(paths["png"], hyp)
    model = night.model | {"scored_at": datetime.now()}
    write_report(
        paths["pdf"],
        night.hypnogram,
        night.stats,
        study_info(night.study),
        night.flagged,
        model,
        deidentify=deidentify,
        review=night.review,
    )

"""Export of the reviewed night: the report PDF, CSV, EDF+ annotations, NSRR XML (and the
summary JSON and hypnogram PNG) as one set, by the writers ``sleepvit score`` uses.

Files are ``STEM.reviewed.*`` in the folder chosen, so they never replace the AI's own
outputs. Each keeps the AI's stages beside the reviewed ones; the report names the reviewer,
the sign-off and every epoch the technician changed; the summary carries the audit log. The
AI scoring's out-of-distribution verdict goes with them as ``sleepvit score`` writes it: the
summary's ``ood`` (and its warning line when it fired) and the report's boxed warning.
The set is written atomically (:func:`sleepvit.outputs.write_night_outputs`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sleepvit.gui.session.session import StudySession
from sleepvit.hypnogram import Hypnogram, stage_name

REVIEWED_SUFFIX = ".reviewed"


def reviewed_stem(session: StudySession) -> str:
    """``STEM.reviewed``: the stem of every exported file."""
    return Path(session.study.path).stem + REVIEWED_SUFFIX


def export_review(session: StudySession, folder: Path) -> dict[str, Path]:
    """Write the reviewed night into ``folder``; returns the files by kind (``csv``, ``edf``,
    ``xml``, ``pdf``, ``png``, ``summary``). Raises :class:`~sleepvit.errors.OutputError`
    when the folder cannot be written."""
    from sleepvit.metrics.sleep import sleep_statistics
    from sleepvit.outputs import ScoredNight, write_night_outputs
    from sleepvit.report.review import TechnicianReview

    reviewed = session.reviewed_hypnogram()
    ai = session.ai
    reviewed.metadata["ood"] = ai.info.get("ood") if ai is not None else None
    warnings = list(session.study.warnings)
    if session.ood_warning is not None:
        warnings.append(session.ood_warning.message())
    ai_hypnogram = (
        ai.hypnogram(session.study.start)
        if ai is not None
        else Hypnogram(reviewed.stages.copy(), start=session.study.start)
    )
    signed = session.review.sign_off_record
    review = TechnicianReview(
        ai=ai_hypnogram,
        reviewed_epochs=int(session.review.reviewed.sum()),
        reviewer=signed.reviewer if signed is not None else None,
        signed_at=signed.time if signed is not None else None,
        audit=tuple(_audit_rows(session)),
    )
    model = dict((ai.info.get("model") or {}) if ai is not None else {})
    night = ScoredNight(
        study=session.study,
        hypnogram=reviewed,
        stats=sleep_statistics(reviewed),
        # The queue the technician walked: the report's flagged-epochs page lists the same.
        flagged=session.queue.queue if session.queue is not None else np.zeros(0, int),
        model={"name": model.get("name", "—"), "version": model.get("version", "")}
        | {k: v for k, v in model.items() if k in ("backend", "weights")},
        reference=_reference(session),
        warnings=warnings,
        review=review,
        quality=quality.to_dict() if (quality := session.quality()) is not None else None,
    )
    return write_night_outputs(night, folder, reviewed_stem(session))


def _audit_rows(session: StudySession) -> list[dict]:
    """Every edit and sign-off in time order, epochs counted from 1."""
    rows = [
        {
            "time": entry.time.isoformat(),
            "epoch": entry.epoch + 1,
            "old": None if entry.old is None else stage_name(entry.old),
            "new": None if entry.new is None else stage_name(entry.new),
            "who": entry.who,
            "action": entry.action,
        }
        for entry in session.review.audit
    ]
    rows += [
        {
            "time": sign_off.time.isoformat(),
            "epoch": None,
            "old": None,
            "new": None,
            "who": sign_off.reviewer,
            "action": "sign off",
        }
        for sign_off in session.review.sign_offs
    ]
    return sorted(rows, key=lambda row: row["time"])


def _reference(session: StudySession) -> dict | None:
    """κ of the reviewed night against the scoring on file, for the summary."""
    if session.reference is None:
        return None
    ai_kappa, reviewed_kappa = session.reference_kappa()
    return {
        "file": session.reference.path.name,
        "kappa": reviewed_kappa,
        "kappa_ai": ai_kappa,
    }

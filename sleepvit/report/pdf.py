"""The clinical report: an A4 PDF of one scored night, for a physician to review and sign.

Page 1: header (patient, study, model, scoring date), a boxed warning when the recording is
unlike the training data, hypnogram with the model's confidence
strip, sleep statistics, stage distribution, the AI disclaimer and signature lines.
Page 2: the review queue (:mod:`sleepvit.explain.review`: why each epoch is there, and what
share of the night it covers) and the channels the model read.
Page 3, for a night a technician reviewed (``review``): the epochs they changed, AI stage →
reviewed stage; page 1 then names the reviewer and the sign-off date.

Drawn with matplotlib only (no torch), written atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from sleepvit import __version__
from sleepvit.explain.review import REASON_SHORT, REASON_TEXT, ReviewQueue
from sleepvit.hypnogram import Hypnogram, stage_name
from sleepvit.io.atomic import atomic_path
from sleepvit.metrics.sleep import SleepStatistics
from sleepvit.models.ood import WARNING, OodVerdict
from sleepvit.report.fonts import printable, report_style
from sleepvit.report.hypnogram_plot import (
    STAGE_COLOURS,
    clock_time,
    draw_confidence,
    draw_hypnogram,
)
from sleepvit.report.review import REVIEW_THRESHOLD, TechnicianReview, describe_epochs
from sleepvit.study import Study

DISCLAIMER = "AI-assisted scoring — to be reviewed by a qualified sleep technician"

PAGE_W, PAGE_H = 8.27, 11.69  # A4 portrait, inches
MARGIN = 0.65
_INK, _MUTED, _RULE, _SHADE = "#1A1A1A", "#666666", "#B8B8B8", "#F2F4F7"
_ACCENT = "#1F3B63"
_REMOVED = "de-identified"


def study_info(study: Study) -> dict:
    """The ``study_info`` dict :func:`write_report` expects, taken from a loaded night.

    Keys: ``file_name``, ``recording_start`` (datetime), ``duration_s``, ``file_format``,
    ``patient_name``, ``patient_id``, ``birthdate``, ``sex`` (from
    :class:`~sleepvit.study.Identity`) and ``channels`` (slot → source label).
    """
    identity = study.identity
    return {
        "file_name": Path(study.path).name,
        "recording_start": study.start,
        "duration_s": study.duration_s,
        "file_format": study.file_format,
        "patient_name": identity.patient_name,
        "patient_id": identity.patient_id,
        "birthdate": identity.birthdate,
        "sex": identity.sex,
        "channels": {slot: signal.label for slot, signal in study.signals.items()},
    }


def write_report(
    path: str | Path,
    hypnogram: Hypnogram,
    stats: SleepStatistics,
    study_info: dict,
    flagged_epochs: Sequence[int] | ReviewQueue,
    model_info: dict,
    deidentify: bool = False,
    review_threshold: float = REVIEW_THRESHOLD,
    review: TechnicianReview | None = None,
) -> Path:
    """Write the two-page A4 report of one scored night to ``path``, atomically.

    ``study_info``: see :func:`study_info` (missing keys print as "—"). ``flagged_epochs``:
    the night's :class:`~sleepvit.explain.review.ReviewQueue` (page 2 says why each epoch is
    queued and what share of the night the queue covers), or plain epoch indices; if more than
    fit on page 2, the first of the queue (or the least confident) are listed. ``model_info``:
    ``name`` and ``version``, optionally ``scored_at`` (datetime; default now) and
    ``backend`` (shown in the page footer).

    ``deidentify=True`` leaves out the patient's name, ID and birthdate, and also the file
    name and recording date, which often carry them; clock times stay.

    ``review``: ``hypnogram`` is a technician's review of the AI scoring ``review.ai`` (with
    the AI's probabilities): page 1 says who reviewed and signed it off, page 3 lists the
    epochs the technician changed.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from sleepvit.metrics.sleep import sleep_statistics
    >>> hyp = Hypnogram.from_names(["W", "N1", "N2", "N3", "N2", "REM", "W"])
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "night.report.pdf"
    >>> info = {"file_name": "night.edf", "patient_name": "Doe^Jane"}
    >>> model = {"name": "sleepvit-demo", "version": "0.1.0"}
    >>> write_report(out, hyp, sleep_statistics(hyp), info, [], model).read_bytes()[:5]
    b'%PDF-'
    """
    info = _visible_info(study_info, deidentify)
    scored_at = model_info.get("scored_at") or datetime.now()
    model = f"{model_info.get('name', '—')} {model_info.get('version', '')}".strip()
    backend = f" ({model_info['backend']})" if model_info.get("backend") else ""
    footer = f"SleepViT {__version__}  ·  {info['file_name']}  ·  model {model}{backend}"
    if model_info.get("calibration", "physical") != "physical":
        footer += "  ·  input calibrated per night"
    if model_info.get("adapted"):
        footer += "  ·  EpochViT adapted to this night"
    queue = flagged_epochs if isinstance(flagged_epochs, ReviewQueue) else None
    flagged = describe_epochs(hypnogram, queue.epochs if queue is not None else flagged_epochs)

    with report_style(**{"pdf.fonttype": 42}):
        pages = [
            _summary_page(
                hypnogram, stats, info, model, scored_at, flagged, review_threshold, review, queue
            ),
            _review_page(hypnogram, info, flagged, review_threshold, queue),
        ]
        if review is not None:
            pages.append(_changes_page(hypnogram, info, review))
        disclaimer = DISCLAIMER
        if review is not None and review.reviewer is not None:
            disclaimer = f"AI-assisted scoring, reviewed and signed off by {review.reviewer}"
        for number, page in enumerate(pages, start=1):
            _footer(page, footer, f"Page {number} of {len(pages)}", disclaimer)
        path = Path(path)
        metadata = {
            "Title": "Sleep staging report",
            "Subject": DISCLAIMER,
            "Creator": f"SleepViT {__version__}",
        }
        with atomic_path(path) as tmp:
            with PdfPages(tmp, metadata=metadata) as pdf:
                for page in pages:
                    pdf.savefig(page)
    return path


# ---------------------------------------------------------------- page 1


def _summary_page(hyp, stats, info, model, scored_at, flagged, threshold, review, queue) -> Figure:
    fig = Figure(figsize=(PAGE_W, PAGE_H))
    y = _title(fig, "Polysomnography — sleep staging report")
    below_warning = _ood_warning(fig, y, hyp.metadata.get("ood"))
    # The warning's room comes out of the hypnogram, so the sign-off stays on the page.
    hypnogram_h = 2.3 - (below_warning - y)
    y = below_warning

    start = info["recording_start"]
    lights = f"{clock_time(start, stats.lights_off_s)} – {clock_time(start, stats.lights_on_s)}"
    columns = [
        (
            "Patient",
            [
                ("Name", info["patient_name"]),
                ("ID", info["patient_id"]),
                ("Birthdate", info["birthdate"]),
                ("Sex", info["sex"]),
            ],
        ),
        (
            "Study",
            [
                ("File", info["file_name"]),
                ("Date", info["recording_date"]),
                ("Start", clock_time(start, 0, with_seconds=True) if start else "—"),
                ("Lights off–on", lights),
            ],
        ),
        (
            "Scoring",
            [
                ("Model", model),
                ("Scored on", f"{scored_at:%Y-%m-%d %H:%M}"),
                ("Epochs", f"{len(hyp)} × {hyp.epoch_s:g} s"),
                (
                    "For review",
                    # The column fits ~20 characters; page 2 says it in full.
                    f"{len(flagged)} epochs ({queue.coverage:.0%})"
                    if queue is not None
                    else f"{len(flagged)} epochs (< {threshold:g})",
                ),
            ]
            + (
                [
                    ("Reviewed", f"{review.reviewed_epochs} epochs"),
                    ("Changed", f"{len(review.changed_epochs(hyp))} epochs (page 3)"),
                ]
                if review is not None
                else []
            ),
        ),
    ]
    width = (PAGE_W - 2 * MARGIN) / 3
    bottoms = [
        _key_values(fig, MARGIN + i * width, y, width - 0.15, heading, rows)
        for i, (heading, rows) in enumerate(columns)
    ]
    y = max(bottoms) + 0.2

    y = _section(fig, y, "Hypnogram")
    hypnogram_ax = _axes(fig, MARGIN + 0.45, y, PAGE_W - 2 * MARGIN - 0.5, hypnogram_h)
    draw_hypnogram(hypnogram_ax, hyp, lights=(stats.lights_off_s, stats.lights_on_s))
    hypnogram_ax.tick_params(labelsize=7, labelbottom=False)
    y += hypnogram_h + 0.1
    confidence_ax = _axes(fig, MARGIN + 0.45, y, PAGE_W - 2 * MARGIN - 0.5, 0.55)
    draw_confidence(confidence_ax, hyp, threshold, [f.epoch for f in flagged])
    confidence_ax.tick_params(axis="x", labelsize=7)
    confidence_ax.set_ylabel("confidence", fontsize=6.5, color=_MUTED)
    time_label = "clock time" if info["recording_start"] else "hours since recording start"
    confidence_ax.set_xlabel(time_label, fontsize=7, color=_MUTED)
    y += 0.55 + 0.45
    fig.text(
        _fx(MARGIN),
        _fy(y),
        "Confidence: the model's probability of the stage it chose; red = flagged for review "
        "(page 2). Grey: unscored epochs, or out of bed. Hatched: no data (recording "
        "interrupted).",
        fontsize=6.5,
        color=_MUTED,
    )
    y += 0.22
    quality_note = _quality_note(hyp.metadata.get("quality"))
    if quality_note:
        fig.text(_fx(MARGIN), _fy(y), quality_note, fontsize=7.5, color="#9A4A00")
    y += 0.18

    half = (PAGE_W - 2 * MARGIN - 0.3) / 2
    left_y = _section(fig, y, "Sleep statistics", width=half)
    left_y = _table(
        fig,
        MARGIN,
        left_y,
        [half - 1.3, 1.3],
        ("Measure", "Value"),
        _statistics_rows(stats),
        aligns=("left", "right"),
    )
    right_x = MARGIN + half + 0.3
    right_y = _section(fig, y, "Stage distribution", x=right_x, width=half)
    right_y = _distribution(fig, right_x, right_y, half, stats)
    # The sign-off sits at the foot of the page, or lower if the tables ran long.
    _sign_off(fig, max(max(left_y, right_y) + 0.35, PAGE_H - MARGIN - 1.45), review)
    return fig


_WARNING_INK, _WARNING_FILL = "#8C1D18", "#FCEEEE"


def _ood_warning(fig: Figure, y: float, ood: dict | None) -> float:
    """A boxed warning across page 1 when the recording is unlike the training data
    (:mod:`sleepvit.models.ood`, in its words); returns the y below it (``y`` when there is
    none)."""
    if not ood:
        return y
    verdict = OodVerdict.from_dict(ood)
    if not verdict.fired:
        return y
    height = 0.78
    _box(fig, y, height, _WARNING_FILL, _WARNING_INK, 1.4)
    _, evidence, advice = verdict.lines()
    lines = (
        (f"Warning: {WARNING}", 9.5, "bold"),
        (evidence, 7.5, "normal"),
        (advice, 7.5, "normal"),
    )
    for offset, (text, size, weight) in zip((0.2, 0.43, 0.6), lines, strict=True):
        fig.text(
            _fx(MARGIN + 0.15),
            _fy(y + offset),
            text,
            fontsize=size,
            fontweight=weight,
            color=_WARNING_INK,
            va="center",
        )
    return y + height + 0.2


def _statistics_rows(stats: SleepStatistics) -> list[tuple[str, str]]:
    return [
        ("Time in bed (TIB)", _min_hm(stats.tib_min)),
        ("Total sleep time (TST)", _min_hm(stats.tst_min)),
        ("Sleep period time (SPT)", _min_hm(stats.spt_min)),
        ("Sleep efficiency (TST / TIB)", _pct(stats.sleep_efficiency_pct)),
        ("Sleep onset latency", _min(stats.sleep_onset_latency_min)),
        ("REM latency (from sleep onset)", _min(stats.rem_latency_min)),
        ("Wake after sleep onset (WASO)", _min(stats.waso_min)),
        (f"Awakenings (≥ {stats.min_awakening_s:g} s)", str(stats.awakenings)),
        ("Stage shifts", str(stats.stage_shifts)),
    ]


def _distribution(fig: Figure, x: float, y: float, width: float, stats: SleepStatistics):
    rows = [
        ("W", stats.wake_min, None),
        ("N1", stats.n1_min, stats.n1_pct_tst),
        ("N2", stats.n2_min, stats.n2_pct_tst),
        ("N3", stats.n3_min, stats.n3_pct_tst),
        ("REM", stats.rem_min, stats.rem_pct_tst),
    ]
    if stats.unscored_min:
        rows.append(("UNS", stats.unscored_min, None))
    cells = [
        (name, _min(minutes), _pct(pct) if pct is not None else "—") for name, minutes, pct in rows
    ]
    widths = [0.55, 0.95, 0.75]
    bottom = _table(
        fig, x, y, widths, ("Stage", "Minutes", "% TST"), cells, aligns=("left", "right", "right")
    )
    # Bars of % TST beside the table, on a grey 0-100 % track: the night's shape at a glance.
    bar_x = x + sum(widths) + 0.15
    bar_w = width - sum(widths) - 0.15
    for i, (name, _, pct) in enumerate(rows):
        if pct is None:
            continue
        bar_bottom = _fy(y + _ROW_H * (i + 1.8))
        for share, colour in ((100.0, _SHADE), (pct, STAGE_COLOURS[name])):
            fig.add_artist(
                Rectangle(
                    (_fx(bar_x), bar_bottom),
                    _fx(bar_w * share / 100),
                    _fh(_ROW_H * 0.6),
                    transform=fig.transFigure,
                    color=colour,
                    lw=0,
                )
            )
    return bottom


def _sign_off(fig: Figure, y: float, review: TechnicianReview | None = None) -> None:
    signed = review is not None and review.reviewer is not None
    if signed:
        text = f"AI-assisted scoring, reviewed and signed off by {review.reviewer}"
    elif review is not None:
        text = f"{DISCLAIMER} (reviewed in part: not signed off)"
    else:
        text = DISCLAIMER
    box_h = 0.42
    _box(fig, y, box_h, "#FFF4E0", "#E8A33D", 0.8)
    fig.text(
        0.5,
        _fy(y + box_h / 2),
        ("✓  " if signed else "⚠  ") + text,
        ha="center",
        va="center",
        fontsize=10,
        fontweight="bold",
        color="#7A4B00",
    )
    y += box_h + 0.45
    third = (PAGE_W - 2 * MARGIN) / 3
    filled = (
        (review.reviewer, f"{review.signed_at:%Y-%m-%d %H:%M}" if review.signed_at else "", "")
        if signed
        else ("", "", "")
    )
    for i, label in enumerate(("Reviewed by (name)", "Date", "Signature")):
        x = MARGIN + i * third
        fig.add_artist(_hline(x, x + third - 0.25, y))
        fig.text(_fx(x), _fy(y + 0.16), label, fontsize=7, color=_MUTED)
        if filled[i]:
            fig.text(_fx(x + 0.05), _fy(y - 0.08), filled[i], fontsize=9.5, color=_INK)


# ---------------------------------------------------------------- page 2


def _review_page(hyp: Hypnogram, info: dict, flagged, threshold: float, queue) -> Figure:
    fig = Figure(figsize=(PAGE_W, PAGE_H))
    y = _title(fig, "Epochs flagged for review", subtitle=info["file_name"])

    channels = list(info["channels"].items())
    if channels:
        y = _section(fig, y, "Channels read by the model")
        half = (PAGE_W - 2 * MARGIN) / 2
        per_column = (len(channels) + 1) // 2
        for column in range(2):
            rows = channels[column * per_column : (column + 1) * per_column]
            if rows:
                _table(
                    fig,
                    MARGIN + column * half,
                    y,
                    [1.1, half - 1.3],
                    None,
                    rows,
                    aligns=("left", "left"),
                )
        y += per_column * _ROW_H + 0.35

    y = _quality_section(fig, y, hyp.metadata.get("quality"))
    heading = (
        "Review queue"
        if queue is not None
        else f"Low-confidence epochs (confidence < {threshold:g})"
    )
    y = _section(fig, y, heading)
    if queue is not None:
        legend = "; ".join(f"{REASON_SHORT[r]} = {REASON_TEXT[r]}" for r in REASON_TEXT)
        lines = (
            f"The queue covers {queue.coverage:.1%} of the night's scored epochs "
            f"({len(queue)} of {queue.n_scored}), the most doubtful first (by {queue.ranking}).",
            f"Why: {legend} (confidence below {queue.threshold:g}).",
        )
        for line in lines:
            fig.text(_fx(MARGIN), _fy(y), line, fontsize=7, color=_MUTED)
            y += 0.17
        y += 0.05
    per_column = int((PAGE_H - MARGIN - 0.6 - y - 0.3) / _ROW_H) - 1
    capacity = 2 * per_column
    if not flagged:
        note = (
            "No epoch needs review first."
            if queue is not None
            else f"No epoch was scored with confidence below {threshold:g}."
            if hyp.probabilities is not None
            else "Manual scoring: there is no model confidence to review."
        )
    elif len(flagged) > capacity:
        first = "most doubtful" if queue is not None else "least confident"
        note = (
            f"The {capacity} {first} of {len(flagged)} flagged epochs, in time order; "
            "all epochs and their confidence are in the hypnogram CSV."
        )
        if queue is not None:
            shown = {int(e) for e in queue.epochs[:capacity]}
            flagged = [f for f in flagged if f.epoch in shown]
        else:
            least_confident = sorted(flagged, key=lambda f: f.confidence or 0.0)[:capacity]
            flagged = sorted(least_confident, key=lambda f: f.epoch)
    else:
        note = f"{len(flagged)} epochs, in time order: please check them on the recording first."
    fig.text(_fx(MARGIN), _fy(y), note, fontsize=8, color=_INK)
    y += 0.2

    rows = [
        (
            str(f.epoch + 1),  # counted from 1, as in the hypnogram CSV
            clock_time(info["recording_start"], f.onset_s, with_seconds=True),
            f.stage,
            _prob(f.confidence),
            f"{f.runner_up} ({_prob(f.runner_up_probability)})" if f.runner_up else "—",
            *([" ".join(queue.why(f.epoch, short=True))] if queue is not None else []),
        )
        for f in flagged
    ]
    if queue is None:
        header = ("Epoch", "Time", "Stage", "Confidence", "Runner-up")
        widths = [0.5, 0.75, 0.5, 0.8, 0.9]
    else:
        header = ("Epoch", "Time", "Stage", "Conf.", "Runner-up", "Why")
        widths = [0.45, 0.68, 0.42, 0.45, 0.72, 0.73]
    _epoch_columns(fig, y, per_column, header, widths, rows)
    return fig


# ---------------------------------------------------------------- page 3


def _changes_page(hyp: Hypnogram, info: dict, review: TechnicianReview) -> Figure:
    fig = Figure(figsize=(PAGE_W, PAGE_H))
    y = _title(fig, "Epochs changed by the technician", subtitle=info["file_name"])
    changed = review.changed_epochs(hyp)
    y = _section(fig, y, "AI stage → reviewed stage")
    per_column = int((PAGE_H - MARGIN - 0.6 - y - 0.3) / _ROW_H) - 1
    capacity = 2 * per_column
    who = f"signed off by {review.reviewer}" if review.reviewer else "not signed off"
    if not len(changed):
        note = f"The technician changed no epoch ({review.reviewed_epochs} reviewed, {who})."
    else:
        note = (
            f"{len(changed)} of {review.reviewed_epochs} reviewed epochs changed ({who}); the "
            "hypnogram on page 1 is the reviewed one."
        )
        if len(changed) > capacity:
            note += f" The first {capacity} are listed; all are in the CSV (ai_stage column)."
    fig.text(_fx(MARGIN), _fy(y), note, fontsize=8, color=_INK)
    y += 0.2
    confidence = review.ai.confidence
    rows = [
        (
            str(int(epoch) + 1),
            clock_time(info["recording_start"], float(hyp.onsets_s[epoch]), with_seconds=True),
            stage_name(int(review.ai.stages[epoch])),
            _prob(float(confidence[epoch]) if confidence is not None else None),
            stage_name(int(hyp.stages[epoch])),
        )
        for epoch in changed[:capacity]
    ]
    header = ("Epoch", "Time", "AI", "AI conf.", "Reviewed")
    _epoch_columns(fig, y, per_column, header, [0.55, 0.8, 0.55, 0.75, 0.8], rows)
    return fig


def _epoch_columns(fig: Figure, y: float, per_column: int, header, widths, rows) -> None:
    """A table of epochs in two side-by-side columns of ``per_column`` rows each."""
    column_w = (PAGE_W - 2 * MARGIN) / 2
    for column in range(2):
        chunk = rows[column * per_column : (column + 1) * per_column]
        if chunk:
            _table(
                fig,
                MARGIN + column * column_w,
                y,
                widths,
                header,
                chunk,
                aligns=("right", "left", "left", "right", "left", "left")[: len(widths)],
            )


def _quality_note(quality: dict | None) -> str:
    """Page 1's one line about signal quality, or "" when every signal was readable."""
    if not quality or not (quality["unscored_epochs"] or quality["findings"]):
        return ""
    parts = []
    if quality["unscored_epochs"]:
        parts.append(
            f"{quality['unscored_epochs']} epochs unscored (UNS: no usable EEG or no data)"
        )
    if quality["epochs_with_a_slot_left_out"]:
        parts.append(f"{quality['epochs_with_a_slot_left_out']} scored without some signals")
    return "Signal quality: " + "; ".join(parts or ["some signals unreadable"]) + " (page 2)."


def _quality_section(fig: Figure, y: float, quality: dict | None) -> float:
    """Page 2's table of what could not be read; returns the y below it."""
    if quality is None:
        return y
    y = _section(fig, y, "Signal quality (checked per signal and 30-s epoch)")
    findings = quality["findings"]
    lines = []
    if quality["no_data_epochs"]:
        lines.append(
            f"{quality['no_data_epochs']} epochs fall in interruptions of the recording (no "
            "data); they are unscored (UNS) and drawn hatched."
        )
    if quality["no_usable_eeg_epochs"]:
        lines.append(
            f"{quality['no_usable_eeg_epochs']} epochs with data are unscored (UNS): no EEG "
            "could be read."
        )
    if not findings and not lines:
        lines.append("Every signal could be read in every epoch.")
    for line in lines:
        fig.text(_fx(MARGIN), _fy(y), line, fontsize=8, color=_INK)
        y += 0.2
    if findings:
        shown = findings[:8]
        rows = [
            (
                f["slot"],
                _fit(printable(f["label"]), 1.0),
                f"{f['problem']}: {f['detail']}",
                f"{f['epochs']}",
                f"{f['first_epoch']}",
            )
            for f in shown
        ]
        y = _table(
            fig,
            MARGIN,
            y,
            [1.0, 1.1, 3.6, 0.6, 0.67],
            ("Signal", "Source", "Problem (left out where found)", "Epochs", "From"),
            rows,
            aligns=("left", "left", "left", "right", "right"),
        )
        if len(findings) > len(shown):
            fig.text(
                _fx(MARGIN),
                _fy(y + 0.12),
                f"… and {len(findings) - len(shown)} more (all in the summary JSON).",
                fontsize=7,
                color=_MUTED,
            )
            y += 0.2
    return y + 0.3


# ---------------------------------------------------------------- layout helpers

_ROW_H = 0.19  # inches per table row


def _visible_info(study_info: dict, deidentify: bool) -> dict:
    """``study_info`` with defaults filled in and identifying fields removed on request."""
    info = {
        key: printable(study_info.get(key) or "—")
        for key in ("file_name", "patient_name", "patient_id", "birthdate", "sex")
    }
    start = study_info.get("recording_start")
    info["recording_start"] = start
    info["recording_date"] = f"{start:%Y-%m-%d}" if start else "—"
    info["channels"] = {
        slot: printable(label) for slot, label in (study_info.get("channels") or {}).items()
    }
    if deidentify:
        for key in ("file_name", "patient_name", "patient_id", "birthdate", "recording_date"):
            info[key] = _REMOVED
    return info


def _fx(inches: float) -> float:
    return inches / PAGE_W


def _fh(inches: float) -> float:
    return inches / PAGE_H


def _fy(inches_from_top: float) -> float:
    return 1.0 - inches_from_top / PAGE_H


def _axes(fig: Figure, x: float, y_top: float, width: float, height: float):
    return fig.add_axes((_fx(x), _fy(y_top + height), _fx(width), _fh(height)))


def _hline(x0: float, x1: float, y: float, colour: str = _RULE, width: float = 0.6):
    from matplotlib.lines import Line2D

    return Line2D([_fx(x0), _fx(x1)], [_fy(y), _fy(y)], color=colour, linewidth=width)


def _title(fig: Figure, title: str, subtitle: str = "") -> float:
    fig.add_artist(
        Rectangle((0, _fy(0.42)), 1, _fh(0.42), transform=fig.transFigure, color=_ACCENT, lw=0)
    )
    fig.text(
        _fx(MARGIN),
        _fy(0.21),
        "SleepViT",
        fontsize=10,
        fontweight="bold",
        color="white",
        va="center",
    )
    fig.text(
        1 - _fx(MARGIN),
        _fy(0.21),
        "Sleep laboratory report",
        fontsize=8,
        color="#D0DCEA",
        va="center",
        ha="right",
    )
    fig.text(_fx(MARGIN), _fy(0.85), title, fontsize=15, fontweight="bold", color=_INK)
    if subtitle:
        fig.text(1 - _fx(MARGIN), _fy(0.85), subtitle, fontsize=8, color=_MUTED, ha="right")
    fig.add_artist(_hline(MARGIN, PAGE_W - MARGIN, 0.98, _ACCENT, 1.2))
    return 1.3


def _box(fig: Figure, y: float, height: float, fill: str, edge: str, linewidth: float) -> None:
    """A framed box across the page between the margins, from ``y`` down ``height`` inches."""
    fig.add_artist(
        Rectangle(
            (_fx(MARGIN), _fy(y + height)),
            _fx(PAGE_W - 2 * MARGIN),
            _fh(height),
            transform=fig.transFigure,
            facecolor=fill,
            edgecolor=edge,
            linewidth=linewidth,
        )
    )


def _section(fig: Figure, y: float, heading: str, x: float = MARGIN, width: float = 0) -> float:
    width = width or PAGE_W - 2 * MARGIN
    fig.text(_fx(x), _fy(y), heading.upper(), fontsize=8.5, fontweight="bold", color=_ACCENT)
    fig.add_artist(_hline(x, x + width, y + 0.06, _ACCENT, 0.6))
    return y + 0.28


def _key_values(fig, x: float, y: float, width: float, heading: str, rows) -> float:
    y = _section(fig, y, heading, x=x, width=width)
    label_w = 0.9
    for key, value in rows:
        fig.text(_fx(x), _fy(y), key, fontsize=7, color=_MUTED, va="baseline")
        value = _fit(str(value), width - label_w)
        fig.text(_fx(x + label_w), _fy(y), value, fontsize=8.5, color=_INK, va="baseline")
        y += 0.22
    return y


def _table(fig, x: float, y: float, widths, header, rows, aligns) -> float:
    """Rows of text cells with alternate shading; returns the y below the table."""
    lines = ([header] if header else []) + list(rows)
    total = sum(widths)
    for i, cells in enumerate(lines):
        top = y + i * _ROW_H
        is_header = header is not None and i == 0
        if not is_header and i % 2 == (1 if header else 0):
            fig.add_artist(
                Rectangle(
                    (_fx(x), _fy(top + _ROW_H)),
                    _fx(total),
                    _fh(_ROW_H),
                    transform=fig.transFigure,
                    color=_SHADE,
                    lw=0,
                )
            )
        left = x
        for cell, width, align in zip(cells, widths, aligns, strict=True):
            anchor = left + 0.06 if align == "left" else left + width - 0.06
            fig.text(
                _fx(anchor),
                _fy(top + _ROW_H / 2),
                cell,
                ha=align,
                va="center",
                fontsize=7.5,
                color=_MUTED if is_header else _INK,
                fontweight="bold" if is_header else "normal",
            )
            left += width
        if is_header:
            fig.add_artist(_hline(x, x + total, top + _ROW_H, _RULE, 0.8))
    return y + len(lines) * _ROW_H


def _footer(fig: Figure, left: str, right: str, disclaimer: str = DISCLAIMER) -> None:
    y = PAGE_H - 0.45
    fig.add_artist(_hline(MARGIN, PAGE_W - MARGIN, y - 0.12))
    fig.text(_fx(MARGIN), _fy(y), left, fontsize=6.5, color=_MUTED, va="top")
    fig.text(1 - _fx(MARGIN), _fy(y), right, fontsize=6.5, color=_MUTED, va="top", ha="right")
    fig.text(0.5, _fy(y + 0.18), disclaimer, fontsize=6, color=_MUTED, va="top", ha="center")


def _fit(text: str, width_in: float, char_in: float = 0.062) -> str:
    """Shorten ``text`` with an ellipsis so it fits ``width_in`` inches at 8.5 pt."""
    limit = max(int(width_in / char_in), 4)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _min(minutes: float | None) -> str:
    return "—" if minutes is None else f"{minutes:.1f} min"


def _min_hm(minutes: float) -> str:
    whole = round(minutes)
    return f"{minutes:.1f} min  ({whole // 60} h {whole % 60:02d})"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} %"


def _prob(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"

"""The text ``sleepvit inspect FILE`` prints: header, channels, slot mapping and why, warnings.

Examples
--------
>>> print(format_inspection(load_study("night.edf")))  # doctest: +SKIP
File      night.edf
Format    EDF+C (compliant)
...
"""

from __future__ import annotations

from dataclasses import asdict

from sleepvit.slots import EPOCH_SECONDS, SLOT_NAMES
from sleepvit.study import Study

_IDENTITY_NAMES = {
    "patient_id": "patient id",
    "patient_name": "name",
    "sex": "sex",
    "birthdate": "birthdate",
    "recording_id": "recording id",
    "technician": "technician",
    "equipment": "equipment",
}


def _duration(seconds: float) -> str:
    hours, rest = divmod(int(round(seconds)), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours} h {minutes:02d} min {secs:02d} s"


def _table(rows: list[tuple[str, ...]], indent: str = "  ") -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        (indent + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))).rstrip()
        for row in rows
    ]


def channel_uses(study: Study) -> dict[str, list[str]]:
    """For each channel label, the slots it feeds, e.g. ``{"M1": ["EEG_C (as reference)"]}``.

    A derived slot's label is ``"<active> - <reference> (derived)"`` (see ``load_study``).
    """
    labels = [ch.label for ch in study.channels]
    uses: dict[str, list[str]] = {label: [] for label in labels}
    for slot, signal in study.signals.items():
        if signal.label in uses:
            uses[signal.label].append(slot)
            continue
        for active in labels:
            for reference in labels:
                if signal.label == f"{active} - {reference} (derived)":
                    uses[active].append(f"{slot} (as {active} − {reference})")
                    uses[reference].append(f"{slot} (as reference)")
    return uses


def format_inspection(study: Study) -> str:
    """Human-readable summary of a loaded recording and the slot mapping chosen."""
    format_name, _, fallback = study.file_format.partition(" (")
    how = f"non-compliant, read with the {fallback.rstrip(')')}" if fallback else "compliant"
    lines = [
        f"File      {study.path}",
        f"Format    {format_name} ({how})",
        f"Start     {study.start:%Y-%m-%d %H:%M:%S}",
        f"Duration  {_duration(study.duration_s)} ({study.duration_s:g} s), "
        f"{study.n_epochs} epochs of {EPOCH_SECONDS:g} s",
    ]
    identity = [(_IDENTITY_NAMES[k], v) for k, v in asdict(study.identity).items() if v]
    if identity:
        lines.append("Identity  " + "; ".join(f"{name}: {value}" for name, value in identity))
    uses = channel_uses(study)
    lines += ["", f"Channels ({len(study.channels)})"]
    rows = [("#", "label", "rate Hz", "unit", "→ slot")]
    for ch in study.channels:
        target = ", ".join(uses.get(ch.label, [])) or "unused"
        rows.append((str(ch.index + 1), ch.label, f"{ch.sfreq:g}", ch.unit or "-", target))
    lines += _table(rows)
    lines += ["", "Slots"]
    rows = [("slot", "← source", "rate Hz", "unit", "reason")]
    for slot, signal in study.signals.items():
        rows.append((slot, signal.label, f"{signal.sfreq:g}", signal.unit, signal.reason))
    lines += _table(rows)
    missing = [slot for slot in SLOT_NAMES if slot not in study.signals]
    lines.append("  missing: " + (", ".join(missing) + " (blank rows)" if missing else "none"))
    if study.annotations:
        shown = ", ".join(f"{a.description} @ {a.onset_s:g} s" for a in study.annotations[:3]) + (
            " …" if len(study.annotations) > 3 else ""
        )
        lines += ["", f"Annotations ({len(study.annotations)}): {shown}"]
    lines += _quality_lines(study)
    if study.warnings:
        lines += ["", "Warnings"] + [f"  - {w}" for w in study.warnings]
    return "\n".join(lines)


def _quality_lines(study: Study) -> list[str]:
    """The signal-quality section: each problem of a slot, and the epochs left unscored."""
    quality = study.quality
    if quality is None:
        return []
    lines = ["", "Signal quality (checked per slot and 30-s epoch)"]
    rows = [("slot", "← source", "problem", "epochs", "from epoch")]
    for finding in quality.findings():
        rows.append(
            (
                finding["slot"],
                finding["label"],
                f"{finding['problem']} ({finding['detail']})",
                f"{finding['epochs']} of {quality.n_epochs}",
                str(finding["first_epoch"]),
            )
        )
    if len(rows) > 1:
        lines += _table(rows)
    else:
        lines.append("  every slot readable in every epoch")
    no_data, unscored = int(quality.no_data.sum()), int((~quality.scorable).sum())
    if unscored:
        lines.append(
            f"  unscored: {unscored} of {quality.n_epochs} epochs"
            + (f", {no_data} of them without data (gaps)" if no_data else "")
            + ("" if unscored == no_data else f", {unscored - no_data} without a usable EEG")
        )
    return lines

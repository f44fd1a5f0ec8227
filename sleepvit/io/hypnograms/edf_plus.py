"""EDF+ scoring files: ``Sleep stage W/N1/N2/N3/R`` annotations (Sleep-EDF, AASM, EDFbrowser).

Read with :func:`~sleepvit.io.edf_annotations.read_edf_annotations`, so a full PSG's
annotations are read too; written as an EDF+ file whose only signal is ``EDF Annotations``,
runs of one stage merged into one annotation and ``?`` for UNS.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from sleepvit.errors import HypnogramError, OutputError
from sleepvit.hypnogram import Hypnogram, stage_name
from sleepvit.io.atomic import atomic_path
from sleepvit.io.edf_annotations import is_edf, read_edf_annotations, write_edf_annotations
from sleepvit.io.hypnograms.fields import stage_segments
from sleepvit.study import Annotation

_EDF_NAMES = {"W": "W", "N1": "N1", "N2": "N2", "N3": "N3", "REM": "R", "UNS": "?"}
AI_LABEL_PREFIX = "SleepViT AI: "
"""Annotations of the AI's stages beside a technician's; readers do not take them as stages."""


def read_edf(path: Path) -> Hypnogram:
    """The stage annotations of an EDF+ file; other annotations are counted, not kept."""
    content = read_edf_annotations(path)
    segments = stage_segments(content.annotations)
    if not segments:
        found = sorted({a.description for a in content.annotations})
        listed = ", ".join(repr(d) for d in found[:5]) or "none"
        raise HypnogramError(
            f"holds no sleep-stage annotations (annotations found: {listed}); pass the "
            "hypnogram file, e.g. the '-Hypnogram.edf' next to the recording",
            path,
        )
    hyp = Hypnogram.from_segments(segments, start=content.start)
    hyp.metadata.update(
        format="edf",
        source=str(path),
        other_annotations=len(content.annotations) - len(segments),
    )
    return hyp


def write_edf(hyp: Hypnogram, path: Path, ai: Hypnogram | None = None) -> None:
    """Write ``hyp`` as an annotation-only EDF+ file at ``path``, atomically; the AI's stages
    ``ai`` (of the same epochs) as :data:`AI_LABEL_PREFIX` annotations beside them."""
    annotations = edf_annotations(hyp)
    if ai is not None:
        annotations += edf_annotations(replace(ai, offset_s=hyp.offset_s), AI_LABEL_PREFIX)
        annotations.sort(key=lambda annotation: annotation.onset_s)
    with atomic_path(path) as tmp:
        write_edf_annotations(tmp, hyp.start, annotations)


def edf_annotations(hyp: Hypnogram, prefix: str = "") -> list[Annotation]:
    """The stages of ``hyp`` as EDF+ annotations, one per run of a stage (``?`` for UNS), each
    description after ``prefix``."""
    return [
        Annotation(onset, duration, f"{prefix}Sleep stage {_EDF_NAMES[stage_name(code)]}")
        for onset, duration, code in hyp.segments()
    ]


def refuse_to_overwrite_recording(path: Path) -> None:
    """Raise :class:`OutputError` if ``path`` is an EDF recording with signals."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(256)
    except OSError:
        return
    if is_edf(head):
        try:
            holds_signals = read_edf_annotations(path).has_signals
        except HypnogramError:
            holds_signals = True  # an EDF without annotations is a recording
        if holds_signals:
            raise OutputError(
                "is a recording with signals; refusing to overwrite it with a hypnogram, "
                "choose another output name",
                path,
            )

"""MNE ``Annotations``: the stages as EDF+ writes them, ``Sleep stage W/N1/N2/N3/R`` and ``?``.

Written as :mod:`~sleepvit.io.hypnograms.edf_plus` writes its files (runs of one stage as one
annotation), so ``mne.events_from_annotations(raw, chunk_duration=30)`` gives one event per
epoch, as for Sleep-EDF. Read as every scoring is read: the stage events among the
annotations (any spelling :func:`~sleepvit.hypnogram.parse_stage` knows), others skipped.
``orig_time`` is the hypnogram's start labelled UTC, as MNE labels an EDF's local start time.
"""

from __future__ import annotations

from datetime import UTC, datetime

import mne

from sleepvit.errors import HypnogramError
from sleepvit.hypnogram import Hypnogram, align_to_recording
from sleepvit.io.hypnograms.edf_plus import edf_annotations
from sleepvit.io.hypnograms.fields import stage_segments
from sleepvit.study import Annotation


def to_annotations(hyp: Hypnogram) -> mne.Annotations:
    """The stages of ``hyp`` as ``mne.Annotations`` (onsets from ``hyp.start``, if known)."""
    events = edf_annotations(hyp)
    start = hyp.start
    if start is not None and start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    return mne.Annotations(
        [a.onset_s for a in events],
        [a.duration_s for a in events],
        [a.description for a in events],
        orig_time=start,
    )


def from_annotations(
    annotations: mne.Annotations,
    recording_start: datetime | None = None,
    recording_duration_s: float | None = None,
) -> Hypnogram:
    """The scoring held by ``annotations``; aligned to a recording when its start is given.

    Without ``recording_start`` the hypnogram starts at ``annotations.orig_time`` (``None``
    if unset) with ``offset_s`` = the first stage's onset; with it, one epoch per recording
    epoch (see :func:`~sleepvit.hypnogram.align_to_recording`). Raises
    :class:`~sleepvit.errors.HypnogramError` when no annotation is a sleep stage.
    """
    events = [
        Annotation(float(onset), float(duration), str(description))
        for onset, duration, description in zip(
            annotations.onset, annotations.duration, annotations.description, strict=True
        )
    ]
    segments = stage_segments(events)
    if not segments:
        found = sorted({a.description for a in events})
        listed = ", ".join(repr(d) for d in found[:5]) or "none"
        raise HypnogramError(
            f"the annotations hold no sleep stage (found: {listed}); give the annotations of "
            "a scoring, e.g. mne.read_annotations of a Sleep-EDF '-Hypnogram.edf'"
        )
    start = annotations.orig_time
    hyp = Hypnogram.from_segments(segments, start=None if start is None else _local(start))
    hyp.metadata.update(format="mne", other_annotations=len(events) - len(segments))
    if recording_start is None:
        return hyp
    return align_to_recording(hyp, recording_start, recording_duration_s)


def _local(moment: datetime) -> datetime:
    # MNE labels an EDF's local clock time UTC; SleepViT keeps clock times naive.
    return moment.replace(tzinfo=None)

"""The two XML scorings NSRR distributes: NSRR ``PSGAnnotation`` (read and written) and
Compumedics Profusion ``CMPStudyConfig`` (read)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from sleepvit import __version__
from sleepvit.errors import HypnogramError
from sleepvit.hypnogram import Hypnogram, is_stage_label, parse_stage, stage_name
from sleepvit.io.hypnograms.fields import seconds_text
from sleepvit.slots import EPOCH_SECONDS

_NSRR_CONCEPTS = {
    "W": "Wake|0",
    "N1": "Stage 1 sleep|1",
    "N2": "Stage 2 sleep|2",
    "N3": "Stage 3 sleep|3",
    "REM": "REM sleep|5",
    "UNS": "Unscored|9",
}


def read_xml(path: Path) -> Hypnogram:
    """An NSRR or Profusion XML scoring, told apart by its elements."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise HypnogramError(
            f"is not well-formed XML ({exc}); re-export the scoring", path
        ) from None
    epoch_s = _xml_float(root.findtext("EpochLength"), EPOCH_SECONDS, path)
    if root.find("SleepStages") is not None:
        stages = [_profusion_stage(e.text, path) for e in root.iter("SleepStage")]
        hyp = Hypnogram(stages, epoch_s=epoch_s)
        hyp.metadata.update(format="profusion-xml", source=str(path))
        return hyp
    events = root.findall("./ScoredEvents/ScoredEvent")
    if not events:
        raise HypnogramError(
            f"is XML (<{root.tag}>) but neither NSRR (PSGAnnotation/ScoredEvents) nor "
            "Profusion (CMPStudyConfig/SleepStages); export the scoring in one of those",
            path,
        )
    start = None
    segments = []
    for event in events:
        concept = (event.findtext("EventConcept") or "").strip()
        kind = (event.findtext("EventType") or "").lower()
        if concept == "Recording Start Time":
            start = _nsrr_clock(event.findtext("ClockTime") or "")
        elif "stage" in kind or (not kind and is_stage_label(concept)):
            try:
                code = parse_stage(concept)
            except ValueError:
                raise HypnogramError(
                    f"has a stage event {concept!r} that is not a sleep stage; correct it",
                    path,
                ) from None
            onset = _xml_float(event.findtext("Start"), None, path)
            duration = _xml_float(event.findtext("Duration"), 0.0, path)
            segments.append((onset, duration, code))
    if not segments:
        raise HypnogramError("holds scored events but no sleep stages; it is not a hypnogram", path)
    hyp = Hypnogram.from_segments(segments, epoch_s=epoch_s, start=start)
    hyp.metadata.update(format="nsrr-xml", source=str(path))
    return hyp


def _profusion_stage(text: str | None, path: Path) -> int:
    try:
        return parse_stage((text or "").strip())
    except ValueError:
        raise HypnogramError(
            f"has a SleepStage value {text!r} that is not a Profusion stage code (0-5, 9); "
            "correct it or re-export the scoring",
            path,
        ) from None


def _xml_float(text: str | None, default: float | None, path: Path) -> float:
    if text is None or not text.strip():
        if default is None:
            raise HypnogramError("has a stage event without a <Start>; re-export it", path)
        return default
    try:
        return float(text)
    except ValueError:
        raise HypnogramError(
            f"has {text.strip()!r} where seconds were expected; correct it or re-export it",
            path,
        ) from None


def _nsrr_clock(text: str) -> datetime | None:
    # NSRR writes "dd.mm.yy hh.mm.ss"; de-identified files blank the date as 00.00.00.
    try:
        moment = datetime.strptime(text.strip(), "%d.%m.%y %H.%M.%S")
    except ValueError:
        return None
    # Two-digit years span 1985-2084, as in EDF headers.
    two_digits = moment.year % 100
    return moment.replace(year=(1900 if two_digits >= 85 else 2000) + two_digits)


AI_EVENT_TYPE = "SleepViT AI|SleepViT AI"
"""Event type of the AI's stages beside a technician's (readers take "Stages" events)."""


def nsrr_text(hyp: Hypnogram, ai: Hypnogram | None = None) -> str:
    """``hyp`` as NSRR XML: a recording-start event, then one event per stage run (and per
    run of the AI's stages ``ai``, as :data:`AI_EVENT_TYPE` events)."""
    root = ET.Element("PSGAnnotation")
    ET.SubElement(root, "SoftwareVersion").text = f"SleepViT {__version__}"
    ET.SubElement(root, "EpochLength").text = seconds_text(hyp.epoch_s)
    events = ET.SubElement(root, "ScoredEvents")
    if hyp.start is not None:
        _nsrr_event(events, "", "Recording Start Time", 0.0, hyp.offset_s + hyp.duration_s)
        ET.SubElement(events[-1], "ClockTime").text = f"{hyp.start:%d.%m.%y %H.%M.%S}"
    for onset, duration, code in hyp.segments():
        _nsrr_event(events, "Stages|Stages", _NSRR_CONCEPTS[stage_name(code)], onset, duration)
    if ai is not None:
        for onset, duration, code in replace(ai, offset_s=hyp.offset_s).segments():
            _nsrr_event(events, AI_EVENT_TYPE, _NSRR_CONCEPTS[stage_name(code)], onset, duration)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def _nsrr_event(parent: ET.Element, kind: str, concept: str, onset: float, duration: float):
    event = ET.SubElement(parent, "ScoredEvent")
    ET.SubElement(event, "EventType").text = kind
    ET.SubElement(event, "EventConcept").text = concept
    ET.SubElement(event, "Start").text = seconds_text(onset)
    ET.SubElement(event, "Duration").text = seconds_text(duration)

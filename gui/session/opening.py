"""Opening a study: identify the recording, find its review, load it, find its scorings.

The Qt worker runs these steps off the GUI thread and reports progress; they are plain
functions so that tests (and ``sleepvit-gui --self-test``) run them without a screen.

1. :func:`open_study` — load the signals (with the channel map chosen in an earlier session)
   while hashing the recording, find or create its sidecar, then find an AI scoring that
   needs no rescoring (the one the review started from, kept in the sidecar, or ``sleepvit
   score`` outputs: ``STEM.hypnogram.csv``, ``STEM.relevance.npz``) with its explanation,
   and a technician scoring on file. The first page can be drawn as soon as it returns.
2. :func:`~sleepvit.gui.session.scoring.score_study_for_review` — only when no AI scoring
   was found: render, score and explain the night.

A broken or unreadable model never stops a study from opening: the screen falls back to the
default render config and the technician scores without the AI.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from sleepvit.errors import InvalidRecordingError, SleepVitError
from sleepvit.explain import NightExplanation
from sleepvit.gui.session.explanation import (
    ai_from_explanation,
    find_explanation,
    from_bytes,
    mismatch,
    to_bytes,
)
from sleepvit.gui.session.scoring import (
    AiScoring,
    Progress,
    find_reference,
    find_scored_outputs,
)
from sleepvit.gui.session.session import OpenedStudy
from sleepvit.gui.session.sidecar import (
    NEXT_TO_RECORDING,
    identify_recording,
    open_sidecar,
    peek_setting,
    sidecar_next_to,
)
from sleepvit.models.backends import DEFAULT_BACKEND
from sleepvit.rendering import RenderConfig

CHANNEL_MAP = "channel_map"
"""Sidecar setting: the channel map (the ``--channel-map`` JSON) chosen for this study."""


@dataclass(frozen=True)
class OpenRequest:
    """What to open and with which model."""

    path: Path
    weights: Path | None = None
    """Weights folder (default: the shipped demo weights)."""
    backend: str = DEFAULT_BACKEND
    scored_folders: Sequence[Path] = ()
    """Folders to look in for ``sleepvit score`` outputs besides the recording's own."""
    channel_map: dict | None = None
    """A new channel map to apply (stored in the sidecar); ``None`` keeps the study's own."""


def open_study(
    request: OpenRequest,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> OpenedStudy:
    """Steps 1 of the module docstring; raises :class:`~sleepvit.errors.SleepVitError`."""
    from sleepvit.io import load_study

    report = progress or (lambda step, done, total: None)
    path = Path(request.path)
    if not path.is_file():
        raise InvalidRecordingError("does not exist or is not a file; check the path", path)
    report("load", 0, 1)
    channel_map = request.channel_map
    if channel_map is None:
        channel_map = peek_setting(sidecar_next_to(path), CHANNEL_MAP)
    stop = threading.Event()

    def stopped() -> bool:
        return stop.is_set() or (cancelled is not None and cancelled())

    # Hashing and loading both read the whole file: side by side they cost the time of one.
    with ThreadPoolExecutor(1, thread_name_prefix="sleepvit-hash") as pool:
        hashing = pool.submit(identify_recording, path, stopped)
        try:
            study = load_study(path, channel_map=channel_map)
        except BaseException:
            stop.set()
            raise
        identity = hashing.result()
    sidecar = open_sidecar(path, identity)
    try:
        stored = sidecar.setting(CHANNEL_MAP)
        if request.channel_map is None and stored != channel_map:
            # The map peeked at was not this review's (e.g. it lives in the user data folder).
            study = load_study(path, channel_map=stored)
    except BaseException:
        sidecar.close()
        raise
    try:
        if request.channel_map is not None:
            sidecar.set_setting(CHANNEL_MAP, request.channel_map)
        notes = [f"recording: {warning}" for warning in study.warnings]
        if sidecar.where != NEXT_TO_RECORDING:
            why = f" ({sidecar.note})" if sidecar.note else ""
            notes.append(f"review file: {sidecar.path}{why}")
        model_config, model_note = _model_render_config(request.weights)
        notes += [model_note] if model_note else []
        ai = _stored_ai(sidecar, study)
        kept = ai is not None
        explanation = _stored_explanation(sidecar, study, ai) if kept else None
        if ai is None:
            ai, passed_over = find_scored_outputs(study, request.scored_folders)
            notes += passed_over
        if explanation is None:
            explanation, found_at, passed_over = find_explanation(study, ai, request.scored_folders)
            notes += passed_over
            if explanation is not None:
                if ai is None:  # STEM.relevance.npz alone carries the whole AI scoring
                    ai = ai_from_explanation(explanation, found_at, study)
                sidecar.save_explanation(to_bytes(explanation))
        if ai is not None and not kept:
            sidecar.save_ai_scoring(ai.stages, ai.probabilities, ai.epoch_vit, ai.info)
        reference, reference_notes = find_reference(study)
        notes += reference_notes
    except BaseException:
        sidecar.close()
        raise
    return OpenedStudy(study, identity, sidecar, model_config, ai, reference, notes, explanation)


def _stored_ai(sidecar, study) -> AiScoring | None:
    """The AI scoring the review started from, if it was made from today's channels."""
    stored = sidecar.load_ai_scoring()
    if stored is None:
        return None
    stages, probabilities, epoch_vit, info = stored
    channels = {slot: signal.label for slot, signal in study.signals.items()}
    if len(stages) != study.n_epochs or info.get("channels", channels) != channels:
        sidecar.forget_ai_scoring()
        sidecar.forget_explanation()
        return None
    return AiScoring(stages, probabilities, epoch_vit, info)


def _stored_explanation(sidecar, study, ai: AiScoring) -> NightExplanation | None:
    """The explanation kept with the AI scoring the review started from, if it still fits."""
    content = sidecar.load_explanation()
    if content is None:
        return None
    try:
        night = from_bytes(content, sidecar.path)
    except SleepVitError:
        night = None
    if night is None or mismatch(night, study, ai):
        sidecar.forget_explanation()
        return None
    return night


def _model_render_config(weights: Path | None) -> tuple[RenderConfig, str]:
    from sleepvit.models.artifacts import default_weights_dir, read_config

    try:
        model = read_config(weights or default_weights_dir()).render_config
        # The technician reads the physical scale (N3 is > 75 µV) whatever scale the model reads.
        return replace(model, calibration="physical"), ""
    except SleepVitError as exc:
        return RenderConfig(), f"model: {exc}; the screen uses the default display"

"""SleepViT's own JSON scoring: stages, start, epoch length, probabilities, reasons, metadata."""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path

import numpy as np

from sleepvit.errors import HypnogramError
from sleepvit.hypnogram import Hypnogram
from sleepvit.io.hypnograms.fields import stage_code
from sleepvit.slots import EPOCH_SECONDS

JSON_FORMAT = "sleepvit-hypnogram"


def read_json(path: Path) -> Hypnogram:
    """A SleepViT JSON scoring, or a bare JSON list of stages."""
    try:
        content = json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HypnogramError(f"is not valid JSON ({exc}); re-export the scoring", path) from None
    if isinstance(content, list):
        content = {"stages": content}
    if not isinstance(content, dict) or not isinstance(content.get("stages"), list):
        raise HypnogramError(
            f"is JSON without a 'stages' list; write it with SleepViT ({JSON_FORMAT})", path
        )
    stages = [stage_code(str(s), i + 1, path) for i, s in enumerate(content["stages"])]
    probabilities = content.get("probabilities")
    if probabilities is not None:
        probabilities = np.array(
            [[math.nan if p is None else p for p in row] for row in probabilities], np.float32
        )
    try:
        start = datetime.fromisoformat(content["start"]) if content.get("start") else None
        hyp = Hypnogram(
            stages,
            start=start,
            probabilities=probabilities,
            epoch_s=float(content.get("epoch_s", EPOCH_SECONDS)),
            offset_s=float(content.get("offset_s", 0.0)),
            metadata=dict(content.get("metadata") or {}),
            reasons=content.get("reasons"),
        )
    except (TypeError, ValueError) as exc:
        raise HypnogramError(f"has an invalid field ({exc}); re-export the scoring", path) from exc
    hyp.metadata.update(format="json", source=str(path))
    return hyp


def json_text(hyp: Hypnogram, ai: Hypnogram | None = None) -> str:
    """``hyp`` as SleepViT JSON (:data:`JSON_FORMAT`, version 1); ``ai_stages`` when the AI's
    stages ``ai`` are given."""
    content = {
        "format": JSON_FORMAT,
        "version": 1,
        "start": hyp.start.isoformat() if hyp.start is not None else None,
        "epoch_s": hyp.epoch_s,
        "offset_s": hyp.offset_s,
        "stages": hyp.names(),
        "probabilities": None
        if hyp.probabilities is None
        else [[_json_probability(p) for p in row] for row in hyp.probabilities],
        "reasons": hyp.reasons,
        "metadata": hyp.metadata,
    }
    if ai is not None:
        content["ai_stages"] = ai.names()
    return json.dumps(content, indent=1, default=str) + "\n"


def _json_probability(value: float) -> float | None:
    return None if math.isnan(value) else round(float(value), 6)

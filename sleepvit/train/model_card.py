"""``MODEL_CARD.md`` of a weights folder, written from measured numbers only.

The card is generated, never hand-edited, so its metrics are exactly those that
``sleepvit evaluate`` reproduces: the evaluation of held-out nights plus what training
recorded in ``config.json`` (data, options, validation and calibration numbers).
"""

from __future__ import annotations

import json
from pathlib import Path

from sleepvit.bench import markdown_table
from sleepvit.evaluate import format_score
from sleepvit.hypnogram import STAGES
from sleepvit.io.atomic import atomic_open
from sleepvit.models.uncertainty import UncertaintyCalibration

CARD_FILE = "MODEL_CARD.md"

DISCLAIMER = (
    "**Demonstration weights trained on simulated PSG, not validated on patients.** They show "
    "how SleepViT works end to end; their numbers describe simulated nights only. Train on "
    "your lab's scored studies (`sleepvit train`) before any clinical use, and have every "
    "scoring reviewed by a qualified sleep technician."
)


def _metrics_table(evaluation: dict) -> list[str]:
    rows = [
        "| output | κ | macro-F1 | accuracy | " + " | ".join(f"F1 {s}" for s in STAGES) + " |",
        "|---|---:|---:|---:|" + "---:|" * len(STAGES),
    ]
    names = {"epoch_vit": "EpochViT alone", "with_sequence": "EpochViT + sequence"}
    for key, name in names.items():
        m = evaluation[key]
        scores = [m["kappa"], m["macro_f1"], m["accuracy"]] + [
            m["per_stage"][s]["f1"] for s in STAGES
        ]
        rows.append(f"| {name} | " + " | ".join(format_score(v) for v in scores) + " |")
    return rows


AASM_FEATURES = {
    "W": ("EEG_O", "EOG_L", "EOG_R", "EMG_CHIN"),
    "N1": ("EEG_C", "EEG_O", "EOG_L", "EOG_R"),
    "N2": ("EEG_C", "EEG_F"),
    "N3": ("EEG_F",),
    "REM": ("EOG_L", "EOG_R", "EMG_CHIN"),
}
"""Where the AASM rules look for each stage: occipital alpha, blinks and chin tone in W; theta,
vertex waves and slow eye movements in N1; central spindles and K-complexes in N2; frontal slow
waves in N3; rapid eye movements and low chin tone in REM."""
AASM_TEXT = {
    "W": "occipital alpha, blinks, chin tone",
    "N1": "theta, vertex waves, slow eye movements",
    "N2": "central spindles, K-complexes",
    "N3": "frontal slow waves > 75 µV",
    "REM": "rapid eye movements, low chin tone",
}


def _relevance_section(evaluation: dict) -> list[str]:
    """What drives each stage on the held-out nights, set against the AASM rules."""
    tables = evaluation.get("relevance_by_stage")
    if not tables:
        return []
    lines = [
        "## What drives each stage",
        "",
        "Mean share of EpochViT's relevance per signal over the held-out epochs of each true "
        "stage, set against where the AASM rules look (`sleepvit evaluate … --model-card` "
        "recomputes it with the weights). *gradient*: gradient-weighted attention of the stage "
        "chosen (Chefer et al. 2021), on every 10th epoch; *rollout*: what the CLS token read, "
        "whatever the stage, on every epoch. Slots a montage lacks count as 0.",
        "",
    ]
    for method in ("gradient", "rollout"):
        if method not in tables:
            continue
        lines += [
            f"| {method} | epochs | top signals (share of relevance) | AASM looks at | "
            "AASM in top 3 |",
            "|---|---:|---|---|---:|",
        ]
        for stage, shares in tables[method].items():
            ranked = sorted(((v, k) for k, v in shares.items() if k != "epochs"), reverse=True)
            expected = AASM_FEATURES[stage]
            hits = sum(slot in expected for _, slot in ranked[:3])
            listed = ", ".join(f"{slot} {share:.0%}" for share, slot in ranked[:3])
            lines.append(
                f"| {stage} | {shares['epochs']} | {listed} | {AASM_TEXT[stage]} | "
                f"{hits} of {min(3, len(expected))} |"
            )
        lines.append("")
    return lines


def _recording_lines(config: dict) -> list[str]:
    """How the training nights were recorded and what scale the model reads (when known)."""
    lines = [
        "- Every night recorded with settings drawn per night and per channel from the "
        "training ranges of `sleepvit.synth.families` (EEG/EOG/EMG rate 100–256 Hz, gain "
        "×0.6–1.6 per channel, polarity flips, optional high-pass 0.05–0.3 Hz and low-pass "
        "40–70 Hz, 1/f noise ≤ 3 µV, scalp EMG ≤ 5 %, mains ≤ 3 µV)."
    ]
    if config.get("render_config", {}).get("calibration") == "night":
        lines.append(
            "- Input calibration `night`: EEG, EOG and chin-EMG rows are drawn for the model at a "
            "scale set by the night's own level (75th percentile of the epochs' RMS); the "
            "technician's screen keeps the physical scale, and each night's summary says the "
            "factors applied."
        )
    return lines


def _generalisation_section(results: dict | None) -> list[str]:
    """The held-out-family table of ``sleepvit bench generalisation`` (when it was recorded)."""
    if not results:
        return []
    rows = [
        [
            r["family"],
            format_score(r["sleepvit"]["kappa"]),
            format_score(r["sleepvit"]["macro_f1"]),
            format_score(r["yasa_kappa"]),
            format_score(r["gssc_kappa"]),
        ]
        for r in results["families"]
    ]
    summary = results["summary"]
    rows.append(
        [
            "**mean of held-out families**",
            format_score(summary["sleepvit_kappa"]),
            format_score(summary["sleepvit_macro_f1"]),
            format_score(summary["yasa_kappa"]),
            format_score(summary["gssc_kappa"]),
        ]
    )
    sweep = results["gain_sweep"]
    gains = ", ".join(f"×{g} {format_score(v['mean_kappa'])}" for g, v in sweep.items())
    worst = max(v["worst_abs_delta"] for v in sweep.values())
    return [
        f"## Held-out recording families ({results['nights_per_family']} simulated night(s) "
        f"× {results['hours']:g} h each)",
        "",
        "Nights recorded with settings the training corpus never uses (their seeds, from "
        "6,000,000, are refused by the corpus), scored by these weights (onnx-int8) and by "
        "YASA 0.8.1 and GSSC 0.0.9, which were trained on real PSG, in the same run "
        "(`sleepvit bench generalisation`). Simulated nights: not clinical accuracy.",
        "",
        markdown_table(
            [
                ("family", "l"),
                ("SleepViT κ", "r"),
                ("macro-F1", "r"),
                ("YASA κ", "r"),
                ("GSSC κ", "r"),
            ],
            rows,
        ),
        "",
        f"Gain sweep (every channel of every held-out night × gain, mean κ): {gains}; the "
        f"largest change of one family's κ is {worst:.3f}.",
        "",
    ]


def model_card(
    config: dict, evaluation: dict, uncertainty: UncertaintyCalibration | None = None
) -> str:
    """Markdown of the card from a weights ``config.json`` and an ``evaluation.json`` (and the
    folder's :class:`~sleepvit.models.uncertainty.UncertaintyCalibration`, when calibrated).

    Examples
    --------
    >>> stage = {"f1": 0.8}
    >>> m = {"kappa": 0.7, "macro_f1": 0.6, "accuracy": 0.8, "n_epochs": 100,
    ...      "per_stage": {s: stage for s in STAGES}}
    >>> config = {"name": "demo", "version": "0.1.0", "temperature": 1.3,
    ...           "epoch_vit": {"dim": 128}, "sequence": {"context": 21}, "training": {}}
    >>> card = model_card(config, {"epoch_vit": m, "with_sequence": m, "n_nights": 2,
    ...                            "ece": 0.05, "data": "corpus", "split": "test"})
    >>> "not validated on patients" in card and "| EpochViT + sequence | 0.700" in card
    True
    """
    training = config.get("training", {})
    options = training.get("config", {})
    validation = training.get("validation", {})
    nights = training.get("nights", {})
    vit, seq = config["epoch_vit"], config["sequence"]
    lines = [
        f"# Model card: {config['name']} (SleepViT {config['version']})",
        "",
        DISCLAIMER,
        "",
        "## Intended use",
        "",
        "Automatic sleep staging (W, N1, N2, N3, REM per 30-s epoch, AASM) of overnight PSG "
        "as a first pass for a sleep technician, who reviews it — starting with the epochs of "
        "lowest confidence. Not a diagnostic device; not for children, not for recordings "
        "without EEG.",
        "",
        "## Training data",
        "",
        f"- Data set: `{training.get('data', 'unknown')}` — {nights.get('train', '?')} training "
        f"and {nights.get('val', '?')} validation nights, split by subject.",
        "- Simulated nights (`sleepvit simulate-corpus`) mix hospital-style PSG and "
        "Sleep-EDF-style recordings, and hospital montages lacking slots (no occipital EEG, "
        "one EOG, no ECG/breathing, minimal EEG/EOG/EMG, a single EEG channel). Test nights "
        "use seeds never used in training.",
        *_recording_lines(config),
        f"- Training options: `{json.dumps(options, sort_keys=True)}`",
    ]
    if training.get("command"):
        lines.append(f"- Command: `{training['command']}`")
    lines += [
        "",
        "## Architecture",
        "",
        f"- EpochViT: one 16 × 16 patch per signal row × 2 s (165 tokens), slot + time "
        f"embeddings, absent slots masked; dim {vit.get('dim')}, depth {vit.get('depth')}, "
        f"heads {vit.get('heads')}.",
        f"- SequenceTransformer over {seq.get('context')} consecutive epoch embeddings "
        f"(dim {seq.get('dim')}, depth {seq.get('depth')}); stride-1 windows, averaged.",
        f"- Calibration: temperature {config.get('temperature', 1.0):.3f} fitted on the "
        "validation nights.",
        "",
        f"## Metrics on {evaluation['n_nights']} held-out nights "
        f"(`{evaluation.get('data')}`, split {evaluation.get('split')})",
        "",
        *_metrics_table(evaluation),
        "",
        f"Epochs pooled over nights: {evaluation['with_sequence']['n_epochs']}. Reproduce with "
        f"`sleepvit evaluate WEIGHTS --data {evaluation.get('data')} "
        f"--split {evaluation.get('split')}`.",
        "",
        "## Calibration",
        "",
        "| | ECE (15 bins) |",
        "|---|---:|",
        f"| validation, before scaling | {format_score(validation.get('ece_before'))} |",
        f"| validation, after scaling | {format_score(validation.get('ece_after'))} |",
        f"| held-out nights, as shipped | {format_score(evaluation.get('ece'))} |",
        "",
        *uncertainty_section(uncertainty),
        *_relevance_section(evaluation),
        *_generalisation_section(training.get("generalisation")),
        "## Limits",
        "",
        "- **These numbers say nothing about clinical accuracy.** Simulated stages are far "
        "more separable than real ones: every simulated epoch shows its stage's textbook "
        "features, while real N1/W and N1/N2 boundaries are ambiguous enough that two "
        "technicians agree on only ~82 % of epochs (κ ≈ 0.76) and the best published models "
        "reach κ ≈ 0.74–0.79 on Sleep-EDF-78. Expect far lower agreement on real PSG.",
        "- Trained on simulated signals: real recordings have artefacts, pathologies "
        "(apnoea, PLMs, medication effects) and montages the simulator does not produce.",
        "- One scorer's convention (the simulator's truth), not a consensus of technicians.",
        "- Inputs must be drawn with the render config in `config.json`; other drawings are "
        "refused.",
        "",
    ]
    return "\n".join(lines)


def uncertainty_section(uncertainty: UncertaintyCalibration | None) -> list[str]:
    """The card's lines on what ``sleepvit calibrate`` fitted (none for an uncalibrated folder).

    >>> fitted = UncertaintyCalibration(2.8, 1.4, 15.5, 18.5, {"calibration_nights": ["a"]})
    >>> uncertainty_section(fitted)[0]
    '## Confidence and out-of-distribution warning (`sleepvit calibrate`)'
    """
    if uncertainty is None:
        return []
    fitted = uncertainty.fitted_on
    sequence = fitted.get("sequence", {})
    return [
        "## Confidence and out-of-distribution warning (`sleepvit calibrate`)",
        "",
        f"Fitted on {len(fitted.get('calibration_nights', []))} calibration nights "
        f"(`{fitted.get('calibration')}`, never test nights) and "
        f"{fitted.get('reference_nights', '—')} training nights (`{fitted.get('reference')}`, "
        "the training-embedding reference). Rerun `sleepvit calibrate` whenever the weights "
        "change.",
        "",
        "| | value |",
        "|---|---:|",
        f"| sequence temperature (replaces the training one) | "
        f"{uncertainty.sequence_temperature:.3f} |",
        f"| ECE on the calibration nights, before → after | "
        f"{format_score(sequence.get('ece_before'))} → {format_score(sequence.get('ece_after'))} |",
        f"| EpochViT temperature | {uncertainty.epoch_vit_temperature:.3f} |",
        f"| OOD night threshold (median embedding distance) | "
        f"{uncertainty.ood_night_threshold:.2f} |",
        f"| OOD epoch threshold (99th percentile of training epochs) | "
        f"{uncertainty.ood_epoch_threshold:.2f} |",
        "",
    ]


def record_generalisation(weights: str | Path, results: dict) -> Path:
    """Keep ``sleepvit bench generalisation`` results in ``weights/config.json`` (provenance),
    where the next ``sleepvit evaluate --model-card`` puts them into the card."""
    path = Path(weights) / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config.setdefault("training", {})["generalisation"] = results
    with atomic_open(path, "w", encoding="utf-8") as handle:
        json.dump(config, handle, indent=2, sort_keys=True)
    return path


def write_model_card(weights: str | Path, evaluation: dict) -> Path:
    """Write ``weights/MODEL_CARD.md`` from its ``config.json``, ``uncertainty.json`` (when
    calibrated) and ``evaluation``."""
    weights = Path(weights)
    config = json.loads((weights / "config.json").read_text(encoding="utf-8"))
    path = weights / CARD_FILE
    with atomic_open(path, "w", encoding="utf-8") as handle:
        handle.write(model_card(config, evaluation, UncertaintyCalibration.load(weights)))
    return path

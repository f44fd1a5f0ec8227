"""``sleepvit bench generalisation``: agreement on nights recorded unlike the training corpus.

For every held-out recording family of :mod:`sleepvit.synth.families` (plus one
in-distribution row, recorded with the training ranges on a corpus *test* seed), ``--nights``
nights of ``--hours`` are simulated and scored by SleepViT (``--weights``, onnx-int8), YASA
and GSSC in the same run (see :mod:`sleepvit.bench.peers`; GSSC runs out of process while
SleepViT and YASA score). Reported per family: SleepViT's Cohen's κ (and EpochViT's alone,
without the sequence model), macro-F1 and per-stage F1 against the simulator's true stages,
and YASA's and GSSC's κ, which double as the simulator's realism meter (models trained on
real PSG recognising our stages).

Beside κ, what the technician's review would cost (issue "confidence a technician can act
on"): the share of epochs to correct, most doubtful first by the review queue's ranking
(:data:`sleepvit.explain.review.DEFAULT_RANKING`), before the night reaches κ 0.80 and 0.90;
the sequence model's calibration error (ECE); and how many of the family's nights the
out-of-distribution warning (:mod:`sleepvit.models.ood`) fires on. The warning should fire
where κ < 0.5 and stay quiet where κ ≥ 0.7: both rates are reported over the nights.

Then the gain sweep: every channel of every held-out night multiplied by one factor from
0.5 to 2, as another amplifier calibration or derivation would, and SleepViT's κ at each
(goal: within 0.05 of ×1).

These are simulated nights: the numbers rank training choices, they are not clinical
accuracy. ``--workdir`` keeps the nights and the peers' stages, so a second run with other
weights scores the same nights and only re-runs SleepViT.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from sleepvit.bench import machine_description, markdown_table, work_folder, write_results
from sleepvit.hypnogram import STAGES
from sleepvit.metrics.agreement import agreement
from sleepvit.metrics.calibration import expected_calibration_error
from sleepvit.metrics.review_efficiency import KAPPA_GOALS, goal_key, review_table

OOD_SHOULD_FIRE_BELOW = 0.5
OOD_SHOULD_STAY_QUIET_FROM = 0.7

GAINS = (0.5, 0.7, 1.0, 1.4, 2.0)
GAIN_GOAL = 0.05
IN_DISTRIBUTION = "in-distribution"
IN_DISTRIBUTION_SEED = 29_000
"""Seeds of the in-distribution row: inside the corpus's test range (21000+), never trained on."""
_SCALED_SLOTS = ("EEG_F", "EEG_C", "EEG_O", "EOG_L", "EOG_R", "EMG_CHIN", "ECG")


@dataclasses.dataclass
class FamilyNight:
    family: str
    edf: Path
    truth: np.ndarray


def _nights(folder: Path, nights: int, hours: float) -> list[FamilyNight]:
    """Simulate (or reuse from ``folder``) every family's nights."""
    from sleepvit.io.hypnograms import read_hypnogram
    from sleepvit.synth import write_night
    from sleepvit.synth.families import (
        HELD_OUT_FAMILIES,
        simulate_family_night,
        simulate_training_night,
    )

    plan = [(IN_DISTRIBUTION, i) for i in range(nights)]
    plan += [(f.name, i) for f in HELD_OUT_FAMILIES for i in range(nights)]
    out = []
    for name, i in plan:
        edf = folder / f"{name}-{i}-{hours:g}h.edf"
        hypnogram = edf.with_name(f"{edf.stem}-Hypnogram.edf")
        if not (edf.is_file() and hypnogram.is_file()):
            if name == IN_DISTRIBUTION:
                night = simulate_training_night(IN_DISTRIBUTION_SEED + i, hours)
            else:
                night = simulate_family_night(name, i, hours)
            write_night(night, edf)
        out.append(FamilyNight(name, edf, read_hypnogram(hypnogram).stages))
    return out


def _peer_jobs(nights: list[FamilyNight]):
    import pyedflib

    from sleepvit.bench.peers import PeerChannels

    jobs = []
    for night in nights:
        with pyedflib.EdfReader(str(night.edf)) as reader:
            labels = reader.getSignalLabels()
            rates = [reader.getSampleFrequency(i) for i in range(len(labels))]
        jobs.append(PeerChannels.choose(labels, rates))
    return jobs


def _cached_peer(folder: Path, tool: str, nights: list[FamilyNight], run) -> list:
    """Stage codes of ``tool`` per night, from ``folder`` when a previous run kept them."""
    cache = folder / f"{tool}-stages.json"
    known = json.loads(cache.read_text()) if cache.is_file() else {}
    missing = [n for n in nights if n.edf.name not in known]
    if missing:
        for night, stages in zip(missing, run(missing), strict=True):
            known[night.edf.name] = None if stages is None else np.asarray(stages).tolist()
        cache.write_text(json.dumps(known))
    return [None if known[n.edf.name] is None else np.array(known[n.edf.name]) for n in nights]


def _sleepvit(nights: list[FamilyNight], weights) -> dict:
    """SleepViT's stages per night and gain."""
    from sleepvit.explain.review import doubt
    from sleepvit.io import load_study
    from sleepvit.models.backends import load_backend
    from sleepvit.pipeline import score_study

    scorer = load_backend(weights, "onnx-int8", threads=1)
    stages: dict[str, list] = {f"x{g:g}": [] for g in GAINS} | {"epoch_vit": []}
    seconds, doubts, sequence, ood_fired = [], [], [], []
    for night in nights:
        study = load_study(night.edf)
        for gain in GAINS:
            if gain != 1.0 and night.family == IN_DISTRIBUTION:
                stages[f"x{gain:g}"].append(None)
                continue
            started = time.perf_counter()
            hypnogram, scores = score_study(study.with_gain(gain, _SCALED_SLOTS), scorer)
            if gain == 1.0:
                seconds.append(time.perf_counter() - started)
                alone = np.nan_to_num(scores.epoch_vit, nan=-1.0).argmax(axis=1)
                stages["epoch_vit"].append(np.where(hypnogram.stages >= 0, alone, -1))
                doubts.append(doubt(scores.sequence, scores.epoch_vit))
                sequence.append(scores.sequence)
                verdict = hypnogram.metadata.get("ood")
                ood_fired.append(None if verdict is None else bool(verdict["fired"]))
            stages[f"x{gain:g}"].append(hypnogram.stages)
    return {
        "stages": stages,
        "seconds": seconds,
        "model": scorer.model_name,
        "doubt": doubts,
        "sequence": sequence,
        "ood_fired": ood_fired,
    }


def _review(nights: list[FamilyNight], ours: dict, families: list[str]) -> dict:
    """Per family: the review-efficiency table's row, the sequence model's ECE and the
    nights the OOD warning fired on; then the warning's hit and quiet rates over the held-out
    nights."""
    night_sets: dict[str, list] = {name: [] for name in families}
    probabilities: dict[str, list] = {name: [] for name in families}
    fired: dict[str, list] = {name: [] for name in families}
    warning_nights = []
    for i, night in enumerate(nights):
        predicted = ours["stages"]["x1"][i]
        n = min(night.truth.size, predicted.size)
        truth = night.truth[:n]
        night_sets[night.family].append((truth, predicted[:n], ours["doubt"][i][:n]))
        probabilities[night.family].append((np.nan_to_num(ours["sequence"][i][:n]), truth))
        if ours["ood_fired"][i] is not None:
            fired[night.family].append(ours["ood_fired"][i])
            if night.family != IN_DISTRIBUTION:
                warning_nights.append((_kappa(truth, predicted[:n]), ours["ood_fired"][i]))
    table = review_table(night_sets)
    out = {}
    for name in families:
        p = np.concatenate([q for q, _ in probabilities[name]])
        y = np.concatenate([t for _, t in probabilities[name]])
        scored = p.sum(axis=1) > 0  # UNS epochs: NaN probabilities, zeros here
        out[name] = {
            **{goal_key(g): table[name][goal_key(g)] for g in KAPPA_GOALS},
            "ece": expected_calibration_error(p[scored], y[scored]),
            "ood_fired_nights": sum(fired[name]) if fired[name] else None,
            "ood_nights": len(fired[name]),
        }
    bad = [f for k, f in warning_nights if k < OOD_SHOULD_FIRE_BELOW]
    good = [f for k, f in warning_nights if k >= OOD_SHOULD_STAY_QUIET_FROM]
    rates = {
        "fires_where_kappa_below_0_5": f"{sum(bad)}/{len(bad)}" if bad else None,
        "quiet_where_kappa_from_0_7": f"{len(good) - sum(good)}/{len(good)}" if good else None,
    }
    return {"families": out, "pooled": table["pooled"], "ood": rates}


def _kappa(truth: np.ndarray, stages: np.ndarray | None) -> float | None:
    if stages is None:
        return None
    n = min(truth.size, stages.size)
    return agreement(truth[:n], stages[:n])["kappa"]


def _pooled(nights: list[FamilyNight], stages: list, family: str) -> dict | None:
    pairs = [
        (n.truth, s)
        for n, s in zip(nights, stages, strict=True)
        if n.family == family and s is not None
    ]
    if not pairs:
        return None
    truth = np.concatenate([t[: min(t.size, s.size)] for t, s in pairs])
    pred = np.concatenate([s[: min(t.size, s.size)] for t, s in pairs])
    return agreement(truth, pred)


def _cell(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def run(args: argparse.Namespace) -> int:
    from sleepvit.bench.peers import gssc_stages, yasa_stages
    from sleepvit.explain.review import DEFAULT_RANKING
    from sleepvit.synth.families import FAMILIES

    hours, n_nights = args.hours, args.nights
    started = time.perf_counter()
    with work_folder(args.workdir, "sleepvit-generalisation-") as folder:
        nights = _nights(folder, n_nights, hours)
        jobs = _peer_jobs(nights)
        by_edf = {n.edf: job for n, job in zip(nights, jobs, strict=True)}
        with ThreadPoolExecutor(max_workers=1) as pool:
            gssc_future = pool.submit(
                _cached_peer,
                folder,
                "gssc",
                nights,
                lambda todo: gssc_stages([(n.edf, by_edf[n.edf]) for n in todo], args.peers_python),
            )
            ours = _sleepvit(nights, args.weights)
            yasa = _cached_peer(
                folder,
                "yasa",
                nights,
                lambda todo: [yasa_stages(n.edf, by_edf[n.edf]) for n in todo],
            )
            gssc = gssc_future.result()

    families = list(dict.fromkeys(n.family for n in nights))
    review = _review(nights, ours, families)
    rows, review_rows, family_results = [], [], []
    for name in families:
        ours_m = _pooled(nights, ours["stages"]["x1"], name)
        alone_m = _pooled(nights, ours["stages"]["epoch_vit"], name)
        yasa_m, gssc_m = _pooled(nights, yasa, name), _pooled(nights, gssc, name)
        per_stage = {s: ours_m["per_stage"][s]["f1"] for s in STAGES}
        entry = {
            "family": name,
            "held_out": name != IN_DISTRIBUTION,
            "description": FAMILIES["training" if name == IN_DISTRIBUTION else name].description,
            "epochs": ours_m["n_epochs"],
            "sleepvit": {"kappa": ours_m["kappa"], "macro_f1": ours_m["macro_f1"], "f1": per_stage},
            "epoch_vit_alone_kappa": alone_m["kappa"],
            "yasa_kappa": yasa_m["kappa"] if yasa_m else None,
            "gssc_kappa": gssc_m["kappa"] if gssc_m else None,
            "review": review["families"][name],
        }
        family_results.append(entry)
        r = review["families"][name]
        review_rows.append(
            [
                name,
                _cell(ours_m["kappa"]),
                *[f"{100 * r[goal_key(g)]:.0f} %" for g in KAPPA_GOALS],
                f"{r['ece']:.3f}",
                "—"
                if r["ood_fired_nights"] is None
                else f"{r['ood_fired_nights']}/{r['ood_nights']}",
            ]
        )
        rows.append(
            [
                name,
                str(entry["epochs"]),
                _cell(ours_m["kappa"]),
                _cell(alone_m["kappa"]),
                _cell(ours_m["macro_f1"]),
                *[_cell(per_stage[s]) for s in STAGES],
                _cell(entry["yasa_kappa"]),
                _cell(entry["gssc_kappa"]),
            ]
        )
    held = [r for r in family_results if r["held_out"]]

    def mean(values):
        values = [v for v in values if v is not None]
        return float(np.mean(values)) if values else None

    summary = {
        "sleepvit_kappa": mean(r["sleepvit"]["kappa"] for r in held),
        "sleepvit_macro_f1": mean(r["sleepvit"]["macro_f1"] for r in held),
        "epoch_vit_alone_kappa": mean(r["epoch_vit_alone_kappa"] for r in held),
        "yasa_kappa": mean(r["yasa_kappa"] for r in held),
        "gssc_kappa": mean(r["gssc_kappa"] for r in held),
        "families_at_or_above_yasa": sum(
            r["sleepvit"]["kappa"] >= (r["yasa_kappa"] or -1) for r in held
        ),
    }
    rows.append(
        [
            f"**mean of {len(held)} held-out**",
            str(sum(r["epochs"] for r in held)),
            _cell(summary["sleepvit_kappa"]),
            _cell(summary["epoch_vit_alone_kappa"]),
            _cell(summary["sleepvit_macro_f1"]),
            *[_cell(mean(r["sleepvit"]["f1"][s] for r in held)) for s in STAGES],
            _cell(summary["yasa_kappa"]),
            _cell(summary["gssc_kappa"]),
        ]
    )

    held_names = [n for n in families if n != IN_DISTRIBUTION]
    sweep = {}
    for gain in GAINS:
        kappas = [_pooled(nights, ours["stages"][f"x{gain:g}"], n)["kappa"] for n in held_names]
        sweep[gain] = {
            "mean_kappa": float(np.mean(kappas)),
            "per_family": dict(zip(held_names, kappas, strict=True)),
        }
    reference = sweep[1.0]["per_family"]
    worst = {
        g: max(abs(v - reference[n]) for n, v in sweep[g]["per_family"].items()) for g in GAINS
    }

    columns = [("family", "l"), ("epochs", "r"), ("SleepViT κ", "r"), ("EpochViT alone κ", "r")]
    columns += [("macro-F1", "r")] + [(f"F1 {s}", "r") for s in STAGES]
    columns += [("YASA κ", "r"), ("GSSC κ", "r")]
    print(
        f"# sleepvit bench generalisation — {ours['model']} (onnx-int8), {n_nights} night(s) × "
        f"{hours:g} h per family, {time.perf_counter() - started:.0f} s\n"
        f"# {machine_description()}\n"
    )
    print(markdown_table(columns, rows))
    print(
        f"\nReview ({DEFAULT_RANKING} first), calibration and the OOD warning "
        "(fired on nights of the family):\n"
    )
    print(
        markdown_table(
            [("family", "l"), ("SleepViT κ", "r")]
            + [(f"review for κ {g:.2f}", "r") for g in KAPPA_GOALS]
            + [("ECE", "r"), ("OOD warning", "r")],
            review_rows,
        )
    )
    ood = review["ood"]
    print(
        f"\nOOD warning, held-out nights: fires on {ood['fires_where_kappa_below_0_5'] or 'no'} "
        "nights with "
        f"κ < {OOD_SHOULD_FIRE_BELOW}, quiet on {ood['quiet_where_kappa_from_0_7'] or 'no'} "
        f"nights with κ ≥ {OOD_SHOULD_STAY_QUIET_FROM}"
        + (
            ""
            if any(r["ood_nights"] for r in review["families"].values())
            else " (these weights carry no uncertainty.json: run sleepvit calibrate)"
        )
    )
    print("\nGain sweep (every channel of every held-out night × gain; SleepViT κ):\n")
    print(
        markdown_table(
            [("gain", "r"), ("mean κ", "r"), ("Δ mean κ vs ×1", "r"), ("worst family |Δκ|", "r")],
            [
                [
                    f"×{g:g}",
                    f"{sweep[g]['mean_kappa']:.2f}",
                    f"{sweep[g]['mean_kappa'] - sweep[1.0]['mean_kappa']:+.2f}",
                    f"{worst[g]:.2f}",
                ]
                for g in GAINS
            ],
        )
    )
    goal_met = max(worst.values()) <= GAIN_GOAL
    print(
        f"\ngain goal (every family within {GAIN_GOAL} κ of ×1): {'met' if goal_met else 'not met'}"
    )
    results = {
        "machine": machine_description(),
        "model": ours["model"],
        "nights_per_family": n_nights,
        "hours": hours,
        "families": family_results,
        "summary": summary,
        "review_pooled": {k: v for k, v in review["pooled"].items() if k != "curve"},
        "ood_warning": review["ood"],
        "gain_sweep": {f"{g:g}": sweep[g] | {"worst_abs_delta": worst[g]} for g in GAINS},
        "sleepvit_seconds_per_night": ours["seconds"],
    }
    write_results(args.json, results)
    if args.model_card:
        from sleepvit.models.artifacts import default_weights_dir
        from sleepvit.train.model_card import record_generalisation

        path = record_generalisation(args.weights or default_weights_dir(), results)
        print(f"recorded in {path}; 'sleepvit evaluate WEIGHTS … --model-card' writes the card")
    return 0

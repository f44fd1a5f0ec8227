"""``sleepvit`` command line: one subcommand per job.

Heavy modules are imported inside each handler so that ``sleepvit --help`` is instant
and the scoring runtime never imports torch unless a command asks for it. Library errors say
what is wrong and how to fix it in words; the settings that fix one
(:attr:`~sleepvit.errors.SleepVitError.settings`) are named here by their flags.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from sleepvit import __version__
from sleepvit.errors import SleepVitError
from sleepvit.models.backends import BACKEND_NAMES

# Options several subcommands share, declared once (argparse parents).
CHANNEL_MAP = argparse.ArgumentParser(add_help=False)
CHANNEL_MAP.add_argument("--channel-map", metavar="JSON", help="JSON file mapping slots to labels")
DATA_SET = argparse.ArgumentParser(add_help=False)
DATA_SET.add_argument(
    "--data", required=True, help="folder of EDF + hypnogram files, or manifest CSV"
)
SPLIT = argparse.ArgumentParser(add_help=False)
SPLIT.add_argument("--split", choices=("train", "val", "test"), help="only this manifest split")


def _add_backend(parser: argparse.ArgumentParser, *flags: str, default: str, help: str) -> None:
    """A choice of model runtime (:data:`~sleepvit.models.backends.BACKEND_NAMES`)."""
    parser.add_argument(*flags or ("--backend",), choices=BACKEND_NAMES, default=default, help=help)


def _cmd_inspect(args: argparse.Namespace) -> int:
    from sleepvit.io import load_study
    from sleepvit.io.inspect import format_inspection

    study = load_study(args.file, channel_map=args.channel_map)
    print(format_inspection(study))
    return 0


def _add_inspect(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "inspect",
        parents=[CHANNEL_MAP],
        help="show a recording's header, channels and the slot mapping chosen",
        description="Show a recording's header, channels, the canonical slot chosen for "
        "each channel and why, its duration and number of 30-s epochs.",
    )
    p.add_argument("file", help="EDF, EDF+ or BDF recording")
    p.set_defaults(handler=_cmd_inspect)


def _cmd_render(args: argparse.Namespace) -> int:
    from sleepvit.io import load_study
    from sleepvit.io.paths import check_output_folder
    from sleepvit.rendering import RenderConfig
    from sleepvit.rendering.export import export_epochs, parse_epochs

    epochs = parse_epochs(args.epochs)
    check_output_folder(args.out)
    study = load_study(args.night, channel_map=args.channel_map)
    config = RenderConfig(notch_hz=args.notch)
    written = export_epochs(study, epochs, args.out, args.size, config)
    print(f"wrote {len(written)} {args.size}-size PNGs to {args.out}")
    return 0


def _add_render(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "render",
        parents=[CHANNEL_MAP],
        help="draw 30-s epochs as the technician screen / model input (PNG)",
        description="Render epochs of a recording as the model sees them (--size model, "
        "176 x 240) or as the technician screen (--size screen, 1920 x 1080) and write "
        "OUT/<stem>_e<epoch>_<size>.png.",
    )
    p.add_argument("night", help="EDF, EDF+ or BDF recording (opened read-only)")
    p.add_argument(
        "--epochs",
        required=True,
        help="epochs counted from 1, as in the hypnogram CSV and report: 100-110, 7, 3,7,9",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--size", choices=("model", "screen"), default="model")
    p.add_argument("--notch", type=float, choices=(50.0, 60.0), help="mains notch in Hz")
    p.set_defaults(handler=_cmd_render)


def _cmd_explain(args: argparse.Namespace) -> int:
    import numpy as np

    from sleepvit.errors import SleepVitError
    from sleepvit.explain import EpochRelevance, NightExplanation, neighbour_relevance, relevance
    from sleepvit.explain.figure import write_explanation_figure
    from sleepvit.io import load_study
    from sleepvit.models.backends import load_backend
    from sleepvit.pipeline import score_study
    from sleepvit.rendering import render_epochs

    study = load_study(args.night, channel_map=args.channel_map)
    epoch = args.epoch - 1
    if not 0 <= epoch < study.n_epochs:
        raise SleepVitError(
            f"has epochs 1-{study.n_epochs}, not {args.epoch}; choose an epoch in that range",
            args.night,
            settings=("epoch",),
        )
    backend = load_backend(args.weights, args.backend)
    hypnogram, scores = score_study(study, backend, relevance=True)
    night = NightExplanation.from_scores(scores, hypnogram.stages, backend, study)
    stage = int(night.stages[epoch])
    print_map = night.scored[epoch]
    if not print_map:  # nothing readable to explain: the screen is drawn without a map
        shown = EpochRelevance(np.zeros_like(night.relevance[epoch]), night.slots, night.epoch_s)
    elif args.method == "rollout":
        shown = night.epoch(epoch)
    else:
        rendered = render_epochs(study, backend.render_config, [epoch])
        grid = relevance(backend, rendered.images, rendered.present, rendered.config, args.method)
        shown = EpochRelevance(grid[0], night.slots, night.epoch_s, args.method)
    neighbours = (
        neighbour_relevance(backend, night.embeddings, epoch, stage, night.scored)
        if print_map
        else None
    )
    path = write_explanation_figure(
        args.out, study, backend.render_config, night, epoch, shown, neighbours
    )
    print(f"wrote {path}")
    if neighbours is None:
        print(f"epoch {args.epoch} was not scored (no readable EEG); the picture has no map")
        return 0
    shares = sorted(shown.per_signal().items(), key=lambda item: -item[1])[:3]
    start, end = shown.top_seconds
    print(
        f"epoch {args.epoch}: {', '.join(f'{slot} {share:.0%}' for slot, share in shares)}; "
        f"strongest patch {shown.top_cell[0]} {start:g}-{end:g} s"
    )
    helpers = ", ".join(f"{e + 1} ({d:+.2f})" for e, d in neighbours.strongest(3, log_odds=True))
    print(f"neighbours that supported it most (change of log-odds): {helpers}")
    return 0


def _add_explain(sub: argparse._SubParsersAction) -> None:
    from sleepvit.explain import METHODS

    p = sub.add_parser(
        "explain",
        parents=[CHANNEL_MAP],
        help="where the model looked in one epoch: a 1920 x 1080 technician picture (PNG)",
        description="Score the night, then draw epoch N as the technician screen with the "
        "relevance of each signal x 2-s patch laid over the signals, the relevance per signal "
        "and per second, the neighbouring epochs that moved the sequence model's decision and "
        "the stage probabilities. gradient (default) and rollout need no torch; ig and "
        "occlusion use captum (train extra).",
    )
    p.add_argument("night", help="EDF, EDF+ or BDF recording (opened read-only)")
    p.add_argument(
        "--epoch", type=int, required=True, metavar="N", help="epoch, counted from 1 as in the CSV"
    )
    p.add_argument(
        "--method",
        choices=METHODS,
        default="gradient",
        help="how relevance is made (default gradient: the stage chosen, no torch needed)",
    )
    p.add_argument("--out", required=True, metavar="FIG.png", help="picture to write")
    p.add_argument("--weights", metavar="DIR", help="weights folder (default: demo weights)")
    _add_backend(p, default="onnx-int8", help="model runtime for scoring and the rollout")
    p.set_defaults(handler=_cmd_explain)


BENCH_TARGETS: dict[str, str] = {
    "models": "sleepvit.bench.models",
    "load": "sleepvit.bench.load",
    "render": "sleepvit.bench.render",
    "hypnograms": "sleepvit.bench.hypnograms",
    "infer": "sleepvit.bench.infer",
    "night": "sleepvit.bench.night",
    "simulate": "sleepvit.bench.simulate",
    "train": "sleepvit.bench.train",
    "gui": "sleepvit.bench.gui",
    "explain": "sleepvit.bench.explain",
    "generalisation": "sleepvit.bench.generalisation",
    "adapt": "sleepvit.bench.adapt",
}
"""Benchmark name -> module whose ``run(args) -> int`` runs it (see ``sleepvit.bench``)."""


def _cmd_bench(args: argparse.Namespace) -> int:
    import importlib

    return importlib.import_module(BENCH_TARGETS[args.target]).run(args)


def _add_bench(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="measure speed and memory (numbers for the README)",
        description="Run a benchmark and print a table of medians and ratios.",
    )
    p.add_argument("target", choices=sorted(BENCH_TARGETS), help="what to measure")
    p.add_argument("--repeat", type=int, default=5, help="timed runs per measurement (median)")
    p.add_argument("--hours", type=float, default=8.0, help="length of the simulated night")
    p.add_argument("--workdir", metavar="DIR", help="keep generated files here (default: temp)")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.add_argument("--weights", metavar="DIR", help="weights folder (infer, night; default: demo)")
    p.add_argument(
        "--nights", type=int, default=1, help="nights per recording family (generalisation)"
    )
    p.add_argument(
        "--model-card",
        action="store_true",
        help="keep the results in WEIGHTS/config.json for the model card (generalisation)",
    )
    p.add_argument(
        "--peers-python",
        metavar="PYTHON",
        help="interpreter with the peers extra that runs GSSC (generalisation; default: this one)",
    )
    p.add_argument(
        "--data", metavar="DIR", help="also score the scored EDFs of DIR, for checking (adapt)"
    )
    p.add_argument(
        "--adapt-settings",
        action="append",
        default=[],
        metavar="PASSES,LR,FILTER",
        help="adaptation settings to compare (adapt; repeatable; default 1,0.001,0.4)",
    )
    p.add_argument("--threads", type=int, help="CPU threads of the models (adapt)")
    p.set_defaults(handler=_cmd_bench)


def _cmd_train(args: argparse.Namespace) -> int:
    import shlex

    from sleepvit.rendering.config import RenderConfig
    from sleepvit.train.config import TrainConfig
    from sleepvit.train.loop import Trainer

    config = TrainConfig(
        name=args.name,
        seed=args.seed,
        val_fraction=args.val_fraction,
        test_fraction=args.test_fraction,
        trim_wake_minutes=args.trim_wake,
        vit_dim=args.dim,
        vit_depth=args.depth,
        vit_heads=args.heads,
        passes=args.passes,
        samples_per_pass=args.samples_per_pass,
        batch_size=args.batch_size,
        lr=args.lr,
        augment=not args.no_augment,
        context=args.context,
        sequence_passes=args.sequence_passes,
    )
    trainer = Trainer(
        args.data,
        args.out,
        config,
        cache_dir=args.cache,
        render_config=RenderConfig(calibration=args.calibration, px_per_s=args.px_per_s),
        channel_map=args.channel_map,
        resume=args.resume,
        device=args.device,
        threads=args.threads,
        command=shlex.join(["sleepvit", *sys.argv[1:]]),
    )
    trainer.run()
    return 0


def _add_train(sub: argparse._SubParsersAction) -> None:
    from sleepvit.rendering.config import RenderConfig
    from sleepvit.train.config import TrainConfig

    d = TrainConfig()
    p = sub.add_parser(
        "train",
        parents=[DATA_SET, CHANNEL_MAP],
        help="train EpochViT + SequenceTransformer on scored nights",
        description="Train EpochViT on rendered 30-s epochs, then the SequenceTransformer on "
        "its frozen embeddings; fit the temperature on validation nights and write "
        "OUT/weights/NAME and OUT/metrics.json. Splits are drawn by subject. Checkpoints "
        "after every pass over the data; --resume continues. Scale out with "
        "'torchrun --standalone --nproc_per_node=N -m sleepvit.cli train …'.",
    )
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder")
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR's checkpoints")
    p.add_argument("--name", default=d.name, help="model name (weights folder)")
    p.add_argument("--seed", type=int, default=d.seed, help="seed of splits, init and sampling")
    p.add_argument(
        "--passes", type=int, default=d.passes, help="EpochViT passes over the training epochs"
    )
    p.add_argument(
        "--sequence-passes", type=int, default=d.sequence_passes, help="sequence model passes"
    )
    p.add_argument(
        "--samples-per-pass",
        type=int,
        default=d.samples_per_pass,
        help="epoch images drawn per pass (0 = as many as there are)",
    )
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="EpochViT batch size")
    p.add_argument("--lr", type=float, default=d.lr, help="EpochViT peak learning rate (AdamW)")
    p.add_argument("--dim", type=int, default=d.vit_dim, help="EpochViT width")
    p.add_argument("--depth", type=int, default=d.vit_depth, help="EpochViT blocks")
    p.add_argument("--heads", type=int, default=d.vit_heads, help="EpochViT attention heads")
    p.add_argument("--context", type=int, default=d.context, help="epochs per sequence window")
    p.add_argument("--no-augment", action="store_true", help="train without augmentations")
    p.add_argument(
        "--px-per-s",
        type=float,
        default=RenderConfig.px_per_s,
        help="horizontal resolution of the images the model reads (a patch is 2 s wide; "
        "saved with the weights)",
    )
    p.add_argument(
        "--calibration",
        choices=("physical", "night"),
        default="physical",
        help="scale the model reads EEG/EOG/EMG at: fixed µV, or set by each night's level "
        "(saved with the weights; the technician screen always stays physical)",
    )
    p.add_argument(
        "--val-fraction", type=float, default=d.val_fraction, help="share of subjects for val"
    )
    p.add_argument(
        "--test-fraction",
        type=float,
        default=d.test_fraction,
        help="share of subjects held out as test (listed in RUN_DIR/splits.csv)",
    )
    p.add_argument(
        "--trim-wake",
        type=float,
        metavar="MIN",
        help="keep only MIN minutes of wake around sleep (30 for Sleep-EDF)",
    )
    p.add_argument("--cache", metavar="DIR", help="rendered-epoch cache (default RUN_DIR/cache)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--threads", type=int, help="CPU threads per process (default: its share)")
    p.set_defaults(handler=_cmd_train)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from sleepvit.evaluate import evaluate

    result = evaluate(
        args.weights,
        args.data,
        out=args.out,
        split=args.split,
        backend=args.backend,
        cache_dir=args.cache,
        channel_map=args.channel_map,
        trim_wake_minutes=args.trim_wake,
    )
    print(result.format())
    if result.out is not None:
        print(f"wrote {result.out}/evaluation.json, confusion_*.png, per_night.csv")
    if args.model_card:
        from sleepvit.train.model_card import write_model_card

        print(f"wrote {write_model_card(args.weights, result.metrics)}")
    return 0


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        parents=[DATA_SET, SPLIT, CHANNEL_MAP],
        help="agreement of a model with scored nights (κ, macro-F1, confusion matrix)",
        description="Score every night of a data set with WEIGHTS, EpochViT alone and with the "
        "sequence model, and compare with the reference hypnograms: accuracy, macro-F1, "
        "Cohen's κ, per-stage F1, confusion matrix (PNG + JSON), per-night table.",
    )
    p.add_argument("weights", help="weights folder (config.json + safetensors)")
    p.add_argument("--out", metavar="DIR", help="write evaluation.json, PNGs and per_night.csv")
    _add_backend(
        p,
        default="torch",
        help="model runtime (default torch: freshly trained weights have no ONNX files yet)",
    )
    p.add_argument("--cache", metavar="DIR", help="rendered-epoch cache (default ~/.cache)")
    p.add_argument(
        "--trim-wake",
        type=float,
        metavar="MIN",
        help="score only MIN minutes of wake around sleep (as in training; 30 for Sleep-EDF)",
    )
    p.add_argument(
        "--model-card",
        action="store_true",
        help="also write WEIGHTS/MODEL_CARD.md from these numbers (held-out nights only)",
    )
    p.set_defaults(handler=_cmd_evaluate)


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from sleepvit.calibrate import calibrate

    fitted = calibrate(
        args.weights,
        reference=args.reference,
        data=args.data,
        reference_split=None if args.reference_split == "all" else args.reference_split,
        split=args.split,
        backend=args.backend,
        cache_dir=args.cache,
        channel_map=args.channel_map,
    )
    sequence = fitted.fitted_on["sequence"]
    print(
        f"sequence temperature {fitted.sequence_temperature:.3f} (training "
        f"{fitted.fitted_on['training_temperature']:.3f}), ECE {sequence['ece_before']:.3f} → "
        f"{sequence['ece_after']:.3f}; EpochViT temperature {fitted.epoch_vit_temperature:.3f}, "
        f"ECE {fitted.fitted_on['epoch_vit_ece_before']:.3f} → "
        f"{fitted.fitted_on['epoch_vit_ece_after']:.3f}"
    )
    print(
        f"OOD thresholds: night {fitted.ood_night_threshold:.2f}, epoch "
        f"{fitted.ood_epoch_threshold:.2f} ({fitted.fitted_on['reference_epochs']} reference "
        f"epochs, {len(fitted.fitted_on['calibration_nights'])} calibration nights)"
    )
    print(f"wrote {Path(args.weights) / 'uncertainty.json'} and training_embeddings.npz")
    return 0


def _add_calibrate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "calibrate",
        parents=[DATA_SET, SPLIT, CHANNEL_MAP],
        help="fit the confidence and the out-of-distribution warning of a weights folder",
        description="Fit the temperatures of the sequence model and of EpochViT alone on "
        "calibration nights (--data: scored nights never trained or tested on, ideally "
        "recorded otherwise than the training nights), the training-embedding statistics on "
        "the training nights (--reference), and the out-of-distribution thresholds; write "
        "WEIGHTS/uncertainty.json and WEIGHTS/training_embeddings.npz. Run it again whenever "
        "the weights change. Test nights are refused.",
    )
    p.add_argument("weights", help="weights folder (config.json + ONNX or safetensors)")
    p.add_argument(
        "--reference",
        required=True,
        metavar="DATA",
        help="the weights' training nights (folder or manifest CSV)",
    )
    p.add_argument(
        "--reference-split",
        default="train",
        help="split of --reference to read (default train; 'all' for every night)",
    )
    _add_backend(p, default="onnx-int8", help="model runtime (default ONNX Runtime int8)")
    p.add_argument("--cache", metavar="DIR", help="rendered-epoch cache (default ~/.cache)")
    p.set_defaults(handler=_cmd_calibrate)


def _cmd_score(args: argparse.Namespace) -> int:
    from sleepvit.batch import BatchStopped, exit_code, find_recordings, format_table, score_batch
    from sleepvit.io.paths import check_output_folder
    from sleepvit.models.adapt import check_adaptation_available
    from sleepvit.scoring import ScoreOptions

    check_output_folder(args.out)  # before a single recording is opened
    jobs = find_recordings(args.paths, args.out)
    options = ScoreOptions(
        backend=args.backend,
        weights=args.weights,
        channel_map=args.channel_map,
        lights_off=args.lights_off,
        lights_on=args.lights_on,
        deidentify=args.deidentify,
        overwrite=args.overwrite,
        jobs=args.jobs,
        explain=args.explain,
        adapt=args.adapt,
    )
    if args.adapt:
        check_adaptation_available()  # before a single night is scored
    try:
        outcomes = score_batch(jobs, options)
    except BatchStopped as stopped:
        print()
        print(format_table(stopped.outcomes))
        interrupt = stopped.__cause__
        print(f"error: {_interruption(interrupt)}: {stopped}", file=sys.stderr)
        return _interrupt_code(interrupt)
    print()
    print(format_table(outcomes))
    if args.debug:
        for outcome in outcomes:
            if outcome.traceback:
                print(f"\n{outcome.name}: {outcome.traceback}", file=sys.stderr, end="")
    return exit_code(outcomes)


def _clock_argument(text: str):
    from sleepvit.scoring import parse_clock

    try:
        return parse_clock(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_score(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "score",
        parents=[CHANNEL_MAP],
        help="score nights: hypnogram CSV/EDF+/XML, summary JSON and PDF report per night",
        description="Score recordings (files, or folders searched recursively for .edf/.bdf) "
        "and write per night OUT/STEM.hypnogram.csv (epoch,onset_s,stage,confidence,"
        "p_W..p_REM), STEM.annotations.edf, STEM.nsrr.xml, STEM.summary.json, "
        "STEM.report.pdf and STEM.hypnogram.png. A night found in a subfolder writes to the "
        "same subfolder of OUT. A night that fails is reported and the others go on; the exit "
        "code is 2 if any failed. Nights whose outputs all exist are skipped.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="recordings or folders (read-only)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="nights scored in N parallel processes, each with cores/N CPU threads",
    )
    p.add_argument("--weights", metavar="DIR", help="weights folder (default: demo weights)")
    _add_backend(
        p,
        default="onnx-int8",
        help="model runtime: ONNX Runtime int8 (default, no torch), fp32, or PyTorch",
    )
    p.add_argument(
        "--lights-off", type=_clock_argument, metavar="HH:MM", help="clock time of lights off"
    )
    p.add_argument(
        "--lights-on", type=_clock_argument, metavar="HH:MM", help="clock time of lights on"
    )
    p.add_argument(
        "--deidentify",
        action="store_true",
        help="leave patient name, ID, birthdate, file name and date out of the outputs",
    )
    p.add_argument("--overwrite", action="store_true", help="rescore nights already scored")
    p.add_argument(
        "--explain",
        action="store_true",
        help="also write STEM.relevance.npz: every epoch's relevance grid, the scores and the "
        "review queue, for the GUI",
    )
    p.add_argument(
        "--adapt",
        action="store_true",
        help="adapt EpochViT's normalisation to each night before scoring it (TENT; needs "
        "PyTorch, the train extra; see the README's test-time adaptation table)",
    )
    p.set_defaults(handler=_cmd_score)


def _cmd_fetch_sleep_edf(args: argparse.Namespace) -> int:
    from sleepvit.train.sleep_edf import SUBJECTS, fetch_sleep_edf

    manifest = fetch_sleep_edf(
        args.folder,
        subjects=args.subjects or SUBJECTS,
        recordings=tuple(args.recordings),
        mirror=args.mirror,
    )
    print(f"wrote {manifest}")
    return 0


def _add_fetch_sleep_edf(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fetch-sleep-edf",
        help="download Sleep-EDF-78 (PhysioNet) and write its manifest",
        description="Download the Sleep-EDF Expanded sleep-cassette nights with MNE and write "
        "FOLDER/manifest.csv (edf,hypnogram,subject) for 'sleepvit train'.",
    )
    p.add_argument("folder", help="download folder")
    p.add_argument("--subjects", type=int, nargs="+", help="subject numbers (default: all 78)")
    p.add_argument("--recordings", type=int, nargs="+", default=[1, 2], choices=(1, 2))
    p.add_argument("--mirror", metavar="URL", help="sleep-cassette URL of a local mirror")
    p.set_defaults(handler=_cmd_fetch_sleep_edf)


def _cmd_simulate_corpus(args: argparse.Namespace) -> int:
    from sleepvit.train.corpus import DEFAULT_SEED_BASE, build_corpus

    manifest = build_corpus(
        args.folder,
        n_train=args.train,
        n_val=args.val,
        n_test=args.test,
        seed_base=DEFAULT_SEED_BASE if args.seed_base is None else args.seed_base,
        hours=args.hours,
        jobs=args.jobs,
    )
    print(f"wrote {manifest}")
    return 0


def _add_simulate_corpus(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "simulate-corpus",
        help="simulate scored nights for training (train/val/test with disjoint seeds)",
        description="Simulate hospital and Sleep-EDF style nights, some with missing slots, "
        "and write FOLDER/manifest.csv with a split column.",
    )
    p.add_argument("folder", help="output folder")
    p.add_argument("--train", type=int, default=60, help="training nights")
    p.add_argument("--val", type=int, default=10, help="validation nights")
    p.add_argument("--test", type=int, default=20, help="test nights (seeds never trained on)")
    p.add_argument(
        "--seed-base",
        type=int,
        help="first seed (the default keeps the demo night's seed out of every split)",
    )
    p.add_argument("--hours", type=float, default=7.0, help="length of each night")
    p.add_argument("--jobs", type=int, default=1, help="nights simulated in parallel")
    p.set_defaults(handler=_cmd_simulate_corpus)


def _cmd_simulate(args: argparse.Namespace) -> int:
    from sleepvit.synth import simulate_night, write_night
    from sleepvit.synth.night import night_paths

    night_paths(args.out)  # a bad name fails now, not after minutes of simulation
    night = simulate_night(hours=args.hours, seed=args.seed, style=args.style)
    for path in write_night(night, args.out):
        print(f"wrote {path}")
    print(night.summary())
    return 0


def _add_simulate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "simulate",
        help="simulate a scored PSG night (EDF+ and its hypnogram)",
        description="Simulate a polysomnography night with realistic sleep architecture and "
        "AASM stage features; write OUT.edf (EDF+) and OUT-Hypnogram.edf. The same seed "
        "always gives the same files.",
    )
    p.add_argument("out", metavar="OUT.edf", help="recording to write")
    p.add_argument("--hours", type=float, default=8.0, help="lights off to lights on")
    p.add_argument("--seed", type=int, default=0, help="random seed (a different sleeper)")
    p.add_argument(
        "--style",
        choices=("hospital", "sleep-edf"),
        default="hospital",
        help="16-channel AASM montage, or the Sleep-EDF cassette layout",
    )
    p.set_defaults(handler=_cmd_simulate)


def _cmd_export_int8(args: argparse.Namespace) -> int:
    from sleepvit.errors import ModelError

    try:
        from sleepvit.models.export import export_int8, export_relevance
        from sleepvit.models.torch_artifacts import load_artifacts
    except ImportError as exc:
        raise ModelError(
            f"export-int8 needs the train extra ({exc.name} is not installed); "
            "pip install 'sleepvit[train]' on a training machine and export there"
        ) from exc
    if args.relevance_only:
        print(f"wrote {export_relevance(load_artifacts(args.weights), args.weights)}")
        return 0
    report = export_int8(args.weights, method=args.method, threads=args.threads)
    print(report.format())
    return 0


def _add_export_int8(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export-int8",
        help="export a weights folder to ONNX (fp32 + int8) for the torch-free runtime",
        description="Export EpochViT and the SequenceTransformer of WEIGHTS to ONNX, quantize "
        "them to int8 with ONNX Runtime (dynamic and static QDQ calibrated on rendered "
        "simulated epochs; the faster one that agrees with fp32 on >= 98 % of epochs is kept) "
        "and write epoch_vit/sequence .fp32.onnx and .int8.onnx into WEIGHTS, with "
        "epoch_vit_relevance.fp32.onnx (gradient relevance maps). Needs the train extra.",
    )
    p.add_argument("weights", help="weights folder (config.json + safetensors)")
    p.add_argument(
        "--method",
        choices=("auto", "dynamic", "static-qdq"),
        default="auto",
        help="int8 recipe; auto measures both and keeps the better (default)",
    )
    p.add_argument("--threads", type=int, default=2, help="CPU threads for the speed comparison")
    p.add_argument(
        "--relevance-only",
        action="store_true",
        help="only add epoch_vit_relevance.fp32.onnx (gradient relevance maps) to WEIGHTS, "
        "leaving its other ONNX files as they are",
    )
    p.set_defaults(handler=_cmd_export_int8)


def _cmd_parity(args: argparse.Namespace) -> int:
    from sleepvit.io.atomic import atomic_open
    from sleepvit.models.parity import compare_on_data_set

    report = compare_on_data_set(
        args.data,
        args.weights,
        split=args.split,
        reference=args.reference,
        candidate=args.candidate,
        threads=args.threads,
    )
    print(report.format())
    if args.out:
        with atomic_open(args.out, encoding="utf-8") as f:
            f.write(report.format() + "\n")
    return 0 if report.passes else 1


def _add_parity(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "parity",
        parents=[DATA_SET, SPLIT],
        help="does the int8 model score like fp32? (agreement, max |Δp|, Δκ, ΔF1)",
        description="Score scored nights with two backends of WEIGHTS (default torch fp32 vs "
        "onnx-int8) and print epoch agreement, max probability difference, κ against the "
        "expert scoring for both and per-stage F1 changes as a Markdown table. Exit code 1 if "
        "agreement < 98 % or |Δκ| > 0.01.",
    )
    p.add_argument("weights", help="weights folder with safetensors and ONNX files")
    _add_backend(p, "--reference", default="torch", help="the backend compared against")
    _add_backend(p, "--candidate", default="onnx-int8", help="the backend checked")
    p.add_argument("--threads", type=int, help="CPU threads per backend (default: all)")
    p.add_argument("--out", metavar="FILE.md", help="also write the table to this file")
    p.set_defaults(handler=_cmd_parity)


def version_text() -> str:
    """The package and the shipped model, as ``sleepvit --version`` prints them.

    >>> version_text()  # doctest: +ELLIPSIS
    'sleepvit ..., model sleepvit-demo ...'
    """
    from sleepvit.models.artifacts import default_weights_dir, read_config

    try:
        model = read_config(default_weights_dir())
    except SleepVitError as exc:
        return f"sleepvit {__version__}, model unavailable ({exc})"
    return f"sleepvit {__version__}, model {model.name} {model.version}"


class _VersionAction(argparse.Action):
    """``--version``: reads the model's config.json only when asked, so other runs stay fast."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, **kwargs):
        kwargs.setdefault("help", "show the package and model versions and exit")
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(version_text())
        parser.exit()


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sleepvit",
        description="Sleep staging from 30-s PSG screens with a signal-axis-aware ViT.",
    )
    parser.add_argument("--version", action=_VersionAction)
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # One line per subcommand; each _add_* function owns its options.
    _add_inspect(sub)
    _add_simulate(sub)
    _add_render(sub)
    _add_explain(sub)
    _add_bench(sub)
    _add_train(sub)
    _add_evaluate(sub)
    _add_calibrate(sub)
    _add_score(sub)
    _add_export_int8(sub)
    _add_parity(sub)
    _add_fetch_sleep_edf(sub)
    _add_simulate_corpus(sub)
    for command in sub.choices.values():
        command.set_defaults(flags=_flags_by_setting(command))
    return parser


def _flags_by_setting(command: argparse.ArgumentParser) -> dict[str, str]:
    """Setting name (the option's ``dest``, as in the Python API) -> its long flag."""
    return {
        action.dest: max(action.option_strings, key=len)
        for action in command._actions  # argparse lists no options publicly
        if action.option_strings and action.dest != "help"
    }


def _flag_hint(error: SleepVitError, flags: dict[str, str]) -> str:
    """`` (see --channel-map)`` for an error whose fix is a setting this command has."""
    named = [flags[setting] for setting in error.settings if setting in flags]
    return f" (see {', '.join(named)})" if named else ""


OPTIONAL_MODULES: dict[str, str] = {
    "torch": "train",
    "timm": "train",
    "captum": "train",
    "safetensors": "train",
    "onnx": "train",
    "yasa": "dev",
    "psutil": "dev",
    "gssc": "peers",
}
"""Top-level modules of the optional extras (pyproject.toml) -> the extra that installs them.
The scoring runtime, and the workstation bundle, have none of them."""


def _missing_extra(exc: BaseException) -> str | None:
    """The extra to install when ``exc`` is an optional module that is not installed.

    >>> _missing_extra(ModuleNotFoundError("No module named 'torch'", name="torch"))
    'train'
    >>> _missing_extra(ModuleNotFoundError("No module named 'numpy'", name="numpy")) is None
    True
    """
    if not isinstance(exc, ModuleNotFoundError) or not exc.name:
        return None
    return OPTIONAL_MODULES.get(exc.name.partition(".")[0])


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that every command stops the same clean way."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


def _interruption(interrupt: BaseException | None) -> str:
    return "terminated (SIGTERM)" if isinstance(interrupt, Terminated) else "interrupted"


def _interrupt_code(interrupt: BaseException | None) -> int:
    """128 + the signal number, as shells report a process ended by that signal."""
    return 128 + (signal.SIGTERM if isinstance(interrupt, Terminated) else signal.SIGINT)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s")
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return int(args.handler(args) or 0)
    except SleepVitError as exc:
        print(f"error: {exc}{_flag_hint(exc, args.flags)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as interrupt:
        print(f"error: {_interruption(interrupt)}", file=sys.stderr)
        return _interrupt_code(interrupt)
    except Exception as exc:  # an internal error: still one line unless --debug
        if args.debug:
            raise
        extra = _missing_extra(exc)
        if extra is not None:
            print(
                f"error: 'sleepvit {args.command}' needs {exc.name.partition('.')[0]} (the {extra} "
                "extra), which this installation does not have; run it where "
                f"sleepvit[{extra}] is installed",
                file=sys.stderr,
            )
            return 2
        print(
            f"error: internal error ({type(exc).__name__}: {exc}); "
            "rerun with --debug and report the traceback",
            file=sys.stderr,
        )
        return 1
    finally:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())

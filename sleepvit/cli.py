"""``sleepvit`` command line: one subcommand per job.

Heavy modules are imported inside each handler so that ``sleepvit --help`` is instant
and the scoring runtime never imports torch unless a command asks for it.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from sleepvit import __version__
from sleepvit.errors import SleepVitError


def _cmd_inspect(args: argparse.Namespace) -> int:
    from sleepvit.io import load_study
    from sleepvit.io.inspect import format_inspection

    study = load_study(args.file, channel_map=args.channel_map)
    print(format_inspection(study))
    return 0


def _add_inspect(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "inspect",
        help="show a recording's header, channels and the slot mapping chosen",
        description="Show a recording's header, channels, the canonical slot chosen for "
        "each channel and why, its duration and number of 30-s epochs.",
    )
    p.add_argument("file", help="EDF, EDF+ or BDF recording")
    p.add_argument("--channel-map", metavar="JSON", help="JSON file mapping slots to labels")
    p.set_defaults(handler=_cmd_inspect)


def _cmd_render(args: argparse.Namespace) -> int:
    from sleepvit.io import load_study
    from sleepvit.rendering import RenderConfig
    from sleepvit.rendering.export import export_epochs, parse_epochs

    epochs = parse_epochs(args.epochs)
    study = load_study(args.night, channel_map=args.channel_map)
    config = RenderConfig(notch_hz=args.notch)
    written = export_epochs(study, epochs, args.out, args.size, config)
    print(f"wrote {len(written)} {args.size}-size PNGs to {args.out}")
    return 0


def _add_render(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "render",
        help="draw 30-s epochs as the technician screen / model input (PNG)",
        description="Render epochs of a recording as the model sees them (--size model, "
        "176 x 240) or as the technician screen (--size screen, 1920 x 1080) and write "
        "OUT/<stem>_e<epoch>_<size>.png.",
    )
    p.add_argument("night", help="EDF, EDF+ or BDF recording (opened read-only)")
    p.add_argument("--epochs", required=True, help="epochs from 0: 100-110 (inclusive), 7, 3,7,9")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--size", choices=("model", "screen"), default="model")
    p.add_argument("--notch", type=float, choices=(50.0, 60.0), help="mains notch in Hz")
    p.add_argument("--channel-map", metavar="JSON", help="JSON file mapping slots to labels")
    p.set_defaults(handler=_cmd_render)


BENCH_TARGETS: dict[str, str] = {
    "models": "sleepvit.models.bench",
    "load": "sleepvit.bench.load",
    "render": "sleepvit.bench.render",
    "hypnograms": "sleepvit.bench.hypnograms",
    "simulate": "sleepvit.synth.bench",
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
    p.set_defaults(handler=_cmd_bench)


def _cmd_simulate(args: argparse.Namespace) -> int:
    from sleepvit.synth import simulate_night, write_night
    from sleepvit.synth.night import output_paths

    output_paths(args.out)  # a bad name fails now, not after minutes of simulation
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
    p.add_argument("--style", choices=("hospital", "sleep-edf"), default="hospital",
                   help="16-channel AASM montage, or the Sleep-EDF cassette layout")
    p.set_defaults(handler=_cmd_simulate)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sleepvit",
        description="Sleep staging from 30-s PSG screens with a signal-axis-aware ViT.",
    )
    parser.add_argument("--version", action="version", version=f"sleepvit {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # One line per subcommand; each _add_* function owns its options.
    _add_inspect(sub)
    _add_simulate(sub)
    _add_render(sub)
    _add_bench(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s")
    try:
        return int(args.handler(args) or 0)
    except SleepVitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # an internal error: still one line unless --debug
        if args.debug:
            raise
        print(
            f"error: internal error ({type(exc).__name__}: {exc}); "
            "rerun with --debug and report the traceback",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""``sleepvit bench infer``: model speed of torch fp32, ONNX fp32 and ONNX int8, side by side.

For each backend, in one run and with the same 2 CPU threads (the backends take turns in
blocks, round after round, so that other load on the machine slows them alike): epochs per
second on batches of 64 rendered epochs, and the model time of a whole night (EpochViT over
every epoch, then the SequenceTransformer's sliding windows), plus the size of the model
files. Uses the weights folder given (``--weights``, default the shipped demo weights); if it
has no ``config.json``, a freshly initialised model of the default size is measured instead,
and if it has no ONNX files they are exported into a temporary copy — the output says so.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from sleepvit.bench import machine_description, markdown_table, work_folder, write_results

THREADS = 2
BATCH = 64
BACKENDS = ("torch", "onnx-fp32", "onnx-int8")
MODEL_FILES = {
    "torch": ("epoch_vit.safetensors", "sequence.safetensors"),
    "onnx-fp32": ("epoch_vit.fp32.onnx", "sequence.fp32.onnx"),
    "onnx-int8": ("epoch_vit.int8.onnx", "sequence.int8.onnx"),
}


def cpu_int8_features() -> str:
    """The CPU's int8 matrix instructions ONNX Runtime can use, e.g. ``avx512_vnni, avx_vnni``."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next(line.split(":", 1)[1].split() for line in f if line.startswith("flags"))
    except (OSError, StopIteration):
        return "unknown"
    wanted = ("avx512_vnni", "avx_vnni", "amx_int8", "amx_tile")
    return ", ".join(flag for flag in wanted if flag in flags) or "none (no VNNI/AMX)"


def measurable_weights(weights: Path | None, workdir: Path) -> tuple[Path, list[str]]:
    """A weights folder with ONNX files to measure, and notes on what had to be made.

    ``weights`` (default: the shipped demo weights) is used as it is when complete; without a
    ``config.json`` a freshly initialised default-size model is saved in ``workdir``, and
    without ONNX files a copy in ``workdir`` is exported. ``bench infer`` and ``bench night``
    share it.

    >>> folder, notes = measurable_weights(None, Path("/tmp/bench"))  # doctest: +SKIP
    """
    from sleepvit.models.artifacts import CONFIG_FILE, default_weights_dir
    from sleepvit.models.export import export_int8

    source = weights or default_weights_dir()
    notes = []
    if (source / CONFIG_FILE).is_file():
        folder = source
    else:
        folder = workdir / "fresh-default"
        _save_fresh_default_model(folder)
        notes.append(
            f"{source} has no config.json: measured a freshly initialised model of the "
            "default size instead (speed does not depend on the weights' values)"
        )
    if not all((folder / name).is_file() for name in MODEL_FILES["onnx-int8"]):
        copy = workdir / "exported"
        shutil.copytree(folder, copy, dirs_exist_ok=True)
        report = export_int8(copy, threads=THREADS)
        notes.append(f"no ONNX files in the weights folder: exported them ({report.chosen.method})")
        folder = copy
    return folder, notes


def _save_fresh_default_model(folder: Path) -> None:
    import torch

    from sleepvit.models.configs import EpochViTConfig, SequenceConfig
    from sleepvit.models.epoch_vit import EpochViT
    from sleepvit.models.sequence import SequenceTransformer
    from sleepvit.models.torch_artifacts import save_artifacts
    from sleepvit.rendering.config import RenderConfig

    torch.manual_seed(0)
    render_config = RenderConfig()
    vit = EpochViT(EpochViTConfig.for_render_config(render_config))
    sequence = SequenceTransformer(SequenceConfig(embed_dim=vit.config.dim))
    save_artifacts(folder, vit.eval(), sequence.eval(), render_config=render_config, name="fresh")


def _night_epochs(render_config, hours: float, workdir: Path) -> tuple[np.ndarray, np.ndarray]:
    from sleepvit.io import load_study
    from sleepvit.rendering import render_epochs
    from sleepvit.synth import simulate_night, write_night

    edf, _ = write_night(simulate_night(hours=hours, seed=7), workdir / "night.edf")
    rendered = render_epochs(load_study(edf), render_config)
    return rendered.images, rendered.present


def _block_medians(
    jobs: dict[str, Callable[[], object]],
    warmups: dict[str, Callable[[], object]],
    rounds: int,
    per_block: int,
) -> dict[str, float]:
    """Median seconds of each job: the backends take turns in blocks, round after round.

    Within a block a job runs back to back after a warm-up, because torch's OpenMP and ONNX
    Runtime's thread pools keep spinning after a call and slow whichever other runtime comes
    next (on 2 cores that doubled the times when calls alternated). Rounds of blocks spread
    changing load on a shared machine over all backends; the result is the median of the
    block medians.
    """
    blocks: dict[str, list[float]] = {name: [] for name in jobs}
    for _ in range(rounds):
        for name, job in jobs.items():
            warmups[name]()
            times = []
            for _ in range(per_block):
                start = time.perf_counter()
                job()
                times.append(time.perf_counter() - start)
            blocks[name].append(statistics.median(times))
    return {name: statistics.median(values) for name, values in blocks.items()}


def measure(
    folder: Path, images: np.ndarray, present: np.ndarray, drawn_with, repeat: int
) -> list[dict]:
    """Per backend: ms per epoch on a batch, epochs/s, whole-night model seconds, file sizes.

    ``drawn_with`` is the render config of ``images``.
    """
    from sleepvit.models.backends import load_backend

    backends = {name: load_backend(folder, name, threads=THREADS) for name in BACKENDS}
    batch = images[:BATCH]

    def night(backend) -> None:
        _, embeddings = backend.epoch_outputs(images, present, drawn_with)
        backend.sequence_probabilities(embeddings)

    batch_jobs = {
        n: partial(b.epoch_outputs, batch, present, drawn_with) for n, b in backends.items()
    }
    batch_s = _block_medians(batch_jobs, batch_jobs, rounds=3, per_block=repeat)
    night_jobs = {n: partial(night, b) for n, b in backends.items()}
    night_s = _block_medians(night_jobs, batch_jobs, rounds=max(1, min(repeat, 3)), per_block=1)
    return [
        {
            "backend": name,
            "quantization": getattr(getattr(backend, "epoch_vit", None), "quantization", "none"),
            "ms_per_epoch": 1e3 * batch_s[name] / len(batch),
            "epochs_per_s": len(batch) / batch_s[name],
            "night_s": night_s[name],
            "model_mb": sum((folder / f).stat().st_size for f in MODEL_FILES[name]) / 1e6,
        }
        for name, backend in backends.items()
    ]


def format_table(rows: list[dict], n_epochs: int) -> str:
    reference = rows[0]
    columns = [
        ("backend", "l"),
        (f"ms/epoch ({BATCH} per call)", "r"),
        ("epochs/s", "r"),
        ("speed-up", "r"),
        (f"whole night ({n_epochs} epochs + sequence) s", "r"),
        ("model files MB", "r"),
    ]
    cells = []
    for r in rows:
        label = r["backend"] + (f" ({r['quantization']})" if r["backend"] == "onnx-int8" else "")
        cells.append(
            [
                label,
                f"{r['ms_per_epoch']:.2f}",
                f"{r['epochs_per_s']:.0f}",
                f"{reference['ms_per_epoch'] / r['ms_per_epoch']:.2f}×",
                f"{r['night_s']:.2f}",
                f"{r['model_mb']:.2f}",
            ]
        )
    return markdown_table(columns, cells)


def run(args: argparse.Namespace) -> int:
    import torch

    from sleepvit.models.artifacts import read_config

    torch.set_num_threads(THREADS)
    weights = Path(args.weights) if getattr(args, "weights", None) else None
    with work_folder(args.workdir, prefix="sleepvit-bench-infer-") as workdir:
        folder, notes = measurable_weights(weights, workdir)
        config = read_config(folder)
        images, present = _night_epochs(config.render_config, args.hours, workdir)
        rows = measure(folder, images, present, config.render_config, args.repeat)
    vit = config.epoch_vit
    print(
        f"EpochViT dim {vit.dim} depth {vit.depth} heads {vit.heads} ({vit.n_tokens} tokens), "
        f"sequence context {config.sequence.context}; {THREADS} threads — "
        f"{machine_description()}; int8 instructions: {cpu_int8_features()}"
    )
    for note in notes:
        print(f"note: {note}")
    print(format_table(rows, len(images)))
    write_results(
        args.json,
        {
            "machine": machine_description(),
            "int8_instructions": cpu_int8_features(),
            "threads": THREADS,
            "weights": str(folder),
            "notes": notes,
            "n_epochs": len(images),
            "rows": rows,
        },
    )
    return 0

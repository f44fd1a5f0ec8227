"""Training: EpochViT on single epochs, then the SequenceTransformer on its frozen embeddings.

Stage 1 teaches the ViT to stage one 30-s screen. Stage 2 freezes it, embeds every night and
teaches the sequence model to read windows of L consecutive embeddings. The temperature is
then fitted on the validation nights and the weights folder written with
:mod:`sleepvit.models.artifacts`, next to ``metrics.json`` (ViT alone vs. with sequence).

A run folder holds ``train_config.json``, ``splits.csv``, ``checkpoints/`` (one file per
stage, rewritten after every pass: ``--resume`` continues from it), ``weights/<name>/`` and
``metrics.json``. Works the same in one process or under ``torchrun`` (see
:mod:`sleepvit.train.distributed`).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm import tqdm

from sleepvit.datasets.cache import CachedNight, RenderCache
from sleepvit.datasets.nights import (
    check_subjects_disjoint,
    discover_nights,
    select_split,
    split_by_subject,
    trim_wake,
    write_manifest,
)
from sleepvit.errors import SleepVitError
from sleepvit.evaluate import format_score
from sleepvit.hypnogram import STAGES
from sleepvit.io.atomic import atomic_open, atomic_path
from sleepvit.metrics import calibration
from sleepvit.metrics.agreement import agreement
from sleepvit.models.augment import augment_batch
from sleepvit.models.configs import EpochViTConfig, SequenceConfig
from sleepvit.models.epoch_vit import EpochViT, embed_epochs
from sleepvit.models.sequence import SequenceTransformer, sequence_probabilities
from sleepvit.models.torch_artifacts import save_artifacts
from sleepvit.rendering import RenderConfig
from sleepvit.slots import SLOT_NAMES
from sleepvit.train import distributed
from sleepvit.train.config import RESUMABLE_CHANGES, TrainConfig

SEQUENCE_MIN_BATCHES = 100
"""Fewest SequenceTransformer batches per pass, however small the data set."""

VAL_IMAGES_PER_PASS = 2048
"""Validation epochs scored after each EpochViT pass (the final metrics use all of them)."""


def sequence_windows_per_pass(n_windows: int, batch_size: int) -> int:
    """Windows drawn per SequenceTransformer pass.

    A quarter of all windows (they overlap by L - 1 epochs), and never fewer than
    :data:`SEQUENCE_MIN_BATCHES` batches: sequence steps are cheap next to EpochViT steps, and
    on 6 simulated nights raising 78 steps to 600 lifted validation κ from 0.55 to 0.85.

    >>> sequence_windows_per_pass(49_200, 32)
    12300
    """
    return max(n_windows // 4, SEQUENCE_MIN_BATCHES * batch_size)


class TrainingError(SleepVitError):
    """A training run cannot start or continue as asked."""


@dataclass
class _Stage:
    """What one stage checkpoints: its model, optimiser, schedule, and the log so far."""

    name: str
    label: str
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    history: list[dict]


def warmup_cosine(total_steps: int, warmup_fraction: float):
    """LR multiplier: linear warm-up, then cosine decay to zero at ``total_steps``.

    >>> f = warmup_cosine(100, 0.1)
    >>> f(0) < f(10) == 1.0 > f(55) > f(99) >= 0.0
    True
    """
    warmup = max(1, int(total_steps * warmup_fraction))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def stage_weights(labels: np.ndarray, balance: float) -> np.ndarray:
    """Per-stage weights ∝ count^-balance, normalised to mean 1 over the scored epochs.

    >>> stage_weights(np.array([0, 0, 0, 2]), 1.0).round(2).tolist()
    [0.67, 0.0, 2.0, 0.0, 0.0]
    """
    counts = np.bincount(labels[labels >= 0], minlength=len(STAGES)).astype(np.float64)
    weights = np.zeros(len(STAGES))
    seen = counts > 0
    weights[seen] = counts[seen] ** -balance
    return weights / (weights[labels[labels >= 0]].mean())


class Trainer:
    """One training run in ``run_dir``; :meth:`run` does everything and returns the metrics."""

    def __init__(
        self,
        data: str | Path,
        run_dir: str | Path,
        config: TrainConfig | None = None,
        cache_dir: str | Path | None = None,
        render_config: RenderConfig | None = None,
        channel_map: str | Path | None = None,
        resume: bool = False,
        device: str = "auto",
        threads: int | None = None,
        command: str | None = None,
    ):
        self.data = Path(data)
        self.run_dir = Path(run_dir)
        self.config = config or TrainConfig()
        self.render_config = render_config or RenderConfig()
        self.cache = RenderCache(
            cache_dir or self.run_dir / "cache", self.render_config, channel_map
        )
        self.resume = resume
        self.device_name = device
        self.threads = threads
        self.command = command
        """The command line that started the run, kept in the weights' provenance."""

    # ------------------------------------------------------------------ orchestration
    def run(self) -> dict:
        ctx = distributed.start(self.device_name, self.threads)
        try:
            return self._run(ctx)
        finally:
            distributed.stop(ctx)

    def _run(self, ctx: distributed.DistContext) -> dict:
        cfg = self.config
        torch.manual_seed(cfg.seed + ctx.rank)
        records = split_by_subject(
            discover_nights(self.data), cfg.val_fraction, cfg.test_fraction, cfg.seed
        )
        check_subjects_disjoint(records)
        train_records = select_split(records, "train")
        val_records = select_split(records, "val")
        if not train_records or not val_records:
            raise TrainingError(
                f"need nights of at least 2 subjects (got {len(train_records)} training and "
                f"{len(val_records)} validation nights); add nights or set split in the manifest",
                self.data,
            )
        clock = _PhaseClock()
        # Rank 0 renders; the others then read the finished cache entries.
        if ctx.is_main:
            self._prepare_run_dir(records)
            train, val = self._load(train_records, ctx), self._load(val_records, ctx)
        ctx.barrier()
        if not ctx.is_main:
            train, val = self._load(train_records, ctx), self._load(val_records, ctx)
        clock.lap("render_cache")

        vit = EpochViT(
            EpochViTConfig.for_render_config(
                self.render_config, dim=cfg.vit_dim, depth=cfg.vit_depth, heads=cfg.vit_heads
            )
        )
        vit_changed = self._train_epoch_vit(vit, train, val, ctx)
        vit.eval().requires_grad_(False)
        clock.lap("epoch_vit")

        # Clean (not augmented) training embeddings: measured on 6 + 2 simulated nights,
        # augmenting them cut the sequence model's validation κ from 0.85 to 0.73. Each night
        # is also seen as a one-EEG recording would show it, so the sequence model knows those
        # embeddings too (EpochViT alone beat it on single-channel real EEG).
        views = train + [single_eeg_night(n) for n in train] if cfg.augment else train
        train_emb = _embed_nights(vit, views, ctx)
        val_emb = _embed_nights(vit, val, ctx)
        clock.lap("embeddings")
        seq = SequenceTransformer(SequenceConfig(embed_dim=vit.config.dim, context=cfg.context))
        # A sequence checkpoint read embeddings of the old EpochViT: useless once it trained on.
        self._train_sequence(seq, views, train_emb, val, val_emb, ctx, resume=not vit_changed)
        clock.lap("sequence")

        metrics: dict = {}
        if ctx.is_main:
            metrics = self._finish(vit, seq, len(train), val, val_emb, ctx.world_size, clock)
        ctx.barrier()
        return metrics

    def _prepare_run_dir(self, records) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        config_path = self.run_dir / "train_config.json"
        if self.resume and config_path.is_file():
            before = TrainConfig.from_dict(json.loads(config_path.read_text()))
            changed = {
                f.name
                for f in fields(TrainConfig)
                if getattr(before, f.name) != getattr(self.config, f.name)
            } - RESUMABLE_CHANGES
            if changed:
                raise TrainingError(
                    f"resuming with other settings ({', '.join(sorted(changed))}) than the run "
                    "was started with; repeat the original settings or start a new run folder",
                    self.run_dir,
                    settings=("out",),
                )
        with atomic_open(config_path, "w") as handle:
            json.dump(asdict(self.config), handle, indent=2)
        write_manifest(records, self.run_dir / "splits.csv")

    def _load(self, records, ctx) -> list[CachedNight]:
        nights = []
        for record in tqdm(records, desc="render/cache", unit="night", disable=not ctx.is_main):
            night = self.cache.load(record)
            labels = trim_wake(night.labels, self.config.trim_wake_minutes)
            nights.append(replace(night, labels=labels))
        return nights

    # ------------------------------------------------------------------ checkpoints
    def _checkpoint_path(self, stage: str) -> Path:
        return self.run_dir / "checkpoints" / f"{stage}.pt"

    def _restore(self, stage: _Stage) -> int:
        """Load the stage's checkpoint if there is one; returns the first pass still to train."""
        path = self._checkpoint_path(stage.name)
        if not path.is_file():
            return 0
        # weights_only: a checkpoint is tensors and plain containers, never arbitrary pickles.
        state = torch.load(path, map_location="cpu", weights_only=True)
        stage.model.load_state_dict(state["model"])
        stage.optimizer.load_state_dict(state["optimizer"])
        stage.scheduler.load_state_dict(state["scheduler"])
        stage.history[:] = json.loads(state["history"])
        return len(stage.history)

    def _save_checkpoint(self, stage: _Stage) -> None:
        state = {
            "model": stage.model.state_dict(),
            "optimizer": stage.optimizer.state_dict(),
            "scheduler": stage.scheduler.state_dict(),
            "history": json.dumps(stage.history),
        }
        with atomic_path(self._checkpoint_path(stage.name)) as tmp:
            torch.save(state, tmp)

    def _make_stage(self, name, label, model, lr, total_steps) -> _Stage:
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=lr, weight_decay=self.config.weight_decay
        )
        schedule = warmup_cosine(total_steps, self.config.warmup_fraction)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        return _Stage(name, label, model, optimizer, scheduler, [])

    def _fit(
        self, stage: _Stage, ctx, n_passes, steps, batch_size, draw, batch_loss, validate, resume
    ) -> bool:
        """The pass loop both stages share: resume, train, validate, log, checkpoint.

        Returns whether any pass was trained (``False`` when a checkpoint was complete).

        ``draw(generator)`` gives this rank's sample indices for one pass;
        ``batch_loss(model, indices, generator)`` the loss of one batch; ``validate()`` the
        validation entries of the log (called on every rank; ``{}`` where a rank has none).
        """
        model = ctx.wrap(stage.model)
        first = self._restore(stage) if resume else 0
        for done in range(first, n_passes):
            # Seeded per pass and rank: a resumed run draws what the whole run would have.
            seed = (self.config.seed * 1_000_003 + done) * 101 + ctx.rank
            generator = torch.Generator().manual_seed(seed)
            picks = draw(generator)
            model.train()
            total = 0.0
            bar = tqdm(
                range(steps),
                desc=f"{stage.label} {done + 1}/{n_passes}",
                unit="batch",
                disable=not ctx.is_main,
            )
            for step in bar:
                loss = batch_loss(
                    model, picks[step * batch_size : (step + 1) * batch_size], generator
                )
                stage.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                stage.optimizer.step()
                stage.scheduler.step()
                total += loss.item()
                bar.set_postfix(loss=f"{loss.item():.3f}")
            entry = {"pass": done + 1, "train_loss": ctx.mean(total / steps)} | validate()
            stage.history.append(entry)
            if ctx.is_main:
                self._save_checkpoint(stage)
                tqdm.write(_format_entry(stage.label, entry))
            ctx.barrier()
        return first < n_passes

    # ------------------------------------------------------------------ stage 1
    def _train_epoch_vit(self, vit, train, val, ctx) -> bool:
        cfg = self.config
        labels = np.concatenate([n.labels for n in train])
        night_of = np.concatenate([np.full(len(n), i) for i, n in enumerate(train)])
        epoch_of = np.concatenate([np.arange(len(n)) for n in train])
        scored = labels >= 0
        labels, night_of, epoch_of = labels[scored], night_of[scored], epoch_of[scored]
        sample_weight = torch.as_tensor(stage_weights(labels, cfg.class_balance)[labels])
        per_pass = cfg.samples_per_pass or labels.size
        per_rank = max(cfg.batch_size, per_pass // ctx.world_size)
        steps = math.ceil(per_rank / cfg.batch_size)

        def draw(generator):
            return torch.multinomial(sample_weight, per_rank, True, generator=generator).numpy()

        def batch_loss(model, batch, generator):
            images = torch.from_numpy(
                np.stack([train[night_of[i]].images[epoch_of[i]] for i in batch])
            )
            present = torch.from_numpy(np.stack([train[night_of[i]].present for i in batch]))
            target = torch.from_numpy(labels[batch].astype(np.int64))
            if cfg.augment:
                # Line-mix blends two epochs, so targets become stage probabilities.
                images, present, target = augment_batch(
                    images, present, target, generator, px_per_s=self.render_config.px_per_s
                )
            logits, _ = model(images.to(ctx.device), present.to(ctx.device))
            return F.cross_entropy(logits, target.to(ctx.device))

        # Every k-th validation epoch: enough for the log's κ, cheap enough for every pass.
        stride = max(1, math.ceil(sum(len(n) for n in val) / VAL_IMAGES_PER_PASS))
        val_labels = np.concatenate([n.labels[::stride] for n in val])

        def validate():
            if not ctx.is_main:  # only rank 0's log is saved
                return {}
            predicted = [
                embed_epochs(vit, np.array(n.images[::stride]), n.present)[0].argmax(1) for n in val
            ]
            return _summary(val_labels, predicted)

        stage = self._make_stage("epoch_vit", "EpochViT", vit, cfg.lr, steps * cfg.passes)
        return self._fit(
            stage, ctx, cfg.passes, steps, cfg.batch_size, draw, batch_loss, validate, self.resume
        )

    # ------------------------------------------------------------------ stage 2
    def _train_sequence(self, seq, train, train_emb, val, val_emb, ctx, resume) -> None:
        cfg = self.config
        length = cfg.context
        # Every window of `length` epochs inside a night; nights shorter than one are skipped.
        windows = np.array(
            [(i, s) for i, n in enumerate(train) for s in range(len(n) - length + 1)],
            dtype=np.int64,
        ).reshape(-1, 2)
        if windows.size == 0:
            raise TrainingError(
                f"every training night is shorter than the sequence context ({length} epochs)",
                self.data,
            )
        weights = torch.as_tensor(
            stage_weights(np.concatenate([n.labels for n in train]), cfg.class_balance),
            dtype=torch.float32,
        ).to(ctx.device)
        per_pass = sequence_windows_per_pass(len(windows), cfg.seq_batch_size)
        per_rank = max(cfg.seq_batch_size, per_pass // ctx.world_size)
        steps = math.ceil(per_rank / cfg.seq_batch_size)
        embeddings = [emb for _, emb in train_emb]
        labels = [torch.from_numpy(n.labels.astype(np.int64)) for n in train]
        offsets = torch.arange(length)

        def draw(generator):
            return torch.randint(len(windows), (per_rank,), generator=generator).numpy()

        def batch_loss(model, batch, generator):
            starts = windows[batch]
            x = torch.stack([embeddings[i][s + offsets] for i, s in starts]).to(ctx.device)
            y = torch.stack([labels[i][s + offsets] for i, s in starts]).to(ctx.device)
            logits = model(x)
            return F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), y.reshape(-1), weight=weights, ignore_index=-1
            )

        def validate():
            if not ctx.is_main:  # cheap enough for one rank; only rank 0's log is saved
                return {}
            probs = [sequence_probabilities(seq, emb) for _, emb in val_emb]
            return _summary(np.concatenate([n.labels for n in val]), [p.argmax(1) for p in probs])

        stage = self._make_stage(
            "sequence", "Sequence", seq, cfg.seq_lr, steps * cfg.sequence_passes
        )
        self._fit(
            stage, ctx, cfg.sequence_passes, steps, cfg.seq_batch_size, draw, batch_loss, validate,
            self.resume and resume,
        )  # fmt: skip

    # ------------------------------------------------------------------ calibration + output
    def _finish(self, vit, seq, n_train, val, val_emb, world_size, clock) -> dict:
        labels = np.concatenate([n.labels for n in val])

        def probabilities_at(temperature: float) -> np.ndarray:
            return torch.cat(
                [sequence_probabilities(seq, emb, temperature=temperature) for _, emb in val_emb]
            ).numpy()

        temperature = calibration.fit_temperature(probabilities_at, labels)
        calibrated = probabilities_at(temperature)
        vit_pred = np.concatenate([logits.argmax(1).numpy() for logits, _ in val_emb])
        metrics = {
            "split": "val",
            "n_nights": len(val),
            "epoch_vit": agreement(labels, vit_pred),
            "with_sequence": agreement(labels, calibrated.argmax(1)),
            "calibration": calibration.calibration_summary(probabilities_at, labels, temperature),
            "train_config": asdict(self.config),
            "render_config": self.render_config.fingerprint(),
            "world_size": world_size,
        }
        clock.lap("calibration")
        metrics["seconds"] = clock.seconds
        weights_dir = self.run_dir / "weights" / self.config.name
        save_artifacts(
            weights_dir,
            vit,
            seq,
            render_config=self.render_config,
            temperature=temperature,
            name=self.config.name,
            training={
                "data": str(self.data),
                "command": self.command,
                "nights": {"train": n_train, "val": len(val)},
                "config": asdict(self.config),
                "validation": _headline(metrics),
            },
        )
        with atomic_open(self.run_dir / "metrics.json", "w") as handle:
            json.dump(metrics, handle, indent=2)
        tqdm.write(
            f"validation ({len(val)} nights): EpochViT "
            f"κ={format_score(metrics['epoch_vit']['kappa'])} "
            f"macro-F1={format_score(metrics['epoch_vit']['macro_f1'])}; with sequence "
            f"κ={format_score(metrics['with_sequence']['kappa'])} "
            f"macro-F1={format_score(metrics['with_sequence']['macro_f1'])}; temperature "
            f"{temperature:.2f}, ECE {format_score(metrics['calibration']['ece_before'])} → "
            f"{format_score(metrics['calibration']['ece_after'])}"
        )
        tqdm.write(f"weights: {weights_dir}")
        return metrics


class _PhaseClock:
    """Wall-clock seconds per phase of the run, for the metrics JSON and time estimates."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.seconds[phase] = round(now - self._last, 1)
        self._last = now


SINGLE_EEG_ORDER = ("EEG_C", "EEG_F", "EEG_O")
"""Which EEG row a one-channel view of a night keeps: central first, as most such
recordings are."""


def single_eeg_night(night: CachedNight) -> CachedNight:
    """``night`` as a recording of one EEG channel alone: the other rows blank and absent."""
    rows = [SLOT_NAMES.index(slot) for slot in SINGLE_EEG_ORDER]
    kept = [row for row in rows if night.present[row]]
    if not kept:
        return night
    keep = kept[0]
    present = np.zeros_like(night.present)
    present[keep] = True
    row_px = night.images.shape[1] // present.size
    images = np.zeros_like(night.images)
    rows = slice(keep * row_px, (keep + 1) * row_px)
    images[:, rows] = night.images[:, rows]
    return replace(night, images=images, present=present)


def _embed_nights(vit, nights, ctx) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``(logits, embeddings)`` of every night; ranks share the work and exchange results."""
    mine = {}
    for i in range(ctx.rank, len(nights), ctx.world_size):
        # A private copy: torch refuses to wrap the read-only cache memory map.
        images = np.array(nights[i].images)
        logits, embeddings = embed_epochs(vit, images, nights[i].present)
        mine[i] = (logits.cpu(), embeddings.cpu())
    if ctx.is_distributed:
        gathered: list[dict] = [{} for _ in range(ctx.world_size)]
        dist.all_gather_object(gathered, mine)
        mine = {i: out for part in gathered for i, out in part.items()}
    return [mine[i] for i in range(len(nights))]


def _summary(labels: np.ndarray, predictions) -> dict:
    result = agreement(labels, np.concatenate([np.asarray(p) for p in predictions]))
    return {"val_kappa": result["kappa"], "val_macro_f1": result["macro_f1"]}


def _headline(metrics: dict) -> dict:
    """The validation numbers worth keeping in the weights' own config."""
    return {
        key: {"kappa": metrics[key]["kappa"], "macro_f1": metrics[key]["macro_f1"]}
        for key in ("epoch_vit", "with_sequence")
    } | {
        "ece_before": metrics["calibration"]["ece_before"],
        "ece_after": metrics["calibration"]["ece_after"],
    }


def _format_entry(stage: str, entry: dict) -> str:
    parts = [f"{stage} pass {entry['pass']}: loss {entry['train_loss']:.3f}"]
    if "val_kappa" in entry:
        parts.append(
            f"val κ {format_score(entry['val_kappa'])}, "
            f"macro-F1 {format_score(entry['val_macro_f1'])}"
        )
    return "; ".join(parts)

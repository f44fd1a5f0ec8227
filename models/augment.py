"""Training augmentations of epoch images that make real montages in-distribution.

Real recordings differ from the training nights in ways a technician shrugs off: a lab
records no ECG or SpO2, an electrode comes off at 3 a.m., amplifier gains and electrode
impedances differ, and epoch boundaries fall anywhere relative to a spindle or an eye
movement. Each augmentation below imitates one of these, on batches of images
``[B, H, W]`` (uint8, or float on the same 0–255 scale, black background) with one row of
``H // n_slots`` pixels per canonical slot and the montage ``present`` bool ``[B, n_slots]``.

Every random draw comes from the ``torch.Generator`` passed in, so a seed reproduces a batch
exactly. Inputs are never modified in place; dtype and shape are kept.

Examples
--------
>>> import torch
>>> g = torch.Generator().manual_seed(0)
>>> images = torch.randint(0, 256, (4, 176, 240), dtype=torch.uint8)
>>> present = torch.ones(4, 11, dtype=torch.bool)
>>> out, kept, targets = augment_batch(images, present, torch.tensor([0, 1, 2, 4]), g)
>>> out.dtype, tuple(out.shape), tuple(targets.shape)
(torch.uint8, (4, 176, 240), (4, 5))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from sleepvit.hypnogram import STAGES
from sleepvit.slots import SLOTS, Modality

EEG_SLOTS: tuple[int, ...] = tuple(i for i, s in enumerate(SLOTS) if s.modality is Modality.EEG)
"""Row indices of the EEG slots: scoring needs at least one, so none drops them all."""
GAIN_SLOTS: tuple[int, ...] = tuple(
    i for i, s in enumerate(SLOTS) if s.modality is not Modality.SPO2
)
"""Rows whose amplitude depends on gain and impedance; SpO2 is an absolute percentage."""


def _rand(shape, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.rand(shape, generator=generator, device=generator.device).to(device)


def _rows(images: torch.Tensor, n_slots: int) -> torch.Tensor:
    """View ``[B, n_slots, row_px, W]`` of ``[B, H, W]`` images."""
    b, h, w = images.shape
    return images.reshape(b, n_slots, h // n_slots, w)


def _as_images(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``values`` in the dtype of ``like``; uint8 is rounded and clipped to 0–255."""
    if like.dtype == torch.uint8:
        return values.round().clamp(0, 255).to(torch.uint8)
    return values.to(like.dtype)


def _random_choice(allowed: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One uniformly random ``True`` column per row of bool ``allowed`` (any column if none)."""
    scores = _rand(allowed.shape, generator, allowed.device) + allowed.to(torch.float32)
    return scores.argmax(dim=1)


def _pick_rows_sparing_eeg(
    present: torch.Tensor, p: float, eeg_slots: Sequence[int], generator: torch.Generator
) -> torch.Tensor:
    """Each present slot with probability ``p`` (bool ``[B, n_slots]``), but never every present
    EEG slot of a sample: where all would go, one of them at random is spared."""
    picked = (_rand(present.shape, generator, present.device) < p) & present
    eeg = torch.as_tensor(eeg_slots, device=present.device)
    had_eeg = present[:, eeg]
    choice = eeg[_random_choice(had_eeg, generator)]
    lost_all = had_eeg.any(dim=1) & ~(had_eeg & ~picked[:, eeg]).any(dim=1)
    rows = lost_all.nonzero().squeeze(1)
    picked[rows, choice[rows]] = False
    return picked


def _blank_rows(images: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """``images`` with the slots ``rows`` (bool ``[B, n_slots]``) set to black background."""
    keep = (~rows).repeat_interleave(images.shape[1] // rows.shape[1], dim=1)
    return images * keep[:, :, None].to(images.dtype)


def slot_dropout(
    images: torch.Tensor,
    present: torch.Tensor,
    generator: torch.Generator,
    p: float = 0.2,
    eeg_slots: Sequence[int] = EEG_SLOTS,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Remove each present slot with probability ``p``: blank row and ``present = False``.

    Why: many labs record fewer signals (Sleep-EDF has no ECG or SpO2; home studies lack
    EEG_O). The model must score from whatever subset is present, and never learn to need
    one particular row. At least one present EEG row always survives.

    >>> g = torch.Generator().manual_seed(0)
    >>> images = torch.full((2, 176, 240), 255, dtype=torch.uint8)
    >>> _, kept = slot_dropout(images, torch.ones(2, 11, dtype=torch.bool), g, p=1.0)
    >>> kept[:, list(EEG_SLOTS)].sum(dim=1).tolist()  # everything else is gone
    [1, 1]
    """
    drop = _pick_rows_sparing_eeg(present, p, eeg_slots, generator)
    return _blank_rows(images, drop), present & ~drop


def single_eeg(
    images: torch.Tensor,
    present: torch.Tensor,
    generator: torch.Generator,
    p: float = 0.25,
    eeg_slots: Sequence[int] = EEG_SLOTS,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Turn a share ``p`` of samples into one-EEG-channel recordings: every row but one
    present EEG row is removed.

    Why: many real recordings (research excerpts, home and ambulatory EEG) hold one central
    EEG and nothing else: no EOG, no chin EMG. Measured on the simulator, weights that never saw
    such screens fell from κ 0.99 to 0.21–0.49 when a night kept only its C4-M1.
    """
    alone, alone_present = slot_dropout(images, present, generator, 1.0, eeg_slots)
    chosen = _rand(images.shape[0], generator, images.device) < p
    images = torch.where(chosen[:, None, None], alone, images)
    return images, torch.where(chosen[:, None], alone_present, present)


def line_out(
    images: torch.Tensor,
    present: torch.Tensor,
    generator: torch.Generator,
    p: float = 0.05,
    eeg_slots: Sequence[int] = EEG_SLOTS,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Blank each present row with probability ``p`` but keep it marked present.

    Why: an electrode that comes off mid-night leaves a recorded but flat channel; the model
    must not collapse when a row it was promised is empty. One EEG row always keeps its trace.
    """
    blank = _pick_rows_sparing_eeg(present, p, eeg_slots, generator)
    return _blank_rows(images, blank), present


def amplitude_jitter(
    images: torch.Tensor,
    generator: torch.Generator,
    low: float = 0.8,
    high: float = 1.25,
    slots: Sequence[int] = GAIN_SLOTS,
    n_slots: int = len(SLOTS),
) -> torch.Tensor:
    """Scale each row's trace vertically about its centre line by a factor in [low, high].

    Why: amplifier gain, electrode impedance and head size change amplitudes between labs by
    a few tens of percent. The range stays moderate because amplitude is diagnostic (N3 is
    defined by > 75 µV slow waves). Factors are log-uniform, so shrinking and growing are
    equally likely; trace parts scaled beyond the row fall off it.
    """
    b = images.shape[0]
    rows = _rows(images, n_slots).to(torch.float32)
    _, _, row_px, width = rows.shape
    unit = _rand((b, n_slots), generator, images.device)
    scale = low * (high / low) ** unit
    jittered = torch.zeros(n_slots, dtype=torch.bool, device=images.device)
    jittered[list(slots)] = True
    scale = torch.where(jittered, scale, torch.ones_like(scale))
    # Bilinear resampling along y only, as a [row_px × row_px] matrix per row: output pixel y
    # reads source y' = c + (y + ½ − c) / scale − ½ about the centre line c = row_px / 2.
    # For a batch of 32 this takes 4 ms where grid_sample took 150; scale 1 is the identity.
    y = torch.arange(row_px, dtype=torch.float32, device=images.device)
    centre = row_px / 2
    source = centre + (y + 0.5 - centre) / scale[..., None] - 0.5  # [B, n_slots, out]
    weights = (1 - (source[..., :, None] - y).abs()).clamp(min=0)  # [B, n_slots, out, in]
    return _as_images((weights @ rows).reshape(images.shape), images)


def time_shift(images: torch.Tensor, generator: torch.Generator, max_px: int = 4) -> torch.Tensor:
    """Shift each image left or right by up to ``max_px`` pixels, padding with background.

    Why: epoch boundaries fall anywhere relative to spindles, K-complexes and eye movements;
    the time embedding must not tie a pattern to an exact column. Padding (not wrapping round)
    avoids a false discontinuity.
    """
    b, h, w = images.shape
    shift = torch.randint(-max_px, max_px + 1, (b,), generator=generator).to(images.device)
    source = torch.arange(w, device=images.device)[None, :] - shift[:, None]
    inside = (source >= 0) & (source < w)
    index = source.clamp(0, w - 1)[:, None, :].expand(b, h, w)
    shifted = images.gather(2, index)
    return shifted * inside[:, None, :].to(images.dtype)


def line_mix(
    images: torch.Tensor,
    present: torch.Tensor,
    targets: torch.Tensor,
    generator: torch.Generator,
    p: float = 0.2,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace one row of a sample with the same row of another sample; mix the labels.

    Why: signals in a real recording disagree at times (an EOG artefact in N2, alpha in one
    EEG derivation only). Mixing one slot from another epoch teaches the model to weigh the
    rows rather than trust one; the label moves towards the donor's by the share of present
    rows it gave (a row present in both, so the montage is unchanged).

    ``targets`` are soft labels ``[B, n_classes]``; returns images and mixed targets.
    """
    b = images.shape[0]
    n_slots = present.shape[1]
    donor = torch.randperm(b, generator=generator).to(images.device)
    shared = present & present[donor]
    row = _random_choice(shared, generator)
    not_self = donor != torch.arange(b, device=images.device)
    chosen = (_rand(b, generator, images.device) < p) & shared.any(dim=1) & not_self
    take = torch.zeros_like(present)
    take[chosen, row[chosen]] = True
    take_px = take.repeat_interleave(images.shape[1] // n_slots, dim=1)[:, :, None]
    mixed = torch.where(take_px, images[donor], images)
    share = take.sum(dim=1) / present.sum(dim=1).clamp(min=1)
    targets = (1 - share[:, None]) * targets + share[:, None] * targets[donor]
    return mixed, targets


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of :func:`augment_batch` (all off with zeros).

    >>> AugmentConfig(line_mix_p=0.0).max_shift_s
    0.5
    """

    single_eeg_p: float = 0.25
    slot_dropout_p: float = 0.2
    line_out_p: float = 0.05
    amplitude_p: float = 0.5
    """Share of samples whose rows get amplitude jitter."""
    amplitude_range: tuple[float, float] = (0.8, 1.25)
    max_shift_s: float = 0.5
    """Largest time shift, in seconds (pixels follow the images' ``px_per_s``)."""
    line_mix_p: float = 0.2


def augment_batch(
    images: torch.Tensor,
    present: torch.Tensor,
    labels: torch.Tensor,
    generator: torch.Generator,
    config: AugmentConfig = AugmentConfig(),
    px_per_s: float = 8.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """All augmentations in one pass: ``(images, present, soft targets [B, n_classes])``.

    ``labels`` are stage codes ``[B]`` (0–4) or soft targets ``[B, n_classes]``;
    ``px_per_s`` is the images' horizontal resolution (their RenderConfig's).
    """
    targets = labels if labels.ndim == 2 else F.one_hot(labels.long(), len(STAGES))
    targets = targets.to(torch.float32)
    images, present = single_eeg(images, present, generator, config.single_eeg_p)
    images, present = slot_dropout(images, present, generator, config.slot_dropout_p)
    images, present = line_out(images, present, generator, config.line_out_p)
    if config.amplitude_p > 0:
        low, high = config.amplitude_range
        jittered = amplitude_jitter(images, generator, low, high)
        chosen = _rand(images.shape[0], generator, images.device) < config.amplitude_p
        images = torch.where(chosen[:, None, None], jittered, images)
    max_shift_px = int(round(config.max_shift_s * px_per_s))
    if max_shift_px > 0:
        images = time_shift(images, generator, max_shift_px)
    images, targets = line_mix(images, present, targets, generator, config.line_mix_p)
    return images, present, targets

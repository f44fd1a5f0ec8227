"""EpochViT, SequenceTransformer, augmentations and weights folders (tiny configs, fast)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

from sleepvit.errors import ModelError  # noqa: E402
from sleepvit.models import augment  # noqa: E402
from sleepvit.models.artifacts import (  # noqa: E402
    CONFIG_FILE,
    EPOCH_VIT_FILE,
    SEQUENCE_FILE,
    check_render_config,
    default_weights_dir,
    read_config,
)
from sleepvit.models.configs import EpochViTConfig, SequenceConfig  # noqa: E402
from sleepvit.models.epoch_vit import EpochViT, embed_epochs  # noqa: E402
from sleepvit.models.rollout import EpochViTGraph  # noqa: E402
from sleepvit.models.sequence import SequenceTransformer, sequence_probabilities  # noqa: E402
from sleepvit.models.torch_artifacts import load_artifacts, save_artifacts  # noqa: E402
from sleepvit.rendering.config import RenderConfig  # noqa: E402
from sleepvit.slots import SLOT_NAMES  # noqa: E402

TINY = EpochViTConfig(dim=32, depth=2, heads=2, mlp_ratio=2.0, drop_path=0.0)
ROW = TINY.row_px
TRAINABLE = replace(TINY, depth=1)
EEG_ROWS = list(augment.EEG_SLOTS)


def tiny_vit(seed: int = 0, config: EpochViTConfig = TINY) -> EpochViT:
    torch.manual_seed(seed)
    return EpochViT(config).eval()


def tiny_sequence(seed: int = 0, **size) -> SequenceTransformer:
    torch.manual_seed(seed)
    size = {"embed_dim": TINY.dim, "dim": 16, "depth": 1, "heads": 2, "dropout": 0.0} | size
    return SequenceTransformer(SequenceConfig(**size)).eval()


def random_images(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, TINY.height, TINY.width), generator=g, dtype=torch.uint8)


def patch_images(n: int, seed: int = 0) -> torch.Tensor:
    """Random but distinct images: every 16 × 16 patch one random grey level."""
    g = torch.Generator().manual_seed(seed)
    levels = torch.randint(0, 256, (n, TINY.n_slots, TINY.n_cols), generator=g, dtype=torch.uint8)
    return levels.repeat_interleave(ROW, dim=1).repeat_interleave(TINY.patch_px, dim=2)


def row(slot: str) -> slice:
    i = SLOT_NAMES.index(slot)
    return slice(i * ROW, (i + 1) * ROW)


# --- EpochViT -------------------------------------------------------------------------------


def test_epoch_vit_outputs_logits_and_embedding_for_uint8_or_float_images():
    model = tiny_vit()
    images = random_images(3)
    present = torch.ones(3, TINY.n_slots, dtype=torch.bool)
    logits, embedding = model(images, present)
    assert logits.shape == (3, 5) and embedding.shape == (3, TINY.dim)
    float_logits, _ = model(images.float(), present)
    assert torch.allclose(logits, float_logits)
    one_montage, _ = model(images, present[0])  # [n_slots] applies to the whole batch
    assert torch.equal(logits, one_montage)


def test_absent_slot_pixels_do_not_change_the_output():
    model = tiny_vit()
    images = random_images(2)
    present = torch.ones(2, TINY.n_slots, dtype=torch.bool)
    present[:, SLOT_NAMES.index("ECG")] = False
    present[1, SLOT_NAMES.index("EEG_O")] = False
    scribbled = images.clone()
    scribbled[:, row("ECG")] = 255 - scribbled[:, row("ECG")]
    scribbled[1, row("EEG_O")] = 0
    before, emb_before = model(images, present)
    after, emb_after = model(scribbled, present)
    assert torch.equal(before, after) and torch.equal(emb_before, emb_after)
    # The same pixels do matter once the slot is present.
    present[:, SLOT_NAMES.index("ECG")] = True
    assert not torch.allclose(model(images, present)[0], model(scribbled, present)[0])


@pytest.mark.parametrize("px_per_s", [8.0, 32.0])
def test_one_token_is_one_signal_times_two_seconds_at_any_resolution(px_per_s):
    # Wider images (spindles and alpha drawn as waves) keep 165 tokens: a patch grows wider,
    # and the pixels of slot s in seconds [2t, 2t + 2) feed token s·15 + t and no other.
    config = replace(TINY, px_per_s=px_per_s)
    model = EpochViT(config).eval()
    slot, column = SLOT_NAMES.index("EEG_C"), 7
    images = torch.zeros(1, config.height, config.width, dtype=torch.uint8)
    scribbled = images.clone()
    left = int(column * 2 * px_per_s)
    scribbled[0, row("EEG_C"), left : left + config.patch_px] = 255
    present = torch.ones(config.n_slots, dtype=torch.bool)
    before, _ = model._tokens(images, present)
    after, _ = model._tokens(scribbled, present)
    changed = (before - after).abs().sum(dim=2)[0, 1:].nonzero().flatten().tolist()
    assert config.n_tokens == 165 and config.width == int(30 * px_per_s)
    assert changed == [slot * config.n_cols + column]


def fit(model: EpochViT, images, present, labels, max_steps: int = 100) -> float:
    """Full-batch AdamW until every image is classified right; returns train accuracy."""
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(max_steps):
        logits, _ = model(images, present)
        loss = torch.nn.functional.cross_entropy(logits, labels)
        if (logits.argmax(1) == labels).all() and loss.item() < 0.1:
            break
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    return (model(images, present)[0].argmax(1) == labels).float().mean().item()


def test_the_same_trace_means_something_else_in_another_row():
    # Identical patterns in the EEG_C row (class 0) or the EMG_CHIN row (class 1): only the
    # slot embedding can tell them apart, and swapping the rows must flip the prediction.
    patterns = patch_images(8, seed=5)[:, :ROW]
    images = torch.zeros(16, TINY.height, TINY.width, dtype=torch.uint8)
    eeg, emg = row("EEG_C"), row("EMG_CHIN")
    images[:8, eeg], images[8:, emg] = patterns, patterns
    labels = torch.tensor([0] * 8 + [1] * 8)
    present = torch.ones(TINY.n_slots, dtype=torch.bool)
    model = tiny_vit(seed=1, config=TRAINABLE)
    assert fit(model, images, present, labels) == 1.0
    swapped = images.clone()
    swapped[:, eeg], swapped[:, emg] = images[:, emg], images[:, eeg]
    assert torch.equal(model(swapped, present)[0].argmax(1), 1 - labels)


def test_rollout_graph_matches_forward_and_gives_absent_slots_no_relevance():
    model = tiny_vit()
    images = random_images(2)
    present = torch.ones(2, TINY.n_slots, dtype=torch.bool)
    spo2 = SLOT_NAMES.index("SPO2")
    present[:, spo2] = False
    with torch.no_grad():
        logits, embedding, rollout = EpochViTGraph(model)(images, present)
        expected_logits, expected_embedding = model(images, present)
    assert torch.allclose(logits, expected_logits, atol=1e-5)
    assert torch.allclose(embedding, expected_embedding, atol=1e-5)
    assert rollout.shape == (2, TINY.n_slots, TINY.n_cols)
    assert torch.allclose(rollout.sum(dim=(1, 2)), torch.ones(2))
    assert rollout[:, spo2].max() == 0 and rollout[:, :spo2].min() > 0


def test_tiny_model_overfits_a_tiny_set():
    images = patch_images(20, seed=3)
    present = torch.ones(20, TINY.n_slots, dtype=torch.bool)
    labels = torch.arange(20) % 5
    assert fit(tiny_vit(seed=1, config=TRAINABLE), images, present, labels) >= 0.95


def measured_flops(model: EpochViT) -> int:
    """FLOPs of one epoch from the shapes that really flow through ``model``.

    Forward hooks see every dense layer and convolution with its actual input, and every
    attention with its actual token count; 2 FLOPs per multiply-add, as in the config.
    """
    total = 0

    def dense(module, inputs, output):
        nonlocal total
        if isinstance(module, torch.nn.Conv2d):
            kernel = module.in_channels * module.kernel_size[0] * module.kernel_size[1]
            total += 2 * output.numel() * kernel
        else:
            total += 2 * output.numel() * module.in_features

    def attention(module, inputs, output):
        nonlocal total
        batch, tokens, dim = inputs[0].shape
        total += 2 * 2 * batch * tokens * tokens * dim  # q·kᵀ and attention·v

    hooks = [
        m.register_forward_hook(dense)
        for m in model.modules()
        if isinstance(m, torch.nn.Linear | torch.nn.Conv2d)
    ]
    hooks += [block.attn.register_forward_hook(attention) for block in model.blocks]
    c = model.config
    with torch.no_grad():
        model(torch.zeros(1, c.height, c.width), torch.ones(1, c.n_slots, dtype=torch.bool))
    for hook in hooks:
        hook.remove()
    return total


def test_parameter_count_and_flops_follow_the_architecture():
    shallow, deep = tiny_vit(), tiny_vit(config=replace(TINY, depth=4))
    assert shallow.count_parameters() == sum(p.numel() for p in shallow.parameters())
    for model in (shallow, deep):
        assert model.config.flops_per_epoch == measured_flops(model)


def test_embed_epochs_batches_a_night_and_restores_training_mode():
    model = tiny_vit().train()
    images = random_images(5)
    present = torch.ones(TINY.n_slots, dtype=torch.bool)
    logits, embeddings = embed_epochs(model, images.numpy(), present.numpy(), batch_size=2)
    assert logits.shape == (5, 5) and embeddings.shape == (5, TINY.dim)
    assert model.training
    expected, _ = model.eval()(images, present)
    assert torch.allclose(logits, expected, atol=1e-5)


# --- SequenceTransformer --------------------------------------------------------------------


def test_sequence_transformer_predicts_every_position_and_masks_padding():
    model = tiny_sequence()
    embeddings = torch.randn(2, 21, TINY.dim)
    valid = torch.ones(2, 21, dtype=torch.bool)
    valid[:, 15:] = False
    logits = model(embeddings, valid)
    assert logits.shape == (2, 21, 5)
    changed = embeddings.clone()
    changed[:, 15:] = torch.randn(2, 6, TINY.dim)
    assert torch.equal(model(changed, valid)[:, :15], logits[:, :15])


def windowed_by_hand(model: SequenceTransformer, embeddings: torch.Tensor) -> torch.Tensor:
    """Reference: one window per start, every epoch averaged over the windows covering it."""
    n, context = embeddings.shape[0], model.config.context
    pad = context // 2
    sums = torch.zeros(n, 5)
    counts = torch.zeros(n)
    for start in range(-pad, n + pad - context + 1):
        positions = range(start, start + context)
        window = torch.stack([embeddings[p] if 0 <= p < n else torch.zeros(5) for p in positions])
        valid = torch.tensor([0 <= p < n for p in positions])
        probs = model(window[None], valid[None])[0].softmax(-1)
        for k, p in enumerate(positions):
            if 0 <= p < n:
                sums[p] += probs[k]
                counts[p] += 1
    return sums / counts[:, None]


@pytest.mark.parametrize("n_epochs", [1, 3, 30])
def test_sequence_probabilities_average_stride_one_windows_on_short_and_long_nights(n_epochs):
    torch.manual_seed(0)
    model = tiny_sequence(embed_dim=5, context=7)
    embeddings = torch.randn(n_epochs, 5)
    probs = sequence_probabilities(model, embeddings, batch_size=4)
    assert probs.shape == (n_epochs, 5)
    assert torch.allclose(probs.sum(1), torch.ones(n_epochs))
    with torch.no_grad():
        assert torch.allclose(probs, windowed_by_hand(model, embeddings), atol=1e-5)


def test_sequence_probabilities_temperature_softens_them():
    model = tiny_sequence(embed_dim=5, context=5)
    embeddings = torch.randn(12, 5) * 10
    sharp = sequence_probabilities(model, embeddings, temperature=0.5)
    soft = sequence_probabilities(model, embeddings, temperature=4.0)
    assert soft.max(1).values.mean() < sharp.max(1).values.mean()


# --- Weights folder -------------------------------------------------------------------------


@pytest.fixture()
def saved(tmp_path):
    vit, seq = tiny_vit(seed=4), tiny_sequence(seed=5)
    folder = tmp_path / "weights" / "tiny"
    save_artifacts(
        folder,
        vit,
        seq,
        render_config=RenderConfig(),
        temperature=1.3,
        name="tiny",
        training={"nights": 3},
    )
    return folder, vit, seq


def test_save_load_round_trip_gives_identical_outputs(saved):
    folder, vit, seq = saved
    loaded = load_artifacts(folder)
    assert (loaded.name, loaded.temperature, loaded.config.training) == ("tiny", 1.3, {"nights": 3})
    assert loaded.render_config == RenderConfig()
    images, present = random_images(3), torch.ones(TINY.n_slots, dtype=torch.bool)
    assert torch.equal(loaded.epoch_vit(images, present)[0], vit(images, present)[0])
    embeddings = torch.randn(9, TINY.dim)
    assert torch.equal(
        sequence_probabilities(loaded.sequence, embeddings), sequence_probabilities(seq, embeddings)
    )
    config = json.loads((folder / CONFIG_FILE).read_text())
    assert config["classes"] == ["W", "N1", "N2", "N3", "REM"]
    assert config["render_config"] == json.loads(RenderConfig().to_json())


def test_load_names_the_folder_for_missing_corrupt_or_mismatched_files(saved, tmp_path):
    folder, _, _ = saved
    (folder / SEQUENCE_FILE).rename(tmp_path / "kept")
    with pytest.raises(ModelError, match=f"{folder}.*sequence.safetensors is missing"):
        load_artifacts(folder)
    (tmp_path / "kept").rename(folder / SEQUENCE_FILE)

    data = (folder / EPOCH_VIT_FILE).read_bytes()
    (folder / EPOCH_VIT_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match=f"{folder}.*epoch_vit.safetensors is corrupt"):
        load_artifacts(folder)

    bigger = tmp_path / "bigger"
    save_artifacts(
        bigger,
        tiny_vit(config=replace(TINY, dim=64)),
        tiny_sequence(embed_dim=64),
        render_config=RenderConfig(),
    )
    (bigger / EPOCH_VIT_FILE).replace(folder / EPOCH_VIT_FILE)
    with pytest.raises(ModelError, match="does not match the architecture.*shape"):
        load_artifacts(folder)


def test_read_config_rejects_missing_folder_and_broken_json(saved, tmp_path):
    folder, _, _ = saved
    with pytest.raises(ModelError, match="weights folder not found"):
        read_config(tmp_path / "nowhere")
    (folder / CONFIG_FILE).write_text("{not json")
    with pytest.raises(ModelError, match="config.json is unreadable or corrupt"):
        read_config(folder)
    (folder / CONFIG_FILE).write_text(json.dumps({"name": "x"}))
    with pytest.raises(ModelError, match="does not describe a SleepViT model"):
        read_config(folder)


def test_model_refuses_images_drawn_with_another_render_config(saved):
    folder, _, _ = saved
    model_config = load_artifacts(folder).render_config
    check_render_config(model_config, RenderConfig())
    other = replace(RenderConfig(), notch_hz=50.0, negative_up=False)
    with pytest.raises(ModelError, match="notch_hz None ≠ 50.0; negative_up True ≠ False"):
        check_render_config(model_config, other, folder)
    rows = list(RenderConfig().rows)
    rows[1] = replace(rows[1], range=(-100.0, 100.0))
    with pytest.raises(ModelError, match=r"EEG_C range \(-75.0, 75.0\) ≠ \(-100.0, 100.0\)"):
        check_render_config(model_config, replace(RenderConfig(), rows=tuple(rows)))


def test_config_and_render_check_need_no_torch(saved):
    folder, _, _ = saved
    script = (
        "import sys; sys.modules['torch'] = None\n"
        "from sleepvit.models import read_config, check_render_config\n"
        f"cfg = read_config({str(folder)!r})\n"
        "check_render_config(cfg.render_config, cfg.render_config)\n"
        "print(cfg.name, cfg.temperature)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["tiny", "1.3"]


def test_default_weights_dir_is_the_demo_folder_inside_the_package():
    import sleepvit.models

    package = Path(sleepvit.models.__file__).resolve().parent
    assert default_weights_dir() == package / "weights" / "sleepvit-demo"


# --- Augmentations --------------------------------------------------------------------------


def batch(n: int = 16, seed: int = 0):
    images = random_images(n, seed)
    present = torch.ones(n, TINY.n_slots, dtype=torch.bool)
    present[::2, SLOT_NAMES.index("EEG_F")] = False  # montages differ within a batch
    images[::2, row("EEG_F")] = 0  # an absent slot is drawn blank
    return images, present, torch.arange(n) % 5


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_augment_batch_keeps_dtype_shape_and_is_deterministic_per_seed(dtype):
    images, present, labels = batch()
    images = images.to(dtype)
    original = images.clone()
    run = [
        augment.augment_batch(images, present, labels, torch.Generator().manual_seed(s))
        for s in (7, 7, 8)
    ]
    out, kept, targets = run[0]
    assert out.dtype == dtype and out.shape == images.shape and kept.shape == present.shape
    assert targets.shape == (16, 5) and torch.allclose(targets.sum(1), torch.ones(16))
    assert torch.equal(images, original)  # inputs untouched
    assert all(torch.equal(a, b) for a, b in zip(run[0], run[1], strict=True))
    assert not torch.equal(run[0][0], run[2][0])


def test_slot_dropout_never_drops_every_eeg_row_and_blanks_dropped_rows():
    images, present, _ = batch(64)
    out, kept = augment.slot_dropout(images, present, torch.Generator().manual_seed(1), p=1.0)
    assert kept[:, EEG_ROWS].sum(1).eq(1).all()  # exactly one EEG survives p = 1
    assert not kept[:, len(EEG_ROWS) :].any()
    assert (kept <= present).all()
    rows = out.reshape(64, TINY.n_slots, ROW, -1)
    assert (rows.amax(dim=(2, 3)) > 0).eq(kept).all()


def test_line_out_blanks_rows_but_keeps_them_present_and_one_eeg_trace():
    images, present, _ = batch(32)
    out, kept = augment.line_out(images, present, torch.Generator().manual_seed(2), p=1.0)
    assert torch.equal(kept, present)
    rows = out.reshape(32, TINY.n_slots, ROW, -1).amax(dim=(2, 3)) > 0
    assert rows[:, EEG_ROWS].sum(1).eq(1).all() and not rows[:, len(EEG_ROWS) :].any()


def test_amplitude_jitter_scales_traces_about_the_row_centre():
    images = torch.zeros(1, TINY.height, TINY.width)
    eeg_c = SLOT_NAMES.index("EEG_C")
    images[0, eeg_c * ROW + 3] = 255.0  # 4.5 px above the centre line (y = 8 in the row)
    spo2 = SLOT_NAMES.index("SPO2")
    images[0, spo2 * ROW + 3] = 255.0
    out = augment.amplitude_jitter(images, torch.Generator().manual_seed(0), 1.25, 1.25)
    profile = out[0, row("EEG_C")].mean(1)
    distance = (torch.arange(ROW) + 0.5 - ROW / 2).abs()
    mean_distance = (profile * distance).sum() / profile.sum()
    assert mean_distance.item() == pytest.approx(4.5 * 1.25, abs=0.3)
    assert torch.equal(out[0, row("SPO2")], images[0, row("SPO2")])  # an absolute % scale


def test_time_shift_moves_the_whole_image_and_pads_with_background():
    images = torch.zeros(8, TINY.height, TINY.width, dtype=torch.uint8)
    images[:, :, 100] = 255
    out = augment.time_shift(images, torch.Generator().manual_seed(3), max_px=4)
    columns = out.amax(dim=1).float().argmax(dim=1) - 100
    assert columns.abs().max() <= 4 and columns.unique().numel() > 1
    assert all((out[i].amax(dim=0) > 0).sum() == 1 for i in range(8))  # all rows moved together

    full = torch.full((8, TINY.height, TINY.width), 200, dtype=torch.uint8)
    shifted = augment.time_shift(full, torch.Generator().manual_seed(3), max_px=4)
    assert (shifted == 0).any()  # padding, not wrapping round


def test_line_mix_swaps_one_shared_row_and_mixes_labels_by_its_share():
    images, present, labels = batch(32)
    targets = torch.nn.functional.one_hot(labels, 5).float()
    out, mixed = augment.line_mix(images, present, targets, torch.Generator().manual_seed(4), 1.0)
    changed_rows = (out != images).reshape(32, TINY.n_slots, -1).any(2)
    assert changed_rows.sum(1).max() == 1 and changed_rows.any()
    for i in range(32):
        weights = mixed[i][mixed[i] > 0].sort().values
        if not changed_rows[i].any():
            assert torch.equal(mixed[i], targets[i])
        elif weights.numel() == 2:  # a donor of another stage gave 1 of the present rows
            share = 1.0 / present[i].sum()
            assert torch.allclose(weights, torch.stack([share, 1 - share]))
        else:
            assert torch.equal(weights, torch.ones(1))


# --- With the real renderer -----------------------------------------------------------------


def test_a_rendered_night_with_missing_slots_scores_end_to_end(sleep_edf_night):
    from sleepvit.io import load_study
    from sleepvit.rendering import render_epochs

    rendered = render_epochs(load_study(sleep_edf_night[0]))
    check_render_config(RenderConfig(), rendered.config)
    assert not rendered.present.all()  # Sleep-EDF style: no ECG, SpO2, ...
    model = EpochViT(EpochViTConfig.for_render_config(rendered.config, dim=32, depth=1, heads=2))
    logits, embeddings = embed_epochs(model, rendered.images, rendered.present)
    probs = sequence_probabilities(tiny_sequence(embed_dim=32), embeddings)
    assert probs.shape == (len(rendered.images), 5)
    assert torch.allclose(probs.sum(1), torch.ones(len(probs)))


# --- ONNX export (the scoring runtime has no torch) -----------------------------------------


# The TorchScript exporter is deprecated, but the dynamo one needs onnxscript (not installed).
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_absent_slot_mask_survives_onnx_export(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    model = tiny_vit()
    path = tmp_path / "epoch_vit.onnx"
    batch_axis = {0: "batch"}
    torch.onnx.export(
        model,
        (random_images(2), torch.ones(2, TINY.n_slots, dtype=torch.bool)),
        str(path),
        input_names=["images", "present"],
        output_names=["logits", "embedding"],
        dynamic_axes={n: batch_axis for n in ("images", "present", "logits", "embedding")},
        dynamo=False,
    )
    images = random_images(5, seed=9)
    present = torch.ones(5, TINY.n_slots, dtype=torch.bool)
    present[:, SLOT_NAMES.index("EOG_R")] = False
    present[2, SLOT_NAMES.index("EEG_F")] = False
    session = ort.InferenceSession(str(path))
    logits, _ = session.run(None, {"images": images.numpy(), "present": present.numpy()})
    assert torch.allclose(torch.from_numpy(logits), model(images, present)[0], atol=1e-4)


def test_single_eeg_keeps_one_eeg_row_and_nothing_else_in_the_chosen_share():
    images = torch.full((400, TINY.height, TINY.width), 255, dtype=torch.uint8)
    present = torch.ones(400, TINY.n_slots, dtype=torch.bool)
    g = torch.Generator().manual_seed(3)
    out, kept = augment.single_eeg(images, present, g, p=0.25)
    alone = kept.sum(dim=1) == 1
    assert 60 < int(alone.sum()) < 140  # about a quarter
    assert kept[alone][:, EEG_ROWS].sum(dim=1).eq(1).all()
    assert torch.equal(kept[~alone], present[~alone])
    lit_rows = out[alone].reshape(int(alone.sum()), TINY.n_slots, ROW, -1).amax(dim=(2, 3)) > 0
    assert torch.equal(lit_rows, kept[alone])  # blank wherever absent

"""int8 ONNX export, the torch-free ONNX runtime, backends and int8-vs-fp32 parity."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from sleepvit.cli import main
from sleepvit.errors import ModelError
from sleepvit.hypnogram import parse_stage
from sleepvit.models.backends import load_backend
from sleepvit.models.onnx_runtime import ARCHITECTURE_KEY, QUANTIZATION_KEY, onnx_filename
from sleepvit.rendering import RenderConfig

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

REPO = Path(__file__).resolve().parents[1]
ONNX_FILES = [onnx_filename(m, p) for m in ("epoch_vit", "sequence") for p in ("fp32", "int8")]
ONNX_FILES += [onnx_filename("epoch_vit_relevance", "fp32")]
DRAWN = RenderConfig()
"""How ``render_nights`` draws the fixture nights, and the tiny models were trained on."""


@pytest.fixture(scope="module")
def fixture_epochs(hospital_night, sleep_edf_night, fixture_stages, render_nights):
    images, present = render_nights([hospital_night, sleep_edf_night])
    labels = np.array([parse_stage(s) for s in fixture_stages] * 2)
    return images, present, labels


@pytest.fixture(scope="module")
def exported(tmp_path_factory, fixture_epochs, save_tiny_weights):
    """A briefly trained tiny model, exported with ``sleepvit export-int8``; and its output."""
    folder = save_tiny_weights(tmp_path_factory.mktemp("weights") / "tiny", train_on=fixture_epochs)
    code = main(["export-int8", str(folder)])
    assert code == 0
    return folder


def test_export_int8_writes_checked_fp32_and_int8_files_and_leaves_no_temporaries(exported, capsys):
    assert sorted(p.name for p in exported.iterdir() if p.suffix == ".onnx") == sorted(ONNX_FILES)
    assert not [p for p in exported.iterdir() if p.name.startswith(".")]  # no temp files left
    for name in ONNX_FILES:
        model = onnx.load(str(exported / name))
        onnx.checker.check_model(model)
        metadata = {p.key: p.value for p in model.metadata_props}
        assert json.loads(metadata[ARCHITECTURE_KEY])
        precision = name.split(".")[1]
        assert (metadata[QUANTIZATION_KEY] == "none") == (precision == "fp32")
    # int8 weights: the quantized EpochViT is smaller than fp32
    size = {n: (exported / n).stat().st_size for n in ONNX_FILES}
    assert size["epoch_vit.int8.onnx"] < size["epoch_vit.fp32.onnx"]


def test_gradient_relevance_without_its_graph_says_how_to_make_it(
    exported, tmp_path, fixture_epochs
):
    images, present, _ = fixture_epochs
    folder = shutil.copytree(exported, tmp_path / "copy")
    (folder / "epoch_vit_relevance.fp32.onnx").unlink()
    backend = load_backend(folder, "onnx-int8")
    backend.attention(images[:1], present[:1], DRAWN)  # the scoring graph is all rollout needs
    with pytest.raises(ModelError, match="epoch_vit_relevance.fp32.onnx is missing.*export-int8"):
        backend.gradient_relevance(images[:1], present[:1], DRAWN)


def test_failed_export_leaves_the_previous_files_untouched(exported, tmp_path, monkeypatch):
    from sleepvit.models import export

    folder = shutil.copytree(exported, tmp_path / "copy")
    before = {n: (folder / n).read_bytes() for n in ONNX_FILES}

    def broken(*args, **kwargs):
        raise RuntimeError("quantizer crashed")

    monkeypatch.setattr(export, "quantize", broken)
    with pytest.raises(RuntimeError):
        export.export_int8(folder, method="dynamic")
    assert {n: (folder / n).read_bytes() for n in ONNX_FILES} == before
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]


def test_onnx_fp32_reproduces_torch_and_int8_stays_close(exported, fixture_epochs):
    images, present, _ = fixture_epochs
    torch_backend = load_backend(exported, "torch")
    ref_logits, ref_emb = torch_backend.epoch_outputs(images, present, DRAWN)
    ref_seq = torch_backend.sequence_probabilities(ref_emb)
    ref_rollout = torch_backend.attention(images[:8], present[:8], DRAWN)
    ref_gradient = torch_backend.gradient_relevance(images[:8], present[:8], DRAWN)

    fp32 = load_backend(exported, "onnx-fp32")
    logits, emb = fp32.epoch_outputs(images, present, DRAWN)
    assert np.abs(logits - ref_logits).max() < 1e-4 and np.abs(emb - ref_emb).max() < 1e-4
    assert np.abs(fp32.sequence_probabilities(emb) - ref_seq).max() < 1e-5
    assert np.abs(fp32.attention(images[:8], present[:8], DRAWN) - ref_rollout).max() < 1e-5
    gradient = fp32.gradient_relevance(images[:8], present[:8], DRAWN)
    assert np.abs(gradient - ref_gradient).max() < 1e-5
    np.testing.assert_allclose(gradient.sum(axis=(1, 2)), 1.0, atol=1e-5)

    int8 = load_backend(exported, "onnx-int8")
    logits8, emb8 = int8.epoch_outputs(images, present, DRAWN)
    p8, p32 = np.exp(logits8), np.exp(ref_logits)
    p8, p32 = p8 / p8.sum(1, keepdims=True), p32 / p32.sum(1, keepdims=True)
    assert np.mean(p8.argmax(1) == p32.argmax(1)) >= 0.95
    assert np.abs(p8 - p32).max() < 0.15
    assert np.abs(int8.sequence_probabilities(emb8) - ref_seq).max() < 0.1


def test_sequence_windows_match_the_torch_models_own_night_scoring(exported, fixture_epochs):
    from sleepvit.models.sequence import sequence_probabilities

    backend = load_backend(exported, "torch")
    embeddings = backend.epoch_outputs(*fixture_epochs[:2], DRAWN)[1][:13]  # shorter than 3 windows
    sequence = backend.artifacts.sequence
    expected = sequence_probabilities(sequence, embeddings, temperature=1.5).numpy()
    assert np.allclose(backend.sequence_probabilities(embeddings), expected, atol=1e-6)


@pytest.mark.parametrize("backend", ["torch", "onnx-fp32", "onnx-int8"])
def test_every_backend_refuses_images_drawn_with_another_render_config(
    exported, fixture_epochs, backend
):
    images, present, _ = fixture_epochs
    scorer = load_backend(exported, backend)
    other = RenderConfig(notch_hz=50.0)  # the same image size, another drawing
    for call in (scorer.epoch_outputs, scorer.attention, scorer.score):
        with pytest.raises(ModelError) as refused:
            call(images[:2], present[:2], other)
        message = str(refused.value)
        assert "notch_hz None ≠ 50.0" in message and str(exported) in message
        assert "\n" not in message
    assert len(scorer.score(images[:2], present[:2], DRAWN).sequence) == 2


def test_rollout_heatmap_sums_to_one_and_ignores_absent_slots(exported, fixture_epochs):
    images, present, _ = fixture_epochs
    mask = present[:4].copy()
    mask[:, 2] = False  # pretend EEG_O is absent
    rollout = load_backend(exported, "onnx-int8").attention(images[:4], mask, DRAWN)
    assert rollout.shape == (4, 11, 15)
    assert np.allclose(rollout.sum(axis=(1, 2)), 1.0, atol=1e-4)
    assert (rollout[~mask] == 0).all() and (rollout[mask] > 0).all()


def test_int8_parity_on_a_small_fixed_set(exported, hospital_night, sleep_edf_night):
    from sleepvit.models.parity import compare_backends

    report = compare_backends([hospital_night, sleep_edf_night], exported)
    assert report.n_nights == 2 and report.n_epochs == 100
    assert report.kappa_reference is not None and report.kappa_reference > 0.2  # it learned
    assert report.agreement >= 0.95 and report.epoch_vit_agreement >= 0.95
    assert report.max_abs_dp < 0.1
    assert abs(report.delta_kappa) <= 0.05
    table = report.format()
    assert "Δκ" in table and "ΔF1 REM" in table


def test_parity_command_prints_and_writes_the_table(exported, hospital_night, tmp_path, capsys):
    from sleepvit.datasets.nights import NightRecord, write_manifest

    manifest = write_manifest(
        [NightRecord(*hospital_night, subject="a", split="test")], tmp_path / "manifest.csv"
    )
    out = tmp_path / "parity.md"
    args = ["parity", str(exported), "--data", str(manifest), "--split", "test"]
    code = main([*args, "--threads", "1", "--out", str(out)])
    printed = capsys.readouterr().out
    assert "| nights / epochs | 1 / 50 |" in printed
    assert out.read_text().strip() == printed.strip()
    assert code == (0 if "| passes (≥ 98 %, \\|Δκ\\| ≤ 0.01) | yes |" in printed else 1)


def _copy_with(exported, tmp_path, name, data: bytes) -> Path:
    folder = shutil.copytree(exported, tmp_path / "weights")
    (folder / name).write_bytes(data)
    return folder


def _one_line_error(folder, backend="onnx-int8") -> str:
    with pytest.raises(ModelError) as info:
        load_backend(folder, backend)
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("damage", ["random bytes", "truncated"])
def test_corrupted_onnx_file_is_a_one_line_model_error(exported, tmp_path, damage):
    original = (exported / "epoch_vit.int8.onnx").read_bytes()
    data = os.urandom(4096) if damage == "random bytes" else original[: len(original) // 2]
    folder = _copy_with(exported, tmp_path, "epoch_vit.int8.onnx", data)
    message = _one_line_error(folder)
    assert "epoch_vit.int8.onnx" in message and "corrupt" in message
    assert f"sleepvit export-int8 {folder}" in message


def test_missing_onnx_file_suggests_export_int8(exported, tmp_path):
    folder = shutil.copytree(exported, tmp_path / "weights")
    (folder / "sequence.int8.onnx").unlink()
    message = _one_line_error(folder)
    assert "sequence.int8.onnx is missing" in message and "export-int8" in message
    load_backend(folder, "onnx-fp32")  # the other precision is still complete


def test_onnx_of_another_architecture_is_refused(exported, tmp_path, save_tiny_weights):
    from sleepvit.models.export import export_fp32
    from sleepvit.models.torch_artifacts import load_artifacts

    def exported_epoch_vit(**size) -> bytes:
        folder = save_tiny_weights(tmp_path / str(size), **size)
        export_fp32(load_artifacts(folder), folder)
        return (folder / "epoch_vit.fp32.onnx").read_bytes()

    # wrong embedding width: the graph's output shapes differ from config.json
    wrong_shape = _copy_with(exported, tmp_path / "a", "epoch_vit.int8.onnx",
                             exported_epoch_vit(dim=48))  # fmt: skip
    message = _one_line_error(wrong_shape)
    assert "does not match config.json" in message and "embedding float32[batch, 48]" in message

    # one block more: same shapes, but another model
    same_shape = _copy_with(exported, tmp_path / "b", "epoch_vit.fp32.onnx",
                            exported_epoch_vit(depth=3))  # fmt: skip
    message = _one_line_error(same_shape, "onnx-fp32")
    assert "exported from another model" in message
    assert "epoch_vit.depth: file 3, config.json 2" in message


def test_scoring_runs_end_to_end_where_torch_cannot_be_imported(
    exported, hospital_night, tmp_path, torch_free_prelude
):
    edf, _ = hospital_night
    script = (
        torch_free_prelude
        + f"""
from sleepvit.cli import main
code = main(["score", {str(edf)!r}, "--out", {str(tmp_path)!r}, "--weights", {str(exported)!r}])
try:
    import torch
except ImportError:
    print("torch blocked")
assert code == 0, code
"""
    )
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache")},
    )
    assert result.returncode == 0, result.stderr
    assert "torch blocked" in result.stdout and "backend onnx-int8" in result.stdout
    rows = (tmp_path / f"{edf.stem}.hypnogram.csv").read_text().splitlines()
    assert len(rows) == 1 + 50
    # An offline workstation keeps no ONNX Runtime telemetry (device id, event cache).
    assert not (home / ".cache" / "Microsoft").exists()


@pytest.mark.parametrize("command", ["score --backend torch", "export-int8"])
def test_torch_commands_without_torch_are_a_clear_error(
    exported, hospital_night, tmp_path, command, torch_free_prelude
):
    argv = command.split()
    if argv[0] == "score":
        argv[1:1] = [str(hospital_night[0]), "--out", str(tmp_path), "--weights", str(exported)]
    else:
        argv.append(str(exported))
    script = torch_free_prelude + f"from sleepvit.cli import main\nraise SystemExit(main({argv!r}))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.startswith("error:") and "pip install 'sleepvit[train]'" in result.stderr
    assert result.stderr.count("\n") == 1


def test_plain_install_pulls_no_torch():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    core = {
        re.split(r"[<>=!~\[ ;]", spec, maxsplit=1)[0].lower() for spec in project["dependencies"]
    }
    assert "onnxruntime" in core
    assert not core & {"torch", "timm", "captum", "onnx", "safetensors"}

"""Training pipeline: subject splits, render cache, tiny train/resume runs, DDP, calibration."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from sleepvit.cli import main
from sleepvit.datasets import cache as cache_module
from sleepvit.datasets.cache import RenderCache
from sleepvit.datasets.nights import (
    DataSetError,
    NightRecord,
    check_subjects_disjoint,
    discover_nights,
    read_manifest,
    split_by_subject,
    write_manifest,
)
from sleepvit.hypnogram import STAGES
from sleepvit.metrics.calibration import expected_calibration_error, fit_temperature
from sleepvit.models.backends import softmax
from sleepvit.rendering import RenderConfig
from sleepvit.train.config import TrainConfig
from sleepvit.train.corpus import (
    HOSPITAL_MONTAGES,
    SLEEP_EDF_MONTAGES,
    CorpusNight,
    plan_corpus,
    simulate_corpus_night,
)

torch = pytest.importorskip("torch")

TINY = TrainConfig(
    vit_dim=32,
    vit_depth=1,
    vit_heads=2,
    passes=1,
    samples_per_pass=64,
    batch_size=32,
    context=5,
    sequence_passes=1,
    seq_batch_size=16,
)


def _manifest(folder: Path, rows: list[tuple[tuple[Path, Path], str, str]]) -> Path:
    records = [NightRecord(edf, hyp, subject, split) for (edf, hyp), subject, split in rows]
    return write_manifest(records, folder / "manifest.csv")


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory, hospital_night, sleep_edf_night, simulated_night_factory):
    """Four 25-min nights of four subjects: three for training, one for validation."""
    stages = ("W", "N1", "N2", "N3", "REM") * 6
    third = simulated_night_factory("hospital", seed=11, stages=stages)
    fourth = simulated_night_factory("sleep-edf", seed=12, stages=stages)
    rows = [
        (hospital_night, "a", "train"),
        (sleep_edf_night, "b", "train"),
        (third, "c", "train"),
        (fourth, "d", "val"),
    ]
    return _manifest(tmp_path_factory.mktemp("tiny-data"), rows)


# ---------------------------------------------------------------- data set and splits
def test_both_sleep_edf_nights_of_a_subject_stay_in_one_split(tmp_path):
    for subject in range(12):
        for night in (1, 2):
            (tmp_path / f"SC4{subject:02d}{night}E0-PSG.edf").write_bytes(b"")
            (tmp_path / f"SC4{subject:02d}{night}EC-Hypnogram.edf").write_bytes(b"")
    records = discover_nights(tmp_path)
    assert len(records) == 24
    for seed in range(5):
        split = split_by_subject(records, val_fraction=0.2, test_fraction=0.2, seed=seed)
        sides: dict[str, set[str]] = {}
        for r in split:
            sides.setdefault(r.subject, set()).add(r.split)
        assert len(sides) == 12
        assert all(len(side) == 1 for side in sides.values())
        assert {r.split for r in split} == {"train", "val", "test"}
        check_subjects_disjoint(split)


def test_manifest_with_a_subject_in_two_splits_is_refused(tmp_path, hospital_night):
    edf, hyp = hospital_night
    path = tmp_path / "manifest.csv"
    path.write_text(f"edf,hypnogram,subject,split\n{edf},{hyp},s1,train\n{edf},{hyp},s1,val\n")
    records = read_manifest(path)
    assert split_by_subject(records) == records  # the manifest's own split is kept
    with pytest.raises(DataSetError, match="s1"):
        check_subjects_disjoint(records)


def test_manifest_paths_are_relative_to_the_manifest(tmp_path, hospital_night):
    edf, hyp = hospital_night
    (tmp_path / "nights").mkdir()
    for source in (edf, hyp):
        (tmp_path / "nights" / source.name).write_bytes(source.read_bytes())
    path = tmp_path / "manifest.csv"
    path.write_text(f"edf,hypnogram\nnights/{edf.name},nights/{hyp.name}\n")
    (record,) = read_manifest(path)
    assert record.edf == tmp_path / "nights" / edf.name
    assert record.subject == edf.stem


def test_missing_manifest_file_names_the_line(tmp_path):
    path = tmp_path / "manifest.csv"
    path.write_text("edf,hypnogram,subject\nmissing.edf,missing-Hypnogram.edf,x\n")
    with pytest.raises(DataSetError, match="line 2"):
        read_manifest(path)


# ---------------------------------------------------------------- render cache
def test_each_night_is_rendered_once_and_then_read_from_the_cache(
    tmp_path, monkeypatch, hospital_night, fixture_stages
):
    calls = []
    real = cache_module.render_epochs

    def counting(study, config):
        calls.append(config.fingerprint())
        return real(study, config)

    monkeypatch.setattr(cache_module, "render_epochs", counting)
    record = NightRecord(*hospital_night, subject="a")
    first = RenderCache(tmp_path).load(record)
    second = RenderCache(tmp_path).load(record)  # a new run, same cache folder
    assert len(calls) == 1
    assert first.images.shape == (len(fixture_stages), 176, 240)
    assert np.array_equal(first.images, second.images)
    assert [STAGES[c] for c in second.labels] == list(fixture_stages)
    assert second.present.dtype == bool and second.present.any()

    RenderCache(tmp_path, RenderConfig(negative_up=False)).load(record)  # another drawing
    assert len(calls) == 2


# ---------------------------------------------------------------- training runs
def test_tiny_training_writes_loadable_weights_and_resume_continues(tmp_path, tiny_data):
    from sleepvit.models.torch_artifacts import load_artifacts
    from sleepvit.train.loop import Trainer, TrainingError

    run = tmp_path / "run"
    cache = tmp_path / "cache"
    metrics = Trainer(tiny_data, run, TINY, cache_dir=cache, threads=1).run()
    weights = load_artifacts(run / "weights" / TINY.name)
    assert weights.render_config == RenderConfig()
    assert weights.temperature == pytest.approx(metrics["calibration"]["temperature"])
    saved = json.loads((run / "metrics.json").read_text())
    for key in ("epoch_vit", "with_sequence"):
        assert set(saved[key]["per_stage"]) == set(STAGES)
        assert saved[key]["n_epochs"] == 30  # the one validation night
    assert saved["calibration"]["ece_bins"] == 15
    with open(run / "splits.csv") as f:
        assert {r["split"] for r in csv.DictReader(f)} == {"train", "val"}

    first = torch.load(run / "checkpoints" / "epoch_vit.pt", weights_only=True)
    first_seq = torch.load(run / "checkpoints" / "sequence.pt", weights_only=True)
    Trainer(tiny_data, run, replace(TINY, passes=2), cache_dir=cache, resume=True, threads=1).run()
    resumed = torch.load(run / "checkpoints" / "epoch_vit.pt", weights_only=True)
    history = json.loads(resumed["history"])
    assert [h["pass"] for h in history] == [1, 2]
    assert history[0] == json.loads(first["history"])[0]  # pass 1 was not trained again
    # The sequence model is retrained on the new embeddings, not restored from the old run.
    seq = torch.load(run / "checkpoints" / "sequence.pt", weights_only=True)
    assert not torch.equal(seq["model"]["head.weight"], first_seq["model"]["head.weight"])

    wider = replace(TINY, vit_dim=64)
    with pytest.raises(TrainingError, match="vit_dim"):
        Trainer(tiny_data, run, wider, cache_dir=cache, resume=True).run()


@pytest.mark.slow
def test_two_process_ddp_training_with_gloo(tmp_path, tiny_data):
    run = tmp_path / "ddp-run"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "sleepvit.cli", "train",
        "--data", str(tiny_data), "--out", str(run), "--cache", str(tmp_path / "cache"),
        "--device", "cpu", "--dim", "32", "--depth", "1", "--heads", "2", "--passes", "1",
        "--samples-per-pass", "64", "--batch-size", "16", "--context", "5",
        "--sequence-passes", "1", "--threads", "1",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # A session of its own, so a hung rank can be killed together with the launcher.
    job = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        _, stderr = job.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(job.pid, signal.SIGKILL)
        raise
    assert job.returncode == 0, stderr[-2000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["world_size"] == 2
    assert (run / "weights" / "sleepvit" / "epoch_vit.safetensors").is_file()


# ---------------------------------------------------------------- calibration
def test_temperature_scaling_reduces_the_ece_of_an_over_confident_model():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 5, 5000)
    guess = np.where(rng.random(5000) < 0.7, labels, rng.integers(0, 5, 5000))
    logits = 6.0 * np.eye(5)[guess] + rng.normal(0, 0.5, (5000, 5))  # 70 % right, ~99 % sure
    before = expected_calibration_error(softmax(logits), labels)
    temperature = fit_temperature(lambda t: softmax(logits, t), labels)
    after = expected_calibration_error(softmax(logits, temperature), labels)
    assert temperature > 1.5
    assert before > 0.2 and after < before / 4
    assert np.array_equal(softmax(logits, temperature).argmax(1), softmax(logits).argmax(1))


def test_unscored_epochs_do_not_count_in_the_ece():
    probs = np.array([[0.9, 0.1], [0.9, 0.1]])
    assert expected_calibration_error(probs, np.array([0, -1])) == pytest.approx(0.1)


# ---------------------------------------------------------------- corpus and downloads
def test_corpus_seeds_of_test_nights_are_never_training_seeds():
    plan = plan_corpus(60, 10, 20, seed_base=5)
    seeds = {
        split: {n.seed for n in plan if n.split == split} for split in ("train", "val", "test")
    }
    assert [len(s) for s in seeds.values()] == [60, 10, 20]
    assert not seeds["train"] & (seeds["val"] | seeds["test"])
    assert {n.style for n in plan} == {"hospital", "sleep-edf"}
    montages = {n.montage for n in plan if n.split == "train"}
    assert montages == {m for m, _ in HOSPITAL_MONTAGES + SLEEP_EDF_MONTAGES}
    single = [n for n in plan if n.montage.startswith("single-") or n.montage == "sleep-edf-fpz"]
    assert len(single) / len(plan) > 0.35  # one EEG channel is the commonest real montage


def test_a_single_eeg_corpus_night_has_one_eeg_slot(tmp_path):
    from sleepvit.io import load_study

    night = CorpusNight("train", seed=4, style="hospital", montage="single-O", hours=0.1)
    present = set(load_study(simulate_corpus_night(night, tmp_path).edf).signals)
    assert present & {"EEG_F", "EEG_C", "EEG_O"} == {"EEG_O"}


def test_corpus_montage_lacks_its_dropped_slots(tmp_path):
    from sleepvit.io import load_study

    night = CorpusNight("train", seed=3, style="hospital", montage="minimal", hours=0.1)
    record = simulate_corpus_night(night, tmp_path)
    present = load_study(record.edf).signals
    assert set(present) == {"EEG_C", "EOG_L", "EMG_CHIN"}
    assert record.split == "train" and record.hypnogram.is_file()


def test_fetch_sleep_edf_offline_is_a_one_line_error(tmp_path, capsys):
    code = main(
        ["fetch-sleep-edf", str(tmp_path), "--subjects", "0", "--mirror", "http://127.0.0.1:9/"]
    )
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after pooch's "Downloading…"
    assert code == 2
    assert last.startswith("error:") and "cannot download Sleep-EDF" in last and "--mirror" in last


def test_the_sequence_models_one_eeg_view_of_a_night_keeps_its_central_eeg_only():
    from sleepvit.datasets.cache import CachedNight
    from sleepvit.slots import SLOT_NAMES
    from sleepvit.train.loop import single_eeg_night

    config = RenderConfig()
    images = np.full((3, config.height, config.width), 200, np.uint8)
    present = np.isin(SLOT_NAMES, ["EEG_F", "EEG_C", "EOG_L", "EMG_CHIN"])
    night = CachedNight(None, images, present, np.array([0, 2, 4]))
    view = single_eeg_night(night)
    central = SLOT_NAMES.index("EEG_C")
    assert view.present.tolist() == [i == central for i in range(len(SLOT_NAMES))]
    rows = view.images.reshape(3, len(SLOT_NAMES), config.row_px, -1).max(axis=(2, 3))
    assert (rows[:, central] == 200).all() and rows.sum() == 3 * 200
    assert (night.images == 200).all() and view.labels is night.labels  # the night is kept
    frontal_only = single_eeg_night(CachedNight(None, images, np.isin(SLOT_NAMES, ["EEG_F"]), None))
    assert frontal_only.present[SLOT_NAMES.index("EEG_F")]

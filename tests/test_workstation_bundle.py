"""The hospital-workstation bundle (``make bundle``), built once per session and run the way a
locked-down workstation runs it: a clean environment (no venv, no Python on PATH, a fresh
home folder) and a read-only install folder, which must be exactly as it was afterwards.

The build takes about a minute; conftest.py starts it in the background as soon as the
tests are collected (:func:`start_bundle_build`), and this module, which runs last, waits
for it.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import numpy as np
import pytest

from sleepvit import __version__
from sleepvit.hypnogram import STAGES
from sleepvit.models.artifacts import default_weights_dir, read_config

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
HAS_GUI = "sleepvit-gui" in SCRIPTS
SIZE_GOAL_MIB = 350
"""The goal for ``du -sh dist/sleepvit``."""
TRAINING_AND_PEERS = ("torch", "torchvision", "timm", "captum", "onnx", "gssc", "yasa")
"""What the bundle must not hold (onnx is the exporter; onnxruntime is the runtime)."""
OUTPUTS = (
    "hypnogram.csv",
    "annotations.edf",
    "nsrr.xml",
    "summary.json",
    "report.pdf",
    "hypnogram.png",
)

needs_bundle = pytest.mark.skipif(
    importlib.util.find_spec("PyInstaller") is None, reason="PyInstaller is not installed"
)


def _tree(folder: Path) -> dict[str, tuple]:
    """Every entry under ``folder`` with its type, mode, size and modification time."""
    entries = {}
    for path in [folder, *folder.rglob("*")]:
        info = path.lstat()
        entries[str(path.relative_to(folder))] = (
            stat.S_IFMT(info.st_mode),
            stat.S_IMODE(info.st_mode),
            info.st_size,
            info.st_mtime_ns,
        )
    return entries


def _set_writable(folder: Path, writable: bool) -> None:
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            mode = path.stat().st_mode
            path.chmod(mode | stat.S_IWUSR if writable else mode & ~0o222)


BUILD = pytest.StashKey[dict]()


def start_bundle_build(config: pytest.Config) -> None:
    """Start installer/build.py into a temporary folder, once per session, in its own process
    group; the folder and a still running build are removed when the session ends."""
    if BUILD in config.stash or importlib.util.find_spec("PyInstaller") is None:
        return
    out = Path(tempfile.mkdtemp(prefix="sleepvit-bundle-"))
    log = open(out / "build.log", "w", encoding="utf-8")  # noqa: SIM115 (closed at cleanup)
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "installer" / "build.py"),
            "--dist",
            str(out / "dist"),
            "--work",
            str(out / "work"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    config.stash[BUILD] = {"out": out, "process": process}

    def cleanup():
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
        _set_writable(out, True)
        shutil.rmtree(out, ignore_errors=True)

    config.add_cleanup(cleanup)


@pytest.fixture(scope="session")
def bundle(request):
    """``dist/sleepvit`` as built by installer/build.py, made read-only (``chmod -R a-w``);
    ``(folder, its tree before any run)``."""
    start_bundle_build(request.config)
    build = request.config.stash[BUILD]
    returncode = build["process"].wait(timeout=1800)
    log = (build["out"] / "build.log").read_text(encoding="utf-8", errors="replace")
    assert returncode == 0, f"bundle build failed:\n{log[-6000:]}"
    folder = build["out"] / "dist" / "sleepvit"
    _set_writable(folder, False)
    yield folder, _tree(folder)
    _set_writable(folder, True)


@pytest.fixture(scope="session")
def workstation(bundle, tmp_path_factory):
    """``run(program, *args, check=True) -> CompletedProcess`` of a bundled program with only
    what a workstation session has: HOME, a private runtime folder, LANG and system PATH."""
    folder, _ = bundle
    home = tmp_path_factory.mktemp("home")
    runtime = home / "runtime"
    runtime.mkdir(mode=0o700)
    env = {
        "HOME": str(home),
        "XDG_RUNTIME_DIR": str(runtime),
        "LANG": "C.UTF-8",
        "PATH": "/usr/bin:/bin",
    }

    def run(program, *args, check=True, extra_env=None):
        done = subprocess.run(
            [str(folder / program), *map(str, args)],
            env={**env, **(extra_env or {})},
            cwd=home,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check:
            assert done.returncode == 0, f"{program} {args}: {done.returncode}\n{done.stderr}"
        return done

    run.home = home
    return run


@pytest.mark.slow
@needs_bundle
def test_bundle_holds_the_int8_runtime_and_no_training_stack_or_peers(bundle):
    folder, _ = bundle
    internal = folder / "_internal"
    weights = internal / "sleepvit" / "models" / "weights" / default_weights_dir().name
    assert all((weights / f"{model}.int8.onnx").is_file() for model in ("epoch_vit", "sequence"))
    assert not list(weights.glob("*.safetensors")), "torch-only weights in the bundle"
    assert list((internal / "onnxruntime" / "capi").glob("onnxruntime_pybind11_state*"))
    files = [p.relative_to(internal) for p in internal.rglob("*")]
    tops = {p.parts[0].split(".")[0] for p in files}
    assert not tops & set(TRAINING_AND_PEERS), sorted(tops & set(TRAINING_AND_PEERS))
    assert not [p for p in files if re.search(r"(torch|cudnn|cublas|nccl)", p.name)]
    assert ("PySide6" in tops) == HAS_GUI
    from PyInstaller.archive.readers import CArchiveReader

    for program in ("sleepvit", "sleepvit-gui") if HAS_GUI else ("sleepvit",):
        modules = set(CArchiveReader(str(folder / program)).open_embedded_archive("PYZ.pyz").toc)
        assert {"onnxruntime", "sleepvit.pipeline", "sleepvit.report.pdf"} <= modules
        inside = sorted(m for m in modules if m.split(".")[0] in TRAINING_AND_PEERS)
        assert not inside, f"{program} holds {inside[:10]}"
    size_mib = int(
        subprocess.run(
            ["du", "-sm", folder], capture_output=True, text=True, check=True
        ).stdout.split()[0]
    )
    assert size_mib <= SIZE_GOAL_MIB, f"bundle is {size_mib} MiB, goal {SIZE_GOAL_MIB} MiB"


@pytest.mark.slow
@needs_bundle
def test_version_names_the_package_and_the_shipped_model(workstation):
    model = read_config(default_weights_dir())
    done = workstation("sleepvit", "--version")
    assert done.stdout.strip() == f"sleepvit {__version__}, model {model.name} {model.version}"


@pytest.mark.slow
@needs_bundle
def test_bundle_scores_two_nights_in_parallel_as_the_package_does(
    workstation, bundle, hospital_night, sleep_edf_night, fixture_stages, tmp_path
):
    from sleepvit.pipeline import score_night

    nights = [hospital_night[0], sleep_edf_night[0]]
    ld_log = tmp_path / "ld"
    ld_log.mkdir()
    # --jobs 2: spawn workers, which a frozen program only survives with freeze_support().
    workstation(
        "sleepvit",
        "score",
        *nights,
        "--out",
        tmp_path / "out",
        "--jobs",
        2,
        extra_env={"LD_DEBUG": "files", "LD_DEBUG_OUTPUT": str(ld_log / "ld")},
    )
    folder, _ = bundle
    for edf in nights:
        for suffix in OUTPUTS:
            assert (tmp_path / "out" / f"{edf.stem}.{suffix}").stat().st_size > 0, suffix
        with open(tmp_path / "out" / f"{edf.stem}.hypnogram.csv", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        stages = [row["stage"] for row in rows]
        assert len(stages) == len(fixture_stages) and set(stages) <= set(STAGES)
        agreement = np.mean([a == b for a, b in zip(stages, fixture_stages, strict=True)])
        assert agreement >= 0.8, f"{edf.name}: {agreement:.0%} of the simulated stages"
        # The same night scored by the installed package: same stages, same probabilities.
        expected = score_night(edf)
        assert stages == expected.names()
        got = np.array([[float(row[f"p_{s}"]) for s in STAGES] for row in rows])
        np.testing.assert_allclose(got, expected.probabilities, atol=1e-3)
        summary = json.loads((tmp_path / "out" / f"{edf.stem}.summary.json").read_text("utf-8"))
        assert Path(summary["model"]["weights"]).is_relative_to(folder)
    # Every library the three processes loaded is the bundle's or the system's (glibc, zlib):
    # nothing from the build machine's Python or venvs.
    loaded = set()
    for log in ld_log.iterdir():
        loaded.update(re.findall(r"calling init: (\S+)", log.read_text(errors="replace")))
    assert len(list(ld_log.iterdir())) >= 3
    outside = {p for p in loaded if not Path(p).is_relative_to(folder)}
    assert outside and all(p.startswith(("/lib", "/usr/lib")) for p in outside), sorted(outside)


@pytest.mark.slow
@needs_bundle
def test_bundle_reads_a_file_only_the_mne_fallback_opens(workstation, hospital_night, tmp_path):
    unclosed = tmp_path / "unclosed.edf"
    raw = bytearray(hospital_night[0].read_bytes())
    raw[236:244] = b"-1      "  # number of data records: -1, a recording never closed
    unclosed.write_bytes(bytes(raw))
    done = workstation("sleepvit", "inspect", unclosed)
    assert "mne fallback" in done.stdout
    assert "EEG_C" in done.stdout


@pytest.mark.slow
@needs_bundle
def test_bundle_errors_are_one_line(workstation, hospital_night, tmp_path):
    junk = tmp_path / "junk.edf"
    junk.write_bytes(os.urandom(3000))
    cases = [
        (("inspect", tmp_path / "missing.edf"), "missing.edf: does not exist"),
        (("score", junk, "--out", tmp_path / "out"), "junk.edf: not an EDF/EDF+/BDF recording"),
        (
            ("score", hospital_night[0], "--out", tmp_path / "o", "--backend", "torch"),
            "backend torch needs torch",
        ),
        (("train", "--data", tmp_path, "--out", tmp_path / "run"), "needs torch (the train extra)"),
    ]
    for args, expected in cases:
        done = workstation("sleepvit", *args, check=False)
        errors = [line for line in done.stderr.splitlines() if line]
        assert done.returncode == 2, (args, done.stderr)
        assert len(errors) == 1 and errors[0].startswith("error: "), (args, done.stderr)
        assert expected in errors[0], (args, errors[0])


@pytest.mark.skipif(not HAS_GUI, reason="sleepvit-gui is not declared in pyproject.toml yet")
@pytest.mark.slow
@needs_bundle
def test_bundled_desktop_app_passes_its_self_test_offscreen(workstation):
    done = workstation("sleepvit-gui", "--self-test", extra_env={"QT_QPA_PLATFORM": "offscreen"})
    assert "self-test passed" in done.stdout


@pytest.mark.slow
@needs_bundle
def test_bundle_writes_nothing_inside_its_folder_and_keeps_caches_in_the_user_cache(
    workstation, bundle, hospital_night, tmp_path
):
    folder, before = bundle
    # chmod -R a-w; root could still write, so the tree is compared too.
    writable = [
        k for k, (kind, mode, *_) in before.items() if kind != stat.S_IFLNK and mode & 0o222
    ]
    assert not writable, writable[:5]
    workstation("sleepvit", "score", hospital_night[0], "--out", tmp_path / "out")
    if HAS_GUI:
        workstation("sleepvit-gui", "--self-test", extra_env={"QT_QPA_PLATFORM": "offscreen"})
    after = _tree(folder)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, f"the bundle changed its own folder: {changed[:10]}"
    cache = workstation.home / ".cache"
    assert list(cache.glob("sleepvit/matplotlib-*/fontlist-*.json")), "matplotlib font cache"
    # ONNX Runtime's telemetry (device id, event cache) is off on an offline workstation.
    assert not (cache / "Microsoft").exists()


def test_installer_examples_run():
    import doctest

    sys.path.insert(0, str(ROOT / "installer"))
    try:
        import bundle_layout
    finally:
        sys.path.remove(str(ROOT / "installer"))
    result = doctest.testmod(bundle_layout)
    assert result.attempted and not result.failed

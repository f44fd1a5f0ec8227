"""A simulated, scored training corpus (the data of the shipped demo weights).

Nights come from :mod:`sleepvit.synth` in both styles — hospital PSG and Sleep-EDF — and,
for hospital nights, with montages that real labs have: no occipital EEG, one EOG, no ECG
or breathing channels, or a minimal EEG/EOG/EMG set. Each split draws its seeds from its own
range (train ``base + i``, val ``base + 10000 + i``, test ``base + 20000 + i``), so no
evaluation night shares a simulated subject with training. Every night is *recorded* with
settings drawn per night and per channel from the training ranges of
:mod:`sleepvit.synth.families` (rate, amplifier filters, gains, polarity, noise); seeds of the
held-out families (from 6,000,000) are refused. ``manifest.csv`` lists every
night with its split for ``sleepvit train`` and ``sleepvit evaluate``.
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from sleepvit.datasets.nights import NightRecord, write_manifest
from sleepvit.errors import SleepVitError
from sleepvit.synth.families import check_training_seed

DEFAULT_SEED_BASE = 1000
"""First corpus seed. Train, val and test seeds (1000+, 11000+, 21000+) stay clear of the demo
night (seed 7) and the test fixtures (seed 2026), so a default corpus never trains on a night
the demo or the tests score."""
SEED_STRIDE = 10_000
"""Distance between the seed ranges of train, val and test."""
SPLIT_OFFSETS: dict[str, int] = {"train": 0, "val": SEED_STRIDE, "test": 2 * SEED_STRIDE}

HOSPITAL_MONTAGES: tuple[tuple[str, frozenset[str]], ...] = (
    ("full", frozenset()),
    ("no-occipital", frozenset({"EEG_O"})),
    ("single-eog", frozenset({"EOG_R"})),
    ("no-cardiorespiratory", frozenset({"ECG", "FLOW", "EFFORT_THO", "EFFORT_ABD", "SPO2"})),
    (
        "minimal",
        frozenset({"EEG_F", "EEG_O", "EOG_R", "ECG", "FLOW", "EFFORT_THO", "EFFORT_ABD", "SPO2"}),
    ),
    *(
        (f"single-{site}", frozenset({"EEG_F", "EEG_C", "EEG_O", "EOG_R"} - {f"EEG_{site}"}))
        for site in "FCO"
    ),
)
"""Montage name and the slots it lacks; hospital nights cycle through these. Three of the
eight keep one EEG channel only (plus EOG and chin), the commonest montage of real databases."""
SLEEP_EDF_EVERY = 3
"""Every third night is in Sleep-EDF style (Fpz-Cz/Pz-Oz, one EOG, EMG envelope); every other
one of those keeps Fpz-Cz alone."""
SLEEP_EDF_MONTAGES: tuple[tuple[str, frozenset[str]], ...] = (
    ("sleep-edf", frozenset()),
    ("sleep-edf-fpz", frozenset({"EEG_O"})),
)


@dataclass(frozen=True)
class CorpusNight:
    split: str
    seed: int
    style: str
    montage: str
    hours: float

    @property
    def stem(self) -> str:
        return f"sim-{self.seed:05d}"


def plan_corpus(
    n_train: int,
    n_val: int,
    n_test: int,
    seed_base: int = DEFAULT_SEED_BASE,
    hours: float = 7.0,
) -> list[CorpusNight]:
    """The nights of a corpus: split, seed, style and montage of each.

    Examples
    --------
    >>> plan = plan_corpus(6, 1, 2, seed_base=100)
    >>> [(n.seed, n.montage) for n in plan[:3]]
    [(100, 'sleep-edf'), (101, 'no-occipital'), (102, 'single-eog')]
    >>> {n.split: n.seed for n in plan}
    {'train': 105, 'val': 10100, 'test': 20101}
    """
    counts = {"train": n_train, "val": n_val, "test": n_test}
    if max(counts.values()) > SEED_STRIDE or min(counts.values()) < 0:
        raise SleepVitError(f"each split needs 0 to {SEED_STRIDE} nights; got {counts}")
    plan = []
    for split, count in counts.items():
        for i in range(count):
            if i % SLEEP_EDF_EVERY == 0:
                style = "sleep-edf"
                montage = SLEEP_EDF_MONTAGES[(i // SLEEP_EDF_EVERY) % len(SLEEP_EDF_MONTAGES)][0]
            else:
                style, montage = "hospital", HOSPITAL_MONTAGES[i % len(HOSPITAL_MONTAGES)][0]
            seed = seed_base + SPLIT_OFFSETS[split] + i
            check_training_seed(seed)
            plan.append(CorpusNight(split, seed, style, montage, hours))
    return plan


def simulate_corpus_night(night: CorpusNight, folder: Path) -> NightRecord:
    """Simulate and write one night (skipped if its files exist: a stopped run resumes)."""
    from sleepvit.io.channels import slot_of_label
    from sleepvit.synth import write_night
    from sleepvit.synth.families import simulate_training_night

    edf = folder / night.split / f"{night.stem}.edf"
    hypnogram = edf.with_name(f"{night.stem}-Hypnogram.edf")
    if not (edf.is_file() and hypnogram.is_file()):
        simulated = simulate_training_night(night.seed, night.hours, night.style)
        dropped = dict(HOSPITAL_MONTAGES + SLEEP_EDF_MONTAGES).get(night.montage, frozenset())
        if dropped:
            channels = [c for c in simulated.channels if slot_of_label(c.label) not in dropped]
            simulated = dataclasses.replace(simulated, channels=channels)
        edf, hypnogram = write_night(simulated, edf)
    return NightRecord(Path(edf), Path(hypnogram), night.stem, night.split)


def build_corpus(
    folder: str | Path,
    n_train: int = 60,
    n_val: int = 10,
    n_test: int = 20,
    seed_base: int = DEFAULT_SEED_BASE,
    hours: float = 7.0,
    jobs: int = 1,
) -> Path:
    """Simulate a corpus into ``folder`` and write ``folder/manifest.csv``; returns its path."""
    folder = Path(folder)
    plan = plan_corpus(n_train, n_val, n_test, seed_base, hours)
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            records = list(
                tqdm(
                    pool.map(simulate_corpus_night, plan, [folder] * len(plan)),
                    total=len(plan),
                    desc="simulate",
                    unit="night",
                )
            )
    else:
        records = [
            simulate_corpus_night(n, folder) for n in tqdm(plan, desc="simulate", unit="night")
        ]
    return write_manifest(records, folder / "manifest.csv")

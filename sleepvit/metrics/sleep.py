"""AASM sleep statistics of one night: the numbers on a sleep report.

Definitions (AASM Manual for the Scoring of Sleep and Associated Events; all durations in
minutes, counted in whole epochs):

- **Time in bed (TIB)**: lights off → lights on. An epoch is in bed when at least half of it
  lies between lights off and lights on; epochs outside are ignored by every statistic.
  Without lights times, the whole hypnogram is in bed.
- **Sleep onset**: the first epoch of N1, N2, N3 or REM in bed.
- **Sleep onset latency (SOL)**: lights off → sleep onset.
- **Sleep period time (SPT)**: sleep onset → end of the last sleep epoch.
- **Total sleep time (TST)**: N1 + N2 + N3 + REM epochs.
- **Wake after sleep onset (WASO)**: W epochs within SPT.
- **Sleep efficiency**: 100 · TST / TIB.
- **REM latency**: sleep onset → first REM epoch (AASM; *not* from lights off).
- **Stage minutes and % of TST** for N1, N2, N3 and REM.
- **Awakenings**: wake bouts within SPT. A bout is a maximal run of non-sleep epochs
  (W or UNS) between two sleep epochs; it counts when it holds at least
  ``min_awakening_s`` of W (default :data:`MIN_AWAKENING_S` = 30 s, i.e. one epoch of W
  is an awakening). A run of UNS alone (an artefact during sleep) is not an awakening.
- **Stage shifts**: changes of stage between consecutive scored epochs in bed; UNS epochs
  are skipped, so ``N2 UNS N2`` is no shift and ``N2 UNS N3`` is one.

UNS (unscored, artefact, movement time) epochs are excluded from TST, WASO and every
stage total, but they are time in bed: they count in TIB (and so lower sleep efficiency),
and UNS inside the sleep period counts in SPT. Hence ``SPT = TST + WASO + UNS within SPT``.
Statistics that need sleep (SOL, WASO, % of TST) or REM (REM latency) are ``None`` when the
night has none.

Differences from YASA's ``yasa.sleep_statistics`` (checked on 197 Sleep-EDF hypnograms in
``tests/test_metrics.py``):

- YASA's ``Lat_REM`` is measured from the start of the hypnogram (lights off); ours from
  sleep onset, as AASM defines it: ``rem_latency = Lat_REM − SOL``.
- YASA has no lights times: it expects the hypnogram already cropped to TIB. Ours crops;
  on the cropped hypnogram both agree.
- YASA's N1/N2/N3/REM minutes count the whole hypnogram; ours count epochs in bed. Without
  lights times they agree.
- Art/Uns: YASA (≥ 0.5) also leaves them out of TST and in TIB and SPT, as we do: TIB, SPT,
  TST, WASO, SOL, SE and % of TST agree exactly.
- YASA reports no awakenings or stage shifts. Its ``SFI`` (``yasa.Hypnogram``) counts every
  sleep → W transition, including the final one after the last sleep epoch, and a bout
  entered through an UNS epoch (``N2 UNS W``) is not counted. On nights without UNS in the
  sleep period: ``awakenings = SFI · TST / 60 − 1`` if the night ends awake after sleep.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from sleepvit.errors import HypnogramError
from sleepvit.hypnogram import STAGE_CODE, UNS, Hypnogram

MIN_AWAKENING_S = 30.0
"""Shortest wake bout within the sleep period that counts as an awakening (one epoch)."""

_WAKE = STAGE_CODE["W"]
_SLEEP_STAGES = ("N1", "N2", "N3", "REM")


@dataclass(frozen=True)
class SleepStatistics:
    """AASM statistics of one night; durations in minutes, ``None`` where undefined."""

    lights_off_s: float
    """Onset of the first epoch in bed, seconds from the recording start."""
    lights_on_s: float
    """End of the last epoch in bed, seconds from the recording start."""
    tib_min: float
    tst_min: float
    spt_min: float
    sleep_onset_latency_min: float | None
    waso_min: float | None
    sleep_efficiency_pct: float
    rem_latency_min: float | None
    wake_min: float
    """All W in bed: before sleep onset, within SPT and after the final awakening."""
    n1_min: float
    n2_min: float
    n3_min: float
    rem_min: float
    unscored_min: float
    n1_pct_tst: float | None
    n2_pct_tst: float | None
    n3_pct_tst: float | None
    rem_pct_tst: float | None
    awakenings: int
    stage_shifts: int
    min_awakening_s: float = MIN_AWAKENING_S

    def to_dict(self) -> dict:
        """Plain dict of every statistic, ready for :func:`json.dump`."""
        return asdict(self)


def sleep_statistics(
    hyp: Hypnogram,
    lights_off_s: float | None = None,
    lights_on_s: float | None = None,
    min_awakening_s: float = MIN_AWAKENING_S,
) -> SleepStatistics:
    """Compute the AASM statistics of ``hyp`` between lights off and lights on.

    ``lights_off_s`` / ``lights_on_s`` are seconds from the recording start (the same
    reference as :attr:`Hypnogram.onsets_s`); ``None`` means the start / end of the
    hypnogram. See the module docstring for every definition.

    Examples
    --------
    >>> hyp = Hypnogram.from_names(["W", "W", "N1", "N2", "W", "N2", "REM", "REM", "W"])
    >>> stats = sleep_statistics(hyp)
    >>> stats.tib_min, stats.tst_min, stats.spt_min, stats.waso_min
    (4.5, 2.5, 3.0, 0.5)
    >>> stats.sleep_onset_latency_min, stats.rem_latency_min, stats.awakenings
    (1.0, 2.0, 1)
    >>> sleep_statistics(hyp, lights_off_s=60).sleep_onset_latency_min
    0.0
    """
    in_bed = _epochs_in_bed(hyp, lights_off_s, lights_on_s)
    codes = hyp.stages[in_bed]
    epoch_min = hyp.epoch_s / 60.0
    is_sleep = codes > _WAKE
    sleep_idx = np.flatnonzero(is_sleep)
    has_sleep = sleep_idx.size > 0
    onset, last = (int(sleep_idx[0]), int(sleep_idx[-1])) if has_sleep else (0, -1)
    sleep_period = codes[onset : last + 1]

    def minutes_of(mask: np.ndarray) -> float:
        return float(np.count_nonzero(mask)) * epoch_min

    minutes = {name: minutes_of(codes == STAGE_CODE[name]) for name in _SLEEP_STAGES}
    tib = minutes_of(in_bed)
    tst = minutes_of(is_sleep)
    rem_idx = np.flatnonzero(codes == STAGE_CODE["REM"])

    def pct_tst(name: str) -> float | None:
        return 100.0 * minutes[name] / tst if has_sleep else None

    return SleepStatistics(
        lights_off_s=float(hyp.onsets_s[in_bed][0]),
        lights_on_s=float(hyp.onsets_s[in_bed][-1] + hyp.epoch_s),
        tib_min=tib,
        tst_min=tst,
        spt_min=sleep_period.size * epoch_min,
        sleep_onset_latency_min=onset * epoch_min if has_sleep else None,
        waso_min=minutes_of(sleep_period == _WAKE) if has_sleep else None,
        sleep_efficiency_pct=100.0 * tst / tib,
        rem_latency_min=(int(rem_idx[0]) - onset) * epoch_min if rem_idx.size else None,
        wake_min=minutes_of(codes == _WAKE),
        n1_min=minutes["N1"],
        n2_min=minutes["N2"],
        n3_min=minutes["N3"],
        rem_min=minutes["REM"],
        unscored_min=minutes_of(codes == UNS),
        n1_pct_tst=pct_tst("N1"),
        n2_pct_tst=pct_tst("N2"),
        n3_pct_tst=pct_tst("N3"),
        rem_pct_tst=pct_tst("REM"),
        awakenings=_count_awakenings(sleep_period, min_awakening_s / hyp.epoch_s),
        stage_shifts=int(np.count_nonzero(np.diff(codes[codes != UNS]))),
        min_awakening_s=min_awakening_s,
    )


def _epochs_in_bed(hyp: Hypnogram, lights_off_s: float | None, lights_on_s: float | None):
    """Boolean mask of the epochs at least half of which lie between lights off and on."""
    centres = hyp.onsets_s + hyp.epoch_s / 2
    off = -np.inf if lights_off_s is None else lights_off_s
    on = np.inf if lights_on_s is None else lights_on_s
    if off >= on:
        raise HypnogramError(
            f"lights off ({off:.0f} s) is not before lights on ({on:.0f} s); "
            "check the lights-off and lights-on times",
            settings=("lights_off", "lights_on"),
        )
    in_bed = (centres >= off) & (centres < on)
    if not in_bed.any():
        raise HypnogramError(
            f"no epoch of the {hyp.duration_s / 3600:.1f}-h hypnogram lies between lights off "
            "and lights on; check the lights-off and lights-on times",
            settings=("lights_off", "lights_on"),
        )
    return in_bed


def _count_awakenings(sleep_period: np.ndarray, min_wake_epochs: float) -> int:
    """Non-sleep runs (W or UNS) between sleep epochs holding at least ``min_wake_epochs`` W."""
    is_sleep = sleep_period > _WAKE
    # A run starts where sleep gives way to non-sleep; the sleep period starts and ends asleep.
    run_id = np.cumsum(is_sleep)[~is_sleep]
    wake_per_run = np.bincount(run_id, weights=sleep_period[~is_sleep] == _WAKE)
    return int(np.count_nonzero(wake_per_run >= max(min_wake_epochs, 1)))

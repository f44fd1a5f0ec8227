"""Display filters: one slot's signal turned into samples on the pixel grid, chunk by chunk.

Like a PSG review screen, every trace is band-pass filtered (AASM display bands: EEG/EOG
0.3–35 Hz, chin EMG 10–100 Hz, ECG 0.3–70 Hz, breathing 0.1–15 Hz), optionally notched at the
mains frequency, and brought to a *display rate* that is an exact whole number of samples per
pixel column, so the rasteriser only has to take minima and maxima of equal-sized groups.

The night is never filtered as a whole: :meth:`TracePlan.segment` filters any span of the
display grid from the source samples around it, padded on both sides by enough real signal for
the filter transients to die out before the span begins. Consecutive segments therefore join
without edge artefacts, and a 24-h night never holds more than one chunk in float64.

Rules a technician would expect (and that the tests pin down):

* Zero-phase filtering (``sosfiltfilt``): waves stay where they are in time.
* High-rate signals are first brought down to the display rate with a polyphase resampler
  (its anti-alias filter sits below the new Nyquist frequency), then filtered, which is cheap.
* Signals sampled more slowly than the pixel grid (Sleep-EDF's 1-Hz ``Resp oro-nasal``) are
  filtered at their own rate and joined by straight lines, as review software draws them:
  a polyphase interpolator would ring around every step.
* A band edge the signal cannot carry (a low-pass above its Nyquist frequency) is skipped.
* A chin EMG recorded as an RMS envelope (Sleep-EDF's 1-Hz ``EMG submental``) is not
  band-passed — a 10-Hz high-pass would erase it. It is marked ``envelope`` and drawn as the
  band a raw EMG of that RMS amplitude fills on screen (see :mod:`sleepvit.rendering.raster`),
  so chin tone reads the same in a hospital night and a Sleep-EDF night.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy import signal

from sleepvit.slots import DISPLAY_FILTER_ORDER, SLOT_BY_NAME, Modality

FILTER_ORDER = DISPLAY_FILTER_ORDER
"""Butterworth order of each band edge; ``sosfiltfilt`` doubles the effective slope."""
NOTCH_Q = 30.0
"""Quality factor of the mains notch: about 2 Hz wide at 50/60 Hz."""
DETAIL_FACTOR = 3
"""Display rate = this many samples per period of the band's highest frequency (if the source
has them), so a column's minimum and maximum catch the real peaks of spindles and EMG."""
MIN_SAMPLES_PER_COLUMN = 2
KEEP_NATIVE_RATIO = 1.5
"""A source within this factor of the wanted display rate, on the pixel grid already, is kept."""
SETTLE_PERIODS = 8.0
"""Padding around a segment, in periods of the high-pass corner: the transient of a
second-order high-pass has decayed by e⁻²⁰ or more after that long."""
MIN_PAD_S = 2.0
RESAMPLER_HALF_LENGTH = 4
"""Anti-alias FIR half-length in periods of the slower rate (scipy's default is 10): the
display band-pass after it removes what the shorter filter lets through near the new
Nyquist frequency, and the resampler is the costliest step of a night."""
MAX_RESAMPLE_TERM = 1000
"""Cap on the resampling ratio's numerator/denominator (keeps the polyphase filter short for
odd sampling rates; the timing error that leaves is far below a pixel)."""


@dataclass(frozen=True)
class TracePlan:
    """How one slot's source samples become display samples; built by :func:`plan_trace`.

    Display sample ``m`` lies at ``m / fs_out`` seconds from the recording start; pixel column
    ``c`` of epoch ``e`` holds display samples ``(e·W + c)·k … (e·W + c)·k + k − 1`` with
    ``W = columns_per_epoch`` and ``k = samples_per_column``.
    """

    fs_in: float
    columns_per_epoch: int
    samples_per_column: int
    epoch_s: float
    up: int
    down: int
    interpolate: bool
    """Join source samples by straight lines instead of polyphase resampling."""
    resampler: np.ndarray | None
    """Anti-alias FIR of the polyphase resampler; ``None`` when rates are equal or interpolating."""
    sos: np.ndarray | None
    """Second-order sections of band-pass and notch, applied at :attr:`filter_rate`."""
    sos_zi: np.ndarray | None
    """Steady-state initial conditions of ``sos`` per unit input (designed once, not per chunk)."""
    envelope: bool
    """The source is an amplitude envelope; drawn as a symmetric band, never band-passed."""
    pad_s: float

    @property
    def fs_out(self) -> float:
        return self.columns_per_epoch * self.samples_per_column / self.epoch_s

    @property
    def filter_rate(self) -> float:
        return self.fs_in if self.interpolate else self.fs_out

    @property
    def samples_per_epoch(self) -> int:
        return self.columns_per_epoch * self.samples_per_column

    def segment(self, data: np.ndarray, start: int, stop: int) -> np.ndarray:
        """Filtered display samples ``start … stop − 1`` (float32, NaN where there is no signal).

        ``start`` may be negative and ``stop`` may run past the end of the signal: those
        samples are NaN, which the rasteriser leaves blank.

        Examples
        --------
        >>> import numpy as np
        >>> plan = plan_trace("EEG_C", (0.3, 35.0), sfreq=256.0, columns_per_epoch=240,
        ...                   epoch_s=30.0, notch_hz=None)
        >>> plan.fs_out, plan.samples_per_column
        (112.0, 14)
        >>> night = np.zeros(256 * 120, dtype=np.float32)
        >>> plan.segment(night, -1, 4).tolist()
        [nan, 0.0, 0.0, 0.0, 0.0]
        """
        out = np.full(stop - start, np.nan, dtype=np.float32)
        lo, hi = max(start, 0), stop
        if hi <= lo or data.size == 0:
            return out
        if self.interpolate:
            values = self._interpolated(data, lo, hi)
        else:
            values = self._resampled(data, lo, hi)
        out[lo - start : lo - start + values.size] = values
        return out

    def _pad_samples(self, multiple: int) -> int:
        return math.ceil(self.pad_s * self.fs_in / multiple) * multiple

    def _filtered(self, x: np.ndarray) -> np.ndarray:
        """Forward-backward filtering, as ``scipy.signal.sosfiltfilt`` (odd extension at the
        ends), with the initial conditions computed once per plan instead of once per chunk."""
        if self.sos is None or x.size < 2:
            return x
        edge = min(3 * (2 * len(self.sos) + 1), x.size - 1)
        extended = np.concatenate((2 * x[0] - x[edge:0:-1], x, 2 * x[-1] - x[-2 : -edge - 2 : -1]))
        y, _ = signal.sosfilt(self.sos, extended, zi=self.sos_zi * extended[0])
        y, _ = signal.sosfilt(self.sos, y[::-1], zi=self.sos_zi * y[-1])
        return y[::-1][edge : edge + x.size]

    def _resampled(self, data: np.ndarray, lo: int, hi: int) -> np.ndarray:
        up, down = self.up, self.down
        # Work in blocks of `up` display samples: each starts exactly on a source sample.
        block_lo, block_hi = (lo // up) * up, -(-hi // up) * up
        src_lo, src_hi = block_lo // up * down, block_hi // up * down
        pad = self._pad_samples(down)
        first = max(src_lo - pad, 0)
        x = np.asarray(data[first : min(src_hi + pad, data.size)], dtype=np.float64)
        if self.resampler is not None:
            x = signal.resample_poly(x, up, down, window=self.resampler, padtype="line")
        y = self._filtered(x)
        offset = (src_lo - first) // down * up + (lo - block_lo)
        return y[offset : offset + hi - lo].astype(np.float32)

    def _interpolated(self, data: np.ndarray, lo: int, hi: int) -> np.ndarray:
        position = np.arange(lo, hi) * (self.fs_in / self.fs_out)  # in source samples
        pad = self._pad_samples(1)
        first = max(int(position[0]) - pad, 0)
        last = min(int(position[-1]) + 2 + pad, data.size)
        if first >= last:
            return np.empty(0, dtype=np.float32)
        y = self._filtered(np.asarray(data[first:last], dtype=np.float64))
        # The last source sample stands for the whole sampling interval it opens.
        values = np.interp(position - first, np.arange(y.size), y)
        values[position >= data.size] = np.nan
        return values.astype(np.float32)


def plan_trace(
    slot: str,
    band_hz: tuple[float, float] | None,
    sfreq: float,
    columns_per_epoch: int,
    epoch_s: float,
    notch_hz: float | None,
) -> TracePlan:
    """Choose display rate, resampling and filters for one slot's signal.

    The display rate is the lowest whole number of samples per pixel column that keeps
    :data:`DETAIL_FACTOR` samples per period of the band's upper edge (never more than the
    source has), so a 1920-px screen needs fewer samples per column than a 240-px image.

    Examples
    --------
    >>> plan = plan_trace("EMG_CHIN", (10.0, 100.0), sfreq=1.0, columns_per_epoch=240,
    ...                   epoch_s=30.0, notch_hz=50.0)
    >>> plan.envelope, plan.interpolate, plan.sos is None
    (True, True, True)
    """
    if sfreq <= 0:
        raise ValueError(f"sampling rate must be positive, got {sfreq}")
    source_per_column = sfreq * epoch_s / columns_per_epoch
    interpolate = source_per_column < MIN_SAMPLES_PER_COLUMN
    if interpolate or band_hz is None:
        k = MIN_SAMPLES_PER_COLUMN
    else:
        wanted = min(sfreq, DETAIL_FACTOR * band_hz[1]) * epoch_s / columns_per_epoch
        k = max(MIN_SAMPLES_PER_COLUMN, math.ceil(wanted - 1e-9))
        if source_per_column.is_integer() and source_per_column <= KEEP_NATIVE_RATIO * k:
            k = int(source_per_column)  # resampling would cost more than it saves
    ratio = (Fraction(columns_per_epoch * k) / Fraction(epoch_s)) / Fraction(sfreq)
    ratio = ratio.limit_denominator(MAX_RESAMPLE_TERM)
    filter_rate = sfreq if interpolate else columns_per_epoch * k / epoch_s
    resampler = None
    if not interpolate and ratio != 1:
        slower = max(ratio.numerator, ratio.denominator)
        resampler = signal.firwin(
            2 * RESAMPLER_HALF_LENGTH * slower + 1, 1 / slower, window=("kaiser", 5.0)
        )

    spec = SLOT_BY_NAME.get(slot)
    envelope = (
        spec is not None
        and spec.modality is Modality.EMG
        and band_hz is not None
        and band_hz[0] >= 0.45 * sfreq
    )
    sections = []
    if band_hz is not None and not envelope:
        sections += _band_sections(band_hz, filter_rate)
    mains_carried = notch_hz is not None and notch_hz < 0.48 * filter_rate
    if mains_carried and spec is not None and spec.is_electrophysiology and not envelope:
        b, a = signal.iirnotch(notch_hz, NOTCH_Q, fs=filter_rate)
        sections.append(signal.tf2sos(b, a))
    high_pass = band_hz[0] if band_hz is not None and not envelope else 0.0
    pad_s = max(MIN_PAD_S, SETTLE_PERIODS / high_pass) if high_pass > 0 else MIN_PAD_S
    sos = np.concatenate(sections) if sections else None
    return TracePlan(
        fs_in=float(sfreq),
        columns_per_epoch=columns_per_epoch,
        samples_per_column=k,
        epoch_s=epoch_s,
        up=ratio.numerator,
        down=ratio.denominator,
        interpolate=interpolate,
        resampler=resampler,
        sos=sos,
        sos_zi=signal.sosfilt_zi(sos) if sos is not None else None,
        envelope=envelope,
        pad_s=pad_s,
    )


def _band_sections(band_hz: tuple[float, float], fs: float) -> list[np.ndarray]:
    """Butterworth sections for the band edges this sampling rate can carry."""
    low, high = band_hz
    nyquist = fs / 2
    use_low = 0 < low < 0.9 * nyquist
    use_high = high < 0.9 * nyquist and (not use_low or high > low)
    if use_low and use_high:
        return [signal.butter(FILTER_ORDER, (low, high), "bandpass", fs=fs, output="sos")]
    if use_low:
        return [signal.butter(FILTER_ORDER, low, "highpass", fs=fs, output="sos")]
    if use_high:
        return [signal.butter(FILTER_ORDER, high, "lowpass", fs=fs, output="sos")]
    return []

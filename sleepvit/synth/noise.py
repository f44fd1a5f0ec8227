"""Random signals with a prescribed spectrum, drawn directly in the frequency domain.

Drawing complex Gaussian coefficients and doing one inverse real FFT is the cheapest
way to get long stretches of coloured or band-limited noise: no filter transients,
no forward transform, float32 throughout, and random numbers drawn only inside the
band that the spectrum leaves open.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.fft


@dataclass(frozen=True)
class Spectrum:
    """An amplitude response ``gain(f)`` that is zero outside ``[low, high]`` Hz."""

    gain: Callable[[np.ndarray], np.ndarray]
    low: float
    high: float


def spectral_noise(n: int, fs: float, spectrum: Spectrum, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance noise of length ``n`` whose amplitude spectrum follows ``spectrum``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = spectral_noise(4096, 256.0, band(8, 12), rng)
    >>> x.dtype, round(float(x.std()), 2)
    (dtype('float32'), 1.0)
    """
    n_bins = n // 2 + 1
    lo = min(max(int(np.floor(spectrum.low * n / fs)), 0), n_bins)
    hi = min(max(int(np.ceil(spectrum.high * n / fs)) + 1, lo), n_bins)
    freqs = np.arange(lo, hi, dtype=np.float32) * np.float32(fs / n)
    shape = np.asarray(spectrum.gain(freqs), dtype=np.float32)
    coeffs = np.zeros(n_bins, dtype=np.complex64)
    band_coeffs = coeffs[lo:hi]
    band_coeffs.real = rng.standard_normal(hi - lo, dtype=np.float32) * shape
    band_coeffs.imag = rng.standard_normal(hi - lo, dtype=np.float32) * shape
    # Parseval: the power of the result follows from the coefficients, no pass over x needed.
    weights = np.full(hi - lo, 2.0)
    weights[(np.arange(lo, hi) == 0) | ((np.arange(lo, hi) == n // 2) & (n % 2 == 0))] = 1.0
    power = float(np.sum(weights * np.abs(band_coeffs.astype(np.complex128)) ** 2)) / n**2
    x = scipy.fft.irfft(coeffs, n, workers=-1).astype(np.float32, copy=False)
    if power > 0:
        x *= np.float32(1.0 / np.sqrt(power))
    return x


def band(low: float, high: float, edge: float = 0.5) -> Spectrum:
    """A band-pass amplitude response with raised-cosine edges ``edge`` Hz wide."""

    def gain(f: np.ndarray) -> np.ndarray:
        rise = np.clip((f - (low - edge / 2)) / edge, 0.0, 1.0)
        fall = np.clip(((high + edge / 2) - f) / edge, 0.0, 1.0)
        return (0.5 - 0.5 * np.cos(np.pi * rise)) * (0.5 - 0.5 * np.cos(np.pi * fall))

    return Spectrum(gain, low - edge / 2, high + edge / 2)


def peak(center: float, width: float) -> Spectrum:
    """A Gaussian spectral peak: the narrow-band rhythm of alpha or spindles."""

    def gain(f: np.ndarray) -> np.ndarray:
        return np.exp(-0.5 * ((f - center) / width) ** 2)

    return Spectrum(gain, center - 4 * width, center + 4 * width)


def pink(exponent: float, low: float, high: float) -> Spectrum:
    """``1/f**exponent`` power between ``low`` and ``high`` Hz (amplitude ``f**-exponent/2``)."""
    edges = band(low, high, edge=min(low, 1.0))

    def gain(f: np.ndarray) -> np.ndarray:
        return np.maximum(f, low) ** (-exponent / 2) * edges.gain(f)

    return Spectrum(gain, edges.low, edges.high)

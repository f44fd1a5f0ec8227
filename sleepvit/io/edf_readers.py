"""Reading the samples of the channels a study needs: one fast path, one lenient fallback.

:class:`BlockReader` reads files pyedflib accepts as compliant, a few MB of whole data records
at a time, scaled straight into float32. :class:`MneReader` reads the files pyedflib refuses
(:attr:`~sleepvit.io.edf_header.EdfHeader.non_compliant`) with MNE, one channel at a time.
:func:`open_reader` picks one. Both open the file read-only and read only the channels asked
for; both return ``{signal index: float32 samples in physical units}``.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager

import numpy as np

from sleepvit.errors import InvalidRecordingError
from sleepvit.io.edf_header import FIX_EXPORT, EdfHeader


class BlockReader:
    """Compliant files: pyedflib vets the header, then one pass copies the needed channels.

    pyedflib's ``readSignal`` seeks once per record and channel (≈ 4 s for a 16-channel
    8-h night); reading a few MB of whole records at a time and scaling straight into the
    float32 outputs takes a fraction of that and never holds a float64 copy.
    """

    reader_name = ""
    """Nothing appended to ``Study.file_format``: this is the normal path."""

    def __init__(self, header: EdfHeader, vet: bool = True):
        import pyedflib

        if vet:
            # Opening is pyedflib's full compliance check; OSError says what is wrong.
            pyedflib.EdfReader(str(header.path), pyedflib.DO_NOT_READ_ANNOTATIONS).close()
        self._header = header

    def read(self, indices: set[int]) -> dict[int, np.ndarray]:
        header = self._header
        width = header.bytes_per_sample
        offsets = np.cumsum([0] + [s.samples_per_record for s in header.signals])
        out = {
            i: np.empty(header.n_records * header.signals[i].samples_per_record, np.float32)
            for i in indices
        }
        per_chunk = max(1, (8 << 20) // header.record_bytes)
        buffer = bytearray(per_chunk * header.record_bytes)
        with open(header.path, "rb") as f:
            f.seek(header.header_bytes)
            for first in range(0, header.n_records, per_chunk):
                count = min(per_chunk, header.n_records - first)
                f.readinto(memoryview(buffer)[: count * header.record_bytes])
                raw = np.frombuffer(buffer, np.uint8, count * header.record_bytes)
                block = raw.view("<i2") if width == 2 else raw
                block = block.reshape(count, -1)
                for i in indices:
                    signal = header.signals[i]
                    spr = signal.samples_per_record
                    target = out[i][first * spr : (first + count) * spr].reshape(count, spr)
                    if width == 2:
                        samples = block[:, offsets[i] : offsets[i] + spr]
                    else:
                        samples = _bdf_samples(block[:, 3 * offsets[i] : 3 * (offsets[i] + spr)])
                    np.multiply(samples, np.float32(signal.gain), out=target)
                    target += np.float32(signal.offset)
        return out


def _bdf_samples(column: np.ndarray) -> np.ndarray:
    """24-bit little-endian two's complement (BDF) → int32."""
    triplets = column.reshape(column.shape[0], -1, 3).astype(np.int32)
    value = triplets[..., 0] | (triplets[..., 1] << 8) | (triplets[..., 2] << 16)
    return np.where(value >= 1 << 23, value - (1 << 24), value)


# MNE returns volts for these unit spellings and the file's physical values otherwise.
_MNE_VOLT_SCALE = {"uV": 1e-6, "µV": 1e-6, "μV": 1e-6, "\x83\xcaV": 1e-6, "mV": 1e-3}


class MneReader:
    """MNE's lenient reader; channels of one rate per ``Raw`` so MNE never resamples them.

    MNE selects channels by name only, so which of its channels is which signal is worked
    out from the names MNE itself gives the label fields, and checked against what it read:
    a damaged label must never make it hand back another signal's data.
    """

    reader_name = "mne fallback"

    def __init__(self, header: EdfHeader, indices: set[int], why: str):
        import mne

        self._header = header
        self._why = why
        read = mne.io.read_raw_bdf if header.file_format.startswith("BDF") else mne.io.read_raw_edf
        # MNE strips only ASCII whitespace (bytes.strip); ``label`` also drops e.g. \x1c.
        names = [s.label_bytes.strip().decode("latin-1") for s in header.signals]
        self._where: dict[int, tuple[object, int]] = {}
        by_rate: dict[int, list[int]] = {}
        for index in sorted(indices):
            by_rate.setdefault(header.signals[index].samples_per_record, []).append(index)
        for rate, group in by_rate.items():
            wanted = sorted({names[i] for i in group})
            # MNE takes every signal bearing a wanted name, in file order, and resamples them
            # all to the fastest one's rate: a faster namesake would distort the wanted signal.
            included = [j for j, name in enumerate(names) if name in wanted]
            clash = next((j for j in included if header.signals[j].samples_per_record > rate), -1)
            if clash >= 0:
                twin = next(i for i in group if names[i] == names[clash])
                raise InvalidRecordingError(
                    f"cannot be read: it is not EDF-compliant ({why}) and signals {twin + 1} and "
                    f"{clash + 1} are both labelled {names[clash]!r} at different sampling rates, "
                    f"which MNE cannot tell apart; give one another label and "
                    f"{FIX_EXPORT}",
                    header.path,
                )
            with self._mne_errors("opening it"):
                # The annotations MNE parses are not used (they are read in sleepvit.io.edf);
                # Latin-1 decodes any byte, so a non-UTF-8 annotation cannot fail the file.
                raw = read(
                    header.path, include=wanted, preload=False, verbose="error", encoding="latin1"
                )
            if len(raw.ch_names) != len(included):
                labels = ", ".join(repr(names[j]) for j in included)
                raise InvalidRecordingError(
                    f"cannot be read: it is not EDF-compliant ({why}) and MNE found "
                    f"{len(raw.ch_names)} of the {len(included)} channels labelled {labels}; "
                    f"the labels are corrupt, {FIX_EXPORT}",
                    header.path,
                )
            for index in group:
                self._where[index] = (raw, included.index(index))

    @contextmanager
    def _mne_errors(self, doing: str):
        """Silence MNE's warnings; make any exception it raises on a broken file one line."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yield
        except Exception as exc:  # MNE has no error hierarchy of its own to catch narrowly
            raise InvalidRecordingError(
                f"cannot be read: it is not EDF-compliant ({self._why}) and MNE failed too "
                f"while {doing} ({type(exc).__name__}: {exc}); {FIX_EXPORT}",
                self._header.path,
            ) from exc

    def read(self, indices: set[int]) -> dict[int, np.ndarray]:
        out = {}
        for index in sorted(indices):
            raw, position = self._where[index]
            signal = self._header.signals[index]
            n = self._header.n_records * signal.samples_per_record
            with self._mne_errors(f"reading signal {index + 1} ({signal.label})"):
                data = raw.get_data(picks=[position], stop=n)[0]
            data /= _MNE_VOLT_SCALE.get(signal.unit, 1.0)
            out[index] = data.astype(np.float32)
        return out


def open_reader(header: EdfHeader, indices: set[int], warn) -> BlockReader | MneReader:
    """The reader for ``header``'s file: pyedflib-vetted blocks, blocks, or MNE.

    A file whose only faults the header parse resolved itself (:attr:`EdfHeader.resolved`,
    e.g. a start time of 24.00.00) is read in blocks without pyedflib's vetting, which would
    refuse it for that fault alone (and MNE would fail on it).
    """
    why = "; ".join(dict.fromkeys(header.non_compliant))
    if not why:
        if header.resolved:
            return BlockReader(header, vet=False)
        try:
            return BlockReader(header)
        except OSError as exc:
            why = str(exc).split(":", 1)[-1].strip()
    warn(f"the file is not EDF-compliant ({why}); pyedflib refuses it, reading it with MNE")
    return MneReader(header, indices, why)

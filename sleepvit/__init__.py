"""SleepViT: sleep staging from 30-s PSG screens with a signal-axis-aware Vision Transformer.

The Python API in one place; each name is imported on first use (PEP 562), so
``import sleepvit`` stays instant and pulls in neither MNE nor ONNX Runtime:

- :func:`score_raw` scores a night held by an ``mne.io.BaseRaw``, :func:`score_night` one
  file by path; both return a :class:`Hypnogram` (stages, probabilities, confidence), which
  converts to ``mne.Annotations``, a ``yasa.Hypnogram`` and a pandas DataFrame;
- :func:`load_study` reads an EDF/EDF+/BDF file as a :class:`Study` (the night on canonical
  slots), as :meth:`Study.from_mne` reads a Raw; :meth:`Study.to_mne` goes back;
- :func:`read_hypnogram` and :func:`write_hypnogram` read and write scorings.

Every error a user can cause is a :class:`SleepVitError` with a one-line message.

>>> import sleepvit
>>> sorted(sleepvit.__all__)[:3]
['Hypnogram', 'SleepVitError', 'Study']
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "score_raw": "pipeline",
    "score_night": "pipeline",
    "load_study": "io",
    "read_hypnogram": "io",
    "write_hypnogram": "io",
    "Study": "study",
    "Hypnogram": "hypnogram",
    "SleepVitError": "errors",
}
"""Public name -> the submodule that defines it, imported on first use."""

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

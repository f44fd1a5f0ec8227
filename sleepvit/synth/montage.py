"""Recording styles: which channels a simulated file has, their labels, rates and ranges.

``hospital`` mimics a modern AASM clinical montage (16 channels); ``sleep-edf`` mimics
the Sleep-EDF cassette recordings (two bipolar EEG derivations and one EOG at 100 Hz,
1-Hz EMG RMS envelope, oro-nasal respiration, rectal temperature, event marker).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from sleepvit.errors import SleepVitError


@dataclass(frozen=True)
class ChannelSpec:
    label: str
    source: str
    """What generates the channel, e.g. ``eeg:frontal``, ``eog:E1``, ``emg:chin``, ``ecg``."""
    fs: float
    unit: str
    physical: tuple[float, float]
    """Physical minimum and maximum written to the EDF header (nothing may clip)."""
    electrodes: tuple[str, ...] = ()
    """Active and reference electrode: a pop on one appears on every channel using it."""
    transducer: str = ""
    prefilter: str = ""


_AGAGCL = "AgAgCl electrode"
_EEG_FILTER = "HP:0.1Hz LP:100Hz"


def _eeg(label: str, site: str, fs: float = 256.0) -> ChannelSpec:
    active, reference = label.split("-")
    return ChannelSpec(
        label, f"eeg:{site}", fs, "uV", (-3200.0, 3200.0), (active, reference), _AGAGCL, _EEG_FILTER
    )


HOSPITAL: tuple[ChannelSpec, ...] = (
    _eeg("F4-M1", "frontal"),
    _eeg("C4-M1", "central"),
    _eeg("O2-M1", "occipital"),
    _eeg("F3-M2", "frontal"),
    _eeg("C3-M2", "central"),
    _eeg("O1-M2", "occipital"),
    ChannelSpec(
        "E1-M2", "eog:E1", 256.0, "uV", (-3200.0, 3200.0), ("E1", "M2"), _AGAGCL, _EEG_FILTER
    ),
    ChannelSpec(
        "E2-M1", "eog:E2", 256.0, "uV", (-3200.0, 3200.0), ("E2", "M1"), _AGAGCL, _EEG_FILTER
    ),
    ChannelSpec(
        "Chin EMG",
        "emg:chin",
        512.0,
        "uV",
        (-1000.0, 1000.0),
        ("Chin1", "Chin2"),
        _AGAGCL,
        "HP:10Hz LP:200Hz",
    ),
    ChannelSpec(
        "ECG", "ecg", 256.0, "uV", (-6000.0, 6000.0), ("LA", "RA"), _AGAGCL, "HP:0.3Hz LP:100Hz"
    ),
    ChannelSpec(
        "Flow",
        "flow",
        32.0,
        "uV",
        (-2000.0, 2000.0),
        (),
        "Nasal pressure cannula",
        "HP:0.01Hz LP:15Hz",
    ),
    ChannelSpec("Thor", "thorax", 32.0, "uV", (-2000.0, 2000.0), (), "RIP belt", "LP:15Hz"),
    ChannelSpec("Abdo", "abdomen", 32.0, "uV", (-2000.0, 2000.0), (), "RIP belt", "LP:15Hz"),
    ChannelSpec("SpO2", "spo2", 1.0, "%", (0.0, 100.0), (), "Pulse oximeter", ""),
    ChannelSpec(
        "Leg L",
        "leg",
        256.0,
        "uV",
        (-1000.0, 1000.0),
        ("LegL1", "LegL2"),
        _AGAGCL,
        "HP:10Hz LP:100Hz",
    ),
    ChannelSpec(
        "Leg R",
        "leg",
        256.0,
        "uV",
        (-1000.0, 1000.0),
        ("LegR1", "LegR2"),
        _AGAGCL,
        "HP:10Hz LP:100Hz",
    ),
)

SLEEP_EDF: tuple[ChannelSpec, ...] = (
    ChannelSpec(
        "EEG Fpz-Cz",
        "eeg:fpz-cz",
        100.0,
        "uV",
        (-300.0, 300.0),
        ("Fpz", "Cz"),
        "Ag-AgCl electrodes",
        "HP:0.5Hz LP:100Hz [enhanced cassette BW]",
    ),
    ChannelSpec(
        "EEG Pz-Oz",
        "eeg:pz-oz",
        100.0,
        "uV",
        (-300.0, 300.0),
        ("Pz", "Oz"),
        "Ag-AgCl electrodes",
        "HP:0.5Hz LP:100Hz [enhanced cassette BW]",
    ),
    ChannelSpec(
        "EOG horizontal",
        "eog:horizontal",
        100.0,
        "uV",
        (-1009.0, 1009.0),
        ("ROC", "LOC"),
        "Ag-AgCl electrodes",
        "HP:0.5Hz LP:100Hz [enhanced cassette BW]",
    ),
    ChannelSpec(
        "Resp oro-nasal",
        "resp:oro-nasal",
        1.0,
        "uV",
        (-2048.0, 2047.0),
        (),
        "Oral-nasal thermistors",
        "HP:0.03Hz LP:0.9Hz",
    ),
    ChannelSpec(
        "EMG submental",
        "emg:chin-rms",
        1.0,
        "uV",
        (-5.0, 1000.0),
        (),
        "Ag-AgCl electrodes",
        "HP:16Hz Rectification Low-pass:0.7Hz",
    ),
    ChannelSpec(
        "Temp rectal",
        "temp",
        1.0,
        "DegC",
        (34.0, 40.0),
        (),
        "Rectal thermistor",
        "LP:0.1Hz (first order)",
    ),
    ChannelSpec("Event marker", "marker", 1.0, "", (-2048.0, 2047.0), (), "Marker button", ""),
)

STYLES: dict[str, tuple[ChannelSpec, ...]] = {"hospital": HOSPITAL, "sleep-edf": SLEEP_EDF}
RECORD_SECONDS: dict[str, int] = {"hospital": 1, "sleep-edf": 30}
"""EDF data record length per style (the Sleep-EDF cassette files use 30-s records)."""


def channels_for(style: str, rng: np.random.Generator | None = None) -> tuple[ChannelSpec, ...]:
    """The channel list of a recording style; with ``rng``, rates vary as between real labs.

    A hospital night then has its ECG at 256 or 512 Hz and its breathing channels at 32,
    64 or 100 Hz, so that nothing downstream comes to rely on one amplifier's settings.

    Examples
    --------
    >>> [c.label for c in channels_for("sleep-edf")][:3]
    ['EEG Fpz-Cz', 'EEG Pz-Oz', 'EOG horizontal']
    """
    try:
        specs = STYLES[style]
    except KeyError:
        raise SleepVitError(
            f"unknown recording style {style!r}; choose one of {', '.join(sorted(STYLES))}"
        ) from None
    if rng is None or style != "hospital":
        return specs
    ecg_fs, breathing_fs = float(rng.choice([256, 512])), float(rng.choice([32, 64, 100]))
    return tuple(
        replace(s, fs=ecg_fs)
        if s.source == "ecg"
        else replace(s, fs=breathing_fs)
        if s.source in ("flow", "thorax", "abdomen")
        else s
        for s in specs
    )

"""Physiologically grounded PSG simulator: realistic nights for tests, demos and training.

Examples
--------
>>> from sleepvit.synth import simulate_night
>>> night = simulate_night(hours=0.25, seed=1, style="sleep-edf")
>>> len(night.hypnogram), [c.label for c in night.channels][0]
(30, 'EEG Fpz-Cz')
"""

from sleepvit.synth.night import SimulatedChannel, SimulatedNight, simulate_night, write_night

__all__ = ["SimulatedChannel", "SimulatedNight", "simulate_night", "write_night"]

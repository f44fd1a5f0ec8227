"""Reading recordings: ``load_study`` (EDF/EDF+/BDF → :class:`~sleepvit.study.Study`)."""

from sleepvit.io.edf import load_study
from sleepvit.io.hypnograms import find_hypnogram, read_hypnogram, write_hypnogram

__all__ = ["load_study", "read_hypnogram", "write_hypnogram", "find_hypnogram"]

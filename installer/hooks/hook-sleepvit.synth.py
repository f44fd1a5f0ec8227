"""The simulator's sleep-architecture statistics (``hypnogram_stats.json``) are package data."""

from PyInstaller.utils.hooks import collect_data_files

datas = collect_data_files("sleepvit.synth")

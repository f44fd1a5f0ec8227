"""SleepViT: sleep staging from 30-s PSG screens with a signal-axis-aware Vision Transformer."""

__version__ = "0.1.0"

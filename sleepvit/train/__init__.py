"""Training and evaluation data pipeline for SleepViT models.

Submodules, one concept each:

- :mod:`sleepvit.train.data` — pairing recordings with hypnograms, manifests, subject splits;
- :mod:`sleepvit.train.cache` — rendered-epoch memmap cache (each night rendered once);
- :mod:`sleepvit.train.calibration` — temperature scaling and expected calibration error;
- :mod:`sleepvit.train.distributed` — ``torchrun`` / DistributedDataParallel helpers;
- :mod:`sleepvit.train.loop` — EpochViT then SequenceTransformer training;
- :mod:`sleepvit.train.corpus` — a simulated training corpus for the demo weights.

Only ``loop`` and ``distributed`` import torch.
"""

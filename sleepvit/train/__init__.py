"""Training SleepViT models on scored nights.

Submodules, one concept each:

- :mod:`sleepvit.train.config` — the options of a run (torch-free, for the CLI's defaults);
- :mod:`sleepvit.train.loop` — EpochViT then SequenceTransformer training, calibration;
- :mod:`sleepvit.train.distributed` — ``torchrun`` / DistributedDataParallel helpers;
- :mod:`sleepvit.train.corpus` — a simulated training corpus for the demo weights;
- :mod:`sleepvit.train.sleep_edf` — Sleep-EDF-78 from PhysioNet, with its manifest;
- :mod:`sleepvit.train.model_card` — ``MODEL_CARD.md`` from an evaluation.

The nights themselves (manifests, subject splits, the rendered-epoch cache) are
:mod:`sleepvit.datasets`, shared with :mod:`sleepvit.evaluate`; temperature scaling and the
calibration error are :mod:`sleepvit.metrics.calibration`. Training may use the evaluation
(:mod:`sleepvit.evaluate`), never the reverse. Only ``loop`` and ``distributed`` import torch.
"""

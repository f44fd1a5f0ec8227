"""Scored nights for training and evaluation: which nights, split how, rendered once.

- :mod:`sleepvit.datasets.nights` — recordings paired with hypnograms (folder or manifest
  CSV), subject-wise splits, wake trimming;
- :mod:`sleepvit.datasets.cache` — the rendered-epoch cache (each night drawn once, then
  memory-mapped).

Shared by :mod:`sleepvit.train` and :mod:`sleepvit.evaluate`; needs no torch.
"""

"""Scoring metrics: agreement between two scorings, AASM sleep statistics, calibration.

:mod:`sleepvit.metrics.agreement` compares epoch-by-epoch stages (model vs. technician,
or two technicians); :mod:`sleepvit.metrics.sleep` summarises one night the way a sleep
report does; :mod:`sleepvit.metrics.calibration` says how well stage probabilities match
how often they are right, and fits the temperature that makes them match. None needs torch.
"""

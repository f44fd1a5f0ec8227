"""Scoring metrics: agreement between two scorings and AASM sleep statistics.

:mod:`sleepvit.metrics.agreement` compares epoch-by-epoch stages (model vs. technician,
or two technicians); :mod:`sleepvit.metrics.sleep` summarises one night the way a sleep
report does. Both need numpy only.
"""

"""What a scored night hands to people: the PDF report, the hypnogram PNG, review flags.

:mod:`~sleepvit.report.pdf` writes the clinical report, :mod:`~sleepvit.report.hypnogram_plot`
draws the hypnogram, :mod:`~sleepvit.report.review` picks the epochs to check first.
Needs matplotlib, never torch.
"""

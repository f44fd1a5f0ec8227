"""What the generalisation benchmark reports beside κ: the review a technician would need,
the calibration error, and whether the OOD warning fires on the right held-out nights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sleepvit.bench.generalisation import IN_DISTRIBUTION, FamilyNight, _review


def _night(family, truth, predicted, fired, doubt=None):
    truth, predicted = np.array(truth), np.array(predicted)
    probabilities = np.full((truth.size, 5), 0.05)
    probabilities[np.arange(truth.size), predicted] = 0.8
    if doubt is None:
        doubt = (truth != predicted).astype(float)  # a ranking that finds every error first
    return (
        FamilyNight(family, Path(f"{family}.edf"), truth),
        predicted,
        np.asarray(doubt),
        (
            probabilities,
            fired,
        ),
    )


def _ours(rows):
    return {
        "stages": {"x1": [r[1] for r in rows]},
        "doubt": [r[2] for r in rows],
        "sequence": [r[3][0] for r in rows],
        "ood_fired": [r[3][1] for r in rows],
    }


TRUTH = [0, 1, 2, 2, 3, 3, 4, 4, 2, 2]


def test_review_share_ece_and_the_warning_rates_per_family():
    wrong_half = [4, 3, 3, 2, 2, 3, 4, 4, 3, 3]  # 6 of 10 wrong: κ < 0.5
    rows = [
        _night(IN_DISTRIBUTION, TRUTH, TRUTH, True),  # fires, but is not a held-out night
        _night("good", TRUTH, TRUTH, False),
        _night("bad", TRUTH, wrong_half, True),
    ]
    nights = [r[0] for r in rows]
    review = _review(nights, _ours(rows), [IN_DISTRIBUTION, "good", "bad"])
    good, bad = review["families"]["good"], review["families"]["bad"]
    assert good["review_for_kappa_090"] == 0.0
    # the errors come first, so κ 0.90 is reached within the 6 wrong epochs, not before 5
    assert 0.5 <= bad["review_for_kappa_090"] <= 0.6
    # confidence 0.8 everywhere: right on every epoch (gap 0.2), on 4 of 10 (gap 0.4)
    assert good["ece"] == pytest.approx(0.2) and bad["ece"] == pytest.approx(0.4)
    assert (bad["ood_fired_nights"], bad["ood_nights"]) == (1, 1)
    assert review["ood"] == {
        "fires_where_kappa_below_0_5": "1/1",
        "quiet_where_kappa_from_0_7": "1/1",
    }


def test_a_ranking_that_misses_the_errors_costs_more_review():
    wrong = [0, 1, 2, 2, 3, 3, 4, 4, 3, 3]
    errors_last = [1.0] * 8 + [0.0, 0.0]
    rows = [_night("f", TRUTH, wrong, None, doubt=errors_last)]
    review = _review([rows[0][0]], _ours(rows), ["f"])
    assert review["families"]["f"]["review_for_kappa_090"] == 1.0
    assert review["families"]["f"]["ood_fired_nights"] is None
    assert review["ood"]["fires_where_kappa_below_0_5"] is None

"""The SDR-ready threshold and the training sample, on tiny arrays."""

from __future__ import annotations

import numpy as np

from leadscore.tasks import train


def test_threshold_is_the_lowest_score_whose_leads_close_at_the_target_rate():
    score = np.array([5.0, 4.0, 3.0, 2.0, 1.0])
    label = np.array([1, 0, 1, 0, 0])
    # Leads at or above 2 close at 2/4 = 50%; at or above 1, 2/5 = 40%: 2 is the lowest that
    # reaches 50%.
    assert train.precision_threshold(score, label, np.ones(5), 0.5) == 2.0
    # At 60%, only the top three (2/3) qualify.
    assert train.precision_threshold(score, label, np.ones(5), 0.6) == 3.0


def test_threshold_counts_weights_and_never_splits_tied_scores():
    # Weighted: the negative at 1 stands for three rows, so above 1 the rate is 1/4 < 50%.
    assert (
        train.precision_threshold(np.array([2.0, 1.0]), np.array([1, 0]), np.array([1.0, 3.0]), 0.5)
        == 2.0
    )
    # Two leads tied at 3 close at 50%, under the 60% target; they are in or out together, so
    # nobody qualifies and the threshold sits just above the best score.
    got = train.precision_threshold(np.array([3.0, 3.0, 1.0]), np.array([1, 0, 0]), np.ones(3), 0.6)
    assert 3.0 < got < 3.0 + 1e-6

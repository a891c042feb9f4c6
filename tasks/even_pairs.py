"""even_pairs (Deletang et al. 2023, regular): is the number of 01 and 10 pairs even?"""

from __future__ import annotations

import numpy as np

from lengthgen_tasks._common import BitLabelTask


class EvenPairsTask(BitLabelTask):
    """Input: `length` uniform bits. Target: one token, 1 if the number of adjacent
    unequal pairs (01 or 10) is odd, else 0.

    That number is odd exactly when the first and last bits differ, which is how the
    sampler labels; the answer at length 1 is 0 (no pairs).
    """

    name = "even_pairs"
    description = "parity of the number of 01/10 pairs in a bit string"

    def label(self, bits_BxL):
        return bits_BxL[:, :1] != bits_BxL[:, -1:]

    def solve(self, inputs_I):
        bits = [int(t) for t in inputs_I]
        pairs = sum(1 for a, b in zip(bits, bits[1:]) if a != b)
        return np.array([pairs % 2])

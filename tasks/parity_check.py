"""parity_check (Deletang et al. 2023, regular): is the number of ones odd?"""

from __future__ import annotations

import numpy as np

from lengthgen_tasks._common import BitLabelTask


class ParityCheckTask(BitLabelTask):
    """Input: `length` uniform bits. Target: one token, 1 if the count of ones is odd.

    The same question as `parity` with format `direct`; kept under the Deletang et al.
    name so that the 15-task suite is complete and independent of parity's options.
    """

    name = "parity_check"
    description = "parity of the number of ones in a bit string"

    def label(self, bits_BxL):
        return bits_BxL.sum(axis=1, keepdims=True) % 2

    def solve(self, inputs_I):
        ones = [int(t) for t in inputs_I].count(1)
        return np.array([ones % 2])

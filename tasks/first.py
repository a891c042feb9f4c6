"""first (Chiang & Cholak 2022): does the bit string start with 1?"""

from __future__ import annotations

import numpy as np

from lengthgen_tasks._common import BitLabelTask


class FirstTask(BitLabelTask):
    """Input: `length` uniform bits. Target: one token, the first bit (1 = the string
    starts with 1). Solvable by attending to one fixed position, which makes it the
    easy counterpart of parity when testing attention at long lengths."""

    name = "first"
    description = "does the bit string start with 1"

    def label(self, bits_BxL):
        return bits_BxL[:, :1]

    def solve(self, inputs_I):
        return np.array([1 if self.vocab[int(inputs_I[0])] == "1" else 0])

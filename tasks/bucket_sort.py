"""bucket_sort (Deletang et al. 2023, CS): sort a string over a small alphabet."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from lengthgen.errors import ConfigError
from lengthgen.task import Batch, Task


@dataclasses.dataclass(frozen=True)
class BucketSortOptions:
    alphabet: int = 5


class BucketSortTask(Task):
    """Input: `length` symbols uniform over {0 .. alphabet-1}. Target: the same symbols
    in increasing order (L tokens, all scored). The paper uses an alphabet of 5."""

    name = "bucket_sort"
    description = "sort a string over an alphabet of 5 symbols"
    family = "CS"
    length_meaning = "input symbols"
    Options = BucketSortOptions

    def validate(self):
        if not 2 <= self.options.alphabet <= 10:
            raise ConfigError(f"task 'bucket_sort': alphabet must be in [2, 10], got {self.options.alphabet}")

    @functools.cached_property
    def vocab(self):
        return tuple(str(d) for d in range(self.options.alphabet))

    @property
    def chance(self):
        return 1.0 / self.options.alphabet

    def shapes(self, length):
        return length, length

    def sample(self, rng, length, batch_size):
        x = rng.integers(0, self.options.alphabet, (batch_size, length))
        y = np.sort(x, axis=1)
        return Batch(x, y, np.ones_like(y, bool))

    def solve(self, inputs_I):
        counts = [0] * self.options.alphabet
        for t in inputs_I:
            counts[int(t)] += 1
        return np.array([symbol for symbol, n in enumerate(counts) for _ in range(n)])

    def scored_mask(self, inputs_I):
        return np.ones(len(inputs_I), bool)

"""binary_multiplication (Deletang et al. 2023, CS): little-endian binary a * b."""

from __future__ import annotations

import functools

from lengthgen.task import Task
from lengthgen_tasks._common import estimated_chance, through_first
from lengthgen_tasks.binary_addition import END, answer, reference, sample_operands

OP = 2


class BinaryMultiplicationTask(Task):
    """Input (`length` tokens): a `*` b, sampled exactly as in binary_addition. Target
    (L tokens): the product little-endian without high zeros (at most L - 1 bits), then
    END, then "0" filler; scored up to and including END. Lengths start at 3.
    """

    name = "binary_multiplication"
    description = "little-endian binary product of two numbers"
    family = "CS"
    length_meaning = "input tokens (both operands and *)"
    vocab = ("0", "1", "*", "END")
    min_length = 3

    @functools.cached_property
    def chance(self):
        return estimated_chance(self)

    def shapes(self, length):
        return length, length

    def sample(self, rng, length, batch_size):
        x, a, b = sample_operands(rng, length, batch_size, OP)
        return answer(x, [u * v for u, v in zip(a, b)], length)

    def solve(self, inputs_I):
        return reference(self, inputs_I, "*", len(inputs_I))

    def scored_mask(self, inputs_I):
        return through_first(self.solve(inputs_I), END)

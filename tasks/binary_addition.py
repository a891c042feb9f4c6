"""binary_addition (Deletang et al. 2023, CS): little-endian binary a + b."""

from __future__ import annotations

import functools

import numpy as np

from lengthgen.task import Batch, Task
from lengthgen_tasks._common import bits_to_ints, estimated_chance, ints_to_bits, nonzero_bit_rows, through_first

OP, END = 2, 3


class BinaryAdditionTask(Task):
    """Input (`length` tokens): a `+` b, both little-endian, where a takes k bits with k
    uniform in [1, L-2] and b the other L-1-k; each is uniform over the non-zero values
    of its width (high zero bits allowed). Target (L + 1 tokens): the sum little-endian
    without high zeros, then END, then "0" filler; scored up to and including END.
    Lengths start at 3 (two one-bit operands).
    """

    name = "binary_addition"
    description = "little-endian binary sum of two numbers"
    family = "CS"
    length_meaning = "input tokens (both operands and +)"
    vocab = ("0", "1", "+", "END")
    min_length = 3

    @functools.cached_property
    def chance(self):
        return estimated_chance(self)

    def shapes(self, length):
        return length, length + 1

    def sample(self, rng, length, batch_size):
        x, a, b = sample_operands(rng, length, batch_size, OP)
        return answer(x, [u + v for u, v in zip(a, b)], length + 1)

    def solve(self, inputs_I):
        return reference(self, inputs_I, "+", len(inputs_I) + 1)



    def scored_mask(self, inputs_I):
        return through_first(self.solve(inputs_I), END)
def sample_operands(rng: np.random.Generator, length: int, batch_size: int, op: int):
    """Inputs `a op b` (little-endian operands of k and L-1-k bits, both non-zero) and the
    operand values as Python ints."""
    pos = np.arange(length)[None, :]
    split = rng.integers(1, length - 1, batch_size)[:, None]
    bits = nonzero_bit_rows(rng, batch_size, length, [pos < split, pos > split])
    a = bits_to_ints(np.where(pos < split, bits, 0))
    b = [v >> (int(k) + 1) for v, k in zip(bits_to_ints(np.where(pos > split, bits, 0)), split[:, 0])]
    return np.where(pos == split, op, bits), a, b


def answer(x: np.ndarray, values: list[int], width: int) -> Batch:
    """Targets: each value little-endian, END, "0" filler; scored through END."""
    ends = np.array([v.bit_length() for v in values])
    y = ints_to_bits(values, width)
    y[np.arange(len(values)), ends] = END
    return Batch(x, y, np.arange(width)[None, :] <= ends[:, None])


def reference(task: Task, inputs_I: np.ndarray, op: str, width: int) -> np.ndarray:
    """Reference solver shared by binary addition and multiplication."""
    text = "".join(task.vocab[int(t)] for t in inputs_I)
    left, right = text.split(op)
    a = sum(int(c) << i for i, c in enumerate(left))
    b = sum(int(c) << i for i, c in enumerate(right))
    result = a + b if op == "+" else a * b
    out = []
    while result:
        out.append(result & 1)
        result >>= 1
    out.append(END)
    return np.array(out + [0] * (width - len(out)))

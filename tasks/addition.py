"""addition: decimal a + b with operands of 1..n digits."""

from __future__ import annotations

import dataclasses

import numpy as np

from lengthgen.task import Batch, Task

DIGITS = tuple("0123456789")
PLUS, FILL = 10, 11


@dataclasses.dataclass(frozen=True)
class AdditionOptions:
    reverse_output: bool = False


class AdditionTask(Task):
    """Length n = the most digits an operand may have.

    Operand digit counts are drawn independently and uniformly from 1..n (so
    unequal lengths are common), values uniformly among numbers with that many
    digits. Input (2n + 1 tokens): each operand most-significant digit first,
    left-filled with `_` to n slots, joined by `+`. Target (n + 1 tokens, all
    scored): the sum zero-padded to n + 1 digits, most significant first, or
    least significant first with `reverse_output`.
    """

    name = "addition"
    description = "decimal a + b, operands of 1..n digits"
    family = "arithmetic"
    length_meaning = "maximum digits per operand"
    vocab = DIGITS + ("+", "_")
    Options = AdditionOptions
    chance = 0.1

    def shapes(self, length):
        return 2 * length + 1, length + 1

    def _operand(self, rng, length, batch_size):
        values = []
        for digits in rng.integers(1, length + 1, batch_size):
            low = 0 if digits == 1 else 10 ** (int(digits) - 1)
            values.append(low + _uniform(rng, 10 ** int(digits) - low))
        return np.array(values, dtype=object)

    def sample(self, rng, length, batch_size):
        a = self._operand(rng, length, batch_size)
        b = self._operand(rng, length, batch_size)
        x = np.concatenate([_digits(a, length, FILL), np.full((batch_size, 1), PLUS), _digits(b, length, FILL)], 1)
        y = _digits(a + b, length + 1, 0)
        if self.options.reverse_output:
            y = y[:, ::-1].copy()
        return Batch(x, y, np.ones_like(y, bool))

    def solve(self, inputs_I):
        text = "".join(self.vocab[int(t)] for t in inputs_I)
        left, right = text.split("+")
        total = str(int(left.strip("_")) + int(right.strip("_"))).zfill(len(left) + 1)
        out = [int(c) for c in total]
        return np.array(out[::-1] if self.options.reverse_output else out)


def _uniform(rng: np.random.Generator, n: int) -> int:
    """Uniform integer in [0, n), also beyond int64 (60-bit chunks with rejection)."""
    if n < 2**62:
        return int(rng.integers(0, n))
    bits = n.bit_length()
    chunks = -(-bits // 60)
    while True:
        value = 0
        for _ in range(chunks):
            value = (value << 60) | int(rng.integers(0, 2**60))
        value >>= chunks * 60 - bits
        if value < n:
            return value


def _digits(values: np.ndarray, width: int, fill: int) -> np.ndarray:
    """Most-significant-first digits of each value, left-filled with `fill` to `width`."""
    out = np.full((len(values), width), fill, np.int64)
    for row, value in enumerate(values):
        text = str(int(value))
        out[row, width - len(text):] = [int(c) for c in text]
    return out

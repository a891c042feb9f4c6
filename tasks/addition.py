"""addition: decimal a + b with operands of 1..n digits, in several output formats."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from lengthgen.errors import ConfigError
from lengthgen.config import choice
from lengthgen.task import Batch, Task

DIGITS = tuple("0123456789")
PLUS, FILL, EXTRA = 10, 11, 12
FORMATS = ("plain", "reversed", "index_hints", "scratchpad", "markup")
MARK = "|"


@dataclasses.dataclass(frozen=True)
class AdditionOptions:
    format: str = "plain"
    reverse_output: bool = False
    hints: int = 128
    hint_offset: bool = False


class AdditionTask(Task):
    """Length n = the most digits an operand may have.

    Operand digit counts are drawn independently and uniformly from 1..n (so unequal
    lengths are common), values uniformly among numbers with that many digits. The
    sum has n + 1 digits, zero-padded; `reverse_output` writes it least significant
    digit first (in every format that shows it).

    Formats (I input / T target tokens; unscored target tokens named):
      plain: I = 2n + 1, each operand most-significant digit first, left-filled with `_`
        to n slots, joined by `+`; T = n + 1, the sum, all scored.
      reversed: plain with `reverse_output` (Zhou et al. 2024's reversed digits).
      index_hints: every digit slot is preceded by a hint token h_k for its significance
        k, in both operands (I = 4n + 1) and in the sum (T = 2n + 2, hints not scored), so
        digits of equal significance share a marker (Zhou et al. 2024). `hints` tokens
        exist; with `hint_offset` each instance shifts all its hints by a uniform offset
        so that every hint token is trained, not only h_0 .. h_n.
      scratchpad: T = 3n + 1: for k = 0 .. n-1 the column's sum digit and carry out, then
        the answer (n + 1 digits); all scored.
      markup: T = 2n + 2: each answer digit followed by a `|` that marks a completed step
        (Bueno et al. 2022); the markers are not scored.
    """

    name = "addition"
    description = "decimal a + b, operands of 1..n digits; plain/reversed/hints/scratchpad/markup"
    family = "arithmetic"
    length_meaning = "maximum digits per operand"
    Options = AdditionOptions
    chance = 0.1
    FORMATS = FORMATS

    def validate(self):
        choice(self.options.format, FORMATS, "task 'addition' option 'format'")
        if self.options.hints < 2:
            raise ConfigError(f"task 'addition': hints must be >= 2, got {self.options.hints}")

    def check_length(self, length):
        super().check_length(length)
        if self.options.format == "index_hints" and length + 1 > self.options.hints:
            raise ConfigError(f"task 'addition': length {length} needs {length + 1} index hints but hints = "
                              f"{self.options.hints}; raise task.hints")

    @property
    def reverse(self) -> bool:
        return self.options.reverse_output or self.options.format == "reversed"

    @functools.cached_property
    def vocab(self):
        extra = {"index_hints": tuple(f"h{k}" for k in range(self.options.hints)),
                 "markup": (MARK,)}.get(self.options.format, ())
        return DIGITS + ("+", "_") + extra

    def shapes(self, length):
        n = length
        return {"plain": (2 * n + 1, n + 1), "reversed": (2 * n + 1, n + 1), "index_hints": (4 * n + 1, 2 * n + 2),
                "scratchpad": (2 * n + 1, 3 * n + 1), "markup": (2 * n + 1, 2 * n + 2)}[self.options.format]

    def position_ids(self, length):
        """Digit significance of every slot (1 = units; fill slots count as leading zeros), 0 for non-digits
        (`+`, hints, markers). In the scratchpad a column's sum digit has its significance k and the
        carry out k + 1, the column it feeds."""
        n, fmt = length, self.options.format
        operand = np.arange(n, 0, -1)
        answer = np.arange(1, n + 2) if self.reverse else np.arange(n + 1, 0, -1)
        zeros_n, zeros_t = np.zeros(n, np.int64), np.zeros(n + 1, np.int64)
        if fmt == "index_hints":
            operand = np.stack([zeros_n, operand], 1).reshape(-1)
            target = np.stack([zeros_t, answer], 1).reshape(-1)
        elif fmt == "scratchpad":
            column = np.arange(1, n + 1)
            target = np.concatenate([np.stack([column, column + 1], 1).reshape(-1), answer])
        elif fmt == "markup":
            target = np.stack([answer, zeros_t], 1).reshape(-1)
        else:
            target = answer
        ids_I = np.concatenate([operand, [0], operand])
        return ids_I.astype(np.int32), target.astype(np.int32)

    def sample(self, rng, length, batch_size):
        n, B, fmt = length, batch_size, self.options.format
        a, has_a = _operand(rng, n, B)
        b, has_b = _operand(rng, n, B)
        column = a + b
        # A column's carry out is decided by the nearest column at or below it whose sum is
        # not 9: it carries iff that column's sum is >= 10 (a 9 passes the carry on).
        last = np.maximum.accumulate(np.where(column != 9, np.arange(n), 0), axis=1)
        carry = np.take_along_axis(column >= 10, last, axis=1)
        s = np.zeros((B, n + 1), np.int8)
        s[:, :n] = column
        s[:, 1:] += carry
        s %= 10
        answer = s if self.reverse else s[:, ::-1]
        plus = np.full((B, 1), PLUS, np.int16)
        a_in, b_in = np.where(has_a, a, FILL)[:, ::-1], np.where(has_b, b, FILL)[:, ::-1]
        if fmt == "index_hints":
            high = self.options.hints - n if self.options.hint_offset else 1
            shift = rng.integers(0, high, (B, 1))
            hint = EXTRA + shift + np.arange(n + 1)[None, :]
            wide = np.int16 if self.vocab_size <= np.iinfo(np.int16).max + 1 else np.int32
            operand_hint = hint[:, n - 1::-1]
            x = np.concatenate([_interleave(operand_hint, a_in, wide), plus, _interleave(operand_hint, b_in, wide)], 1)
            y = _interleave(hint if self.reverse else hint[:, ::-1], answer, wide)
            mask = np.zeros(y.shape, bool)
            mask[:, 1::2] = True
            return Batch(x, y, mask)
        x = np.concatenate([a_in, plus, b_in], axis=1)
        if fmt == "scratchpad":
            y = np.concatenate([_interleave(s[:, :n], carry), answer], axis=1)
            return Batch(x, y, np.ones(y.shape, bool))
        if fmt == "markup":
            y = _interleave(answer, np.full_like(answer, self.token_id(MARK)))
            mask = np.zeros(y.shape, bool)
            mask[:, 0::2] = True
            return Batch(x, y, mask)
        return Batch(x, answer, np.ones(answer.shape, bool))

    def solve(self, inputs_I):
        """Schoolbook addition column by column: any length works (Python's int() refuses
        strings of more than 4,300 digits)."""
        fmt = self.options.format
        tokens = [self.vocab[int(t)] for t in inputs_I]
        hints = [t for t in tokens if t.startswith("h")]
        text = "".join(t for t in tokens if not t.startswith("h"))
        left, right = text.split("+")
        n = len(left)
        steps, carry = [], 0
        for da, db in zip(left[::-1].replace("_", "0"), right[::-1].replace("_", "0")):
            column = int(da) + int(db) + carry
            carry = column // 10
            steps += [column % 10, carry]
        total = steps[0::2] + [carry]
        answer = total if self.reverse else total[::-1]
        if fmt == "index_hints":
            low = self.token_id(hints[n - 1])
            marks = [low + k for k in range(n + 1)]
            marks = marks if self.reverse else marks[::-1]
            return np.array([v for pair in zip(marks, answer) for v in pair])
        if fmt == "scratchpad":
            return np.array(steps + answer)
        if fmt == "markup":
            return np.array([v for digit in answer for v in (digit, self.token_id(MARK))])
        return np.array(answer)



    def scored_mask(self, inputs_I):
        """Every digit of the answer and scratchpad; hints and markers are not scored."""
        T = len(self.solve(inputs_I))
        parity = {"index_hints": 1, "markup": 0}.get(self.options.format)
        return np.ones(T, bool) if parity is None else np.arange(T) % 2 == parity
def _operand(rng: np.random.Generator, n: int, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Least-significant-first digits (0 beyond the number) and which slots hold a digit."""
    count = rng.integers(1, n + 1, batch_size)
    digits = rng.integers(0, 10, (batch_size, n), dtype=np.int8)
    rows = np.arange(batch_size)
    top = rng.integers(1, 10, batch_size, dtype=np.int8)
    digits[rows, count - 1] = np.where(count > 1, top, digits[rows, count - 1])
    present = np.arange(n)[None, :] < count[:, None]
    digits *= present
    return digits, present


def _interleave(first_BxK: np.ndarray, second_BxK: np.ndarray, dtype: type = np.int16) -> np.ndarray:
    """Columns of the two arrays alternated; `dtype` must hold every token (hint ids can pass int16)."""
    out = np.empty((first_BxK.shape[0], 2 * first_BxK.shape[1]), dtype)
    out[:, 0::2], out[:, 1::2] = first_BxK, second_BxK
    return out

"""Helpers shared by several task samplers (not a task; not registered)."""

from __future__ import annotations

import numpy as np

from lengthgen.errors import ConfigError
from lengthgen.task import Batch, Task


def bits_to_ints(bits_BxL: np.ndarray) -> list[int]:
    """Python ints of little-endian bit rows (column k has weight 2**k)."""
    packed = np.packbits(bits_BxL.astype(np.uint8), axis=1, bitorder="little")
    return [int.from_bytes(row.tobytes(), "little") for row in packed]


def ints_to_bits(values: list[int], width: int) -> np.ndarray:
    """Little-endian bit rows of `width` columns; values must be below 2**width."""
    nbytes = max(1, -(-width // 8))
    raw = b"".join(int(v).to_bytes(nbytes, "little") for v in values)
    packed = np.frombuffer(raw, np.uint8).reshape(len(values), nbytes)
    return np.unpackbits(packed, axis=1, bitorder="little")[:, :width].astype(np.int64)


def nonzero_bit_rows(rng: np.random.Generator, batch_size: int, width: int,
                     groups: list[np.ndarray] | None = None) -> np.ndarray:
    """Uniform bit rows in which every group of columns (a BxL bool mask each; default:
    all columns) holds at least one 1. Rejection sampling: failing rows are redrawn whole."""
    groups = [np.ones((batch_size, width), bool)] if groups is None else groups

    def failing(bits):
        return np.logical_or.reduce([~(bits.astype(bool) & g).any(axis=1) for g in groups])

    bits = rng.integers(0, 2, (batch_size, width))
    redo = failing(bits)
    while redo.any():
        bits[redo] = rng.integers(0, 2, (int(redo.sum()), width))
        redo = failing(bits)
    return bits


def through_first(tokens_T: np.ndarray, token: int) -> np.ndarray:
    """Positions up to and including the first `token`: what a task whose answer ends
    with END scores (the filler after it is not scored)."""
    return np.arange(len(tokens_T)) <= np.flatnonzero(np.asarray(tokens_T) == token)[0]


def estimated_chance(task, length: int = 40, samples: int = 4096, seed: int = 0) -> float:
    """Accuracy of always guessing the most common scored token, measured on a fixed
    sample at `length` (or the nearest length below that the task accepts)."""
    for n in range(length, task.min_length - 1, -1):
        try:
            task.check_length(n)
        except ConfigError:
            continue
        batch = task.sample(np.random.default_rng(seed), n, samples)
        scored = batch.targets_BxT[batch.mask_BxT]
        return float(np.bincount(scored, minlength=task.vocab_size).max() / max(scored.size, 1))
    return float("nan")


class BitLabelTask(Task):
    """A bit string of `length` uniform bits labelled with one bit: subclasses give
    `label` (vectorized, for sampling) and `solve` (the reference, one instance)."""

    family = "regular"
    length_meaning = "input bits"
    vocab = ("0", "1")
    chance = 0.5

    def label(self, bits_BxL: np.ndarray) -> np.ndarray:
        """The Bx1 labels of a batch of bit strings."""
        raise NotImplementedError

    def shapes(self, length):
        return length, 1

    def sample(self, rng, length, batch_size):
        bits = rng.integers(0, 2, (batch_size, length))
        return Batch(bits, self.label(bits).astype(np.int64), np.ones((batch_size, 1), bool))

    def scored_mask(self, inputs_I):
        return np.ones(1, bool)

"""Positions from the task's digit structure: Abacus (McLeish et al. 2024) and position coupling (Cho et al. 2024).

Both read `Task.position_ids` (for addition: the significance of each digit
slot, 1 = units, and 0 for non-digits) into a learned table added to the
embeddings, so digits of equal significance share a position id. While
training, one offset k per batch, uniform in [0, max_offset], shifts the ids;
at test time k = 0, so ids beyond the training length have been trained.
  abacus:  k shifts digit ids only; non-digits keep the reserved id 0 (offset
           range 0..99 as in the paper).
  coupled: k shifts every id, non-digits included (position coupling's random
           starting id).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from lengthgen.positions.absolute import Learned
from lengthgen.positions.base import CheckedOptions, PositionSpec, at_least, training_offset


@dataclasses.dataclass(frozen=True)
class AbacusOptions(CheckedOptions):
    max_len: int = 256
    max_offset: int = 99
    bounds = {"max_len": at_least(1), "max_offset": at_least(0)}


@dataclasses.dataclass(frozen=True)
class CoupledOptions(AbacusOptions):
    max_offset: int = 64


def coupled_positions(key: jax.Array, ids_S: jax.Array, length: jax.Array, options, train: bool) -> jax.Array:
    del length
    return ids_S.astype(jnp.int32) + training_offset(key, options, train)


def abacus_positions(key: jax.Array, ids_S: jax.Array, length: jax.Array, options, train: bool) -> jax.Array:
    return jnp.where(ids_S > 0, coupled_positions(key, ids_S, length, options, train), 0)


ABACUS = PositionSpec(
    "abacus", "absolute", "learned embedding of each digit's significance; random digit-id offset while training",
    "x + E[sig + k], k ~ U{0..max_offset} (train), 0 (test); non-digits E[0]", "McLeish et al. 2024", Learned,
    AbacusOptions, sampler=abacus_positions, table_size=lambda o: o.max_len, train_offset=lambda o: o.max_offset,
    task_ids=True)
COUPLED = PositionSpec(
    "coupled", "absolute", "digits of equal significance share a learned position; random start id while training",
    "x + E[id + k], k ~ U{0..max_offset} (train), 0 (test)", "Cho et al. 2024", Learned, CoupledOptions,
    sampler=coupled_positions, table_size=lambda o: o.max_len, train_offset=lambda o: o.max_offset, task_ids=True)

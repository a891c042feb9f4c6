"""What a position scheme is: a Flax module with three hooks, plus a position sampler.

The transformer calls the hooks at fixed points, so a scheme only overrides
what it changes:
  embed(x_BxSxD, pos_S)         absolute schemes add (or concatenate) to embeddings;
  rotate(q_BxSxHxK, k, pos_S)   rotary schemes rotate queries and keys;
  bias(pos_S) -> HxSxS          relative schemes add a bias to the attention logits.
`pos_S` holds the position index of every sequence slot. It comes from the
spec's sampler, which maps the slots' natural ids (`0..S-1`, or ids a task
gives, such as digit significance) to positions: the ids themselves by
default, or a sorted random subset of `[0, max_len)` for Ruoss et al.'s
randomized schemes (one subset per batch, at training and at test time).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from lengthgen.task import NoOptions


class Scheme(nn.Module):
    """Base position scheme: every hook is the identity."""

    options: Any
    d_model: int
    heads: int
    causal: bool

    def embed(self, x_BxSxD: jax.Array, pos_S: jax.Array) -> jax.Array:
        return x_BxSxD

    def rotate(self, q_BxSxHxK: jax.Array, k_BxSxHxK: jax.Array, pos_S: jax.Array):
        return q_BxSxHxK, k_BxSxHxK

    def bias(self, pos_S: jax.Array) -> jax.Array | None:
        return None

    def __call__(self, x_BxSxD: jax.Array, pos_S: jax.Array) -> jax.Array:
        return self.embed(x_BxSxD, pos_S)


Sampler = Callable[[jax.Array, jax.Array, jax.Array, Any, bool], jax.Array]


def contiguous_positions(key: jax.Array, ids_S: jax.Array, length: jax.Array, options: Any, train: bool) -> jax.Array:
    """The slots' natural ids: 0..S-1, or the task's own ids (slots past `length` are masked)."""
    del key, length, options, train
    return ids_S


def randomized_positions(key: jax.Array, ids_S: jax.Array, length: jax.Array, options: Any, train: bool) -> jax.Array:
    """A sorted, uniformly random `length`-subset of [0, max_len) (Ruoss et al. 2023).

    Padding slots (index >= length) get max_len - 1 so that table lookups stay in
    range; they are masked out of attention and of the loss.
    """
    del train
    size = ids_S.shape[0]
    max_len = options.max_len
    draw = jax.random.permutation(key, max_len)[:size].astype(jnp.int32)
    slot = jnp.arange(size, dtype=jnp.int32)
    draw = jnp.where(slot < length, draw, max_len + slot)
    return jnp.minimum(jnp.sort(draw), max_len - 1)


@dataclasses.dataclass(frozen=True)
class PositionSpec:
    """A registered position scheme: its module, options and how positions are drawn.

    family: none | absolute | rotary | relative.
    table_size: given options, the largest position index + 1 the scheme can
      take (None = unbounded); used to reject a config before training.
    causal_only: the scheme is defined for causal (decoder) models only.
    """

    name: str
    family: str
    description: str
    formula: str
    paper: str
    module: type[Scheme]
    Options: type = NoOptions
    sampler: Sampler = contiguous_positions
    causal_only: bool = False
    table_size: Callable[[Any], int | None] = lambda options: None

    @property
    def randomized(self) -> bool:
        return self.sampler is randomized_positions

    @property
    def parameters(self) -> str:
        return ", ".join(f.name for f in dataclasses.fields(self.Options)) or "-"

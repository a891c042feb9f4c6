"""Dual chunk attention (An et al. 2024; used by Qwen2): RoPE distances remapped by chunk.

With trained context c (L_train, slots) and chunk size s < c, query i and key j
lie in chunks i // s and j // s; the key keeps position j mod s and the query
takes, by case,
  same chunk:          i mod s                 (distance i - j)
  previous chunk:      min(s + i mod s, c - 1) (true distance while it fits in c)
  two or more before:  c - 1
so every distance stays in [0, c - 1], and a sequence of at most c slots gets
exactly RoPE's distances when s >= c / 2. Built from three score matrices by
the `logits` hook. Defaults: chunk_size = 3c/4, c = the run's training length.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from lengthgen.positions.base import PositionSpec, Scheme, at_least, fail, resolve_length
from lengthgen.positions.rerope import dot_scores
from lengthgen.positions.rotary import RopeOptions, inv_frequencies, rotate_pairs


@dataclasses.dataclass(frozen=True)
class DualChunkOptions(RopeOptions):
    chunk_size: int = 0
    train_length: int = 0
    bounds = {"chunk_size": at_least(0, " (0 = 3/4 of train_length)"),
              "train_length": at_least(0, " (0 = the run's training length)")}

    def __post_init__(self):
        super().__post_init__()
        if self.chunk_size and self.train_length and self.chunk_size > self.train_length:
            fail(self, f"chunk_size ({self.chunk_size}) must be <= train_length ({self.train_length})")


def chunk_query_positions(pos_S: jax.Array, chunk: int, context: int):
    """(intra, successive, inter) query positions and the key position j mod s, all S."""
    local = pos_S % chunk
    return local, jnp.minimum(chunk + local, context - 1), jnp.full_like(pos_S, context - 1), local


def by_chunk_gap(pos_S: jax.Array, chunk: int, same, previous, earlier) -> jax.Array:
    """Per (query i, key j <= i): `same` where j is in i's chunk, `previous` in the chunk before, else `earlier`."""
    gap_SxS = pos_S[:, None] // chunk - pos_S[None, :] // chunk
    return jnp.where(gap_SxS <= 0, same, jnp.where(gap_SxS == 1, previous, earlier))


def dual_chunk_distance(pos_S: jax.Array, chunk: int, context: int) -> jax.Array:
    """SxS remapped distance for every (query i, key j <= i)."""
    intra, succ, inter, key = chunk_query_positions(pos_S, chunk, context)
    return by_chunk_gap(pos_S, chunk, intra[:, None], succ[:, None], inter[:, None]) - key[None, :]


class DualChunk(Scheme):
    def logits(self, q_BxSxHxK, k_BxSxHxK, pos_S):
        context = resolve_length(self.options.train_length, self, "dual_chunk train_length")
        chunk = self.options.chunk_size or max(1, (3 * context) // 4)
        theta = inv_frequencies(q_BxSxHxK.shape[-1], self.options.base)
        intra, succ, inter, key = chunk_query_positions(pos_S, chunk, context)

        def rot(x, p_S):
            return rotate_pairs(x, p_S.astype(jnp.float32)[:, None] * theta)

        k_rot = rot(k_BxSxHxK, key)
        scores = [dot_scores(rot(q_BxSxHxK, q_pos), k_rot) for q_pos in (intra, succ, inter)]
        return by_chunk_gap(pos_S, chunk, *scores)


DUAL_CHUNK = PositionSpec(
    "dual_chunk", "rotary", "RoPE with distances remapped within a chunk, to the previous chunk and across chunks",
    "q pos: i mod s | min(s + i mod s, c-1) | c-1; k pos: j mod s", "An et al. 2024 (Qwen2 DCA)", DualChunk,
    DualChunkOptions, causal_only=True)

"""ReRoPE and leaky ReRoPE (Su 2023): RoPE with the relative distance capped at a window w.

The rotary distance of a causal pair (i, j), d = p_i - p_j, becomes
  d                     if d <= w,
  w + (d - w) / k       otherwise (leaky, slope 1/k; plain ReRoPE is k = infinity: w).
This depends on the pair, not on i and j separately, so it cannot be one
rotation of q and of k: the `logits` hook builds two score matrices, one with
q, k rotated by their positions (distance d) and one with q rotated by
p_i / k + w (1 - 1/k) and k by p_j / k (distance w + (d - w)/k), and takes the
first where d <= w.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp

from lengthgen.positions.base import PositionSpec, Scheme, at_least, fail, resolve_length
from lengthgen.positions.rotary import RopeOptions, inv_frequencies, rotate_pairs


@dataclasses.dataclass(frozen=True)
class ReropeOptions(RopeOptions):
    window: int = 0
    bounds = {"window": at_least(0, " (0 = half the training length)")}


@dataclasses.dataclass(frozen=True)
class LeakyReropeOptions(ReropeOptions):
    slope: float = 16.0

    def __post_init__(self):
        super().__post_init__()
        if not self.slope >= 1.0:
            fail(self, f"slope k must be >= 1 (distances beyond the window grow by 1/k), got {self.slope}")


def dot_scores(q_BxSxHxK, k_BxSxHxK):
    return jnp.einsum("bqhk,bshk->bhqs", q_BxSxHxK, k_BxSxHxK) * q_BxSxHxK.shape[-1] ** -0.5


class ReRope(Scheme):
    """Leaky when the options have a slope k (LeakyReropeOptions), plain otherwise."""

    def logits(self, q_BxSxHxK, k_BxSxHxK, pos_S):
        w = self.options.window or max(1, resolve_length(0, self, "rerope window") // 2)
        theta = inv_frequencies(q_BxSxHxK.shape[-1], self.options.base)
        pos = pos_S.astype(jnp.float32)
        near = dot_scores(rotate_pairs(q_BxSxHxK, pos[:, None] * theta), rotate_pairs(k_BxSxHxK, pos[:, None] * theta))
        slope = getattr(self.options, "slope", None)
        if slope is None:
            far = dot_scores(rotate_pairs(q_BxSxHxK, jnp.full_like(pos, w)[:, None] * theta), k_BxSxHxK)
        else:
            q_pos = pos / slope + w * (1.0 - 1.0 / slope)
            far = dot_scores(rotate_pairs(q_BxSxHxK, q_pos[:, None] * theta),
                             rotate_pairs(k_BxSxHxK, (pos / slope)[:, None] * theta))
        dist_SxS = pos_S[:, None] - pos_S[None, :]
        return jnp.where((dist_SxS <= w)[None, None], near, far)


RE_ROPE = PositionSpec(
    "rerope", "rotary", "RoPE with relative distance capped at window w (0 = half the training length)",
    "distance min(i-j, w)", "Su 2023 (ReRoPE)", ReRope, ReropeOptions, causal_only=True)
LEAKY_RE_ROPE = PositionSpec(
    "leaky_rerope", "rotary", "RoPE with distance slope 1/k beyond window w",
    "distance i-j if <= w, else w + (i-j-w)/k", "Su 2023 (ReRoPE)", ReRope, LeakyReropeOptions,
    causal_only=True)

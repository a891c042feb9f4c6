"""Context-parallel evaluation (`mesh.context`): one evaluation sequence split over devices.

For sequences too long for one device, each of C devices holds a part of every sequence's
slots: their embeddings, queries, MLPs and logits. Per layer, the keys and values of all
parts are gathered (an all-gather over the "context" axis), so each device attends from its
own queries to every key; masks and relative biases relate its slots to all of them. As in
Llama 3.1's context parallelism, the sequence is cut into 2C chunks and device i holds chunks
i and 2C - 1 - i: under a causal mask the late chunks see the most keys, and this pairing
gives every device the same work. (An encoder's work is balanced either way.)

The per-token results are the single-device ones up to float rounding (`tests/test_context.py`).
Training is not split this way: training sequences are short.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from lengthgen.data import Example
from lengthgen.errors import ConfigError

AXIS = "context"


def balanced_order(size: int, parts: int) -> np.ndarray:
    """The slots 0..size-1 in device order: `size` (a multiple of 2 x parts) cut into 2 x parts
    chunks, device i taking chunks i and 2 x parts - 1 - i."""
    chunks = np.arange(size).reshape(2 * parts, size // (2 * parts))
    return np.concatenate([np.concatenate([chunks[i], chunks[2 * parts - 1 - i]]) for i in range(parts)])


def check(built) -> None:
    """Context parallelism needs attention computed from separate queries and keys: a transformer
    with plain softmax attention and a scheme without its own logits."""
    parts = built.cfg.mesh.context
    if parts == 1:
        return
    net = built.net
    if not built.model.attention:
        raise ConfigError(f"mesh.context={parts} splits attention's sequence; model '{built.model.name}' has none")
    if net.whole_logits:
        why = (f"position '{built.position.name}' computes its own logits" if net.fused_softmax else
               "attention weights are needed whole (attention.kind=relu, an entropy penalty or captured maps)")
        raise ConfigError(f"mesh.context={parts} needs keys and values gathered per layer, but {why}; use mesh.context=1")


class ContextEval:
    """`Program.eval_batch` with every sequence split over the first `parts` devices; `stats`
    turns logits, labels and weights into the batch's per-row statistics."""

    def __init__(self, functions, parts: int, stats):
        net = dataclasses.replace(functions.net.cfg, context_axis=AXIS)
        self.stats = stats
        self.module = functions.net.clone(cfg=net)
        self.positions = functions.positions
        self.parts = parts
        self.mesh = Mesh(np.array(jax.devices()[:parts]), (AXIS,))
        self.run = jax.jit(jax.vmap(self._one, in_axes=(0, None, None)))

    def __call__(self, params, ex: Example, key):
        return self.run(jax.device_put(params, NamedSharding(self.mesh, P())), ex, key)

    def _one(self, params, ex: Example, key):
        return self.stats(self.logits(params, ex, key), ex.labels_BxS, ex.weights_BxS)

    def logits(self, params, ex: Example, key):
        """One model's logits_BxSxV, computed split over the devices, in slot order."""
        pos_key, drop_key = jax.random.split(key)
        pos_S = self.positions(pos_key, ex.ids_S, ex.length, False)
        size = ex.tokens_BxS.shape[1]
        padded = -(-size // (2 * self.parts)) * 2 * self.parts
        order = balanced_order(padded, self.parts)

        def arrange(a, axis):
            """`a` padded to `padded` slots along `axis` (masked out), in device order."""
            a = jnp.pad(a, [(0, padded - size if i == axis else 0) for i in range(a.ndim)])
            return jnp.take(a, order, axis=axis)

        def part(params, tokens_BxL, pos_L, slot_L, length):
            return self.module.apply({"params": params}, tokens_BxL, pos_L, length, False, slot_L,
                                     rngs={"dropout": drop_key})

        split = jax.shard_map(part, mesh=self.mesh, in_specs=(P(), P(None, AXIS), P(AXIS), P(AXIS), P()),
                              out_specs=P(None, AXIS))
        logits = split(params, arrange(ex.tokens_BxS, 1), arrange(pos_S, 0), jnp.asarray(order, jnp.int32), ex.length)
        return jnp.take(logits, np.argsort(order)[:size], axis=1)

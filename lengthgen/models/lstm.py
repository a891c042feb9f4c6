"""The recurrent baseline: stacked LSTMs reading the sequence left to right."""

from __future__ import annotations

import flax.linen as nn

from lengthgen.models.transformer import NetConfig


class LSTM(nn.Module):
    """Ignores positions: order comes from recurrence. Hidden size = d_model."""

    cfg: NetConfig

    @nn.compact
    def __call__(self, tokens_BxS, pos_S, length, train: bool = False):
        del pos_S, length  # padding sits after the real tokens, so it cannot affect them
        c = self.cfg
        x = nn.Embed(c.vocab_in, c.d_model)(tokens_BxS)
        x = nn.Dropout(c.embed_dropout)(x, deterministic=not train)
        for i in range(c.layers):
            x = nn.RNN(nn.OptimizedLSTMCell(c.d_model), name=f"lstm_{i}")(x)
        return nn.Dense(c.vocab_out, name="head")(x)

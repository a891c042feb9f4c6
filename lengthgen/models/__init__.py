"""Registered model families: encoder and decoder transformers, and the LSTM baseline."""

from __future__ import annotations

import dataclasses

import flax.linen as nn

from lengthgen.models import lstm, transformer


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A model family: its module, whether attention is causal, which layouts it reads.

    Layouts (see `lengthgen.data`): "placeholder" = input then output placeholders,
    predictions read at the placeholders; "teacher_forced" = input, separator,
    target, next-token prediction on the target.
    """

    name: str
    description: str
    module: type[nn.Module]
    causal: bool
    layouts: tuple[str, ...]
    uses_positions: bool = True
    attention: bool = True


ENCODER = ModelSpec(
    "encoder", "bidirectional transformer; reads input + output placeholders (Deletang/Ruoss setup)",
    transformer.Transformer, causal=False, layouts=("placeholder",))
DECODER = ModelSpec(
    "decoder", "causal transformer LM; teacher forcing on [input, separator, target]",
    transformer.Transformer, causal=True, layouts=("teacher_forced", "placeholder"))
LSTM = ModelSpec(
    "lstm", "recurrent LSTM baseline (layers x d_model hidden units), no position scheme",
    lstm.LSTM, causal=True, layouts=("placeholder", "teacher_forced"), uses_positions=False,
    attention=False)

"""Randomized positional encodings (Ruoss et al. 2023): the base scheme, fed a sorted
random subset of [0, max_len) as positions, at training and at test time.

For absolute and rotary schemes these are randomized positions; for relative
schemes (ALiBi, T5, KERPLE, Sandwich, FIRE, Transformer-XL) the differences of
those positions are Ruoss et al.'s "noisy" randomized distances.
"""

from __future__ import annotations

import dataclasses

from lengthgen.positions.absolute import LEARNED, LINEAR, SINUSOIDAL
from lengthgen.positions.base import PositionSpec, at_least, extend_options, randomized_positions
from lengthgen.positions.bias import ALIBI, T5
from lengthgen.positions.fire import FIRE
from lengthgen.positions.kerple import KERPLE_LOG, KERPLE_POWER
from lengthgen.positions.rotary import ROPE
from lengthgen.positions.sandwich import SANDWICH
from lengthgen.positions.transformer_xl import TRANSFORMER_XL


def randomized(base: PositionSpec, max_len: int = 2048) -> PositionSpec:
    """The randomized variant of `base`: same module, positions drawn by `randomized_positions`."""
    noisy = "distances" if base.family == "relative" else "positions"
    options = extend_options(base.Options, f"Randomized{base.Options.__name__}", {"max_len": at_least(1)}, max_len=max_len)
    return dataclasses.replace(
        base, name=f"randomized_{base.name}", paper="Ruoss et al. 2023", Options=options, sampler=randomized_positions,
        table_size=lambda o: o.max_len,
        description=f"{base.name} with {noisy} from a sorted random subset of [0, max_len) per batch",
        formula=f"{base.formula}; p = sorted random subset of [0, max_len)")


RANDOMIZED_SINUSOIDAL = randomized(SINUSOIDAL)
RANDOMIZED_LEARNED = randomized(LEARNED)
RANDOMIZED_LINEAR = randomized(LINEAR)
RANDOMIZED_ROPE = randomized(ROPE)
RANDOMIZED_ALIBI = randomized(ALIBI)
RANDOMIZED_T5 = randomized(T5)
RANDOMIZED_KERPLE_LOG = randomized(KERPLE_LOG)
RANDOMIZED_KERPLE_POWER = randomized(KERPLE_POWER)
RANDOMIZED_SANDWICH = randomized(SANDWICH)
RANDOMIZED_FIRE = randomized(FIRE)
RANDOMIZED_TRANSFORMER_XL = randomized(TRANSFORMER_XL)

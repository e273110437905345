"""Samplers by lowercase name, as keras-hub's `samplers.get`.

>>> get_sampler("top_k", k=3)
TopKSampler(temperature=1.0, k=3)
>>> available_samplers()
['beam', 'greedy', 'random', 'top_k', 'top_p']
"""

from __future__ import annotations

import keras

from lstm_zoo.generation.beam import BeamSampler
from lstm_zoo.generation.samplers import (
    GreedySampler,
    RandomSampler,
    Sampler,
    TopKSampler,
    TopPSampler,
)

_SAMPLERS = {
    "greedy": GreedySampler,
    "top_k": TopKSampler,
    "top_p": TopPSampler,
    "random": RandomSampler,
    "beam": BeamSampler,
}


def available_samplers():
    """The registered sampler names, sorted."""
    return sorted(_SAMPLERS)


def register_sampler(name, sampler_class, overwrite=False):
    """Make `get_sampler(name, **kwargs)` build `sampler_class(**kwargs)`.

    Raises:
        ValueError: a name that is not a lowercase string, a class that is not a Sampler, or
            a name already taken (without `overwrite`).
    """
    if not isinstance(name, str) or not name or name != name.lower():
        raise ValueError(f"a sampler name must be a non-empty lowercase string; got {name!r}")
    if not (isinstance(sampler_class, type) and issubclass(sampler_class, Sampler)):
        raise ValueError(f"{sampler_class!r} is not a subclass of lstm_zoo Sampler")
    if name in _SAMPLERS and not overwrite:
        raise ValueError(f"a sampler named {name!r} is registered; pass overwrite=True")
    _SAMPLERS[name] = sampler_class


def get_sampler(identifier, **kwargs):
    """A sampler from a name (with its arguments), a config dict, or a Sampler (as is).

    Args:
        identifier: str (see `available_samplers`), dict (`serialize_sampler` output) or
            Sampler.
        **kwargs: constructor arguments, with a name only.

    Raises:
        ValueError: unknown name (the message lists the known ones), arguments given with a
            Sampler instance, or a bad argument value.
    """
    if isinstance(identifier, Sampler):
        if kwargs:
            raise ValueError(
                f"sampler arguments {sorted(kwargs)} given with a Sampler instance "
                f"({identifier!r}); set them on the instance"
            )
        return identifier
    if isinstance(identifier, dict):
        if kwargs:
            raise ValueError(f"sampler arguments {sorted(kwargs)} given with a config dict")
        return keras.saving.deserialize_keras_object(identifier)
    if isinstance(identifier, str):
        key = identifier.lower()
        if key not in _SAMPLERS:
            known = ", ".join(available_samplers())
            raise ValueError(f"Unknown sampler {identifier!r}; known samplers: {known}.")
        try:
            return _SAMPLERS[key](**kwargs)
        except TypeError as error:
            raise ValueError(f"bad arguments for sampler {key!r}: {error}") from None
    raise ValueError(f"expected a sampler name, config dict or Sampler; got {identifier!r}")


def serialize_sampler(sampler):
    """A config dict that `get_sampler` turns back into an equal sampler."""
    return keras.saving.serialize_keras_object(sampler)

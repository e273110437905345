"""Recurrent layers by name: Keras's built-ins beside the zoo's, extensible by users.

>>> layer = recurrent_layer("peephole", 8, return_sequences=True)
>>> sorted(available_recurrent_layers())[:3]
['coupled', 'gru', 'lstm']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras

from lstm_zoo.cells.base import check_units
from lstm_zoo.cells.registry import on_cell_registered
from lstm_zoo.layers.recurrent import layer_classes


@dataclass(frozen=True)
class RegistryEntry:
    """A registered name: the factory `factory(units, **kwargs) -> layer` and what it is."""

    name: str
    factory: Callable
    builtin: bool
    description: str


_REGISTRY: dict[str, RegistryEntry] = {}


def register_recurrent_layer(name, factory, *, description="", builtin=False, overwrite=False):
    """Make `recurrent_layer(name, units, **kwargs)` build `factory(units, **kwargs)`.

    Args:
        name: str. Lowercase name to register.
        factory: callable(units, **kwargs) -> a Keras recurrent layer (a class works).
        description: str. One line shown by `lstm-zoo cells`.
        builtin: bool. Whether the factory is one of Keras's own layers.
        overwrite: bool. Replace an existing entry instead of raising ValueError.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"A recurrent layer name must be a non-empty string; got {name!r}.")
    if not callable(factory):
        raise ValueError(f"The factory for {name!r} must be callable; got {factory!r}.")
    key = name.lower()
    if key in _REGISTRY and not overwrite:
        raise ValueError(
            f"A recurrent layer named {key!r} is already registered; pass overwrite=True to "
            "replace it."
        )
    _REGISTRY[key] = RegistryEntry(key, factory, builtin, description)


def available_recurrent_layers():
    """The registered names, sorted."""
    return sorted(_REGISTRY)


def registry_entries():
    """The registry entries, sorted by name."""
    return [_REGISTRY[name] for name in available_recurrent_layers()]


def recurrent_layer(name, units, /, **kwargs):
    """Build the recurrent layer registered as `name` with `units` and layer arguments.

    Raises:
        ValueError: unknown name (the message lists the known ones) or units <= 0.
    """
    key = name.lower() if isinstance(name, str) else name
    if key not in _REGISTRY:
        known = ", ".join(available_recurrent_layers())
        raise ValueError(f"Unknown recurrent layer {name!r}; known names: {known}.")
    check_units(units)
    return _REGISTRY[key].factory(units, **kwargs)


for _name, _factory, _text in (
    ("lstm", keras.layers.LSTM, "keras.layers.LSTM (cuDNN on GPU)"),
    ("gru", keras.layers.GRU, "keras.layers.GRU (cuDNN on GPU)"),
):
    register_recurrent_layer(_name, _factory, description=_text, builtin=True)


def _register_cell_layer(entry):
    layer_class = layer_classes()[entry.layer_name]
    register_recurrent_layer(entry.name, layer_class, description=entry.description, overwrite=True)


on_cell_registered(_register_cell_layer)

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
from lstm_zoo.layers.recurrent import GRU, LSTM, CoupledLSTM, PeepholeLSTM


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


for _name, _factory, _builtin, _text in (
    ("lstm", keras.layers.LSTM, True, "keras.layers.LSTM (cuDNN on GPU)"),
    ("gru", keras.layers.GRU, True, "keras.layers.GRU (cuDNN on GPU)"),
    ("zoo_lstm", LSTM, False, "lstm_zoo LSTM on the fast loop (Keras weight layout)"),
    ("peephole", PeepholeLSTM, False, "peephole LSTM, Gers & Schmidhuber 2000"),
    ("coupled", CoupledLSTM, False, "coupled input-forget gate LSTM (CIFG)"),
    ("zoo_gru", GRU, False, "lstm_zoo GRU on the fast loop (Keras weight layout)"),
):
    register_recurrent_layer(_name, _factory, description=_text, builtin=_builtin)

"""The registry of zoo cells: one decorator makes a cell a Keras-serializable class, a layer
and a registered name.

>>> @register_cell("my_lstm", layer_name="MyLSTM", description="my variant")
... class MyLSTMCell(LSTMCell):
...     pass                                                     # doctest: +SKIP

`lstm_zoo.layers` listens (`on_cell_registered`): for each registered cell it builds the layer
class `layer_name` (a `lstm_zoo.layers.ZooRecurrent` over the cell, serializable as
`lstm_zoo>{layer_name}`) and registers it for `lstm_zoo.recurrent_layer(name, units)`. A cell
registered after `import lstm_zoo` gets its layer at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras


@dataclass(frozen=True)
class CellEntry:
    """A registered cell: its registry name, class, layer class name and one-line summary."""

    name: str
    cell_class: type
    layer_name: str
    description: str


_CELLS: dict[str, CellEntry] = {}
_LISTENERS: list[Callable[[CellEntry], None]] = []


def register_cell(name, *, layer_name, description):
    """Class decorator: register a `RecurrentCell` subclass under `name`.

    Args:
        name: str. Lowercase registry name (`lstm_zoo.recurrent_layer(name, units)`).
        layer_name: str. Name of the layer class made for the cell (`lstm_zoo.layers.<name>`).
        description: str. One line shown by `lstm-zoo cells`.

    Raises:
        ValueError: a name or layer name already taken by another cell.
    """
    if not isinstance(name, str) or not name or name != name.lower():
        raise ValueError(f"A cell's registry name must be a lowercase string; got {name!r}.")

    def decorate(cell_class):
        for entry in _CELLS.values():
            if (entry.name == name or entry.layer_name == layer_name) and (
                entry.cell_class.__qualname__ != cell_class.__qualname__
            ):
                raise ValueError(
                    f"Cell name {name!r} or layer name {layer_name!r} is already registered "
                    f"for {entry.cell_class.__name__}."
                )
        cell_class = keras.saving.register_keras_serializable(package="lstm_zoo")(cell_class)
        entry = CellEntry(name, cell_class, layer_name, description)
        _CELLS[name] = entry
        for listener in _LISTENERS:
            listener(entry)
        return cell_class

    return decorate


def registered_cells():
    """Every registered cell, sorted by name."""
    return [_CELLS[name] for name in sorted(_CELLS)]


def on_cell_registered(listener):
    """Call `listener(entry)` for every cell registered so far and for every later one."""
    _LISTENERS.append(listener)
    for entry in registered_cells():
        listener(entry)

"""Recurrent layers on the shared fast loop, and the registry of layers by name.

Every registered cell's layer class is an attribute here (`lstm_zoo.layers.PeepholeLSTM`,
`lstm_zoo.layers.LayerNormLSTM`, ...; `layer_classes()` lists them).
"""

from lstm_zoo.layers.bidirectional import Bidirectional
from lstm_zoo.layers.pooling import MaskedGlobalPooling1D
from lstm_zoo.layers.recurrent import ZooRecurrent, layer_classes
from lstm_zoo.layers.registry import (
    available_recurrent_layers,
    recurrent_layer,
    register_recurrent_layer,
)


def __getattr__(name):
    classes = layer_classes()
    if name in classes:
        return classes[name]
    raise AttributeError(f"module 'lstm_zoo.layers' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *layer_classes()])


__all__ = [
    "Bidirectional",
    "MaskedGlobalPooling1D",
    "ZooRecurrent",
    "available_recurrent_layers",
    "layer_classes",
    "recurrent_layer",
    "register_recurrent_layer",
    *sorted(layer_classes()),
]

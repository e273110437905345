"""lstm_zoo: LSTM-family recurrent cells, fast layers and models for Keras 3 / TensorFlow."""

__version__ = "0.1.0"

from lstm_zoo import cells, layers  # noqa: E402
from lstm_zoo.layers import (  # noqa: E402
    available_recurrent_layers,
    recurrent_layer,
    register_recurrent_layer,
)

__all__ = [
    "available_recurrent_layers",
    "cells",
    "layers",
    "recurrent_layer",
    "register_recurrent_layer",
]

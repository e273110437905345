"""Recurrent layers on the shared fast loop, and the registry of layers by name."""

from lstm_zoo.layers.bidirectional import Bidirectional
from lstm_zoo.layers.pooling import MaskedGlobalPooling1D
from lstm_zoo.layers.recurrent import GRU, LSTM, CoupledLSTM, PeepholeLSTM, ZooRecurrent
from lstm_zoo.layers.registry import (
    available_recurrent_layers,
    recurrent_layer,
    register_recurrent_layer,
)

__all__ = [
    "Bidirectional",
    "GRU",
    "LSTM",
    "MaskedGlobalPooling1D",
    "CoupledLSTM",
    "PeepholeLSTM",
    "ZooRecurrent",
    "available_recurrent_layers",
    "recurrent_layer",
    "register_recurrent_layer",
]

"""Recurrent cells: LSTM (Keras layout), peephole, coupled (CIFG), GRU, layer-norm LSTM,
MUT1-3, clockwork RNN, Mogrifier LSTM and depth-gated LSTM; `registered_cells()` lists them
with their registry names."""

from lstm_zoo.cells.base import RecurrentCell
from lstm_zoo.cells.clockwork import ClockworkRNNCell
from lstm_zoo.cells.depth_gated import DepthGatedLSTMCell
from lstm_zoo.cells.gru import GRUCell
from lstm_zoo.cells.layer_norm import LayerNormLSTMCell
from lstm_zoo.cells.lstm import CoupledLSTMCell, LSTMCell, PeepholeLSTMCell
from lstm_zoo.cells.mogrifier import MogrifierLSTMCell
from lstm_zoo.cells.mut import MUT1Cell, MUT2Cell, MUT3Cell
from lstm_zoo.cells.registry import register_cell, registered_cells

__all__ = [
    "ClockworkRNNCell",
    "CoupledLSTMCell",
    "DepthGatedLSTMCell",
    "GRUCell",
    "LSTMCell",
    "LayerNormLSTMCell",
    "MUT1Cell",
    "MUT2Cell",
    "MUT3Cell",
    "MogrifierLSTMCell",
    "PeepholeLSTMCell",
    "RecurrentCell",
    "register_cell",
    "registered_cells",
]

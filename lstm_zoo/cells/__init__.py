"""Recurrent cells: LSTM (Keras layout), peephole LSTM, coupled LSTM (CIFG) and GRU."""

from lstm_zoo.cells.base import RecurrentCell
from lstm_zoo.cells.gru import GRUCell
from lstm_zoo.cells.lstm import CoupledLSTMCell, LSTMCell, PeepholeLSTMCell

__all__ = ["CoupledLSTMCell", "GRUCell", "LSTMCell", "PeepholeLSTMCell", "RecurrentCell"]

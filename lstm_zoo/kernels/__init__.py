"""Native CPU kernels for the zoo recurrences (a TensorFlow custom op over MKL's GEMMs).

`status()` says which path the recurrent layers run in this process and why;
`set_enabled(False)` or `LSTM_ZOO_KERNEL=xla` switches to the XLA loop; `disabled()` does so
for a block (the exporters use it). See `lstm_zoo.kernels.loader` for every condition.
"""

from lstm_zoo.kernels.loader import disabled, set_enabled, status

__all__ = ["disabled", "set_enabled", "status"]

"""Names of the per-step gate activations that `lstm_zoo.inspect` records and
`lstm_zoo.plots` draws (their own module so that neither imports the other to know them).

LSTM family: input i_t, forget f_t, output o_t, candidate g_t, cell c_t, hidden h_t.
GRU family: update z_t, reset r_t, candidate n_t, hidden h_t.
"""

LSTM_KEYS = ("input", "forget", "output", "candidate", "cell", "hidden")
GRU_KEYS = ("update", "reset", "candidate", "hidden")

"""Numpy implementations of the cells' equations, written from the papers, for the tests."""

import numpy as np


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def lstm(x, kernel, recurrent_kernel, bias, h=None, c=None, peepholes=None, mask=None):
    """Vanilla (peepholes None) or peephole LSTM over x [batch, time, features]; gates i,f,c,o.

    Returns outputs [batch, time, units] as keras.layers.RNN gives them (zeros before the first
    unmasked step, the carried h at masked steps), and the final (h, c).
    """
    batch, steps, _ = x.shape
    units = recurrent_kernel.shape[0]
    h = np.zeros((batch, units)) if h is None else h
    c = np.zeros((batch, units)) if c is None else c
    p_i, p_f, p_o = peepholes if peepholes is not None else (0.0, 0.0, 0.0)
    outputs, previous = [], np.zeros((batch, units))
    for t in range(steps):
        z = x[:, t] @ kernel + h @ recurrent_kernel + bias
        z_i, z_f, z_c, z_o = np.split(z, 4, axis=-1)
        i = sigmoid(z_i + p_i * c)
        f = sigmoid(z_f + p_f * c)
        c_new = f * c + i * np.tanh(z_c)
        o = sigmoid(z_o + p_o * c_new)
        h_new = o * np.tanh(c_new)
        h, c, previous = _apply_mask(mask, t, (h_new, c_new, h_new), (h, c, previous))
        outputs.append(previous)
    return np.stack(outputs, axis=1), (h, c)


def coupled_lstm(x, kernel, recurrent_kernel, bias):
    """CIFG: blocks (i, c, o), forget gate 1 - i."""
    batch, steps, _ = x.shape
    units = recurrent_kernel.shape[0]
    h, c, outputs = np.zeros((batch, units)), np.zeros((batch, units)), []
    for t in range(steps):
        z_i, z_c, z_o = np.split(x[:, t] @ kernel + h @ recurrent_kernel + bias, 3, axis=-1)
        i = sigmoid(z_i)
        c = (1.0 - i) * c + i * np.tanh(z_c)
        h = sigmoid(z_o) * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs, axis=1), (h, c)


def gru(x, kernel, recurrent_kernel, bias, reset_after=True):
    """GRU, gates z, r, h; bias [2, 3u] with reset_after else [3u]: (outputs, (final h,))."""
    hidden = gru_gates(x, kernel, recurrent_kernel, bias, reset_after=reset_after)["hidden"]
    return hidden, (hidden[:, -1],)


def _apply_mask(mask, t, new, old):
    if mask is None:
        return new
    keep = mask[:, t][:, None]
    return tuple(np.where(keep, n, o) for n, o in zip(new, old))


def lstm_gates(
    x, kernel, recurrent_kernel, bias, peepholes=None, coupled=False, mask=None, state=None
):
    """Every step's gates and states of a vanilla, peephole or coupled (CIFG) LSTM.

    Gate blocks (i, f, c, o), or (i, c, o) with `coupled` (f = 1 - i). At a masked step the
    states are carried and the gates are those computed from x_t and the carried states.
    `state`: the initial (h, c), zeros by default. Returns a dict of [batch, time, units]
    arrays: input, forget, output, candidate, cell, hidden.
    """
    batch, steps, _ = x.shape
    units = recurrent_kernel.shape[0]
    h, c = (np.zeros((batch, units)), np.zeros((batch, units))) if state is None else state
    p_i, p_f, p_o = peepholes if peepholes is not None else (0.0, 0.0, 0.0)
    names = ("input", "forget", "output", "candidate", "cell", "hidden")
    record = {name: [] for name in names}
    for t in range(steps):
        z = x[:, t] @ kernel + h @ recurrent_kernel + bias
        if coupled:
            z_i, z_c, z_o = np.split(z, 3, axis=-1)
            i = sigmoid(z_i)
            f = 1.0 - i
        else:
            z_i, z_f, z_c, z_o = np.split(z, 4, axis=-1)
            i = sigmoid(z_i + p_i * c)
            f = sigmoid(z_f + p_f * c)
        g = np.tanh(z_c)
        c_new = f * c + i * g
        o = sigmoid(z_o + p_o * c_new)
        h_new = o * np.tanh(c_new)
        h, c = _apply_mask(mask, t, (h_new, c_new), (h, c))
        for name, value in zip(names, (i, f, o, g, c, h)):
            record[name].append(value)
    return {name: np.stack(values, axis=1) for name, values in record.items()}


def gru_gates(x, kernel, recurrent_kernel, bias, reset_after=True, mask=None, h=None):
    """Every step's update, reset, candidate and hidden of a GRU (conventions of lstm_gates)."""
    batch, steps, _ = x.shape
    units = recurrent_kernel.shape[0]
    input_bias, recurrent_bias = (bias[0], bias[1]) if reset_after else (bias, np.zeros_like(bias))
    u_z, u_r, u_h = np.split(recurrent_kernel, 3, axis=-1)
    b_z, b_r, b_h = np.split(recurrent_bias, 3)
    h = np.zeros((batch, units)) if h is None else h
    names = ("update", "reset", "candidate", "hidden")
    record = {name: [] for name in names}
    for t in range(steps):
        x_z, x_r, x_h = np.split(x[:, t] @ kernel + input_bias, 3, axis=-1)
        z = sigmoid(x_z + h @ u_z + b_z)
        r = sigmoid(x_r + h @ u_r + b_r)
        if reset_after:
            candidate = np.tanh(x_h + r * (h @ u_h + b_h))
        else:
            candidate = np.tanh(x_h + (r * h) @ u_h)
        (h,) = _apply_mask(mask, t, (z * h + (1.0 - z) * candidate,), (h,))
        for name, value in zip(names, (z, r, candidate, h)):
            record[name].append(value)
    return {name: np.stack(values, axis=1) for name, values in record.items()}

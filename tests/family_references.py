"""Numpy references of the newer cells, written from the papers' equations (float64).

Each takes x [batch, time, features], the cell's weights by name ({name: array}) and its
options, and a mask [batch, time] (None: all steps real; a masked step carries every state),
and returns (h of every step [batch, time, units] with the carried h at masked steps, the
final states in the cell's state order).
"""

import math

import numpy as np

from tests.references import sigmoid


def _run(x, mask, states, step):
    hs = []
    for t in range(x.shape[1]):
        new = step(x[:, t], states)
        if mask is not None:
            keep = mask[:, t][:, None]
            new = [np.where(keep, n, s) for n, s in zip(new, states)]
        states = new
        hs.append(states[0])
    return np.stack(hs, axis=1), states


def _zeros(x, units, count):
    return [np.zeros((x.shape[0], units)) for _ in range(count)]


def _ln(v, gamma, beta, epsilon):
    mean = v.mean(-1, keepdims=True)
    return (v - mean) / np.sqrt(v.var(-1, keepdims=True) + epsilon) * gamma + beta


def layer_norm_lstm(x, w, mask=None, epsilon=1e-3):
    """Ba et al. 2016 eq. 20-22: LN of xW and hU separately, of c_t before the output tanh."""
    units = w["recurrent_kernel"].shape[0]

    def step(x_t, states):
        h, c = states
        z = (
            _ln(x_t @ w["kernel"], w["kernel_norm_gamma"], w["kernel_norm_beta"], epsilon)
            + _ln(
                h @ w["recurrent_kernel"],
                w["recurrent_norm_gamma"],
                w["recurrent_norm_beta"],
                epsilon,
            )
            + w["bias"]
        )
        z_i, z_f, z_c, z_o = np.split(z, 4, axis=-1)
        c = sigmoid(z_f) * c + sigmoid(z_i) * np.tanh(z_c)
        h = sigmoid(z_o) * np.tanh(_ln(c, w["state_norm_gamma"], w["state_norm_beta"], epsilon))
        return [h, c]

    return _run(x, mask, _zeros(x, units, 2), step)


def mut(x, w, variant, mask=None):
    """Jozefowicz et al. 2015 Table 2, MUT1/2/3 (h_{t+1} = candidate z + h_t (1 - z))."""
    units = w["recurrent_kernel"].shape[0]
    bare = w.get("input_map")
    b_z, b_r, b_h = np.split(w["bias"], 3)
    kernel, recurrent = w["kernel"], w["recurrent_kernel"]
    block = lambda m, i: m[:, i * units : (i + 1) * units]  # noqa: E731

    def step(x_t, states):
        (h,) = states
        x_bare = x_t if bare is None else x_t @ bare
        if variant == 1:
            z = sigmoid(x_t @ block(kernel, 0) + b_z)
            r = sigmoid(x_t @ block(kernel, 1) + h @ block(recurrent, 0) + b_r)
            candidate = np.tanh((r * h) @ block(recurrent, 1) + np.tanh(x_bare) + b_h)
        elif variant == 2:
            z = sigmoid(x_t @ block(kernel, 0) + h @ block(recurrent, 0) + b_z)
            r = sigmoid(x_bare + h @ block(recurrent, 1) + b_r)
            candidate = np.tanh((r * h) @ block(recurrent, 2) + x_t @ block(kernel, 1) + b_h)
        else:
            z = sigmoid(x_t @ block(kernel, 0) + np.tanh(h) @ block(recurrent, 0) + b_z)
            r = sigmoid(x_t @ block(kernel, 1) + h @ block(recurrent, 1) + b_r)
            candidate = np.tanh((r * h) @ block(recurrent, 2) + x_t @ block(kernel, 2) + b_h)
        return [candidate * z + h * (1.0 - z)]

    return _run(x, mask, _zeros(x, units, 1), step)


def clockwork(x, w, periods, mask=None):
    """Koutník et al. 2014 §3: module i (units in the order of `periods`) updates where
    t mod T_i == 0, t counting the real steps; U block upper-triangular by period."""
    units = w["recurrent_kernel"].shape[0]
    unit_periods = np.repeat(periods, units // len(periods))
    connectivity = unit_periods[:, None] >= unit_periods[None, :]
    recurrent = w["recurrent_kernel"] * connectivity
    cycle = math.lcm(*periods)

    def step(x_t, states):
        h, clock = states
        active = np.mod(clock, unit_periods[None, :]) == 0
        candidate = np.tanh(x_t @ w["kernel"] + h @ recurrent + w["bias"])
        return [np.where(active, candidate, h), np.mod(clock + 1, cycle)]

    states = [np.zeros((x.shape[0], units)), np.zeros((x.shape[0], 1))]
    return _run(x, mask, states, step)


def mogrifier(x, w, rounds, rank=None, mask=None):
    """Melis et al. 2019 eq. 1-2: r rounds of mutual gating, then the LSTM step."""
    units = w["recurrent_kernel"].shape[0]

    def matrix(letter, i):
        if rank is None:
            return w[f"mogrifier_{letter}_{i}"]
        return w[f"mogrifier_{letter}_{i}_left"] @ w[f"mogrifier_{letter}_{i}_right"]

    def step(x_t, states):
        h, c = states
        xm, hm = x_t, h
        for i in range(1, rounds + 1):
            if i % 2:
                xm = 2 * sigmoid(hm @ matrix("q", i)) * xm
            else:
                hm = 2 * sigmoid(xm @ matrix("r", i)) * hm
        z = xm @ w["kernel"] + hm @ w["recurrent_kernel"] + w["bias"]
        z_i, z_f, z_c, z_o = np.split(z, 4, axis=-1)
        c = sigmoid(z_f) * c + sigmoid(z_i) * np.tanh(z_c)
        return [sigmoid(z_o) * np.tanh(c), c]

    return _run(x, mask, _zeros(x, units, 2), step)


def depth_gated(x, w, depth, mask=None):
    """Yao et al. 2015 eq. 1: layer L+1's c receives layer L's c_t through the depth gate.
    States top first: [h^D, c^D, h^1, c^1, ...]."""
    units = w["recurrent_kernel"].shape[0]

    def step(x_t, states):
        layers = {depth: states[:2]}
        for layer in range(1, depth):
            layers[layer] = states[2 * layer : 2 * layer + 2]
        new, below = {}, None
        for layer in range(1, depth + 1):
            h, c = layers[layer]
            if layer == 1:
                z = x_t @ w["kernel"] + h @ w["recurrent_kernel"] + w["bias"]
            else:
                h_low, c_low = below
                projected = h_low @ w[f"kernel_{layer}"] + w[f"bias_{layer}"]
                z = projected[:, : 4 * units] + h @ w[f"recurrent_kernel_{layer}"]
                d = sigmoid(
                    projected[:, 4 * units :]
                    + w[f"depth_cell_weights_{layer}"] * c
                    + w[f"depth_lower_weights_{layer}"] * c_low
                )
            z_i, z_f, z_c, z_o = np.split(z, 4, axis=-1)
            c_new = sigmoid(z_f) * c + sigmoid(z_i) * np.tanh(z_c)
            if layer > 1:
                c_new = c_new + d * c_low
            h_new = sigmoid(z_o) * np.tanh(c_new)
            new[layer] = [h_new, c_new]
            below = (h_new, c_new)
        ordered = list(new[depth])
        for layer in range(1, depth):
            ordered += new[layer]
        return ordered

    return _run(x, mask, _zeros(x, units, 2 * depth), step)

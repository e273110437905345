"""PNG plots: gate heatmaps over a sentence, and training curves.

Drawn with `matplotlib.figure.Figure` on the Agg canvas, without pyplot: no global state, no
display needed, safe in threads and on servers.
"""

from __future__ import annotations

import csv
import math
import os

import keras
import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatter

from lstm_zoo.gate_keys import GRU_KEYS, LSTM_KEYS

DEFAULT_MAX_UNITS = 32
_MAX_TICK_LABELS = 80
# in [0, 1]: sigmoid gates, a clockwork cell's active modules, a depth-gated LSTM's depth gate
_GATES = {"input", "forget", "output", "update", "reset", "active", "depth"}
_BOUNDED = {"candidate", "hidden"}  # in [-1, 1] for tanh


def plot_gate_heatmaps(activations, tokens, path, units=None, title=None, example=0):
    """Write one PNG with a heatmap per gate and state over a sentence.

    Panels, top to bottom: the cell's gates and states in the dict's order (input, forget,
    output, candidate, cell, hidden for the LSTM family; update, reset, candidate, hidden for
    the GRU); for a `Bidirectional`'s {"forward", "backward"}
    dict, one column per direction. x: the tokens; y: the units; a colorbar per panel. Gates
    use a fixed [0, 1] scale (widened if values leave it), candidate and hidden [-1, 1], the
    cell state a scale symmetric around 0. Masked steps ("mask" False) are drawn grey.

    Args:
        activations: the dict of `lstm_zoo.inspect.gate_activations` (arrays [batch, time,
            units] or [time, units]).
        tokens: one label (str) per time step.
        path: str or PathLike of the PNG (its folder is created).
        units: which units to show (the same rows in every panel). None: all if there are at
            most 32, else the 32 whose hidden state varies most over the sentence's unmasked
            steps (variance over time, summed over both directions of a Bidirectional); an int
            n: the n most varying; a sequence of ints: those units. Rows are in increasing
            unit index and labelled with it.
        title: str or None. Figure title.
        example: int. Which sequence of the batch to draw.

    Returns:
        `path`.

    Raises:
        ValueError: a dict that is not a gate-activations dict, arrays of different shapes,
            a number of tokens different from the number of steps, bad `units` or `example`.
    """
    directions = _directions(activations)
    panels, steps, total_units = None, None, None
    columns = []
    for direction, gates in directions:
        keys = _gate_keys(gates, direction)
        arrays = {key: _one_example(gates[key], key, example) for key in keys}
        mask = gates.get("mask")
        mask = (
            np.ones(arrays[keys[0]].shape[0], bool)
            if mask is None
            else _one_example(np.asarray(mask, bool), "mask", example, rank=1)
        )
        shapes = {a.shape for a in arrays.values()}
        if len(shapes) != 1 or mask.shape[0] != next(iter(shapes))[0]:
            raise ValueError(
                f"activations{direction and f'[{direction!r}]'} arrays disagree in shape: "
                + ", ".join(f"{k} {a.shape}" for k, a in arrays.items())
                + f", mask {mask.shape}."
            )
        (steps, total_units), panels = next(iter(shapes)), keys
        columns.append((direction, arrays, mask))
    if len(tokens) != steps:
        raise ValueError(f"Got {len(tokens)} tokens for {steps} time steps.")
    shown = _units_to_show(units, columns, total_units)

    label_size = 8 if steps <= 40 else 6
    longest = max((len(str(token)) for token in tokens), default=1)
    layout = _HeatmapLayout(len(panels), len(columns), steps, len(shown), longest, title)
    figure = Figure(figsize=layout.size, dpi=100)
    FigureCanvasAgg(figure)
    for col, (direction, arrays, mask) in enumerate(columns):
        for row, key in enumerate(panels):
            heatmap_box, colorbar_box = layout.boxes(row, col)
            ax = figure.add_axes(heatmap_box)
            values = arrays[key][:, shown].T  # [units, time]
            scale = _scale(key, values[:, mask])
            image = ax.imshow(
                np.ma.masked_array(values, np.broadcast_to(~mask, values.shape)),
                aspect="auto",
                interpolation="nearest",
                cmap=_cmap(key),
                vmin=scale[0],
                vmax=scale[1],
            )
            name = key if not direction else f"{direction}: {key}"
            _label_axes(ax, name, tokens, shown, label_size, last=row == len(panels) - 1)
            colorbar = figure.colorbar(image, cax=figure.add_axes(colorbar_box))
            colorbar.ax.tick_params(labelsize=7)
    if title:
        figure.suptitle(title, y=1.0 - 0.1 / layout.size[1], va="top")
    _makedirs(path)
    figure.savefig(path, format="png")
    return path


class _HeatmapLayout:
    """Fixed margins in inches (a layout engine would measure every label, several times
    slower): panels stacked per direction, a colorbar right of each."""

    left, colorbar_gap, colorbar_width, colorbar_labels, panel_gap = 0.7, 0.08, 0.15, 0.55, 0.35

    def __init__(self, rows, cols, steps, units, longest_token, title):
        self.rows, self.cols = rows, cols
        self.panel_width = min(max(3.0, 0.28 * steps), 36.0)
        self.panel_height = max(1.0, 0.07 * units + 0.4)
        self.bottom = 0.25 + min(longest_token, 20) * 0.075
        self.top = 0.35 + (0.35 if title else 0.0)
        self.column_width = (
            self.left
            + self.panel_width
            + self.colorbar_gap
            + self.colorbar_width
            + self.colorbar_labels
        )
        self.size = (
            cols * self.column_width,
            self.bottom + rows * self.panel_height + (rows - 1) * self.panel_gap + self.top,
        )

    def boxes(self, row, col):
        """(heatmap, colorbar) rectangles [left, bottom, width, height] in figure fractions."""
        width, height = self.size
        x = col * self.column_width + self.left
        y = self.bottom + (self.rows - 1 - row) * (self.panel_height + self.panel_gap)
        heatmap = [x / width, y / height, self.panel_width / width, self.panel_height / height]
        colorbar_x = x + self.panel_width + self.colorbar_gap
        colorbar = [colorbar_x / width, y / height, self.colorbar_width / width, heatmap[3]]
        return heatmap, colorbar


def _directions(activations):
    if not isinstance(activations, dict) or not activations:
        raise ValueError(
            "activations must be the dict returned by lstm_zoo.inspect.gate_activations; "
            f"got {type(activations).__name__}."
        )
    if set(activations) == {"forward", "backward"}:
        return [("forward", activations["forward"]), ("backward", activations["backward"])]
    return [("", activations)]


def _gate_keys(gates, direction):
    """The panels: every [batch, time, units] array of the dict (as wide as "hidden"), in the
    dict's order; narrower states (a clockwork cell's clock) are left out."""
    where = f"activations[{direction!r}]" if direction else "activations"
    if not isinstance(gates, dict):
        raise ValueError(f"{where} must be a dict of gate arrays; got {type(gates).__name__}.")
    if "hidden" not in gates:
        raise ValueError(
            f"{where} is not a gate-activations dict: expected the cell's gates and states with "
            f"'hidden' among them (e.g. {list(LSTM_KEYS)} or {list(GRU_KEYS)}), optionally "
            f"'mask'; got {sorted(gates)}."
        )
    width = np.shape(gates["hidden"])[-1]
    return tuple(
        key
        for key in gates
        if key != "mask" and np.ndim(gates[key]) >= 2 and np.shape(gates[key])[-1] == width
    )


def _one_example(array, key, example, rank=2):
    array = np.asarray(array)
    if array.ndim == rank + 1:
        if not 0 <= example < array.shape[0]:
            raise ValueError(f"example={example} but the batch has {array.shape[0]} sequences.")
        array = array[example]
    if array.ndim != rank:
        raise ValueError(
            f"activations[{key!r}] must be [batch, time{', units' * (rank == 2)}] or without "
            f"the batch axis; got shape {array.shape}."
        )
    return array if key == "mask" else array.astype("float64")


def _units_to_show(units, columns, total_units):
    if units is not None and not isinstance(units, (int, np.integer)):
        shown = np.asarray(list(units))
        if shown.size == 0 or not np.issubdtype(shown.dtype, np.integer):
            raise ValueError(f"units must be None, an int or a sequence of ints; got {units!r}.")
        if shown.min() < 0 or shown.max() >= total_units:
            raise ValueError(f"units must be in [0, {total_units}); got {units!r}.")
        return np.unique(shown)
    count = DEFAULT_MAX_UNITS if units is None else int(units)
    if isinstance(units, bool) or count < 1:
        raise ValueError(f"units must be a positive int; got {units!r}.")
    if count >= total_units:
        return np.arange(total_units)
    variance = sum(arrays["hidden"][mask].var(axis=0) for _, arrays, mask in columns)
    return np.sort(np.argsort(-variance, kind="stable")[:count])


def _scale(key, values):
    finite = values[np.isfinite(values)]
    low, high = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    if key in _GATES:
        return min(0.0, low), max(1.0, high)
    bound = max(abs(low), abs(high), 1e-6)
    if key in _BOUNDED:
        bound = max(bound, 1.0)
    return -bound, bound


def _cmap(key):
    """viridis for gates, red-blue (diverging around 0) otherwise; masked steps light grey."""
    return colormaps["viridis" if key in _GATES else "RdBu_r"].with_extremes(bad="0.85")


def _label_axes(ax, name, tokens, shown, label_size, last):
    ax.set_title(name, fontsize=10, loc="left")
    steps = len(tokens)
    every = max(1, math.ceil(steps / _MAX_TICK_LABELS))
    ticks = np.arange(0, steps, every)
    ax.set_xticks(ticks)
    if last:
        ax.set_xticklabels([str(tokens[t]) for t in ticks], rotation=90, fontsize=label_size)
    else:
        ax.set_xticklabels([])
    every_unit = max(1, math.ceil(len(shown) / 16))
    rows = np.arange(0, len(shown), every_unit)
    ax.set_yticks(rows)
    ax.set_yticklabels([str(shown[r]) for r in rows], fontsize=7)
    ax.set_ylabel("unit", fontsize=8)


def _makedirs(path):
    folder = os.path.dirname(os.fspath(path))
    if folder:
        os.makedirs(folder, exist_ok=True)


# ---------------------------------------------------------------- training curves
def plot_training_curves(history, path, title=None):
    """Write one PNG of the training curves, one panel per metric family.

    A family is a metric and its validation twin (loss and val_loss, perplexity and
    val_perplexity, ...), drawn against the epoch (1-based). Perplexity panels use a log scale.
    Missing values (a CSVLogger's "NA", e.g. validation every other epoch) leave gaps.

    Args:
        history: a `keras.callbacks.History` (what `fit` returns), its `.history` dict
            {metric: [value per epoch]}, or the path of a CSV written by
            `keras.callbacks.CSVLogger`.
        path: str or PathLike of the PNG (its folder is created).
        title: str or None. Figure title.

    Returns:
        `path`.

    Raises:
        ValueError: an empty history, series of different lengths, non-numeric values (with
            the CSV file and line).
    """
    epochs, series = _read_history(history)
    families = {}
    for key in series:
        families.setdefault(key[4:] if key.startswith("val_") else key, []).append(key)
    count = len(families)
    n_cols = min(count, 3)
    n_rows = math.ceil(count / n_cols)
    figure = Figure(figsize=(4.5 * n_cols, 3.2 * n_rows + 0.4), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(n_rows, n_cols, squeeze=False).ravel()
    for ax, (family, keys) in zip(axes, families.items()):
        for key in sorted(keys, key=lambda k: k.startswith("val_")):
            values = series[key]
            label = "validation" if key.startswith("val_") else "training"
            ax.plot(epochs, values, marker="o", markersize=3, label=label)
        finite = np.concatenate([series[k][np.isfinite(series[k])] for k in keys])
        if "perplexity" in family and finite.size and finite.min() > 0:
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(LogFormatter(labelOnlyBase=False))
            ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False))
        ax.set_title(family, fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        if len(epochs) <= 20:
            ax.set_xticks(epochs)
    for ax in axes[count:]:
        ax.set_visible(False)
    if title:
        figure.suptitle(title)
    _makedirs(path)
    figure.savefig(path, format="png")
    return path


def _read_history(history):
    """(epochs [n], {metric: float array [n]}) from a History, a dict or a CSVLogger file."""
    if isinstance(history, keras.callbacks.History):
        source = "History"
        epochs = [e + 1 for e in getattr(history, "epoch", None) or []] or None
        history = history.history
    elif isinstance(history, dict):
        source, epochs = "history dict", None
    elif isinstance(history, (str, os.PathLike)):
        return _read_csv(history)
    else:
        raise ValueError(
            "history must be a keras.callbacks.History, its .history dict or a CSVLogger file "
            f"path; got {type(history).__name__}."
        )
    series = {}
    for key, values in history.items():
        try:
            series[str(key)] = np.asarray(values, dtype="float64").reshape(-1)
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"{source}: metric {key!r} has non-numeric values ({error})."
            ) from None
    series = {key: values for key, values in series.items() if values.size}
    if not series:
        raise ValueError(f"{source} is empty: no metric has any value to plot.")
    lengths = {key: values.size for key, values in series.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(
            f"{source}: metrics have different numbers of epochs {lengths} (validation_freq > 1?"
            "); write a keras.callbacks.CSVLogger file, which records the gaps, and plot that."
        )
    count = next(iter(lengths.values()))
    if epochs is None or len(epochs) != count:
        epochs = list(range(1, count + 1))
    return np.asarray(epochs), {k: np.where(np.isinf(v), np.nan, v) for k, v in series.items()}


def _read_csv(path):
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle, delimiter=_csv_delimiter(handle)))
    if not rows or not any(rows[0]):
        raise ValueError(f"{path}: empty file, no header.")
    header, body = rows[0], [(number, row) for number, row in enumerate(rows[1:], 2) if row]
    if not body:
        raise ValueError(f"{path}: no epochs after the header (an empty history).")
    columns = {name: [] for name in header}
    for number, row in body:
        if len(row) != len(header):
            raise ValueError(
                f"{path}, line {number}: {len(row)} fields but the header has {len(header)}."
            )
        for name, text in zip(header, row):
            try:
                value = float("nan") if text.strip() in ("", "NA", "nan") else float(text)
            except ValueError:
                raise ValueError(
                    f"{path}, line {number}: column {name!r} is not a number: {text!r}."
                ) from None
            columns[name].append(value)
    if "epoch" in columns:
        epochs = np.asarray(columns.pop("epoch")) + 1
    else:
        epochs = np.arange(1, len(body) + 1)
    if not columns:
        raise ValueError(f"{path}: no metric columns besides 'epoch'.")
    series = {k: np.where(np.isinf(v), np.nan, np.asarray(v)) for k, v in columns.items()}
    return epochs, series


def _csv_delimiter(handle):
    first = handle.readline()
    handle.seek(0)
    return ";" if first.count(";") > first.count(",") else ","


class TrainingCurvesPNG(keras.callbacks.Callback):
    """Rewrite a PNG of the training curves at the end of every epoch (`plot_training_curves`).

    Records the logs of each epoch itself (missing validation values stay gaps), from the
    start of each `fit`.

    Args:
        path: str or PathLike of the PNG.
        title: str or None. Figure title.
    """

    def __init__(self, path, title=None):
        super().__init__()
        self.path = path
        self.title = title
        self.epochs, self.logs = [], []

    def on_train_begin(self, logs=None):
        self.epochs, self.logs = [], []

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(epoch)
        self.logs.append(dict(logs or {}))
        keys = []
        for entry in self.logs:
            keys += [k for k in entry if k not in keys]
        if not keys:
            return
        history = keras.callbacks.History()
        history.epoch = list(self.epochs)
        history.history = {
            key: [float(entry.get(key, float("nan"))) for entry in self.logs] for key in keys
        }
        plot_training_curves(history, self.path, title=self.title)

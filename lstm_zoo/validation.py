"""Argument checks shared by the package (readers, factories, generation): one-line
ValueErrors naming the argument and what is allowed."""

from __future__ import annotations

import math

import numpy as np


def check_int(name, value, low=1, high=None, none=False):
    """`value` as an int in [low, high] (high None: no upper bound), or None if `none`."""
    if value is None and none:
        return None
    allowed = f"[{low}, {high}]" if high is not None else f">= {low}"
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        extra = " or None" if none else ""
        raise ValueError(f"{name} must be an integer {allowed}{extra}; got {name}={value!r}")
    if value < low or (high is not None and value > high):
        raise ValueError(f"{name} must be {allowed}; got {name}={value}")
    return int(value)


def check_rate(name, value, high_open=False):
    """`value` as a float in [0, 1] ([0, 1) with `high_open`)."""
    allowed = "[0, 1)" if high_open else "[0, 1]"
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number in {allowed}; got {name}={value!r}")
    value = float(value)
    if math.isnan(value) or value < 0.0 or value > 1.0 or (high_open and value == 1.0):
        raise ValueError(f"{name} must be in {allowed}; got {name}={value!r}")
    return value


def check_labels(name, labels):
    """`labels` as a tuple of distinct, non-empty strings (at least one)."""
    if isinstance(labels, str):
        raise ValueError(f"{name} must be a list of label strings; got one string {labels!r}")
    labels = tuple(labels)
    if not labels:
        raise ValueError(f"{name} must hold at least one label; got {labels}")
    for label in labels:
        if not isinstance(label, str) or not label:
            raise ValueError(f"{name} must be non-empty strings; got {label!r} in {labels}")
    if len(set(labels)) != len(labels):
        raise ValueError(f"{name} has duplicates: {labels}")
    return labels


def check_number(name, value, low=None, high=None, low_open=False, high_open=False, none=False):
    """`value` as a finite float within the bounds given (open or closed), or None if `none`."""
    if value is None and none:
        return None
    if low is not None and high is not None:
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        allowed = f"in {left}{low:g}, {high:g}{right}"
    elif low is not None:
        allowed = f"{'>' if low_open else '>='} {low:g}"
    else:
        allowed = f"{'<' if high_open else '<='} {high:g}"
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number {allowed}; got {name}={value!r}")
    value = float(value)
    if (
        not math.isfinite(value)
        or (low is not None and (value < low or (low_open and value == low)))
        or (high is not None and (value > high or (high_open and value == high)))
    ):
        raise ValueError(f"{name} must be {allowed}; got {name}={value!r}")
    return value


def check_bool(name, value):
    """`value` unless it is not a bool (0/1 and strings are refused: "False" is truthy)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False; got {name}={value!r}")
    return bool(value)

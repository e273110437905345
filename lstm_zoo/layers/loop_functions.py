"""The traced functions that hold the fast loop: traced once per argument pattern, and shared
between layers whose cells are configured alike.

XLA keeps one cache of compiled programs per traced function, keyed by the input shapes it
meets at run time. Two things make that cache small:

- **One trace per argument pattern.** A `tf.function` retraces for each new static shape it
  sees (Keras traces a train step first with the first batch's shapes, then with relaxed
  ones), and each trace would compile the same capacity again. `ShapeRelaxedFunction` traces
  once with every dimension unknown, so the program cache, keyed by the concrete shapes at run
  time, is the only place where programs are made.
- **One function for equal cells.** The loops of two layers whose cells have the same class
  and configuration (names and seeds aside) are the same computation: every weight, state
  and mask is an argument. A `keras.layers.Bidirectional` over a zoo layer (two loops, forward
  and backward, on CPU) or a stack of equal layers (a language model's) then calls one traced
  function, and each capacity compiles once for all of them instead of once per layer. A
  traced function that captures anything from outside its arguments (a cell holding a tensor
  that its configuration does not describe; a variable read in `step` cannot happen, since
  the loop's custom gradient refuses variables it is not given) is never shared: it stays
  with the layer that traced it.

Shared functions are held weakly: one lives as long as some layer still uses it.
"""

from __future__ import annotations

import json
import weakref

import tensorflow as tf

# (loop identity, argument pattern) -> traced tf.function, for functions with no captures
_SHARED = weakref.WeakValueDictionary()


def cell_identity(cell):
    """The parts of a cell's configuration that decide its computation: everything in
    `get_config()` except its name and dropout seed."""
    return {k: v for k, v in cell.get_config().items() if k not in {"name", "seed"}}


def loop_identity(cell, **options):
    """A key that is equal for two loops that compute the same thing: the cell's class and
    identity (`cell_identity`) and the loop's options (directions, compilation)."""
    cell_type = type(cell)
    config = json.dumps(cell_identity(cell), sort_keys=True, default=repr)
    return (f"{cell_type.__module__}.{cell_type.__qualname__}", config, *sorted(options.items()))


class ShapeRelaxedFunction:
    """`tf.function(fn)` traced once per argument structure with every dimension unknown, and
    shared with the other loops of the same `identity` (see the module doc).

    Arguments are nested lists of tensors and None (absent inputs); each pattern of present
    inputs, ranks and dtypes gets its own trace.

    Args:
        fn: the Python loop function.
        jit_compile: bool. Compile the traced function with XLA.
        name: the function's name (it names the XLA modules: their dumps, profiles).
        identity: a hashable key (`loop_identity` plus the loop's name), or None to never
            share this function.
    """

    def __init__(self, fn, jit_compile, name, identity=None):
        self._fn = fn
        self._jit_compile = jit_compile
        self._name = name
        self._identity = identity
        self._traced = {}

    def __call__(self, *args):
        function, tensors = self._function_for(args)
        return function(*tensors)

    def output_dtypes(self, *args):
        """The nested structure of what a call with `args` returns: each output's dtype, None
        where it returns None (from the trace; nothing runs)."""
        function, _ = self._function_for(args)
        outputs = function.get_concrete_function().structured_outputs
        return tf.nest.map_structure(lambda o: None if o is None else o.dtype, outputs)

    def _function_for(self, args):
        """(the traced function for this argument pattern, the present arguments as tensors)."""
        leaves = tf.nest.flatten(args)
        present = [leaf is not None for leaf in leaves]
        tensors = [tf.convert_to_tensor(leaf) for leaf in leaves if leaf is not None]
        pattern = (
            repr(tf.nest.map_structure(lambda leaf: leaf is not None, args)),
            tuple((t.dtype, t.shape.rank) for t in tensors),
        )
        if pattern not in self._traced:
            self._traced[pattern] = self._shared_or_traced(args, present, tensors, pattern)
        return self._traced[pattern], tensors

    def _shared_or_traced(self, structure, present, tensors, pattern):
        key = None if self._identity is None else (self._identity, pattern)
        function = None if key is None else _SHARED.get(key)
        if function is None:
            function = self._trace(structure, present, tensors)
            if key is not None and not function.get_concrete_function().captured_inputs:
                _SHARED[key] = function
        return function

    def _trace(self, structure, present, tensors):
        def flat_fn(*flat):
            flat = iter(flat)
            leaves = [next(flat) if here else None for here in present]
            return self._fn(*tf.nest.pack_sequence_as(structure, leaves))

        flat_fn.__name__ = self._name
        signature = [tf.TensorSpec([None] * t.shape.rank, t.dtype) for t in tensors]
        return tf.function(
            flat_fn, input_signature=signature, jit_compile=self._jit_compile, autograph=False
        )

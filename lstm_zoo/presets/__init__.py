"""Presets: trained task models as directories in keras-hub's layout, bundled or your own.

    <preset>/
      config.json                      task class, backbone factory + arguments, task arguments
      model.weights.h5                 the backbone's weights (Keras's .weights.h5, no optimizer)
      metadata.json                    data, training command, test metrics, data licence, size
      assets/tokenizer/vocabulary.txt  one JSON-escaped token a line (lstm_zoo.text.Vocabulary)

A bundled preset is such a directory inside this package (`lstm_zoo/presets/<name>/`) and is
loaded by name, offline; any other preset by its path.

Example:

>>> from lstm_zoo.presets import from_preset, available_presets
>>> available_presets()  # doctest: +SKIP
['sst2-lstm', 'tinyshakespeare-char']
>>> classifier = from_preset("sst2-lstm")  # doctest: +SKIP
>>> classifier.predict_labels(["a gorgeous , witty film"])  # doctest: +SKIP
['positive']
"""

from lstm_zoo.presets.io import from_preset, save_to_preset
from lstm_zoo.presets.registry import available_presets, preset_lines, preset_path

__all__ = ["available_presets", "from_preset", "preset_lines", "preset_path", "save_to_preset"]

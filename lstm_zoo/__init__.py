"""lstm_zoo: LSTM-family recurrent cells, fast layers and models for Keras 3 / TensorFlow.

Importing the package registers every Keras-serializable class it defines (cells, layers, the
embeddings, the CRF and character encoder, the tagger model, metrics, samplers), so
`keras.saving.load_model(path, safe_mode=True)` loads any model the package built after a
bare `import lstm_zoo`.
"""

__version__ = "0.1.0"

# Importing these registers the classes of the tagger, metrics, samplers, embeddings, CRF and
# character encoder for `keras.saving.load_model`.
from lstm_zoo import cells, generation, layers, models, presets, text  # noqa: E402
from lstm_zoo.layers import (  # noqa: E402, F401
    available_recurrent_layers,
    characters,
    crf,
    embedding,
    recurrent_layer,
    register_recurrent_layer,
)

__all__ = [
    "available_recurrent_layers",
    "cells",
    "generation",
    "layers",
    "models",
    "presets",
    "recurrent_layer",
    "register_recurrent_layer",
    "text",
]

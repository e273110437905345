"""Copy a keras.layers.LSTM's weights into lstm_zoo's LSTM and train both side by side.

python examples/compare_with_keras_lstm.py
"""

import time

import keras
import numpy as np

from lstm_zoo.layers import LSTM


def build(layer):
    inputs = keras.Input((50, 16))
    model = keras.Model(inputs, keras.layers.Dense(1)(layer(inputs)))
    model.compile(optimizer="adam", loss="mse")
    return model


keras.utils.set_random_seed(0)
x = np.random.normal(size=(512, 50, 16)).astype("float32")
y = x[:, :, 0].sum(axis=1, keepdims=True)  # a running sum the LSTM has to learn

keras_model = build(keras.layers.LSTM(64))
zoo_model = build(LSTM(64))
zoo_model.set_weights(keras_model.get_weights())  # same names, shapes and gate order
print("same outputs:", np.allclose(keras_model(x[:4]), zoo_model(x[:4]), atol=1e-5))

for name, model in (("keras.layers.LSTM", keras_model), ("lstm_zoo.layers.LSTM", zoo_model)):
    model.fit(x, y, epochs=1, verbose=0)  # compile
    start = time.perf_counter()
    history = model.fit(x, y, epochs=3, verbose=0)
    print(f"{name:>22}: loss {history.history['loss'][-1]:.3f}, {time.perf_counter() - start:.1f}s")

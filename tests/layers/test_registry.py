import keras
import pytest

import lstm_zoo
from lstm_zoo.layers import GRU, LSTM, CoupledLSTM, PeepholeLSTM, registry


def test_builtin_and_zoo_names_are_registered():
    names = lstm_zoo.available_recurrent_layers()
    assert {"lstm", "gru", "zoo_lstm", "peephole", "coupled", "zoo_gru"} <= set(names)
    assert names == sorted(names)


@pytest.mark.parametrize(
    "name, layer_class",
    [
        ("lstm", keras.layers.LSTM),
        ("gru", keras.layers.GRU),
        ("zoo_lstm", LSTM),
        ("peephole", PeepholeLSTM),
        ("coupled", CoupledLSTM),
        ("zoo_gru", GRU),
        ("ZOO_LSTM", LSTM),
    ],
)
def test_recurrent_layer_builds_the_registered_class_with_kwargs(name, layer_class):
    layer = lstm_zoo.recurrent_layer(name, 7, return_sequences=True, dropout=0.1)
    assert type(layer) is layer_class
    assert layer.return_sequences and layer.cell.units == 7 and layer.cell.dropout == 0.1


def test_unknown_name_lists_the_known_names():
    with pytest.raises(ValueError, match="Unknown recurrent layer 'lstmm'.*peephole"):
        lstm_zoo.recurrent_layer("lstmm", 4)


def test_units_must_be_positive_for_every_factory():
    with pytest.raises(ValueError, match="positive integer"):
        lstm_zoo.recurrent_layer("lstm", 0)


def test_user_registration_and_duplicates(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    def factory(units, **kwargs):
        return keras.layers.SimpleRNN(units, **kwargs)

    lstm_zoo.register_recurrent_layer("simple", factory, description="SimpleRNN")
    assert "simple" in lstm_zoo.available_recurrent_layers()
    assert isinstance(lstm_zoo.recurrent_layer("simple", 3), keras.layers.SimpleRNN)
    with pytest.raises(ValueError, match="already registered"):
        lstm_zoo.register_recurrent_layer("simple", factory)
    lstm_zoo.register_recurrent_layer("simple", LSTM, overwrite=True)
    assert isinstance(lstm_zoo.recurrent_layer("simple", 3), LSTM)
    with pytest.raises(ValueError, match="callable"):
        lstm_zoo.register_recurrent_layer("broken", None)

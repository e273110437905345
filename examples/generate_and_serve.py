"""Train a tiny word language model, sample from it, export it and serve raw strings.

    python examples/generate_and_serve.py

Runs in about a minute on a laptop CPU; the corpus is a few lines of text written below.
"""

import tempfile

import keras
import tensorflow as tf

from lstm_zoo.data import Vocabulary, lm_windows
from lstm_zoo.export import export_saved_model
from lstm_zoo.generation import generate_text
from lstm_zoo.models import compile_language_model, language_model

LINES = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a cat saw a dog",
    "the dog saw the cat on the mat",
] * 50

tokens = [word for line in LINES for word in line.split() + ["<eos>"]]
vocab = Vocabulary.build([tokens])
keras.utils.set_random_seed(0)
model = language_model(len(vocab), cell="coupled", units=32, num_layers=1)
compile_language_model(model, optimizer=keras.optimizers.Adam(0.01))
model.fit(lm_windows(vocab.encode(tokens), batch_size=8, num_steps=10), epochs=10, verbose=0)

for sampler, options in (("greedy", {}), ("top_k", {"k": 3}), ("beam", {"num_beams": 3})):
    texts = generate_text(
        model,
        vocab,
        ["the cat", "a"],
        max_length=12,
        sampler=sampler,
        end_token="<eos>",
        seed=1,
        **options,
    )
    print(f"{sampler:>6}: {texts}")

with tempfile.TemporaryDirectory() as directory:
    export_saved_model(model, directory, "generate", vocab, samplers=("greedy",), end_token="<eos>")
    served = tf.saved_model.load(directory).signatures["generate"]
    result = served(
        prompts=tf.constant(["the cat"]), max_length=tf.constant(12), seed=tf.constant([0, 0])
    )
    print("served:", [t.decode() for t in result["texts"].numpy()])

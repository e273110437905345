"""`LanguageModel`: texts -> next-token logits, and `generate` from text prompts, over a
`language_model` backbone (word or character level, by its preprocessor).

Raw strings in `fit`/`evaluate` are tokenized and trained as (ids[:-1] -> ids[1:]) pairs per
text; ids (e.g. `lstm_zoo.data.lm_windows` batches) go in as for the backbone.

Example:

>>> lm = LanguageModel.build(["<pad>", "<unk>", "a", "b"], units=4, num_layers=1)
>>> lm.compile_default()
>>> lm.generate(["a b"], max_length=5)  # doctest: +SKIP
['a b a b a']
"""

from __future__ import annotations

import keras
import numpy as np

from lstm_zoo.models.language_model import compile_language_model, language_model
from lstm_zoo.models.task import Task
from lstm_zoo.text import TextPreprocessor, Vocabulary


@keras.saving.register_keras_serializable(package="lstm_zoo")
class LanguageModel(Task):
    """Token ids or texts -> logits [batch, time, vocab].

    Args:
        backbone: a `language_model` model (not stateful).
        preprocessor: `TextPreprocessor` (level "word" or "char").
        end_token: str or None. A vocabulary token that ends generated text (e.g. "<eos>").
    """

    head_layers = ("logits",)
    backbone_factory = staticmethod(language_model)
    task_name = "language_model"

    def __init__(self, backbone, preprocessor, end_token=None, **kwargs):
        super().__init__(backbone, preprocessor, **kwargs)
        if end_token is not None and end_token not in preprocessor.vocabulary.index:
            raise ValueError(f"end_token {end_token!r} is not in the vocabulary")
        self.end_token = end_token

    @classmethod
    def build(cls, vocabulary, level="word", lowercase=False, end_token=None, **backbone_kwargs):
        """A new language model: `language_model(len(vocabulary), **backbone_kwargs)`."""
        vocabulary = vocabulary if isinstance(vocabulary, Vocabulary) else Vocabulary(vocabulary)
        backbone = language_model(len(vocabulary), **backbone_kwargs)
        preprocessor = TextPreprocessor(vocabulary, lowercase=lowercase, level=level)
        arguments = {**backbone_kwargs, "vocab_size": len(vocabulary)}
        return cls(backbone, preprocessor, end_token=end_token, backbone_arguments=arguments)

    def compile_default(self, learning_rate=1e-3, **kwargs):
        """Adam with global-norm clipping 5, token cross-entropy and `Perplexity`."""
        optimizer = keras.optimizers.Adam(learning_rate, global_clipnorm=5.0)
        compile_language_model(self, optimizer=optimizer, **kwargs)

    def _map_batch(self, *element):
        if len(element) > 1:
            raise ValueError("a language model's text dataset holds texts only (no labels)")
        ids = self.preprocessor(element[0])
        return ids[:, :-1], ids[:, 1:]

    def _adapt(self, x, y, batch_size, shuffle=False, with_labels=True):
        if not with_labels and self._is_text(x):  # predict: logits over the whole text
            data = super()._adapt(x, None, batch_size, with_labels=True)[0]
            return data.map(lambda inputs, targets: inputs), None, None
        if y is not None and self._is_text(x):
            raise ValueError("a language model learns from texts alone: pass y=None")
        return super()._adapt(x, y, batch_size, shuffle, with_labels)

    def generate(self, prompts, max_length, sampler="greedy", seed=None, **sampler_kwargs):
        """Continue text prompts to `max_length` tokens (prompt included), through
        `lstm_zoo.generation.generate`; returns the texts (tokens as the vocabulary reads the
        prompt, joined by " " or, at character level, by nothing; the end token dropped).

        Args:
            prompts: list of str.
            max_length: int. Tokens per output, prompt included.
            sampler: str, config or `lstm_zoo.generation.Sampler` ("greedy", "top_k",
                "top_p", "random", "beam").
            seed: int or None. For random samplers.
            **sampler_kwargs: e.g. k=10, temperature=0.8, num_beams=4.
        """
        from lstm_zoo.generation import generate

        if isinstance(prompts, str):
            raise ValueError("prompts must be a list of strings; got one string (wrap it in [ ])")
        ids = []
        for index, prompt in enumerate(prompts):
            if not isinstance(prompt, str):
                raise ValueError(f"prompt {index} must be a string; got {prompt!r}")
            encoded = self.preprocessor.encode([prompt])[0]
            if not encoded:
                raise ValueError(f"prompt {index} ({prompt!r}) has no tokens")
            ids.append(encoded)
        vocabulary = self.preprocessor.vocabulary
        end_id = vocabulary.index[self.end_token] if self.end_token is not None else None
        output = generate(self.backbone, ids, max_length, sampler, end_id, seed, **sampler_kwargs)
        if isinstance(output, tuple):  # beams returned: the best of each
            output = [beams[0] for beams in output[0]]
        separator = "" if self.preprocessor.level == "char" else " "
        texts = []
        for sequence in output:
            if end_id is not None and len(sequence) > 1 and sequence[-1] == end_id:
                sequence = sequence[:-1]
            texts.append(separator.join(vocabulary.decode(sequence)))
        return texts

    def perplexity(self, texts, batch_size=None):
        """exp(mean next-token cross-entropy) over `texts` (each scored on its own)."""
        data, _, _ = self._adapt(texts, None, batch_size)
        total = count = 0.0
        for inputs, targets in data.as_numpy_iterator():
            logits = keras.ops.convert_to_numpy(self(inputs, training=False))
            logits = logits - logits.max(-1, keepdims=True)
            log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
            picked = np.take_along_axis(log_p, targets[..., None], -1)[..., 0]
            real = targets != 0
            total -= picked[real].sum()
            count += real.sum()
        return float(np.exp(total / max(count, 1)))

    def stream_perplexity(self, stream, batch_size=20, num_steps=20):
        """Perplexity over one long stream scored as Zaremba et al. and the TensorFlow PTB
        tutorial score it: cut into `batch_size` contiguous rows, `num_steps` tokens at a
        time, the recurrent state carried from each window to the next (a stateful copy of
        the backbone with these weights).

        Args:
            stream: a text (str, tokenized by the preprocessor), a list of tokens (e.g. PTB
                words with "<eos>" at line ends) or a 1-D array of ids.
            batch_size, num_steps: the window shape (PTB: 20 x 20 for ptb-small).

        Returns:
            exp(mean next-token cross-entropy) over the scored targets (the stream's tail that
            does not fill a last window is not scored, as in `lm_windows`).
        """
        from lstm_zoo.data import lm_windows
        from lstm_zoo.models.language_model import ResetStatesAtEpochAndEvaluation

        if isinstance(stream, str):
            ids = self.preprocessor.encode([stream])[0]
        elif len(stream) and isinstance(stream[0], str):
            ids = self.preprocessor.vocabulary.encode(list(stream))
        else:
            ids = stream
        arguments = {**self.backbone_arguments, "batch_size": batch_size}
        arguments.update(num_steps=num_steps, stateful=True)
        stateful = language_model(**arguments)
        stateful.set_weights(self.backbone.get_weights())
        compile_language_model(stateful)
        result = stateful.evaluate(
            lm_windows(np.asarray(ids), batch_size, num_steps),
            verbose=0,
            return_dict=True,
            callbacks=[ResetStatesAtEpochAndEvaluation()],
        )
        return float(result["perplexity"])

    def export(self, path, samplers=("greedy",), **kwargs):
        """A raw-string SavedModel (`generate` signatures, see `lstm_zoo.export`)."""
        from lstm_zoo.export import export_saved_model

        return export_saved_model(
            self.backbone,
            path,
            "generate",
            self.preprocessor.vocabulary.tokens,
            lowercase=self.preprocessor.lowercase,
            level=self.preprocessor.level,
            samplers=samplers,
            end_token=self.end_token,
            text_rule="lstm_zoo.text",
            **kwargs,
        )

    def preset_arguments(self):
        return {"end_token": self.end_token}

    def get_config(self):
        return {**super().get_config(), "end_token": self.end_token}

"""Epoch 1 and epoch 2 wall time of `model.fit` on four real pipelines, for every recurrent
layer beside keras.layers.LSTM (the baseline) and torch.nn.LSTM (a peer), with the number of
XLA compilations in each epoch.

What is measured. For each pipeline and each layer name (a recurrent-layer registry name, the
`cell=` argument of the factories) a fresh model is built with the same seed and trained with
`model.fit(train_batches, epochs=2, verbose=0)` on the same batches (a fresh tf.data pipeline
with the same shuffle seed, no validation). A Keras callback takes a `time.perf_counter()`
timestamp (and the process's CPU seconds, `time.process_time()`) at `on_epoch_begin` and
`on_epoch_end`: epoch 1 includes tracing the train step and
every XLA compilation it causes, epoch 2 is the steady state (plus compilations for shapes
epoch 1 did not see). XLA compilations are counted from the HLO dumps TensorFlow writes, one
`*.before_optimizations.txt` per compilation, into a temporary `--xla_dump_to` folder (set in
XLA_FLAGS before TensorFlow is imported, checked at start by compiling a tiny jit_compile
function at 3 shapes, deleted at exit; see `lstm_zoo.xla_compilations`). Ratios are each
epoch's active time over keras.layers.LSTM's same epoch in the same process: the wall time
less the seconds the whole process could not run (a watcher thread that sleeps 20 ms at a time
counts every gap over 0.5 s: a VM paused by its host; `PauseWatch`), both kept in the JSON
with the process's CPU seconds. Targets: epoch 1 at most
1.0x and epoch 2 at most 0.8x of keras.layers.LSTM's time. torch.nn.LSTM (when torch is
installed: `pip install torch==2.13.0`) trains the same architecture over the same padded
batches (packed sequences), its epochs timed around the same tf.data iteration.

Pipelines (none is bucketed to fixed shapes: batches are padded to their longest example):
  sst2  SST-2 stsa.binary.train, vocabulary of the training sentences, from_tensor_slices ->
        shuffle(10000, seed) -> padded_batch(32) (id 0 = padding) -> sentiment_classifier(
        embedding_dim=64, units=64, bidirectional=True), Adam 1e-3.
  imdb  IMDB imdb_train.csv.gz, whole reviews (no truncation) tokenized as in
        benchmarks/imdb_sentiment.py, the first --imdb-limit of a seeded shuffle, the same
        pipeline, sentiment_classifier(embedding_dim=64, units=64, bidirectional=True,
        pooling="max").
  ewt   UD English EWT UPOS, the first --ewt-limit training sentences, the batches of
        benchmarks/ud_pos_tagging.py (tagging_dataset: shuffled, grouped by length into
        buckets, each batch padded to its longest sentence and word) -> sequence_tagger with
        character features (word embedding 50 trained from scratch, BiLSTM 100, character
        BiLSTM 50 over embeddings 30; the character encoder uses the measured layer too
        unless --char-cell names one), Adam 2e-3.
  ptb   PTB word LM, preset ptb-small (2 x 200, batch 20 x 20 steps, stateful, SGD 1.0,
        clip 5), vocabulary of all of ptb.train, the first --ptb-limit tokens of it.

Default slices (the ratios, not the absolute times, are the result): SST-2 all 6,920
sentences, IMDB 2,000 reviews, EWT 4,000 sentences, PTB 200,000 tokens; `--quick` takes 256,
64, 64 and 4,001 (a smoke run, not a measurement).

    .venv/bin/python benchmarks/pipeline_epochs.py               # all (roughly 1 h on 2 cores)
    .venv/bin/python benchmarks/pipeline_epochs.py --quick       # tiny slices, smoke run
    .venv/bin/python benchmarks/pipeline_epochs.py --pipelines sst2,ptb --cells lstm,zoo_lstm
        [--epochs 2] [--sst2-limit N] [--imdb-limit N] [--ewt-limit N] [--ptb-limit N]
        [--char-cell lstm] [--no-torch] [--torch-threads N] [--no-xla-dump] [--output JSON]

The zoo layers run the native CPU kernel where it applies (`lstm_zoo.kernels`; the JSON
records which); `LSTM_ZOO_KERNEL=xla` in the environment measures the XLA loop instead.
`--cells` defaults to keras's "lstm" and every zoo layer of the registry; "lstm" is always
run first, as the baseline. `--no-xla-dump` times without writing dumps (no compilation
counts), to check that dumping does not move the times (it did not, within noise, on a
single-layer check). OMP_WAIT_POLICY defaults to PASSIVE: torch's spinning OpenMP threads
beside TensorFlow's pools in one process made torch's epochs 5-20x slower on 2 cores.

The JSON (default benchmarks/out/pipeline_epochs.json, `_quick` with --quick) holds, per
pipeline, every epoch's seconds, ratio to keras LSTM, XLA compilations and train-step
tracings (how often tf.function traced Keras's train step), whether the targets are met, the
batches and distinct batch shapes of each epoch (EWT: batch, time, real words, characters:
the shapes the word and character encoders see), and the settings, machine (CPU model, cores,
TensorFlow / Keras / torch versions, load average), date and command line.
"""

from __future__ import annotations

import argparse
import atexit
import datetime
import importlib.util
import os
import re
import shlex
import shutil
import sys
import tempfile
import threading
import time
import warnings

# XLA reads XLA_FLAGS once per process, at its first compilation: name the dump folder before
# TensorFlow is imported (importing lstm_zoo imports it).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# torch's OpenMP threads spin while they wait; beside TensorFlow's thread pools in one process
# on 2 cores that made its epochs 5-20x slower and erratic (measured). Only torch reads this.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
XLA_DUMP_FOLDER = None
if "--no-xla-dump" not in sys.argv:
    XLA_DUMP_FOLDER = tempfile.mkdtemp(prefix="pipeline_epochs_xla_")
    atexit.register(shutil.rmtree, XLA_DUMP_FOLDER, ignore_errors=True)
    os.environ["XLA_FLAGS"] = (
        f"{os.environ.get('XLA_FLAGS', '')} --xla_dump_to={XLA_DUMP_FOLDER} --xla_dump_hlo_as_text"
    ).strip()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from lstm_zoo.bench import machine_description, write_json  # noqa: E402
from lstm_zoo.data import Vocabulary, dataset_path, lm_windows, read_lm_tokens  # noqa: E402
from lstm_zoo.data.classification import (  # noqa: E402
    build_vocabulary,
    encode_texts,
    read_label_text_lines,
    read_text_label_csv,
)
from lstm_zoo.data.conll import read_conllu  # noqa: E402
from lstm_zoo.data.tagging import (  # noqa: E402
    build_character_vocabulary,
    build_tagging_vocabularies,
    encode_characters,
    encode_tagged,
    tagging_dataset,
)
from lstm_zoo.kernels import status as lstm_zoo_kernel_status  # noqa: E402
from lstm_zoo.layers.registry import available_recurrent_layers, registry_entries  # noqa: E402
from lstm_zoo.models import (  # noqa: E402
    ResetStatesAtEpochAndEvaluation,
    compile_language_model,
    compile_sentiment_classifier,
    compile_tagger,
    language_model,
    language_model_preset,
    sentiment_classifier,
    sequence_tagger,
)
from lstm_zoo.xla_compilations import XlaCompilationCounter  # noqa: E402

# ---------------------------------------------------------------- settings
SEED, BATCH, SHUFFLE_BUFFER, EPOCHS = 0, 32, 10_000, 2
BASELINE, TORCH_ROW = "lstm", "torch.nn.LSTM"
TARGETS = {1: 1.0, 2: 0.8}  # epoch -> largest time ratio to keras.layers.LSTM's same epoch
SST2 = {"embedding_dim": 64, "units": 64, "learning_rate": 1e-3}
IMDB = {"embedding_dim": 64, "units": 64, "pooling": "max", "min_count": 2, "learning_rate": 1e-3}
EWT = {
    "embedding_dim": 50,
    "units": 100,
    "dropout": 0.33,
    "char_embedding_dim": 30,
    "char_units": 50,
    "learning_rate": 2e-3,
    "buckets": [8, 12, 16, 20, 25, 30, 40, 60],  # as benchmarks/ud_pos_tagging.py
}
# the character encoder's options where the cell's defaults do not take its 50 units: the
# clockwork's default periods (1, 2, 4, 8) split units into 4 equal groups, 5 periods into 10s
CHAR_CELL_OPTIONS = {"clockwork": {"periods": (1, 2, 4, 8, 16)}}
PTB_PRESET = "ptb-small"
LIMITS = {"sst2": None, "imdb": 2_000, "ewt": 4_000, "ptb": 200_000}  # None: the whole file
QUICK_LIMITS = {"sst2": 256, "imdb": 64, "ewt": 64, "ptb": 4_001}  # --quick: a smoke run
PIPELINES = ("sst2", "imdb", "ewt", "ptb")

_IMDB_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")  # as benchmarks/imdb_sentiment.py


def default_cells():
    """keras.layers.LSTM and every zoo layer of the registry (its non-built-in names)."""
    return [BASELINE] + [e.name for e in registry_entries() if not e.builtin]


# ---------------------------------------------------------------- pipelines
class Pipeline:
    """One task: its data (read once), a fresh tf.data pipeline, a Keras model per cell and
    a torch peer of the same architecture."""

    name = title = ""
    fit_options = {"shuffle": False}  # the tf.data pipeline shuffles

    def __init__(self, limit, args):
        self.limit, self.args = limit, args

    def train_dataset(self):
        raise NotImplementedError

    def keras_model(self, cell):
        raise NotImplementedError

    def torch_peer(self):
        """(train_batch(x, y), begin_epoch()) of the torch model."""
        raise NotImplementedError

    def callbacks(self):
        return []

    def shape_key(self, x, y):
        """What decides the shapes the recurrent layers see in this batch."""
        return tuple(x.shape)

    def description(self):
        raise NotImplementedError


def _padded_batches(encoded, labels, seed):
    """from_tensor_slices -> shuffle(SHUFFLE_BUFFER, seed) -> padded_batch(BATCH), id 0 pads."""
    ragged = tf.ragged.constant(encoded, dtype=tf.int32)
    data = tf.data.Dataset.from_tensor_slices((ragged, np.asarray(labels)))
    data = data.shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)
    data = data.map(lambda ids, label: (ids, label))  # ragged rows of rank 1 -> dense rows
    return data.padded_batch(BATCH).prefetch(tf.data.AUTOTUNE)


class SST2Pipeline(Pipeline):
    name, title = "sst2", "SST-2"

    def __init__(self, limit, args):
        super().__init__(limit, args)
        texts, labels = read_label_text_lines(dataset_path("sst2", "stsa.binary.train"))
        self.total = len(texts)
        texts, labels = texts[:limit], labels[:limit]
        self.vocabulary = build_vocabulary(texts)
        self.encoded, self.labels = encode_texts(texts, self.vocabulary), labels

    def train_dataset(self):
        return _padded_batches(self.encoded, self.labels, self.args.seed)

    def keras_model(self, cell):
        model = sentiment_classifier(
            vocab_size=len(self.vocabulary),
            embedding_dim=SST2["embedding_dim"],
            units=SST2["units"],
            bidirectional=True,
            cell=cell,
        )
        return compile_sentiment_classifier(model, SST2["learning_rate"])

    def torch_peer(self):
        return _torch_classifier(len(self.vocabulary), SST2, "last")

    def description(self):
        lengths = [len(ids) for ids in self.encoded]
        return (
            f"{len(self.encoded):,} of {self.total:,} training sentences, vocabulary "
            f"{len(self.vocabulary):,}, lengths {min(lengths)}-{max(lengths)}, "
            f"unbucketed padded_batch({BATCH})"
        )


class IMDBPipeline(Pipeline):
    name, title = "imdb", "IMDB"

    def __init__(self, limit, args):
        super().__init__(limit, args)
        texts, labels = read_text_label_csv(dataset_path("imdb", "imdb_train.csv.gz"))
        self.total = len(texts)
        rows = np.random.RandomState(args.seed).permutation(len(texts))[:limit]
        tokens = [" ".join(_IMDB_TOKEN.findall(texts[i].lower())) for i in rows]
        self.vocabulary = build_vocabulary(tokens, min_count=IMDB["min_count"])
        self.encoded, self.labels = encode_texts(tokens, self.vocabulary), labels[rows]

    def train_dataset(self):
        return _padded_batches(self.encoded, self.labels, self.args.seed)

    def keras_model(self, cell):
        model = sentiment_classifier(
            vocab_size=len(self.vocabulary),
            embedding_dim=IMDB["embedding_dim"],
            units=IMDB["units"],
            bidirectional=True,
            pooling=IMDB["pooling"],
            cell=cell,
        )
        return compile_sentiment_classifier(model, IMDB["learning_rate"])

    def torch_peer(self):
        return _torch_classifier(len(self.vocabulary), IMDB, IMDB["pooling"])

    def description(self):
        lengths = np.array([len(ids) for ids in self.encoded])
        return (
            f"a SLICE: {len(self.encoded):,} of {self.total:,} training reviews (seeded "
            f"shuffle, --imdb-limit), whole reviews (no truncation), tokens mean "
            f"{lengths.mean():.0f}, max {lengths.max():,}; vocabulary {len(self.vocabulary):,} "
            f"(min count {IMDB['min_count']}); unbucketed padded_batch({BATCH})"
        )


class EWTPipeline(Pipeline):
    name, title = "ewt", "UD English EWT UPOS, character features"

    def __init__(self, limit, args):
        super().__init__(limit, args)
        sentences = read_conllu(dataset_path("ud_en_ewt", "en_ewt-ud-train.conllu.gz"))
        self.total = len(sentences)
        self.tags = build_tagging_vocabularies(sentences)[1]  # the tag set of the full file
        sentences = sentences[:limit]
        self.words = build_tagging_vocabularies(sentences, lowercase=True)[0]
        self.characters = build_character_vocabulary(sentences)
        self.word_ids, self.tag_ids = encode_tagged(sentences, self.words, self.tags, True)
        self.char_ids = encode_characters(sentences, self.characters)

    def train_dataset(self):
        return tagging_dataset(
            self.word_ids,
            self.tag_ids,
            BATCH,
            shuffle=True,
            seed=self.args.seed,
            char_ids=self.char_ids,
            bucket_boundaries=EWT["buckets"],
        )

    def char_cell(self, cell):
        return cell if self.args.char_cell == "same" else self.args.char_cell

    def keras_model(self, cell):
        model = sequence_tagger(
            len(self.tags),
            vocab_size=len(self.words),
            embedding_dim=EWT["embedding_dim"],
            cell=cell,
            units=EWT["units"],
            dropout=EWT["dropout"],
            char_features=True,
            char_vocab_size=len(self.characters),
            char_embedding_dim=EWT["char_embedding_dim"],
            char_units=EWT["char_units"],
            char_cell=self.char_cell(cell),
            char_recurrent_kwargs=CHAR_CELL_OPTIONS.get(self.char_cell(cell)),
        )
        return compile_tagger(model, EWT["learning_rate"])

    def torch_peer(self):
        return _torch_tagger(len(self.words), len(self.characters), len(self.tags))

    def shape_key(self, x, y):
        # The character encoder runs over the real words only: [words in the batch, chars].
        tokens = x["tokens"]
        return (*tokens.shape, int(tf.math.count_nonzero(tokens)), x["characters"].shape[2])

    def description(self):
        char_cell = "the measured layer" if self.args.char_cell == "same" else self.args.char_cell
        return (
            f"{len(self.word_ids):,} of {self.total:,} training sentences (--ewt-limit), "
            f"{len(self.words):,} words, {len(self.characters)} characters, {len(self.tags)} "
            f"tags; length buckets {EWT['buckets']} (each batch padded to its longest); "
            f"character encoder: {char_cell}"
        )


class PTBPipeline(Pipeline):
    name, title = "ptb", f"PTB word LM, {PTB_PRESET}"

    def __init__(self, limit, args):
        super().__init__(limit, args)
        tokens = read_lm_tokens(dataset_path("ptb", "ptb.train.txt.gz"))
        self.total = len(tokens)
        self.vocabulary = Vocabulary.build([tokens])
        self.ids = self.vocabulary.encode(tokens[:limit])
        self.preset = language_model_preset(PTB_PRESET)
        self.training = self.preset["training"]

    def train_dataset(self):
        return lm_windows(self.ids, self.training["batch_size"], self.training["num_steps"])

    def keras_model(self, cell):
        batch, steps = self.training["batch_size"], self.training["num_steps"]
        model = language_model(
            len(self.vocabulary),
            cell=cell,
            batch_size=batch,
            num_steps=steps,
            stateful=True,
            **self.preset["model"],
        )
        return compile_language_model(
            model,
            self.training["learning_rate"],
            self.training["max_grad_norm"],
            num_steps=steps,
            steps_per_execution=50,  # as benchmarks/ptb_language_model.py
        )

    def callbacks(self):
        return [ResetStatesAtEpochAndEvaluation()]

    def torch_peer(self):
        return _torch_language_model(len(self.vocabulary), self.preset)

    def description(self):
        return (
            f"{len(self.ids):,} of {self.total:,} ptb.train tokens (--ptb-limit), vocabulary "
            f"{len(self.vocabulary) - 1:,} words, fixed batches "
            f"{self.training['batch_size']} x {self.training['num_steps']}, stateful"
        )


PIPELINE_CLASSES = {p.name: p for p in (SST2Pipeline, IMDBPipeline, EWTPipeline, PTBPipeline)}


# ---------------------------------------------------------------- torch peers
def _torch_tensor(value):
    import torch

    return torch.from_numpy(np.array(value))  # a writable copy of the batch


def _torch_classifier(vocab_size, settings, pooling):
    """Embedding -> bidirectional nn.LSTM over packed sequences -> final states ("last") or
    max over the real steps ("max") -> Linear(1); BCE with logits, Adam."""
    import torch
    from torch import nn
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    units = settings["units"]

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(vocab_size, settings["embedding_dim"], padding_idx=0)
            self.lstm = nn.LSTM(
                settings["embedding_dim"], units, batch_first=True, bidirectional=True
            )
            self.head = nn.Linear(2 * units, 1)

        def forward(self, ids):
            real = ids != 0
            packed = pack_padded_sequence(
                self.embedding(ids), real.sum(1), batch_first=True, enforce_sorted=False
            )
            if pooling == "last":
                _, (h, _) = self.lstm(packed)
                features = torch.cat([h[0], h[1]], dim=1)
            else:
                outputs, _ = self.lstm(packed)
                outputs, _ = pad_packed_sequence(
                    outputs, batch_first=True, total_length=ids.shape[1]
                )
                features = outputs.masked_fill(~real[:, :, None], float("-inf")).amax(1)
            return self.head(features)[:, 0]

    model = Classifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=settings["learning_rate"])
    loss_fn = nn.BCEWithLogitsLoss()

    def train_batch(x, y):
        optimizer.zero_grad()
        loss = loss_fn(model(_torch_tensor(x).long()), _torch_tensor(y).float())
        loss.backward()
        optimizer.step()

    return train_batch, lambda: None


def _torch_tagger(vocab_size, char_vocab_size, num_tags):
    """The tagger of `sequence_tagger(char_features=True)`: word embedding + [final forward;
    backward] states of a character BiLSTM over the real words -> Dropout -> BiLSTM -> Dropout
    -> Linear; cross-entropy over the real tokens, Adam."""
    import torch
    from torch import nn
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    s = EWT
    features = s["embedding_dim"] + 2 * s["char_units"]

    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(vocab_size, s["embedding_dim"], padding_idx=0)
            self.char_embedding = nn.Embedding(char_vocab_size, s["char_embedding_dim"], 0)
            self.char_lstm = nn.LSTM(
                s["char_embedding_dim"], s["char_units"], batch_first=True, bidirectional=True
            )
            self.lstm = nn.LSTM(features, s["units"], batch_first=True, bidirectional=True)
            self.dropout = nn.Dropout(s["dropout"])
            self.head = nn.Linear(2 * s["units"], num_tags)

        def forward(self, tokens, characters):
            batch, steps, chars = characters.shape
            words = characters.reshape(batch * steps, chars)
            char_lengths = (words != 0).sum(1)
            has_chars = char_lengths > 0
            packed = pack_padded_sequence(
                self.char_embedding(words[has_chars]),
                char_lengths[has_chars],
                batch_first=True,
                enforce_sorted=False,
            )
            _, (h, _) = self.char_lstm(packed)
            char_features = h.new_zeros(batch * steps, 2 * s["char_units"])
            char_features[has_chars] = torch.cat([h[0], h[1]], dim=1)
            x = torch.cat([self.embedding(tokens), char_features.reshape(batch, steps, -1)], dim=-1)
            packed = pack_padded_sequence(
                self.dropout(x), (tokens != 0).sum(1), batch_first=True, enforce_sorted=False
            )
            outputs, _ = pad_packed_sequence(
                self.lstm(packed)[0], batch_first=True, total_length=steps
            )
            return self.head(self.dropout(outputs))

    model = Tagger()
    optimizer = torch.optim.Adam(model.parameters(), lr=s["learning_rate"])

    def train_batch(x, y):
        tokens = _torch_tensor(x["tokens"]).long()
        optimizer.zero_grad()
        logits = model(tokens, _torch_tensor(x["characters"]).long())
        real = tokens != 0
        loss = nn.functional.cross_entropy(logits[real], _torch_tensor(y).long()[real])
        loss.backward()
        optimizer.step()

    return train_batch, lambda: None


def _torch_language_model(vocab_size, preset):
    """Embedding -> num_layers-layer nn.LSTM -> Linear, every weight uniform in +-init_scale;
    truncated BPTT with the state carried across batches (reset each epoch), the tutorial's
    loss (summed over steps, mean over the batch), SGD, global-norm clipping."""
    import torch
    from torch import nn

    model_settings, training = preset["model"], preset["training"]
    units, steps = model_settings["units"], training["num_steps"]

    class LanguageModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(vocab_size, units)
            self.lstm = nn.LSTM(units, units, model_settings["num_layers"], batch_first=True)
            self.logits = nn.Linear(units, vocab_size)
            for weight in self.parameters():
                nn.init.uniform_(
                    weight, -model_settings["init_scale"], model_settings["init_scale"]
                )

        def forward(self, ids, state):
            outputs, state = self.lstm(self.embedding(ids), state)
            return self.logits(outputs), state

    model = LanguageModel()
    optimizer = torch.optim.SGD(model.parameters(), lr=training["learning_rate"])
    carried = {"state": None}

    def train_batch(x, y):
        optimizer.zero_grad()
        logits, state = model(_torch_tensor(x).long(), carried["state"])
        carried["state"] = tuple(s.detach() for s in state)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), _torch_tensor(y).long().flatten())
        (loss * steps).backward()
        nn.utils.clip_grad_norm_(model.parameters(), training["max_grad_norm"])
        optimizer.step()

    return train_batch, lambda: carried.update(state=None)


# ---------------------------------------------------------------- timing
class PauseWatch:
    """Time during which the process could not run at all, measured by a daemon thread that
    sleeps `tick` seconds at a time: every gap over `threshold` between two of its wake-ups
    adds (gap - tick) to `paused()`.

    A thread that only sleeps is woken within milliseconds even when every core is busy
    (the scheduler favours sleepers), so a gap of half a second means that nothing of the
    process ran: the VM was paused by its host, or the process was stopped. Waits inside the
    computation (a lock, a slow op) do not count: the watcher keeps waking through them. On
    the 2-vCPU VM of 2026-12-07 such gaps lasted 2-40 s, several per hour, with both vCPUs
    counted idle in /proc/stat.
    """

    def __init__(self, tick=0.02, threshold=0.5):
        self.tick, self.threshold = tick, threshold
        self._paused = 0.0
        self._lock = threading.Lock()
        threading.Thread(target=self._watch, name="pause-watch", daemon=True).start()

    def _watch(self):
        last = time.perf_counter()
        while True:
            time.sleep(self.tick)
            now = time.perf_counter()
            if now - last > self.threshold:
                with self._lock:
                    self._paused += now - last - self.tick
            last = now

    def paused(self):
        """Seconds paused so far (gaps already closed)."""
        with self._lock:
            return self._paused


PAUSES = PauseWatch()


class EpochClock(keras.callbacks.Callback):
    """Seconds, process CPU seconds, XLA compilations (None without a counter) and
    train-step tracings of every epoch of a fit.

    The CPU seconds (`time.process_time()`: every thread of the process, user + system) do
    not grow while the process waits: an epoch whose wall time jumps while its CPU seconds
    stay put waited on something outside the computation (on the 2-vCPU VM of 2026-12-07,
    whole seconds with both vCPUs idle in the middle of epochs, 2-40 s at a time).

    Args:
        counter: an `XlaCompilationCounter` or None.
        traces: a list that grows by one item whenever the train step is traced.
    """

    def __init__(self, counter=None, traces=None):
        super().__init__()
        self.counter, self.traces = counter, traces if traces is not None else []
        self.seconds, self.cpu_seconds, self.compilations, self.tracings = [], [], [], []
        self.paused = []

    def on_epoch_begin(self, epoch, logs=None):
        self._compiled = None if self.counter is None else self.counter.count()
        self._traced = len(self.traces)
        self._started = time.perf_counter()
        self._cpu_started = time.process_time()
        self._paused_before = PAUSES.paused()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._started)
        self.cpu_seconds.append(time.process_time() - self._cpu_started)
        self.paused.append(PAUSES.paused() - self._paused_before)
        if self.counter is not None:
            self.compilations.append(self.counter.count() - self._compiled)
        self.tracings.append(len(self.traces) - self._traced)


def time_keras(pipeline, cell, epochs, counter):
    """A fresh model with `cell`: {epoch_s, epoch_cpu_s, xla_compilations,
    train_step_tracings, fit_s, final_loss}."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(pipeline.args.seed)
    data = pipeline.train_dataset()
    model = pipeline.keras_model(cell)
    traces, train_step = [], model.train_step

    def traced_train_step(batch):
        traces.append(None)  # Python runs the step only while tf.function traces it
        return train_step(batch)

    model.train_step = traced_train_step
    clock = EpochClock(counter, traces)
    started = time.perf_counter()
    history = model.fit(
        data,
        epochs=epochs,
        verbose=0,
        callbacks=[clock, *pipeline.callbacks()],
        **pipeline.fit_options,
    )
    return {
        "epoch_s": clock.seconds,
        "epoch_cpu_s": clock.cpu_seconds,
        "epoch_paused_s": clock.paused,
        "xla_compilations": None if counter is None else clock.compilations,
        "train_step_tracings": clock.tracings,
        "fit_s": time.perf_counter() - started,
        "final_loss": float(history.history["loss"][-1]),
    }


def time_torch(pipeline, epochs):
    """torch's peer of the model over the same batches: {epoch_s, epoch_cpu_s, fit_s}."""
    import torch

    keras.utils.set_random_seed(pipeline.args.seed)
    torch.manual_seed(pipeline.args.seed)
    data = pipeline.train_dataset()
    train_batch, begin_epoch = pipeline.torch_peer()
    seconds, cpu_seconds, paused = [], [], []
    started = time.perf_counter()
    for _ in range(epochs):
        begin_epoch()
        epoch_started, cpu_started = time.perf_counter(), time.process_time()
        paused_before = PAUSES.paused()
        for x, y in data:
            train_batch(x, y)
        seconds.append(time.perf_counter() - epoch_started)
        cpu_seconds.append(time.process_time() - cpu_started)
        paused.append(PAUSES.paused() - paused_before)
    return {
        "epoch_s": seconds,
        "epoch_cpu_s": cpu_seconds,
        "epoch_paused_s": paused,
        "xla_compilations": None,
        "fit_s": time.perf_counter() - started,
    }


def batch_statistics(pipeline, epochs):
    """Batches per epoch and the distinct batch shapes (`shape_key`) of each epoch, from the
    same sequence of batches the models see."""
    keras.utils.set_random_seed(pipeline.args.seed)
    data = pipeline.train_dataset()
    seen, per_epoch = set(), []
    for _ in range(epochs):
        keys = [pipeline.shape_key(x, y) for x, y in data]
        per_epoch.append(
            {
                "batches": len(keys),
                "distinct_shapes": len(set(keys)),
                "new_shapes": len(set(keys) - seen),
            }
        )
        seen |= set(keys)
    return per_epoch


def active_seconds(row):
    """Each epoch's wall seconds less the seconds the process was paused (`PauseWatch`)."""
    paused = row.get("epoch_paused_s") or [0.0] * len(row["epoch_s"])
    return [wall - gap for wall, gap in zip(row["epoch_s"], paused)]


def add_ratios(rows, epochs):
    """Each row's active epoch times (wall less paused) over the baseline row's; whether the
    zoo rows meet TARGETS."""
    base = next((r for r in rows if r["cell"] == BASELINE and "epoch_s" in r), None)
    for row in rows:
        if base is None or "epoch_s" not in row:
            row["ratio_to_lstm"] = None
            continue
        row["epoch_active_s"] = active_seconds(row)
        row["ratio_to_lstm"] = [t / b for t, b in zip(row["epoch_active_s"], active_seconds(base))]
        if row["cell"] not in (BASELINE, TORCH_ROW):
            row["meets_target"] = {
                f"epoch_{e}": row["ratio_to_lstm"][e - 1] <= limit
                for e, limit in TARGETS.items()
                if e <= epochs
            }


def markdown_table(result, epochs):
    header = ["layer"]
    for e in range(1, epochs + 1):
        header += [f"epoch {e} s (active)", f"epoch {e} vs lstm"]
    header += [f"XLA compilations epoch {e}" for e in range(1, epochs + 1)]
    targets = ", ".join(f"epoch {e} <= {limit}x" for e, limit in TARGETS.items() if e <= epochs)
    header.append(f"targets ({targets})")
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 2) + "---|"]
    for row in result["rows"]:
        if "error" in row:
            lines.append(f"| {row['cell']} | FAILED: {row['error']} |")
            continue
        cells = [row["cell"]]
        ratios = row["ratio_to_lstm"] or [None] * epochs
        for seconds, ratio in zip(active_seconds(row), ratios):
            cells += [f"{seconds:.1f}", "-" if ratio is None else f"{ratio:.2f}x"]
        counts = row["xla_compilations"] or ["-"] * epochs
        cells += [str(c) for c in counts]
        if row["cell"] == BASELINE:
            cells.append("baseline")
        elif row["cell"] == TORCH_ROW:
            cells.append("peer")
        elif "meets_target" in row:
            met = row["meets_target"]
            cells.append(
                ", ".join(f"{k.replace('_', ' ')} {'yes' if v else 'no'}" for k, v in met.items())
            )
        else:
            cells.append("- (no baseline)")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def print_pipeline(result, epochs):
    stats = ", ".join(
        f"epoch {e}: {s['batches']} batches, distinct batch shapes {s['distinct_shapes']} "
        f"({s['new_shapes']} not seen before)"
        for e, s in enumerate(result["batches"], start=1)
    )
    print(f"\n## {result['title']}\n{result['description']}\n{stats}\n", flush=True)
    print(markdown_table(result, len(result["batches"])), flush=True)


def run_summary(row):
    """One line: each epoch's seconds, CPU seconds, XLA compilations and train-step
    tracings."""
    epochs = len(row["epoch_s"])
    counts = row["xla_compilations"] or ["-"] * epochs
    tracings = row.get("train_step_tracings") or ["-"] * epochs
    cpu = row.get("epoch_cpu_s") or [None] * epochs
    paused = row.get("epoch_paused_s") or [0.0] * epochs
    return ", ".join(
        f"epoch {e} {s:.1f} s ({'' if u is None else f'CPU {u:.1f} s, '}"
        f"{f'paused {p:.1f} s, ' if p else ''}{c} XLA compilations, {t} train-step tracings)"
        for e, (s, u, p, c, t) in enumerate(
            zip(row["epoch_s"], cpu, paused, counts, tracings), start=1
        )
    )


def torch_description(threads=None):
    """{version, threads} of torch (setting its thread count), or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    if threads:
        torch.set_num_threads(threads)
    return {"version": torch.__version__, "threads": torch.get_num_threads()}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--pipelines", default=",".join(PIPELINES), help="comma-separated")
    parser.add_argument(
        "--cells", default=None, help=f"comma-separated registry names (default {default_cells()})"
    )
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    for name in PIPELINES:
        parser.add_argument(
            f"--{name}-limit", type=int, default=None, help=f"default {LIMITS[name] or 'all'}"
        )
    parser.add_argument(
        "--char-cell", default="same", help="EWT character encoder: 'same' or a registry name"
    )
    parser.add_argument("--quick", action="store_true", help=f"tiny slices: {QUICK_LIMITS}")
    parser.add_argument("--no-torch", action="store_true", help="leave torch.nn.LSTM out")
    parser.add_argument("--torch-threads", type=int, default=None, help="default: torch's")
    parser.add_argument("--no-xla-dump", action="store_true", help="no compilation counts")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--output", default=None, help="JSON path")
    args = parser.parse_args(argv)
    known = available_recurrent_layers()
    args.cells = args.cells.split(",") if args.cells else default_cells()
    for cell in args.cells + ([] if args.char_cell == "same" else [args.char_cell]):
        if cell not in known:
            parser.error(f"unknown recurrent layer {cell!r}; known: {', '.join(known)}")
    if BASELINE not in args.cells:
        args.cells.insert(0, BASELINE)  # the ratios need keras.layers.LSTM in the same run
    args.pipelines = args.pipelines.split(",")
    for name in args.pipelines:
        if name not in PIPELINES:
            parser.error(f"unknown pipeline {name!r}; known: {', '.join(PIPELINES)}")
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    args.limits = {
        name: getattr(args, f"{name}_limit") or (QUICK_LIMITS if args.quick else LIMITS)[name]
        for name in PIPELINES
    }
    suffix = "_quick" if args.quick else ""
    args.output = args.output or f"benchmarks/out/pipeline_epochs{suffix}.json"
    return args


def _run_row(entry, name, cell, measure):
    """Append one row (its timings, or the error that stopped it) to entry; 1 if it failed."""
    try:
        row = {"cell": cell, **measure()}
    except Exception as error:  # a broken layer must not hide the other rows
        row = {"cell": cell, "error": f"{type(error).__name__}: {error}"[:300]}
        print(f"  {name} / {cell}: FAILED {row['error']}", flush=True)
        entry["rows"].append(row)
        return 1
    print(f"  {name} / {cell}: {run_summary(row)}", flush=True)
    entry["rows"].append(row)
    return 0


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    # Keras says so at the end of an epoch over a dataset of unknown length (bucketed EWT).
    warnings.filterwarnings("ignore", message="Your input ran out of data")
    started = time.perf_counter()
    counter = checked = None
    if XLA_DUMP_FOLDER is not None:
        counter = XlaCompilationCounter(XLA_DUMP_FOLDER, owned=True)
        checked = counter.verify()  # RuntimeError unless 3 shapes give 3 compilations
        print(f"XLA dumps in {XLA_DUMP_FOLDER}: a jit_compile function at 3 shapes gave {checked}")
    # torch is imported only after every Keras row has run: imported beside TensorFlow it
    # slowed the XLA loops of the zoo layers (SST-2 zoo_lstm epoch 2: 16.6 s in a run that
    # imported torch first, 7.7-9.1 s in runs without it).
    torch_wanted = not args.no_torch and importlib.util.find_spec("torch") is not None
    if not args.no_torch and not torch_wanted:
        print("torch is not installed: no torch.nn.LSTM rows (pip install torch==2.13.0)")
    torch_info = None
    result = {
        "benchmark": "pipeline_epochs",
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": shlex.join([os.path.relpath(sys.executable), *sys.argv]),
        "machine": {
            **machine_description(),
            "torch": torch_info,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            "load_average": os.getloadavg(),
        },
        # which loop the zoo layers run: the native CPU kernel or the XLA loop
        # (LSTM_ZOO_KERNEL=xla in the environment measures the XLA loop)
        "kernel": lstm_zoo_kernel_status(),
        "settings": {
            "seed": args.seed,
            "batch": BATCH,
            "shuffle_buffer": SHUFFLE_BUFFER,
            "epochs": args.epochs,
            "cells": args.cells,
            "char_cell": args.char_cell,
            "limits": args.limits,
            "quick": args.quick,
            "sst2": SST2,
            "imdb": IMDB,
            "ewt": EWT,
            "ptb_preset": PTB_PRESET,
            "xla_dump": XLA_DUMP_FOLDER is not None,
            "xla_counting_check": checked,  # compilations counted for 3 shapes (must be 3)
        },
        "targets": {f"epoch_{e}": limit for e, limit in TARGETS.items()},
        "pipelines": {},
    }
    failures = 0
    pipelines = {}
    for name in args.pipelines:
        read_started = time.perf_counter()
        pipeline = pipelines[name] = PIPELINE_CLASSES[name](args.limits[name], args)
        entry = {
            "title": pipeline.title,
            "description": pipeline.description(),
            "read_s": time.perf_counter() - read_started,
            "batches": batch_statistics(pipeline, args.epochs),
            "rows": [],
        }
        result["pipelines"][name] = entry
        print(f"\n{pipeline.title}: {entry['description']}", flush=True)
        for cell in args.cells:
            failures += _run_row(
                entry, name, cell, lambda c=cell, p=pipeline: time_keras(p, c, args.epochs, counter)
            )
        add_ratios(entry["rows"], args.epochs)
        entry["load_average_after"] = os.getloadavg()
        print_pipeline(entry, args.epochs)
        write_json(args.output, result)  # after every pipeline: a cut-short run keeps its rows
    if torch_wanted:
        torch_info = result["machine"]["torch"] = torch_description(args.torch_threads)
        for name, pipeline in pipelines.items():
            entry = result["pipelines"][name]
            failures += _run_row(
                entry, name, TORCH_ROW, lambda p=pipeline: time_torch(p, args.epochs)
            )
            add_ratios(entry["rows"], args.epochs)
            write_json(args.output, result)

    result["wall_s"] = time.perf_counter() - started
    print("\n# Summary" + (" (--quick: tiny slices, not a measurement)" if args.quick else ""))
    for entry in result["pipelines"].values():
        print_pipeline(entry, args.epochs)
    print(f"\ntotal {result['wall_s'] / 60:.1f} min")
    write_json(args.output, result)
    if counter is not None:
        counter.cleanup()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

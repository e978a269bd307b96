"""TensorFlow only: the same bench model fitted from ten input pipelines, to find what slows `p7keras train`;
and its training step timed on five of them in one process.

Usage (one pipeline per process; alternate them, the machine drifts):

    KERAS_BACKEND=tensorflow python docs/tf_input_pipelines.py MODE [EPOCHS]

MODE is ``arrays`` (random unit arrays through Keras' array pipeline, as ``p7keras bench`` fed them until
2026-12-04), ``bench`` (the same arrays as the bench feeds them now: ``p7keras.bench.train.training_input``, on
TensorFlow a tf.data pipeline with autotune off), ``corpus_arrays`` (20 batches of a synthetic
corpus's ``P7Dataset`` concatenated into arrays), ``pydataset`` (the ``P7Dataset`` itself, as ``p7keras
train``; ``pydataset_drop`` without its ragged last batch), ``workers2`` (the same with ``workers=2``: Keras'
thread enqueuer, tf.data autotune off), ``tfdata_off``,
``tfdata_static`` (``make_tf_dataset``, autotune off; the second with a static batch of 64) and
``tfdata_cached`` (``make_tf_dataset(...).cache()``, autotune off: no Python after the first epoch) and
``tfdata_noopt`` (``make_tf_dataset`` with tf.data's default optimizations off, as Keras' array pipeline has them)
and ``tfdata_copy`` (each batch copied by a TensorFlow op, autotune off). It prints
one JSON line: each epoch's wait before its first batch and its seconds (the first epoch compiles).

``steps [ROUNDS]`` times the training step itself, without ``fit``'s epochs: in one process, ROUNDS rounds
(default 2) alternating ``arrays``, ``bench``, ``corpus_arrays``, ``pydataset`` and ``tfdata_static``, each round
20 calls of ``model.train_function`` on an iterator of that input's tf.data pipeline (for arrays and the
``P7Dataset`` the one Keras builds for them, ``keras.src.trainers.data_adapters``). It prints each round's
median step seconds and a JSON line.
"""
import json
import sys
import time

MODES = ("arrays", "bench", "corpus_arrays", "pydataset", "pydataset_drop", "workers2", "tfdata_off", "tfdata_static",
         "tfdata_cached", "tfdata_noopt", "tfdata_copy", "steps")
STEP_MODES = ("arrays", "bench", "corpus_arrays", "pydataset", "tfdata_static")  # what ``steps`` alternates
if len(sys.argv) < 2:
    sys.exit(__doc__)
mode = sys.argv[1]
epochs = int(sys.argv[2]) if len(sys.argv) > 2 else (2 if mode == "steps" else 8)  # ROUNDS for steps
if mode not in MODES:
    sys.exit(f"docs/tf_input_pipelines.py: unknown MODE {mode!r}; one of {', '.join(MODES)}")

import numpy as np  # noqa: E402  (after the argument check: no Keras start-up for a wrong MODE)
import tensorflow as tf  # noqa: E402

from p7keras.bench.config import BenchConfig  # noqa: E402
from p7keras.bench.train import _EpochTimer, build_model, random_batches, training_input  # noqa: E402
from p7keras.data import P7Dataset, load_sequences, make_synthetic_corpus, make_tf_dataset  # noqa: E402


def options(autotune: bool = True, default_optimizations: bool = True) -> tf.data.Options:
    """tf.data options with autotune and the default graph optimizations switched as asked."""
    chosen = tf.data.Options()
    chosen.autotune.enabled = autotune
    chosen.experimental_optimization.apply_default_optimizations = default_optimizations
    return chosen


config = BenchConfig(train_steps=20)
model = build_model(config)
B, M = config.batch_size, config.hard_negatives
arrays = dict(batch_size=B, shuffle=False)  # fit's arguments for array inputs: the bench's batches, in order
seqs = load_sequences(make_synthetic_corpus(num_articles=70, chunks_per_article=24, dim=config.dim))


def make_input(name: str) -> tuple[object, dict]:
    """Input ``name`` and its extra ``fit`` arguments."""
    if name == "arrays":
        return random_batches(config), arrays
    if name == "bench":
        return training_input(random_batches(config), B)
    if name == "corpus_arrays":
        batches = P7Dataset(seqs, batch_size=B, hard_negatives=M, seed=0, drop_remainder=True)
        parts = [batches[i] for i in range(config.train_steps)]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}, arrays
    if name in ("pydataset", "pydataset_drop", "workers2"):
        return P7Dataset(seqs, batch_size=B, hard_negatives=M, seed=0, workers=2 if name == "workers2" else 1,
                         drop_remainder=name == "pydataset_drop"), {}
    data = make_tf_dataset(seqs, batch_size=B, hard_negatives=M, seed=0, drop_remainder=name == "tfdata_static")
    if name == "tfdata_cached":
        data = data.cache()
    elif name == "tfdata_copy":
        data = data.map(lambda batch: {k: v * 1.0 for k, v in batch.items()})
    noopt = name == "tfdata_noopt"
    return data.with_options(options(autotune=noopt, default_optimizations=not noopt)), {}


def tf_pipeline(name: str):
    """The tf.data pipeline ``fit`` builds for input ``name`` (Keras' own adapters for arrays and PyDatasets)."""
    from keras.src.trainers.data_adapters import array_data_adapter, py_dataset_adapter

    data, _ = make_input(name)
    if isinstance(data, dict):
        return array_data_adapter.ArrayDataAdapter(data, batch_size=B, shuffle=False).get_tf_dataset()
    if isinstance(data, P7Dataset):
        return py_dataset_adapter.PyDatasetAdapter(data).get_tf_dataset()
    return data


if mode == "steps":
    model.make_train_function()
    medians = {name: [] for name in STEP_MODES}
    for round_ in range(epochs):
        for name in STEP_MODES:
            batches = iter(model.distribute_strategy.experimental_distribute_dataset(tf_pipeline(name)))
            seconds = []
            for _ in range(config.train_steps):
                start = time.perf_counter()
                float(model.train_function(batches)["loss"])
                seconds.append(time.perf_counter() - start)
            medians[name].append(round(float(np.median(seconds[2:])), 3))  # the first calls may trace
            print(f"round {round_ + 1} {name}: median step {medians[name][-1]} s", flush=True)
    print(json.dumps({"mode": mode, "median_step_s": medians}))
    sys.exit(0)
data, fit_kwargs = make_input(mode)
timer = _EpochTimer()
start = time.perf_counter()
model.fit(data, epochs=epochs, verbose=0, callbacks=[timer], **fit_kwargs)
print(json.dumps({"mode": mode, "waits": [round(w, 2) for w in timer.waits],
                  "epoch_s": [round(s, 2) for s in timer.seconds], "total": round(time.perf_counter() - start, 1)}))

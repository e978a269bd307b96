"""TensorFlow only: the same bench model fitted from nine input pipelines, to find what slows `p7keras train`.

Usage (one pipeline per process; alternate them, the machine drifts):

    KERAS_BACKEND=tensorflow python docs/tf_input_pipelines.py MODE [EPOCHS]

MODE is ``arrays`` (random unit arrays, as ``p7keras bench``), ``corpus_arrays`` (20 batches of a synthetic
corpus's ``P7Dataset`` concatenated into arrays), ``pydataset`` (the ``P7Dataset`` itself, as ``p7keras train``),
``workers2`` (the same with ``workers=2``: Keras' thread enqueuer, tf.data autotune off), ``tfdata_off``,
``tfdata_static`` (``make_tf_dataset``, autotune off; the second with a static batch of 64) and
``tfdata_cached`` (``make_tf_dataset(...).cache()``, autotune off: no Python after the first epoch) and
``tfdata_noopt`` (``make_tf_dataset`` with tf.data's default optimizations off, as Keras' array pipeline has them)
and ``tfdata_copy`` (each batch copied by a TensorFlow op, autotune off). It prints
one JSON line: each epoch's wait before its first batch and its seconds (the first epoch compiles).
"""
import json
import sys
import time

MODES = ("arrays", "corpus_arrays", "pydataset", "workers2", "tfdata_off", "tfdata_static", "tfdata_cached",
         "tfdata_noopt", "tfdata_copy")
if len(sys.argv) < 2:
    sys.exit(__doc__)
mode = sys.argv[1]
epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 8
if mode not in MODES:
    sys.exit(f"docs/tf_input_pipelines.py: unknown MODE {mode!r}; one of {', '.join(MODES)}")

import numpy as np  # noqa: E402  (after the argument check: no Keras start-up for a wrong MODE)
import tensorflow as tf  # noqa: E402

from p7keras.bench.config import BenchConfig  # noqa: E402
from p7keras.bench.train import _EpochTimer, build_model, random_batches  # noqa: E402
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
if mode == "arrays":
    data, fit_kwargs = random_batches(config), arrays
else:
    seqs = load_sequences(make_synthetic_corpus(num_articles=70, chunks_per_article=24, dim=config.dim))
    fit_kwargs = {}
    if mode == "corpus_arrays":
        batches = P7Dataset(seqs, batch_size=B, hard_negatives=M, seed=0, drop_remainder=True)
        parts = [batches[i] for i in range(config.train_steps)]
        data, fit_kwargs = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}, arrays
    elif mode in ("pydataset", "workers2"):
        data = P7Dataset(seqs, batch_size=B, hard_negatives=M, seed=0, workers=2 if mode == "workers2" else 1)
    else:
        data = make_tf_dataset(seqs, batch_size=B, hard_negatives=M, seed=0, drop_remainder=mode == "tfdata_static")
        if mode == "tfdata_cached":
            data = data.cache()
        elif mode == "tfdata_copy":
            data = data.map(lambda batch: {k: v * 1.0 for k, v in batch.items()})
        noopt = mode == "tfdata_noopt"
        data = data.with_options(options(autotune=noopt, default_optimizations=not noopt))
timer = _EpochTimer()
start = time.perf_counter()
model.fit(data, epochs=epochs, verbose=0, callbacks=[timer], **fit_kwargs)
print(json.dumps({"mode": mode, "waits": [round(w, 2) for w in timer.waits],
                  "epoch_s": [round(s, 2) for s in timer.seconds], "total": round(time.perf_counter() - start, 1)}))

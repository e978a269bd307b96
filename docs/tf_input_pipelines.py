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
import os, sys, time, json
if len(sys.argv) < 2:
    sys.exit(__doc__)
mode = sys.argv[1]; epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 8
MODES = ("arrays", "corpus_arrays", "pydataset", "workers2", "tfdata_off", "tfdata_static", "tfdata_cached", "tfdata_noopt", "tfdata_copy")
if mode not in MODES:
    sys.exit(f"docs/tf_input_pipelines.py: unknown MODE {mode!r}; one of {', '.join(MODES)}")
import numpy as np, keras, tensorflow as tf
from p7keras.bench.config import BenchConfig
from p7keras.bench.train import build_model, random_batches, _EpochTimer
from p7keras.data import load_sequences, make_synthetic_corpus, P7Dataset
config = BenchConfig(train_steps=20)
model = build_model(config)
B = config.batch_size
if mode == "arrays":
    data = random_batches(config); kw = dict(batch_size=B, shuffle=False)
else:
    corpus = make_synthetic_corpus(num_articles=70, chunks_per_article=24, dim=config.dim)
    seqs = load_sequences(corpus)
    n = len(seqs)
    if mode == "corpus_arrays":
        d = P7Dataset(seqs, batch_size=B, hard_negatives=2, seed=0, drop_remainder=True)
        parts = [d[i] for i in range(20)]
        data = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        print({k: (v.dtype, v.shape) for k, v in data.items()}, file=sys.stderr)
        kw = dict(batch_size=B, shuffle=False)
    elif mode == "pydataset":
        data = P7Dataset(seqs, batch_size=B, hard_negatives=2, seed=0)
    elif mode == "workers2":
        data = P7Dataset(seqs, batch_size=B, hard_negatives=2, seed=0, workers=2)
    elif mode == "tfdata_static":
        from p7keras.data import make_tf_dataset
        data = make_tf_dataset(seqs, batch_size=B, hard_negatives=2, seed=0, drop_remainder=True)
        o = tf.data.Options(); o.autotune.enabled = False; data = data.with_options(o)
    elif mode == "tfdata_cached":
        from p7keras.data import make_tf_dataset
        data = make_tf_dataset(seqs, batch_size=B, hard_negatives=2, seed=0).cache()
        o = tf.data.Options(); o.autotune.enabled = False; data = data.with_options(o)
    elif mode == "tfdata_noopt":
        from p7keras.data import make_tf_dataset
        data = make_tf_dataset(seqs, batch_size=B, hard_negatives=2, seed=0)
        o = tf.data.Options(); o.experimental_optimization.apply_default_optimizations = False
        data = data.with_options(o)
    elif mode == "tfdata_copy":
        from p7keras.data import make_tf_dataset
        data = make_tf_dataset(seqs, batch_size=B, hard_negatives=2, seed=0)
        data = data.map(lambda d: {k: v * 1.0 for k, v in d.items()})
        o = tf.data.Options(); o.autotune.enabled = False; data = data.with_options(o)
    elif mode == "tfdata_off":
        from p7keras.data import make_tf_dataset
        data = make_tf_dataset(seqs, batch_size=B, hard_negatives=2, seed=0)
        if mode == "tfdata_off":
            o = tf.data.Options(); o.autotune.enabled = False; data = data.with_options(o)
    kw = {}
timer = _EpochTimer()
t0 = time.perf_counter()
model.fit(data, epochs=epochs, verbose=0, callbacks=[timer], **kw)
steps = 20 if mode == "arrays" else None
print(json.dumps({"mode": mode, "waits": [round(w, 2) for w in timer.waits], "epoch_s": [round(s, 2) for s in timer.seconds], "total": round(time.perf_counter() - t0, 1)}))

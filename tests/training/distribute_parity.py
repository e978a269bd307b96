"""One training step on one device and under ``--distribute data-parallel`` on 2 CPU devices, same batch.

Run as ``python -m tests.training.distribute_parity BACKEND OPTIMIZER`` (a fresh process: the CPU is split
before the backend starts); prints ``{"loss": [one, two], "max_weight_difference": x, "replicas": n}``.
"""

import json
import os
import sys

backend, optimizer = sys.argv[1], sys.argv[2]
os.environ["KERAS_BACKEND"] = backend

from p7keras.training.distribute import data_parallel, request_cpu_devices  # noqa: E402

request_cpu_devices(2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from p7keras.data import load_splits, make_synthetic_corpus  # noqa: E402
from p7keras.training.config import TrainConfig  # noqa: E402
from p7keras.training.train import build_model  # noqa: E402

config = TrainConfig(d_model=16, num_heads=2, num_layers=1, ff_dim=32, context_length=4, dropout=0.0, batch_size=32)
splits = load_splits(make_synthetic_corpus(num_articles=30, chunks_per_article=12, dim=16), context_length=4)
batch = splits.train.as_dataset(batch_size=32, hard_negatives=2, shuffle=False)[0]


def one_step(distribute: str):
    with data_parallel(distribute, config.batch_size) as replicas:
        keras.utils.set_random_seed(0)
        model = build_model(config, 16)
        if optimizer == "sgd":  # AdamW's first step is lr * sign(g): it turns float noise of ~0 gradients into lr
            model.compile(optimizer=keras.optimizers.SGD(0.1))
        if backend == "tensorflow":
            import tensorflow as tf

            data = tf.data.Dataset.from_tensors(batch)  # exactly this global batch, split by the strategy
        else:
            data = splits.train.as_dataset(batch_size=32, hard_negatives=2, shuffle=False)
        history = model.fit(data, epochs=1, steps_per_epoch=1, verbose=0)
        return history.history["loss"][0], model.get_weights(), replicas


one, weights_one, _ = one_step("none")
two, weights_two, replicas = one_step("data-parallel")
print(json.dumps({"loss": [float(one), float(two)], "replicas": replicas,
                  "max_weight_difference": max(float(np.max(np.abs(a - b))) for a, b in zip(weights_one, weights_two)),
                  "max_update": max(float(np.max(np.abs(a))) for a in weights_one)}))

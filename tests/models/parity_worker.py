"""Cross-backend parity worker: run under one KERAS_BACKEND, writes what the parity test compares.

``python -m tests.parity_worker OUT_DIR`` builds small models with deterministic weights, writes their
loss terms on a fixed batch (JSON), their predictions (.npy) and the models (.keras); then it loads
every ``.keras`` another backend left in OUT_DIR and writes this backend's predictions of it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import p7keras  # noqa: E402
from tests.helpers import D, K, rotation_batches  # noqa: E402

MODELS = {
    "transformer": lambda: p7keras.TransformerP7Ranker(
        context_length=K, input_dim=D, d_model=32, num_heads=4, num_layers=2, ff_dim=64, dropout=0.0
    ),
    "lstm": lambda: p7keras.LSTMP7Ranker(context_length=K, input_dim=D, d_model=32, dropout=0.0),
    "attention": lambda: p7keras.TransformerP7Ranker(
        context_length=K, input_dim=D, d_model=32, num_heads=4, num_layers=1, ff_dim=64, dropout=0.0,
        anchor_mode="attention",
    ),
}


def deterministic_weights(model) -> list[str]:
    rng = np.random.default_rng(7)
    model.set_weights([rng.normal(0.0, 0.2, size=w.shape).astype("float32") for w in model.get_weights()])
    return [f"{w.path}:{tuple(w.shape)}" for w in model.weights]


def run(out_dir: Path) -> str:
    backend = keras.backend.backend()
    batch = rotation_batches(n=16, seed=5)
    report = {}
    for name, make in MODELS.items():
        model = make()
        names = deterministic_weights(model)
        report[name] = {"weights": names, "terms": model.loss_terms(batch)}
        np.save(out_dir / f"{backend}_{name}.npy", model.predict(batch["context"], verbose=0))
        model.save(out_dir / f"{backend}_{name}.keras")
    for saved in sorted(out_dir.glob("*.keras")):
        saver, name = saved.stem.split("_", 1)
        if saver != backend:
            loaded = keras.saving.load_model(saved)
            np.save(out_dir / f"{backend}_loads_{saver}_{name}.npy", loaded.predict(batch["context"], verbose=0))
    (out_dir / f"{backend}.json").write_text(json.dumps(report))
    return backend


if __name__ == "__main__":
    run(Path(sys.argv[1]))

"""RetrievalMetrics: val R@k / MRR@10 at epoch end, the same numbers as p7keras.evaluation."""

import keras_tuner
import pytest

from p7keras.evaluation import evaluate
from tuner.callbacks import LOGGED_METRICS, RetrievalMetrics
from tuner.hypermodel import P7HyperModel
from tuner.spaces import get_space
from tuner.windows import WindowCache

# backend-independent here: the backends' own paths are tested in tests/models, tests/callbacks and tests/serve
pytestmark = pytest.mark.one_backend



def test_callback_adds_the_evaluation_modules_numbers_to_the_logs(tiny_base):
    hypermodel = P7HyperModel(get_space("priority1"), tiny_base, WindowCache.from_config(tiny_base))
    val = hypermodel.data.splits(5).val
    model = hypermodel.build(keras_tuner.HyperParameters())
    model.predict(val.contexts[:2], verbose=0)  # builds the weights
    callback = RetrievalMetrics(val)
    callback.set_model(model)
    logs = {"val_margin": 0.1}
    callback.on_epoch_end(0, logs)
    start = {f"start_{name}" for name in ("R@1", "R@5", "R@10", "MRR@10", "margin", "cos_next", "cos_prev",
                                          "cos_anchor")}
    compared = {f"val_{m}{suffix}" for m in ("R@5", "MRR@10") for suffix in ("_gain_low", "_selected")}
    assert set(logs) == {"val_margin", *LOGGED_METRICS, *start, *compared}
    # no on_train_begin: the model as it is is the start, so the gain over it is exactly 0
    assert logs["val_R@5_gain_low"] == 0.0 and logs["start_R@5"] == logs["val_R@5"] == logs["val_R@5_selected"]
    expected = evaluate(model, val, strict_gate=False, latency_calls=1)["models"][model.name]["retrieval"]["all"]
    assert {name: logs[f"val_{name}"] for name in expected} == pytest.approx(expected, abs=1e-12)
    assert 0.0 <= logs["val_MRR@10"] <= logs["val_R@10"] <= 1.0


def test_callback_needs_sequences(tiny_base):
    val = WindowCache.from_config(tiny_base).splits(5).val
    with pytest.raises(ValueError, match="at least one validation sequence"):
        RetrievalMetrics(val.__class__(val.bank, val.context_rows[:0], val.target_rows[:0]))

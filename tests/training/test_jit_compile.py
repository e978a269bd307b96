"""``--jit-compile`` (issues 12, 23): what each backend compiles (``auto``: XLA on a TensorFlow CPU where measured
faster), and PyTorch's fixed-shape training batches."""

import json

import keras
import numpy as np
import pytest

from p7keras import FlatP7Ranker, LSTMP7Ranker, TransformerP7Ranker
from p7keras.cli.main import main
from p7keras.data import load_splits, make_synthetic_corpus
from p7keras.jit_compile import CPU_XLA_ENV, auto_jit_compile, compilation, tensorflow_sees_gpu
from p7keras.training import TrainConfig
from p7keras.training.train import build_model, fit_batches, jit_compile_setting
from tests.training.test_train import TINY, corpus_file  # noqa: F401 (a pytest fixture)

BACKEND = keras.backend.backend()
@pytest.fixture(autouse=True)
def _the_rule(monkeypatch):
    """The rule of p7keras.jit_compile, not the test suite's pin (tests/conftest.py)."""
    monkeypatch.delenv(CPU_XLA_ENV, raising=False)


SMALL = {"d_model": 16, "num_heads": 2, "num_layers": 1, "ff_dim": 32, "context_length": 4, "batch_size": 32}


def test_the_setting_per_backend():
    assert jit_compile_setting(TrainConfig(jit_compile="on")) is True
    assert jit_compile_setting(TrainConfig(jit_compile="off")) is False
    assert jit_compile_setting(TrainConfig(epochs=1000)) == "auto"  # the model's choice, however long the run
    model = build_model(TrainConfig(**SMALL), 16)
    # auto: eager on PyTorch (its compiled step was measured no faster), jit on JAX, XLA on TensorFlow (on a CPU
    # for the transformer and flat rankers, measured faster there: p7keras.jit_compile)
    assert model.jit_compile is (BACKEND != "torch")
    with pytest.raises(ValueError, match=r"jit_compile must be one of \('auto', 'on', 'off'\), got 'yes'"):
        TrainConfig(jit_compile="yes").check()


def _tf_gpu() -> bool:
    return BACKEND == "tensorflow" and tensorflow_sees_gpu()


@pytest.mark.parametrize("kind, dtype, xla", [(TransformerP7Ranker, "float32", True), (FlatP7Ranker, "float32", True),
                                              (LSTMP7Ranker, "float32", False),
                                              (TransformerP7Ranker, "mixed_bfloat16", False)])
def test_auto_is_xla_on_a_tensorflow_cpu_where_it_was_measured_faster(kind, dtype, xla):
    model = kind(context_length=3, d_model=8, dtype=dtype)
    model.compile()
    expected = {"jax": True, "torch": False}.get(BACKEND, xla or _tf_gpu())  # TensorFlow: XLA where measured
    assert model.jit_compile is expected
    assert model.get_compile_config()["jit_compile"] == "auto"  # decided again where the model is loaded
    reason = model.auto_jit_compile()
    assert reason[0] is (True if BACKEND == "tensorflow" and xla and not _tf_gpu() else None), reason
    model.compile(jit_compile=False)
    assert model.jit_compile is False and model.get_compile_config()["jit_compile"] is False


def test_a_saved_auto_model_decides_again_when_loaded(tmp_path):
    model = TransformerP7Ranker(context_length=3, d_model=8, num_heads=2, num_layers=1, ff_dim=16)
    model.compile()
    model(np.zeros((1, 3, 4), "float32"))
    model.optimizer.build(model.trainable_variables)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert loaded.get_compile_config()["jit_compile"] == "auto"
    assert loaded.jit_compile is (BACKEND != "torch")


def test_a_run_says_when_auto_compiles_with_xla(tmp_path, corpus_file, capsys):  # noqa: F811
    code = main(["train", "--data", corpus_file, *TINY, "--epochs", "1", "--output-dir", str(tmp_path),
                 "--no-export"])
    assert code in (0, 1), capsys.readouterr().err  # the run finished (PASS/MARGINAL or FAIL)
    lines = capsys.readouterr().out.splitlines()
    said = [line for line in lines if line.startswith("Compilation:")]
    (run,) = (path for path in tmp_path.iterdir() if path.is_dir())
    recorded = json.loads((run / "verdict.json").read_text())["compilation"]
    assert json.loads((run / "config.json").read_text())["jit_compile"] == "auto"  # the setting; the verdict: what ran
    if BACKEND == "tensorflow" and not _tf_gpu():
        assert recorded == "XLA"
        run_line = next(i for i, line in enumerate(lines) if line.startswith("Run directory:"))
        assert lines[run_line + 1].startswith("Compilation: XLA (auto: XLA on TensorFlow's CPU, measured faster for "
                                              "the transformer model (epochs of the default run ")
        assert said == [lines[run_line + 1]]
    else:
        assert said == []  # Keras' own choice: nothing to say
        assert recorded == {"tensorflow": "XLA", "jax": "jax.jit", "torch": "eager"}[BACKEND]


def test_compilation_names_how_the_step_runs():
    assert [compilation("tensorflow", c) for c in (True, False)] == ["XLA", "tf.function graph"]
    assert [compilation("jax", c) for c in (True, False)] == ["jax.jit", "eager"]
    assert [compilation("torch", c) for c in (True, False)] == ["torch.compile", "eager"]
    assert compilation("tensorflow", True, run_eagerly=True) == "eager"


def test_a_bad_cpu_xla_setting_is_refused_before_any_work(tmp_path, corpus_file, capsys, monkeypatch):  # noqa: F811
    from tests.faults.cases import FAULTS  # noqa: PLC0415

    monkeypatch.setenv(CPU_XLA_ENV, "yes")
    fault = next(f for f in FAULTS if f.name == "P7KERAS_CPU_XLA naming no choice")
    assert main(["train", "--data", corpus_file, "--output-dir", str(tmp_path / "runs")]) == fault.code
    assert capsys.readouterr().err.strip().splitlines() == [fault.message]
    assert not (tmp_path / "runs").exists()  # nothing written
    assert main(["train", "--data", corpus_file, *TINY, "--epochs", "1", "--jit-compile", "off",
                 "--output-dir", str(tmp_path / "named"), "--no-export"]) in (0, 1)  # a named setting needs no rule


def test_xla_is_what_auto_adds_on_tensorflow_and_only_there():
    assert auto_jit_compile("tensorflow", "transformer")[0] is True
    assert auto_jit_compile("tensorflow", "flat")[0] is True
    why = auto_jit_compile("tensorflow", "transformer")[1]
    assert why.startswith("auto: XLA on TensorFlow's CPU, measured faster for the transformer model (epochs")
    assert why.endswith("; --jit-compile off for the graph")
    for case, words in [({"model_type": "lstm"}, "the lstm model: the graph (XLA measured no faster)"),
                        ({"model_type": None}, "the custom model: the graph"),
                        ({"gpu": True}, "a GPU: XLA"), ({"distributed": True}, "under tf.distribute: the graph"),
                        ({"precision": "mixed_bfloat16"}, "mixed_bfloat16: the graph (XLA measured slower: 1.31"),
                        ({"precision": "mixed_float16"}, "mixed_float16: the graph (XLA was not measured under it)")]:
        settings = {"model_type": "transformer", **case}
        assert auto_jit_compile("tensorflow", **settings)[0] is None
        assert words in auto_jit_compile("tensorflow", **settings)[1]
    for other in ("jax", "torch"):
        assert auto_jit_compile(other, "transformer") == (None, "auto: Keras' choice (jax.jit on JAX, eager on PyTorch)")


def test_the_environment_sets_the_rule(monkeypatch):
    monkeypatch.setenv(CPU_XLA_ENV, "off")
    assert auto_jit_compile("tensorflow", "transformer") == (None, f"auto: Keras' choice ({CPU_XLA_ENV}=off: the graph)")
    monkeypatch.setenv(CPU_XLA_ENV, "on")
    for model_type, precision in (("lstm", "float32"), ("transformer", "mixed_bfloat16"), (None, "float32")):
        assert auto_jit_compile("tensorflow", model_type, precision) == (
            True, f"auto: XLA on TensorFlow's CPU ({CPU_XLA_ENV}=on); --jit-compile off for the graph")
    assert auto_jit_compile("tensorflow", "lstm", gpu=True)[0] is None  # a GPU, a strategy: Keras' choice still
    assert auto_jit_compile("tensorflow", "lstm", distributed=True)[0] is None
    monkeypatch.setenv(CPU_XLA_ENV, "")
    assert auto_jit_compile("tensorflow", "flat")[0] is True  # empty: the rule
    monkeypatch.setenv(CPU_XLA_ENV, "sometimes")
    with pytest.raises(ValueError, match=r"^P7KERAS_CPU_XLA='sometimes' is not one of \('auto', 'on', 'off'\)$"):
        auto_jit_compile("tensorflow", "flat")


def test_compiled_pytorch_drops_the_ragged_batch_and_validates_eagerly():
    splits = load_splits(make_synthetic_corpus(num_articles=30, chunks_per_article=13, dim=16), context_length=4)
    assert len(splits.train) % 32 and len(splits.val) % 32  # both end with a smaller batch
    config = TrainConfig(**SMALL, jit_compile="on")
    model = build_model(config, 16)
    train, val = fit_batches(config, splits, model)
    compiled_torch = BACKEND == "torch"
    assert len(train) == (len(splits.train) // 32 if compiled_torch else -(-len(splits.train) // 32))
    assert len(val) == -(-len(splits.val) // 32)  # validation keeps every sequence
    assert model.jit_compile is True
    if compiled_torch:
        model.make_test_function()
        assert model.jit_compile is True and not hasattr(model.test_function, "_torchdynamo_orig_callable")
        model.make_train_function()
        assert hasattr(model.train_function, "_torchdynamo_orig_callable")  # torch.compile'd
    eager = TrainConfig(**SMALL, jit_compile="off")
    train, _ = fit_batches(eager, splits, build_model(eager, 16))
    assert len(train) == -(-len(splits.train) // 32)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="XLA on TensorFlow's CPU")
def test_two_xla_runs_of_one_seed_agree_and_differ_from_the_graph():
    splits = load_splits(make_synthetic_corpus(num_articles=30, chunks_per_article=13, dim=16), context_length=4)

    def weights(jit_compile: str):
        config = TrainConfig(**SMALL, jit_compile=jit_compile)
        keras.utils.set_random_seed(0)
        model = build_model(config, 16)
        train, _ = fit_batches(config, splits, model)
        model.fit(train, epochs=2, verbose=0)
        return model.jit_compile, [w.numpy() if hasattr(w, "numpy") else np.asarray(w) for w in model.weights]

    (xla, first), (_, again), (graph, other) = weights("auto"), weights("auto"), weights("off")
    assert (xla, graph) == (True, False)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))  # XLA is deterministic for one seed
    assert not all(np.allclose(a, b) for a, b in zip(first, other))  # its dropout draws other numbers

"""`p7keras bench`: every part writes its figures, finite and positive, on every backend (small sizes)."""

import json
import math

import keras
import pytest

from p7keras.bench import BenchConfig, run
from p7keras.cli.main import main

# backend-independent here: the backends' own paths are tested in tests/models, tests/callbacks and tests/serve
pytestmark = pytest.mark.one_backend

# Small sizes: each part runs in seconds.
SMALL_FLAGS = [
    "--dim", "16", "--context", "3", "--d-model", "16", "--num-layers", "1", "--batch-size", "8",
    "--steps", "3", "--predict-calls", "5", "--predict-batch", "16", "--retrieval-queries", "50",
    "--retrieval-bank", "400", "--pipeline-articles", "4",
]
LEGACY_KEYS = {"backend", "train_seq_per_s", "predict_p50_ms", "predict_p95_ms",  # scripts read these
               "predict_batch_seq_per_s"}
SAVED_MODEL = {"saved_model_p50_ms", "saved_model_p95_ms", "saved_model_batch_seq_per_s"}
FIGURES = {
    "train": {"train_seq_per_s"},
    "predict": {"predict_p50_ms", "predict_p95_ms", "predict_batch_seq_per_s"},
    "retrieval": {"retrieval_queries_per_s", "retrieval_all_and_exclude_context_s", "retrieval_within_article_s",
                  "retrieval_peak_alloc_mib", "retrieval_bank_mib"},
    "pipeline": {"pipeline_batches_per_s", "pipeline_seq_per_s", "pipeline_batches", "pipeline_seconds"},
}
CONFIGURATION = {"dim", "context_length", "seed"}  # printed and written for every part


def _bench(tmp_path, *flags: str) -> dict:
    out = tmp_path / "bench.json"
    assert main(["bench", *SMALL_FLAGS, *flags, "--json", str(out)]) == 0
    return json.loads(out.read_text())


def _assert_finite_positive(result: dict, keys: set) -> None:
    for key in keys:
        assert math.isfinite(result[key]) and result[key] > 0, (key, result[key])


@pytest.mark.parametrize("part", sorted(FIGURES))
def test_each_part_writes_its_figures(part, tmp_path, capsys):
    result = _bench(tmp_path, "--what", part, "--no-saved-model")
    assert result["backend"] == keras.backend.backend() and result["parts"] == [part]
    assert CONFIGURATION <= set(result)
    _assert_finite_positive(result, FIGURES[part])
    others = set().union(*(keys for name, keys in FIGURES.items() if name != part))
    assert not others & set(result)
    out = capsys.readouterr().out
    where = f" on {result['device']}" if "device" in result else ""  # the parts with a model name its device
    assert ("device" in result) == (part in ("train", "predict"))
    assert f"backend {keras.backend.backend()}{where}  D=16 K=3" in out and part in out


def test_default_is_train_and_predict_with_the_legacy_keys(tmp_path, capsys):
    result = _bench(tmp_path, "--no-saved-model")
    assert result["parts"] == ["train", "predict"]
    assert LEGACY_KEYS <= set(result)
    _assert_finite_positive(result, FIGURES["train"] | FIGURES["predict"])
    assert result["predict_p50_ms"] <= result["predict_p95_ms"]
    assert {"model_type": "transformer", "d_model": 16, "num_layers": 1, "batch_size": 8}.items() <= result.items()
    assert result["bench_configuration"] is False
    out = capsys.readouterr().out
    assert "sequences/s" in out and "d_model=16 layers=1" in out and "batch=8" in out


def test_all_writes_every_figure(tmp_path, capsys):
    pytest.importorskip("tensorflow")
    result = _bench(tmp_path, "--what", "all")
    assert result["parts"] == ["train", "predict", "retrieval", "pipeline"]
    assert LEGACY_KEYS <= set(result) and result["predict_batch"] == 16 and result["predict_saved_model"]
    _assert_finite_positive(result, set().union(*FIGURES.values(), SAVED_MODEL) | {"max_rss_mib"})
    out = capsys.readouterr().out
    assert "savedmodel p50" in out and "sequences/s (batch 16)" in out
    assert result["pipeline_batches"] == 2 * math.ceil(4 * (50 - 3) / 8)  # two epochs of 4 articles, K = 3
    assert result["retrieval_peak_alloc_mib"] < 64  # ranking memory is bounded by the blocks


def test_repeated_what_measures_the_named_parts_in_order(tmp_path):
    result = _bench(tmp_path, "--what", "pipeline", "--what", "retrieval")
    assert result["parts"] == ["retrieval", "pipeline"]
    assert "train_seq_per_s" not in result and "d_model" not in result


def test_run_in_python_without_the_command_line():
    result = run("retrieval", dim=8, retrieval_queries=20, retrieval_bank=100)
    assert result["parts"] == ["retrieval"] and result["retrieval_queries_per_s"] > 0


def test_bad_what_is_rejected_by_argparse(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--what", "everything"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'everything'" in capsys.readouterr().err


def test_bad_sizes_are_rejected_before_measuring(capsys):
    assert main(["bench", "--steps", "0"]) == 2
    assert "train_steps must be >= 1" in capsys.readouterr().err
    with pytest.raises(ValueError, match="retrieval_bank must be > context_length"):
        BenchConfig(retrieval_bank=5)


def test_bench_configuration_is_the_default():
    assert BenchConfig().is_bench_configuration()
    assert BenchConfig().describe(["train"])["dim"] == 768
    assert not BenchConfig(d_model=256).is_bench_configuration()


def test_compare_prototype_alternates_rounds_and_keeps_the_legacy_keys(tmp_path, capsys):
    result = _bench(tmp_path, "--what", "train", "--what", "predict", "--compare-prototype", "--rounds", "2",
                    "--prototype-threads", "1")
    assert LEGACY_KEYS <= set(result)
    _assert_finite_positive(result, {"train_seq_per_s", "prototype_train_seq_per_s", "train_vs_prototype"})
    assert len(result["train_rounds"]) == 2 and result["prototype_rounds"] == 2
    for one in result["train_rounds"]:
        assert one["train_vs_prototype"] == pytest.approx(one["train_seq_per_s"] / one["prototype_train_seq_per_s"])
        waits = one["train_epoch_waits_s"]  # each timed epoch's wait before its first batch
        assert len(waits) == result["timed_epochs"] and all(0 <= wait < 60 for wait in waits)
    assert result["prototype_reference"]["threads"] == 1
    assert result["device"] == "cpu" or result["device"].startswith("gpu (")  # what Keras computes on, named
    assert result["prototype_reference"]["device"] == ("cpu" if result["device"] == "cpu" else
                                                       result["prototype_reference"]["device"])
    assert result["prototype_reference"]["device"].startswith(("cpu", "cuda ("))
    out = capsys.readouterr().out
    assert "prototype reference" in out and "round 2:" in out and "ratio" in out
    assert f"on {result['device']}" in out and f"on {result['prototype_reference']['device']}," in out


def test_compare_prototype_needs_the_train_part(capsys):
    assert main(["bench", "--what", "retrieval", "--compare-prototype"]) == 2
    assert "--compare-prototype compares training" in capsys.readouterr().err
    assert main(["bench", "--compare-prototype", "--rounds", "0"]) == 2


@pytest.mark.skipif(keras.backend.backend() == "torch", reason="steps_per_execution must be 1 on PyTorch")
def test_steps_per_execution_reaches_compile(tmp_path, capsys):
    result = _bench(tmp_path, "--what", "train", "--steps-per-execution", "3")
    assert result["steps_per_execution"] == 3 and result["train_seq_per_s"] > 0
    assert "steps_per_execution=3" in capsys.readouterr().out


def test_distribute_bench_reads_the_epoch_times_of_a_run():
    from p7keras.bench.distribute import _epoch_seconds

    output = ("Run directory: x\nEpoch 1/3 - 12.5s - loss 4.1\nEpoch 2/3 - 4.2s - loss 3.9\n"
              "[p7keras] epoch 2: note\nEpoch 3/3 - 4.0s - loss 3.5\n")
    assert _epoch_seconds(output) == [12.5, 4.2, 4.0]
    assert _epoch_seconds("no epochs here") == []


def test_precision_and_quantize_reach_the_model_and_the_report(tmp_path, capsys):
    """Issue 23: --precision builds the model under the policy; --quantize predicts (and exports) the reduced copy
    and reports its smallest cosine to the float32 model."""
    result = _bench(tmp_path, "--precision", "mixed_bfloat16", "--quantize", "int8")
    assert (result["precision"], result["quantize"]) == ("mixed_bfloat16", "int8")
    _assert_finite_positive(result, FIGURES["train"] | FIGURES["predict"] | SAVED_MODEL)
    assert 0.99 <= result["predict_min_cosine_to_float32"] <= 1.0
    out = capsys.readouterr().out
    assert "precision=mixed_bfloat16 quantize=int8" in out
    assert "int8: predictions' smallest cosine to the float32 model's" in out
    with pytest.raises(ValueError, match=r"precision must be one of .*got 'fp8'"):
        BenchConfig(precision="fp8")


def test_precision_auto_measures_what_train_would_choose(tmp_path, monkeypatch, capsys):
    """Issue 23: `--precision auto` resolves as `p7keras train` does here and says why; the JSON names the policy
    measured."""
    from p7keras.training import default_precision

    monkeypatch.delenv(default_precision.PRECISION_ENV)
    monkeypatch.setattr(default_precision, "gpu_in_sight", lambda: False)
    monkeypatch.setattr(default_precision, "bf16_cpu_flags", lambda cpuinfo=None: ("amx_bf16",))
    result = _bench(tmp_path, "--what", "train", "--precision", "auto")
    assert result["precision"] == "mixed_bfloat16"  # every backend on AMX
    assert f"Precision: {result['precision']} (auto: " in capsys.readouterr().out
    monkeypatch.setattr(default_precision, "bf16_cpu_flags", lambda cpuinfo=None: ("avx512_bf16",))
    result = _bench(tmp_path, "--what", "train", "--precision", "auto", "--overwrite")
    assert result["precision"] == ("mixed_bfloat16" if keras.backend.backend() == "tensorflow" else "float32")
    monkeypatch.setattr(default_precision, "bf16_cpu_flags", lambda cpuinfo=None: ())
    assert _bench(tmp_path, "--what", "train", "--precision", "auto", "--overwrite")["precision"] == "float32"


def test_long_epoch_start_waits_are_named_in_the_report_line():
    from p7keras.bench import _waits

    assert _waits({"train_epoch_waits_s": [0.01, 0.2]}) == ""  # nothing worth a word
    assert _waits({"train_epoch_waits_s": [2.84, 0.0]}) == "   epoch start waits 2.8, 0.0 s"
    assert _waits({}) == ""


def test_onnx_is_timed_in_onnx_runtime_with_its_cosine(tmp_path, capsys):
    """Issue 23: --onnx writes the model as ONNX (int8 with --quantize int8), times it in ONNX Runtime and reports
    its predictions' smallest cosine to the float32 model's."""
    result = _bench(tmp_path, "--what", "predict", "--no-saved-model", "--onnx", "--quantize", "int8")
    _assert_finite_positive(result, {"onnx_p50_ms", "onnx_p95_ms", "onnx_batch_seq_per_s"})
    assert result["predict_onnx"] and 0.99 <= result["onnx_min_cosine_to_float32"] < 1.0 - 1e-6  # int8, close
    out = capsys.readouterr().out
    assert "onnx       p50 " in out and "onnx int8: predictions' smallest cosine to the float32 model's" in out
    with pytest.raises(ValueError, match=r"--quantize bfloat16 cannot be written as ONNX"):
        BenchConfig(predict_onnx=True, quantize="bfloat16")

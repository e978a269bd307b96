"""Issue 23: ``--precision auto``: mixed_bfloat16 for TensorFlow on a CPU with bfloat16 units and PyTorch on an AMX
CPU, else float32; printed in the run's first lines, recorded in config.json, the same for a search's trials."""

import argparse
import json
import sys

import keras
import pytest

from p7keras.cli.main import main
from p7keras import machine
from p7keras.training import default_precision
from p7keras.training.config import TrainConfig, train_flags
from p7keras.training.default_precision import (
    PRECISION_ENV,
    bf16_cpu_flags,
    keras_backend_name,
    precision_line,
    resolve_precision,
    slow_on_this_cpu,
)
from tests.helpers import cpuinfo_file
from tests.training.test_train import TINY, corpus_file  # noqa: F401 (a pytest fixture)

@pytest.fixture
def unpinned(monkeypatch):
    """The rule itself, not the test suite's pin, and no GPU in sight."""
    monkeypatch.delenv(PRECISION_ENV, raising=False)
    monkeypatch.setattr(default_precision, "gpu_in_sight", lambda: False)


@pytest.fixture
def bf16_cpu(unpinned, monkeypatch):
    """This machine as a CPU with AVX512-BF16 units."""
    monkeypatch.setattr(default_precision, "bf16_cpu_flags", lambda cpuinfo=None: ("avx512_bf16",))


def test_cpu_flags_are_read_fromcpuinfo_file(tmp_path):
    assert bf16_cpu_flags(cpuinfo_file(tmp_path, "avx512_bf16 vnni")) == ("avx512_bf16",)
    assert bf16_cpu_flags(cpuinfo_file(tmp_path, "amx_tile amx_bf16 avx512_bf16")) == ("avx512_bf16", "amx_bf16")
    assert bf16_cpu_flags(cpuinfo_file(tmp_path, "avx512_vnni")) == ()
    assert bf16_cpu_flags(str(tmp_path / "absent")) == ()  # macOS, Windows: no /proc/cpuinfo, no flags


@pytest.mark.one_backend
def test_tensorflow_on_a_bf16_cpu_and_pytorch_on_amx_train_in_mixed_bfloat16_and_float32_elsewhere(tmp_path, unpinned):
    bf16, amx, plain = (cpuinfo_file(tmp_path, flags, name) for name, flags in
                        (("bf16", "avx512_bf16"), ("amx", "amx_bf16"), ("plain", "avx512_vnni")))
    assert resolve_precision("auto", "tensorflow", cpuinfo=bf16) == (
        "mixed_bfloat16", "auto: TensorFlow on a CPU with bfloat16 units (avx512_bf16); --precision float32 to turn it off")
    assert resolve_precision("auto", "tensorflow", cpuinfo=amx)[0] == "mixed_bfloat16"
    assert resolve_precision("auto", "tensorflow", cpuinfo=plain) == (
        "float32", "auto: this CPU has no bfloat16 units (no avx512_bf16 or amx_bf16 flag)")
    # JAX: faster on AMX since its bfloat16 products run on the units (bf16_dots.py), not measured on AVX512-BF16
    assert resolve_precision("auto", "jax", cpuinfo=amx) == (
        "mixed_bfloat16", "auto: JAX on a CPU with bfloat16 units (amx_bf16); --precision float32 to turn it off")
    assert resolve_precision("auto", "jax", cpuinfo=bf16) == (
        "float32", "auto: JAX was measured faster in mixed_bfloat16 only on a CPU with AMX (no amx_bf16 flag here)")
    assert resolve_precision("auto", "openvino", cpuinfo=amx) == (
        "float32", "auto: mixed_bfloat16 was measured no faster on openvino; --precision to choose")
    # PyTorch: faster on AMX, within the drift on AVX512-BF16 alone
    assert resolve_precision("auto", "torch", cpuinfo=amx) == (
        "mixed_bfloat16", "auto: PyTorch on a CPU with bfloat16 units (amx_bf16); --precision float32 to turn it off")
    assert resolve_precision("auto", "torch", cpuinfo=bf16) == (
        "float32", "auto: PyTorch was measured faster in mixed_bfloat16 only on a CPU with AMX (no amx_bf16 flag here)")
    assert resolve_precision("auto", "torch", cpuinfo=plain)[0] == "float32"
    assert resolve_precision("auto", "torch", device="gpu", cpuinfo=amx)[0] == "float32"
    assert resolve_precision("auto", "tensorflow", device="gpu", cpuinfo=bf16)[0] == "float32"
    assert resolve_precision("auto", "tensorflow", distribute="data-parallel", cpuinfo=bf16) == (
        "float32", "auto: mixed_bfloat16 was not measured with --distribute data-parallel")
    both = cpuinfo_file(tmp_path, "avx512_bf16 avx512_fp16", "both")
    for policy in ("float32", "mixed_bfloat16", "mixed_float16"):  # a precision given by name is never changed
        assert resolve_precision(policy, "torch", cpuinfo=both) == (policy, "as asked")
        assert resolve_precision(policy, "jax", cpuinfo=plain)[0] == policy  # (bfloat16: with a caveat, below)


@pytest.mark.one_backend
def test_16_bits_on_a_cpu_without_such_units_and_jax_single_sequences_are_said_to_be_slower(tmp_path, unpinned, capsys):
    bf16, plain = cpuinfo_file(tmp_path, "avx512_bf16", "bf16"), cpuinfo_file(tmp_path, "avx2", "plain")
    fp16 = cpuinfo_file(tmp_path, "avx512_fp16 amx_fp16", "fp16")
    caveat = ("this CPU has no bfloat16 units (no avx512_bf16 or amx_bf16 flag); on an AVX2 CPU mixed_bfloat16 "
              "trained at 0.03x float32's speed on torch; float32 is at least as fast here")
    assert slow_on_this_cpu("mixed_bfloat16", "torch", cpuinfo=plain) == caveat
    assert resolve_precision("mixed_bfloat16", "torch", cpuinfo=plain) == ("mixed_bfloat16", f"as asked; {caveat}")
    assert precision_line(*resolve_precision("mixed_bfloat16", "torch", cpuinfo=plain)).startswith(
        f"Precision: mixed_bfloat16 (as asked; {caveat}; Keras dtype policy: float32 variables and loss")
    assert "mixed_bfloat16 trained at 0.87-0.88x float32's speed on tensorflow" in slow_on_this_cpu(
        "mixed_bfloat16", "tensorflow", cpuinfo=plain)
    assert slow_on_this_cpu("mixed_float16", "torch", cpuinfo=plain).startswith(
        "this CPU has no float16 units (no avx512_fp16 or amx_fp16 flag); on an AVX2 CPU mixed_float16 trained at 0.")
    assert slow_on_this_cpu("mixed_bfloat16", "openvino", cpuinfo=plain) == (  # no figure for that backend
        "this CPU has no bfloat16 units (no avx512_bf16 or amx_bf16 flag); float32 is at least as fast here")
    assert "bfloat16 predicted batches at" in slow_on_this_cpu("bfloat16", "torch", cpuinfo=plain)  # inference
    assert slow_on_this_cpu("mixed_bfloat16", "torch", cpuinfo=bf16) is None  # the units are there
    assert slow_on_this_cpu("mixed_bfloat16", "tensorflow", cpuinfo=bf16) is None
    assert slow_on_this_cpu("mixed_bfloat16", "jax", cpuinfo=bf16) is None  # JAX's products use them (bf16_dots.py)
    assert slow_on_this_cpu("bfloat16", "jax", cpuinfo=bf16) == (  # ... but one sequence predicts slower
        "on an AMX CPU bfloat16 on jax predicted single sequences at 0.77-0.97x float32's speed (batches 2.9-3.2x)")
    assert slow_on_this_cpu("bfloat16", "tensorflow", cpuinfo=bf16) is None
    assert slow_on_this_cpu("mixed_float16", "torch", cpuinfo=fp16) is None
    assert slow_on_this_cpu("float32", "torch", cpuinfo=plain) is None
    assert slow_on_this_cpu("int8", "torch", cpuinfo=plain) is None
    assert slow_on_this_cpu("mixed_bfloat16", "torch", device="gpu", cpuinfo=plain) is None  # a GPU computes
    assert slow_on_this_cpu("mixed_bfloat16", "torch", cpuinfo=str(tmp_path / "absent")) is None  # off Linux


@pytest.mark.one_backend
def test_predicting_in_bfloat16_on_such_a_cpu_prints_a_note(tmp_path, unpinned, monkeypatch, capsys):
    monkeypatch.setattr(default_precision, "bf16_cpu_flags", lambda cpuinfo=None: ())
    monkeypatch.setattr(default_precision.os.path, "exists", lambda path: True)  # a Linux /proc/cpuinfo
    assert default_precision.quantize_note("bfloat16", "jax").startswith(
        "note: --quantize bfloat16: this CPU has no bfloat16 units (no avx512_bf16 or amx_bf16 flag); on an AVX2 "
        "CPU bfloat16 predicted batches at 0.")
    assert default_precision.quantize_note("int8", "jax") is None and default_precision.quantize_note(None) is None
    from p7keras.cli.evaluate import check_quantize  # evaluate, predict and serve: before Keras loads the model

    (tmp_path / "m.keras").write_bytes(b"")
    for mode, said in (("bfloat16", True), ("int8", False)):
        check_quantize(argparse.Namespace(models=[str(tmp_path / "m.keras")], quantize=mode))
        assert ("note: --quantize bfloat16: this CPU has no bfloat16 units" in capsys.readouterr().err) is said


@pytest.mark.one_backend
def test_a_gpu_in_sight_keeps_float32(tmp_path, monkeypatch):
    monkeypatch.delenv(PRECISION_ENV, raising=False)
    cpuinfo = cpuinfo_file(tmp_path, "avx512_bf16")
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(machine, "gpu_device_files", lambda: ["/dev/nvidia0", "/dev/nvidiactl"])
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert machine.gpu_in_sight()
    assert resolve_precision("auto", "tensorflow", cpuinfo=cpuinfo) == (
        "float32", "auto: a GPU may train this run, and on the GPU measured (an NVIDIA H200) no 16-bit policy "
                   "trained faster at the bench sizes")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # every NVIDIA GPU hidden: the CPU trains
    assert not machine.gpu_in_sight()
    assert resolve_precision("auto", "tensorflow", cpuinfo=cpuinfo)[0] == "mixed_bfloat16"
    monkeypatch.setattr(machine, "gpu_device_files", lambda: ["/dev/kfd"])  # ROCm ignores CUDA_VISIBLE_DEVICES
    assert machine.gpu_in_sight()


@pytest.mark.one_backend
def test_the_environment_pins_what_auto_means(tmp_path, monkeypatch):
    cpuinfo = cpuinfo_file(tmp_path, "avx512_bf16")
    monkeypatch.setenv(PRECISION_ENV, "float32")
    assert resolve_precision("auto", "tensorflow", cpuinfo=cpuinfo) == ("float32", "auto: P7KERAS_PRECISION=float32")
    monkeypatch.setenv(PRECISION_ENV, "mixed_bfloat16")
    assert resolve_precision("auto", "jax", cpuinfo=cpuinfo)[0] == "mixed_bfloat16"
    assert resolve_precision("float32", "tensorflow", cpuinfo=cpuinfo)[0] == "float32"  # a named one wins
    monkeypatch.setenv(PRECISION_ENV, "fp8")
    message = ("P7KERAS_PRECISION='fp8' is not a training precision; use one of ('float32', 'mixed_bfloat16', "
               "'mixed_float16')")
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve_precision("auto", "tensorflow")
    assert message in TrainConfig(precision="auto").problems()  # refused with the settings, before any work
    monkeypatch.setenv(PRECISION_ENV, "mixed_float16")
    assert any("mixed_float16 (loss scaling) cannot be combined with --distribute data-parallel" in p
               for p in TrainConfig(precision="auto", distribute="data-parallel").problems())
    with pytest.raises(ValueError, match="precision must be 'auto' or one of"):
        resolve_precision("fp8", "tensorflow")


@pytest.mark.one_backend
def test_a_bad_pin_is_refused_before_any_work(tmp_path, corpus_file, capsys, monkeypatch):  # noqa: F811
    from tests.faults.cases import FAULTS

    monkeypatch.setenv(PRECISION_ENV, "fp8")
    fault = next(f for f in FAULTS if f.name == "P7KERAS_PRECISION naming no policy")
    assert main(["train", "--data", corpus_file, "--precision", "auto", "--output-dir", str(tmp_path / "runs")]) \
        == fault.code
    assert capsys.readouterr().err.strip().splitlines() == [fault.message]
    assert not (tmp_path / "runs").exists()  # nothing written
    assert main(["train", "--data", corpus_file, *TINY, "--epochs", "1", "--precision", "float32",
                 "--output-dir", str(tmp_path / "named"), "--no-export"]) in (0, 1)  # a named policy needs no pin


@pytest.mark.one_backend
def test_the_backend_is_known_before_keras_starts(tmp_path, monkeypatch):
    assert keras_backend_name() == keras.backend.backend()  # Keras runs: its backend
    monkeypatch.delitem(sys.modules, "keras")  # as before Keras is imported
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    assert keras_backend_name() == "torch"
    monkeypatch.delenv("KERAS_BACKEND")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert keras_backend_name() == "tensorflow"  # no keras.json: Keras' default
    (tmp_path / "keras.json").write_text(json.dumps({"backend": "jax", "floatx": "float32"}))
    assert keras_backend_name() == "jax"


@pytest.mark.one_backend
def test_the_line_names_the_policy_and_why():
    assert precision_line("float32", "as asked") == "Precision: float32"
    assert precision_line("float32", "auto: P7KERAS_PRECISION=float32") == "Precision: float32 (auto: P7KERAS_PRECISION=float32)"
    assert precision_line("mixed_float16", "as asked") == (
        "Precision: mixed_float16 (Keras dtype policy: float32 variables and loss, the encoder and head in float16; "
        "loss scaling)")
    assert precision_line("mixed_bfloat16", "auto: TensorFlow on a CPU with bfloat16 units (amx_bf16)") == (
        "Precision: mixed_bfloat16 (auto: TensorFlow on a CPU with bfloat16 units (amx_bf16); Keras dtype policy: "
        "float32 variables and loss, the encoder and head in bfloat16)")


@pytest.mark.one_backend
def test_float32_is_the_default_and_auto_round_trips_as_a_flag(bf16_cpu):
    assert TrainConfig().precision == "float32"
    assert "dtype" not in TrainConfig(backend="tensorflow").model_kwargs()  # on a bf16 CPU too
    expected = "mixed_bfloat16" if keras.backend.backend() == "tensorflow" else "float32"
    assert TrainConfig(precision="auto").model_kwargs().get("dtype", "float32") == expected
    assert TrainConfig(backend="tensorflow", precision="auto").model_kwargs()["dtype"] == "mixed_bfloat16"
    assert "--precision auto" in " ".join(train_flags(TrainConfig(precision="auto"), always=()))
    assert "--precision" not in train_flags(TrainConfig(), always=())


def test_a_run_prints_and_records_the_precision_auto_chose(tmp_path, corpus_file, capsys, bf16_cpu):  # noqa: F811
    out = tmp_path / "runs"
    code = main(["train", "--data", corpus_file, *TINY, "--epochs", "1", "--output-dir", str(out), "--no-export",
                 "--precision", "auto"])
    assert code in (0, 1), capsys.readouterr().err  # PASS/MARGINAL or FAIL: the run itself finished
    lines = capsys.readouterr().out.splitlines()
    (run,) = out.glob("p7_*")
    recorded = json.loads((run / "config.json").read_text())["precision"]
    model = keras.saving.load_model(run / "final.keras")
    if keras.backend.backend() == "tensorflow":
        expected = ("Precision: mixed_bfloat16 (auto: TensorFlow on a CPU with bfloat16 units (avx512_bf16); "
                    "--precision float32 to turn it off; Keras dtype policy: float32 variables and loss, the encoder "
                    "and head in bfloat16)")
        assert (recorded, model.dtype_policy.name) == ("mixed_bfloat16", "mixed_bfloat16")
    else:  # AVX512-BF16 alone: JAX and PyTorch were measured faster only with AMX
        name = {"torch": "PyTorch", "jax": "JAX"}[keras.backend.backend()]
        expected = (f"Precision: float32 (auto: {name} was measured faster in mixed_bfloat16 only on a CPU with AMX "
                    "(no amx_bf16 flag here))")
        assert (recorded, model.dtype_policy.name) == ("float32", "float32")
    run_line = next(i for i, line in enumerate(lines) if line.startswith("Run directory:"))
    assert lines[run_line + 1] == expected  # among the run's first lines, before the first epoch


@pytest.mark.one_backend
def test_a_search_records_its_trials_precision(bf16_cpu):
    from tuner.config import SearchConfig

    search = SearchConfig(train={"backend": "tensorflow", "precision": "auto"})
    assert search.base.precision == "mixed_bfloat16"  # what search.json and each trial's config.json hold
    assert search.settings()["config"]["precision"] == "mixed_bfloat16"
    assert SearchConfig(train={"backend": "jax", "precision": "auto"}).base.precision == "float32"
    assert SearchConfig(train={"backend": "tensorflow"}).base.precision == "float32"  # the default


@pytest.mark.one_backend
def test_one_rule_says_whether_the_cpu_computes_for_auto_and_for_the_slow_16_bit_note(tmp_path, monkeypatch):
    monkeypatch.delenv(PRECISION_ENV, raising=False)
    with_units, without = cpuinfo_file(tmp_path, "avx512_bf16"), cpuinfo_file(tmp_path, "", name="avx2")
    for gpu in (False, True):
        monkeypatch.setattr(default_precision, "gpu_in_sight", lambda gpu=gpu: gpu)
        for device in ("auto", "cpu", "gpu", "metal"):
            cpu = device == "cpu" or (device == "auto" and not gpu)
            assert default_precision.cpu_computes(device) is cpu, (gpu, device)
            # a GPU may train: float32, and no word on this CPU's missing units
            assert resolve_precision("auto", "tensorflow", device=device, cpuinfo=with_units)[0] == (
                "mixed_bfloat16" if cpu else "float32"), (gpu, device)
            assert (slow_on_this_cpu("mixed_bfloat16", "tensorflow", device, without) is not None) is cpu, (gpu, device)

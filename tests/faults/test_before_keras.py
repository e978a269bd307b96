"""Issue 22: every refusal that needs no Keras comes before Keras loads, in a real ``p7keras`` process.

Each exit-code-2 case of the fault table runs in a fresh process that reports the heavy modules it imported
(:mod:`tests.faults.refusal_times`); none may be imported (``NEEDS_KERAS`` would name a case that must load Keras first; it is empty).
The times are the benchmark's (``python -m tests.faults.refusal_times``), not asserted here.
"""

from __future__ import annotations

import importlib
import sys

import pytest

from p7keras.cli.main import main
from tests.faults.cases import FAULTS
from tests.faults.refusal_times import NEEDS_KERAS, refusal_cases, run_refusal

pytestmark = pytest.mark.one_backend  # each case is refused before any backend loads

CASES = [fault for fault in refusal_cases() if fault.name not in NEEDS_KERAS]
preflight_module = importlib.import_module("p7keras.training.preflight")
machine_module = importlib.import_module("p7keras.machine")


def test_the_exceptions_are_cases_of_the_table():
    names = {fault.name for fault in refusal_cases()}
    assert set(NEEDS_KERAS) <= names and len(NEEDS_KERAS) <= 2


@pytest.mark.parametrize("fault", CASES, ids=[fault.name for fault in CASES])
def test_the_refusal_comes_before_keras_loads(fault, tmp_path):
    _, code, lines, loaded, _ = run_refusal(fault.make(tmp_path))
    assert code == 2, lines
    assert lines[-1] == fault.message.format(dir=tmp_path), lines
    assert loaded == [], f"{fault.name}: imported {loaded} before refusing"


def _no_gpu_here(monkeypatch) -> None:
    monkeypatch.setattr(preflight_module.sys, "platform", "linux")
    monkeypatch.setattr(machine_module.glob, "glob", lambda pattern: [])


def test_device_gpu_without_one_is_refused_before_keras(tmp_path, capsys, monkeypatch):
    """The cheap check (no GPU device file) refuses before the data is read and before Keras starts."""
    _no_gpu_here(monkeypatch)
    asked = []
    monkeypatch.setattr(preflight_module, "_accelerators", lambda backend: asked.append(backend) or {"gpu"})
    code = main(["train", "--device", "gpu", "--data", str(tmp_path / "nope.npz"), "--output-dir", str(tmp_path)])
    fault = next(f for f in FAULTS if f.name == "--device gpu on a machine without a GPU")
    assert code == 2 and capsys.readouterr().err.splitlines() == [fault.message]
    assert asked == [] and list(tmp_path.iterdir()) == []  # no backend was asked, nothing written


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the cheap GPU check is Linux's device files")
def test_device_gpu_in_a_real_process_is_refused_before_keras(tmp_path):
    if machine_module.glob.glob("/dev/nvidia*") or machine_module.glob.glob("/dev/kfd"):
        hidden = {"CUDA_VISIBLE_DEVICES": "-1"}  # a GPU machine: hide NVIDIA's GPUs instead
        if machine_module.glob.glob("/dev/kfd") or machine_module.glob.glob("/dev/dxg"):
            pytest.skip("this machine has a GPU that CUDA_VISIBLE_DEVICES does not hide")
    else:
        hidden = {}
    _, code, lines, loaded, _ = run_refusal(["train", "--device", "gpu", "--output-dir", str(tmp_path)], env=hidden)
    assert code == 2 and loaded == [], (lines, loaded)
    assert lines[-1].startswith("p7keras train: error: --device gpu requested, but "), lines


def test_cuda_visible_devices_hiding_every_gpu_is_a_cheap_refusal(monkeypatch):
    monkeypatch.setattr(preflight_module.sys, "platform", "linux")
    monkeypatch.setattr(machine_module.glob, "glob",
                        lambda pattern: ["/dev/nvidia0", "/dev/nvidiactl"] if pattern == "/dev/nvidia*" else [])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    with pytest.raises(ValueError) as error:
        preflight_module.check_device_present("gpu")
    assert str(error.value) == "--device gpu requested, but CUDA_VISIBLE_DEVICES='-1' hides every GPU of this machine"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    preflight_module.check_device_present("gpu")  # there may be one: the backend answers, after Keras starts
    monkeypatch.setattr(machine_module.glob, "glob", lambda pattern: ["/dev/kfd"] if pattern == "/dev/kfd" else [])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    preflight_module.check_device_present("gpu")  # an AMD GPU: CUDA_VISIBLE_DEVICES does not hide it


def test_metal_off_macos_is_a_cheap_refusal(monkeypatch):
    monkeypatch.setattr(preflight_module.sys, "platform", "linux")
    with pytest.raises(ValueError, match=r"^--device metal requested, but Metal is macOS only \(this machine runs "
                                         r"linux\)$"):
        preflight_module.check_device_present("metal")
    monkeypatch.setattr(preflight_module.sys, "platform", "darwin")
    preflight_module.check_device_present("metal")  # macOS: the backend answers
    preflight_module.check_device_present("gpu")  # TensorFlow's Metal plugin shows as a GPU: the backend answers

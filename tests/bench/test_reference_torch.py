"""The plain-PyTorch reference step (a child process, so torch never meets the Keras backend under test)."""

import importlib.util
import json
import math
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="the reference needs torch"), pytest.mark.one_backend]

TINY = ["--dim", "16", "--context-length", "3", "--d-model", "16", "--heads", "2", "--num-layers", "1",
        "--ff-dim", "32", "--batch-size", "8", "--steps", "3", "--timed-epochs", "2", "--threads", "1"]


def _python(*args: str) -> str:
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, check=True)
    return done.stdout


def test_a_few_tiny_steps_give_a_finite_decreasing_loss_and_a_figure():
    result = json.loads(_python("-m", "p7keras.bench.reference_torch", *TINY).splitlines()[-1])
    losses = result["epoch_losses"]
    assert len(losses) == 3 and all(math.isfinite(loss) for loss in losses)
    assert losses[-1] < losses[0]
    assert result["train_seq_per_s"] > 0 and len(result["epoch_seconds"]) == 3
    assert result["configuration"]["threads"] == 1 and result["configuration"]["dim"] == 16


def test_the_negative_pool_is_previous_hard_negatives_and_the_other_targets():
    check = (
        "import torch; from p7keras.bench.reference_torch import negative_pool\n"
        "t = torch.arange(4.)[:, None].repeat(1, 2); p = -t - 1; h = 100 + t[:, None].repeat(1, 3, 1)\n"
        "pool = negative_pool({'target': t, 'previous': p, 'hard_negatives': h})\n"
        "assert pool.shape == (4, 1 + 3 + 3, 2), pool.shape\n"
        "for i in range(4):\n"
        "    assert pool[i, 0, 0] == -i - 1 and (pool[i, 1:4, 0] == 100 + i).all()\n"
        "    assert sorted(pool[i, 4:, 0].tolist()) == [j for j in range(4) if j != i]\n"
        "print('ok')\n"
    )
    assert _python("-c", check).strip() == "ok"


def test_the_device_is_chosen_as_asked_and_reported():
    result = json.loads(_python("-m", "p7keras.bench.reference_torch", *TINY, "--device", "cpu").splitlines()[-1])
    assert result["device"] == "cpu" and result["configuration"]["device"] == "cpu"
    check = (
        "import torch; from p7keras.bench.reference_torch import resolve_device\n"
        "auto = resolve_device('auto')\n"
        "assert auto.type == ('cuda' if torch.cuda.is_available() else 'cpu'), auto\n"
        "for bad in ('tpu', 'gpu'):\n"
        "    try:\n"
        "        resolve_device(bad)\n"
        "    except ValueError as error:\n"
        "        assert repr(bad) in str(error), error\n"
        "    else:\n"
        "        raise AssertionError(bad)\n"
        "if not torch.cuda.is_available():\n"
        "    try:\n"
        "        resolve_device('cuda')\n"
        "    except ValueError as error:\n"
        "        assert 'no CUDA GPU' in str(error), error\n"
        "    else:\n"
        "        raise AssertionError('cuda without a GPU')\n"
        "print('ok')\n"
    )
    assert _python("-c", check).strip() == "ok"

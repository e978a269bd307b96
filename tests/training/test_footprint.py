"""The disk room a run needs, from its settings before Keras loads (issue 22)."""

from __future__ import annotations

import itertools
import re
import shutil

import numpy as np
import pytest

from p7keras.training import TrainConfig
from p7keras.training.footprint import DiskNeed, check_room, disk_need, parameter_count

# backend-independent here: the backends' own paths are tested in tests/models, tests/callbacks and tests/serve
pytestmark = pytest.mark.one_backend

TINY = {"d_model": 16, "num_heads": 2, "num_layers": 1, "ff_dim": 32, "context_length": 4}


@pytest.mark.parametrize("model_type, head, anchor_mode, queue", [
    *itertools.product(["transformer", "lstm", "flat"], ["mlp", "residual"], ["mean", "attention"], [0]),
    ("transformer", "mlp", "mean", 7), ("lstm", "residual", "attention", 5)])
def test_the_parameter_count_is_keras_own(model_type, head, anchor_mode, queue):
    from p7keras.training.train import build_model

    config = TrainConfig(**{**TINY, "num_layers": None if model_type == "flat" else 2}, model_type=model_type,
                         head=head, anchor_mode=anchor_mode, negative_queue=queue,
                         anchor_learnable=queue == 0)
    model = build_model(config, 12)
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    assert parameter_count(config, 12) == (model.count_params(), trainable)


def test_the_default_model_is_counted_without_keras():
    assert parameter_count(TrainConfig(), 768) == (13_663_490, 13_663_489)  # Keras' count_params, measured


def test_the_need_grows_with_the_model_and_with_the_export():
    tiny = disk_need(TrainConfig(**TINY, export=False), 16)
    exported = disk_need(TrainConfig(**TINY, export=True), 16)
    default = disk_need(TrainConfig(export=False), 768)
    assert tiny.total < 4 * 2**20  # a 3,000-weight model, no export: a few MiB (the old rule asked 51)
    assert exported.total > tiny.total and exported.parts["export"] > 0 and "export" not in tiny.parts
    assert tiny.notes == ("no export (--no-export)",) and exported.notes == ()
    assert default.total > 100 * tiny.total
    weights = default.weights * 4
    assert default.parts["final.keras"] >= 3 * weights and default.parts["backup (2 epochs)"] >= 6 * weights
    assert 13 * weights < default.counted < 13.1 * weights  # best 1, final 3, backups 2 x 3, one being written 3
    wider = disk_need(TrainConfig(export=False, d_model=1024, num_heads=8), 768)
    assert wider.total > default.total


def test_a_too_full_folder_is_refused_naming_what_was_counted(tmp_path, monkeypatch):
    need = disk_need(TrainConfig(**TINY, export=False, epochs=3), 16)
    free = shutil.disk_usage(tmp_path)._replace(free=need.total - 1)
    asked = []
    monkeypatch.setattr("p7keras.training.footprint.shutil.disk_usage", lambda path: asked.append(path) or free)
    with pytest.raises(ValueError) as refused:
        check_room(tmp_path / "not" / "yet", need)  # a folder to be created: its nearest parent is asked
    assert asked == [tmp_path]
    assert re.fullmatch(
        rf"output folder {re.escape(str(tmp_path / 'not' / 'yet'))} has \d+ MiB free; this run needs about \d+ MiB "
        r"\(best\.keras 0\.3 \+ final\.keras 0\.3 \+ backup \(2 epochs\) 0\.6 \+ a file being replaced 0\.3 \+ logs and "
        r"plots 1\.0 MiB for 3,138 weights, \+ 25% margin; no export \(--no-export\)\)", str(refused.value)), \
        str(refused.value)
    monkeypatch.setattr("p7keras.training.footprint.shutil.disk_usage", lambda path: free._replace(free=need.total))
    check_room(tmp_path, need)  # exactly enough: no error


def test_the_description_adds_up():
    need = DiskNeed({"a": 2**20, "b": 3 * 2**20}, weights=1234)
    assert need.counted == 4 * 2**20 and need.total == 5 * 2**20
    assert need.describe() == "a 1.0 + b 3.0 MiB for 1,234 weights, + 25% margin"

"""``HistoryWriter`` carries a resumed run's history on."""

import json

from p7keras import callbacks as cb


def test_history_writer_appends_to_earlier_epochs(tmp_path):
    writer = cb.HistoryWriter(str(tmp_path / "history.json"), history={"loss": [2.0], "epoch": [1.0]})
    writer.on_epoch_end(1, {"loss": 1.5, "val_margin": 0.1})
    saved = json.loads((tmp_path / "history.json").read_text())
    assert saved["loss"] == [2.0, 1.5] and saved["epoch"] == [1.0, 2.0] and saved["val_margin"] == [0.1]

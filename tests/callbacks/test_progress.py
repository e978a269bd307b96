"""``EpochProgress``: plain lines in a log, bars on a terminal."""

import io

from p7keras import callbacks as cb


def test_epoch_progress_writes_one_plain_line_per_epoch_to_a_file(learnable_data):
    train, val = learnable_data
    from p7keras.models import TransformerP7Ranker

    model = TransformerP7Ranker(context_length=4, d_model=16, num_heads=2, num_layers=1, ff_dim=32)
    model.compile()
    log = io.StringIO()  # not a terminal
    model.fit(train, validation_data=(val,), batch_size=64, epochs=2, verbose=0,
              callbacks=[cb.EpochProgress(2, 6, stream=log)])
    lines = log.getvalue().splitlines()
    assert [line.split(" - ")[0] for line in lines] == ["Epoch 1/2", "Epoch 2/2"]
    assert all("loss " in line and "val_margin " in line for line in lines)
    assert "\x1b" not in log.getvalue() and "\r" not in log.getvalue()


def test_epoch_progress_draws_bars_on_a_terminal(capsys):
    bar = cb.EpochProgress(1, 2, interactive=True)
    bar.on_epoch_begin(0)
    bar.on_train_batch_end(0, {"loss": 1.0})
    bar.on_train_batch_end(1, {"loss": 0.5})
    bar.on_epoch_end(0, {"loss": 0.5, "val_margin": 0.1})
    out = capsys.readouterr().out
    assert out.startswith("Epoch 1/1\n") and "2/2" in out

"""``BestModelCheckpoint`` keeps the selected epoch's model, atomically; on retrieval, the start until beaten."""

import keras

from p7keras import callbacks as cb


def _model():
    return keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])


def test_best_checkpoint_keeps_highest_val_margin(tmp_path):
    path = tmp_path / "best.keras"
    checkpoint = cb.BestModelCheckpoint(str(path), history={"val_margin": [0.3]})
    checkpoint.set_model(_model())
    checkpoint.on_train_begin()
    assert not path.exists()  # selecting on the margin: no starting model is saved
    checkpoint.on_epoch_end(0, {"val_margin": 0.2})
    assert not path.exists()  # below the best of earlier (resumed) epochs
    checkpoint.on_epoch_end(1, {"val_margin": 0.4})
    assert path.exists()
    stamp = path.stat().st_mtime_ns
    checkpoint.on_epoch_end(2, {"val_margin": float("nan")})
    checkpoint.on_epoch_end(3, {"val_margin": 0.4})  # a tie is no improvement
    assert path.stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == ["best.keras"]  # no temporary leftovers


def test_on_retrieval_the_start_is_kept_until_an_epoch_beats_it_beyond_noise(tmp_path):
    path = tmp_path / "best.keras"
    model = _model()
    checkpoint = cb.BestModelCheckpoint(str(path), monitor="val_R@5")
    checkpoint.set_model(model)
    checkpoint.on_train_begin()
    start = path.read_bytes()
    model.layers[0].kernel.assign([[5.0], [5.0]])
    checkpoint.on_epoch_end(0, {"val_R@5": 0.9, "val_R@5_gain_low": -0.01})  # higher, but within noise
    assert path.read_bytes() == start
    checkpoint.on_epoch_end(1, {"val_R@5": 0.8, "val_R@5_gain_low": 0.002})  # beyond noise: replaces the start
    assert path.read_bytes() != start
    saved = keras.saving.load_model(path)
    assert saved.layers[0].kernel.numpy().ravel().tolist() == [5.0, 5.0]

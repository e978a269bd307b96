"""``BestModelCheckpoint`` keeps the highest value, atomically."""

import keras

from p7keras import callbacks as cb


def test_best_checkpoint_keeps_highest_val_margin(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    path = tmp_path / "best.keras"
    checkpoint = cb.BestModelCheckpoint(str(path), best=0.3)
    checkpoint.set_model(model)
    checkpoint.on_epoch_end(0, {"val_margin": 0.2})
    assert not path.exists()  # below the best of earlier (resumed) epochs
    checkpoint.on_epoch_end(1, {"val_margin": 0.4})
    assert path.exists() and checkpoint.best == 0.4
    stamp = path.stat().st_mtime_ns
    checkpoint.on_epoch_end(2, {"val_margin": float("nan")})
    assert path.stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == ["best.keras"]  # no temporary leftovers

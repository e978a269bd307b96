"""TensorBoard HParams logs of a search: one run per trial, its hyperparameters and per-epoch metrics.

Written with ``tf.summary`` and ``tensorboard.plugins.hparams.api`` on every Keras backend, after the
trials (from their ``p7_trial.json`` files), so the HParams dashboard compares trials run by any
process. The folder is rewritten on every report, so a resumed search never shows a trial twice.

Example:

    $ tensorboard --logdir saved_models/tuning/priority1-grid/tensorboard
"""

from __future__ import annotations

import os
import shutil

from tuner.results import TABLE_METRICS


def write_hparams(logdir: str, rows: list[dict], columns: tuple[str, ...], summaries: dict[str, dict]) -> str:
    """Writes the HParams experiment and one run ``trial_<id>`` per trial with a summary.

    Example:

        write_hparams("runs/tensorboard", rows, ("margin",), {"0": summary})

    Args:
        logdir: the folder (replaced).
        rows: the ranked table's rows (hyperparameter values by column name).
        columns: the hyperparameter columns.
        summaries: trial id -> its ``p7_trial.json``.

    Returns:
        ``logdir``.
    """
    import tensorflow as tf  # noqa: PLC0415 (TensorFlow only when logs are written)
    from tensorboard.plugins.hparams import api as hp_api  # noqa: PLC0415

    shutil.rmtree(logdir, ignore_errors=True)
    logged = [row for row in rows if row["trial"] in summaries]
    hparams = {
        name: hp_api.HParam(name, hp_api.Discrete(sorted({row[name] for row in logged if row[name] is not None})))
        for name in columns
    }
    with tf.summary.create_file_writer(logdir).as_default():
        hp_api.hparams_config(hparams=list(hparams.values()), metrics=[hp_api.Metric(m) for m in TABLE_METRICS])
    for row in logged:
        summary = summaries[row["trial"]]
        writer = tf.summary.create_file_writer(os.path.join(logdir, f"trial_{row['trial']}"))
        with writer.as_default():
            hp_api.hparams({hparams[name]: row[name] for name in columns if row[name] is not None},
                           trial_id=row["trial"])
            for name, values in summary["history"].items():
                for offset, value in enumerate(values):
                    tf.summary.scalar(name, value, step=summary["initial_epoch"] + offset + 1)
        writer.close()
    return logdir

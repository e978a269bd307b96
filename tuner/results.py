"""Trial results: one summary file per trial, and the ranked rows of the search's table.

Each trial writes ``p7_trial.json`` into its KerasTuner trial folder (by the process that ran it,
chief-less or worker): its settings, history, best epoch (by the search's objective), the table's
metrics at that epoch and the verdict of that epoch (``p7keras.verdict.history_verdict``). The ranked
table joins these files with the oracle's trial records (status and score).

Example:

    ```python
    summary = summarize_history({"val_margin": [0.1, 0.3], "val_cos_next": [0.4, 0.5],
                                 "val_cos_anchor": [0.5, 0.6]}, "val_margin")
    summary["best_epoch"], summary["verdict"]["status"]  # (2, 'PASS')
    ```
"""

from __future__ import annotations

import math
import os

from p7keras.config import SELECT_METRICS
from p7keras.verdict import START_EPOCH, VERDICT_METRICS, history_verdict, start_key  # noqa: F401 (VERDICT_METRICS: re-exported)
from p7keras.io import read_json, write_json

# What a search can maximise: the validation margin (default) or the ship gate's retrieval numbers.
OBJECTIVES = SELECT_METRICS  # the first is the default
TRIAL_FILE = "p7_trial.json"
FINAL_WEIGHTS = "final.weights.h5"
# Metrics of the ranked table (validation values at the trial's best epoch).
TABLE_METRICS = ("val_margin", "val_cos_next", "val_cos_anchor", "val_R@5", "val_MRR@10",
                 "val_R@5_gain_low", "val_MRR@10_gain_low")  # gain_low: the 95% lower bound over the start
COMPLETED = "COMPLETED"


def summarize_history(history: dict, objective: str, hard_drift: bool = False) -> dict:
    """The best epoch of a trial by ``objective`` (maximised), its table metrics and its verdict.

    Args:
        history: metric name -> per-epoch values (Keras ``History.history``).
        objective: the logged metric the search maximises.
        hard_drift: whether the hard orthogonal-drift rule fired (it rules out PASS).

    Returns:
        ``{"best_epoch": 1-based or None, "metrics": {...}, "verdict": {...}}``.
    """
    result = history_verdict(history, objective, hard_drift)
    epoch = result["best_epoch"]
    if epoch is None:
        return {"best_epoch": None, "metrics": {}, "verdict": result}
    if epoch == START_EPOCH:  # no epoch beat the starting model beyond noise: the start's figures
        metrics = {name: float(history[start_key(name)][-1]) for name in TABLE_METRICS if start_key(name) in history}
    else:
        metrics = {name: float(history[name][epoch - 1]) for name in TABLE_METRICS if name in history}
    return {"best_epoch": epoch, "metrics": metrics, "verdict": result}


def write_trial_summary(trial_dir: str, summary: dict) -> str:
    """Writes ``p7_trial.json`` into ``trial_dir`` (atomically); returns its path."""
    path = os.path.join(trial_dir, TRIAL_FILE)
    write_json(path, summary)
    return path


def read_trial_summary(trial_dir: str) -> dict | None:
    """The trial's ``p7_trial.json``, or None when the trial wrote none (failed or interrupted)."""
    return read_json(os.path.join(trial_dir, TRIAL_FILE))


def error_line(message: str | None) -> str:
    """The last non-empty line of an error message or traceback (the exception itself)."""
    lines = [line for line in (message or "").strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def trial_row(trial, summary: dict | None, columns: tuple[str, ...]) -> dict:
    """One row of the ranked table (unranked).

    Args:
        trial: a ``keras_tuner`` trial (its id, status, score, hyperparameter values, message).
        summary: the trial's ``p7_trial.json`` (or None).
        columns: the hyperparameter columns of the search space.

    Returns:
        A flat dict: ``trial``, ``status``, the hyperparameters, ``score``, the table metrics,
        ``verdict``, ``best_epoch``, ``epochs``, ``seconds``, ``rss_mib``, ``tuner_id`` and ``note``.
    """
    summary = summary or {}
    settings = {**trial.hyperparameters.values, **summary.get("settings", {})}
    score = trial.score if trial.status == COMPLETED else None
    row = {"trial": trial.trial_id, "status": trial.status}
    row.update({name: settings.get(name) for name in columns})
    row["score"] = None if score is None or not math.isfinite(score) else float(score)
    row.update({name: summary.get("metrics", {}).get(name) for name in TABLE_METRICS})
    row["verdict"] = summary.get("verdict", {}).get("status")
    for key in ("best_epoch", "epochs", "seconds", "rss_mib", "tuner_id"):
        row[key] = summary.get(key)
    row["note"] = "" if trial.status == COMPLETED else error_line(trial.message)
    return row


def rank_rows(rows: list[dict]) -> list[dict]:
    """Rows with a score first, highest first, then the others by trial id; adds ``rank`` (1-based)."""
    scored = sorted((r for r in rows if r["score"] is not None),
                    key=lambda r: (-r["score"], len(r["trial"]), r["trial"]))
    others = sorted((r for r in rows if r["score"] is None), key=lambda r: (len(r["trial"]), r["trial"]))
    return [{"rank": i + 1, **row} for i, row in enumerate(scored + others)]

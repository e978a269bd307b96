"""The ranked table of a search: printed, and saved as CSV and JSON (both written atomically).

Example:

>>> rows = [{"rank": 1, "trial": "0000", "margin": 0.07, "score": 0.21, "verdict": "PASS"}]
>>> print(format_table(rows, ["rank", "trial", "margin", "score", "verdict"]))
rank  trial  margin   score  verdict
   1   0000  0.0700  0.2100     PASS
"""

from __future__ import annotations

import csv

from p7keras.io import atomic_path, write_json
from tuner.results import TABLE_METRICS

# Columns after the hyperparameters, in table order.
TRAILING_COLUMNS = ("score", *TABLE_METRICS, "verdict", "best_epoch", "epochs", "seconds", "rss_mib",
                    "status", "tuner_id", "note")
# Columns the printed table leaves out (they stay in the CSV and JSON).
FILE_ONLY = ("seconds", "tuner_id", "note")
# Decimals shown per column (4 for other numbers).
DECIMALS = {"seconds": 1, "rss_mib": 1}


def table_columns(hyperparameters: tuple[str, ...]) -> list[str]:
    """Every column of the saved table: rank, trial, the hyperparameters, then :data:`TRAILING_COLUMNS`."""
    return ["rank", "trial", *hyperparameters, *TRAILING_COLUMNS]


def _cell(value, column: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value and abs(value) < 1e-3:  # a learning rate: 5e-05, not 0.0001
            return f"{value:.1e}"
        return f"{value:.{DECIMALS.get(column, 4)}f}"
    return str(value)


def format_table(rows: list[dict], columns: list[str]) -> str:
    """The rows as a right-aligned text table (missing values as ``-``).

    Args:
        rows: ranked rows.
        columns: the columns to show, in order.

    Returns:
        The table, header first, without a trailing newline.
    """
    cells = [[_cell(row.get(name), name) for name in columns] for row in rows]
    widths = [max([len(name)] + [len(line[i]) for line in cells]) for i, name in enumerate(columns)]
    lines = ["  ".join(name.rjust(w) if i else name.ljust(w) for i, (name, w) in enumerate(zip(columns, widths)))]
    lines += ["  ".join(cell.rjust(w) for cell, w in zip(line, widths)) for line in cells]
    return "\n".join(line.rstrip() for line in lines)


def printed_columns(columns: list[str]) -> list[str]:
    """The columns of the printed table (the saved ones minus :data:`FILE_ONLY`)."""
    return [name for name in columns if name not in FILE_ONLY]


def write_table(rows: list[dict], columns: list[str], csv_path: str, json_path: str, meta: dict) -> dict:
    """Saves the ranked rows as CSV (one row per trial) and JSON (``meta`` plus the rows).

    Args:
        rows: ranked rows.
        columns: the CSV columns, in order.
        csv_path: the CSV file.
        json_path: the JSON file.
        meta: search facts stored beside the rows in the JSON (grid, objective, best run...).

    Returns:
        ``{"csv": csv_path, "json": json_path}``.
    """
    with atomic_path(csv_path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    write_json(json_path, {**meta, "columns": columns, "trials": rows})
    return {"csv": csv_path, "json": json_path}

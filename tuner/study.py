"""The real-text study: recipes × training-set sizes × seeds, each row a training run evaluated against DIRECT.

``python -m tuner.study`` trains every recipe of :data:`RECIPES` it is asked for on a seeded subset of
whole training articles of each size (``--train-chunks``; val and ood articles never change), evaluates
the best model on the held-out ``ood`` articles of the same split (protocol ``all``, the ship gate's) beside
DIRECT and MEAN, and writes:

* ``rows.jsonl`` in the study folder, one row per finished run (a rerun of the same command skips them,
  so an interrupted study goes on where it stopped);
* the markdown table (``--out``, e.g. ``docs/real-text.md``), each row naming the two commands that
  reproduce it (``p7keras train ...`` then ``p7keras evaluate RUN_DIR``);
* ``gain.png`` beside the table: R@5 gain over DIRECT against training sequences, one line per recipe.

Example:

    $ python -m tuner.study --data ../shared/data/techprose_minilm384.npz --recipes small residual \\
          --train-chunks 5000 20000 0 --seeds 0 1 --out docs/real-text.md
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

from p7keras.io import atomic_path
from p7keras.training.config import TrainConfig, flag_of
from p7keras.training.presets import PRESETS

# Recipes: TrainConfig settings on top of the spec's defaults, sized for a 2-core CPU (the spec's full
# transformer is d_model 512 x 4 layers; "small" keeps every spec setting but the width and depth).
SMALL = {"d_model": 128, "num_heads": 4, "num_layers": 2, "ff_dim": 256}
RECIPES: dict[str, dict] = {
    "spec": {},
    "small": dict(SMALL),
    "lstm": {"model_type": "lstm", "d_model": 128, "num_layers": 2},
    "real-text": dict(PRESETS["real-text"]),  # the --preset real-text recipe
}
ALL_CHUNKS = 0  # --train-chunks 0: every training article
STUDY_DIR = os.path.join("saved_models", "study")
ROWS_FILE = "rows.jsonl"
ROW_COLUMNS = ("recipe", "data", "train_chunks", "train_sequences", "seed", "epochs_run", "R@5", "MRR@10",
               "DIRECT R@5", "DIRECT MRR@10", "MEAN R@5", "MEAN MRR@10", "gain R@5", "gain MRR@10", "margin",
               "cos_next", "cos_anchor", "minutes")


@dataclasses.dataclass(frozen=True)
class StudyRun:
    """One row of the study: a recipe on one data file, training-set size and seed."""

    recipe: str
    data: str
    train_chunks: int
    seed: int
    epochs: int
    output_dir: str

    @property
    def key(self) -> str:
        return f"{self.recipe}|{os.path.basename(self.data)}|{self.train_chunks}|{self.seed}|{self.epochs}"

    def config(self) -> TrainConfig:
        """The run's ``TrainConfig``: the recipe's settings on the spec's defaults."""
        return TrainConfig.from_dict({
            **RECIPES[self.recipe], "data": self.data, "seed": self.seed, "epochs": self.epochs,
            "train_chunks": self.train_chunks or None, "output_dir": self.output_dir, "export": False,
            "exp_name": f"study-{self.recipe}",
        })

    def train_command(self) -> str:
        """The ``p7keras train`` command that makes this run."""
        config, base = self.config(), TrainConfig()
        flags = []
        for field in ("data", "train_chunks", *RECIPES[self.recipe], "seed", "epochs", "exp_name", "output_dir"):
            value = getattr(config, field)
            if value is not None and (value != getattr(base, field) or field in ("data", "seed")):
                flags.append(f"{flag_of(field)} {value}")
        return "p7keras train " + " ".join(flags) + " --no-export"


def _short(path: str) -> str:
    return os.path.basename(path).removesuffix(".npz")


def run_one(run: StudyRun, stream) -> dict:
    """Trains and evaluates one study run; returns its row.

    Args:
        run: what to run.
        stream: where training prints.

    Returns:
        The row (every :data:`ROW_COLUMNS` entry, plus ``run_dir`` and the two commands).
    """
    from p7keras.evaluation import evaluate  # noqa: PLC0415
    from p7keras.training import train  # noqa: PLC0415

    start = time.perf_counter()
    config = run.config()
    result = train(config, stream=stream)
    evaluated = evaluate(result.run_dir, run.data, split="ood", seed=run.seed, latency_calls=2, strict_gate=False)
    (name, model), = evaluated["models"].items()
    ours, direct, mean = model["retrieval"]["all"], evaluated["baselines"]["DIRECT"]["all"], \
        evaluated["baselines"]["MEAN"]["all"]
    directional = model["directional"]
    return {
        "key": run.key, "recipe": run.recipe, "data": _short(run.data), "train_chunks": run.train_chunks or "all",
        "train_sequences": result.train_sequences,
        "seed": run.seed, "epochs_run": result.verdict.get("epochs_run"),
        "R@5": ours["R@5"], "MRR@10": ours["MRR@10"], "DIRECT R@5": direct["R@5"], "DIRECT MRR@10": direct["MRR@10"],
        "MEAN R@5": mean["R@5"], "MEAN MRR@10": mean["MRR@10"],
        "gain R@5": ours["R@5"] - direct["R@5"], "gain MRR@10": ours["MRR@10"] - direct["MRR@10"],
        "margin": directional["margin"], "cos_next": directional["cos_next"], "cos_anchor": directional["cos_anchor"],
        "minutes": round((time.perf_counter() - start) / 60, 1), "run_dir": result.run_dir,
        "ood_sequences": evaluated["data"]["sequences"], "model": name,
        "command": f"{run.train_command()} && p7keras evaluate {result.run_dir}",
    }


def read_rows(folder: str) -> list[dict]:
    """The finished rows of a study folder, in the order they were written."""
    path = os.path.join(folder, ROWS_FILE)
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def append_row(folder: str, row: dict) -> None:
    """Adds one finished row to ``rows.jsonl`` (rewritten atomically)."""
    rows = [*read_rows(folder), row]
    with atomic_path(os.path.join(folder, ROWS_FILE)) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in rows)


def _cell(value, column: str = "") -> str:
    if isinstance(value, float):
        if column == "minutes":
            return f"{value:.1f}"
        return f"{value:+.4f}" if column.startswith("gain") else f"{value:.4f}"
    return str(value)


def write_report(rows: list[dict], out: str, command: str, device: str) -> str:
    """Writes the markdown table and ``gain.png`` beside it; returns the markdown path."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    from matplotlib.figure import Figure  # noqa: PLC0415

    folder = os.path.dirname(os.path.abspath(out))
    png = os.path.join(folder, "real-text-gain.png")
    figure = Figure(figsize=(7, 4.5))
    axes = figure.add_subplot()
    for recipe in sorted({r["recipe"] for r in rows}):
        for data in sorted({r["data"] for r in rows if r["recipe"] == recipe}):
            points = sorted((r["train_sequences"], r["gain R@5"]) for r in rows
                            if r["recipe"] == recipe and r["data"] == data)
            axes.plot([p[0] for p in points], [p[1] for p in points], "o-", label=f"{recipe} ({data})")
    axes.axhline(0.0, color="black", linewidth=0.8)
    axes.axhline(0.10, color="green", linestyle="--", linewidth=0.8, label="ship gate (+0.10)")
    axes.set_xscale("log")
    axes.set_xlabel("training sequences")
    axes.set_ylabel("ood R@5 − DIRECT R@5 (protocol all)")
    axes.legend(fontsize=7)
    figure.tight_layout()
    with atomic_path(png) as tmp:
        figure.savefig(tmp, format="png", dpi=110)
    lines = [
        "# Real text: P7 recipes against DIRECT",
        "",
        f"Made by `{command}` ({device}). Every row: a run trained on a seeded subset of whole training",
        "articles (`--train-chunks`; val and ood articles unchanged), evaluated on the held-out `ood` articles",
        "of the same split under protocol `all` (bank = every ood chunk, the context included), beside DIRECT",
        "(the last context chunk) and MEAN (the context centroid) on the same split. Each row's two commands",
        "reproduce it.",
        "",
        f"![R@5 gain over DIRECT]({os.path.basename(png)})",
        "",
        "| " + " | ".join(ROW_COLUMNS) + " |",
        "|" + "---|" * len(ROW_COLUMNS),
    ]
    lines += ["| " + " | ".join(_cell(r.get(c), c) for c in ROW_COLUMNS) + " |" for r in rows]
    lines += ["", "## Commands", ""]
    lines += [f"{i + 1}. `{r['command']}`" for i, r in enumerate(rows)]
    with atomic_path(out) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tuner.study", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", required=True, help="chunk corpora (.npz), one study each")
    parser.add_argument("--recipes", nargs="+", default=["small"], choices=sorted(RECIPES),
                        help="recipes to run (default small)")
    parser.add_argument("--train-chunks", nargs="+", type=int, default=[ALL_CHUNKS],
                        help="training-set sizes in chunks (0: every training article)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1], help="split and initialisation seeds")
    parser.add_argument("--epochs", type=int, default=6, help="epochs per run (default 6)")
    parser.add_argument("--folder", default=STUDY_DIR, help=f"runs and rows.jsonl (default {STUDY_DIR})")
    parser.add_argument("--out", default=os.path.join("docs", "real-text.md"), help="the markdown table")
    parser.add_argument("--device-note", default="2-core CPU", help="the machine, named in the table")
    parser.set_defaults(func=run_study)
    return parser


def run_study(args: argparse.Namespace) -> int:
    """Runs every study row not yet in ``rows.jsonl`` and rewrites the table; exit code 0."""
    for path in args.data:
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no such corpus file")
    done = {row["key"] for row in read_rows(args.folder)}
    runs = [StudyRun(recipe, data, size, seed, args.epochs, args.folder)
            for data in args.data for size in args.train_chunks for recipe in args.recipes for seed in args.seeds]
    for i, run in enumerate(runs):
        if run.key in done:
            continue
        print(f"[{i + 1}/{len(runs)}] {run.key}", flush=True)
        with open(os.devnull, "w") as quiet:
            row = run_one(run, quiet)
        append_row(args.folder, row)
        print(f"    R@5 {row['R@5']:.4f} (DIRECT {row['DIRECT R@5']:.4f})  MRR@10 {row['MRR@10']:.4f} "
              f"(DIRECT {row['DIRECT MRR@10']:.4f})  {row['minutes']} min", flush=True)
    keys = {run.key for run in runs}
    rows = [row for row in read_rows(args.folder) if row["key"] in keys]
    command = "python -m tuner.study " + " ".join(sys.argv[1:])
    print(f"wrote {write_report(rows, args.out, command, args.device_note)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m tuner.study``: one-line errors and exit codes as every p7keras command."""
    from p7keras.console import quiet_tensorflow, run_console_command  # noqa: PLC0415

    quiet_tensorflow()
    return run_console_command(build_parser(), sys.argv[1:] if argv is None else argv, name="python -m tuner.study",
                               module="tuner.study")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

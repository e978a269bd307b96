"""The real-text study: recipes × training-set sizes × seeds, each row a training run evaluated against DIRECT.

``python -m tuner.study`` trains every recipe of :data:`RECIPES` it is asked for on a seeded subset of
whole training articles of each size (``--train-chunks``; val and ood articles never change), evaluates
the best model on the held-out ``ood`` articles of the same split (protocol ``all``, the ship gate's) beside
DIRECT and MEAN, and writes:

* ``rows.jsonl`` in the study folder, one row per finished run (a rerun of the same command skips them,
  so an interrupted study goes on where it stopped);
* the markdown table (``--out``, e.g. ``docs/real-text.md``; a study table there is rewritten, keeping its
  analysis, any other file is refused unless ``--overwrite``), each row naming the two commands that
  reproduce it (``p7keras train ... --run-name NAME --backend B; p7keras evaluate RUN_DIR --backend B``: the
  run folder is fixed and the backend named, and ``;`` runs the evaluation whatever the verdict), each gain
  with its 95% interval by a paired bootstrap over the held-out articles;
* with ``--transfer OTHER.npz``, every run also evaluated on all of another corpus (articles it never saw);
* ``--rerun N`` reruns row N of the table (its two commands, into a scratch folder) and compares its
  figures with the row's.
* ``real-text-gain.png`` beside the table: R@5 gain over DIRECT against training sequences, one line per
  recipe.

``--workers N`` runs N study processes side by side (each takes every N-th run, the most expensive first),
for a GPU that one small model leaves mostly idle; they share ``rows.jsonl`` under a file lock. Each row
names the device it ran on, so a study finished on another machine says so row by row.

Example:

    $ python -m tuner.study --data ../shared/data/techprose_minilm384.npz --recipes small residual \\
          --train-chunks 5000 20000 0 --seeds 0 1 --out docs/real-text.md
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time

from p7keras.config import PRECISIONS
from p7keras.data.splits import SPLIT_FRACTIONS
from p7keras.io import add_overwrite_argument, atomic_path, check_writable
from p7keras.training.config import TrainConfig, train_flags
from p7keras.training.presets import preset_settings

# Recipes: TrainConfig settings on top of the spec's defaults, sized for a 2-core CPU (the spec's full
# transformer is d_model 512 x 4 layers; "small" keeps every spec setting but the width and depth).
SMALL = {"d_model": 128, "num_heads": 4, "num_layers": 2, "ff_dim": 256}
RESIDUAL = {"head": "residual"}
RECIPES: dict[str, dict] = {
    "spec": {},
    "small": dict(SMALL),
    "lstm": {"model_type": "lstm", "d_model": 128, "num_layers": 2},
    # the spec's model and objective, started at DIRECT; then with 4096 earlier targets as extra negatives
    "residual": dict(RESIDUAL),
    "residual-queue": {**RESIDUAL, "negative_queue": 4096},
    "real-text": {"preset": "real-text"},
    # the preset with the spec's transformer (narrower) instead of the MLP, and with every training chunk
    # as a negative instead of the queue
    "real-text-transformer": {"preset": "real-text", "model_type": "transformer", "d_model": 256,
                              "num_heads": 4, "num_layers": 2, "ff_dim": 512},
    "real-text-corpus": {"preset": "real-text", "negative_queue": 0, "negatives": "corpus"},
}
ALL_CHUNKS = 0  # --train-chunks 0: every training article
STUDY_DIR = os.path.join("saved_models", "study")
ROWS_FILE = "rows.jsonl"
ROW_COLUMNS = ("recipe", "precision", "data", "train_chunks", "train_sequences", "seed", "epochs_run", "R@5", "MRR@10",
               "DIRECT R@5", "DIRECT MRR@10", "MEAN R@5", "gain R@5", "gain MRR@10", "learned gain", "margin",
               "cos_anchor", "minutes", "device")
TRANSFER_COLUMNS = ("recipe", "precision", "trained on", "seed", "evaluated on", "sequences", "articles", "R@5", "DIRECT R@5",
                    "gain R@5", "gain MRR@10", "learned gain", "device")
# figures --rerun compares (the same backend and machine give the same figures; others differ by float noise)
RERUN_FIGURES = ("R@5", "MRR@10", "DIRECT R@5", "DIRECT MRR@10")
RERUN_TOLERANCE = 1e-4
# the run-name suffix of each training precision (float32, the default, has none: older rows keep their names)
PRECISION_SUFFIX = {"float32": "", "mixed_bfloat16": "-bf16", "mixed_float16": "-fp16"}


@dataclasses.dataclass(frozen=True)
class StudyRun:
    """One row of the study: a recipe on one data file, training-set size, seed and training precision."""

    recipe: str
    data: str
    train_chunks: int
    seed: int
    epochs: int
    output_dir: str
    backend: str = dataclasses.field(default_factory=lambda: os.environ.get("KERAS_BACKEND", "tensorflow"))
    precision: str = "float32"

    def cost(self, corpus_chunks: int) -> tuple:
        """Sorts the most expensive runs first: the largest training sets, then the non-MLP recipes."""
        size = min(self.train_chunks or corpus_chunks, corpus_chunks)
        return (size, self.config().model_type != "flat")

    @property
    def key(self) -> str:
        key = f"{self.recipe}|{os.path.basename(self.data)}|{self.train_chunks}|{self.seed}|{self.epochs}"
        return key if self.precision == "float32" else f"{key}|{self.precision}"

    @property
    def run_name(self) -> str:
        """The run's fixed folder name under ``output_dir`` (``--run-name``)."""
        return (f"{self.recipe}-{_short(self.data)}-{self.train_chunks or 'all'}-s{self.seed}-e{self.epochs}"
                f"{PRECISION_SUFFIX[self.precision]}")

    def config(self) -> TrainConfig:
        """The run's ``TrainConfig``: the recipe's settings on the spec's defaults (or on its preset's)."""
        recipe = dict(RECIPES[self.recipe])
        return TrainConfig.from_dict(preset_settings(recipe.pop("preset", None), {
            **recipe, "data": self.data, "seed": self.seed, "epochs": self.epochs,
            "train_chunks": self.train_chunks or None, "output_dir": self.output_dir, "export": False,
            "exp_name": f"study-{self.recipe}", "run_name": self.run_name, "backend": self.backend,
            "precision": self.precision,
        }))

    def train_command(self) -> str:
        """The ``p7keras train`` command that makes this run (it parses back to :meth:`config`)."""
        return "p7keras train " + " ".join(train_flags(self.config()))

    def evaluate_command(self, data: str | None = None) -> str:
        """The ``p7keras evaluate`` command of the row: the run's own ood articles, or all of ``data``."""
        where = f" --data {data} --split all" if data else ""
        return (f"p7keras evaluate {os.path.join(self.output_dir, self.run_name)}{where} --allow-small "
                f"--backend {self.backend}")


def corpus_chunks(path: str) -> int:
    """The chunk count of a corpus ``.npz`` from its ``vectors`` header, without loading the vectors."""
    import zipfile  # noqa: PLC0415

    import numpy as np  # noqa: PLC0415

    with zipfile.ZipFile(path) as archive, archive.open("vectors.npy") as handle:
        version = np.lib.format.read_magic(handle)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
            np.lib.format.read_array_header_2_0
        return int(read_header(handle)[0][0])


def _short(path: str) -> str:
    return os.path.basename(path).removesuffix(".npz")


def device_name() -> str:
    """The accelerator Keras trains on (its name), else ``"<n>-core CPU"``."""
    import keras  # noqa: PLC0415

    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax  # noqa: PLC0415

            device = jax.devices()[0]
            if device.platform != "cpu":
                return f"{device.device_kind} (jax)"
        elif backend == "torch":
            import torch  # noqa: PLC0415

            if torch.cuda.is_available():
                return f"{torch.cuda.get_device_name(0)} (torch)"
        elif backend == "tensorflow":
            import tensorflow as tf  # noqa: PLC0415

            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
                return f"{name} (tensorflow)"
    except Exception:  # noqa: BLE001 (a name for the table, never a reason to fail a run)
        pass
    return f"{os.cpu_count()}-core CPU ({backend})"


def _gain_cell(gain: dict) -> str:
    return f"{gain['gain']:+.4f} [{gain['low']:+.4f}, {gain['high']:+.4f}]"


def _figures(evaluated: dict) -> dict:
    """The row's figures of one evaluation of one model: retrieval beside DIRECT and MEAN, gains with intervals."""
    (name, model), = evaluated["models"].items()
    ours, direct, mean = model["retrieval"]["all"], evaluated["baselines"]["DIRECT"]["all"], \
        evaluated["baselines"]["MEAN"]["all"]
    gains = model["gains"]["DIRECT"]["all"]
    return {
        "R@5": ours["R@5"], "MRR@10": ours["MRR@10"], "DIRECT R@5": direct["R@5"], "DIRECT MRR@10": direct["MRR@10"],
        "MEAN R@5": mean["R@5"], "MEAN MRR@10": mean["MRR@10"],
        "gain R@5": gains["R@5"]["gain"], "gain MRR@10": gains["MRR@10"]["gain"],
        "gain R@5 interval": [gains["R@5"]["low"], gains["R@5"]["high"]],
        "gain MRR@10 interval": [gains["MRR@10"]["low"], gains["MRR@10"]["high"]],
        "learned gain": model["learned_gain"]["judgement"].removeprefix("learned gain: "),
        "margin": model["directional"]["margin"], "cos_next": model["directional"]["cos_next"],
        "cos_anchor": model["directional"]["cos_anchor"],
        "sequences": evaluated["data"]["evaluated_sequences"], "articles": evaluated["data"]["articles"],
        "uncertainty": evaluated["uncertainty"]["note"], "model": name,
    }


def run_one(run: StudyRun, stream, device: str | None = None) -> dict:
    """Trains and evaluates one study run; returns its row.

    Args:
        run: what to run.
        stream: where training prints.
        device: the machine named in the row (None: :func:`device_name`).

    Returns:
        The row (every :data:`ROW_COLUMNS` entry, plus ``run_dir``, the gains' intervals and the two commands).
    """
    from p7keras.evaluation import evaluate  # noqa: PLC0415
    from p7keras.training import train  # noqa: PLC0415

    start = time.perf_counter()
    config = run.config()
    result = train(config, stream=stream)
    evaluated = evaluate(result.run_dir, run.data, split="ood", seed=run.seed, latency_calls=2, strict_gate=False,
                         diagnostics=False)
    return {
        "key": run.key, "recipe": run.recipe, "precision": run.precision, "data": _short(run.data), "train_chunks": run.train_chunks or "all",
        "train_sequences": result.train_sequences,
        "seed": run.seed, "epochs_run": result.verdict.get("epochs_run"),
        **_figures(evaluated),
        "minutes": round((time.perf_counter() - start) / 60, 1), "device": device or device_name(),
        "run_dir": result.run_dir, "ood_sequences": evaluated["data"]["sequences"],
        "command": f"{run.train_command()}; {run.evaluate_command()}",
    }


def transfer_one(run: StudyRun, target: str, device: str | None = None) -> dict:
    """Evaluates a finished study run on all of another corpus (articles it never saw): the transfer row."""
    from p7keras.evaluation import evaluate  # noqa: PLC0415

    evaluated = evaluate(os.path.join(run.output_dir, run.run_name), target, split="all", latency_calls=2,
                         strict_gate=False, diagnostics=False)
    return {"key": f"transfer|{run.key}|{os.path.basename(target)}", "kind": "transfer", "recipe": run.recipe,
            "precision": run.precision,
            "trained on": _short(run.data), "data": _short(run.data), "train_chunks": run.train_chunks or "all",
            "seed": run.seed, "evaluated on": _short(target), **_figures(evaluated),
            "device": device or device_name(), "command": run.evaluate_command(target)}


def read_rows(folder: str) -> list[dict]:
    """The finished rows of a study folder, in the order they were written."""
    path = os.path.join(folder, ROWS_FILE)
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def append_row(folder: str, row: dict) -> None:
    """Adds one finished row to ``rows.jsonl`` (rewritten atomically, under a lock shared by the workers)."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, ROWS_FILE + ".lock"), "w") as lock:
        try:
            import fcntl  # noqa: PLC0415 (POSIX; elsewhere one process writes at a time anyway)

            fcntl.flock(lock, fcntl.LOCK_EX)
        except ImportError:
            pass
        rows = [*read_rows(folder), row]
        with atomic_path(os.path.join(folder, ROWS_FILE)) as tmp, open(tmp, "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(r) + "\n" for r in rows)


def _cell(value, column: str = "", row: dict | None = None) -> str:
    if row is not None and column in ("gain R@5", "gain MRR@10") and f"{column} interval" in row:
        low, high = row[f"{column} interval"]
        return _gain_cell({"gain": row[column], "low": low, "high": high})
    if isinstance(value, float):
        if column == "minutes":
            return f"{value:.1f}"
        return f"{value:+.4f}" if column.startswith("gain") else f"{value:.4f}"
    return str(value)


ANALYSIS_MARK = "<!-- analysis: kept when the study rewrites this file -->"


def _order(row: dict) -> tuple:
    recipes = list(RECIPES)
    size = row["train_chunks"] if isinstance(row["train_chunks"], int) else float("inf")
    return (row["data"], recipes.index(row["recipe"]) if row["recipe"] in recipes else len(recipes), size,
            PRECISIONS.index(_precision(row)), row["seed"])


def _precision(row: dict) -> str:
    """A row's training precision (rows written before the study had precisions: float32)."""
    return row.get("precision", "float32")


def _judgements(group: list[dict]) -> str:
    """How many seeds' intervals say gain / no evidence / worse (older rows without intervals: '')."""
    found = [r["learned gain"] for r in group if "learned gain" in r]
    return ", ".join(f"{label} {found.count(label)}" for label in ("yes", "no evidence of a gain", "worse than DIRECT")
                     if found.count(label))


def _mean_rows(rows: list[dict]) -> list[str]:
    """One line per recipe × precision × corpus × size: the gains averaged over the seeds, and each seed's
    judgement."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["data"], row["recipe"], _precision(row), str(row["train_chunks"])), []).append(row)
    lines = ["| data | recipe | precision | train_chunks | train sequences | seeds | gain R@5 | gain MRR@10 | learned gain "
             "(seeds) | margin | device |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for (data, recipe, precision, size), group in groups.items():
        def mean(column):
            return sum(r[column] for r in group) / len(group)
        sequences = "–".join(sorted({str(r["train_sequences"]) for r in group}, key=int))
        devices = ", ".join(sorted({r.get("device", "2-core CPU") for r in group}))
        lines.append(f"| {data} | {recipe} | {precision} | {size} | {sequences} | {len(group)} | {mean('gain R@5'):+.4f} | "
                     f"{mean('gain MRR@10'):+.4f} | {_judgements(group)} | {mean('margin'):+.3f} | {devices} |")
    return lines


def _table(rows: list[dict], columns: tuple[str, ...]) -> list[str]:
    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns),
            *("| " + " | ".join(_cell(_precision(r) if c == "precision" else r.get(c, ""), c, r) for c in columns)
              + " |" for r in rows)]


def write_report(rows: list[dict], out: str) -> str:
    """Writes the markdown tables and ``real-text-gain.png`` beside them; returns the markdown path.

    Everything after :data:`ANALYSIS_MARK` in an existing ``out`` (the written conclusions) is kept.
    """
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    from matplotlib.figure import Figure  # noqa: PLC0415

    transfers = sorted((r for r in rows if r.get("kind") == "transfer"), key=_order)
    rows = sorted((r for r in rows if r.get("kind") != "transfer"), key=_order)
    plotted = [r for r in rows if _precision(r) == "float32"]  # the gain curve: the default precision's runs
    folder = os.path.dirname(os.path.abspath(out))
    png = os.path.join(folder, "real-text-gain.png")
    figure = Figure(figsize=(8, 5))
    axes = figure.add_subplot()
    colors = {name: f"C{i}" for i, name in enumerate(RECIPES)}  # one colour per recipe, one marker per corpus
    for data in sorted({r["data"] for r in plotted}):
        for recipe in [name for name in RECIPES if any(r["recipe"] == name and r["data"] == data for r in plotted)]:
            by_size: dict[str, list[dict]] = {}
            for r in plotted:
                if r["recipe"] == recipe and r["data"] == data:
                    by_size.setdefault(str(r["train_chunks"]), []).append(r)
            points = sorted((sum(r["train_sequences"] for r in g) / len(g), sum(r["gain R@5"] for r in g) / len(g))
                            for g in by_size.values())
            axes.plot([p[0] for p in points], [p[1] for p in points], "o-" if data.startswith("tech") else "s--",
                      color=colors[recipe], label=f"{recipe} ({data})")
    axes.axhline(0.0, color="black", linewidth=0.8)
    axes.axhline(0.10, color="green", linestyle="--", linewidth=0.8, label="ship gate (+0.10)")
    axes.set_xscale("log")
    axes.set_xlabel("training sequences")
    axes.set_ylabel("ood R@5 − DIRECT R@5 (protocol all, mean of seeds)")
    axes.legend(fontsize=6, ncol=2)
    figure.tight_layout()
    with atomic_path(png) as tmp:
        figure.savefig(tmp, format="png", dpi=110)
    analysis = ""
    if os.path.exists(out):
        with open(out, encoding="utf-8") as handle:
            text = handle.read()
        if ANALYSIS_MARK in text:
            analysis = text[text.index(ANALYSIS_MARK) + len(ANALYSIS_MARK):].strip("\n")
    lines = [
        "# Real text: P7 recipes against DIRECT",
        "",
        "Written by `python -m tuner.study` (every row of its folder). Every row: a run trained on a seeded",
        "subset of whole training articles (`--train-chunks`, 0 = all; val and ood articles unchanged),",
        "evaluated on the held-out `ood` articles of the same split under protocol `all` (bank = every ood",
        "chunk, the context included), beside DIRECT (the last context chunk) and MEAN (the context centroid) on",
        "the same split. Ship gate: gain R@5 ≥ +0.10 and gain MRR@10 ≥ +0.05. Each gain is shown with its 95%",
        "interval from a paired bootstrap over the held-out articles (`p7keras evaluate`); *learned gain* is",
        "`yes` when the interval's lower bound is above 0, `worse than DIRECT` when its upper bound is below 0,",
        "else `no evidence of a gain`. Each row names the machine and backend it ran on, and its two commands",
        "(under **Commands**) reproduce it; `python -m tuner.study --rerun N --out docs/real-text.md` reruns",
        "row N and compares its figures.",
        "",
        f"![R@5 gain over DIRECT]({os.path.basename(png)})",
        "",
        "## Mean over seeds",
        "",
        *_mean_rows(rows),
        "",
        "## Every run",
        "",
        *_table(rows, ROW_COLUMNS),
    ]
    if transfers:
        lines += ["", "## Transfer: a model evaluated on another corpus", "",
                  "Every chunk of the other corpus is the bank (split `all`); the model never saw its articles.",
                  "", *_table(transfers, TRANSFER_COLUMNS)]
    lines += ["", "## Commands", ""]
    lines += [f"{i + 1}. `{r['command']}`" for i, r in enumerate([*rows, *transfers])]
    lines += ["", ANALYSIS_MARK, ""] + ([analysis, ""] if analysis else [])
    with atomic_path(out) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))
    return out


def is_study_table(path: str) -> bool:
    """Whether ``path`` is a table this study wrote (it holds :data:`ANALYSIS_MARK`): rewritten without
    ``--overwrite``, as a study resumes."""
    try:
        with open(path, encoding="utf-8") as handle:
            return ANALYSIS_MARK in handle.read()
    except (OSError, UnicodeDecodeError):
        return False


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tuner.study", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", default=[], help="chunk corpora (.npz), one study each (required "
                        "unless --rerun)")
    parser.add_argument("--recipes", nargs="+", default=["small"], choices=sorted(RECIPES),
                        help="recipes to run (default small)")
    parser.add_argument("--train-chunks", nargs="+", type=int, default=[ALL_CHUNKS],
                        help="training-set sizes in chunks (0: every training article)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1], help="split and initialisation seeds")
    parser.add_argument("--epochs", type=int, default=6, help="epochs per run (default 6)")
    parser.add_argument("--precisions", nargs="+", default=["float32"], choices=PRECISIONS,
                        help="training precisions (Keras dtype policies), each a row of its own (default float32)")
    parser.add_argument("--folder", default=STUDY_DIR, help=f"runs and rows.jsonl (default {STUDY_DIR})")
    parser.add_argument("--out", default=os.path.join("docs", "real-text.md"),
                        help="the markdown table (a study table there is rewritten, keeping its analysis)")
    add_overwrite_argument(parser, "an --out file that is not a study table")
    parser.add_argument("--workers", type=int, default=1,
                        help="study processes side by side (default 1; more where one run leaves a GPU idle)")
    parser.add_argument("--transfer", nargs="+", default=[], metavar="OTHER.npz",
                        help="also evaluate every run on all of each of these corpora (a corpus is skipped for the "
                        "runs trained on it)")
    parser.add_argument("--rerun", type=int, default=None, metavar="N",
                        help="rerun row N of the table's Commands (its commands, into a scratch folder) and compare "
                        "its figures with the row's; exit 1 when they differ")
    parser.add_argument("--device-note", default=None,
                        help="the machine named in each row (default: the accelerator Keras finds, else the CPU)")
    parser.add_argument("--shard", default=None, help=argparse.SUPPRESS)  # I/N: a worker's share of the runs
    parser.set_defaults(func=run_study)
    return parser


def _worker_argv(argv: list[str], shard: int, workers: int) -> list[str]:
    """The study's own arguments for worker ``shard`` of ``workers`` (``--workers`` dropped)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--workers":
            skip = True
        elif not arg.startswith("--workers="):
            out.append(arg)
    return [*out, "--shard", f"{shard}/{workers}"]


def _run_workers(argv: list[str], workers: int) -> int:
    """Starts ``workers`` study processes on the same arguments and waits for them; the worst exit code."""
    env = dict(os.environ)
    # JAX takes 75% of a GPU per process by default: share it. TensorFlow takes it all unless told to grow.
    env.setdefault("XLA_PYTHON_CLIENT_MEM_FRACTION", f"{0.9 / workers:.3f}")
    env.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    children = [subprocess.Popen([sys.executable, "-m", "tuner.study", *_worker_argv(argv, i, workers)], env=env)
                for i in range(workers)]
    codes = [child.wait() for child in children]
    for i, code in enumerate(codes):
        if code:
            print(f"python -m tuner.study: worker {i} of {workers} ended with exit code {code}", file=sys.stderr)
    return max(codes, key=abs)


def _shard(text: str | None) -> tuple[int, int]:
    if text is None:
        return 0, 1
    index, _, count = text.partition("/")
    if not (index.isdigit() and count.isdigit() and int(index) < int(count)):
        raise ValueError(f"--shard must be I/N with 0 <= I < N, got {text!r}")
    return int(index), int(count)


def _run_command(words: list[str], where: str) -> None:
    """Runs one row command (``p7keras ...``) in a child process, as a user would."""
    import shlex  # noqa: PLC0415

    print(f"$ {shlex.join(words)}", flush=True)
    code = subprocess.call([sys.executable, "-m", "p7keras", *words[1:]], cwd=where)
    if code not in (0, 1):  # 1: a FAIL verdict, the row's figures are still made
        raise RuntimeError(f"{shlex.join(words)} ended with exit code {code}")


def rerun_row(rows: list[dict], number: int, scratch: str) -> list[tuple[str, float, float]]:
    """Reruns row ``number`` (1-based, the order of the table's Commands) into ``scratch``.

    The training command runs with ``--output-dir scratch`` and the evaluation reads the run there (a
    transfer row reevaluates the study's own run). Returns ``(figure, the row's, the rerun's)`` for each of
    :data:`RERUN_FIGURES`.
    """
    import shlex  # noqa: PLC0415

    ordered = sorted((r for r in rows if r.get("kind") != "transfer"), key=_order) + \
        sorted((r for r in rows if r.get("kind") == "transfer"), key=_order)
    if not 1 <= number <= len(ordered):
        raise ValueError(f"--rerun must be a row number from 1 to {len(ordered)}, got {number}")
    row = ordered[number - 1]
    commands = [shlex.split(part) for part in row["command"].split("; ")]
    if commands[0][:2] == ["p7keras", "train"]:
        train_words = commands.pop(0)
        output = train_words[train_words.index("--output-dir") + 1]
        _run_command([*train_words, "--output-dir", scratch], os.getcwd())
        evaluate_words = [w.replace(output, scratch, 1) if w.startswith(output) else w for w in commands[0]]
    else:
        evaluate_words = commands[0]
    report = os.path.join(scratch, "rerun.json")
    _run_command([*evaluate_words, "--json", report], os.getcwd())
    with open(report, encoding="utf-8") as handle:
        figures = _figures(json.load(handle))
    return [(name, row[name], figures[name]) for name in RERUN_FIGURES]


def run_study(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    """Runs every study row not yet in ``rows.jsonl`` and rewrites the table; exit code 0."""
    for path in [*args.data, *args.transfer]:
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no such corpus file")
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    if not args.data and args.rerun is None:
        raise ValueError("--data is required: the corpora to study (or --rerun N, a row of the study folder)")
    if args.rerun is None:  # the table the study writes at the end, and the precisions, checked before the runs
        check_writable(args.out, overwrite=args.overwrite or is_study_table(args.out))
        from p7keras.training.preflight import check_precision  # noqa: PLC0415 (starts Keras for mixed_float16)

        for precision in args.precisions:
            check_precision(precision, "auto")
    if args.rerun is not None:
        import tempfile  # noqa: PLC0415

        with tempfile.TemporaryDirectory(prefix="p7-rerun-") as scratch:
            compared = rerun_row(read_rows(args.folder), args.rerun, scratch)
        same = all(abs(ours - theirs) <= RERUN_TOLERANCE for _, ours, theirs in compared)
        for name, ours, theirs in compared:
            print(f"  {name:14s} row {ours:.4f}  rerun {theirs:.4f}  {'same' if abs(ours - theirs) <= RERUN_TOLERANCE else 'DIFFERS'}")
        print(f"row {args.rerun}: {'reproduced' if same else 'NOT reproduced'} (tolerance {RERUN_TOLERANCE})")
        return 0 if same else 1
    argv = sys.argv[1:] if argv is None else argv
    shard, shards = _shard(args.shard)
    sizes = {path: corpus_chunks(path) for path in args.data}
    runs = [StudyRun(recipe, data, size, seed, args.epochs, args.folder, precision=precision)
            for data in args.data for size in args.train_chunks for recipe in args.recipes for seed in args.seeds
            for precision in args.precisions
            if size == ALL_CHUNKS or size < SPLIT_FRACTIONS[0] * sizes[data]]  # larger: the whole training set
    if args.workers > 1:
        code = _run_workers(argv, args.workers)
        if code:
            return code
    else:
        done = {row["key"] for row in read_rows(args.folder)}
        mine = sorted(runs, key=lambda run: run.cost(sizes[run.data]), reverse=True)[shard::shards]
        for run in mine:
            if run.key not in done:
                print(f"[{runs.index(run) + 1}/{len(runs)}] {run.key}", flush=True)
                with open(os.devnull, "w") as quiet:
                    row = run_one(run, quiet, args.device_note)
                append_row(args.folder, row)
                print(f"    R@5 {row['R@5']:.4f} (DIRECT {row['DIRECT R@5']:.4f})  gain {_cell(0.0, 'gain R@5', row)}  "
                      f"learned gain: {row['learned gain']}  {row['minutes']} min", flush=True)
            for target in args.transfer:
                key = f"transfer|{run.key}|{os.path.basename(target)}"
                if os.path.abspath(target) == os.path.abspath(run.data) or key in done:
                    continue
                row = transfer_one(run, target, args.device_note)
                append_row(args.folder, row)
                print(f"    on {_short(target)}: R@5 {row['R@5']:.4f} (DIRECT {row['DIRECT R@5']:.4f})  gain "
                      f"{_cell(0.0, 'gain R@5', row)}  learned gain: {row['learned gain']}", flush=True)
        if args.shard is not None:
            return 0  # the parent writes the table once every worker is done
    print(f"wrote {write_report(read_rows(args.folder), args.out)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m tuner.study``: one-line errors and exit codes as every p7keras command."""
    from p7keras.console import quiet_tensorflow, run_console_command  # noqa: PLC0415

    quiet_tensorflow()
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    parser.set_defaults(func=lambda args: run_study(args, argv))
    return run_console_command(parser, argv, name="python -m tuner.study", module="tuner.study")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

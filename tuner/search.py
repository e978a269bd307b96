"""A P7 hyperparameter search end to end: ``python -m tuner.search`` (the same as ``p7keras tune``).

``run_search(config)`` builds the hypermodel and the KerasTuner tuner, runs (or resumes) the search,
then, in the process that owns the results (the only one, or the chief in distributed mode):

* prints the ranked table and saves it as ``results.csv`` and ``results.json`` in the project folder
  (``results.json`` also holds the RSS after every trial, from ``trial_events.jsonl``);
* saves the best trial as a run directory under ``--output-dir`` (``saved_models/`` by default);
* writes TensorBoard HParams logs to ``<project>/tensorboard``.

The project folder is locked (:func:`search_lock`) before any work: a second search on it is refused in
one line naming the first, and a search killed with ``kill -9`` leaves a lock the next one takes over.

Distributed mode is KerasTuner's: with ``KERASTUNER_ORACLE_IP``/``KERASTUNER_ORACLE_PORT`` set, the
process whose ``KERASTUNER_TUNER_ID`` contains ``chief`` serves the oracle and reports; the others
are workers that run trials (see ``tuner/launch_distributed.sh``).

Keras, KerasTuner and the modules built on them (``tuner.hypermodel``, ``tuner.tuners``) are imported in
the functions that run a search: ``p7keras tune --help`` loads neither, and Keras starts only after
the settings, every grid point, :func:`p7keras.training.preflight.preflight` (which chooses the backend)
and the data (loaded and windowed for every K of the grid, numpy only) are checked: a bad grid, flag or
data file is one line before Keras loads.

Example:

    $ python -m tuner.search --grid priority1 --data corpus.npz --epochs 5
    $ python -m tuner.search --grid recommended --objective val_R@5 --tuner bayesian --max-trials 4
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import dataclasses
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

from p7keras.console import import_keras_quietly, quiet_tensorflow, run_console_command
from p7keras.io import atomic_path, read_json, write_json
from p7keras.locks import FolderLock
from p7keras.training.default_precision import precision_line
from p7keras.training.preflight import check_data, check_device, check_precision, preflight
from p7keras.training.run_dir import FINISHED, STATE_FILE
from tuner.arguments import TUNE_DESCRIPTION, add_arguments, config_from_args
from tuner.best_run import save_best_run
from tuner.config import SETTINGS_FILE, SearchConfig
from tuner.hparams_log import write_hparams
from tuner.report import format_table, printed_columns, table_columns, write_table
from tuner.results import COMPLETED, OBJECTIVES, error_line, read_trial_summary, rank_rows, trial_row
from tuner.windows import WindowCache

RESULTS_CSV = "results.csv"
RESULTS_JSON = "results.json"
TENSORBOARD_DIR = "tensorboard"


@dataclasses.dataclass
class SearchResult:
    """What a search process produced.

    Attributes:
        role: ``single``, ``chief`` or ``worker``.
        project_dir: the KerasTuner project folder.
        rows: the ranked table (empty for a worker).
        completed: trials that finished.
        best_run: the best model's run directory (None for a worker or without a finished trial).
        files: paths written (``csv``, ``json``, ``tensorboard``).
    """

    role: str
    project_dir: str
    rows: list
    completed: int
    best_run: str | None
    files: dict


def distributed_role() -> str:
    """``single`` without ``KERASTUNER_ORACLE_IP``; else ``chief`` or ``worker`` by ``KERASTUNER_TUNER_ID``."""
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return "single"
    return "chief" if "chief" in os.environ.get("KERASTUNER_TUNER_ID", "") else "worker"


def _best_run(tuner, config: SearchConfig, best: dict | None, summaries: dict, previous: dict) -> str | None:
    """The best trial's run directory: the one saved before for the same trial, else a new one."""
    if best is None:
        return None
    earlier = previous.get("best_run") or {}
    state = read_json(os.path.join(earlier.get("path") or "", STATE_FILE), {})
    if earlier.get("trial") == best["trial"] and state.get("status") == FINISHED:
        return earlier["path"]
    search = {"grid": config.grid, "tuner": config.tuner, "objective": config.objective,
              "project_dir": config.project_dir}
    return save_best_run(tuner, best["trial"], summaries[best["trial"]], search)


def report(tuner, config: SearchConfig, stream=None) -> SearchResult:
    """Ranks the trials, saves the table, the best run directory and the HParams logs, and prints them.

    Args:
        tuner: the tuner after ``search`` (its oracle holds every trial).
        config: the search's settings.
        stream: where the table goes (default ``sys.stdout``).

    Returns:
        The :class:`SearchResult`.
    """
    from tuner.tuners import read_events  # noqa: PLC0415 (KerasTuner)

    stream = stream or sys.stdout
    space, project_dir = config.space, config.project_dir
    summaries, rows = {}, []
    for trial in tuner.oracle.trials.values():
        summary = read_trial_summary(tuner.get_trial_dir(trial.trial_id))
        if summary is not None and trial.status == COMPLETED:
            summaries[trial.trial_id] = summary
        rows.append(trial_row(trial, summary, space.columns))
    rows = rank_rows(rows)
    best = next((row for row in rows if row["score"] is not None and row["trial"] in summaries), None)
    json_path = os.path.join(project_dir, RESULTS_JSON)
    best_run = _best_run(tuner, config, best, summaries, read_json(json_path, {}))
    columns = table_columns(space.columns)
    memory = [{"trial": e["trial_id"], "tuner_id": e["tuner_id"], "rss_mib": e["rss_mib"]}
              for e in read_events(project_dir) if e["event"] == "end"]
    meta = {"grid": config.grid, "tuner": config.tuner, "objective": config.objective, "project_dir": project_dir,
            "completed": len(summaries), "best_run": best and {"trial": best["trial"], "path": best_run},
            "memory": memory}
    files = write_table(rows, columns, os.path.join(project_dir, RESULTS_CSV), json_path, meta)
    if importlib.util.find_spec("tensorboard") and importlib.util.find_spec("tensorflow"):
        files["tensorboard"] = write_hparams(os.path.join(project_dir, TENSORBOARD_DIR), rows, space.columns,
                                             summaries)  # HParams logs need TensorFlow's writer
    kept = " of the model each trial keeps (its start unless an epoch beats it beyond noise)" \
        if config.objective != OBJECTIVES[0] else ""
    print(f"\nRanked trials ({config.grid}, {config.tuner}, objective {config.objective}{kept} = score, maximised)",
          file=stream)
    print(format_table(rows, printed_columns(columns)), file=stream)
    print(f"\nBest model: {best_run or 'none (no trial finished)'}", file=stream)
    for name, path in files.items():
        print(f"  {name:<12} {path}", file=stream)
    return SearchResult("single", project_dir, rows, len(summaries), best_run, files)


def run_search(config: SearchConfig, stream=None) -> SearchResult:
    """Runs (or resumes) a search; the chief-less process or the chief then reports it.

    With a trials-per-process quota (``SearchConfig.process_quota``: by default on TensorFlow) the
    trials run in fresh child processes, that many each, one after the other: each child resumes the
    search (a distributed worker: asks the chief for trials again), runs its share and exits, and the
    last one reports. Their output is passed on to
    ``stream``; an error in a child is raised here.

    Example:

        result = run_search(SearchConfig(grid="recommended", train={"d_model": 16, "num_heads": 2, "epochs": 1,
                                                                     "dim": 16}))
        result.rows[0]["verdict"], result.best_run

    Args:
        config: the search's settings.
        stream: where the report goes (default ``sys.stdout``).

    Returns:
        A :class:`SearchResult` (a worker's has no rows).

    Raises:
        ValueError: an impossible setting, unreadable data, another search's settings in the project folder,
            an unavailable device (all before any trial runs).
        p7keras.locks.FolderInUseError: another live search works in the project folder (a ValueError).
    """
    config.check()
    preflight(config.base)  # once for the whole search: its trials share the base's backend and device
    if distributed_role() != "worker":
        print(precision_line(*config.base_precision), file=stream or sys.stdout)
    data = window_every_k(config)  # numpy only: bad data or a K too long is refused before Keras starts
    for loaded in (data.source, data.val):  # degenerate data: refused or warned once, as train does
        if loaded is not None:
            check_data(loaded, config.base.context_length, stream)
    with search_lock(config):  # after the checks: a refused search leaves no lock file behind
        import_keras_quietly()
        check_device(config.base.device)
        check_precision(config.base.precision, config.base.device)
        import keras  # noqa: PLC0415 (the backend preflight selected)

        quota = config.process_quota(keras.backend.backend())
        if quota and distributed_role() != "chief":  # the chief serves the oracle and trains nothing
            del data  # each trial process loads its own copy
            return _search_in_processes(config, quota, stream or sys.stdout)
        return _search(config, stream, data=data)


def search_lock(config: SearchConfig):
    """The lock of a search's project folder, held by the process that runs (or, distributed, serves) it.

    A second search on the same folder is refused in one line naming the live one; a lock left by a killed
    search is taken over, and the search resumes. Distributed workers share the chief's folder and take no
    lock, nor do the child processes of one search (their parent holds it). The lock file lies beside the
    folder (``<directory>/.<project>.p7keras.lock``): ``--overwrite`` removes the folder itself.

    Example:

        with search_lock(SearchConfig(grid="priority1")):
            ...   # another process: FolderInUseError: search folder saved_models/tuning/priority1-grid is in use ...

    Returns:
        A context manager holding the lock (nothing for a distributed worker).
    """
    if distributed_role() == "worker":
        return contextlib.nullcontext()
    return FolderLock(config.project_dir, "search folder",
                      os.path.join(config.directory, f".{config.project}.p7keras.lock"))


def window_every_k(config: SearchConfig, data: WindowCache | None = None) -> WindowCache:
    """The search's data (:meth:`WindowCache.from_config` unless given), windowed for every K of the grid.

    Example:

        window_every_k(SearchConfig(grid="recommended", train={"dim": 16})).splits(5).train.context_length   # 5

    Raises:
        FileNotFoundError, p7keras.data.DataError: unreadable data, or a K of the grid too long for it.
    """
    base = config.base
    data = data or WindowCache.from_config(base)
    for k in sorted({dataclasses.replace(base, **config.space.resolve(p)).context_length for p in config.space.points()}):
        data.splits(k)  # every K of the grid windowed (and checked against the data) before any trial
    return data


def _search(config: SearchConfig, stream=None, quota: int | None = None, first: bool = True,
            data: WindowCache | None = None) -> SearchResult | None:
    """The search in this process: at most ``quota`` trials (None: all); None when trials are left.

    ``data``: the search's data windowed for every K (:func:`window_every_k`; None: loaded here).
    """
    import keras_tuner.src.config  # noqa: PLC0415

    from tuner.hypermodel import P7HyperModel  # noqa: PLC0415 (Keras, KerasTuner)
    from tuner.tuners import QuotaReached, make_tuner  # noqa: PLC0415 (KerasTuner)

    # KerasTuner prints every failed trial's traceback; TrialLog prints one line (P7KERAS_DEBUG: both).
    keras_tuner.src.config.DEBUG = bool(os.environ.get("P7KERAS_DEBUG"))
    base = config.base
    role = distributed_role()
    if role != "worker":
        config.check_resumable()
    data = window_every_k(config, data)
    # the first build says how the trials compile, once a search (not by a worker, nor by a later process)
    said = (stream or sys.stdout) if first and role != "worker" else None
    hypermodel = P7HyperModel(config.space, base, data, config.objective, stream=said)
    try:
        tuner = make_tuner(config.tuner, hypermodel, directory=config.directory, project_name=config.project,
                           max_trials=config.max_trials, overwrite=config.overwrite and role != "worker",
                           seed=base.seed)
    except json.JSONDecodeError as exc:  # a state file damaged outside this package (its own are atomic)
        raise ValueError(f"cannot resume the search in {config.project_dir}: a state file there is not valid "
                         f"JSON ({exc}); pass --overwrite to start it over") from None
    tuner.stop_after(quota)
    if role != "worker":
        write_json(os.path.join(config.project_dir, SETTINGS_FILE), config.settings())
        done = sum(t.status == COMPLETED for t in tuner.oracle.trials.values())
        if done and first:
            print(f"Resuming {config.project_dir}: {done} trial(s) already finished", file=stream or sys.stdout)
    start = time.perf_counter()
    try:
        tuner.search()
    except QuotaReached:
        return None
    except RuntimeError as exc:  # KerasTuner's stop after failed trials carries a whole traceback
        lines = str(exc).strip().splitlines()
        if len(lines) < 2:
            raise
        raise RuntimeError(f"{lines[0]} Last error: {error_line(str(exc))} (the trials' trial.json files in "
                           f"{config.project_dir} hold the tracebacks)") from None
    if role == "worker":
        print(f"worker {tuner.tuner_id} finished after {time.perf_counter() - start:.1f} s", file=stream or sys.stdout)
        return SearchResult(role, config.project_dir, [], 0, None, {})
    return dataclasses.replace(report(tuner, config, stream), role=role)


# Exceptions a search child hands back to its parent by name (JSON, never pickle); any other becomes a
# RuntimeError naming its type. The parent raises it, so the console gives the same line and exit code.
_CHILD_ERRORS = {cls.__name__: cls for cls in (ValueError, KeyError, FileNotFoundError, PermissionError,
                                                 IsADirectoryError, NotADirectoryError, OSError, RuntimeError)}


def _write_message(path: str, message: dict) -> None:
    """One JSON message between the search parent and a child, written atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        json.dump(message, handle)


def _read_message(path: str) -> dict:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _error_message(exc: BaseException) -> dict:
    name = type(exc).__name__ if type(exc).__name__ in _CHILD_ERRORS else "RuntimeError"
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    if name == "RuntimeError" and not isinstance(exc, RuntimeError):
        text = f"{type(exc).__name__}: {text}"
    return {"kind": "error", "type": name, "message": text}


def _search_in_processes(config: SearchConfig, quota: int, stream) -> SearchResult:
    """Runs the search in child processes of ``quota`` trials each until one of them reports it.

    Parent and child talk through two JSON files (``job.json``: the search settings, ``answer.json``:
    the result or the error), so nothing is unpickled.
    """
    first = True
    with tempfile.TemporaryDirectory(prefix="p7keras-tune-") as folder:
        job, answer = os.path.join(folder, "job.json"), os.path.join(folder, "answer.json")
        while True:
            _write_message(job, {"config": dataclasses.asdict(config), "quota": quota, "first": first})
            command = [sys.executable, "-u", "-c", CHILD_COMMAND, job, answer, str(os.getpid())]
            child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, bufsize=1)
            try:
                for line in child.stdout:
                    stream.write(line)
                    stream.flush()
                child.wait()
            except BaseException:  # Ctrl-C (the child ignores it) or any failure here: the child goes too
                child.kill()
                child.wait()
                raise
            finally:
                child.stdout.close()
            if child.returncode != 0 or not os.path.exists(answer):
                raise RuntimeError(f"a search process exited with code {child.returncode} before it finished its "
                                   f"trials; run the same command again to resume {config.project_dir}")
            message = _read_message(answer)
            os.remove(answer)
            if message["kind"] == "error":
                raise _CHILD_ERRORS.get(message["type"], RuntimeError)(message["message"])
            if message["result"] is not None:
                return SearchResult(**message["result"])
            config, first = dataclasses.replace(config, overwrite=False), False


CHILD_COMMAND = "import sys; from tuner.search import child_main; child_main(*sys.argv[1:])"


def child_main(job: str, answer: str, parent: str) -> None:
    """A child of :func:`run_search`: runs its share of trials and writes the outcome to ``answer`` (JSON).

    It dies with its parent (``PR_SET_PDEATHSIG`` on Linux), so a killed search leaves no trial running,
    and leaves Ctrl-C to the parent, which kills it (an interrupted trial runs again on resume).
    """
    _die_with(int(parent))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it kills this process
    import_keras_quietly()
    request = _read_message(job)
    config = SearchConfig(**request["config"])
    try:
        result = _search(config, sys.stdout, request["quota"], request["first"])
        message = {"kind": "result", "result": None if result is None else dataclasses.asdict(result)}
    except Exception as exc:  # handed to the parent, which raises it
        message = _error_message(exc)
    _write_message(answer, message)


def _die_with(parent: int) -> None:
    """Asks Linux to kill this process when its parent dies; exits now when the parent is gone already."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the child outlives a killed parent
        return
    if os.getppid() != parent:
        os._exit(1)


def run_command(args: argparse.Namespace) -> int:
    """Runs the search of parsed flags; exit code 0 when it ended with a finished trial (or as a worker)."""
    result = run_search(config_from_args(args))
    return 0 if result.role == "worker" or result.completed else 1


def main(argv: list[str] | None = None) -> int:
    """``python -m tuner.search [flags]``: the ``p7keras tune`` command (same flags, errors, exit codes)."""
    quiet_tensorflow()
    parser = argparse.ArgumentParser(prog="python -m tuner.search", description=TUNE_DESCRIPTION)
    add_arguments(parser)
    parser.set_defaults(func=run_command, uses_keras=False)  # run_search imports Keras once the data is checked
    # The same command as ``p7keras tune``: its errors carry that name.
    return run_console_command(parser, sys.argv[1:] if argv is None else argv, name="p7keras tune",
                               module="tuner.search")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

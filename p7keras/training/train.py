"""``train(config)``: one P7 training run end to end, with its run directory.

Example:

    from p7keras.training import TrainConfig, train
    result = train(TrainConfig(context_length=7, margin=0.10, anchor_lambda=0.9, epochs=12))
    result.verdict["status"], result.run_dir      # ('PASS', 'saved_models/p7_20260101-120000')
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from p7keras.config import JIT_COMPILE_SETTINGS
from p7keras.training.distribute import (
    check_same_weights,
    data_parallel,
    process_lock,
    process_slice,
    share_text,
)
from p7keras.training.config import TrainConfig
from p7keras.training.default_precision import precision_line
from p7keras.training.footprint import disk_need
from p7keras.training.preflight import check_data, check_device, check_precision, preflight
from p7keras.training.run_dir import FAILED, RunDirectory
from p7keras.verdict import start_key

# Metrics shown in the closing table.
SUMMARY_METRICS = ("loss", "margin", "cos_next", "cos_prev", "cos_anchor", "gate_weight_mean", "anchor_lambda",
                   "R@5", "MRR@10")


@dataclasses.dataclass
class RunResult:
    """What a finished run produced."""

    run_dir: str
    verdict: dict
    history: dict
    files: dict
    resumed: bool
    train_sequences: int  # sequences of the training split (after --train-chunks)


def load_data(config: TrainConfig, stream=None):
    """The run's train/val/ood splits (of ``config.data_source()``: a file or the synthetic corpus).

    Each file is checked for degenerate data first (:func:`p7keras.training.preflight.check_data`: warnings
    on ``stream``, default ``sys.stdout``; every vector the same raises ``DataError``).
    """
    from p7keras import data  # noqa: PLC0415

    source, val = (None if s is None else data.load(s) if isinstance(s, (str, os.PathLike)) else s
                   for s in config.data_source())
    for loaded in (source, val):
        if loaded is not None:
            check_data(loaded, config.context_length, stream)
    return data.load_splits(source, config.context_length, config.seed, val=val, train_chunks=config.train_chunks)


def jit_compile_setting(config: TrainConfig) -> bool | str:
    """What ``model.compile(jit_compile=...)`` gets for ``config.jit_compile`` (``JIT_COMPILE_SETTINGS``).

    ``on``/``off`` are ``True``/``False``. ``auto`` is the model's ``"auto"``: Keras' choice (XLA on TensorFlow
    with a GPU, ``jax.jit`` on JAX, eager on PyTorch), and XLA on a TensorFlow CPU for the float32 transformer and
    flat rankers, measured faster there (:mod:`p7keras.jit_compile`). PyTorch's eager step hands the optimizer
    update to torch's fused AdamW (``p7keras.models.steps.torch``); with it, ``torch.compile`` gave no faster
    epochs on a 2-core CPU and cost about 150 s of compiling (README, "Compilation per backend"), so ``auto`` does
    not compile there.

    Example:

        jit_compile_setting(TrainConfig(jit_compile="on"))   # True: torch.compile on PyTorch, XLA on TensorFlow

    Args:
        config: the run's settings (``jit_compile``).

    Returns:
        ``True``, ``False`` or ``"auto"``.
    """
    return JIT_COMPILE_SETTINGS[config.jit_compile]


def build_model(config: TrainConfig, input_dim: int):
    """The compiled model a config describes (its ``jit_compile``: see :func:`jit_compile_setting`)."""
    from p7keras.models import MODEL_CLASSES  # noqa: PLC0415
    from p7keras.models.optimizer import default_optimizer  # noqa: PLC0415

    model = MODEL_CLASSES[config.model_type](input_dim=input_dim, **config.model_kwargs())
    model.compile(
        optimizer=default_optimizer(learning_rate=config.learning_rate, weight_decay=config.weight_decay),
        jit_compile=jit_compile_setting(config),
    )
    return model


def compilation_line(config: TrainConfig, model) -> str | None:
    """The line a run (and a search, for its trials) prints when ``--jit-compile auto`` chose XLA beyond Keras' rule.

    Example:

        compilation_line(TrainConfig(), build_model(TrainConfig(), 768))
        # on TensorFlow's CPU: "Compilation: XLA (auto: XLA on TensorFlow's CPU, measured faster for the ...)"

    Args:
        config: the run's settings (``jit_compile``).
        model: the model :func:`build_model` compiled for ``config``.

    Returns:
        One line without a newline, or None where nothing was chosen beyond Keras' rule (``--jit-compile on``
        or ``off`` given, another backend, or Keras' own choice).
    """
    import keras  # noqa: PLC0415 (the model exists: Keras is loaded)

    if config.jit_compile == "auto" and keras.backend.backend() == "tensorflow" and model.jit_compile:
        return f"Compilation: XLA ({model.auto_jit_compile()[1]})"
    return None


def fit_batches(config: TrainConfig, splits, model, replicas: int = 1) -> tuple:
    """The ``(train, validation)`` batches of ``model.fit`` for a run.

    A PyTorch model with a compiled step gets fixed-shape training batches (the ragged last batch of an
    epoch is dropped, a different one each epoch as the order is shuffled), so ``torch.compile`` compiles
    its step once; its validation step runs eagerly (``p7keras.models.steps.torch``). On several replicas
    (``--distribute data-parallel``) every batch must split evenly: the last, smaller batch of training
    and of validation is dropped.

    Args:
        config: the run's settings.
        splits: the run's :class:`p7keras.data.DataSplits`.
        model: the compiled model.
        replicas: devices the batch is split across.

    Returns:
        Two :class:`p7keras.data.P7Dataset`.

    Raises:
        ValueError: data-parallel with fewer training or validation sequences than one batch.
    """
    import keras  # noqa: PLC0415

    if replicas > 1:
        for name, sequences in (("training", splits.train), ("validation", splits.val)):
            if len(sequences) < config.batch_size:
                raise ValueError(f"--distribute data-parallel drops the last, smaller batch, and the {name} split "
                                 f"has {len(sequences)} sequences, fewer than one batch of {config.batch_size}")
    fixed = replicas > 1 or (keras.backend.backend() == "torch" and model.jit_compile is True
                             and len(splits.train) >= config.batch_size)
    process = process_slice() if replicas > 1 else (0, 1)  # several processes: each reads its slice of a batch
    train = splits.train.as_dataset(config.batch_size, config.hard_negatives, shuffle=True, seed=config.seed,
                                    drop_remainder=fixed, process=process)
    val = splits.val.as_dataset(config.batch_size, config.hard_negatives, shuffle=False, seed=config.seed,
                                drop_remainder=replicas > 1, process=process)
    return train, val


def _summary(history: dict, verdict: dict, files: dict, stream) -> None:
    best = verdict.get("best_epoch")
    last = len(history.get("loss", []))
    print("\nFinal metrics (validation)", file=stream)
    kept = verdict.get("kept_start", False)
    header = f"  {'metric':<18}{'start (kept)' if kept else 'best epoch ' + str(best):>16}{'last epoch ' + str(last):>16}"
    print(header, file=stream)
    for name in SUMMARY_METRICS:
        values = history.get(f"val_{name}") or []
        if values:
            at_best = (history.get(start_key(f"val_{name}")) or [float("nan")])[-1] if kept else \
                values[best - 1] if best else float("nan")
            print(f"  {name:<18}{at_best:>16.4f}{values[-1]:>16.4f}", file=stream)
    print(f"\nVerdict: {verdict['status']} (best epoch by {verdict.get('best_by', 'val_margin')})", file=stream)
    for reason in verdict.get("reasons", []):
        print(f"  - {reason}", file=stream)
    if "learned_gain" in verdict:
        print(f"  learned gain over the starting model on validation: {verdict['learned_gain']['judgement']}",
              file=stream)
    for note in verdict.get("notes", []):
        print(f"  note: {note}", file=stream)
    if verdict.get("stopped_early"):
        print(f"  stopped early at {verdict['stopped_early']}", file=stream)
    print("\nWritten:", file=stream)
    for name, path in files.items():
        print(f"  {name:<12} {path}", file=stream)


def train(config: TrainConfig | None = None, stream=None, **overrides) -> RunResult:
    """Runs (or resumes) one training run and writes its run directory.

    The run directory ``<output_dir>/<exp_name>_<timestamp>/`` receives ``config.json``, ``best.keras``
    (highest ``config.select``, by default val margin; ``config.patience`` epochs without a new best stop
    the run), ``final.keras``, ``history.json``, ``export/`` (SavedModel), ``tensorboard/``,
    ``curves.png`` and ``verdict.json``. Started again with the same configuration after an interruption,
    the run carries on from its last finished epoch with its full history. In a run over several
    processes (``p7keras.training.distribute``) every process calls ``train``; process 0 writes the run
    directory, and each process checks at the end that its weights are process 0's.

    Args:
        config: the settings (default ``TrainConfig()``: the default model on the synthetic corpus).
        stream: where progress and the summary go (default ``sys.stdout``).
        **overrides: fields of ``TrainConfig`` to replace.

    Returns:
        A ``RunResult`` with the run folder, verdict, history and the paths written.

    Raises:
        ValueError: an impossible setting, bad data or an unavailable device (before any training).
        p7keras.locks.FolderInUseError: another live process works in the run directory (or, with several
            processes, has this process's id), a ValueError; refused before any work.
        PermissionError / OSError: an unwritable or full output folder (before any training).
        p7keras.callbacks.NonFiniteLossError: a NaN/inf loss (the run is marked failed, checkpoints kept).
    """
    from p7keras.console import import_keras_quietly  # noqa: PLC0415 (standard library only)

    config = dataclasses.replace(config or TrainConfig(), **overrides)
    with contextlib.ExitStack() as held:
        held.enter_context(process_lock(config.output_dir, config.to_dict()))  # several processes: each id once
        preflight(config)
        precision, why = config.resolved_precision()  # auto -> this machine's policy, recorded in config.json
        config = dataclasses.replace(config, precision=precision)
        stream = stream or sys.stdout
        # Process 0 takes the run directory (its lock) before any work; refused before its first epoch, a
        # run directory it created is removed (RunDirectory.__exit__).
        run, problem = None, None
        if process_slice()[0] == 0:
            try:
                run = held.enter_context(RunDirectory.open(config.output_dir, config.exp_name, config.to_dict(),
                                                           run_name=config.run_name))
            except Exception as exc:
                if process_slice()[1] == 1:
                    raise
                problem = exc  # told to every process once they meet (_open_run)
        splits = load_data(config, stream)  # numpy only: bad data is refused before Keras starts
        import_keras_quietly()
        check_device(config.device)
        check_precision(config.precision, config.device)
        with data_parallel(config.distribute, config.batch_size) as replicas:
            return _train(config, splits, replicas, stream, run, problem, why)


def _open_run(config: TrainConfig, run: RunDirectory | None, problem: Exception | None, input_dim: int,
              stream) -> tuple[RunDirectory, RunDirectory]:
    """``(run, home)``: the folder this process writes, and the run directory (the same for one process).

    Process 0 has opened (or resumed) the run directory (``run``, or the ``problem`` it met); here it checks
    the disk room the run needs and a resumed run's backup. With several processes it tells the others
    where the run directory is; they write the same files into a folder of their own (saving is a
    collective step of every process), deleted when the run ends, and read the run directory's history
    and backup. A problem of process 0 (an unwritable folder, say) is raised in every process.
    """
    processes = process_slice()[1]
    if run is not None:
        try:
            run.check_room(disk_need(config, input_dim), shown=config.output_dir)
            if run.resumed:
                run.check_backup(stream)
        except Exception as exc:
            if processes == 1:
                raise
            problem = exc
    if processes == 1:
        return run, run
    shared = json.loads(share_text(json.dumps({
        "path": str(run.path) if run else "", "resumed": bool(run and run.resumed),
        "problem": str(problem) if problem else ""})))
    if problem is not None:
        raise problem
    if shared["problem"]:
        raise RuntimeError(f"process 0 could not open the run directory: {shared['problem']}")
    if run is not None:
        return run, run
    home = RunDirectory(Path(shared["path"]), resumed=shared["resumed"])
    # the same folder when the run resumes, so a copy left by a killed process is replaced, not kept
    scratch = Path(tempfile.gettempdir()) / f"p7keras-process{process_slice()[0]}-{home.path.name}" / home.path.name
    shutil.rmtree(scratch.parent, ignore_errors=True)
    scratch.mkdir(parents=True)
    return RunDirectory(scratch, resumed=home.resumed), home


def _train(config: TrainConfig, splits, replicas: int, stream, run: RunDirectory | None,
           problem: Exception | None, precision_reason: str) -> RunResult:
    """The run itself, inside the distribution scope of ``config.distribute``."""
    import keras  # noqa: PLC0415

    from p7keras import callbacks as p7callbacks  # noqa: PLC0415

    keras.utils.set_random_seed(config.seed)
    model = build_model(config, splits.train.dim)
    if config.negatives == "corpus":
        model.set_negative_bank(splits.train.bank)  # every training chunk: a negative of every sample
    writer = process_slice()[0] == 0  # several processes: process 0 writes the run directory and reports
    if not writer:
        stream = open(os.devnull, "w")  # noqa: SIM115 (closed with the process)
    run, home = _open_run(config, run, problem, splits.train.dim, stream)
    history = home.load_history() if home.resumed else {}
    if run.resumed:
        print(f"Resuming {run.path} after epoch {home.finished_epochs()} of {config.epochs}", file=stream)
    else:
        print(f"Run directory: {run.path}", file=stream)
    if config.precision != "float32" or precision_reason.startswith("auto"):
        print(precision_line(config.precision, precision_reason), file=stream)
    if line := compilation_line(config, model):
        print(line, file=stream)
    if replicas > 1:
        print(f"Data-parallel over {replicas} devices ({keras.backend.backend()}), global batch {config.batch_size}, "
              "in-batch negatives of the global batch", file=stream)

    train_batches, val_batches = fit_batches(config, splits, model, replicas)
    # Validation retrieval every epoch, whatever --select is: about 2% of an epoch of the default model on
    # the default corpus (0.8 s of 39 s, jax, 2-core CPU), and history.json gets val_R@5 / val_MRR@10.
    callbacks = p7callbacks.default_callbacks(config.warmup_epochs, str(run.path), history,
                                              validation=splits.val, select=config.select,
                                              patience=config.patience)
    monitor = callbacks.monitor
    monitor.stream = stream
    callbacks += [
        # the last two epochs; other processes read process 0's backup when the run resumes
        keras.callbacks.BackupAndRestore(run.backup_dir, double_checkpoint=True) if writer
        else p7callbacks.RestoreFrom(run.backup_dir, home.backup_dir),
        p7callbacks.EpochProgress(config.epochs, len(train_batches), stream=stream),
    ]
    # TensorBoard's writer is TensorFlow's: a JAX or PyTorch install without TensorFlow (a GPU image,
    # say) trains without the logs.
    tensorboard = importlib.util.find_spec("tensorflow") is not None
    if tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(run.file("tensorboard"), write_graph=False))
    try:
        with p7callbacks.interrupt_at_batch_end() as interrupt:  # Ctrl-C at a batch end, not inside a backend call
            fit = model.fit(train_batches, validation_data=val_batches, epochs=config.epochs, verbose=0,
                            callbacks=[*callbacks, interrupt])
    except p7callbacks.NonFiniteLossError as exc:
        run.mark(FAILED, reason=str(exc))
        raise
    history = callbacks.history_writer.history
    del fit
    check_same_weights(model)  # several processes: one line each, and an error if they drifted apart

    files = {"run": str(run.path), "config": run.file("config.json"), "best": run.file("best.keras")}
    verdict = dict(monitor.verdict)
    files.update(run.finish(model, history, verdict, config.export, config.keep))
    if config.keep == "final":
        files.pop("best")
    if tensorboard:
        files["tensorboard"] = run.file("tensorboard")
    if run is not home:  # another process's copy of the run: the run directory is process 0's
        shutil.rmtree(run.path.parent, ignore_errors=True)
        files = {}
    _summary(history, verdict, files, stream)
    return RunResult(str(home.path), verdict, history, files, run.resumed, len(splits.train))

"""What every console command of p7keras does around its work (``p7keras ...``, ``python -m tuner.search``).

* parses its flags before anything heavy is imported (``--help`` and bad flags answer at once);
* picks the Keras backend (``--backend``, else ``KERAS_BACKEND``) before Keras is imported, and
  rejects an unknown one in one line;
* refuses what can be known without Keras before Keras loads: the commands import it themselves
  (``uses_keras=False``) once their flags, data files, model files and device are checked;
* hides TensorFlow's C++ start-up lines (absl, oneDNN, CUDA's cuInit, CPU features) in every command,
  whether or not the user set ``TF_CPP_MIN_LOG_LEVEL``: TensorFlow 2.21 prints some of them before it
  reads its log level, so Keras is always imported with the process's native stderr (file descriptor 2)
  pointed at /dev/null, while Python's ``sys.stderr`` keeps writing to the terminal (Python warnings and
  errors still show). After the import, TensorFlow's own lines follow ``TF_CPP_MIN_LOG_LEVEL`` (3 unless
  the user set another);
* has TensorFlow keep its CPU tensors' memory in its own pool (its BFC allocator) unless the user set
  ``TF_CPU_ALLOCATOR_USE_BFC`` (:func:`pool_tensorflow_cpu_memory`): without it, an XLA training step's
  temporaries are mapped afresh and page-faulted every step;
* shows the subcommand's usage for a flag it does not know (``p7keras train --lamda 0.8``);
* turns a user-facing error (bad input or usage) into one line ``<prog> <command>: error: ...`` with exit
  code 2, a fault during the work (a full disk, a failed write, a non-finite loss, anything unexpected)
  into one line ``<prog> <command>: fault: ...`` with exit code 3, and Ctrl-C into one line with exit code
  130 (on a line of its own in a terminal, not after a progress bar); a traceback only with ``--debug`` or
  ``P7KERAS_DEBUG=1``.

Exit codes (:data:`EXIT_CODES`): 0 PASS or MARGINAL (or done), 1 FAIL verdict, 2 bad input or usage, 3 a
fault during the run, 130 interrupted.

This module imports only the standard library.

Example:

    parser = argparse.ArgumentParser(prog="p7keras")
    ...                                           # add the command's flags and set func
    sys.exit(run_console_command(parser, sys.argv[1:]))
"""

from __future__ import annotations

import argparse
import errno
import os
import subprocess
import sys
import traceback

from p7keras.config import BACKENDS

# Exit codes of every command.
EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_FAULT, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_CODES = {
    EXIT_OK: "PASS or MARGINAL verdict (or the command did its work)",
    EXIT_FAIL: "FAIL verdict",
    EXIT_USAGE: "bad input or usage: a flag, a value, a data file, an output path (nothing was started)",
    EXIT_FAULT: "a fault during the run: full disk, failed write, non-finite loss, an unexpected error",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C): run the same command again to continue",
}
# Errors that mean the user's input or environment is wrong: exit code 2. Other OSErrors (no space left,
# I/O errors) and everything else are faults: exit code 3.
INPUT_OS_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, FileExistsError)
DEBUG_FLAG = "--debug"
# TensorFlow's C++ log level for our commands: none of its native lines (the oneDNN/CPU-feature notes,
# and "failed call to cuInit" on a machine without a GPU, which is logged as an error and means nothing
# here; a native failure that matters reaches Python as an exception and gets its one line).
QUIET_TF_LOG_LEVEL = "3"
# TensorFlow's switch to its pooling (BFC) allocator for CPU tensors, and the pool's limit (TensorFlow's default
# limit is 64 GB); both read once, when TensorFlow allocates its first tensor.
TF_CPU_POOL, TF_CPU_POOL_LIMIT = "TF_CPU_ALLOCATOR_USE_BFC", "TF_CPU_BFC_MEM_LIMIT_IN_MB"


class CLIError(Exception):
    """A user-facing error: printed as one line, exit code 2, no traceback."""


def backend_from_argv(argv: list[str]) -> str | None:
    """The value of ``--backend`` in ``argv`` (``--backend X`` or ``--backend=X``), or None."""
    for i, arg in enumerate(argv):
        if arg == "--backend" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--backend="):
            return arg.split("=", 1)[1]
    return None


def quiet_tensorflow() -> None:
    """Sets TensorFlow's C++ log level for the lines after its start-up (3: none), unless the user set one."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", QUIET_TF_LOG_LEVEL)


def pool_tensorflow_cpu_memory() -> bool:
    """Has TensorFlow take its CPU tensors from its own pool (its BFC allocator), unless the user chose.

    TensorFlow's default CPU allocator hands a freed block to malloc, which gives large blocks back to the
    OS; an XLA-compiled step allocates its temporaries at every call, so each step maps them afresh and
    page-faults through them (about an eighth of the bench transformer's XLA step on a 2-core AVX2 EPYC;
    README, "TensorFlow's CPU memory pool"). The pool keeps the memory. Its limit is set to this machine's
    memory (TensorFlow's own default is 64 GB) unless ``TF_CPU_BFC_MEM_LIMIT_IN_MB`` is set. TensorFlow reads
    both when it allocates its first tensor, so this acts only before that: every p7keras command calls it
    before Keras loads. A script does the same by setting ``TF_CPU_ALLOCATOR_USE_BFC=true`` before its first
    TensorFlow operation; ``TF_CPU_ALLOCATOR_USE_BFC=false`` keeps TensorFlow's default allocator. Where
    TensorFlow's oneDNN is on (CPUs with AVX-512 VNNI, BF16 or AMX), that default is oneDNN's allocator, a
    pool already, and the step is as fast either way (README).

    Example:

        pool_tensorflow_cpu_memory()   # os.environ["TF_CPU_ALLOCATOR_USE_BFC"] == "true" unless set before

    Returns:
        True when this call chose the pool, False when ``TF_CPU_ALLOCATOR_USE_BFC`` was set already.
    """
    if os.environ.get(TF_CPU_POOL, "").strip():
        return False
    os.environ[TF_CPU_POOL] = "true"
    if not os.environ.get(TF_CPU_POOL_LIMIT, "").strip():
        try:
            memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
        except (ValueError, OSError, AttributeError):  # not a POSIX system: TensorFlow's own limit
            memory_mb = 0
        if memory_mb > 0:
            os.environ[TF_CPU_POOL_LIMIT] = str(memory_mb)
    return True


def _stderr_fd() -> int | None:
    """The file descriptor behind ``sys.stderr``, or None when it is not a real file (a test's capture)."""
    try:
        return sys.stderr.fileno()
    except (AttributeError, ValueError, OSError):
        return None


def import_keras_quietly() -> None:
    """Imports Keras, its backend and TensorFlow without TensorFlow's native start-up lines.

    TensorFlow is imported too where it is installed, whatever the backend: the runs use it for
    TensorBoard logs and SavedModel export, and it would print its lines then. The process's native
    stderr (file descriptor 2) points at /dev/null during the imports, whatever ``TF_CPP_MIN_LOG_LEVEL``
    says (TensorFlow writes some lines before it reads it); Python's ``sys.stderr`` is pointed at the
    real stderr meanwhile, so a Python warning or error of the import still shows. Does nothing when
    Keras is imported already.

    Example:

        import_keras_quietly()     # then `import keras` is free, and printed nothing native
    """
    if "keras" in sys.modules:
        return
    import importlib.util  # noqa: PLC0415

    modules = ["keras"] + (["tensorflow"] if importlib.util.find_spec("tensorflow") else [])
    python_stderr = sys.stderr
    python_stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    if _stderr_fd() == 2:  # Python's writes go on to the real stderr, through a copy of its descriptor
        sys.stderr = _visible_stderr(python_stderr)
    try:
        os.dup2(devnull, 2)
        for name in modules:
            importlib.import_module(name)
    finally:
        sys.stderr.flush()
        sys.stderr = python_stderr
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


_VISIBLE_STDERR: list = []


def _visible_stderr(like):
    """A text stream on a copy of file descriptor 2, made once and never closed.

    Loggers created during the import (TensorFlow's, absl's) keep the stream they found in ``sys.stderr``:
    this one goes on writing to the real stderr after the import.
    """
    if not _VISIBLE_STDERR:
        _VISIBLE_STDERR.append(open(os.dup(2), "w", buffering=1,  # noqa: SIM115 (lives as long as the process)
                                    encoding=getattr(like, "encoding", None) or "utf-8", errors="backslashreplace"))
    return _VISIBLE_STDERR[0]


def _rerun_on(backend: str, argv: list[str], module: str) -> int | None:
    """Selects ``backend`` for this process; when Keras already runs on another one, reruns the command.

    Returns:
        The rerun's exit code, or None when this process can go on.
    """
    current = sys.modules["keras"].backend.backend() if "keras" in sys.modules else None
    if current is None:
        os.environ["KERAS_BACKEND"] = backend
        return None
    if current == backend:
        return None
    # Keras fixes its backend at import: run the command again on the requested one.
    return subprocess.call([sys.executable, "-m", module, *argv], env={**os.environ, "KERAS_BACKEND": backend})


def run_console_command(parser: argparse.ArgumentParser, argv: list[str], name: str | None = None,
                        module: str = "p7keras") -> int:
    """Parses ``argv`` with ``parser`` and runs the parsed ``func``, with the rules of this module.

    Args:
        parser: a parser whose (sub)commands set ``func`` (a callable taking the parsed namespace and
            returning an exit code) and, for commands that never need Keras, ``uses_keras=False``.
        argv: the arguments after the program name.
        name: the command's name in error lines (None: the parser's ``prog`` and the parsed ``command``).
        module: what ``python -m`` runs to rerun the command on another backend.

    Returns:
        The exit code: the command's own, 2 for bad input or usage, 3 for a fault during the run, 130 when
        interrupted (:data:`EXIT_CODES`).
    """
    argv = list(argv)
    debug = DEBUG_FLAG in argv or bool(os.environ.get("P7KERAS_DEBUG"))
    if DEBUG_FLAG in argv:  # anywhere on the line: tracebacks instead of one-line errors
        argv.remove(DEBUG_FLAG)
    quiet_tensorflow()
    pool_tensorflow_cpu_memory()
    args = parse_arguments(parser, argv)  # exits 2 with argparse's usage line on a bad flag
    name = name or " ".join(filter(None, [parser.prog, getattr(args, "command", None)]))
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    backend = getattr(args, "backend", None) or backend_from_argv(argv)
    env_backend = os.environ.get("KERAS_BACKEND")
    if backend is None and env_backend is not None and env_backend not in BACKENDS:
        print(f"{name}: error: KERAS_BACKEND={env_backend!r} is not a Keras backend; use one of "
              f"{', '.join(BACKENDS)}", file=sys.stderr)
        return EXIT_USAGE
    if backend is not None:
        code = _rerun_on(backend, argv, module)
        if code is not None:
            return code
    try:
        if getattr(args, "uses_keras", True):
            import_keras_quietly()
        return int(args.func(args) or EXIT_OK)
    except KeyboardInterrupt:
        _end_open_line()
        print(f"{name}: interrupted; run the same command again to continue where it stopped", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader of the output stopped (`p7keras data inspect x.npz | head`): as Unix
        _drop_stdout()       # tools do, stop quietly; what was asked for has been read
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 (every error ends in one line; the traceback on request)
        if debug:
            raise
        code, line = describe_error(exc)
        print(f"{name}: {line}", file=sys.stderr)
        return code


def parse_arguments(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """``parser.parse_args(argv)``, but a flag no parser knows is refused by the (sub)command it follows.

    argparse leaves unknown flags to the top-level parser, which shows its own usage; this shows the usage
    of the subcommand that was given (``p7keras train --lamda 0.8``: ``usage: p7keras train ...`` and
    ``p7keras train: error: unrecognized arguments: --lamda 0.8``).

    Example:

        parse_arguments(build_parser(), ["data", "inspect", "x.npz", "--bogus"])  # usage: p7keras data inspect ...

    Args:
        parser: the command's parser.
        argv: the arguments after the program name.

    Returns:
        The parsed namespace (argparse exits with code 2 on a bad flag or value).
    """
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        _innermost_parser(parser, args, argv, unknown[0]).error(f"unrecognized arguments: {' '.join(unknown)}")
    return args


def _innermost_parser(parser: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str],
                      unknown: str) -> argparse.ArgumentParser:
    """The deepest subcommand parser ``argv`` chose before the word ``unknown`` (``parser`` without one)."""
    first_unknown = argv.index(unknown) if unknown in argv else len(argv)
    start = 0
    while True:
        actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]  # noqa: SLF001
        if not actions:
            return parser
        choices = actions[0].choices
        chosen = getattr(args, actions[0].dest, None) if actions[0].dest != argparse.SUPPRESS else None
        if chosen not in choices:  # no dest: the first word of argv that names a subcommand
            chosen = next((word for word in argv[start:] if word in choices), None)
        position = argv.index(chosen, start) if chosen in argv[start:] else None
        if position is None or position > first_unknown:  # the flag comes before the subcommand: not its
            return parser
        parser, start = choices[chosen], position + 1


def _end_open_line() -> None:
    """Starts a new line on a terminal, so a line printed now does not follow a progress bar (or ``^C``)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    if _is_tty(sys.stdout) or _is_tty(sys.stderr):
        print(file=sys.stderr)


def _is_tty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (OSError, ValueError, AttributeError):
        return False


def _drop_stdout() -> None:
    """Points the standard output at ``/dev/null``, so Python's flush at exit does not fail again."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (a test's capture): nothing to flush there
        pass


def describe_error(exc: BaseException) -> tuple[int, str]:
    """The exit code and the one line (``error: ...`` or ``fault: ...``) of an exception.

    Example:

    >>> describe_error(ValueError("epochs must be >= 1, got 0"))
    (2, 'error: epochs must be >= 1, got 0')
    >>> describe_error(AssertionError())
    (3, 'fault: AssertionError with no message; P7KERAS_DEBUG=1 shows the traceback')
    >>> describe_error(OSError(28, "No space left on device", "runs/best.keras"))
    (3, "fault: [Errno 28] No space left on device: 'runs/best.keras'; free space and run the same command again to continue")

    Args:
        exc: what was raised.

    Returns:
        ``(exit code, line)``: 2 for bad input or usage, 3 for a fault during the run.
    """
    if isinstance(exc, (CLIError, ValueError, KeyError, *INPUT_OS_ERRORS)):
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        return EXIT_USAGE, f"error: {message}"
    first = (str(exc).strip().splitlines() or [""])[0]
    if getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or "No space left" in first \
            or "ResourceExhausted" in type(exc).__name__:  # TensorFlow's writers say so in their own class
        return EXIT_FAULT, f"fault: {first}; free space and run the same command again to continue"
    if not first:  # a bare assert deep in a library: say where it was raised instead
        return EXIT_FAULT, (f"fault: {type(exc).__name__} with no message{_raised_at(exc)}; P7KERAS_DEBUG=1 shows "
                            "the traceback")
    if isinstance(exc, (OSError, RuntimeError)):
        return EXIT_FAULT, f"fault: {first}"
    return EXIT_FAULT, f"fault: {type(exc).__name__}: {first}"


def _raised_at(exc: BaseException) -> str:
    """`` raised at DIR/FILE.py:LINE in FUNCTION`` (the traceback's last frame, its path's last parts), or ``""``."""
    frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ else []
    if not frames:
        return ""
    last = frames[-1]
    return f" raised at {'/'.join(last.filename.split(os.sep)[-3:])}:{last.lineno} in {last.name}"

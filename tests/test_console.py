"""``p7keras.console``: one line per error or fault, the documented exit codes, tracebacks on request."""

import argparse
import errno

import pytest

from p7keras import console

# backend-independent here: the backends' own paths are tested in tests/models, tests/callbacks and tests/serve
pytestmark = pytest.mark.one_backend


def _parser(error):
    parser = argparse.ArgumentParser(prog="p7keras")
    sub = parser.add_subparsers(dest="command")
    cmd = sub.add_parser("train")

    def func(args):
        raise error

    cmd.set_defaults(func=func, uses_keras=False)
    return parser


@pytest.mark.parametrize("error, code, line", [
    (ValueError("epochs must be >= 1, got 0"), 2, "p7keras train: error: epochs must be >= 1, got 0"),
    (FileNotFoundError("x.npz: no such file"), 2, "p7keras train: error: x.npz: no such file"),
    (PermissionError("output folder /ro is not writable"), 2, "p7keras train: error: output folder /ro is not writable"),
    (OSError(errno.ENOSPC, "No space left on device", "runs/best.keras"), 3,
     "p7keras train: fault: [Errno 28] No space left on device: 'runs/best.keras'; free space and run the same "
     "command again to continue"),
    (type("ResourceExhaustedError", (Exception,), {})("runs/x.h5; No space left on device\nmore"), 3,
     "p7keras train: fault: runs/x.h5; No space left on device; free space and run the same command again to "
     "continue"),
    (OSError("Unable to open file (truncated file)"), 3, "p7keras train: fault: Unable to open file (truncated file)"),
    (RuntimeError("non-finite loss (nan) at epoch 1, batch 4"), 3,
     "p7keras train: fault: non-finite loss (nan) at epoch 1, batch 4"),
    (ZeroDivisionError("division by zero"), 3, "p7keras train: fault: ZeroDivisionError: division by zero"),
    (KeyboardInterrupt(), 130, "p7keras train: interrupted; run the same command again to continue where it stopped"),
])
def test_every_error_is_one_line_with_its_exit_code(error, code, line, capsys, monkeypatch):
    monkeypatch.delenv("P7KERAS_DEBUG", raising=False)
    assert console.run_console_command(_parser(error), ["train"]) == code
    assert capsys.readouterr().err.splitlines() == [line]
    assert code in console.EXIT_CODES


def test_debug_flag_shows_the_traceback(monkeypatch):
    import os

    monkeypatch.delenv("P7KERAS_DEBUG", raising=False)
    with pytest.raises(ZeroDivisionError):
        console.run_console_command(_parser(ZeroDivisionError("x")), ["train", "--debug"])
    assert "P7KERAS_DEBUG" not in os.environ  # the flag changes nothing for later commands
    monkeypatch.setenv("P7KERAS_DEBUG", "1")
    with pytest.raises(OSError):
        console.run_console_command(_parser(OSError(errno.EIO, "I/O error")), ["train"])


def test_a_closed_output_pipe_ends_the_command_quietly(tmp_path):
    """``p7keras ... | head``: the reader stops early; no 'fault: Broken pipe' line, exit code 0."""
    import subprocess
    import sys

    script = ("import argparse, sys\n"
              "from p7keras import console\n"
              "parser = argparse.ArgumentParser(prog='p7keras')\n"
              "sub = parser.add_subparsers(dest='command')\n"
              "def func(args):\n"
              "    for i in range(100000):\n"
              "        print('line', i)\n"
              "sub.add_parser('inspect').set_defaults(func=func, uses_keras=False)\n"
              "sys.exit(console.run_console_command(parser, ['inspect']))\n")
    done = subprocess.run(f"{sys.executable} -c \"$SCRIPT\" | head -n 1", shell=True, capture_output=True, text=True,
                          env={**__import__('os').environ, "SCRIPT": script}, timeout=120)
    assert done.stdout == "line 0\n"
    assert done.stderr == ""
    piped = subprocess.run(["bash", "-o", "pipefail", "-c", f"{sys.executable} -c \"$SCRIPT\" | head -n 1"],
                           capture_output=True, text=True, env={**__import__('os').environ, "SCRIPT": script},
                           timeout=120)
    assert piped.returncode == 0 and piped.stderr == ""


class _Terminal:
    """A text stream that says it is a terminal."""

    def __init__(self):
        self.text = ""

    def write(self, text):
        self.text += text

    def flush(self):
        pass

    def isatty(self):
        return True


@pytest.mark.parametrize("tty", [True, False])
def test_the_interrupted_line_starts_a_line_of_its_own_on_a_terminal(tty, monkeypatch):
    """After a progress bar (``\\r...``, no newline) the line must not be glued to it."""
    err = _Terminal()
    if not tty:
        err.isatty = lambda: False
    out = _Terminal() if tty else err

    def func(args):
        out.write("\rEpoch 1/5 [=====>      ] 12/30")  # what the progress bar leaves on a terminal
        raise KeyboardInterrupt

    parser = argparse.ArgumentParser(prog="p7keras")
    parser.add_subparsers(dest="command").add_parser("train").set_defaults(func=func, uses_keras=False)
    monkeypatch.setattr("sys.stdout", out)
    monkeypatch.setattr("sys.stderr", err)
    assert console.run_console_command(parser, ["train"]) == 130
    line = "p7keras train: interrupted; run the same command again to continue where it stopped\n"
    assert err.text.endswith("\n" + line if tty else "12/30" + line)  # a file gets the line as it is


def _nested_parser():
    parser = argparse.ArgumentParser(prog="p7keras")
    sub = parser.add_subparsers(dest="command")
    train = sub.add_parser("train")
    train.add_argument("--epochs", type=int)
    train.set_defaults(func=lambda args: 0, uses_keras=False)
    data = sub.add_parser("data")
    data.add_subparsers(dest="data_command").add_parser("inspect").set_defaults(func=lambda args: 0, uses_keras=False)
    return parser


@pytest.mark.parametrize("argv, usage, line", [
    (["train", "--epochs", "3", "--lamda", "0.8"], "usage: p7keras train [-h] [--epochs EPOCHS]",
     "p7keras train: error: unrecognized arguments: --lamda 0.8"),
    (["data", "inspect", "--bogus"], "usage: p7keras data inspect [-h]",
     "p7keras data inspect: error: unrecognized arguments: --bogus"),
    (["--bogus", "train"], "usage: p7keras [-h] {train,data} ...", "p7keras: error: unrecognized arguments: --bogus"),
])
def test_a_misspelt_flag_shows_the_usage_of_its_subcommand(argv, usage, line, capsys):
    with pytest.raises(SystemExit) as exit_info:
        console.run_console_command(_nested_parser(), argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and err == [usage, line]


def test_the_real_command_shows_the_subcommand_usage(capsys):
    from p7keras.cli.main import main

    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--epochs", "3", "--lamda", "0.8"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and err[0].startswith("usage: p7keras train [-h]")
    assert err[-1] == "p7keras train: error: unrecognized arguments: --lamda 0.8"


def test_keras_is_imported_without_native_lines_but_with_python_warnings(tmp_path):
    """A stand-in Keras and TensorFlow that write as TensorFlow does: natively to fd 2, before any log level
    is read, and a Python warning. The user's TF_CPP_MIN_LOG_LEVEL changes nothing of it."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    for name in ("keras", "tensorflow"):
        (tmp_path / f"{name}.py").write_text(
            "import os, warnings\n"
            f"os.write(2, b'I0000 cpu_feature_guard.cc:210] {name}: oneDNN custom operations are on\\n')\n"
            f"warnings.warn('{name} says a Python warning')\n")
    code = ("import logging, sys\nfrom p7keras.console import import_keras_quietly\nimport_keras_quietly()\n"
            "print('after', file=sys.stderr)\nimport keras, tensorflow\n")
    root = Path(__file__).resolve().parents[1]
    for level in (None, "3", "0"):
        env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
        env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(root)])
        if level is not None:
            env["TF_CPP_MIN_LOG_LEVEL"] = level
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "cpu_feature_guard" not in done.stderr and "oneDNN" not in done.stderr, (level, done.stderr)
        assert "keras says a Python warning" in done.stderr and "tensorflow says a Python warning" in done.stderr
        assert done.stderr.rstrip().endswith("after")


def test_tensorflow_pools_its_cpu_memory_unless_the_user_chose(monkeypatch):
    import os

    pool, limit = console.TF_CPU_POOL, console.TF_CPU_POOL_LIMIT
    monkeypatch.setenv(pool, "")  # unset for the command (restored after the test)
    monkeypatch.setenv(limit, "")
    assert console.pool_tensorflow_cpu_memory() is True
    memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    assert os.environ[pool] == "true" and int(os.environ[limit]) == memory_mb > 1024
    assert console.pool_tensorflow_cpu_memory() is False  # chosen already: nothing changes

    monkeypatch.setenv(pool, "false")  # the user's choice stands, and no limit is set for it
    monkeypatch.setenv(limit, "")
    assert console.pool_tensorflow_cpu_memory() is False
    assert os.environ[pool] == "false" and os.environ[limit] == ""

    monkeypatch.setenv(pool, "")  # the user's limit stands
    monkeypatch.setenv(limit, "2048")
    assert console.pool_tensorflow_cpu_memory() is True and os.environ[limit] == "2048"


def test_a_command_runs_tensorflow_with_its_cpu_memory_pooled():
    """In a command's own process, TensorFlow's CPU allocator is its pool (which keeps statistics; its default
    allocator keeps none), unless the user chose TensorFlow's default. (Where TensorFlow's oneDNN is on, as on
    CPUs with AVX-512 VNNI, BF16 or AMX, its default is oneDNN's own pool, which keeps statistics too: the
    user's choice is checked with oneDNN off.)"""
    import os
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    code = textwrap.dedent("""
        import argparse, sys
        from p7keras import console

        def report(args):
            import tensorflow as tf
            x = tf.ones([256, 256]) + 1.0
            try:
                print("pool", tf.config.experimental.get_memory_info("CPU:0")["peak"] >= x.numpy().nbytes)
            except ValueError as error:  # "Allocator stats not available for device 'CPU:0'"
                print("default:", error)

        parser = argparse.ArgumentParser(prog="p7keras")
        parser.set_defaults(func=report, uses_keras=False)
        sys.exit(console.run_console_command(parser, []))
    """)
    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if k not in (console.TF_CPU_POOL, console.TF_CPU_POOL_LIMIT)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    lines = []
    for choice in (None, "false"):
        if choice is not None:
            env[console.TF_CPU_POOL], env["TF_ENABLE_ONEDNN_OPTS"] = choice, "0"
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        lines.append(done.stdout.strip().splitlines()[-1])
    assert lines[0] == "pool True"
    assert lines[1].startswith("default:") and "CPU:0" in lines[1]

"""``p7keras.console``: one line per error or fault, the documented exit codes, tracebacks on request."""

import argparse
import errno

import pytest

from p7keras import console


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

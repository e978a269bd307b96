"""Outputs the user names (``--out``, ``--json``, ``--html``): an existing one is refused in one line before the
work unless ``--overwrite``; an unwritable folder is refused the same way; a failed write names the user's path."""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

from p7keras.cli.main import main
from p7keras.data import load, load_corpus, make_synthetic_corpus, save_corpus
from p7keras.data.shard_writer import write_shards
from p7keras.io import atomic_path, check_writable, save_model
from tests.data.conftest import TOY_ENCODER

# backend-independent here: the backends' own paths are tested in tests/models, tests/callbacks and tests/serve
pytestmark = pytest.mark.one_backend

ROOT = Path(__file__).resolve().parents[2]
OLD = b"a user's precious corpus\n"
REFUSED = "{prog}: error: {path}: exists already; pass --overwrite to replace it"
SHARDED_REFUSED = ("{prog}: error: {path}: holds a sharded corpus already (manifest.json); pass --overwrite to "
                   "replace it")


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _corpus(folder: Path) -> str:
    path = folder / "corpus.npz"
    if not path.exists():
        save_corpus(make_synthetic_corpus(num_articles=20, chunks_per_article=10, dim=8, seed=3), path)
    return str(path)


def _docs(folder: Path) -> str:
    docs = folder / "docs"
    docs.mkdir(exist_ok=True)
    paragraph = "Ownership rules decide when memory is freed, and moves transfer it. " * 3
    for i in range(3):
        (docs / f"doc{i}.md").write_text("\n\n".join(f"{paragraph} Part {p} of {i}." for p in range(8)))
    return str(docs)


def _model(folder: Path) -> str:
    from tests.evaluation.conftest import tiny_ranker

    path = folder / "model.keras"
    save_model(tiny_ranker(4, 8), path)
    return str(path)


@dataclasses.dataclass(frozen=True)
class Output:
    """One output flag of one command: ``make`` writes its inputs and returns the arguments after ``p7keras``."""

    name: str
    make: Callable[[Path, str], list[str]]
    target: str  # the output, relative to the case's folder
    prog: str
    check: Callable[[Path], object]  # reads the replaced output (raises when it is not the command's)
    folder: bool = False  # a sharded corpus folder


EVALUATE = ["--split", "all", "--context", "4", "--allow-small", "--no-diagnostics", "--latency-calls", "1",
            "--resamples", "10"]
OUTPUTS = [
    Output("data synth --out", lambda f, out: ["data", "synth", "--out", out, "--dim", "8", "--num-articles", "4",
                                               "--chunks-per-article", "8"], "x.npz", "p7keras data", load_corpus),
    Output("data from-text --out FILE", lambda f, out: ["data", "from-text", _docs(f), "--encoder",
                                                        f"{TOY_ENCODER}:encode", "--out", out],
           "x.npz", "p7keras data", load_corpus),
    Output("data from-text --out FOLDER", lambda f, out: ["data", "from-text", _docs(f), "--encoder",
                                                          f"{TOY_ENCODER}:encode", "--out", out,
                                                          "--shard-chunks", "10"],
           "shards", "p7keras data", load, folder=True),
    Output("data shard --out", lambda f, out: ["data", "shard", _corpus(f), "--out", out, "--shard-chunks", "60"],
           "shards", "p7keras data", load, folder=True),
    Output("data inspect --json", lambda f, out: ["data", "inspect", _corpus(f), "--context", "4", "--json", out],
           "r.json", "p7keras data", lambda p: json.loads(p.read_text())["chunks"]),
    Output("evaluate --json", lambda f, out: ["evaluate", "--data", _corpus(f), *EVALUATE, "--json", out],
           "r.json", "p7keras evaluate", lambda p: json.loads(p.read_text())["baselines"]),
    Output("evaluate --html", lambda f, out: ["evaluate", "--data", _corpus(f), *EVALUATE, "--html", out],
           "r.html", "p7keras evaluate", lambda p: p.read_text().index("<html")),
    Output("predict --json", lambda f, out: ["predict", _model(f), "--data", _corpus(f), "--split", "all",
                                             "--sample", "1", "--json", out],
           "r.json", "p7keras predict", lambda p: json.loads(p.read_text())["examples"]),
    Output("bench --json", lambda f, out: ["bench", "--what", "retrieval", "--dim", "8", "--retrieval-queries",
                                           "16", "--retrieval-bank", "64", "--json", out],
           "r.json", "p7keras bench", lambda p: json.loads(p.read_text())["retrieval_queries_per_s"]),
]


def _existing(case: Output, folder: Path) -> Path:
    """Puts an earlier output where ``case`` writes: a file of other bytes, or a finished sharded corpus."""
    target = folder / case.target
    if case.folder:
        write_shards(make_synthetic_corpus(num_articles=3, chunks_per_article=5, dim=4, seed=9), target, 100)
        (target / "notes.txt").write_text("mine\n")  # the user's own file in the folder: never removed
    else:
        target.write_bytes(OLD)
    return target


@pytest.mark.parametrize("case", OUTPUTS, ids=[c.name for c in OUTPUTS])
def test_an_existing_output_is_refused_before_the_work_and_left_as_it_was(case, tmp_path, capsys):
    target = _existing(case, tmp_path)
    argv = case.make(tmp_path, str(target))
    before = _snapshot(tmp_path)
    capsys.readouterr()
    assert main(argv) == 2
    captured = capsys.readouterr()
    line = (SHARDED_REFUSED if case.folder else REFUSED).format(prog=case.prog, path=target)
    assert captured.err.strip().splitlines() == [line]
    assert captured.out == ""  # refused before the work: no report, no progress
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("case", OUTPUTS, ids=[c.name for c in OUTPUTS])
def test_overwrite_replaces_an_existing_output(case, tmp_path, capsys):
    target = _existing(case, tmp_path)
    argv = case.make(tmp_path, str(target))
    assert main([*argv, "--overwrite"]) == 0, capsys.readouterr().err
    if case.folder:
        assert (target / "notes.txt").read_text() == "mine\n"
        assert load(str(target)).dim != 4  # the new corpus, not the earlier one
    else:
        assert target.read_bytes() != OLD
    case.check(target)
    assert not [p.name for p in tmp_path.rglob(".*.tmp*")]  # no temporary file left behind


def test_a_fresh_output_needs_no_overwrite(tmp_path, capsys):
    out = tmp_path / "new" / "x.npz"
    assert main(["data", "synth", "--out", str(out), "--dim", "8", "--num-articles", "4"]) == 0
    assert load_corpus(str(out)).num_articles == 4


def test_an_interrupted_from_text_into_a_folder_resumes_without_overwrite(tmp_path, capsys):
    docs, out = _docs(tmp_path), tmp_path / "shards"
    argv = ["data", "from-text", docs, "--encoder", f"{TOY_ENCODER}:encode", "--out", str(out), "--shard-chunks", "10"]
    assert main(argv) == 0
    (out / "manifest.json").unlink()
    progress = {"settings": None}  # an interrupted write: progress.json, no manifest
    (out / "progress.json").write_text(json.dumps(progress))
    assert main(argv) == 2  # resumes there (and finds other settings), is not refused as existing
    assert "a write with other settings was interrupted here" in capsys.readouterr().err
    assert main([*argv, "--overwrite"]) == 0  # starts it over
    assert load(str(out)).num_articles == 3 and not (out / "progress.json").exists()


# ------------------------------------------------------------------------------------- other commands
def test_study_refuses_an_out_that_is_not_its_table_before_any_run(tmp_path, monkeypatch, capsys):
    from tuner import study

    def no_run(*args, **kwargs):
        raise ValueError("a run started")

    monkeypatch.setattr(study, "run_one", no_run)
    out = tmp_path / "notes.md"
    out.write_bytes(OLD)
    argv = ["--data", _corpus(tmp_path), "--seeds", "0", "--folder", str(tmp_path / "study"), "--out", str(out)]
    assert study.main(argv) == 2
    assert capsys.readouterr().err.strip() == REFUSED.format(prog="python -m tuner.study", path=out)
    assert out.read_bytes() == OLD
    assert study.main([*argv, "--overwrite"]) == 2  # past the check: the first run starts
    assert capsys.readouterr().err.strip() == "python -m tuner.study: error: a run started"
    out.write_text(f"# an earlier table\n\n{study.ANALYSIS_MARK}\n")  # the study's own table: rewritten, a resume
    assert study.main(argv) == 2
    assert capsys.readouterr().err.strip() == "python -m tuner.study: error: a run started"


@pytest.mark.parametrize("module, prog", [("p7keras.bench.distribute", "python -m p7keras.bench.distribute: "),
                                          ("p7keras.bench.shards", "")])
def test_the_benchmark_scripts_refuse_an_existing_json_before_measuring(module, prog, tmp_path, capsys):
    import importlib

    out = tmp_path / "bench.json"
    out.write_bytes(OLD)
    argv = ["--json", str(out)] + (["--folder", str(tmp_path / "bench")] if module.endswith("shards") else [])
    assert importlib.import_module(module).main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == f"{prog}error: {out}: exists already; pass --overwrite to replace it"
    assert captured.out == "" and out.read_bytes() == OLD and not (tmp_path / "bench").exists()


# ------------------------------------------------------------------------------------ unwritable folders
def _unprivileged() -> list[str]:
    """A command prefix under which file permissions hold: none for a user, setpriv without the capabilities
    that let root ignore them for root (skips when there is no such way)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("root ignores file permissions and setpriv is not installed")
    caps = "-dac_override,-dac_read_search"
    prefix = ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}"]
    if subprocess.run([*prefix, "true"], capture_output=True).returncode != 0:
        pytest.skip("root ignores file permissions and cannot drop the capabilities here")
    return prefix


@pytest.mark.parametrize("args, target", [
    (["data", "synth", "--out", "{ro}/s.npz", "--dim", "8", "--num-articles", "4"], "{ro}/s.npz"),
    (["data", "inspect", "{corpus}", "--json", "{ro}/q.json"], "{ro}/q.json"),
    (["data", "from-text", "{docs}", "--encoder", f"{TOY_ENCODER}:encode", "--out", "{ro}/t.npz"], "{ro}/t.npz"),
], ids=["synth --out", "inspect --json", "from-text --out"])
def test_a_read_only_output_folder_is_refused_before_the_work(args, target, tmp_path):
    """A read-only output folder: exit 2, one line naming the user's path (never a temporary file's), no work."""
    prefix = _unprivileged()
    ro = tmp_path / "ro"
    ro.mkdir()
    names = {"ro": str(ro), "corpus": _corpus(tmp_path), "docs": _docs(tmp_path)}
    ro.chmod(0o555)
    try:
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
                   TF_CPP_MIN_LOG_LEVEL="3")
        result = subprocess.run([*prefix, sys.executable, "-m", "p7keras", *(a.format(**names) for a in args)],
                                capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    finally:
        ro.chmod(0o755)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"p7keras data: error: {target.format(**names)}: cannot write there (Permission denied)"]
    assert result.stdout == "" and list(ro.iterdir()) == []


def test_a_failed_write_names_the_users_path_not_the_temporary_file(tmp_path):
    """What the checks cannot foresee (permissions changed mid-run, a full disk) still names the user's path,
    with the error's class and errno: a permission denied is exit 2, a full disk exit 3."""
    from p7keras.console import describe_error

    out = tmp_path / "x.json"
    for error, code, line in [
        (PermissionError, 2, f"error: [Errno 13] Permission denied: '{out}'"),
        (OSError, 3, f"fault: [Errno 28] No space left on device: '{out}'; free space and run the same command "
                     "again to continue"),
    ]:
        number = errno.EACCES if error is PermissionError else errno.ENOSPC
        with pytest.raises(error) as caught, atomic_path(out) as tmp:
            raise error(number, os.strerror(number), tmp)
        assert (caught.value.errno, caught.value.strerror) == (number, os.strerror(number))
        assert ".tmp" not in str(caught.value)
        assert describe_error(caught.value) == (code, line)
        assert list(tmp_path.iterdir()) == []


def test_check_writable_refuses_existing_files_and_folders(tmp_path):
    existing = tmp_path / "a.json"
    existing.write_text("{}")
    with pytest.raises(FileExistsError, match=f"^{existing}: exists already; pass --overwrite to replace it$"):
        check_writable(None, existing)
    check_writable(existing, tmp_path / "b.json", overwrite=True)
    with pytest.raises(IsADirectoryError):
        check_writable(tmp_path, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]
    assert existing.read_bytes() == b"{}"


def test_an_error_without_a_message_names_where_it_was_raised():
    """A bare ``assert`` deep in a library (torch.compile's, once, on a GPU) printed ``fault: AssertionError: ``
    and nothing else; the line now says where it was raised and how to see the traceback."""
    from p7keras.console import describe_error

    def deep_in_a_library():
        raise AssertionError  # what a bare assert raises outside pytest's rewriting

    with pytest.raises(AssertionError) as caught:
        deep_in_a_library()
    code, line = describe_error(caught.value)
    here = "/".join(__file__.split(os.sep)[-3:])
    assert code == 3
    assert re.fullmatch(rf"fault: AssertionError with no message raised at {re.escape(here)}:\d+ in "
                        r"deep_in_a_library; P7KERAS_DEBUG=1 shows the traceback", line), line
    assert describe_error(RuntimeError("")) == (3, "fault: RuntimeError with no message; P7KERAS_DEBUG=1 shows "
                                                   "the traceback")

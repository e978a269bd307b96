"""``p7keras evaluate`` on the command line: reports written, errors as one line without a traceback."""

import json
import os
import subprocess
import sys

from p7keras.cli.main import main
from tests.evaluation.conftest import last_context_keras, tiny_ranker
from tests.helpers import K
import pytest

# backend-independent here: the backends' own paths are tested in tests/models, tests/callbacks and tests/serve
pytestmark = pytest.mark.one_backend

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_cli_writes_json_and_html(corpus_path, tmp_path, capsys):
    model_path = tmp_path / "ranker.keras"
    last_context_keras().save(model_path)
    json_path, html_path = tmp_path / "out" / "r.json", tmp_path / "out" / "r.html"
    code = main(["evaluate", str(model_path), "--data", corpus_path, "--latency-calls", "3",
                 "--json", str(json_path), "--html", str(html_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "ranker" in out and "ship gate" in out and "DIRECT" in out and "p50 ms" in out
    result = json.loads(json_path.read_text())
    assert set(result["models"]["ranker"]) >= {"directional", "retrieval", "ship_gate", "latency_ms"}
    assert "ship gate" in html_path.read_text().lower()


def test_unwritable_outputs_are_refused_before_the_evaluation(corpus_path, tmp_path, capsys):
    """Issue 13: the output path is probed first; the line names the path the user gave."""
    model_path = tmp_path / "ranker.keras"
    last_context_keras().save(model_path)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for flag, target in (("--json", blocker / "e.json"), ("--html", tmp_path)):
        assert main(["evaluate", str(model_path), "--data", corpus_path, flag, str(target)]) == 2
        captured = capsys.readouterr()
        assert captured.err.startswith(f"p7keras evaluate: error: {target}: ")
        assert len(captured.err.strip().splitlines()) == 1 and "DIRECT" not in captured.out  # nothing evaluated
    assert blocker.read_text() == "not a folder"


def test_cli_require_pass_exits_1_on_a_failing_model(corpus_path, tmp_path, capsys):
    model_path = tmp_path / "last.keras"
    last_context_keras().save(model_path)  # scores as DIRECT: no gain, fails the gate
    code = main(["evaluate", str(model_path), "--data", corpus_path, "--latency-calls", "2", "--require-pass"])
    assert code == 1 and "FAIL" in capsys.readouterr().out


def test_cli_errors_are_one_line_with_exit_2(corpus_path, tmp_path, capsys):
    assert main(["evaluate", "--data", corpus_path, "--context", "1"]) == 2
    assert "context length K must be an integer >= 2" in capsys.readouterr().err
    model_path = tmp_path / "k4.keras"
    tiny_ranker().save(model_path)
    assert main(["evaluate", str(model_path), "--data", corpus_path, "--context", str(K + 1)]) == 2
    err = capsys.readouterr().err
    assert f"K={K}" in err and f"K={K + 1}" in err and len(err.strip().splitlines()) == 1


def test_cli_subprocess_missing_model_no_traceback(corpus_path, tmp_path):
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-m", "p7keras", "evaluate", str(tmp_path / "nope"), "--data", corpus_path],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "p7keras evaluate: error:" in done.stderr and "nope: no such model file or folder" in done.stderr


TINY_RUN = dict(d_model=16, num_heads=2, num_layers=1, ff_dim=32, epochs=1, batch_size=32, context_length=4,
                export=False)


def _run_json(code_args, capsys, tmp_path, name):
    out_json = tmp_path / f"{name}.json"
    assert main([*code_args, "--latency-calls", "2", "--allow-small", "--json", str(out_json)]) == 0
    return json.loads(out_json.read_text()), capsys.readouterr().out


def test_run_directory_defaults_its_data_split_and_seed_from_config_json(corpus_path, tmp_path, capsys):
    from p7keras.training import TrainConfig, train

    run = train(TrainConfig(data=corpus_path, seed=3, output_dir=str(tmp_path / "runs"), **TINY_RUN)).run_dir
    capsys.readouterr()
    defaulted, out = _run_json(["evaluate", run], capsys, tmp_path, "defaulted")
    assert f"data from {run}/config.json: {corpus_path}, split ood, seed 3" in out
    explicit, _ = _run_json(["evaluate", run, "--data", corpus_path, "--split", "ood", "--seed", "3"], capsys,
                            tmp_path, "explicit")
    assert defaulted["data"] == explicit["data"] and defaulted["baselines"] == explicit["baselines"]
    assert defaulted["data"]["split"] == "ood"


def test_run_directory_on_the_synthetic_corpus_is_evaluated_on_the_same_corpus(tmp_path, capsys):
    from p7keras.data import make_synthetic_corpus
    from p7keras.evaluation import evaluate
    from p7keras.training import TrainConfig, train

    sizes = dict(num_articles=30, chunks_per_article=12, dim=16)
    run = train(TrainConfig(output_dir=str(tmp_path / "runs"), **sizes, **TINY_RUN)).run_dir
    capsys.readouterr()
    defaulted, out = _run_json(["evaluate", run], capsys, tmp_path, "synthetic")
    assert "the synthetic corpus (num_articles=30, chunks_per_article=12, dim=16), split ood, seed 0" in out
    direct = evaluate(None, make_synthetic_corpus(**sizes), split="ood", context_length=4, strict_gate=False)
    assert defaulted["baselines"] == direct["baselines"]


def test_without_data_or_a_run_directory_evaluate_says_what_is_missing(tmp_path, capsys):
    model_path = tmp_path / "ranker.keras"
    last_context_keras().save(model_path)
    assert main(["evaluate", str(model_path)]) == 2
    assert capsys.readouterr().err.strip() == (
        "p7keras evaluate: error: --data is required: no MODEL is a run directory whose config.json names its data")

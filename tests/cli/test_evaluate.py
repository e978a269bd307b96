"""``p7keras evaluate`` on the command line: reports written, errors as one line without a traceback."""

import json
import os
import subprocess
import sys

from p7keras.cli.main import main
from tests.evaluation.conftest import last_context_keras, tiny_ranker
from tests.helpers import K

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

"""`p7keras bench` prints and writes the throughput probe's figures."""

import json

import keras

from p7keras.cli.main import main


def test_bench_cli_writes_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = main([
        "bench", "--dim", "16", "--context", "3", "--d-model", "16", "--num-layers", "1",
        "--batch-size", "8", "--steps", "3", "--json", str(out),
    ])
    assert code == 0
    result = json.loads(out.read_text())
    assert {"train_seq_per_s", "predict_p50_ms", "predict_p95_ms", "backend"} <= set(result)
    assert result["backend"] == keras.backend.backend()
    assert result["train_seq_per_s"] > 0
    assert 0 < result["predict_p50_ms"] <= result["predict_p95_ms"]
    assert "sequences/s" in capsys.readouterr().out


def test_bench_rejects_bad_configuration(capsys):
    assert main(["bench", "--steps", "0"]) == 2
    assert "must be >= 1" in capsys.readouterr().err

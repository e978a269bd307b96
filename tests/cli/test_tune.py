"""`p7keras tune` / `python -m tuner.search`: impossible settings stop with one line and exit code 2."""

import pytest

from p7keras.cli.main import main

from tests.tuner.conftest import run_module, search_flags

# backend-independent here: the backends' own paths are tested in tests/models, tests/callbacks and tests/serve
pytestmark = pytest.mark.one_backend


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--grid", "priority9"], "unknown grid 'priority9'; choose one of: priority1"),
        (["--objective", "val_loss"], "unknown objective 'val_loss'; choose one of: val_margin, val_R@5"),
        (["--tuner", "random"], "unknown tuner 'random'"),
        (["--max-trials", "0"], "max trials must be >= 1"),
        (["--tuner", "hyperband", "--max-trials", "3"], "--max-trials does not apply to the hyperband tuner"),
        (["--grid", "priority1", "--context", "7"], "--context-length is set by grid priority1"),
        (["--grid", "priority2", "--w-rank", "2"], "--w-rank is set by grid priority2"),
        (["--grid", "priority2", "--lambda", "0.95"], "anchor_lambda must be in [0.6, 0.9], got 0.95"),
        (["--data", "missing.npz"], "missing.npz"),
        (["--data", "x.npz", "--train", "y.npz"], "not both"),
    ],
)
def test_impossible_settings_fail_with_one_line(flags, message, tmp_path, capsys):
    assert main(["tune", *search_flags(tmp_path), *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.startswith("p7keras tune: error:") and len(err.splitlines()) == 1
    assert not (tmp_path / "models").exists()


def test_synthetic_size_with_a_data_file_is_refused(tmp_path, capsys):
    from p7keras.data import make_synthetic_corpus, save_corpus

    path = tmp_path / "corpus.npz"
    save_corpus(make_synthetic_corpus(num_articles=10, chunks_per_article=10, dim=16), path)
    assert main(["tune", *search_flags(tmp_path), "--data", str(path)]) == 2
    assert "size the synthetic corpus and cannot be used with a data file" in capsys.readouterr().err


def test_changed_settings_on_an_existing_project_are_refused(tmp_path, capsys):
    project = tmp_path / "tuning" / "recommended-grid"
    project.mkdir(parents=True)
    (project / "search.json").write_text('{"grid": "recommended", "tuner": "grid", "objective": "val_margin", '
                                         '"synthetic": {}, "config": {"epochs": 5}}')
    assert main(["tune", *search_flags(tmp_path), "--grid", "recommended"]) == 2
    err = capsys.readouterr().err
    assert "holds a search with other settings" in err and "--epochs" in err and "--overwrite" in err


def test_module_entry_point_reports_errors_without_traceback(tmp_path):
    done = run_module("--grid", "nope", "--directory", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "p7keras tune: error: unknown grid 'nope'; choose one of: priority1, priority2, priority3, real-text, real-text-objective, recommended")
    assert "Traceback" not in done.stderr


def test_data_too_short_for_a_context_length_of_the_grid_fails_before_any_trial(tmp_path, capsys):
    from p7keras.data import make_synthetic_corpus, save_corpus

    path = tmp_path / "short.npz"
    save_corpus(make_synthetic_corpus(num_articles=20, chunks_per_article=6, dim=16), path)  # no window of K = 7
    assert main(["tune", *search_flags(tmp_path, synthetic=False), "--data", str(path), "--grid", "priority1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "short.npz" in err and "7" in err
    assert not list((tmp_path / "tuning").rglob("trial_*"))


def test_failing_trials_print_one_line_each_and_stop_the_search(tmp_path, capsys, monkeypatch):
    from tuner.hypermodel import P7HyperModel

    def broken_fit(self, hp, model, **kwargs):
        raise ValueError("boom")

    monkeypatch.setattr(P7HyperModel, "fit", broken_fit)
    assert main(["tune", *search_flags(tmp_path), "--grid", "recommended"]) == 3  # a fault during the run
    *trials, last = capsys.readouterr().err.strip().splitlines()
    assert trials and all(line.startswith("[p7keras] trial ") and "failed: ValueError: boom" in line for line in trials)
    assert last.startswith("p7keras tune: fault: Number of consecutive failures") and "ValueError: boom" in last


def test_a_damaged_state_file_names_the_project_and_the_way_out(tmp_path, capsys):
    project = tmp_path / "tuning" / "recommended-grid"
    project.mkdir(parents=True)
    (project / "tuner0.json").write_text("{}")
    (project / "oracle.json").write_text("")  # e.g. written by an older KerasTuner run that was killed
    assert main(["tune", *search_flags(tmp_path), "--grid", "recommended"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("p7keras tune: error: cannot resume the search in") and str(project) in err
    assert "--overwrite" in err

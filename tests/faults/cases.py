"""The fault cases of issue 13: what a user can get wrong or what can go wrong, and the one line each gets.

Each :class:`Fault` names a case, builds it in a fresh folder (``make`` writes the bad input and returns
the command's arguments), and says the exit code and the exact stderr line it must end in, with ``{dir}``
standing for that folder. The cases that need a real process (kill -9, Ctrl-C, a backend that does not
exist, a disk that fills up mid-run) say which test checks them. The README's fault table is rendered
from this list (:func:`render_table`); ``tests/faults/test_faults.py`` runs every case and checks that the
README shows this very table.

    $ python -m tests.faults.cases     # prints the table the README holds
"""

from __future__ import annotations

import dataclasses
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

from p7keras.data import ChunkCorpus, make_synthetic_corpus, save_corpus

DIM = 16
TINY = ["--d-model", "16", "--num-heads", "2", "--num-layers", "1", "--batch-size", "32", "--context", "4"]


@dataclasses.dataclass(frozen=True)
class Fault:
    """One case of the fault table.

    Attributes:
        name: what goes wrong, as the table says it.
        command: the command, as the table shows it (``{dir}``: the case's folder).
        code: the exit code.
        message: the last stderr line (``{dir}``: the case's folder).
        make: writes the case into a folder and returns the arguments after ``p7keras``; None when
            ``test`` checks the case in a real process.
        test: the test that checks the case (``path::name``).
    """

    name: str
    command: str
    code: int
    message: str
    make: Callable[[Path], list[str]] | None = None
    test: str = "tests/faults/test_faults.py::test_fault_case"


def _unit(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    x = rng.standard_normal(shape).astype("float32")
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _sequences(folder: Path, name: str = "seqs.npz", **change) -> Path:
    """A sequence file (contexts (40, 4, D), targets (40, D)) with ``change`` applied (None drops a key)."""
    rng = np.random.default_rng(0)
    arrays = {"contexts": _unit(rng, (40, 4, DIM)), "targets": _unit(rng, (40, DIM))}
    arrays.update(change)
    path = folder / name
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


def _corpus(folder: Path, name: str = "corpus.npz") -> Path:
    path = folder / name
    save_corpus(make_synthetic_corpus(num_articles=20, chunks_per_article=10, dim=DIM, seed=3), path)
    return path


def _train(data: Path, folder: Path, *flags: str) -> list[str]:
    return ["train", "--data", str(data), *TINY, "--epochs", "1", "--output-dir", str(folder / "runs"),
            "--no-export", *flags]


def _with_nan(folder: Path) -> list[str]:
    contexts = _unit(np.random.default_rng(1), (40, 4, DIM))
    contexts[7, 2, 3] = np.nan
    return _train(_sequences(folder, contexts=contexts), folder)


def _with_inf(folder: Path) -> list[str]:
    targets = _unit(np.random.default_rng(1), (40, DIM))
    targets[3, 0] = np.inf
    return _train(_sequences(folder, targets=targets), folder)


def _overflow(folder: Path) -> np.ndarray:
    contexts = _unit(np.random.default_rng(1), (40, 4, DIM)).astype("float64")
    contexts[5, 1, 0] = 1e300
    return contexts


def _object_array(folder: Path) -> list[str]:
    path = folder / "seqs.npz"
    np.savez(path, contexts=np.array([[1.0], "text"], dtype=object), targets=np.zeros((2, DIM), "float32"))
    return _train(path, folder)


def _non_contiguous(folder: Path) -> list[str]:
    rng = np.random.default_rng(0)
    path = folder / "corpus.npz"
    np.savez(path, vectors=_unit(rng, (30, DIM)), article_ids=np.array([0] * 10 + [1] * 10 + [0] * 10))
    return _train(path, folder)


def _truncated(folder: Path) -> list[str]:
    whole = _sequences(folder, name="whole.npz").read_bytes()
    path = folder / "seqs.npz"
    path.write_bytes(whole[: len(whole) // 2])
    return _train(path, folder)


def _text_named_npz(folder: Path) -> list[str]:
    path = folder / "seqs.npz"
    path.write_text("contexts,targets\n0.1,0.2\n")
    return _train(path, folder)


def _empty(folder: Path) -> list[str]:
    path = folder / "seqs.npz"
    path.write_bytes(b"")
    return _train(path, folder)


def _shards(folder: Path) -> Path:
    from p7keras.data import load  # noqa: PLC0415
    from p7keras.data.shard_writer import write_shards  # noqa: PLC0415

    write_shards(load(_corpus(folder)), folder / "shards", shard_chunks=50)
    return folder / "shards"


def _shard_missing(folder: Path) -> list[str]:
    (_shards(folder) / "shard-00002.vectors.npy").unlink()
    return _train(folder / "shards", folder)


def _shard_truncated(folder: Path) -> list[str]:
    path = _shards(folder) / "shard-00001.vectors.npy"
    path.write_bytes(path.read_bytes()[:-64])
    return ["evaluate", "--data", str(folder / "shards")]


def _shard_nan_row(folder: Path) -> list[str]:
    path = _shards(folder) / "shard-00003.vectors.npy"
    vectors = np.load(path)
    vectors[7, 0] = np.nan
    np.save(path, vectors)  # same size and header: found when the row is read (or by data verify)
    return ["data", "verify", str(folder / "shards")]


def _identical_corpus(folder: Path) -> Path:
    """A corpus of 20 articles of 10 chunks whose 200 vectors are all the same."""
    path = folder / "same.npz"
    save_corpus(ChunkCorpus(np.tile(_unit(np.random.default_rng(0), (1, DIM)), (200, 1)),
                            np.repeat(np.arange(20), 10)), path)
    return path


def _output_under_a_file(folder: Path) -> list[str]:
    (folder / "runs").write_text("a file where the output folder should be\n")
    return _train(_corpus(folder), folder)


def _corrupt_keras(folder: Path) -> list[str]:
    model = folder / "model.keras"
    with zipfile.ZipFile(model, "w") as archive:
        archive.writestr("config.json", "{not json")
    return ["evaluate", str(model), "--data", str(_corpus(folder))]


def _not_a_model(folder: Path) -> list[str]:
    model = folder / "model.keras"
    model.write_text("not a zip\n")
    return ["evaluate", str(model), "--data", str(_corpus(folder))]


def _evaluate_json_under_a_file(folder: Path) -> list[str]:
    (folder / "reports").write_text("a file\n")
    return ["evaluate", str(folder / "model.keras"), "--data", str(_corpus(folder)), "--json",
            str(folder / "reports" / "e.json")]


def _evaluate_overflow(folder: Path) -> list[str]:
    import p7keras  # noqa: PLC0415 (Keras only when a case needs a model)

    model = p7keras.TransformerP7Ranker(context_length=4, input_dim=DIM, d_model=16, num_heads=2, num_layers=1)
    model.save(folder / "model.keras")
    return ["evaluate", str(folder / "model.keras"), "--data", str(_sequences(folder, contexts=_overflow(folder)))]


def _export_over(folder: Path) -> list[str]:
    (folder / "served").mkdir()
    (folder / "served" / "notes.txt").write_text("the user's\n")
    (folder / "model.keras").write_bytes(_keras_archive())
    return ["export", str(folder / "model.keras"), "--out", str(folder / "served")]


def _quantize_saved_model(folder: Path) -> list[str]:
    (folder / "export").mkdir()
    (folder / "export" / "saved_model.pb").write_bytes(b"")  # what makes a folder a SavedModel to the path check
    return ["evaluate", str(folder / "export"), "--data", str(_corpus(folder)), "--quantize", "int8"]


def _onnx_bfloat16(folder: Path) -> list[str]:
    (folder / "model.keras").write_bytes(_keras_archive())
    return ["export", str(folder / "model.keras"), "--out", str(folder / "model.onnx"), "--quantize", "bfloat16"]


def _damaged_onnx(folder: Path) -> list[str]:
    (folder / "model.onnx").write_bytes(b"not a model")
    return ["evaluate", str(folder / "model.onnx"), "--data", str(_corpus(folder))]


def _keras_archive() -> bytes:
    """The bytes of a zip archive with a JSON config.json (what the path check reads of a .keras file)."""
    import io  # noqa: PLC0415

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("config.json", "{}")
    return buffer.getvalue()


TRAIN = "p7keras train --data DIR/seqs.npz"
E = "p7keras train: error: {dir}/seqs.npz: "
TESTS = "tests/training/test_train.py::"
FAULTS: tuple[Fault, ...] = (
    # The usual mistakes with a data file (a sequence file here; a chunk corpus gets the same checks).
    Fault("a required key is missing", TRAIN, 2, E + "missing key 'targets' (found keys: ['contexts'])",
          lambda f: _train(_sequences(f, targets=None), f)),
    Fault("an array of the wrong rank", TRAIN, 2, E + "key 'contexts' must have rank 3, got shape (40, 16)",
          lambda f: _train(_sequences(f, contexts=np.zeros((40, DIM), "float32")), f)),
    Fault("integers where vectors belong", TRAIN, 2, E + "key 'contexts' must be a float array, got dtype int32",
          lambda f: _train(_sequences(f, contexts=np.zeros((40, 4, DIM), "int32")), f)),
    Fault("a NaN in a context", TRAIN, 2,
          E + "key 'contexts' has 1 vectors with NaN or inf values (first at row (7, 2))", _with_nan),
    Fault("an inf in a target", TRAIN, 2, E + "key 'targets' has 1 vectors with NaN or inf values (first at row 3)",
          _with_inf),
    Fault("float64 values beyond float32's range", TRAIN, 2,
          E + "key 'contexts' has 1 vectors with values beyond float32's range (first at row (5, 1), |value| up "
          "to 1e+300); p7keras computes in float32", lambda f: _train(_sequences(f, contexts=_overflow(f)), f)),
    Fault("the same, given to evaluate", "p7keras evaluate DIR/model.keras --data DIR/seqs.npz", 2,
          "p7keras evaluate: error: {dir}/seqs.npz: key 'contexts' has 1 vectors with values beyond float32's "
          "range (first at row (5, 1), |value| up to 1e+300); p7keras computes in float32", _evaluate_overflow),
    Fault("zero rows", TRAIN, 2, E + "key 'contexts' is empty (shape (0, 4, 16))",
          lambda f: _train(_sequences(f, contexts=np.zeros((0, 4, DIM), "float32"),
                                      targets=np.zeros((0, DIM), "float32")), f)),
    Fault("contexts and targets of different D", TRAIN, 2,
          E + "vector dimension differs: 'contexts' has D = 16 but 'targets' has D = 12",
          lambda f: _train(_sequences(f, targets=np.ones((40, 12), "float32") / np.sqrt(12)), f)),
    Fault("K longer than every article", "p7keras train --data DIR/corpus.npz --context 12", 2,
          "p7keras train: error: {dir}/corpus.npz: context length K = 12 needs articles of at least K + 1 = 13 "
          "chunks, but the longest article has 10", lambda f: _train(_corpus(f), f, "--context", "12")),
    Fault("an article's chunks not together", "p7keras train --data DIR/corpus.npz", 2,
          "p7keras train: error: {dir}/corpus.npz: key 'article_ids' is not contiguous: article 0 comes back at "
          "row 20 after other articles (store each article's chunks together, in reading order)", _non_contiguous),
    Fault("an object (pickled) array", TRAIN, 2,
          E + "key 'contexts' is an object array that needs pickle; store it as a numeric or fixed-width string "
          "array (files are loaded with allow_pickle=False)", _object_array),
    Fault("an empty file", TRAIN, 2, E + "the file is empty", _empty),
    Fault("a truncated file", TRAIN, 2, E + "not a readable .npz archive (File is not a zip file)", _truncated),
    Fault("a text file named .npz", TRAIN, 2,
          E + "not an .npz archive (it does not start as a zip file does; its first bytes are b'contex')",
          _text_named_npz),
    Fault("a data file that is not there", "p7keras train --data DIR/nope.npz", 2,
          "p7keras train: error: {dir}/nope.npz: no such file", lambda f: _train(f / "nope.npz", f)),
    # A sharded corpus folder (p7keras data shard): damage named by the shard file.
    Fault("a shard file missing", "p7keras train --data DIR/shards", 2,
          "p7keras train: error: {dir}/shards/shard-00002.vectors.npy: missing (listed in manifest.json)",
          _shard_missing),
    Fault("a truncated shard", "p7keras evaluate --data DIR/shards", 2,
          "p7keras evaluate: error: {dir}/shards/shard-00001.vectors.npy: 3264 bytes, the manifest says 3328 "
          "(truncated or replaced; `p7keras data verify {dir}/shards` checks every shard)", _shard_truncated),
    Fault("a NaN in a shard's vectors", "p7keras data verify DIR/shards", 2,
          "p7keras data: error: {dir}/shards: 1 of 4 shards damaged: {dir}/shards/shard-00003.vectors.npy: sha256 of "
          "shard-00003.vectors.npy differs from the manifest's (changed or damaged); 1 row holds NaN or inf (row 7)",
          _shard_nan_row),
    Fault("evaluate without --data", "p7keras evaluate DIR/model.keras", 2,
          "p7keras evaluate: error: --data is required: no MODEL is a run directory whose config.json names its "
          "data", lambda f: ["evaluate", str(f / "model.keras")]),
    # Flags.
    Fault("an impossible value", "p7keras train --lambda 0.95", 2,
          "p7keras train: error: anchor_lambda must be in [0.6, 0.9], got 0.95",
          lambda f: _train(_corpus(f), f, "--lambda", "0.95")),
    Fault("a misspelt flag", "p7keras train --lamda 0.8", 2,
          "p7keras train: error: unrecognized arguments: --lamda 0.8",
          lambda f: ["train", "--lamda", "0.8", "--output-dir", str(f / "runs")]),
    Fault("a tuner grid that does not exist", "p7keras tune --grid nonsense", 2,
          "p7keras tune: error: unknown grid 'nonsense'; choose one of: priority1, priority2, priority3, "
          "real-text, real-text-objective, recommended",
          lambda f: ["tune", "--grid", "nonsense", "--directory", str(f / "tuning")]),
    Fault("a backend that does not exist", "KERAS_BACKEND=nonsense p7keras evaluate --data x.npz", 2,
          "p7keras evaluate: error: KERAS_BACKEND='nonsense' is not a Keras backend; use one of tensorflow, jax, "
          "torch", test="tests/cli/test_main.py::test_unknown_backend_in_the_environment_is_one_line"),
    # Output paths: probed before any work.
    Fault("a file where the output folder goes", "p7keras train --output-dir DIR/runs", 2,
          "p7keras train: error: output folder {dir}/runs is a file, not a folder", _output_under_a_file),
    Fault("an output folder too full for the run", "p7keras train --output-dir DIR/runs", 2,
          "p7keras train: error: output folder DIR/runs has 1 MiB free; this run needs about N MiB (best.keras … + "
          "final.keras … + backup (2 epochs) … + a file being replaced … + logs and plots … MiB for … weights, + 25% "
          "margin; no export (--no-export)) (and leaves no run directory)",
          test="tests/faults/test_faults.py::test_an_output_folder_too_full_for_the_run_stops_before_it"),
    Fault("evaluate --json into a folder that is a file", "p7keras evaluate … --json DIR/reports/e.json", 2,
          "p7keras evaluate: error: {dir}/reports/e.json: cannot write there: {dir}/reports is a file, not a "
          "folder", _evaluate_json_under_a_file),
    # Models.
    Fault("a damaged .keras file", "p7keras evaluate DIR/model.keras --data …", 2,
          "p7keras evaluate: error: {dir}/model.keras: cannot load as a Keras model (JSONDecodeError: Expecting "
          "property name enclosed in double quotes: line 1 column 2 (char 1))", _corrupt_keras),
    Fault("a .keras file that is not one", "p7keras evaluate DIR/model.keras --data …", 2,
          "p7keras evaluate: error: {dir}/model.keras: not a .keras model archive (not a zip file)", _not_a_model),
    Fault("keras.saving.load_model without importing p7keras",
          "python -c \"import keras; keras.saving.load_model('best.keras')\"", 1,
          "TypeError: Could not locate class 'TransformerP7Ranker'. … (after import p7keras, before or after "
          "import keras, it loads)",
          test="tests/test_registration.py::test_without_importing_p7keras_keras_cannot_locate_the_class"),
    # During a run: the same command continues it.
    Fault("the disk fills up mid-training", "p7keras train …", 3,
          "p7keras train: fault: [Errno 28] No space left on device: 'DIR/…/history.json'; free space and run the "
          "same command again to continue",
          test="tests/faults/test_disk_full.py::test_disk_full_mid_training_is_exit_3_and_the_run_resumes"),
    Fault("a non-finite loss", "p7keras train …", 3,
          "p7keras train: fault: non-finite loss (nan) at epoch E, batch B: training stopped; checkpoints from "
          "earlier epochs are intact. Lower the learning rate or check the data (p7keras data inspect).",
          test=TESTS + "test_nan_loss_stops_naming_epoch_and_batch_and_keeps_checkpoint"),
    Fault("Ctrl-C mid-training", "p7keras train …", 130,
          "p7keras train: interrupted; run the same command again to continue where it stopped",
          test="tests/faults/test_faults.py::test_ctrl_c_mid_training_stops_in_one_line_and_resumes"),
    Fault("kill -9 mid-training", "p7keras train …", 137,
          "(nothing: killed) the same command again prints `Resuming DIR/<run>` and finishes every epoch",
          test=TESTS + "test_killed_run_resumes_with_full_history"),
    Fault("the latest checkpoint truncated by a crash", "p7keras train … (again)", 0,
          "(on stdout) DIR/<run>/backup/latest.weights.h5 is damaged …; resuming from the backup before it "
          "(epoch 2)", test=TESTS + "test_damaged_backup_falls_back_to_the_one_before"),
    Fault("the checkpoint's epoch record emptied by a crash", "p7keras train … (again)", 0,
          "(on stdout) DIR/<run>/backup/training_metadata.json is damaged (not a JSON record of the finished "
          "epoch); resuming from the backup before it (epoch 2)",
          test=TESTS + "test_damaged_backup_falls_back_to_the_one_before"),
    Fault("both checkpoints damaged", "p7keras train … (again)", 3,
          "p7keras train: fault: DIR/<run>/backup/latest.weights.h5 is damaged …; remove DIR/<run>/backup and run "
          "the same command again to restart this run from epoch 1 (its 2 finished epochs are lost; best.keras "
          "stays)", test=TESTS + "test_no_loadable_backup_says_what_to_remove"),
    Fault("a resumed run's verdict", "p7keras train … (again)", 0,
          "(verdict.json keeps the warnings of the epochs before the interruption; epochs count from 1)",
          test=TESTS + "test_resumed_run_keeps_the_warnings_of_the_epochs_before_and_counts_epochs_from_1"),
    Fault("a search killed between trials", "p7keras tune … (again)", 0,
          "Resuming DIR/tuning/<grid>: N trial(s) already finished (only the trials left run)",
          test="tests/tuner/test_resume.py::test_killed_search_reruns_only_the_trials_left"),
    # issue 22: quality
    Fault("a NaN in a shard's vectors, given to train", "p7keras train --data DIR/shards", 2,
          "p7keras train: error: {dir}/shards/shard-00003.vectors.npy: row 7 holds NaN or inf (a chunk vector must be "
          "finite and non-zero; `p7keras data verify {dir}/shards` lists such rows in every shard: how many, and the "
          "first ones)", lambda f: _train(Path(_shard_nan_row(f)[-1]), f)),
    Fault("every vector the same", "p7keras train --data DIR/same.npz", 2,
          "p7keras train: error: {dir}/same.npz: 1 distinct vector among 200 rows: every chunk is the same; nothing "
          "can be learned and retrieval figures would mean nothing", lambda f: _train(_identical_corpus(f), f)),
    Fault("tune on every vector the same", "p7keras tune --data DIR/same.npz", 2,
          "p7keras tune: error: {dir}/same.npz: 1 distinct vector among 200 rows: every chunk is the same; nothing "
          "can be learned and retrieval figures would mean nothing",
          lambda f: ["tune", "--data", str(_identical_corpus(f)), "--directory", str(f / "tuning")]),
    Fault("the next chunk equal to the last context chunk", "p7keras train --data DIR/drift.npz", 0,
          "(on stdout, before training) warning: DIR/drift.npz: the next chunk equals the last context chunk in 160 "
          "of 160 sequences (100%): DIRECT (reusing the last chunk) is already perfect, so a model can at best match "
          "it and retrieval figures will say little",
          test="tests/training/test_data_checks.py::test_direct_perfect_data_warns_then_trains"),
    Fault("data inspect on every vector the same", "p7keras data inspect DIR/c.npz", 1,
          "(on stdout) warning: DIR/c.npz: 1 distinct vector among 400 rows: every chunk is the same; …, then "
          "verdict: unusable: every chunk is the same; training refuses this data",
          test="tests/cli/test_data.py::test_inspect_on_degenerate_data_says_so_before_the_verdict"),
    # issue 22: outputs
    Fault("data synth over an existing corpus", "p7keras data synth --out DIR/synthetic.npz", 2,
          "p7keras data: error: {dir}/synthetic.npz: exists already; pass --overwrite to replace it",
          lambda f: ["data", "synth", "--out", _earlier(f, "synthetic.npz")]),
    Fault("data from-text over an existing corpus", "p7keras data from-text DIR/docs --encoder … --out DIR/docs.npz",
          2, "p7keras data: error: {dir}/docs.npz: exists already; pass --overwrite to replace it",
          lambda f: ["data", "from-text", _docs(f), "--encoder", _ENCODER, "--out", _earlier(f, "docs.npz")]),
    Fault("data inspect --json over an existing file", "p7keras data inspect DIR/corpus.npz --json DIR/q.json", 2,
          "p7keras data: error: {dir}/q.json: exists already; pass --overwrite to replace it",
          lambda f: ["data", "inspect", str(_corpus(f)), "--json", _earlier(f, "q.json")]),
    Fault("a read-only output folder", "p7keras data synth --out DIR/ro/s.npz", 2,
          "p7keras data: error: DIR/ro/s.npz: cannot write there (Permission denied)",
          test="tests/cli/test_outputs.py::test_a_read_only_output_folder_is_refused_before_the_work"),
    Fault("data from-text on a folder of binary files", "p7keras data from-text DIR/docs --encoder … --out …", 2,
          "p7keras data: error: {dir}/docs: none of its 2 .txt or .md files is text (a NUL byte, or over 1% of "
          "its bytes not UTF-8; first: notes.txt)", lambda f: _binary_docs(f)),
    # issue 22: locks
    Fault("the same command while its run is live", "p7keras train … (again, while the first runs)", 2,
          "p7keras train: error: run directory DIR/<run> is in use by another process (pid P on host H, started "
          "T: p7keras train …); wait for it to finish or stop it (a lock left by a killed process is taken over)",
          test=TESTS + "test_killed_run_resumes_with_full_history"),
    Fault("the owner of a live run killed -9", "p7keras train … (again)", 0,
          "(on stdout) Resuming DIR/<run> after epoch N of E (the dead owner's lock is taken over)",
          test="tests/training/test_run_dir.py::test_a_live_run_directory_is_refused_in_one_line_before_any_work"),
    Fault("a --process-id given twice", "p7keras train … --num-processes 2 --process-id 1 (twice)", 2,
          "p7keras train: error: --process-id 1 of the run into DIR/runs is in use by another process (pid P on "
          "host H, started T: p7keras train …); wait for it to finish or stop it (a lock left by a killed process "
          "is taken over)",
          test="tests/training/test_run_dir.py::test_a_process_id_given_twice_is_refused_before_it_joins_the_run"),
    Fault("a search folder in use", "p7keras tune … (twice)", 2,
          "p7keras tune: error: search folder DIR/tuning/<project> is in use by another process (pid P on host H, "
          "started T: p7keras tune …); wait for it to finish or stop it (a lock left by a killed process is taken "
          "over)", test="tests/tuner/test_search.py::"
          "test_a_second_search_on_a_live_folder_is_refused_and_a_killed_ones_lock_taken_over"),
    Fault("a shard folder in use", "p7keras data shard DIR/corpus.npz --out DIR/shards (twice)", 2,
          "p7keras data: error: shard folder DIR/shards is in use by another process (pid P on host H, started T: "
          "p7keras data shard …); wait for it to finish or stop it (a lock left by a killed process is taken over)",
          test="tests/data/test_shard_writer.py::"
          "test_a_second_shard_command_on_a_live_folder_is_refused_before_reading_its_input"),
    # issue 22: quick (refused before Keras loads, with the subcommand's usage)
    Fault("a misspelt flag of a data subcommand", "p7keras data inspect DIR/corpus.npz --bogus", 2,
          "p7keras data inspect: error: unrecognized arguments: --bogus",
          lambda f: ["data", "inspect", str(_corpus(f)), "--bogus"]),
    Fault("evaluate with no arguments", "p7keras evaluate", 2,
          "p7keras evaluate: error: --data is required: no MODEL is a run directory whose config.json names its "
          "data", lambda f: ["evaluate"]),
    Fault("a model path that is not there", "p7keras evaluate DIR/nope.keras --data DIR/corpus.npz", 2,
          "p7keras evaluate: error: {dir}/nope.keras: no such model file or folder",
          lambda f: ["evaluate", str(f / "nope.keras"), "--data", str(_corpus(f))]),
    Fault("tune with a data file that is not there", "p7keras tune --data DIR/nope.npz", 2,
          "p7keras tune: error: {dir}/nope.npz: no such file",
          lambda f: ["tune", "--data", str(f / "nope.npz"), "--directory", str(f / "tuning")]),
    Fault("tune with a K longer than every article", "p7keras tune --data DIR/corpus.npz --context 12", 2,
          "p7keras tune: error: {dir}/corpus.npz: context length K = 12 needs articles of at least K + 1 = 13 "
          "chunks, but the longest article has 10",
          lambda f: ["tune", "--grid", "priority2", "--data", str(_corpus(f)), "--context", "12", "--directory",
                     str(f / "tuning")]),
    # issue 23
    Fault("export over an existing folder", "p7keras export DIR/model.keras --out DIR/served", 2,
          "p7keras export: error: {dir}/served: exists already; pass --overwrite to replace it", _export_over),
    Fault("--quantize on a SavedModel", "p7keras evaluate DIR/export --quantize int8", 2,
          "p7keras evaluate: error: {dir}/export: a SavedModel is predicted as it was exported; --quantize int8 "
          "applies to a .keras model or a run directory (export a quantized copy with p7keras export MODEL --out OUT "
          "--quantize int8)", _quantize_saved_model),
    Fault("--quantize bfloat16 for an ONNX file", "p7keras export DIR/model.keras --out DIR/model.onnx --quantize bfloat16",
          2, "p7keras export: error: {dir}/model.onnx: --quantize bfloat16 cannot be written as ONNX (ONNX Runtime has "
          "no bfloat16 CPU kernels): use int8, or a .keras file or SavedModel", _onnx_bfloat16),
    Fault("a damaged ONNX file", "p7keras evaluate DIR/model.onnx", 2,
          "p7keras evaluate: error: {dir}/model.onnx: cannot load as an ONNX model (DecodeError: Error parsing message "
          "with type 'onnx.ModelProto': Wire format was corrupt)", _damaged_onnx),
    Fault("--precision mixed_float16 on JAX without a GPU", "p7keras train --backend jax --precision mixed_float16", 2,
          "p7keras train: error: --precision mixed_float16 needs a GPU on the jax backend (XLA's CPU backend has no "
          "float16 matrix product); use mixed_bfloat16 or float32 on a CPU",
          test="tests/training/test_precision_runs.py::test_mixed_float16_on_jax_without_a_gpu_is_refused"),
    Fault("P7KERAS_PRECISION naming no policy", "P7KERAS_PRECISION=fp8 p7keras train --precision auto", 2,
          "p7keras train: error: P7KERAS_PRECISION='fp8' is not a training precision; use one of ('float32', "
          "'mixed_bfloat16', 'mixed_float16')",
          test="tests/training/test_default_precision.py::test_a_bad_pin_is_refused_before_any_work"),
    Fault("P7KERAS_CPU_XLA naming no choice", "P7KERAS_CPU_XLA=yes p7keras train", 2,
          "p7keras train: error: P7KERAS_CPU_XLA='yes' is not one of ('auto', 'on', 'off')",
          test="tests/training/test_jit_compile.py::test_a_bad_cpu_xla_setting_is_refused_before_any_work"),
    Fault("--device gpu on a machine without a GPU", "p7keras train --device gpu", 2,
          "p7keras train: error: --device gpu requested, but this machine has no GPU device (no /dev/nvidia*, "
          "/dev/kfd or /dev/dxg)",
          test="tests/faults/test_before_keras.py::test_device_gpu_without_one_is_refused_before_keras"),
)

# issue 22: outputs (the helpers of its cases, found by the cases' lambdas when they run)
_ENCODER = str(Path(__file__).resolve().parents[1] / "data" / "toy_encoder.py") + ":encode"
_EARLIER = b"an earlier corpus the user keeps\n"


def _earlier(folder: Path, name: str) -> str:
    """An existing file where a command's output goes."""
    (folder / name).write_bytes(_EARLIER)
    return str(folder / name)


def _docs(folder: Path) -> str:
    docs = folder / "docs"
    docs.mkdir()
    sentence = "Ownership rules decide when memory is freed, and moves transfer it. " * 4
    (docs / "guide.md").write_text("\n\n".join(f"{sentence}Part {i}." for i in range(8)))
    return str(docs)


def _binary_docs(folder: Path) -> list[str]:
    docs = folder / "docs"
    docs.mkdir()
    (docs / "notes.txt").write_bytes(np.random.default_rng(0).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    (docs / "tool.md").write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 8)
    return ["data", "from-text", str(docs), "--encoder", _ENCODER, "--out", str(folder / "docs.npz")]


def render_table(faults: tuple[Fault, ...] = FAULTS) -> str:
    """The README's fault table (Markdown), ``{dir}`` shown as ``DIR``."""
    rows = ["| case | command | exit | the line it prints | checked by |", "|---|---|---|---|---|"]
    for fault in faults:
        cells = [fault.name, f"`{fault.command.format(dir='DIR')}`", str(fault.code),
                 f"`{fault.message.format(dir='DIR')}`", f"`{fault.test}`"]
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(render_table())

"""The spec's parameters: one name and one check per group, the same message wherever a value is given."""

import pytest

from p7keras.config import DEFAULTS, anchor_problems, loss_problems, model_problems, raise_problems, run_problems
from p7keras.training.config import RENAMED_FIELDS, TrainConfig, add_train_arguments, train_settings

# backend-independent here: the backends' own paths are tested in tests/models, tests/callbacks and tests/serve
pytestmark = pytest.mark.one_backend


def test_defaults_pass_every_check():
    assert model_problems() == anchor_problems() == loss_problems() == run_problems() == []
    TrainConfig().check()


# Every number P7_SPEC.md states as a default, written out here (not read from DEFAULTS), by section.
SPEC_NUMBERS = {
    # 2: models and semantic anchoring
    "d_model": 512, "num_heads": 8, "num_layers": 4, "ff_dim": 2048, "dropout": 0.1, "lstm_layers": 2,
    "anchor_lambda": 0.8, "anchor_lambda_min": 0.6, "anchor_lambda_max": 0.9, "anchor_bound_offset": 1e-3,
    "anchor_mode": "mean",
    # 3: negative pool
    "hard_negatives": 2, "duplicate_cosine": 0.9999,
    # 4: losses
    "temperature": 0.07, "margin": 0.07, "gate_threshold": 0.03, "gate_weak_weight": 0.25,
    "gate_mode": "last-vs-first", "floor_threshold": 0.20, "w_rank": 1.0, "w_margin": 0.5, "w_teacher": 0.2,
    "warmup_epochs": 2,
    # 5: training
    "context_length": 5, "batch_size": 64, "epochs": 10, "learning_rate": 5e-4, "weight_decay": 1e-4,
    "global_clipnorm": 1.0,
    # 6: monitoring and verdict
    "drift_warn_cos_anchor": 0.10, "drift_stop_cos_anchor": 0.05, "teacher_overpull_cos_next": 0.7,
    "poor_data_gate_weight": 0.5, "lambda_bound_tolerance": 0.01,
    "pass_margin": 0.20, "pass_cos_next": 0.45, "pass_cos_anchor": 0.40,
    "marginal_margin": 0.10, "marginal_cos_next": 0.35, "marginal_cos_anchor": 0.30,
    # 8: evaluation
    "good_model_cos_prev_max": 0.20, "ship_gate_r5_gain": 0.10, "ship_gate_mrr10_gain": 0.05,
    "ship_gate_min_sequences": 200,
}


def test_defaults_are_the_spec_numbers():
    assert {name: getattr(DEFAULTS, name) for name in SPEC_NUMBERS} == SPEC_NUMBERS


@pytest.mark.parametrize("problems, message", [
    (model_problems(context_length=1), "context_length must be >= 2, got 1"),
    (model_problems(d_model=10, num_heads=4), "d_model must be divisible by num_heads=4, got 10"),
    (model_problems(dropout=1.0), "dropout must be in [0, 1), got 1.0"),
    (model_problems(head="deep"), "head must be one of ('mlp', 'residual'), got 'deep'"),
    (anchor_problems(anchor_lambda=0.95), "anchor_lambda must be in [0.6, 0.9], got 0.95"),
    (anchor_problems(anchor_mode="median"), "anchor_mode must be one of ('mean', 'attention'), got 'median'"),
    (loss_problems(temperature=0), "temperature must be > 0, got 0"),
    (loss_problems(context_negatives="x"), "context_negatives must be one of ('prev', 'none', 'older', 'all'), got 'x'"),
    (loss_problems(negative_queue=-1), "negative_queue must be >= 0, got -1"),
    (loss_problems(negatives="all"), "negatives must be one of ('batch', 'corpus'), got 'all'"),
    (loss_problems(gate_mode="x"), "gate_mode must be one of ('last-vs-first', 'next-vs-prev'), got 'x'"),
    (run_problems(batch_size=1), "batch_size must be >= 2 (in-batch negatives need other samples), got 1"),
    (run_problems(learning_rate=0.0), "learning_rate must be > 0, got 0.0"),
])
def test_each_group_names_the_parameter_rule_and_value(problems, message):
    assert problems == [message]
    with pytest.raises(ValueError) as raised:
        raise_problems(problems)
    assert str(raised.value) == message


def test_the_same_bad_value_gets_the_same_message_from_config_model_and_layer():
    import keras  # noqa: F401  (the model and layer need a backend)

    from p7keras.layers import SemanticAnchor
    from p7keras.models import TransformerP7Ranker

    message = "anchor_lambda must be in [0.6, 0.9], got 0.95"
    for make in (lambda: TrainConfig(anchor_lambda=0.95).check(),
                 lambda: TransformerP7Ranker(anchor_lambda=0.95),
                 lambda: SemanticAnchor(anchor_lambda=0.95)):
        with pytest.raises(ValueError) as raised:
            make()
        assert str(raised.value) == message
    with pytest.raises(ValueError, match="temperature must be > 0, got -1"):
        TransformerP7Ranker(temperature=-1)
    with pytest.raises(ValueError, match="num_layers must be >= 1, got 0"):
        TransformerP7Ranker(num_layers=0)


def test_every_problem_of_a_config_is_named_at_once():
    with pytest.raises(ValueError) as raised:
        TrainConfig(context_length=1, epochs=0, w_margin=-0.5).check()
    assert str(raised.value).split("; ") == ["context_length must be >= 2, got 1", "w_margin must be >= 0, got -0.5",
                                             "epochs must be >= 1, got 0"]


def test_flags_spell_the_field_names_and_keep_the_older_spellings():
    import argparse

    parser = argparse.ArgumentParser()
    add_train_arguments(parser, unset=True)
    for flags in (["--num-heads", "4", "--learning-rate", "0.001"], ["--nhead", "4", "--lr", "0.001"]):
        assert train_settings(parser.parse_args(flags)) == {"num_heads": 4, "learning_rate": 0.001}


def test_lambda_range_flag_sets_both_bounds_for_train_and_tune():
    import argparse

    from tuner.arguments import add_arguments, config_from_args

    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    config = TrainConfig(**train_settings(parser.parse_args(["--lambda-range", "0.3", "0.95"])))
    assert (config.anchor_lambda_min, config.anchor_lambda_max) == (0.3, 0.95)
    default = TrainConfig(**train_settings(parser.parse_args([])))
    assert (default.anchor_lambda_min, default.anchor_lambda_max) == (0.6, 0.9)  # the spec's
    with pytest.raises(SystemExit):
        parser.parse_args(["--lambda-range", "0.3"])
    tune = argparse.ArgumentParser()
    add_arguments(tune)
    assert config_from_args(tune.parse_args(["--lambda-range", "0.5", "0.8"])).train == {
        "anchor_lambda_min": 0.5, "anchor_lambda_max": 0.8}
    assert "anchor_lambda_min" not in config_from_args(tune.parse_args([])).train
    problems = TrainConfig(anchor_lambda_min=0.9, anchor_lambda_max=0.6).problems()
    assert "[anchor_lambda_min, anchor_lambda_max] must be 0 <= min < max <= 1, got [0.9, 0.6]" in problems


def test_config_json_of_older_runs_is_read_with_the_new_names():
    old = {"nhead": 4, "lr": 0.001, "epochs": 3}
    config = TrainConfig.from_dict(old)
    assert (config.num_heads, config.learning_rate, config.epochs) == (4, 0.001, 3)
    assert set(RENAMED_FIELDS.values()) <= set(TrainConfig.__dataclass_fields__)
    with pytest.raises(ValueError, match="unknown training settings: colour"):
        TrainConfig.from_dict({"colour": "red"})


def test_every_default_comes_from_the_one_defaults_object():
    config = TrainConfig()
    for field in ("context_length", "d_model", "num_heads", "ff_dim", "dropout", "anchor_lambda", "margin",
                  "temperature", "learning_rate", "weight_decay", "batch_size", "epochs", "seed", "exp_name",
                  "output_dir", "model_type", "device", "select", "patience", "head", "context_negatives",
                  "negative_queue"):
        assert getattr(config, field) == getattr(DEFAULTS, field), field


def test_synthetic_size_with_a_data_file_is_refused():
    with pytest.raises(ValueError, match="--num-articles size the synthetic corpus and cannot be used with a data"):
        TrainConfig(data="x.npz", num_articles=10).check()
    assert TrainConfig(num_articles=10, dim=16).synthetic == {"num_articles": 10, "dim": 16}


# issue 11: negatives and head
ISSUE_11_FLAGS = [(["--head", "residual"], {"head": "residual"}),
                  (["--context-negatives", "none"], {"context_negatives": "none"}),
                  (["--negative-queue", "256"], {"negative_queue": 256}),
                  (["--negatives", "corpus"], {"negatives": "corpus"})]


@pytest.mark.parametrize("flags, settings", ISSUE_11_FLAGS)
def test_issue_11_flags_reach_the_model_with_the_spec_defaults(flags, settings):
    import argparse

    parser = argparse.ArgumentParser()
    add_train_arguments(parser, unset=True)
    assert train_settings(parser.parse_args(flags)) == settings
    config = TrainConfig(**settings)
    config.check()
    assert {name: config.model_kwargs()[name] for name in settings} == settings
    for name in settings:
        assert getattr(TrainConfig(), name) == getattr(DEFAULTS, name)
        assert name in TrainConfig().model_kwargs()

"""``predict_examples`` / ``predict_passage`` (issue 12): the library of ``p7keras predict``."""

import pytest

from p7keras.evaluation.predict import format_examples, predict_examples, predict_passage
from tests.data.conftest import TOY_ENCODER
from tests.evaluation.conftest import last_context
from tests.helpers import K


def test_a_model_that_returns_c_k_ranks_as_direct(corpus):
    result = predict_examples(last_context, corpus, split="val", sample=4, top_k=5)
    assert result["model"] == {"name": "last_context", "kind": "callable", "source": "memory",
                               "context_length": 5, "dim": 16}
    assert result["data"]["split"] == "val" and not result["data"]["texts"] and len(result["examples"]) == 4
    for example in result["examples"]:
        mine, direct = example["queries"]["last_context"], example["queries"]["DIRECT"]
        assert mine["rank"] == direct["rank"] and mine["top"] == direct["top"]
    text = format_examples(result, width=90)
    assert text.count("  context (oldest first)") == 4 and "last_context top 5" in text


def test_k_comes_from_the_model_and_d_must_fit(corpus):
    from tests.evaluation.conftest import tiny_ranker

    result = predict_examples(tiny_ranker(), corpus, sample=1)
    assert result["model"]["context_length"] == K and len(result["examples"][0]["context"]) == K
    with pytest.raises(ValueError, match="expects embedding width D=8"):
        predict_examples(tiny_ranker(d=8), corpus)


def test_a_passage_needs_the_encoder_of_the_bank(corpus):
    passage = "\n\n".join(f"Paragraph {i} talks about ownership and borrowing in some detail. " * 6 for i in range(8))
    with pytest.raises(ValueError, match="the encoder returns vectors of D = 32, but the bank .* has D = 16"):
        predict_passage(last_context, passage, f"{TOY_ENCODER}:encode", corpus)

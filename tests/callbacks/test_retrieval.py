"""``RetrievalMetrics`` lives in p7keras; the tuner reuses it."""

from p7keras import callbacks as cb


def test_retrieval_callback_lives_in_p7keras_and_the_tuner_reuses_it():
    from tuner import callbacks as tuner_callbacks

    assert tuner_callbacks.RetrievalMetrics is cb.RetrievalMetrics
    assert tuner_callbacks.retrieval_scores is cb.retrieval_scores
    assert tuner_callbacks.LOGGED_METRICS == cb.RETRIEVAL_METRICS == ("val_R@1", "val_R@5", "val_R@10", "val_MRR@10")

"""Issue 23 item 3: a model trained under a 16-bit policy against the float32 model of the same seed, paired.

The study (``python -m tuner.study ... --precisions float32 mixed_bfloat16``) trains one run per seed and
policy; its table gives each run's gain over DIRECT with its interval. This puts the two runs of a seed on the
same held-out sequences (the ood split of the seed's article split) and gives the paired difference of the
policy's model to the float32 model, R@5 and MRR@10, with its 95% article-clustered interval (1000 resamples).

    KERAS_BACKEND=tensorflow python docs/policy_quality.py saved_models/study_tfspec \\
        spec-techprose_minilm384-5000-s{seed}-e8 ../shared/data/techprose_minilm384.npz 0 1 2
    KERAS_BACKEND=tensorflow python docs/policy_quality.py saved_models/study_tf16 \\
        real-text-techprose_minilm384-all-s{seed}-e8 ../shared/data/techprose_minilm384.npz 0 1 2

Arguments: the study folder, the float32 run's name (``{seed}`` for the seed), the corpus, the seeds. The
other runs are the same name with a suffix of ``SUFFIXES`` (where present). Prints one JSON line per seed.
"""
import json
import os
import sys

import keras
import numpy as np

import p7keras  # noqa: F401 (registers the models)
from p7keras.evaluation import evaluate
from p7keras.evaluation.uncertainty import paired_gain

# the policies' runs (the study's names), and float32 controls: the same command again, and again with
# TF_ENABLE_ONEDNN_OPTS=0 (float32 with another order of summation): how far two float32 runs differ
SUFFIXES = {"mixed_bfloat16": "-bf16", "mixed_float16": "-fp16", "float32 again": "-again",
            "float32 without oneDNN": "-noonednn"}


def mrr(ranks: np.ndarray) -> np.ndarray:
    return np.where(ranks <= 10, 1.0 / ranks, 0.0)


def main(folder: str, name: str, data: str, seeds: list[str]) -> None:
    for seed in seeds:
        base = os.path.join(folder, name.format(seed=seed))
        runs = {"float32": base, **{policy: base + suffix for policy, suffix in SUFFIXES.items()
                                   if os.path.isdir(base + suffix)}}
        models = {policy: keras.saving.load_model(os.path.join(run, "best.keras"), compile=False)
                  for policy, run in runs.items()}
        result = evaluate(models, data, split="ood", seed=int(seed), latency_calls=5, per_sequence=True,
                          diagnostics=False, resamples=1000)
        per = result["per_sequence"]
        ids = np.asarray(per["article_ids"])
        ranks = {policy: np.asarray(per["queries"][policy]["ranks"]["all"], dtype=float) for policy in models}
        line = {"seed": int(seed), "sequences": len(ids), "articles": len(set(ids.tolist()))}
        for policy in models:
            retrieval = result["models"][policy]["retrieval"]["all"]
            line[policy] = {"R@5": round(retrieval["R@5"], 4), "MRR@10": round(retrieval["MRR@10"], 4)}
            if policy != "float32":
                d5 = paired_gain((ranks[policy] <= 5).astype(float), (ranks["float32"] <= 5).astype(float), ids,
                                 baseline_name="float32")
                dm = paired_gain(mrr(ranks[policy]), mrr(ranks["float32"]), ids, baseline_name="float32")
                line[policy]["minus_float32_R@5"] = [round(d5[k], 4) for k in ("gain", "low", "high")]
                line[policy]["minus_float32_MRR@10"] = [round(dm[k], 4) for k in ("gain", "low", "high")]
                line[policy]["changed_ranks"] = int(np.sum(ranks[policy] != ranks["float32"]))
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:])

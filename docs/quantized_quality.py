"""Issue 23 item 3: int8 / bfloat16 copies of the techprose preset models vs float32, on the ood split, with
article-clustered intervals (R@5 and MRR@10 gains over DIRECT, and the paired difference to float32).

    KERAS_BACKEND=jax python docs/quantized_quality.py 0 1 2          # preset runs of saved_models/study
    KERAS_BACKEND=jax python docs/quantized_quality.py spec 0 1 2     # the spec recipe's (5000 training chunks)
    KERAS_BACKEND=jax python docs/quantized_quality.py rustdocs onnx 1        # rustdocs preset run, + int8 ONNX file
    KERAS_BACKEND=jax python docs/quantized_quality.py rustdocs-spec onnx 1   # rustdocs spec-recipe run

(the runs of docs/real-text.md). ``onnx`` adds the run's int8 ONNX file (``p7keras export RUN --out
RUN/best-int8.onnx --quantize int8``, written when missing) run by ONNX Runtime. Prints one JSON line per seed
and mode and writes /tmp/quality-RECIPE.json.
"""
import json, sys
import numpy as np
import keras
import p7keras
from p7keras.models.precision import reduced_precision
from p7keras.evaluation import evaluate
from p7keras.evaluation.uncertainty import paired_gain

RUNS = {"real-text": "real-text-techprose_minilm384-all-s{seed}-e8", "spec": "spec-techprose_minilm384-5000-s{seed}-e8",
        "rustdocs": "real-text-rustdocs_minilm384-all-s{seed}-e8", "rustdocs-spec": "spec-rustdocs_minilm384-all-s{seed}-e8"}
recipe = sys.argv[1] if sys.argv[1] in RUNS else "real-text"
onnx = "onnx" in sys.argv[1:]
corpus = "rustdocs" if recipe.startswith("rustdocs") else "techprose"
out = {}
for seed in [a for a in sys.argv[1:] if a not in RUNS and a != "onnx"]:
    run = "saved_models/study/" + RUNS[recipe].format(seed=seed)
    model = keras.saving.load_model(f"{run}/best.keras", compile=False)
    models = {"float32": model, "int8": reduced_precision(model, "int8"), "bfloat16": reduced_precision(model, "bfloat16")}
    if onnx:
        from p7keras.models.onnx_export import write_onnx
        import os
        if not os.path.exists(f"{run}/best-int8.onnx"):
            write_onnx(model, f"{run}/best-int8.onnx", quantize="int8")
        models["onnx-int8"] = f"{run}/best-int8.onnx"
    result = evaluate(models, f"../shared/data/{corpus}_minilm384.npz", split="ood", seed=int(seed), latency_calls=20,
                      per_sequence=True, diagnostics=False, resamples=1000)
    per = result["per_sequence"]
    ids = np.asarray(per["article_ids"])
    rows = {}
    for name in models:
        r = result["models"][name]
        g = r["gains"]["DIRECT"]["all"]
        ranks = np.asarray(per["queries"][name]["ranks"]["all"], dtype=float)
        rows[name] = {"R@5": r["retrieval"]["all"]["R@5"], "MRR@10": r["retrieval"]["all"]["MRR@10"],
                      "gain_R@5": [g["R@5"][k] for k in ("gain", "low", "high")],
                      "gain_MRR@10": [g["MRR@10"][k] for k in ("gain", "low", "high")]}
        if name != "float32":
            f32 = np.asarray(per["queries"]["float32"]["ranks"]["all"], dtype=float)
            d5 = paired_gain((ranks <= 5).astype(float), (f32 <= 5).astype(float), ids, baseline_name="float32")
            mrr = lambda x: np.where(x <= 10, 1.0 / x, 0.0)
            dm = paired_gain(mrr(ranks), mrr(f32), ids, baseline_name="float32")
            rows[name]["vs_float32_R@5"] = [d5[k] for k in ("gain", "low", "high")]
            rows[name]["vs_float32_MRR@10"] = [dm[k] for k in ("gain", "low", "high")]
            rows[name]["changed_ranks"] = int(np.sum(ranks != f32))
        print(seed, name, json.dumps(rows[name]), flush=True)
    out[seed] = {"sequences": result["data"].get("sequences"), "rows": rows}
json.dump(out, open(f"/tmp/quality-{recipe}.json", "w"), indent=1)

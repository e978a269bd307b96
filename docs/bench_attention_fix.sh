#!/bin/bash
# Issue 23: training and prediction side by side, before (69e8c50, Keras' MultiHeadAttention) and after
# FlatMultiHeadAttention, and every backend: 2 rounds, every configuration of a round one after the other;
# each training call alternates with the plain-PyTorch reference itself. About 25 minutes on a 2-core CPU.
#   bash docs/bench_attention_fix.sh [OUT_FOLDER]      (run from the repository, its venv active)
set -euo pipefail
ROOT=$(git rev-parse --show-toplevel)
OUT=${1:-$ROOT/saved_models/bench_attention_fix}
OLD=$(mktemp -d /tmp/p7-before-XXXX)
mkdir -p "$OUT"
git -C "$ROOT" worktree add -f "$OLD" 69e8c50 -q
trap 'git -C "$ROOT" worktree remove --force "$OLD"' EXIT
quiet() { grep -E "round|p50|seq/s|sequences/s" || true; }
for r in 1 2; do
  for cfg in "before-tf|tensorflow|" "tf|tensorflow|" "tf-xla|tensorflow|--jit-compile on" "jax|jax|" "torch|torch|"; do
    IFS='|' read -r name backend flags <<< "$cfg"
    where=$ROOT; [ "$name" = before-tf ] && where=$OLD
    echo "== round $r train $name"
    (cd "$where" && KERAS_BACKEND=$backend python -m p7keras bench --what train --compare-prototype --rounds 1 \
      $flags --json "$OUT/train-$name-r$r.json" --overwrite) 2>&1 | quiet
  done
  for cfg in "before-tf|tensorflow" "tf|tensorflow" "jax|jax" "torch|torch"; do
    IFS='|' read -r name backend <<< "$cfg"
    where=$ROOT; [ "$name" = before-tf ] && where=$OLD
    echo "== round $r predict $name"
    (cd "$where" && KERAS_BACKEND=$backend python -m p7keras bench --what predict --predict-calls 100 \
      --json "$OUT/predict-$name-r$r.json" --overwrite) 2>&1 | quiet
  done
done

#!/usr/bin/env bash
# The README's GPU table (issue 23, item 6): training side by side with the plain-PyTorch reference (on the
# same GPU), single-sequence and batch prediction, per backend and per precision, the device named in each
# report. Run from the repository root on a machine with an NVIDIA GPU:
#
#     OUT=saved_models/gpu_bench bash docs/gpu_bench.sh
#     OUT=saved_models/gpu_bench BACKENDS=torch PRECISIONS="float32 mixed_bfloat16" SUFFIX=-compiled \
#         EXTRA_FLAGS="--jit-compile on" bash docs/gpu_bench.sh      # PyTorch with torch.compile
#
# Each configuration is one `p7keras bench` process (bench sizes: D 768, K 5, d_model 512, 4 layers, batch 64;
# --steps 50 batches per timed epoch, two rounds alternating with the reference). It writes OUT/log.txt and one
# JSON per configuration. A configuration that fails or passes its time is named in the log and the next one
# runs. TensorFlow is measured only where the Python running this has a GPU build of it.
#
# Environment: PYTHON (default python3), STEP_SECONDS (each configuration's limit, default 100), BUDGET_SECONDS
# (no configuration starts after this many seconds, default 450), BACKENDS (default "jax torch"), PRECISIONS
# (default "float32 mixed_bfloat16 mixed_float16"), SUFFIX (added to each JSON's name), EXTRA_FLAGS
# (more bench flags, e.g. "--dim 32 --d-model 32 --num-layers 1 --steps 3" for a quick try on a CPU).
set -u
OUT=${OUT:-saved_models/gpu_bench}
PYTHON=${PYTHON:-python3}
STEP_SECONDS=${STEP_SECONDS:-100}
BUDGET_SECONDS=${BUDGET_SECONDS:-450}
BACKENDS=${BACKENDS:-jax torch}
PRECISIONS=${PRECISIONS:-float32 mixed_bfloat16 mixed_float16}
SUFFIX=${SUFFIX:-}
read -r -a EXTRA <<<"${EXTRA_FLAGS:-}"
mkdir -p "$OUT"
LOG="$OUT/log.txt"
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD" PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
export P7KERAS_DEBUG=1  # a configuration that fails leaves its traceback in the log
{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1
  KERAS_BACKEND=jax "$PYTHON" -c "import sys, keras, numpy; print('python', sys.version.split()[0], 'keras', keras.__version__, 'numpy', numpy.__version__)" 2>&1
  "$PYTHON" -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no cuda')" 2>&1
  "$PYTHON" -c "import jax; print('jax', jax.__version__, jax.devices())" 2>&1
  nproc
} >"$LOG"

run() {  # run NAME BACKEND [bench flags...]
  local name=$1 backend=$2
  shift 2
  if (( SECONDS > BUDGET_SECONDS )); then
    echo "== $name: not run (budget of ${BUDGET_SECONDS} s spent)" >>"$LOG"
    return
  fi
  echo "== $name: KERAS_BACKEND=$backend p7keras bench $* (started at ${SECONDS} s)" >>"$LOG"
  KERAS_BACKEND=$backend timeout "$STEP_SECONDS" "$PYTHON" -m p7keras bench "$@" --json "$OUT/$name.json" \
    --overwrite >>"$LOG" 2>&1
  echo "== $name: exit $? after ${SECONDS} s" >>"$LOG"
}

COMMON=(--what train --what predict --compare-prototype --rounds 2 --steps 50 --no-saved-model)
for precision in $PRECISIONS; do
  for backend in $BACKENDS; do
    run "${backend}-${precision}${SUFFIX}" "$backend" "${COMMON[@]}" --precision "$precision" "${EXTRA[@]}"
  done
done
echo "done at ${SECONDS} s" >>"$LOG"

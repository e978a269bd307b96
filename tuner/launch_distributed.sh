#!/usr/bin/env bash
# Distributed P7 search on one host: KerasTuner's chief (the oracle) and N workers (the trials).
#
# Usage:
#   tuner/launch_distributed.sh [-n WORKERS] [--] SEARCH FLAGS...
#
# Example:
#   tuner/launch_distributed.sh -n 2 -- --grid priority1 --data corpus.npz --epochs 5
#
# Every process runs `python -m tuner.search SEARCH FLAGS...` with KerasTuner's variables:
#   KERASTUNER_ORACLE_IP    the chief's address   (default 127.0.0.1; keep it for one host)
#   KERASTUNER_ORACLE_PORT  the chief's port      (default: a free port)
#   KERASTUNER_TUNER_ID     "chief" for the chief, "tuner1".."tunerN" for the workers
# Other settings (environment):
#   PYTHON   the interpreter (default python, else python3)
#   LOG_DIR  where the workers' logs go (default saved_models/tuning/logs)
# The chief prints the ranked table and saves the results once every trial has finished; the exit
# code is 0 only when the chief and every worker exited 0. On several hosts, start the chief on one
# and workers on the others with the same flags, the same variables (the chief's IP) and a shared
# --directory.
set -euo pipefail

workers=2
if [[ "${1:-}" == "-n" || "${1:-}" == "--workers" ]]; then
    workers="$2"
    shift 2
fi
[[ "${1:-}" == "--" ]] && shift
if ! [[ "$workers" =~ ^[1-9][0-9]*$ ]]; then
    echo "launch_distributed.sh: error: -n needs a number of workers >= 1, got '$workers'" >&2
    exit 2
fi

PYTHON="${PYTHON:-$(command -v python || command -v python3)}"
LOG_DIR="${LOG_DIR:-saved_models/tuning/logs}"
export KERASTUNER_ORACLE_IP="${KERASTUNER_ORACLE_IP:-127.0.0.1}"
if [[ -z "${KERASTUNER_ORACLE_PORT:-}" ]]; then
    KERASTUNER_ORACLE_PORT="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
fi
export KERASTUNER_ORACLE_PORT
mkdir -p "$LOG_DIR"

pids=()
stop_all() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap 'stop_all; exit 130' INT TERM

echo "chief on $KERASTUNER_ORACLE_IP:$KERASTUNER_ORACLE_PORT; $workers worker(s), logs in $LOG_DIR"
KERASTUNER_TUNER_ID=chief "$PYTHON" -m tuner.search "$@" &
chief=$!
pids+=("$chief")

# Start the workers once the chief serves the oracle (it checks the settings and loads the data first).
until (exec 3<>"/dev/tcp/$KERASTUNER_ORACLE_IP/$KERASTUNER_ORACLE_PORT") 2>/dev/null; do
    if ! kill -0 "$chief" 2>/dev/null; then
        wait "$chief" && status=0 || status=$?
        echo "launch_distributed.sh: error: the chief exited (code $status) before serving the oracle" >&2
        exit "$(( status == 0 ? 1 : status ))"
    fi
    sleep 0.5
done

worker_pids=()
for i in $(seq 1 "$workers"); do
    KERASTUNER_TUNER_ID="tuner$i" "$PYTHON" -m tuner.search "$@" >"$LOG_DIR/tuner$i.log" 2>&1 &
    worker_pids+=("$!")
    pids+=("$!")
done

failed=0
for i in "${!worker_pids[@]}"; do
    if ! wait "${worker_pids[$i]}"; then
        echo "launch_distributed.sh: worker tuner$((i + 1)) failed; see $LOG_DIR/tuner$((i + 1)).log" >&2
        failed=1
    fi
done
if (( failed )); then
    # A lost worker leaves its trial open and the chief would wait for it forever. Run the same
    # command again: the trials that are left (that one included) run then.
    kill "$chief" 2>/dev/null || true
    exit 1
fi
wait "$chief" && chief_status=0 || chief_status=$?
if (( chief_status != 0 )); then
    echo "launch_distributed.sh: the chief exited with code $chief_status" >&2
fi
exit "$chief_status"

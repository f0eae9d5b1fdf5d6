#!/usr/bin/env bash
# One GPU check in under 8 minutes, printing one table (issue 15):
#   1. the CUDA-marked tests (pytest -m gpu: tests/test_cuda.py),
#   2. the training speed at the paper preset (benchmarks/train_speed.py: step time, MFU),
#   3. the planning speed on CUDA, eager and with CUDA graphs (benchmarks/plan_speed.py --compile),
#   4. one timed stage of `make benchmark ENV=pusht SCALE=gpu` (its collect stage, stopped by --time-limit).
#
# Prepare here, once (the H200 image has torch and h5py but not gymnasium, tyro, SB3 or pymunk):
#     echo /.whl/ >> .git/info/exclude && bash benchmarks/gpu_check.sh fetch
# then run it on the device with `.whl` carried:
#     bash benchmarks/gpu_check.sh            (writes its logs under $OUT, or /tmp/gpu_check)
# Each stage has its own time cap (STAGE_S seconds each, 4 stages), so the whole check ends inside 8 minutes.
set -u
cd "$(dirname "$0")/.."

if [ "${1:-}" = "fetch" ]; then
    # versions pinned to what this project's CPU environment resolved; --no-deps: each missing need is named
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl \
        gymnasium==1.4.0 farama-notifications==0.0.6 tyro==1.0.17 docstring-parser==0.18.0 typeguard==4.6.1 \
        stable-baselines3==2.9.2 pymunk==7.3.1 cffi==2.1.1 pycparser==3.12
    exit $?
fi

LOGS="${OUT:-/tmp/gpu_check}"
mkdir -p "$LOGS"
STAGE_S="${STAGE_S:-105}"
export PYTHONUNBUFFERED=1 MUJOCO_GL=egl SDL_VIDEODRIVER=dummy
T0=$(date +%s)

if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        || { echo "installing the carried wheels failed"; exit 1; }
fi
# the project itself, without its dependencies (those are the image's and the carried wheels)
python3 -m pip install -q --no-deps --no-build-isolation --no-compile --no-cache-dir --target /tmp/site . \
    >"$LOGS/install.log" 2>&1 || { echo "installing lewm-agents failed: see $LOGS/install.log"; exit 1; }
export PYTHONPATH="/tmp/site:${PYTHONPATH:-}"

rows=()
stage() {  # stage NAME LOGFILE COMMAND...: run with the stage's cap, keep its wall time and status
    local name=$1 log=$2
    shift 2
    local t=$(date +%s)
    timeout "$STAGE_S" "$@" >"$LOGS/$log" 2>&1
    local rc=$? dt=$(( $(date +%s) - t ))
    local status=ok
    [ $rc -eq 124 ] && status="cut at ${STAGE_S}s"
    [ $rc -ne 0 ] && [ $rc -ne 124 ] && status="failed (rc $rc)"
    rows+=("$name|$status|$dt")
}

stage "cuda tests" tests.log python3 -m pytest -q -m gpu -p no:cacheprovider tests/test_cuda.py
stage "train speed, paper preset" train.log python3 benchmarks/train_speed.py --presets paper --device cuda
stage "plan speed, eager + CUDA graphs" plan.log python3 benchmarks/plan_speed.py --device cuda --compile --envs 8
stage "benchmark pusht/gpu: collect" bench.log python3 -m lewm_agents.cli benchmark --env pusht --scale gpu \
    --out /tmp/cells --methods lewm --time-limit 1.5

echo
echo "| stage | status | wall s | result |"
echo "|---|---|---|---|"
for r in "${rows[@]}"; do
    IFS='|' read -r name status dt <<<"$r"
    case $name in
        "cuda tests") res=$(grep -E "passed|failed|skipped|error" "$LOGS/tests.log" | tail -1) ;;
        "train speed"*) res=$(grep -E "^\| paper" "$LOGS/train.log" | awk -F'|' '{print "step", $5, "ms, MFU", $10}' | tail -1) ;;
        "plan speed"*) res=$(grep -E "^\((a|d)\)" "$LOGS/plan.log" | awk '{printf "%s ", $0} END {print ""}' | tr -s ' ' | cut -c1-300) ;;
        "benchmark"*) res=$(python3 -c "from lewm_agents.data import DatasetReader as R; r = R('/tmp/cells/pusht/gpu/dataset.h5'); \
print(r.num_episodes, 'episodes,', r.num_frames, 'frames collected')" 2>/dev/null || tail -1 "$LOGS/bench.log" | cut -c1-200) ;;
    esac
    echo "| $name | $status | $dt | ${res:-see $LOGS} |"
done
echo
echo "total $(( $(date +%s) - T0 )) s; logs in $LOGS (tests.log, train.log, plan.log, bench.log)"
echo "plan speed (full table):"
grep -E "^(device|row|\()" "$LOGS/plan.log" || true

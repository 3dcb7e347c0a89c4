#!/usr/bin/env bash
# What a lent GPU machine (one GPU + many cores) measures for the speed work, in one call:
#
#   OUT=/tmp/gpu_check bash benchmarks/gpu_check.sh
#
# 1. machine.txt   CPU model and bf16 flags, GPU, torch; the bf16 probe of vidsum.training.precision
# 2. mfu_cpu.txt   benchmarks/mfu.py on 1 CPU thread (bf16 where that CPU runs it faster)
# 3. mfu_cuda.txt  benchmarks/mfu.py --device cuda at the quick and the paper size (bf16, fused optimisers)
# 4. q_*.txt       does bf16 change what is learned? the quick TR-SUM grid (SumMe events 0.8, 5
#                  splits x seeds $SEEDS) twice on the CPU, bf16 autocast forced on and off
#                  (VIDSUM_CPU_BF16=1 / 0), the two arms side by side with $JOBS runs each at a
#                  time; where the CPU has no fast bf16 both arms run on CUDA (amp true / false).
#                  Meanwhile the same grid's seed 0 on CUDA in bf16 (VIDSUM_CUDA_BF16=1: opt-in since
#                  an H200 run gave NaN in stage 2; this is the check that it is clean now).
#
# Needs no Ray or Optuna (the benchmarks train in-process); runs from the checkout (PYTHONPATH).
# Every part has its own time limit, so a slow part still leaves the others' files.
set -u
OUT=${OUT:-/tmp/gpu_check}
PY=${PY:-python3}
SEEDS=${SEEDS:-0,1}
SPLITS=${SPLITS:-0,1,2,3,4}
JOBS=${JOBS:-5}
ARM_LIMIT=${ARM_LIMIT:-420}
EXTRA=${EXTRA:-}  # extra learns_on_standin.py flags (a dry run: --set gen_epochs=2 ...)
mkdir -p "$OUT"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 VIDSUM_PROGRESS=0
work=$(mktemp -d)

{
  lscpu | grep -E "^Model name|^CPU\(s\)|^Thread|^Socket"
  echo "bf16 flags: $(grep -o -w -E 'amx_bf16|amx_tile|avx512_bf16|avx512f' /proc/cpuinfo | sort -u | tr '\n' ' ')"
  nvidia-smi -L 2>&1
  $PY -c "import torch, numpy; print('torch', torch.__version__, 'numpy', numpy.__version__, 'cuda', torch.cuda.is_available())"
} >"$OUT/machine.txt" 2>&1
probe=$(CUDA_VISIBLE_DEVICES= $PY -c "from vidsum.training import precision; print(f'{precision.cpu_bf16_speedup():.2f}')" 2>>"$OUT/machine.txt")
echo "cpu bf16 probe speedup: ${probe:-failed}" >>"$OUT/machine.txt"
cat "$OUT/machine.txt"

# the stand-in once, before any grid starts (three grids would otherwise each build it)
$PY -c "from vidsum.data.datasets import load_dataset; load_dataset('summe', None, quiet=True)" || exit 1

grid() {  # grid <tag> <results> <env assignments> <seeds> [learns_on_standin flags]
  local tag=$1 res=$2 assign=$3 seeds=$4; shift 4
  env $assign timeout "$ARM_LIMIT" $PY benchmarks/learns_on_standin.py --method trsum --dataset summe \
    --splits "$SPLITS" --seeds "$seeds" --jobs "$JOBS" --tag "$tag" --results "$res" "$@" $EXTRA >"$OUT/q_$tag.txt" 2>&1
  echo "grid $tag: rc $?" >>"$OUT/q_$tag.txt"
}

fast_cpu_bf16=$($PY -c "print(int(float('${probe:-0}') >= 1.2))")
# alone, before the grids load the cores
for amp in 0 1; do
  CUDA_VISIBLE_DEVICES= VIDSUM_CPU_BF16=$amp timeout 90 $PY benchmarks/mfu.py --threads 1 --repeats 10 >>"$OUT/mfu_cpu.txt" 2>&1
done
if [ "$fast_cpu_bf16" = 1 ]; then
  grid cpu-bf16 "$work/bf16" "CUDA_VISIBLE_DEVICES= VIDSUM_CPU_BF16=1" "$SEEDS" &
  grid cpu-fp32 "$work/fp32" "CUDA_VISIBLE_DEVICES= VIDSUM_CPU_BF16=0" "$SEEDS" &
else
  grid cuda-bf16 "$work/cuda16" "VIDSUM_CUDA_BF16=1" "$SEEDS" &
  grid cuda-fp32 "$work/cuda32" "VIDSUM_CUDA_BF16=0" "$SEEDS" &
fi
{
  timeout 150 $PY benchmarks/mfu.py --device cuda --precision bf16 --repeats 20
  timeout 150 $PY benchmarks/mfu.py --device cuda --precision bf16 --size paper --repeats 10
} >"$OUT/mfu_cuda.txt" 2>&1
if [ "$fast_cpu_bf16" = 1 ]; then
  grid cuda-bf16 "$work/cuda" "VIDSUM_CUDA_BF16=1" "${SEEDS%%,*}"
fi
wait
rm -rf "$work"
tail -n 12 "$OUT"/q_*.txt "$OUT/mfu_cpu.txt" "$OUT/mfu_cuda.txt"

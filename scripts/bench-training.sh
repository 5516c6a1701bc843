#!/usr/bin/env bash
# Builds ConvGen.TrainingBenchmarks in Release and runs it: the FMA peak, the generated Backward of eight single-conv
# networks (with and without the input gradient) and LeNet-5 on Fashion-MNIST (training epochs with
# ConvGen.Training.Trainer, batch-1 latency, batch-256 throughput), each next to PyTorch on the same shapes and thread
# counts in the same run (benchmarks/ConvGen.TrainingBenchmarks/torch_training_peer.py, driven by the harness).
# Writes benchmarks/training-results.md (benchmarks/training-results-quick.md with --quick).
#
#   scripts/bench-training.sh                    full run (about 5 minutes; stays under --budget, default 450 s)
#   scripts/bench-training.sh --quick            short smoke run (noisy figures, training extrapolated from 60 batches)
#   scripts/bench-training.sh --only a,h --skip-lenet --threads 1
#   scripts/bench-training.sh --help             all options
#
# Needs python3-torch, python3-numpy and dataset-fashion-mnist; scripts/setup.sh installs them when missing.
# PYTHON=/path/to/python3 picks the peer's interpreter (default /usr/bin/python3, Debian's torch).
# BENCH_NICE=-10 runs harness and peer at that nice value (needs root); the report records it.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
project=benchmarks/ConvGen.TrainingBenchmarks/ConvGen.TrainingBenchmarks.csproj
python="${PYTHON:-/usr/bin/python3}"

"$root/scripts/setup.sh"

# Other builds of the shared runtime/generator projects can hold files briefly: retry those, fail on anything else.
for attempt in 1 2 3; do
  if log="$(dotnet build "$project" -c Release -nologo -v q 2>&1)"; then
    break
  fi
  if [[ $attempt -lt 3 ]] && grep -qE 'MSB3026|MSB3027|being used by another process' <<<"$log"; then
    echo "build: a file is locked by another build, retrying in 10 s" >&2
    sleep 10
    continue
  fi
  echo "$log" >&2
  exit 1
done

commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if ! git diff --quiet HEAD -- 2>/dev/null; then commit="$commit+dirty"; fi

nice_cmd=()
if [[ -n "${BENCH_NICE:-}" ]]; then nice_cmd=(nice -n "$BENCH_NICE"); fi

exec "${nice_cmd[@]}" dotnet benchmarks/ConvGen.TrainingBenchmarks/bin/Release/net10.0/ConvGen.TrainingBenchmarks.dll \
  --python "$python" --commit "$commit" --command "${BENCH_NICE:+BENCH_NICE=$BENCH_NICE }scripts/bench-training.sh${*:+ $*}" "$@"

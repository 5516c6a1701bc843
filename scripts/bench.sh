#!/usr/bin/env bash
# Builds the ConvGen benchmark in Release and runs it: FMA peak, every shape on 1 and 2 threads, and the PyTorch
# peer (benchmarks/ConvGen.Benchmarks/torch_peer.py, driven by the harness so each PyTorch figure is measured right
# after the matching ConvGen one). Writes benchmarks/results.md (benchmarks/results-quick.md with --quick).
#
#   scripts/bench.sh                 full run (about a minute)
#   scripts/bench.sh --quick         short, noisy smoke run
#   scripts/bench.sh --only a,h --threads 1 --no-torch
#
# PYTHON=/path/to/python3 picks the interpreter for the peer (default /usr/bin/python3, which has Debian's torch;
# install it with `apt-get install python3-torch`).
# BENCH_NICE=-10 runs harness and peer at that nice value (needs root): on a shared, busy machine it lets both sides
# get their cores more often; the report records the value.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
project=benchmarks/ConvGen.Benchmarks/ConvGen.Benchmarks.csproj
python="${PYTHON:-/usr/bin/python3}"

# Concurrent builds of the shared runtime/generator projects can hold files locked: retry those, fail on anything else.
for attempt in 1 2 3; do
  if log="$(dotnet build "$project" -c Release -nologo -v q 2>&1)"; then
    break
  fi
  if [[ $attempt -lt 3 ]] && grep -qE 'MSB3026|MSB3027|being used by another process' <<<"$log"; then
    echo "build: file locked by another build, retrying in 10 s" >&2
    sleep 10
    continue
  fi
  echo "$log" >&2
  exit 1
done

if ! "$python" -c 'import torch' 2>/dev/null; then
  echo "note: $python cannot import torch; the PyTorch columns will be empty (apt-get install python3-torch)" >&2
fi

commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if ! git diff --quiet HEAD -- 2>/dev/null; then commit="$commit+dirty"; fi

nice_cmd=()
if [[ -n "${BENCH_NICE:-}" ]]; then nice_cmd=(nice -n "$BENCH_NICE"); fi

exec "${nice_cmd[@]}" dotnet benchmarks/ConvGen.Benchmarks/bin/Release/net10.0/ConvGen.Benchmarks.dll \
  --python "$python" --commit "$commit" "$@"

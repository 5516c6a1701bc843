#!/usr/bin/env bash
# The performance benchmark of issue 5, in one command. Builds and runs benchmarks/ConvGen.Benchmarks in Release:
#   part 1  forward, backward-data and backward-weights of shapes a–h (and a–c at batch 32) on 1 and 2 threads, as
#           GFLOP/s and % of the in-process FMA peak, next to oneDNN (AVX2 JIT; forward also at its default ISA) and
#           PyTorch, measured in the same run, with a float64 correctness check;
#   part 2  LeNet-5 on Fashion-MNIST: training epoch, batch-1 latency, batch-256 throughput against PyTorch;
# then the planned workspace of each network and the issue's targets, met or not. Writes docs/performance.md
# (artifacts/performance-quick.md with --quick).
#
#   bash scripts/bench.sh                      full run (about 10–15 minutes on the 2-core machine)
#   bash scripts/bench.sh --quick              smoke run: short timings, training extrapolated from 60 batches
#   bash scripts/bench.sh --only a,h --threads 1 --skip-lenet
#   bash scripts/bench.sh --help               all options
#
# Installs what is missing (idempotent; apt-get only when something is): python3-torch, python3-numpy and
# dataset-fashion-mnist (scripts/setup.sh), libdnnl-dev and g++ for the oneDNN harness, which it compiles
# (benchmarks/onednn/onednn_peer.cpp → artifacts/onednn/onednn_peer) when the source is newer than the binary.
# PYTHON=/path/to/python3 picks the PyTorch peer's interpreter (default /usr/bin/python3, Debian's torch).
# BENCH_NICE=-10 runs harness and peers at that nice value (needs root); the report records it.
# DOTNET_EnableAVX512=0 runs ConvGen as on a CPU without AVX-512 (16 vector registers instead of 32); recorded too.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
project=benchmarks/ConvGen.Benchmarks/ConvGen.Benchmarks.csproj
python="${PYTHON:-/usr/bin/python3}"

for arg in "$@"; do
  if [[ "$arg" == "-h" || "$arg" == "--help" ]]; then
    exec dotnet run --project "$project" -c Release -- --help
  fi
done

"$root/scripts/setup.sh"

# The oneDNN peer: Debian's libdnnl-dev (2.6) and a compiler.
missing=()
for p in libdnnl-dev g++; do
  if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" != "install ok installed" ]; then missing+=("$p"); fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "bench: installing ${missing[*]}"
  as_root=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then as_root=(sudo); else
      echo "bench: missing ${missing[*]} and not root (no sudo); install them and retry" >&2; exit 1
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${as_root[@]}" apt-get update -qq >/dev/null
  "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
onednn_src=benchmarks/onednn/onednn_peer.cpp
onednn_bin=artifacts/onednn/onednn_peer
if [[ ! -x "$onednn_bin" || "$onednn_src" -nt "$onednn_bin" ]]; then
  mkdir -p "$(dirname "$onednn_bin")"
  g++ -O2 -std=c++17 -fopenmp "$onednn_src" -ldnnl -o "$onednn_bin"
fi

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
# The report this run replaces is not what it measures: a changed docs/performance.md alone does not make the tree dirty.
if ! git diff --quiet HEAD -- . ':(exclude)docs/performance.md' 2>/dev/null; then commit="$commit+dirty"; fi

nice_cmd=()
if [[ -n "${BENCH_NICE:-}" ]]; then nice_cmd=(nice -n "$BENCH_NICE"); fi

exec "${nice_cmd[@]}" dotnet benchmarks/ConvGen.Benchmarks/bin/Release/net10.0/ConvGen.Benchmarks.dll \
  --python "$python" --onednn "$root/$onednn_bin" --commit "$commit" \
  --command "${BENCH_NICE:+BENCH_NICE=$BENCH_NICE }${DOTNET_EnableAVX512:+DOTNET_EnableAVX512=$DOTNET_EnableAVX512 }bash scripts/bench.sh${*:+ $*}" "$@"

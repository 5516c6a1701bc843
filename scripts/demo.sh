#!/usr/bin/env bash
# ConvGen's first command: trains LeNet-5 on Fashion-MNIST with generated forward and backward kernels, saves the
# weights, reloads them and checks every test prediction (samples/LeNet).
#
#   scripts/demo.sh [--classic] [--epochs N] [--batch N] [--threads N] [--quick] [--out DIR] [--help]
#
# Installs the data set first when it is missing (scripts/setup.sh, which uses apt-get), then runs the sample in
# Release from the repository root, passing the arguments on.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# Where ConvGen.Data.FashionMnist.Locate looks: $CONVGEN_FASHION_MNIST, then Debian's dataset-fashion-mnist folder;
# each of the four IDX files may be gzip-compressed or not.
have_dataset() {
    local dir name found
    for dir in "${CONVGEN_FASHION_MNIST:-}" /usr/share/datasets/fashion-mnist; do
        [ -n "$dir" ] || continue
        found=1
        for name in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
            if [ ! -f "$dir/$name.gz" ] && [ ! -f "$dir/$name" ]; then found=0; fi
        done
        if [ "$found" -eq 1 ]; then return 0; fi
    done
    return 1
}

if ! have_dataset; then
    echo "demo: Fashion-MNIST is not installed; running scripts/setup.sh"
    "$root/scripts/setup.sh"
fi

exec dotnet run --project samples/LeNet -c Release -- "$@"

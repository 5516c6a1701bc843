#!/usr/bin/env bash
# Generates the PyTorch reference data the peer tests compare against, into artifacts/peer.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
/usr/bin/python3 tests/peer/make_peer.py artifacts/peer
/usr/bin/python3 tests/peer/make_optim_peer.py artifacts/peer

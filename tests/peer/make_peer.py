#!/usr/bin/python3
"""Reference ("peer") data for ConvGen's correctness tests, computed by PyTorch.

Usage:
    /usr/bin/python3 tests/peer/make_peer.py OUT_DIR
        For each network in NETWORKS writes OUT_DIR/<name>.safetensors (the nn.Sequential state dict),
        OUT_DIR/<name>.input.bin and OUT_DIR/<name>.output.bin (raw little-endian float32, batch BATCH, NCHW).
        For the gradient tests it also writes, for the same batch and a fixed label per sample:
            OUT_DIR/<name>.labels.bin           BATCH int32 class indices in [0, classes)
            OUT_DIR/<name>.loss.bin             one float32: F.cross_entropy(logits, labels) (mean over the batch)
            OUT_DIR/<name>.grads.safetensors    autograd's d loss / d parameter, same keys and shapes as the state dict
            OUT_DIR/<name>.input_grad.bin       d loss / d input, float32, same layout as <name>.input.bin
        The labels come from their own generator, so the files above are unchanged by this second part.

    /usr/bin/python3 tests/peer/make_peer.py --verify NAME WEIGHTS INPUT OUTPUT
        Checks that WEIGHTS (a safetensors file, e.g. written by ConvGen's Save) is well formed, loads it strictly
        into network NAME, runs it on the raw float32 batch in INPUT and writes the result to OUTPUT.
        Exit status 0 on success; 2 with a message on stderr when the file is rejected.

The networks mirror tests/ConvGen.Tests/Peer/PeerNetworks.cs layer for layer; keep the two in step.
No safetensors package is needed: the format is written and read here with struct + json.
"""

import copy
import json
import math
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

BATCH = 3


class SameConv2d(nn.Conv2d):
    """nn.Conv2d with TensorFlow "same" padding: zero-pads (possibly asymmetrically) with F.pad, then convolves.

    A subclass rather than a wrapper so that its parameters are "<index>.weight" / "<index>.bias" in the state dict,
    exactly like a plain nn.Conv2d at the same position.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, dilation=1, groups=1, bias=True):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0,
                         dilation=dilation, groups=groups, bias=bias)

    @staticmethod
    def _split(size, k, stride, dilation):
        out = -(-size // stride)  # ceil
        total = max((out - 1) * stride + dilation * (k - 1) + 1 - size, 0)
        before = total // 2
        return before, total - before

    def forward(self, x):
        kh, kw = self.kernel_size
        top, bottom = self._split(x.shape[-2], kh, self.stride[0], self.dilation[0])
        left, right = self._split(x.shape[-1], kw, self.stride[1], self.dilation[1])
        return super().forward(F.pad(x, (left, right, top, bottom)))


def lenet():
    return (1, 28, 28), nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2),        # 0: 6x28x28
        nn.ReLU(),                            # 1
        nn.MaxPool2d(2),                      # 2: 6x14x14
        nn.Conv2d(6, 16, 5),                  # 3: 16x10x10
        nn.ReLU(),                            # 4
        nn.MaxPool2d(2),                      # 5: 16x5x5
        nn.Flatten(),                         # 6: 400
        nn.Linear(400, 120),                  # 7
        nn.ReLU(),                            # 8
        nn.Linear(120, 84),                   # 9
        nn.ReLU(),                            # 10
        nn.Linear(84, 10),                    # 11
    )


def alexnet():
    # 3x101x101: (101 + 4 - 11) / 4 is not exact, so the floor in the output size matters.
    return (3, 101, 101), nn.Sequential(
        nn.Conv2d(3, 24, 11, stride=4, padding=2),   # 0: 24x24x24
        nn.ReLU(),                                   # 1
        nn.MaxPool2d(3, stride=2),                   # 2: 24x11x11
        nn.Conv2d(24, 32, 5, padding=2),             # 3: 32x11x11
        nn.ReLU(),                                   # 4
        nn.MaxPool2d(3, stride=2),                   # 5: 32x5x5
        nn.Conv2d(32, 48, 3, padding=1),             # 6: 48x5x5
        nn.ReLU(),                                   # 7
        nn.Conv2d(48, 32, 3, padding=1),             # 8: 32x5x5
        nn.ReLU(),                                   # 9
        nn.MaxPool2d(3, stride=2),                   # 10: 32x2x2
        nn.Flatten(),                                # 11: 128
        nn.Linear(128, 64),                          # 12
        nn.ReLU(),                                   # 13
        nn.Linear(64, 10),                           # 14
    )


def mixed():
    return (4, 23, 19), nn.Sequential(
        nn.Conv2d(4, 12, 3, padding=2, dilation=2),  # 0: 12x23x19
        nn.Tanh(),                                   # 1
        nn.Conv2d(12, 16, 3, stride=2, groups=4),    # 2: 16x11x9
        nn.Sigmoid(),                                # 3
        nn.Conv2d(16, 16, 3, padding=1, groups=16),  # 4: 16x11x9 (depthwise)
        nn.ReLU(),                                   # 5
        nn.Conv2d(16, 20, 1),                        # 6: 20x11x9
        nn.AvgPool2d(3, stride=2, padding=1),        # 7: 20x6x5
        SameConv2d(20, 8, 2),                        # 8: 8x6x5 (pads 0 top/left, 1 bottom/right)
        nn.MaxPool2d(2, stride=1),                   # 9: 8x5x4
        nn.AdaptiveAvgPool2d(1),                     # 10: 8x1x1
        nn.Flatten(),                                # 11: 8
        nn.Linear(8, 5),                             # 12
    )


def winograd():
    # Three 3x3 layers that ConvGen runs as Winograd F(2x2, 3x3), forward and backward-data.
    return (32, 8, 10), nn.Sequential(
        nn.Conv2d(32, 32, 3, padding=1),             # 0: 32x8x10 (on the network's NCHW input)
        nn.ReLU(),                                   # 1
        nn.Conv2d(32, 64, 3),                        # 2: 64x6x8 (unpadded)
        nn.ReLU(),                                   # 3
        nn.Conv2d(64, 64, 3, padding=1),             # 4: 64x6x8
        nn.AdaptiveAvgPool2d(1),                     # 5: 64x1x1
        nn.Flatten(),                                # 6: 64
        nn.Linear(64, 10),                           # 7
    )


# name -> (builder, seed, expected per-sample output shape)
NETWORKS = {
    "lenet": (lenet, 1001, (10,)),
    "alexnet": (alexnet, 1002, (10,)),
    "mixed": (mixed, 1003, (5,)),
    "winograd": (winograd, 1004, (10,)),
}


def build(name):
    builder, seed, expected = NETWORKS[name]
    torch.manual_seed(seed)
    shape, model = builder()  # default PyTorch init, drawn from the seeded generator
    model.eval()
    return shape, model, expected


# ---------------------------------------------------------------- safetensors, by hand

def write_safetensors(path, state_dict):
    header = {}
    blobs = []
    offset = 0
    for key, tensor in state_dict.items():
        data = tensor.detach().to(torch.float32).contiguous().cpu().numpy().astype("<f4").tobytes()
        header[key] = {"dtype": "F32", "shape": list(tensor.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


class FormatError(Exception):
    pass


def read_safetensors(path):
    """Strict reader following the reference implementation's checks; returns {name: float32 tensor}."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise FormatError(f"{len(raw)} bytes: too short for the header length")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > len(raw) - 8:
        raise FormatError(f"header length {n} exceeds the file ({len(raw)} bytes)")
    try:
        text = raw[8:8 + n].decode("utf-8")
    except UnicodeDecodeError as e:
        raise FormatError(f"header is not UTF-8: {e}")
    if not text.startswith("{"):
        raise FormatError("header does not start with '{'")
    try:
        header = json.loads(text)
    except json.JSONDecodeError as e:
        raise FormatError(f"header is not valid JSON: {e}")
    if not isinstance(header, dict):
        raise FormatError("header is not a JSON object")
    data = raw[8 + n:]
    entries = []
    for key, info in header.items():
        if key == "__metadata__":
            if not isinstance(info, dict) or not all(isinstance(v, str) for v in info.values()):
                raise FormatError("__metadata__ must map strings to strings")
            continue
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise FormatError(f"tensor '{key}': expected exactly dtype, shape, data_offsets; got {info!r}")
        if info["dtype"] != "F32":
            raise FormatError(f"tensor '{key}': dtype {info['dtype']!r}, expected 'F32'")
        shape, offs = info["shape"], info["data_offsets"]
        if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
            raise FormatError(f"tensor '{key}': bad shape {shape!r}")
        if not (isinstance(offs, list) and len(offs) == 2 and all(isinstance(o, int) for o in offs)):
            raise FormatError(f"tensor '{key}': bad data_offsets {offs!r}")
        entries.append((offs[0], offs[1], key, shape))
    entries.sort()
    expected_start = 0
    for start, end, key, shape in entries:
        if start != expected_start or end < start:
            raise FormatError(f"tensor '{key}': data_offsets [{start}, {end}] are not contiguous (expected start {expected_start})")
        if end - start != 4 * math.prod(shape):
            raise FormatError(f"tensor '{key}': {end - start} bytes for shape {shape}")
        expected_start = end
    if expected_start != len(data):
        raise FormatError(f"tensors cover {expected_start} data bytes but the file has {len(data)}")
    out = {}
    for start, end, key, shape in entries:
        values = torch.frombuffer(bytearray(data[start:end]), dtype=torch.float32) if end > start else torch.zeros(0)
        out[key] = values.reshape(shape).clone()
    return out


# ---------------------------------------------------------------- raw float32 files

def write_f32(path, tensor):
    with open(path, "wb") as f:
        f.write(tensor.detach().to(torch.float32).contiguous().cpu().numpy().astype("<f4").tobytes())


def read_f32(path):
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) % 4:
        raise FormatError(f"{path}: {len(raw)} bytes is not a whole number of float32 values")
    return torch.frombuffer(bytearray(raw), dtype=torch.float32).clone()


# ---------------------------------------------------------------- gradients

def fixed_labels(name, batch, classes):
    """BATCH labels from a generator of their own (never the global one, so weights and inputs do not move)."""
    _, seed, _ = NETWORKS[name]
    g = torch.Generator().manual_seed(seed + 500)
    return torch.randint(0, classes, (batch,), generator=g, dtype=torch.int64)


def loss_and_gradients(model, x, labels):
    """Mean softmax cross-entropy of model(x) and autograd's gradients: ({state-dict key: grad}, d loss / d x)."""
    model.zero_grad(set_to_none=True)
    xg = x.detach().clone().requires_grad_(True)
    loss = F.cross_entropy(model(xg), labels)
    loss.backward()
    grads = {k: p.grad.detach().clone() for k, p in model.named_parameters()}
    return loss.detach(), grads, xg.grad.detach().clone()


def write_gradients(out_dir, name, model, x, classes):
    labels = fixed_labels(name, x.shape[0], classes)
    loss, grads, input_grad = loss_and_gradients(model, x, labels)
    sd = model.state_dict()
    if list(grads) != list(sd) or any(grads[k].shape != sd[k].shape for k in sd):
        raise SystemExit(f"{name}: parameter gradients do not line up with the state dict")
    # The same computation in float64 bounds PyTorch's own float32 rounding: it should sit far below the C# tolerance.
    model64 = copy.deepcopy(model).double()
    loss64, grads64, input_grad64 = loss_and_gradients(model64, x.double(), labels)
    noise = max(((grads[k].double() - grads64[k]).abs() / (1 + grads64[k].abs())).max().item() for k in grads)
    noise = max(noise, ((input_grad.double() - input_grad64).abs() / (1 + input_grad64.abs())).max().item(),
                abs(loss.item() - loss64.item()) / (1 + abs(loss64.item())))
    if noise > 1e-5:
        raise SystemExit(f"{name}: float32 and float64 gradients differ by {noise:.3g}·(1+|ref|); the reference is too noisy")

    with open(os.path.join(out_dir, f"{name}.labels.bin"), "wb") as f:
        f.write(struct.pack(f"<{labels.numel()}i", *labels.tolist()))
    write_f32(os.path.join(out_dir, f"{name}.loss.bin"), loss.reshape(1))
    write_safetensors(os.path.join(out_dir, f"{name}.grads.safetensors"), grads)
    write_f32(os.path.join(out_dir, f"{name}.input_grad.bin"), input_grad)
    back = read_safetensors(os.path.join(out_dir, f"{name}.grads.safetensors"))
    assert set(back) == set(grads) and all(torch.equal(back[k], grads[k]) for k in grads), name
    gmax = max(g.abs().max().item() for g in grads.values())
    print(f"{name}: labels {labels.tolist()}, loss {loss.item():.6g}, |dW|max {gmax:.4g}, "
          f"|dx|max {input_grad.abs().max().item():.4g}, float32 vs float64 {noise:.2g}·(1+|ref|)")


# ---------------------------------------------------------------- commands

def generate(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(1)  # deterministic reductions; the nets are tiny
    for name in NETWORKS:
        shape, model, expected = build(name)
        x = torch.randn(BATCH, *shape)  # same seeded generator, after the weights
        with torch.no_grad():
            y = model(x)
        if tuple(y.shape[1:]) != expected:
            raise SystemExit(f"{name}: output shape {tuple(y.shape[1:])}, expected {expected}")
        write_safetensors(os.path.join(out_dir, f"{name}.safetensors"), model.state_dict())
        write_f32(os.path.join(out_dir, f"{name}.input.bin"), x)
        write_f32(os.path.join(out_dir, f"{name}.output.bin"), y)
        # Round-trip our own writer through our strict reader so a format slip shows up here, not in C#.
        back = read_safetensors(os.path.join(out_dir, f"{name}.safetensors"))
        sd = model.state_dict()
        assert list(back) == sorted(back, key=lambda k: list(sd).index(k)) and set(back) == set(sd), name
        assert all(torch.equal(back[k], sd[k]) for k in sd), name
        params = sum(p.numel() for p in model.parameters())
        print(f"{name}: input {BATCH}x{'x'.join(map(str, shape))}, output {tuple(y.shape)}, "
              f"{len(sd)} tensors, {params} parameters, |y|max {y.abs().max().item():.4g}")
        write_gradients(out_dir, name, model, x, expected[0])


def verify(name, weights, input_path, output_path):
    if name not in NETWORKS:
        raise SystemExit(f"unknown network '{name}'; known: {', '.join(NETWORKS)}")
    shape, model, _ = build(name)
    try:
        tensors = read_safetensors(weights)
    except (OSError, FormatError) as e:
        print(f"{weights}: rejected: {e}", file=sys.stderr)
        return 2
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as e:
        print(f"{weights}: does not fit network '{name}': {e}", file=sys.stderr)
        return 2
    x = read_f32(input_path)
    per_sample = math.prod(shape)
    if x.numel() == 0 or x.numel() % per_sample:
        print(f"{input_path}: {x.numel()} floats is not a positive multiple of {per_sample}", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    with torch.no_grad():
        y = model(x.reshape(-1, *shape))
    write_f32(output_path, y)
    return 0


def main(argv):
    if len(argv) == 6 and argv[1] == "--verify":
        return verify(*argv[2:])
    if len(argv) == 2 and not argv[1].startswith("-"):
        generate(argv[1])
        return 0
    print(__doc__, file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv))

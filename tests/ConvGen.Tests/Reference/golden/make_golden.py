#!/usr/bin/python3
"""Writes torch_golden.json: small networks run forward and backward by PyTorch (float64), used by
ReferenceVsTorchTests to pin the C# float64 reference (outputs and gradients) to PyTorch's semantics without needing
Python at test time.

Run with Debian's python (torch 1.13):  /usr/bin/python3 tests/ConvGen.Tests/Reference/golden/make_golden.py
Layer dictionaries mirror the ConvGen attributes; "same" convs are F.pad + conv2d inside one module, as in the contract.
"""
import json
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(1234)
torch.set_default_dtype(torch.float64)


def same_pads(size, k, s, d):
    out = -(-size // s)
    total = max((out - 1) * s + d * (k - 1) + 1 - size, 0)
    return total // 2, total - total // 2


class SameConv(nn.Module):
    def __init__(self, conv, pads):
        super().__init__()
        self.conv = conv
        self.pads = pads  # (left, right, top, bottom)

    def forward(self, x):
        return self.conv(F.pad(x, self.pads))


def build(layers, c, h, w):
    """nn.Sequential for the layers; (c, h, w) is the input shape, tracked so "same" convs get their pads."""
    shape = (1, c, h, w)
    mods = []
    for L in layers:
        t = L["type"]
        if t == "Conv":
            conv = nn.Conv2d(L["in"], L["out"], (L["kh"], L["kw"]), stride=L["stride"],
                             padding=0 if L["same"] else L["pad"], dilation=L["dilation"],
                             groups=L["groups"], bias=L["bias"])
            if L["same"]:
                top, bottom = same_pads(h, L["kh"], L["stride"], L["dilation"])
                left, right = same_pads(w, L["kw"], L["stride"], L["dilation"])
                mod = SameConv(conv, (left, right, top, bottom))
            else:
                mod = conv
        elif t == "Relu":
            mod = nn.ReLU()
        elif t == "Sigmoid":
            mod = nn.Sigmoid()
        elif t == "Tanh":
            mod = nn.Tanh()
        elif t in ("MaxPool", "AvgPool"):
            stride = L["stride"] or L["size"]
            mod = (nn.MaxPool2d(L["size"], stride, L["pad"]) if t == "MaxPool"
                   else nn.AvgPool2d(L["size"], stride, L["pad"], count_include_pad=True))
        elif t == "GlobalAvgPool":
            mod = nn.AdaptiveAvgPool2d(1)
        elif t == "Flatten":
            mod = nn.Flatten()
        elif t == "Linear":
            mod = nn.Linear(L["in"], L["out"], bias=L["bias"])
        else:
            raise ValueError(t)
        mods.append(mod)
        # track the spatial size for the "same" pads of later convs
        with torch.no_grad():
            probe = nn.Sequential(*mods)(torch.zeros(shape))
        if probe.dim() == 4:
            c, h, w = probe.shape[1:]
    return nn.Sequential(*mods)


def conv(kh, kw, i, o, stride=1, pad=0, dilation=1, groups=1, bias=True, same=False):
    return dict(type="Conv", kh=kh, kw=kw, **{"in": i, "out": o}, stride=stride, pad=pad,
                dilation=dilation, groups=groups, bias=bias, same=same)


def pool(kind, size, stride=0, pad=0):
    return dict(type=kind, size=size, stride=stride, pad=pad)


def linear(i, o, bias=True):
    return dict(type="Linear", **{"in": i, "out": o}, bias=bias)


CASES = [
    ("conv_stride_dilation_groups", (2, 4, 9, 11), [conv(3, 5, 4, 6, stride=2, pad=1, dilation=2, groups=2)]),
    ("conv_same_even_kernel_stride3", (1, 3, 10, 7), [conv(4, 3, 3, 5, stride=3, same=True)]),
    ("conv_same_dilated", (2, 2, 6, 5), [conv(3, 2, 2, 4, dilation=2, same=True, bias=False)]),
    ("conv_depthwise_multiplier", (1, 3, 5, 6), [conv(3, 3, 3, 6, pad=1, groups=3)]),
    ("conv_pad_exceeds_kernel", (1, 2, 3, 3), [conv(2, 2, 2, 3, stride=2, pad=3)]),
    ("maxpool_pad", (1, 2, 7, 8), [pool("MaxPool", 3, 2, 1)]),
    ("avgpool_pad_counted", (2, 2, 7, 8), [pool("AvgPool", 3, 2, 1)]),
    ("maxpool_floor_odd", (1, 3, 7, 9), [pool("MaxPool", 2)]),
    ("avgpool_stride1_pad1", (1, 2, 5, 4), [pool("AvgPool", 2, 1, 1)]),
    ("global_avg_pool", (3, 4, 5, 3), [dict(type="GlobalAvgPool")]),
    ("activations", (1, 3, 4, 4), [dict(type="Tanh"), dict(type="Relu"), dict(type="Sigmoid")]),
    ("flatten_linear", (2, 3, 2, 2), [dict(type="Flatten"), linear(12, 5), dict(type="Sigmoid"), linear(5, 3, bias=False)]),
    ("small_sequential", (2, 1, 12, 12), [conv(5, 5, 1, 4, pad=2), dict(type="Relu"), pool("MaxPool", 2),
                                         conv(3, 3, 4, 6, same=True), dict(type="Tanh"), pool("AvgPool", 3, 2, 1),
                                         dict(type="Flatten"), linear(54, 7), dict(type="Relu"), linear(7, 2)]),
]

out = []
upstream = torch.Generator().manual_seed(4321)
for name, (n, c, h, w), layers in CASES:
    model = build(layers, c, h, w)
    # non-trivial weights
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-0.6, 0.6)
    x = torch.empty(n, c, h, w).uniform_(-3, 3).requires_grad_()
    y = model(x)
    # upstream gradient dL/dy from its own generator, so adding it left the cases' inputs and parameters as they were
    r = torch.empty(y.shape).uniform_(-1, 1, generator=upstream)
    y.backward(r)
    params, grads = {}, {}
    for key, value in model.named_parameters():
        key = key.replace(".conv.", ".")  # SameConv wraps the conv; state-dict keys stay "{index}.weight"
        params[key] = [round(v, 17) for v in value.detach().flatten().tolist()]
        grads[key] = value.grad.flatten().tolist()
    out.append(dict(name=name, input_shape=[n, c, h, w], layers=layers, input=x.detach().flatten().tolist(),
                    params=params, output_shape=list(y.shape), output=y.detach().flatten().tolist(),
                    grad_output=r.flatten().tolist(), grad_input=x.grad.flatten().tolist(), grads=grads))

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_golden.json")
with open(path, "w") as f:
    json.dump(dict(torch=torch.__version__, cases=out), f, indent=None, separators=(",", ":"))
    f.write("\n")
print("wrote", path, os.path.getsize(path), "bytes")

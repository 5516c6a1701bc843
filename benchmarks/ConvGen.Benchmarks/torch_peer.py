#!/usr/bin/env python3
"""PyTorch peer for the ConvGen benchmark harness.

Runs as a child of the C# harness and answers one JSON request per stdin line, so that for every shape and thread
count the ConvGen and PyTorch figures are measured back to back in the same run. The first line written is a
"ready" record with the versions; then one result line per request.

Request:  {"name": str, "batch": N, "in": Cin, "h": H, "w": W, "out": Cout, "kernel": K, "stride": S, "pad": P,
           "groups": G, "threads": T, "warmup_s": float, "measure_s": float, "min_samples": int}
Response: {"name": str, "threads": T, "times_ms": [float, ...], "path": str} or {"error": str}
("path": the ATen convolution backend one call went through, from the autograd profiler: "oneDNN" for
mkldnn_convolution, "im2col+GEMM" for thnn_conv2d/_slow_conv2d_forward, else the op name.)

The timing loop mirrors the C# one: warm-up for warmup_s (at least 3 calls), then each call timed on its own with
time.perf_counter until measure_s of calls and min_samples samples are collected. The harness asks several times per
figure (rounds alternating with ConvGen) and takes the median over all returned times. Modules and inputs are cached
per shape, so later rounds reuse them.
"""
import json
import sys
import time


_cache = {}

_PATHS = {"aten::mkldnn_convolution": "oneDNN", "aten::_slow_conv2d_forward": "im2col+GEMM",
          "aten::thnn_conv2d": "im2col+GEMM", "aten::_nnpack_spatial_convolution": "NNPACK",
          "aten::slow_conv_dilated2d": "slow dilated", "aten::_convolution_depthwise3x3_winograd": "depthwise winograd"}


def backend(torch, conv, x):
    """Which ATen kernel nn.Conv2d dispatches to for this input and thread count."""
    with torch.autograd.profiler.profile() as prof:
        conv(x)
    names = {e.name for e in prof.function_events}
    for op, label in _PATHS.items():
        if op in names:
            return label
    rest = sorted(n for n in names if "conv" in n and n not in ("aten::conv2d", "aten::convolution", "aten::_convolution"))
    return ",".join(rest) or "unknown"


def measure(torch, req):
    torch.set_num_threads(int(req["threads"]))
    key = tuple(req[k] for k in ("batch", "in", "h", "w", "out", "kernel", "stride", "pad", "groups"))
    if key not in _cache:
        torch.manual_seed(0)
        conv = torch.nn.Conv2d(req["in"], req["out"], req["kernel"], stride=req["stride"], padding=req["pad"],
                               groups=req["groups"], bias=True).eval()
        x = torch.randn(req["batch"], req["in"], req["h"], req["w"])
        _cache.clear()  # one shape at a time: keep memory small
        _cache[key] = (conv, x)
    conv, x = _cache[key]
    clock = time.perf_counter
    with torch.no_grad():
        warm_end = clock() + req["warmup_s"]
        n = 0
        while n < 3 or clock() < warm_end:
            conv(x)
            n += 1
        times = []
        spent = 0.0
        while spent < req["measure_s"] or len(times) < req["min_samples"]:
            t0 = clock()
            conv(x)
            dt = clock() - t0
            spent += dt
            times.append(dt * 1000.0)
        path = backend(torch, conv, x)
    return {"name": req["name"], "threads": req["threads"], "times_ms": [round(t, 6) for t in times], "path": path}


def main():
    try:
        import torch
    except Exception as e:  # noqa: BLE001 - report any import failure to the harness
        print(json.dumps({"error": f"cannot import torch: {e}"}), flush=True)
        return 1
    print(json.dumps({"ready": True, "torch": torch.__version__,
                      "python": sys.version.split()[0],
                      "mkldnn": bool(torch.backends.mkldnn.is_available())}), flush=True)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            reply = measure(torch, json.loads(line))
        except Exception as e:  # noqa: BLE001 - one failing shape must not end the run
            reply = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(reply), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

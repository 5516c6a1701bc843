#!/usr/bin/env python3
"""PyTorch peer of the ConvGen benchmark (benchmarks/ConvGen.Benchmarks).

Runs as a child of the C# harness and answers one JSON request per stdin line with one JSON line on stdout, so every
PyTorch figure is measured right after (or before) the matching ConvGen figure, on the same machine state, while the
harness itself waits. The first line written is {"ready": true, ...versions...} or {"error": ...}.

Requests ("op"):
  conv           {direction, batch, in, h, w, out, kernel, stride, pad, groups, threads, warmup_s, measure_s,
                  min_samples}
                 the weights and bias of nn.Conv2d(bias=True), x and an output gradient g uniform in [-1, 1); timed:
                 direction "forward": F.conv2d(x, w, b) under no_grad;
                 "backward_data": aten.convolution_backward(g, x, w, output_mask=(True, False, False)), the call
                 autograd's ConvolutionBackward0 makes for the input gradient;
                 "backward_weights": the same with output_mask=(False, True, True) (weight and bias gradients).
                 -> {times_ms: [...], backend: "Mkldnn" | "Slow2d" | ...}  (torch._C._select_conv_backend)
  lenet_load     {train_images, train_labels, test_images, test_labels, weights}
                 reads the Fashion-MNIST IDX files (gzip or raw) and the initial weights (a safetensors file written by
                 ConvGen, names = this nn.Sequential's state dict) -> {seconds, train, test}
  lenet_logits   {count} -> {logits: [...]}  (first `count` test images, eval mode, no_grad)
  lenet_train    {threads, batch, lr, momentum, seed, subset, max_seconds}
                 one epoch of the loop below over the training set (its first `subset` images when > 0, as the harness
                 does for --epoch-batches), stopping before the next batch once max_seconds (when > 0) have passed
                 -> {seconds, batches, images, loss, accuracy}; the SGD optimizer (and its momentum) persists across
                 requests, as the model does
  lenet_eval     {threads} -> {loss, accuracy} on the test set
  lenet_infer    {threads, batch, warmup_s, measure_s, min_samples}
                 model(x) under torch.no_grad() in eval mode, x = the first `batch` test images -> {times_ms: [...]}

The training loop is what Trainer does: per epoch a random permutation, then per batch gather the samples
(x = X[idx]), zero_grad, forward, F.cross_entropy (mean), backward, optimizer.step, and the running loss and number
of correct predictions (loss.item(), argmax). Data stay in memory as tensors (no DataLoader, no workers).
"""
import gzip
import json
import struct
import sys
import time

_clock = time.perf_counter
_conv_cache = {}
_lenet = {}


def _timed(fn, warmup_s, measure_s, min_samples, before=None):
    """Warm-up for warmup_s (at least 2 calls), then time single calls of fn (ms) until measure_s and min_samples."""
    end = _clock() + warmup_s
    n = 0
    while n < 2 or _clock() < end:
        if before is not None:
            before()
        fn()
        n += 1
    times = []
    spent = 0.0
    while (spent < measure_s or len(times) < min_samples) and len(times) < 100000:
        if before is not None:
            before()
        t0 = _clock()
        fn()
        dt = _clock() - t0
        spent += dt
        times.append(dt * 1000.0)
    return [round(t, 6) for t in times]


def _backend(torch, x, w, b, req):
    """The ATen convolution backend this input and thread count dispatch to (torch._C._select_conv_backend)."""
    return str(torch._C._select_conv_backend(
        x, w, b, [req["stride"]] * 2, [req["pad"]] * 2, [1, 1], False, [0, 0], req["groups"])).split(".")[-1]


def conv(torch, req):
    torch.set_num_threads(int(req["threads"]))
    key = tuple(req[k] for k in ("batch", "in", "h", "w", "out", "kernel", "stride", "pad", "groups"))
    if key not in _conv_cache:
        _conv_cache.clear()  # one shape at a time: keeps memory small
        torch.manual_seed(0)
        module = torch.nn.Conv2d(req["in"], req["out"], req["kernel"], stride=req["stride"], padding=req["pad"],
                                 groups=req["groups"], bias=True)
        w, b = module.weight.detach(), module.bias.detach()
        x = torch.rand(req["batch"], req["in"], req["h"], req["w"]) * 2 - 1
        with torch.no_grad():
            g = torch.rand(module(x).shape) * 2 - 1
        _conv_cache[key] = (x, w, b, g)
    x, w, b, g = _conv_cache[key]
    F = torch.nn.functional
    stride, pad, groups = [req["stride"]] * 2, [req["pad"]] * 2, req["groups"]
    backward = torch.ops.aten.convolution_backward
    direction = req["direction"]
    if direction == "forward":
        fn = lambda: F.conv2d(x, w, b, stride, pad, 1, groups)  # noqa: E731
    elif direction == "backward_data":
        fn = lambda: backward(g, x, w, None, stride, pad, [1, 1], False, [0, 0], groups, [True, False, False])  # noqa: E731
    elif direction == "backward_weights":
        fn = lambda: backward(g, x, w, [w.shape[0]], stride, pad, [1, 1], False, [0, 0], groups,  # noqa: E731
                              [False, True, True])
    else:
        raise ValueError(f"unknown direction {direction}")
    with torch.no_grad():
        times = _timed(fn, req["warmup_s"], req["measure_s"], req["min_samples"])
    return {"times_ms": times, "backend": _backend(torch, x, w, b, req)}


def _read_idx(path, magic, np):
    with open(path, "rb") as f:
        head = f.read(2)
    opener = gzip.open if head == b"\x1f\x8b" else open
    with opener(path, "rb") as f:
        data = f.read()
    (found,) = struct.unpack(">i", data[:4])
    if found != magic:
        raise ValueError(f"{path}: magic 0x{found:08X}, expected 0x{magic:08X}")
    dims = data[3]
    shape = struct.unpack(">" + "i" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def _read_safetensors(path, torch, np):
    with open(path, "rb") as f:
        raw = f.read()
    (header_len,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + header_len])
    base = 8 + header_len
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if entry["dtype"] != "F32":
            raise ValueError(f"{name}: dtype {entry['dtype']}")
        begin, end = entry["data_offsets"]
        values = np.frombuffer(raw[base + begin:base + end], dtype="<f4").reshape(entry["shape"])
        tensors[name] = torch.from_numpy(values.copy())
    return tensors


def lenet_load(torch, req):
    import numpy as np
    start = _clock()
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    model.load_state_dict(_read_safetensors(req["weights"], torch, np), strict=True)

    def images(path):
        a = _read_idx(path, 0x803, np)
        return torch.from_numpy(a.astype(np.float32) / np.float32(255)).reshape(a.shape[0], 1, a.shape[1], a.shape[2])

    def labels(path):
        return torch.from_numpy(_read_idx(path, 0x801, np).astype(np.int64))

    _lenet.clear()
    _lenet.update(model=model, train_x=images(req["train_images"]), train_y=labels(req["train_labels"]),
                  test_x=images(req["test_images"]), test_y=labels(req["test_labels"]), optimizer=None)
    return {"seconds": _clock() - start, "train": int(_lenet["train_y"].shape[0]), "test": int(_lenet["test_y"].shape[0])}


def lenet_logits(torch, req):
    model = _lenet["model"]
    model.eval()
    with torch.no_grad():
        out = model(_lenet["test_x"][:int(req["count"])])
    return {"logits": [float(v) for v in out.reshape(-1).tolist()]}


def lenet_train(torch, req):
    import torch.nn.functional as F
    torch.set_num_threads(int(req["threads"]))
    model = _lenet["model"]
    if _lenet["optimizer"] is None:
        _lenet["optimizer"] = torch.optim.SGD(model.parameters(), lr=float(req["lr"]), momentum=float(req["momentum"]))
    optimizer = _lenet["optimizer"]
    X, Y = _lenet["train_x"], _lenet["train_y"]
    subset = int(req.get("subset", 0))
    if subset > 0:
        X, Y = X[:subset], Y[:subset]
    count, batch = int(Y.shape[0]), int(req["batch"])
    batches = (count + batch - 1) // batch
    model.train()
    start = _clock()
    order = torch.randperm(count, generator=torch.Generator().manual_seed(int(req["seed"])))
    loss_sum, correct, seen = 0.0, 0, 0
    cap = float(req.get("max_seconds", 0))
    done = 0
    for b in range(batches):
        if cap > 0 and b > 0 and _clock() - start >= cap:
            break
        done += 1
        idx = order[b * batch:(b + 1) * batch]
        x, y = X[idx], Y[idx]
        optimizer.zero_grad()
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        optimizer.step()
        n = int(y.shape[0])
        loss_sum += loss.item() * n
        correct += int((logits.argmax(1) == y).sum().item())
        seen += n
    seconds = _clock() - start
    return {"seconds": seconds, "batches": done, "images": seen, "loss": loss_sum / seen, "accuracy": correct / seen}


def lenet_eval(torch, req):
    import torch.nn.functional as F
    torch.set_num_threads(int(req["threads"]))
    model = _lenet["model"]
    model.eval()
    X, Y = _lenet["test_x"], _lenet["test_y"]
    loss_sum, correct = 0.0, 0
    with torch.no_grad():
        for first in range(0, int(Y.shape[0]), 256):
            logits = model(X[first:first + 256])
            y = Y[first:first + 256]
            loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(1) == y).sum().item())
    return {"loss": loss_sum / int(Y.shape[0]), "accuracy": correct / int(Y.shape[0])}


def lenet_infer(torch, req):
    torch.set_num_threads(int(req["threads"]))
    model = _lenet["model"]
    model.eval()
    x = _lenet["test_x"][:int(req["batch"])].contiguous()
    with torch.no_grad():
        times = _timed(lambda: model(x), req["warmup_s"], req["measure_s"], req["min_samples"])
    return {"times_ms": times}


_OPS = {"conv": conv, "lenet_load": lenet_load, "lenet_logits": lenet_logits,
        "lenet_train": lenet_train, "lenet_eval": lenet_eval, "lenet_infer": lenet_infer}


def main():
    try:
        import torch
    except Exception as e:  # noqa: BLE001 - any import failure goes to the harness
        print(json.dumps({"error": f"cannot import torch: {e}"}), flush=True)
        return 1
    dnnl = "not loaded"
    try:
        with open("/proc/self/maps") as maps:
            dnnl = next((l.split()[-1] for l in maps if "libdnnl" in l), "not loaded")
    except OSError:
        pass
    print(json.dumps({"ready": True, "torch": torch.__version__, "python": sys.version.split()[0], "dnnl": dnnl,
                      "mkldnn": bool(torch.backends.mkldnn.is_available()),
                      "capability": next((l.split(":", 1)[1].strip() for l in torch.__config__.show().splitlines()
                                          if "CPU capability usage" in l), "unknown")}), flush=True)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
            reply = _OPS[req["op"]](torch, req)
        except Exception as e:  # noqa: BLE001 - one failing request must not end the run
            reply = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(reply), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

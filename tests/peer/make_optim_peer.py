#!/usr/bin/python3
"""Reference data for ConvGen's training runtime (ConvGen.Training), computed by PyTorch 1.13.

Usage:
    /usr/bin/python3 tests/peer/make_optim_peer.py OUT_DIR

Writes into OUT_DIR:
    optim.json          the manifest read by tests/ConvGen.Tests/Training/OptimizerPeerTests.cs: tensor length, step count,
                        every optimizer case (hyperparameters, the lr used at each step, its trajectory file), the lr
                        schedules (values per epoch) and the loss cases (inputs, loss, gradient)
    optim.init.bin      the initial parameter, LENGTH float32 (raw little-endian)
    optim.grads.bin     the gradient fed at each step, STEPS x LENGTH float32
    optim.<case>.bin    the parameter after each step, STEPS x LENGTH float32

Each case starts from optim.init.bin and, at step s, sets param.grad = grads[s] and calls optimizer.step(). The C# test
requires every value after every step to be bit-identical to PyTorch's; 60 steps, because a difference of rounding
(an unfused multiply-add, a learning rate rounded to float32) first showed at step 3 to 7 of 1,000 values. Everything
is generated from fixed seeds; rerunning gives identical files.
"""

import json
import math
import os
import sys

import torch

LENGTH = 1003  # not a multiple of 8: the C# Parameter (ParameterLayout.Vector) packs it into 1008 floats, 5 of them padding
STEPS = 60


def write_f32(path, tensor):
    with open(path, "wb") as f:
        f.write(tensor.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes())


def exact(values):
    """float32 values as Python floats (exact: every float32 is a double)."""
    return [float(v) for v in values.detach().to(torch.float32).reshape(-1)]


def optimizer_cases():
    # (name, constructor, per-step StepLR(step_size, gamma) applied with scheduler.step() after each step, or None)
    return [
        ("sgd", dict(kind="sgd", lr=0.02), None),
        ("sgd_momentum", dict(kind="sgd", lr=0.01, momentum=0.9, weight_decay=1e-2), None),
        ("sgd_nesterov", dict(kind="sgd", lr=0.01, momentum=0.9, weight_decay=1e-2, nesterov=True), None),
        ("sgd_dampening", dict(kind="sgd", lr=0.01, momentum=0.9, dampening=0.3, weight_decay=1e-2), None),
        ("adam", dict(kind="adam", lr=1e-2, weight_decay=1e-2), None),
        ("adam_betas", dict(kind="adam", lr=2e-2, betas=(0.8, 0.95), eps=1e-3), None),
        ("adamw", dict(kind="adamw", lr=1e-2, weight_decay=1e-2), None),
        ("adamw_strong_decay", dict(kind="adamw", lr=3e-2, weight_decay=0.5), None),
        ("adamw_steplr", dict(kind="adamw", lr=1e-2, weight_decay=1e-2), dict(step_size=2, gamma=0.5)),
        ("sgd_nesterov_steplr", dict(kind="sgd", lr=0.01, momentum=0.9, weight_decay=1e-2, nesterov=True), dict(step_size=3, gamma=0.1)),
    ]


def make_optimizer(param, spec):
    kind = spec["kind"]
    if kind == "sgd":
        return torch.optim.SGD([param], lr=spec["lr"], momentum=spec.get("momentum", 0.0), dampening=spec.get("dampening", 0.0),
                               weight_decay=spec.get("weight_decay", 0.0), nesterov=spec.get("nesterov", False))
    if kind == "adam":
        return torch.optim.Adam([param], lr=spec["lr"], betas=spec.get("betas", (0.9, 0.999)), eps=spec.get("eps", 1e-8),
                                weight_decay=spec.get("weight_decay", 0.0))
    if kind == "adamw":
        return torch.optim.AdamW([param], lr=spec["lr"], betas=spec.get("betas", (0.9, 0.999)), eps=spec.get("eps", 1e-8),
                                 weight_decay=spec.get("weight_decay", 1e-2))
    raise ValueError(kind)


def run_case(out_dir, name, spec, schedule, init, grads):
    param = torch.nn.Parameter(init.clone())
    opt = make_optimizer(param, spec)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=schedule["step_size"], gamma=schedule["gamma"]) if schedule else None
    trajectory, lrs = [], []
    for s in range(STEPS):
        lrs.append(opt.param_groups[0]["lr"])
        param.grad = grads[s].clone()
        opt.step()
        trajectory.append(param.detach().clone())
        if sched is not None:
            sched.step()
    trajectory = torch.stack(trajectory)
    file = f"optim.{name}.bin"
    write_f32(os.path.join(out_dir, file), trajectory)
    entry = {
        "name": name,
        "optimizer": spec["kind"],
        "lr": spec["lr"],
        "momentum": spec.get("momentum", 0.0),
        "dampening": spec.get("dampening", 0.0),
        "nesterov": spec.get("nesterov", False),
        "weight_decay": spec.get("weight_decay", 1e-2 if spec["kind"] == "adamw" else 0.0),
        "betas": list(spec.get("betas", (0.9, 0.999))),
        "eps": spec.get("eps", 1e-8),
        "step_lr": schedule,
        "lr_per_step": lrs,
        "file": file,
    }
    return entry


def schedule_cases():
    """Learning rates PyTorch's schedulers give when stepped once per epoch (their chainable, recursive form)."""
    epochs = 25
    cases = []
    for name, make, args in [
        ("steplr", lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5), dict(kind="step", step_size=3, gamma=0.5)),
        ("steplr_default_gamma", lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=7), dict(kind="step", step_size=7, gamma=0.1)),
        ("cosine", lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=1e-3), dict(kind="cosine", t_max=10, eta_min=1e-3)),
        ("cosine_zero_min", lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=6), dict(kind="cosine", t_max=6, eta_min=0.0)),
    ]:
        base_lr = 0.1
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base_lr)
        sched = make(opt)
        lrs = []
        for _ in range(epochs):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        cases.append(dict(name=name, base_lr=base_lr, lr=lrs, **args))
    return cases


def loss_cases():
    g = torch.Generator().manual_seed(77)
    cases = []
    # Cross-entropy: ordinary logits, then huge ones (a naive exp overflows float32 and float64) and ties.
    batch, classes = 6, 7
    logits = torch.randn(batch, classes, generator=g) * 3
    logits[1] = logits[1] * 400            # |x| in the thousands
    logits[2, :] = 0.0                     # all tied: loss log(7), argmax 0
    logits[3, 4] = 88.0                    # exp(88) is near float32's limit
    labels = torch.randint(0, classes, (batch,), generator=g)
    x = logits.clone().requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(x, labels)
    loss.backward()
    cases.append(dict(name="cross_entropy", batch=batch, classes=classes, logits=exact(logits), labels=labels.tolist(),
                      loss=float(loss.item()), grad=exact(x.grad)))
    # MSE over all elements (reduction "mean"), shape (batch, features).
    pred = torch.randn(4, 5, generator=g)
    target = torch.randn(4, 5, generator=g)
    p = pred.clone().requires_grad_(True)
    loss = torch.nn.MSELoss()(p, target)
    loss.backward()
    cases.append(dict(name="mse", prediction=exact(pred), target=exact(target), loss=float(loss.item()), grad=exact(p.grad)))
    return cases


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(1)

    g = torch.Generator().manual_seed(20240601)
    magnitude = 0.5 + torch.rand(LENGTH, generator=g)
    sign = torch.where(torch.rand(LENGTH, generator=g) < 0.5, -1.0, 1.0)
    init = (magnitude * sign).to(torch.float32)
    grads = torch.randn(STEPS, LENGTH, generator=g) * 0.5
    grads[:, ::5] *= 4            # some large gradients
    grads[2, 3] = 0.0             # a zero gradient in the middle of a run
    grads[:, 7] = 0.0             # a parameter that only ever sees weight decay
    grads = grads.to(torch.float32)
    write_f32(os.path.join(out_dir, "optim.init.bin"), init)
    write_f32(os.path.join(out_dir, "optim.grads.bin"), grads)

    manifest = {
        "torch": torch.__version__,
        "length": LENGTH,
        "steps": STEPS,
        "init": "optim.init.bin",
        "grads": "optim.grads.bin",
        "cases": [run_case(out_dir, name, spec, schedule, init, grads) for name, spec, schedule in optimizer_cases()],
        "schedules": schedule_cases(),
        "losses": loss_cases(),
    }
    with open(os.path.join(out_dir, "optim.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print(f"make_optim_peer: wrote {len(manifest['cases'])} optimizer cases, {len(manifest['schedules'])} schedules, "
          f"{len(manifest['losses'])} losses to {out_dir}")


if __name__ == "__main__":
    main()

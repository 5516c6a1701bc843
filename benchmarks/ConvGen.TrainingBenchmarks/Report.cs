using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;

namespace ConvGen.TrainingBenchmarks;

/// <summary>The markdown report.</summary>
public static class Report
{
    public static string Write(RunInfo run)
    {
        var o = run.Options;
        var sb = new StringBuilder();
        sb.AppendLine("# ConvGen training benchmark");
        sb.AppendLine();
        sb.AppendLine($"- Date: {run.Started:yyyy-MM-dd HH:mm} UTC{(o.Commit is null ? "" : $", commit {o.Commit}")}{(o.Quick ? " — **quick run: short timings, noisy figures**" : "")}");
        sb.AppendLine($"- Command: `{run.Command}`");
        sb.AppendLine($"- Machine: {Machine.CpuName()}, {Environment.ProcessorCount} logical CPUs ({Machine.Isa()}), {RuntimeInformation.OSDescription}");
        sb.AppendLine($"- Runtime: {RuntimeInformation.FrameworkDescription}, workstation GC, tiered JIT; PyTorch peer: {run.TorchDescription}");
        foreach (string problem in Machine.BuildProblems()) sb.AppendLine($"- **WARNING: {problem}**");
        sb.AppendLine($"- Whole run {run.Seconds:F0} s (part 1 {run.ConvSeconds:F0} s, part 2 {run.LeNetSeconds:F0} s) at nice {Machine.Nice()}. "
            + $"Load average (1/5/15 min) before: {run.LoadBefore}{(run.LoadBeforeLeNet is null ? "" : $"; before part 2: {run.LoadBeforeLeNet}")}; after: {run.LoadAfter}.");
        var t = o.Timing;
        sb.AppendLine($"- Per-call figures: Stopwatch around each call; {t.WarmupSeconds:0.##} s warm-up, then ≥ {t.Seconds:0.##} s and ≥ {t.MinCalls} timed calls "
            + $"in {t.Rounds} round(s) alternating ConvGen and PyTorch (the peer is a child process that waits while ConvGen runs and the other way round); "
            + "medians over all calls, p25–p75 in brackets. Thread counts: `ConvGen.Parallelism.MaxThreads` and `torch.set_num_threads` in the same run.");
        sb.AppendLine();

        sb.AppendLine($"FP32 FMA peak measured in-process (12 independent `Vector256` FMA chains per thread, `Fma.MultiplyAdd`), best of {run.PeakRuns} runs of {run.PeakRunSeconds * 1000:0} ms:");
        sb.AppendLine();
        sb.AppendLine("| Threads | Before (GFLOP/s) | After (GFLOP/s) | Reference = the higher | Vector512 peak (informational) |");
        sb.AppendLine("|---:|---:|---:|---:|---:|");
        foreach (int th in run.PeakBefore.Keys.OrderBy(k => k))
            sb.AppendLine($"| {th} | {run.PeakBefore[th]:F1} | {run.PeakAfter.GetValueOrDefault(th):F1} | {run.Peak(th):F1} | {(run.Peak512.TryGetValue(th, out double w) ? w.ToString("F1") : "n/a")} |");
        sb.AppendLine();
        sb.AppendLine("\"% peak\" is relative to the `Vector256` reference for the same thread count. This CPU also executes 512-bit FMAs at full width and PyTorch's oneDNN uses them, so PyTorch can exceed 100%; the Vector512 column is the real ceiling.");
        foreach (int th in run.PeakBefore.Keys.OrderBy(k => k))
        {
            double before = run.PeakBefore[th], after = run.PeakAfter.GetValueOrDefault(th);
            if (Math.Abs(before - after) > 0.15 * Math.Max(before, after))
                sb.AppendLine().AppendLine($"**Noise warning:** the {th}-thread peak moved from {before:F1} to {after:F1} GFLOP/s between the start and the end of the run: other processes were competing for the cores, so the figures of this run are unreliable.");
        }
        sb.AppendLine();

        if (!o.SkipConv) ConvSection(sb, run);
        if (!o.SkipLeNet && run.LeNet is not null) LeNetSection(sb, run, run.LeNet);
        return sb.ToString();
    }

    private static void ConvSection(StringBuilder sb, RunInfo run)
    {
        sb.AppendLine("## 1. Backward of single-convolution networks");
        sb.AppendLine();
        sb.AppendLine("Each shape is a generated network holding one `[Conv]` with bias. After one recorded `Forward`, the timed call is "
            + "`Backward(outputGradient, inputGradient, batch)`: **full** = with an input gradient (backward-data + weights + bias), "
            + "**weights** = with an empty input gradient (weights + bias only); **data** = full − weights (difference of the medians). "
            + "The calls include ConvGen's layout conversions at the network's edges and the per-call weight transposition for backward-data. "
            + "PyTorch: `nn.Conv2d(bias=True)`, `y = conv(x)` once, `loss = (y*g).sum()`, timed `loss.backward(retain_graph=True)` with "
            + "`x.requires_grad` True (full) or False (weights); `x.grad` is reset outside the timing. Work: each of data and weights counts "
            + "2·MACs of the forward (MACs = N·Cout·OH·OW·Cin/g·K²), bias not counted; full = 4·MACs. Parameter gradients accumulate across calls on both sides.");
        sb.AppendLine();
        sb.AppendLine("| | Network | Geometry | MFLOP per part (2·MACs) |");
        sb.AppendLine("|---|---|---|---:|");
        foreach (var s in run.Shapes)
            sb.AppendLine($"| {s.Id} | `{s.Network}` | {s.Geometry} | {s.PartFlops / 1e6:F1} |");
        sb.AppendLine();

        sb.AppendLine("Median time per Backward call (ms) and ConvGen/PyTorch speed (PyTorch time ÷ ConvGen time; > 1 means ConvGen is faster):");
        sb.AppendLine();
        sb.AppendLine("| | Shape | T | ConvGen full | ConvGen weights | ConvGen data | PyTorch full | PyTorch weights | PyTorch data | Speed full | Speed weights | Speed data |");
        sb.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in run.ConvRows)
        {
            double? mineData = Diff(r.ConvGenFull, r.ConvGenWeights), theirData = Diff(r.TorchFull, r.TorchWeights);
            sb.AppendLine($"| {r.Shape.Id} | {r.Shape.Geometry} | {r.Threads} | {MsCell(r.ConvGenFull, r.ConvGenError)} | {MsCell(r.ConvGenWeights, r.ConvGenError)} | {MsCell(mineData)} "
                + $"| {MsCell(r.TorchFull, r.TorchError)} | {MsCell(r.TorchWeights, r.TorchError)} | {MsCell(theirData)} "
                + $"| {Speed(r.TorchFull?.Median, r.ConvGenFull?.Median)} | {Speed(r.TorchWeights?.Median, r.ConvGenWeights?.Median)} | {Speed(theirData, mineData)} |");
        }
        sb.AppendLine();

        sb.AppendLine("Throughput from the medians (GFLOP/s and % of the `Vector256` peak at that thread count):");
        sb.AppendLine();
        sb.AppendLine("| | T | ConvGen full | ConvGen weights | ConvGen data | PyTorch full | PyTorch weights | PyTorch data | PyTorch backend |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (var r in run.ConvRows)
        {
            double peak = run.Peak(r.Threads), part = r.Shape.PartFlops;
            sb.AppendLine($"| {r.Shape.Id} | {r.Threads} | {Rate(2 * part, r.ConvGenFull?.Median, peak)} | {Rate(part, r.ConvGenWeights?.Median, peak)} | {Rate(part, Diff(r.ConvGenFull, r.ConvGenWeights), peak)} "
                + $"| {Rate(2 * part, r.TorchFull?.Median, peak)} | {Rate(part, r.TorchWeights?.Median, peak)} | {Rate(part, Diff(r.TorchFull, r.TorchWeights), peak)} | {r.TorchBackend ?? "—"} |");
        }
        sb.AppendLine();

        sb.AppendLine("Fastest single call (ms) — load from other processes only ever slows a call down, so on a shared machine these are the steadier view of what each side can do; the medians above are the headline:");
        sb.AppendLine();
        sb.AppendLine("| | T | ConvGen full | ConvGen weights | PyTorch full | PyTorch weights | Speed full | Speed weights | ConvGen full GFLOP/s (% peak) |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in run.ConvRows)
            sb.AppendLine($"| {r.Shape.Id} | {r.Threads} | {Fixed(r.ConvGenFull?.Min)} | {Fixed(r.ConvGenWeights?.Min)} | {Fixed(r.TorchFull?.Min)} | {Fixed(r.TorchWeights?.Min)} "
                + $"| {Speed(r.TorchFull?.Min, r.ConvGenFull?.Min)} | {Speed(r.TorchWeights?.Min, r.ConvGenWeights?.Min)} | {Rate(2 * r.Shape.PartFlops, r.ConvGenFull?.Min, run.Peak(r.Threads))} |");
        sb.AppendLine();

        sb.AppendLine($"Correctness of ConvGen's gradients at each thread count, against a float64 direct computation from the network's own weights "
            + $"(largest |error| relative to the largest |value| of each tensor; pass below {GradientReference.Tolerance:G1}); "
            + "\"w/o ∂x\" = the Backward with an empty input gradient. B/call = bytes allocated per warm Backward (all threads, mean of 20 calls).");
        sb.AppendLine();
        sb.AppendLine("| | T | ∂x | ∂W | ∂b | ∂W w/o ∂x | ∂b w/o ∂x | Result | B/call |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---|---:|");
        foreach (var r in run.ConvRows)
        {
            var c = r.Check;
            string result = r.ConvGenError is not null ? $"**error: {r.ConvGenError}**" : ConvBackwardBench.CheckText(c, run.Options.Check);
            if (c is not null && !c.Passed) result = $"**{result}**";
            sb.AppendLine($"| {r.Shape.Id} | {r.Threads} | {Err(c?.Input)} | {Err(c?.Weight)} | {Err(c?.Bias)} | {Err(c?.WeightOnly)} | {Err(c?.BiasOnly)} | {result} | {(r.BytesPerCall < 0 ? "—" : r.BytesPerCall.ToString())} |");
        }
        sb.AppendLine();
    }

    private static void LeNetSection(StringBuilder sb, RunInfo run, LeNetResults l)
    {
        sb.AppendLine("## 2. LeNet-5 on Fashion-MNIST");
        sb.AppendLine();
        if (l.Error is not null)
        {
            sb.AppendLine($"Not run: {l.Error}");
            sb.AppendLine();
            return;
        }
        sb.AppendLine("Network (ConvGen `BenchLeNet`, PyTorch `nn.Sequential` with the same layers and state-dict names): Conv 5x5 p2 1→6, ReLU, MaxPool 2, "
            + "Conv 5x5 6→16, ReLU, MaxPool 2, Flatten, Linear 400→120, ReLU, Linear 120→84, ReLU, Linear 84→10; 61,706 parameters. "
            + $"Data: {l.DataDescription}. Both sides start from the same weights (ConvGen's seed-1 initialisation, saved as safetensors and loaded by the peer).");
        sb.AppendLine();
        if (l.ForwardAgreement is double agreement)
            sb.AppendLine($"Forward agreement with those weights on the first 256 test images: largest |ConvGen − PyTorch| logit = {agreement:0.0e+0} of the largest |logit| "
                + $"({(agreement <= 1e-4 ? "ok" : "**MISMATCH**")}).");
        sb.AppendLine();

        sb.AppendLine("### Training");
        sb.AppendLine();
        string scope = l.EpochBatches > 0
            ? $"**the first {l.EpochBatches} batches of an epoch ({l.EpochBatches * LeNetBench.BatchSize:N0} images), extrapolated ×{(double)l.BatchesPerEpoch / l.EpochBatches:F2} to a {l.BatchesPerEpoch}-batch epoch**"
            : $"**full epochs** ({l.TrainCount:N0} images, {l.BatchesPerEpoch} batches, the last one of {l.TrainCount - (l.BatchesPerEpoch - 1) * LeNetBench.BatchSize})"
              + (run.Options.EpochCapSeconds > 0 ? $", except that an epoch still running after {run.Options.EpochCapSeconds:F0} s stops there and is extrapolated by batches (marked in the per-epoch table and the notes)" : ", nothing extrapolated");
        sb.AppendLine($"Batch {LeNetBench.BatchSize}, softmax cross-entropy (mean), SGD lr {LeNetBench.LearningRate} momentum {LeNetBench.Momentum}; timed: {scope}. "
            + "ConvGen: `ConvGen.Training.Trainer.Fit` with one epoch per call (the `EpochResult.Seconds` it reports; no test set, no checkpoint), one `Sgd` across calls. "
            + "PyTorch: `torch.randperm`, then per batch `x, y = X[idx], Y[idx]`, `zero_grad`, forward, `F.cross_entropy`, `backward`, `step`, `loss.item()` and an argmax "
            + "count (what `Trainer` does per batch), tensors in memory, no DataLoader. "
            + $"Before timing, each side trains {20} warm-up batches. Epochs alternate: ConvGen, PyTorch, ConvGen, … ; {l.EpochsEach} timed epoch(s) per side and thread count asked, each continuing from the previous weights.");
        sb.AppendLine();
        sb.AppendLine("| Threads | ConvGen s/epoch | PyTorch s/epoch | ConvGen images/s | PyTorch images/s | ConvGen/PyTorch speed | Epochs timed (each side) |");
        sb.AppendLine("|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in l.Training)
        {
            double? mine = MedianEpoch(r.ConvGen), theirs = MedianEpoch(r.Torch);
            sb.AppendLine($"| {r.Threads} | {(r.ConvGenError is not null ? $"error: {r.ConvGenError}" : Secs(mine))} | {(r.TorchError is not null ? $"error: {r.TorchError}" : Secs(theirs))} "
                + $"| {ImagesPerSecond(mine, l.TrainCount)} | {ImagesPerSecond(theirs, l.TrainCount)} | {Speed(theirs, mine)} | {r.ConvGen.Count} / {r.Torch.Count} |");
        }
        sb.AppendLine();
        sb.AppendLine("s/epoch: median over the timed epochs (with two, their mean). Every timed epoch, in the order run (loss and accuracy over that epoch's training batches, before each batch's step):");
        sb.AppendLine();
        sb.AppendLine("| # | Threads | ConvGen s | ConvGen loss | ConvGen accuracy | PyTorch s | PyTorch loss | PyTorch accuracy |");
        sb.AppendLine("|---:|---:|---:|---:|---:|---:|---:|---:|");
        int maxEpochs = l.Training.Count == 0 ? 0 : l.Training.Max(r => Math.Max(r.ConvGen.Count, r.Torch.Count));
        int n = 0;
        for (int e = 0; e < maxEpochs; e++)
            foreach (var r in l.Training)
            {
                var a = e < r.ConvGen.Count ? r.ConvGen[e] : null;
                var b = e < r.Torch.Count ? r.Torch[e] : null;
                if (a is null && b is null) continue;
                n++;
                sb.AppendLine($"| {n} | {r.Threads} | {EpochSecs(a, l.BatchesPerEpoch)} | {(a is null ? "—" : a.Loss.ToString("F4"))} | {(a is null ? "—" : a.Accuracy.ToString("P2"))} "
                    + $"| {EpochSecs(b, l.BatchesPerEpoch)} | {(b is null ? "—" : b.Loss.ToString("F4"))} | {(b is null ? "—" : b.Accuracy.ToString("P2"))} |");
            }
        sb.AppendLine();
        if (l.ConvGenTest is { } ct || l.TorchTest is not null)
            sb.AppendLine($"After all timed epochs (not timed), on the 10,000 test images: ConvGen loss {(l.ConvGenTest is { } c ? $"{c.Loss:F4}, accuracy {c.Accuracy:P2}" : "—")}; "
                + $"PyTorch loss {(l.TorchTest is { } p ? $"{p.Loss:F4}, accuracy {p.Accuracy:P2}" : "—")}.");
        foreach (string note in l.Notes) sb.AppendLine().AppendLine($"Note: {note}");
        sb.AppendLine();

        sb.AppendLine("### Inference");
        sb.AppendLine();
        sb.AppendLine("`Forward` of the first test images, ConvGen with `RecordForBackward = false` (the per-thread workspace), PyTorch `model.eval()` under `torch.no_grad()`; median per call. "
            + "Batch 1 is latency (for PyTorch mostly the Python and module-dispatch overhead); batch 256 is throughput.");
        sb.AppendLine();
        sb.AppendLine("| Batch | Threads | ConvGen ms | PyTorch ms | ConvGen images/s | PyTorch images/s | ConvGen/PyTorch speed |");
        sb.AppendLine("|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in l.Inference)
            sb.AppendLine($"| {r.Batch} | {r.Threads} | {MsCell(r.ConvGen, r.ConvGenError)} | {MsCell(r.Torch, r.TorchError)} "
                + $"| {PerSecond(r.Batch, r.ConvGen?.Median)} | {PerSecond(r.Batch, r.Torch?.Median)} | {Speed(r.Torch?.Median, r.ConvGen?.Median)} |");
        sb.AppendLine();
    }

    private static double? Diff(Stats? full, Stats? weights) =>
        full is null || weights is null ? null : full.Median - weights.Median;

    private static string MsCell(Stats? s, string? error = null) =>
        error is not null ? $"error: {error}" : s is null ? "—" : $"{s.Median:F3} [{s.P25:F3}–{s.P75:F3}]";

    private static string MsCell(double? ms) => ms is null ? "—" : ms <= 0 ? "n/a (≤ 0)" : $"{ms:F3}";

    private static string Fixed(double? ms) => ms is null ? "—" : $"{ms:F3}";

    private static string Speed(double? theirs, double? mine) =>
        theirs is > 0 && mine is > 0 ? $"{theirs.Value / mine.Value:G3}×" : "—";

    private static string Rate(double flops, double? ms, double peak) =>
        ms is not > 0 ? "—" : $"{flops / (ms.Value * 1e6):F1} ({100 * flops / (ms.Value * 1e6) / peak:F0}%)";

    private static string Err(double? e) => e is null ? "—" : double.IsNaN(e.Value) ? "NaN" : e.Value.ToString("0.0e+0");

    private static double? MedianEpoch(List<EpochTiming> epochs)
    {
        if (epochs.Count == 0) return null;
        var sorted = epochs.Select(e => e.EpochSeconds).OrderBy(v => v).ToList();
        return Stats.Quantile(sorted, 0.5);
    }

    private static string Secs(double? s) => s is null ? "—" : $"{s:F2}";

    private static string EpochSecs(EpochTiming? e, int batchesPerEpoch) =>
        e is null ? "—" : e.Batches == batchesPerEpoch ? $"{e.Seconds:F2}" : $"{e.EpochSeconds:F2} ({e.Seconds:F2} s for {e.Batches} batches)";

    private static string ImagesPerSecond(double? epochSeconds, int images) =>
        epochSeconds is > 0 ? $"{images / epochSeconds.Value:N0}" : "—";

    private static string PerSecond(int batch, double? ms) => ms is > 0 ? $"{batch * 1000 / ms.Value:N0}" : "—";
}

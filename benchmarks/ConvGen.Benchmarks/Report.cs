using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using System.Text;

namespace ConvGen.Benchmarks;

/// <summary>The markdown report (docs/performance.md).</summary>
public static class Report
{
    public static string Write(RunInfo run)
    {
        var o = run.Options;
        var sb = new StringBuilder();
        sb.AppendLine("# ConvGen performance");
        sb.AppendLine();
        sb.AppendLine("Written by `bash scripts/bench.sh` (benchmarks/ConvGen.Benchmarks; see benchmarks/README.md for what is measured and how). "
            + "Every figure below comes from the one run described here; nothing is edited by hand.");
        sb.AppendLine();
        sb.AppendLine($"- Date: {run.Started:yyyy-MM-dd HH:mm} UTC{(o.Commit is null ? "" : $", commit {o.Commit}")}{(o.Quick ? " — **quick run: short timings, noisy figures**" : "")}");
        sb.AppendLine($"- Command: `{run.Command}`");
        sb.AppendLine($"- Machine: {Machine.CpuName()}, {Machine.Topology()} ({Machine.Isa()}), {RuntimeInformation.OSDescription}");
        // With AVX-512 on, the JIT gives Vector256 code 32 registers; an AVX2-only CPU (and the primary peer) has 16.
        string registers = Environment.GetEnvironmentVariable("DOTNET_EnableAVX512") == "0"
            ? "AVX-512 off in the JIT (`DOTNET_EnableAVX512=0`): 16 vector registers, as on a CPU without AVX-512"
            : Avx512F.IsSupported ? "the JIT uses AVX-512's 32 vector registers for Vector256 code (`DOTNET_EnableAVX512=0` limits it to AVX2's 16)" : "16 vector registers";
        sb.AppendLine($"- ConvGen: {RuntimeInformation.FrameworkDescription}, workstation GC, tiered JIT, {registers}; threads via `ConvGen.Parallelism.MaxThreads`");
        sb.AppendLine($"- oneDNN peer (primary): {run.OneDnnDescription}; benchmarks/onednn/onednn_peer.cpp built with `g++ -O2 -fopenmp … -ldnnl`, threads via `omp_set_num_threads`");
        sb.AppendLine($"- oneDNN peer (informational, forward only): {run.OneDnnWideDescription}");
        sb.AppendLine($"- PyTorch peer: {run.TorchDescription}; threads via `torch.set_num_threads`; its im2col+GEMM fallback (`Slow2d`) runs on {Machine.BlasLibrary()}");
        foreach (string problem in Machine.BuildProblems()) sb.AppendLine($"- **WARNING: {problem}**");
        sb.AppendLine($"- Whole run {run.Seconds:F0} s (part 1 {run.ConvSeconds:F0} s, part 2 {run.LeNetSeconds:F0} s) at nice {Machine.Nice()}. "
            + $"**Load average** (1/5/15 min) before: {run.LoadBefore}{(run.LoadBeforeLeNet is null ? "" : $"; before part 2: {run.LoadBeforeLeNet}")}; after: {run.LoadAfter}. "
            + $"The machine has {Environment.ProcessorCount} logical CPUs and is shared with other work: a load average above {Environment.ProcessorCount} means other processes were competing for the cores, which hits the 2-thread figures hardest.");
        string handOffs = string.Join("; ", new (string When, double? Value)[] { ("after part 1", run.HandOffAfterConv), ("after part 2", run.HandOffAfterLeNet) }
            .Where(h => h.Value is not null).Select(h => $"{h.When} {h.Value:F0} ns"));
        sb.AppendLine($"- **Cross-core round trip** (two threads pass a value back and forth through memory, median of 5 × 20,000): before {run.RoundTripBefore:F0} ns; "
            + $"{(double.IsNaN(run.RoundTripBeforeLeNet) ? "" : $"before part 2 {run.RoundTripBeforeLeNet:F0} ns; ")}after {run.RoundTripAfter:F0} ns. "
            + $"ConvGen's pool measured its hand-off (`Parallelism.HandOffNanoseconds`){(handOffs.Length == 0 ? ": n/a" : $" {handOffs}")}. "
            + "On this VM the round trip moves between about 100 and 400 ns from one period of minutes to the next, for the same binaries: the 2-thread figures, and which small steps ConvGen splits, follow it.");
        var t = o.Timing;
        sb.AppendLine($"- Per-call figures: Stopwatch (peers: `perf_counter` / `steady_clock`) around each call; {t.WarmupSeconds:0.##} s warm-up, then ≥ {t.Seconds:0.##} s and ≥ {t.MinCalls} timed calls "
            + $"in {t.Rounds} round(s); within a round ConvGen, oneDNN and PyTorch take turns (the peers are child processes that wait on a pipe while another side runs); "
            + "medians over all calls, p25–p75 in brackets.");
        sb.AppendLine();

        sb.AppendLine($"FP32 FMA peak measured in-process (12 independent `Vector256` FMA chains per thread, `Fma.MultiplyAdd`), best of {run.PeakRuns} runs of {run.PeakRunSeconds * 1000:0} ms, at the start and at the end of the run:");
        sb.AppendLine();
        sb.AppendLine("| Threads | Before (GFLOP/s) | After (GFLOP/s) | Vector512 peak (informational, higher of before/after) |");
        sb.AppendLine("|---:|---:|---:|---:|");
        foreach (int th in run.PeakBefore.Keys.OrderBy(k => k))
            sb.AppendLine($"| {th} | {run.PeakBefore[th]:F1} | {run.PeakAfter.GetValueOrDefault(th):F1} | {(run.Peak512.TryGetValue(th, out double w) ? w.ToString("F1") : "n/a")} |");
        sb.AppendLine();
        sb.AppendLine("\"% peak\" of a per-layer figure is relative to the `Vector256` peak at the same thread count measured again **just before that shape's figures** "
            + "(best of 100 runs of 2 ms; the \"Peak\" column shows it), or the peak at the start or the end of the run when that was higher (a neighbour can only lower a peak measurement, and a depressed reference would flatter every percentage). This CPU also executes 512-bit FMAs at full width, which oneDNN uses at its default ISA, so the "
            + "Vector512 peak is the machine's real ceiling; the primary oneDNN peer is capped at AVX2 (`ONEDNN_MAX_CPU_ISA=AVX2`), the ISA ConvGen targets and the one of the issue's reference figures.");
        foreach (int th in run.PeakBefore.Keys.OrderBy(k => k))
        {
            double before = run.PeakBefore[th], after = run.PeakAfter.GetValueOrDefault(th);
            if (Math.Abs(before - after) > 0.15 * Math.Max(before, after))
                sb.AppendLine().AppendLine($"**Noise warning:** the {th}-thread peak moved from {before:F1} to {after:F1} GFLOP/s between the start and the end of the run: other processes were competing for the cores, so the figures of this run are unreliable.");
        }
        sb.AppendLine();

        if (!o.SkipConv) ConvSection(sb, run);
        if (!o.SkipLeNet && run.LeNet is not null) LeNetSection(sb, run, run.LeNet);
        WorkspaceSection(sb, run);
        TargetSection(sb, run);
        ShortfallSection(sb, run);
        return sb.ToString();
    }

    private static void ConvSection(StringBuilder sb, RunInfo run)
    {
        sb.AppendLine("## 1. Convolution layers: forward, backward-data, backward-weights");
        sb.AppendLine();
        sb.AppendLine("Each shape is a generated network holding one `[Conv]` with bias (benchmarks/ConvGen.Benchmarks/Networks.cs); a32–c32 are a–c at batch 32. "
            + "Work: each of forward, backward-data and backward-weights counts 2·MACs, MACs = N·Cout·OH·OW·(Cin/groups)·K² (bias and bias gradient not counted). "
            + "ConvGen runs the forward and backward-data passes of a–c and a32–c32 as Winograd F(2×2, 3×3), and their backward-weights as Winograd F(3×3, 2×2), with 2.25× fewer multiply-adds than these count, "
            + "g's forward as Winograd F(2, 5) down the columns, with 1.67× fewer, and d's as F(2, 4) and F(2, 3) down the columns of its even and odd input rows, with 1.56× fewer: "
            + "their GFLOP/s there are the direct convolution's work over the time taken, and can exceed the FMA peak.");
        sb.AppendLine();
        sb.AppendLine("| | Network | Geometry | N | Output | MFLOP per pass | Check period |");
        sb.AppendLine("|---|---|---|---:|---|---:|---:|");
        foreach (var s in run.Shapes)
            sb.AppendLine($"| {s.Id} | `{s.Network.Name}` | {s.Geometry} | {s.Batch} | {s.OutChannels}×{s.OutHeight}×{s.OutWidth} | {s.Flops / 1e6:F1} | {ConvReference.DistinctSamples(s)} |");
        sb.AppendLine();
        sb.AppendLine("What each side's timed call is:");
        sb.AppendLine();
        sb.AppendLine("- **ConvGen forward**: `Forward(input, output, batch)` with `RecordForBackward = false`, NCHW in and out (the call includes whatever layout copies the network runs at its edges: the conversion of the result from the blocked NCHW8c layout back to NCHW on a–c and a32–c32, which also copy their input into the zero-padded NCHW8c grid the Winograd kernel reads; d copies its input onto a zero-padded NCHW grid, which its column Winograd kernel reads, and stores transposed into NCHW from its output transform; f reads its input in place through a zero-padded view; g's column Winograd kernel writes NCHW8c, copied to NCHW after it; e's planar matrix product, f's row kernel and h's planar depthwise kernel write NCHW themselves).");
        sb.AppendLine("- **ConvGen backward**: after one recorded `Forward`, `Backward(outputGradient, inputGradient, batch)`. The generated API has **no call for backward-data alone**: "
            + "with an input-gradient span it computes data + weights + bias gradients, with an empty span weights + bias only. So *backward-weights* = the call with an empty span, "
            + "and *backward-data* = the median of per-pair differences, the two calls timed back to back in pairs (the column \"Backward with ∂x\" shows the whole call). "
            + "Both include the NCHW ↔ NCHW8c conversions at the edges; backward-data also includes re-transposing the weights for the data kernel (`TransposedWeights.Refresh`) on d–h, and on a–c and a32–c32, whose Winograd kernel transposes them as it transforms them, comparing the weights with the copy its transformed weights were made from (`WinogradWeights.Refresh`; the weights do not change between calls here, so nothing is transformed again) and the copy of ∂Z onto its zero-padded grid.");
        sb.AppendLine("- **oneDNN**: `convolution_forward` (`forward_inference`, bias), `convolution_backward_data`, `convolution_backward_weights` (with bias gradient), "
            + "all in oneDNN's preferred layouts (`format_tag::any`), reorders done once outside the timed region. Kernel = `impl_info_str()`.");
        sb.AppendLine("- **PyTorch**: `F.conv2d(x, w, b)` under `no_grad`; `aten.convolution_backward` with output mask (input) or (weight, bias), the calls autograd makes. "
            + "Backend = `torch._C._select_conv_backend` (`Mkldnn` = oneDNN: Debian's torch links the same libdnnl.so.2 as the oneDNN peer, uncapped, so at its default ISA; `Slow2d` = im2col + BLAS).");
        sb.AppendLine("- **Check**: every ConvGen output, ∂x, ∂W, ∂b (with and without ∂x) at this thread count against a float64 direct computation from the network's own parameters, "
            + $"largest error relative to the largest value; ok below {ConvReference.Tolerance:G1}. Inputs repeat with the period shown above so the reference stays cheap; every sample is compared.");
        sb.AppendLine("- Ratios are peer time / ConvGen time (> 1: ConvGen faster). B/call: bytes allocated (all threads) per warm call, averaged over 20 calls.");
        sb.AppendLine();

        foreach (var pass in Enum.GetValues<Pass>())
        {
            bool forward = pass == Pass.Forward, data = pass == Pass.BackwardData;
            sb.AppendLine($"### {Title(pass)}");
            sb.AppendLine();
            var head = new StringBuilder("| | Shape | T | Peak | ConvGen ms | GFLOP/s | % peak |");
            var rule = new StringBuilder("|---|---|---:|---:|---:|---:|---:|");
            if (data) { head.Append(" Backward with ∂x ms |"); rule.Append("---:|"); }
            head.Append(" oneDNN AVX2 ms | GFLOP/s | % peak | kernel | ConvGen / oneDNN AVX2 | PyTorch ms | GFLOP/s | backend | ConvGen / PyTorch |");
            rule.Append("---:|---:|---:|---|---:|---:|---:|---|---:|");
            if (forward) { head.Append(" oneDNN default ISA ms | GFLOP/s | kernel | ConvGen / oneDNN default |"); rule.Append("---:|---:|---|---:|"); }
            head.Append(" Check | B/call |");
            rule.Append("---|---:|");
            sb.AppendLine(head.ToString());
            sb.AppendLine(rule.ToString());
            foreach (var r in run.ConvRows)
            {
                var mine = r.ConvGen[pass];
                var dnn = r.OneDnn[pass];
                var torch = r.Torch[pass];
                var line = new StringBuilder($"| {r.Shape.Id} | {r.Shape.Geometry} | {r.Threads} | {r.PeakJustBefore:F1} | {Cell(mine)} | {Gf(r, mine)} | {Pct(r, mine)} |");
                if (data) line.Append($" {MsCell(r.ConvGenBackwardFull, mine.Error)} |");
                line.Append($" {Cell(dnn)} | {Gf(r, dnn)} | {Pct(r, dnn)} | {dnn.Impl ?? "—"} | {Speed(dnn.Stats?.Median, mine.Stats?.Median)} |");
                line.Append($" {Cell(torch)} | {Gf(r, torch)} | {torch.Impl ?? "—"} | {Speed(torch.Stats?.Median, mine.Stats?.Median)} |");
                if (forward)
                {
                    var wide = r.OneDnnWideForward;
                    line.Append($" {Cell(wide)} | {Gf(r, wide)} | {wide.Impl ?? "—"} | {Speed(wide.Stats?.Median, mine.Stats?.Median)} |");
                }
                long bytes = forward ? r.ForwardBytes : r.BackwardBytes;
                line.Append($" {(r.Check?.Text ?? (run.Options.Check ? "—" : "skipped"))} | {(bytes < 0 ? "—" : bytes.ToString())} |");
                sb.AppendLine(line.ToString());
            }
            sb.AppendLine();
        }
        FastestSection(sb, run);
    }

    /// <summary>The fastest single call of each figure: on a loaded machine a neighbour only ever slows a call, so these are the steadier estimate of what each kernel can do (the medians stay the headline).</summary>
    private static void FastestSection(StringBuilder sb, RunInfo run)
    {
        sb.AppendLine("### Fastest single call");
        sb.AppendLine();
        sb.AppendLine("On a shared machine a neighbour only ever slows a call, so the fastest call of each figure is the steadier estimate of what each kernel can do; "
            + "the medians above remain the headline and the targets use them. GFLOP/s (% of the peak as above) of the fastest call; ratio = oneDNN AVX2 fastest / ConvGen fastest. "
            + "ConvGen's backward-data has no call of its own: its fastest figure is the fastest Backward with ∂x minus the fastest Backward without.");
        sb.AppendLine();
        var head = new StringBuilder("| | T |");
        var rule = new StringBuilder("|---|---:|");
        foreach (var pass in Enum.GetValues<Pass>())
        {
            string n = pass switch { Pass.Forward => "Fwd", Pass.BackwardData => "Bwd-data", _ => "Bwd-weights" };
            head.Append($" {n} ConvGen | {n} oneDNN AVX2 | {n} ratio |");
            rule.Append("---:|---:|---:|");
        }
        sb.AppendLine(head.ToString());
        sb.AppendLine(rule.ToString());
        foreach (var r in run.ConvRows)
        {
            var line = new StringBuilder($"| {r.Shape.Id} | {r.Threads} |");
            foreach (var pass in Enum.GetValues<Pass>())
            {
                double? mine = pass == Pass.BackwardData
                    ? r.ConvGenBackwardFull?.Min - r.ConvGen[Pass.BackwardWeights].Stats?.Min
                    : r.ConvGen[pass].Stats?.Min;
                double? dnn = r.OneDnn[pass].Stats?.Min;
                line.Append($" {Best(r, mine)} | {Best(r, dnn)} | {Speed(dnn, mine)} |");
            }
            sb.AppendLine(line.ToString());
        }
        sb.AppendLine();
    }

    private static string Best(ConvRow r, double? ms) =>
        ms is > 0 ? $"{r.Shape.Flops / (ms.Value * 1e6):F1} ({100 * r.Shape.Flops / (ms.Value * 1e6) / r.Peak:F0}%)" : "—";

    private static string Title(Pass pass) => pass switch
    {
        Pass.Forward => "Forward",
        Pass.BackwardData => "Backward-data (∂x)",
        _ => "Backward-weights (∂W and ∂b)",
    };

    private static string Cell(Figure f) =>
        f.Error is not null ? $"error: {f.Error}" : f.Stats is null ? "—" : $"{f.Stats.Median:F3} [{f.Stats.P25:F3}–{f.Stats.P75:F3}]";

    private static string Gf(ConvRow r, Figure f) => f.Stats is { Median: > 0 } ? $"{r.Gflops(f):F1}" : "—";

    private static string Pct(ConvRow r, Figure f) => f.Stats is { Median: > 0 } ? $"{100 * r.Gflops(f) / r.Peak:F0}%" : "—";

    private static void WorkspaceSection(StringBuilder sb, RunInfo run)
    {
        if (run.Workspaces.Count == 0) return;
        sb.AppendLine("## 3. Planned memory");
        sb.AppendLine();
        sb.AppendLine("From each generated class's constants: `WorkspaceFloatsPerSample` (the per-thread workspace an unrecorded `Forward` runs in: two ping-pong activation buffers and a padding scratch, reused between layers), "
            + "`RecordedFloatsPerSample` (a recorded `Forward` keeps every tensor for `Backward`) and `GradientFloatsPerSample` (what `Backward` needs for gradients). "
            + "\"All activations\" = the input plus every layer's output (one tensor per layer attribute, NCHW, unpadded), as a framework that keeps every tensor would hold them. Bytes = 4 × floats × batch.");
        sb.AppendLine();
        sb.AppendLine("| Network | Layers | Batch | Workspace (inference) | Recorded (training) | Gradients (training) | All activations | Workspace / activations | Workspace smaller? |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (var w in run.Workspaces)
            sb.AppendLine($"| `{w.Network}` | {w.Layers} | {w.Batch} | {Bytes(w.InferenceFloats * w.Batch)} | {Bytes(w.RecordedFloats * w.Batch)} | {Bytes(w.GradientFloats * w.Batch)} "
                + $"| {Bytes(w.ActivationFloats * w.Batch)} | {(double)w.InferenceFloats / w.ActivationFloats:P0} | {(w.SmallerThanActivations ? "yes" : w.LivenessAllows ? "no" : "no (one layer: input and output are live together)")} |");
        sb.AppendLine();
    }

    private static string Bytes(long bytesOverFour)
    {
        double b = 4.0 * bytesOverFour;
        return b >= 1 << 20 ? $"{b / (1 << 20):F2} MiB" : b >= 1 << 10 ? $"{b / 1024:F1} KiB" : $"{b:F0} B";
    }

    /// <summary>The issue's targets next to the measured figures; every verdict is computed here from this run.</summary>
    private static void TargetSection(StringBuilder sb, RunInfo run)
    {
        sb.AppendLine("## 4. Targets of issue 5");
        sb.AppendLine();
        sb.AppendLine("Computed from the figures above (medians; \"% peak\" against the Vector256 peak as in section 1; oneDNN = the AVX2 peer). "
            + "a–c include their batch-32 variants. A target is met only if every listed figure meets it; a figure that could not be measured counts as not met.");
        sb.AppendLine();
        sb.AppendLine("| Target | Measured | Verdict |");
        sb.AppendLine("|---|---|---|");
        var rows = run.ConvRows;
        string[] ace = ["a", "b", "c", "e", "a32", "b32", "c32"];
        string[] ae = ["a", "b", "c", "d", "e", "a32", "b32", "c32"];
        string[] fgh = ["f", "g", "h"];
        string[] all = run.Shapes.Select(s => s.Id).ToArray();
        int[] threadCounts = rows.Select(r => r.Threads).Distinct().OrderBy(x => x).ToArray();

        ConvRow? Row(string id, int t) => rows.FirstOrDefault(r => r.Shape.Id == id && r.Threads == t);
        double? PctOf(string id, int t, Pass p) => Row(id, t) is { } r && r.ConvGen[p].Stats is { Median: > 0 } ? r.Gflops(r.ConvGen[p]) / r.Peak : null;
        double? Ratio(string id, int t, Pass p) => Row(id, t) is { } r && r.ConvGen[p].Stats is { Median: > 0 } m && r.OneDnn[p].Stats is { Median: > 0 } d ? d.Median / m.Median : null;
        double? Scaling(string id, Pass p) => Row(id, 1)?.ConvGen[p].Stats is { Median: > 0 } one && Row(id, 2)?.ConvGen[p].Stats is { Median: > 0 } two ? one.Median / two.Median : null;

        void Line(string target, IEnumerable<(string Label, double? Value)> items, double bar, Func<double, string> format)
        {
            var list = items.ToList();
            if (list.Count == 0) return;
            int met = list.Count(i => i.Value >= bar);
            string measured = string.Join(", ", list.Select(i => $"{i.Label} {(i.Value is double v ? format(v) : "—")}{(i.Value >= bar ? " ✓" : " ✗")}"));
            string verdict = list.All(i => i.Value is null) ? "not measured" : met == list.Count ? "**met**" : $"not met ({met}/{list.Count})";
            sb.AppendLine($"| {target} | {measured} | {verdict} |");
        }
        string P(double v) => $"{100 * v:F0}%";
        string X(double v) => $"{v:F2}×";
        IEnumerable<(string, double?)> Ids(IEnumerable<string> ids, Func<string, double?> f) => ids.Where(all.Contains).Select(id => (id, f(id)));

        if (threadCounts.Contains(1))
        {
            Line("Forward ≥ 85% of peak on a–c and e, 1 thread", Ids(ace, id => PctOf(id, 1, Pass.Forward)), 0.85, P);
            Line("Forward ≥ 80% of peak on d, 1 thread", Ids(["d"], id => PctOf(id, 1, Pass.Forward)), 0.80, P);
            Line("Backward-data ≥ 80% of peak on a–e, 1 thread", Ids(ae, id => PctOf(id, 1, Pass.BackwardData)), 0.80, P);
            Line("Backward-weights ≥ 70% of peak on a–e, 1 thread", Ids(ae, id => PctOf(id, 1, Pass.BackwardWeights)), 0.70, P);
        }
        foreach (int t in threadCounts)
        {
            Line($"Forward ≥ 1.0× oneDNN on every shape, {t} thread(s)", Ids(all, id => Ratio(id, t, Pass.Forward)), 1.0, X);
            Line($"Forward ≥ 2× oneDNN on f, g, h, {t} thread(s)", Ids(fgh, id => Ratio(id, t, Pass.Forward)), 2.0, X);
            Line($"Backward-data ≥ 1.1× oneDNN on every shape, {t} thread(s)", Ids(all, id => Ratio(id, t, Pass.BackwardData)), 1.1, X);
            Line($"Backward-weights ≥ 1.1× oneDNN on every shape, {t} thread(s)", Ids(all, id => Ratio(id, t, Pass.BackwardWeights)), 1.1, X);
        }
        if (threadCounts.Contains(1) && threadCounts.Contains(2))
            foreach (var pass in Enum.GetValues<Pass>())
                Line($"{Title(pass)}: 2 threads ≥ 1.85× one thread on a–e", Ids(ae, id => Scaling(id, pass)), 1.85, X);

        if (run.LeNet is { } l && l.Error is null)
        {
            Line("LeNet training epoch ≥ 5× faster than PyTorch",
                l.Training.Select(r => ($"{r.Threads}T", MedianEpoch(r.Torch) is double a && MedianEpoch(r.ConvGen) is double b && b > 0 ? a / b : (double?)null)), 5, X);
            Line("LeNet batch-1 inference ≥ 20× faster than PyTorch",
                l.Inference.Where(r => r.Batch == 1).Select(r => ($"{r.Threads}T", r.Torch is { Median: > 0 } a && r.ConvGen is { Median: > 0 } b ? a.Median / b.Median : (double?)null)), 20, X);
            var throughput = l.Inference.Where(r => r.Batch > 1 && r.ConvGen is { Median: > 0 })
                .Select(r => ($"batch {r.Batch} {r.Threads}T", (double?)(r.Batch * 1000 / r.ConvGen!.Median))).ToList();
            if (throughput.Count > 0)
            {
                var best = throughput.MaxBy(i => i.Item2);
                Line("LeNet batch inference ≥ 150,000 images/s (best thread count)", [best], 150_000, v => $"{v:N0}/s");
            }
        }
        var measuredBytes = rows.Where(r => r.ForwardBytes >= 0 || r.BackwardBytes >= 0).ToList();
        if (measuredBytes.Count > 0)
        {
            long worstForward = measuredBytes.Max(r => r.ForwardBytes), worstBackward = measuredBytes.Max(r => r.BackwardBytes);
            bool ok = worstForward == 0 && worstBackward == 0;
            var allocating = measuredBytes.Where(r => r.ForwardBytes != 0 || r.BackwardBytes != 0)
                .Select(r => $"{r.Shape.Id} {r.Threads}T: Forward {r.ForwardBytes} B, Backward {r.BackwardBytes} B").ToList();
            sb.AppendLine($"| No allocation in any forward or backward call once warm | bytes per warm call (average of 20, all threads) over {measuredBytes.Count} shape × thread rows: "
                + (ok ? "0 everywhere" : "not 0 in " + string.Join("; ", allocating)) + $" | {(ok ? "**met**" : "not met")} |");
        }
        var deep = run.Workspaces.Where(w => w.LivenessAllows).ToList();
        if (deep.Count > 0)
        {
            int smaller = deep.Count(w => w.SmallerThanActivations);
            sb.AppendLine($"| Workspace planned ahead, reported (section 3), smaller than the sum of all activations where liveness allows (networks of more than one layer) | "
                + string.Join(", ", deep.Select(w => $"`{w.Network}` (N={w.Batch}) {(double)w.InferenceFloats / w.ActivationFloats:P0} of the activations{(w.SmallerThanActivations ? " ✓" : " ✗")}"))
                + $" | {(smaller == deep.Count ? "**met**" : $"not met ({smaller}/{deep.Count})")} |");
        }
        sb.AppendLine();
    }

    /// <summary>
    /// For every figure below a speed target, the rate it would take, as a fraction of the FMA peak, so the report says
    /// whether a miss is a kernel short of the machine or a target beyond it. Rates count the direct algorithm's work,
    /// as everywhere in this report.
    /// </summary>
    private static void ShortfallSection(StringBuilder sb, RunInfo run)
    {
        var lines = new List<string>();
        foreach (var r in run.ConvRows)
            foreach (var (pass, bar) in ConvRatioBars(r.Shape.Id))
                if (r.ConvGen[pass].Stats is { Median: > 0 } mine && r.OneDnn[pass].Stats is { Median: > 0 } dnn && dnn.Median / mine.Median < bar)
                {
                    double needed = r.Shape.Flops / (dnn.Median / bar * 1e6);
                    lines.Add($"| {r.Shape.Id} {Title(pass).ToLowerInvariant()}, {r.Threads}T | {bar:0.0#}× oneDNN ({dnn.Median / bar:F3} ms) | {needed:F1} GFLOP/s = **{100 * needed / r.Peak:F0}%** of {r.Peak:F1} "
                        + $"| {r.Gflops(r.ConvGen[pass]):F1} GFLOP/s = {100 * r.Gflops(r.ConvGen[pass]) / r.Peak:F0}%{(WinogradPasses(r.Shape.Id, pass) ? " (runs as Winograd: fewer multiply-adds than counted)" : "")} |");
                }
        var (macs, conv2Macs) = LeNetMacs();
        if (run.LeNet is { Error: null } l && macs > 0)
            foreach (var r in l.Inference.Where(r => r.Batch == 1 && r.Torch is { Median: > 0 } && r.ConvGen is { Median: > 0 } && r.Torch.Median / r.ConvGen.Median < LeNetBatch1Bar))
            {
                double seconds = r.Torch!.Median / LeNetBatch1Bar / 1e3, peak = Math.Max(run.PeakBefore.GetValueOrDefault(r.Threads), run.PeakAfter.GetValueOrDefault(r.Threads));
                double direct = 2 * macs / seconds / 1e9, issued = 2 * (macs - conv2Macs * (1 - ColumnWinogradF25Share)) / seconds / 1e9, now = 2 * macs / (r.ConvGen!.Median / 1e3) / 1e9;
                lines.Add($"| LeNet batch-1 inference, {r.Threads}T | {LeNetBatch1Bar:0}× PyTorch ({seconds * 1e6:F2} µs) | {direct:F1} GFLOP/s = **{100 * direct / peak:F0}%** of {peak:F1}; "
                    + $"counting conv2's Winograd F(2, 5) ({ColumnWinogradF25Share:F1} of its multiply-adds), {issued:F1} = **{100 * issued / peak:F0}%**, with every transform, pooling max and call on top "
                    + $"| {now:F1} GFLOP/s = {100 * now / peak:F0}% |");
            }
        if (lines.Count == 0) return;
        sb.AppendLine("## 5. What the unmet targets would take");
        sb.AppendLine();
        sb.AppendLine("For each figure above that misses a speed target: the time the target asks for (the peer's median over the target ratio) and the rate that time means, "
            + "in the direct algorithm's work and as a share of the Vector256 FMA peak at that thread count. Above 100%, no kernel doing the direct multiply-adds can meet it on this machine. "
            + $"LeNet's forward pass is {2 * macs / 1e3:F0} kFLOP per image.");
        sb.AppendLine();
        sb.AppendLine("| Figure | Target asks for | Rate needed | ConvGen now |");
        sb.AppendLine("|---|---|---|---|");
        foreach (string line in lines) sb.AppendLine(line);
        sb.AppendLine();
    }

    /// <summary>The issue's per-pass ratio bars to oneDNN for a shape (the larger where two apply).</summary>
    private static IEnumerable<(Pass Pass, double Bar)> ConvRatioBars(string id)
    {
        yield return (Pass.Forward, id is "f" or "g" or "h" ? 2.0 : 1.0);
        yield return (Pass.BackwardData, 1.1);
        yield return (Pass.BackwardWeights, 1.1);
    }

    /// <summary>Passes ConvGen runs with fewer multiply-adds than the direct count (section 1's list).</summary>
    private static bool WinogradPasses(string id, Pass pass) =>
        id.TrimEnd('3', '2') is "a" or "b" or "c" || (id == "g" && pass == Pass.Forward) || (id == "d" && pass == Pass.Forward);

    private const double LeNetBatch1Bar = 20;

    /// <summary>F(2, 5) down the columns: 6 transformed rows × 5 taps per 2 output rows, where the direct kernel takes 2 × 25.</summary>
    private const double ColumnWinogradF25Share = 30.0 / 50.0;

    /// <summary>
    /// Multiply-adds per image of <see cref="BenchLeNet"/>'s forward pass, all layers and conv2 alone: each weight tensor's
    /// length times its layer's output positions (1 for Linear).
    /// </summary>
    private static (double Macs, double Conv2Macs) LeNetMacs()
    {
        var net = new BenchLeNet(seed: 1);
        double total = 0, conv2 = 0;
        foreach (var p in ((INetwork)net).Parameters.Where(p => p.Name.EndsWith(".weight", StringComparison.Ordinal)))
        {
            int layer = int.Parse(p.Name[..p.Name.IndexOf('.')]);
            var shape = BenchLeNet.LayerTable.Single(l => l.Index == layer).OutputShape;
            double macs = (double)p.Length * (shape.Count == 3 ? shape[1] * shape[2] : 1);
            total += macs;
            if (layer == 3) conv2 = macs;
        }
        return (total, conv2);
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

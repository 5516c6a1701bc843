using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json.Nodes;

namespace ConvGen.Benchmarks;

/// <summary>The three passes of a convolution that are timed.</summary>
public enum Pass { Forward, BackwardData, BackwardWeights }

/// <summary>One side's figure for one pass: per-call times, or why there are none, and which kernel ran.</summary>
public sealed record Figure(Stats? Stats, string? Error, string? Impl)
{
    public static Figure NotRun { get; } = new(null, null, null);
}

/// <summary>Largest relative errors of one thread count's results against the float64 reference.</summary>
/// <param name="Output">Forward output (every sample).</param>
/// <param name="Input">∂x (Backward with an input gradient).</param>
/// <param name="Weight">∂W from the same call.</param>
/// <param name="Bias">∂b from the same call.</param>
/// <param name="WeightOnly">∂W from a Backward with an empty input gradient.</param>
/// <param name="BiasOnly">∂b from that call.</param>
public sealed record Check(double Output, double Input, double Weight, double Bias, double WeightOnly, double BiasOnly)
{
    private double[] All => [Output, Input, Weight, Bias, WeightOnly, BiasOnly];

    public double Worst => All.Any(double.IsNaN) ? double.NaN : All.Max();

    public bool Passed => Worst <= ConvReference.Tolerance;

    public string Text =>
        double.IsNaN(Worst) ? $"FAIL (NaN/∞ or missing: y {Output:0.0e+0}, ∂x {Input:0.0e+0}, ∂W {Weight:0.0e+0}, ∂b {Bias:0.0e+0}, ∂W w/o ∂x {WeightOnly:0.0e+0}, ∂b w/o ∂x {BiasOnly:0.0e+0})"
        : Passed ? $"ok ({Worst:0.0e+0})"
        : $"FAIL (y {Output:0.0e+0}, ∂x {Input:0.0e+0}, ∂W {Weight:0.0e+0}, ∂b {Bias:0.0e+0}, ∂W w/o ∂x {WeightOnly:0.0e+0}, ∂b w/o ∂x {BiasOnly:0.0e+0})";
}

/// <summary>One shape at one thread count: every side, every pass.</summary>
public sealed class ConvRow(ConvShape shape, int threads)
{
    public ConvShape Shape { get; } = shape;
    public int Threads { get; } = threads;

    /// <summary>The Vector256 FMA peak (GFLOP/s) measured just before this row's figures, same thread count.</summary>
    public double PeakJustBefore { get; set; }

    /// <summary>
    /// The reference for "% peak": the highest of <see cref="PeakJustBefore"/> and the peaks at the start and the end of
    /// the run (set once the run is over). A neighbour can only lower a peak measurement, and a depressed reference
    /// would flatter every "% peak".
    /// </summary>
    public double Peak { get; set; }

    public Dictionary<Pass, Figure> ConvGen { get; } = new() { [Pass.Forward] = Figure.NotRun, [Pass.BackwardData] = Figure.NotRun, [Pass.BackwardWeights] = Figure.NotRun };
    public Dictionary<Pass, Figure> OneDnn { get; } = new() { [Pass.Forward] = Figure.NotRun, [Pass.BackwardData] = Figure.NotRun, [Pass.BackwardWeights] = Figure.NotRun };
    public Dictionary<Pass, Figure> Torch { get; } = new() { [Pass.Forward] = Figure.NotRun, [Pass.BackwardData] = Figure.NotRun, [Pass.BackwardWeights] = Figure.NotRun };

    /// <summary>oneDNN at its default ISA (AVX-512 here), forward only: informational.</summary>
    public Figure OneDnnWideForward { get; set; } = Figure.NotRun;

    /// <summary>ConvGen's Backward with an input gradient (data + weights + bias), the call backward-data is derived from.</summary>
    public Stats? ConvGenBackwardFull { get; set; }

    public Check? Check { get; set; }

    /// <summary>Bytes allocated (all threads) per warm Forward, and per warm Backward (with and without ∂x); −1 if not measured.</summary>
    public long ForwardBytes { get; set; } = -1;
    public long BackwardBytes { get; set; } = -1;

    public double Gflops(Figure f) => f.Stats is null ? double.NaN : Shape.Flops / (f.Stats.Median * 1e6);
}

/// <summary>
/// Part 1: forward, backward-data and backward-weights of single-convolution networks, ConvGen against oneDNN (AVX2,
/// and forward at the default ISA) and PyTorch, alternating round by round.
/// </summary>
public static class ConvBench
{
    private const int PeakRuns = 100;

    public static List<ConvRow> Run(IEnumerable<ConvShape> shapes, Options options, Peers peers, IReadOnlyDictionary<int, double> startPeaks)
    {
        var rows = new List<ConvRow>();
        foreach (var shape in shapes) rows.AddRange(RunShape(shape, options, peers, startPeaks));
        Parallelism.MaxThreads = Environment.ProcessorCount;
        return rows;
    }

    private static IEnumerable<ConvRow> RunShape(ConvShape s, Options options, Peers peers, IReadOnlyDictionary<int, double> startPeaks)
    {
        var timing = options.Timing;
        int distinct = ConvReference.DistinctSamples(s);
        var x = ConvReference.PeriodicData(2024, s.Batch, s.InputLength, distinct);
        var g = ConvReference.PeriodicData(2025, s.Batch, s.OutputLength, distinct);
        var y = new float[g.Length];
        var dx = new float[x.Length];

        INetwork? net = null;
        ConvReference? reference = null;
        string? setupError = null;
        try
        {
            net = s.Create();
            if (net.InputLength != s.InputLength || net.OutputLength != s.OutputLength)
                throw new InvalidOperationException(
                    $"generated lengths {net.InputLength}/{net.OutputLength}, expected {s.InputLength}/{s.OutputLength}");
            if (options.Check) reference = ConvReference.Compute(s, net, x, g, distinct);
        }
        catch (Exception e)
        {
            setupError = Describe(e);
        }

        foreach (int t in options.Threads)
        {
            double justBefore = FmaPeak.Measure(t, PeakRuns, 0.002);
            var row = new ConvRow(s, t) { PeakJustBefore = justBefore, Peak = Math.Max(justBefore, startPeaks.GetValueOrDefault(t)) };
            string? error = setupError;
            if (net is not null && error is null)
            {
                try
                {
                    Parallelism.MaxThreads = t;
                    Prepare(s, net, x, g, y, dx, reference, row);
                }
                catch (Exception e)
                {
                    error = Describe(e);
                }
            }

            var mine = NewLists();
            var full = new List<double>();
            var theirs = NewLists();
            var dnn = NewLists();
            var wide = new List<double>();
            var torchImpl = new Dictionary<Pass, string?>();
            var dnnImpl = new Dictionary<Pass, string?>();
            string? wideImpl = null;
            string? torchError = null, dnnError = null, wideError = null;

            for (int round = 0; round < timing.Rounds; round++)
            {
                double warm = timing.WarmupOf(round), seconds = timing.SecondsPerRound;
                int calls = timing.MinCallsPerRound;
                if (net is not null && error is null)
                {
                    try
                    {
                        Parallelism.MaxThreads = t;
                        net.RecordForBackward = false;
                        CallClock.Run(() => net.Forward(x, y, s.Batch), warm, seconds, calls, mine[Pass.Forward]);
                        net.RecordForBackward = true;
                        net.Forward(x, y, s.Batch); // recorded: Backward reads this tape
                        net.ZeroGrad();
                        // Backward-data has no call of its own: time Backward with and without ∂x in pairs and take
                        // the per-pair difference.
                        CallClock.RunPairs(() => net.Backward(g, dx, s.Batch), () => net.Backward(g, Span<float>.Empty, s.Batch),
                            warm, seconds, calls, full, mine[Pass.BackwardWeights], mine[Pass.BackwardData]);
                        net.ZeroGrad();
                    }
                    catch (Exception e)
                    {
                        error = Describe(e);
                    }
                }
                foreach (var pass in Enum.GetValues<Pass>())
                {
                    if (peers.OneDnn is { } d && dnnError is null)
                    {
                        dnnError = Ask(d, s, t, pass, warm, seconds, calls, dnn[pass], "impl", out string? impl);
                        dnnImpl[pass] = impl;
                    }
                    if (peers.Torch is { } p && torchError is null)
                    {
                        torchError = Ask(p, s, t, pass, warm, seconds, calls, theirs[pass], "backend", out string? impl);
                        torchImpl[pass] = impl;
                    }
                }
                if (peers.OneDnnWide is { } w && wideError is null)
                {
                    wideError = Ask(w, s, t, Pass.Forward, warm, seconds, calls, wide, "impl", out wideImpl);
                }
            }
            net?.ZeroGrad();

            foreach (var pass in Enum.GetValues<Pass>())
            {
                row.ConvGen[pass] = new Figure(error is null ? Stats.Of(mine[pass]) : null, error, null);
                row.OneDnn[pass] = peers.OneDnn is null ? Figure.NotRun : new Figure(dnnError is null ? Stats.Of(dnn[pass]) : null, dnnError, dnnImpl.GetValueOrDefault(pass));
                row.Torch[pass] = peers.Torch is null ? Figure.NotRun : new Figure(torchError is null ? Stats.Of(theirs[pass]) : null, torchError, torchImpl.GetValueOrDefault(pass));
            }
            row.ConvGenBackwardFull = error is null ? Stats.Of(full) : null;
            row.OneDnnWideForward = peers.OneDnnWide is null ? Figure.NotRun : new Figure(wideError is null ? Stats.Of(wide) : null, wideError, wideImpl);

            Console.WriteLine($"({s.Id}) {s.Geometry,-30} {t}T peak {row.PeakJustBefore,6:F1}  check {row.Check?.Text ?? (options.Check ? "—" : "skipped")}");
            foreach (var pass in Enum.GetValues<Pass>())
                Console.WriteLine($"      {pass,-16} ConvGen {Short(row, row.ConvGen[pass])} | oneDNN AVX2 {Short(row, row.OneDnn[pass])} | PyTorch {Short(row, row.Torch[pass])}"
                    + (pass == Pass.Forward && peers.OneDnnWide is not null ? $" | oneDNN default ISA {Short(row, row.OneDnnWideForward)}" : ""));
            yield return row;
        }
    }

    /// <summary>Checks every result against the reference and measures allocation per warm call, at the row's thread count.</summary>
    private static void Prepare(ConvShape s, INetwork net, float[] x, float[] g, float[] y, float[] dx, ConvReference? reference, ConvRow row)
    {
        const int calls = 20;
        net.RecordForBackward = false;
        Array.Fill(y, float.NaN); // every element must be written
        net.Forward(x, y, s.Batch);
        double eOutput = reference is null ? 0 : ConvReference.RelativeError(y, reference.Output);
        long before = GC.GetTotalAllocatedBytes(precise: true);
        for (int i = 0; i < calls; i++) net.Forward(x, y, s.Batch);
        row.ForwardBytes = (GC.GetTotalAllocatedBytes(precise: true) - before) / calls;

        net.RecordForBackward = true;
        net.Forward(x, y, s.Batch);
        if (reference is not null)
        {
            var weight = net.Parameters.First(p => p.Name == "0.weight");
            var bias = net.Parameters.FirstOrDefault(p => p.Name == "0.bias");
            var dw = new float[weight.Length];
            var db = new float[s.OutChannels];
            Array.Fill(dx, float.NaN);
            net.ZeroGrad();
            net.Backward(g, dx, s.Batch);
            weight.CopyGradientTo(dw);
            bias?.CopyGradientTo(db);
            double eInput = ConvReference.RelativeError(dx, reference.InputGradient);
            double eWeight = ConvReference.RelativeError(dw, reference.WeightGradient);
            double eBias = bias is null ? double.NaN : ConvReference.RelativeError(db, reference.BiasGradient);
            net.ZeroGrad();
            net.Backward(g, Span<float>.Empty, s.Batch);
            weight.CopyGradientTo(dw);
            bias?.CopyGradientTo(db);
            double eWeightOnly = ConvReference.RelativeError(dw, reference.WeightGradient);
            double eBiasOnly = bias is null ? double.NaN : ConvReference.RelativeError(db, reference.BiasGradient);
            row.Check = new Check(eOutput, eInput, eWeight, eBias, eWeightOnly, eBiasOnly);
        }
        net.ZeroGrad();
        net.Backward(g, dx, s.Batch);
        net.Backward(g, Span<float>.Empty, s.Batch);
        before = GC.GetTotalAllocatedBytes(precise: true);
        for (int i = 0; i < calls; i++)
        {
            net.Backward(g, dx, s.Batch);
            net.Backward(g, Span<float>.Empty, s.Batch);
        }
        row.BackwardBytes = (GC.GetTotalAllocatedBytes(precise: true) - before) / (2 * calls);
        net.ZeroGrad();
    }

    /// <summary>One timing request to a peer; returns its error, or null, and the kernel it says ran.</summary>
    private static string? Ask(Peer peer, ConvShape s, int threads, Pass pass, double warm, double seconds, int calls, List<double> times,
        string implKey, out string? impl)
    {
        impl = null;
        try
        {
            var reply = peer.AskTimes(new JsonObject
            {
                ["op"] = "conv", ["direction"] = Direction(pass), ["batch"] = s.Batch, ["in"] = s.InChannels, ["h"] = s.Height,
                ["w"] = s.Width, ["out"] = s.OutChannels, ["kernel"] = s.Kernel, ["stride"] = s.Stride, ["pad"] = s.Pad,
                ["groups"] = s.Groups, ["threads"] = threads, ["warmup_s"] = warm, ["measure_s"] = seconds, ["min_samples"] = calls,
            }, times);
            impl = reply[implKey]?.GetValue<string>();
            return null;
        }
        catch (PeerException e)
        {
            return e.Message.Replace('|', '/').Replace('\n', ' ');
        }
    }

    public static string Direction(Pass pass) => pass switch
    {
        Pass.Forward => "forward",
        Pass.BackwardData => "backward_data",
        _ => "backward_weights",
    };

    private static Dictionary<Pass, List<double>> NewLists() =>
        Enum.GetValues<Pass>().ToDictionary(p => p, _ => new List<double>());

    private static string Short(ConvRow row, Figure f) =>
        f.Error is not null ? $"error ({f.Error})"
        : f.Stats is null ? "—"
        : $"{f.Stats.Median,8:F3} ms {row.Gflops(f),6:F1} GF/s";

    internal static string Describe(Exception e) => $"{e.GetType().Name}: {e.Message}".Replace('\n', ' ').Replace('|', '/');
}

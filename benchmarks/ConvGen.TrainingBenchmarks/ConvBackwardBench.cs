using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json.Nodes;

namespace ConvGen.TrainingBenchmarks;

/// <summary>Largest relative errors of one thread count's gradients against the float64 reference.</summary>
/// <param name="Input">∂x (Backward with an input gradient).</param>
/// <param name="Weight">∂W from the same call.</param>
/// <param name="Bias">∂b from the same call.</param>
/// <param name="WeightOnly">∂W from a Backward with an empty input gradient.</param>
/// <param name="BiasOnly">∂b from that call.</param>
public sealed record GradientCheck(double Input, double Weight, double Bias, double WeightOnly, double BiasOnly)
{
    public double Worst => new[] { Input, Weight, Bias, WeightOnly, BiasOnly }.Any(double.IsNaN) ? double.NaN
        : new[] { Input, Weight, Bias, WeightOnly, BiasOnly }.Max();

    public bool Passed => Worst <= GradientReference.Tolerance;
}

/// <summary>One shape at one thread count: ConvGen and PyTorch, with and without the input gradient.</summary>
public sealed record ConvRow(ConvShape Shape, int Threads,
    Stats? ConvGenFull, Stats? ConvGenWeights, string? ConvGenError, GradientCheck? Check, long BytesPerCall,
    Stats? TorchFull, Stats? TorchWeights, string? TorchError, string? TorchBackend);

/// <summary>Part 1: Backward of single-convolution networks.</summary>
public static class ConvBackwardBench
{
    public static List<ConvRow> Run(IEnumerable<ConvShape> shapes, Options options, TorchPeer? peer)
    {
        var rows = new List<ConvRow>();
        foreach (var shape in shapes) rows.AddRange(RunShape(shape, options, peer));
        Parallelism.MaxThreads = Environment.ProcessorCount;
        return rows;
    }

    private static IEnumerable<ConvRow> RunShape(ConvShape s, Options options, TorchPeer? peer)
    {
        var timing = options.Timing;
        var random = new Random(2024);
        var x = new float[s.Batch * s.InputLength];
        var g = new float[s.Batch * s.OutputLength];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(random.NextDouble() * 2 - 1);
        for (int i = 0; i < g.Length; i++) g[i] = (float)(random.NextDouble() * 2 - 1);
        var y = new float[g.Length];
        var dx = new float[x.Length];

        INetwork? net = null;
        GradientReference? reference = null;
        string? setupError = null;
        try
        {
            net = s.Create();
            if (net.InputLength != s.InputLength || net.OutputLength != s.OutputLength)
                throw new InvalidOperationException(
                    $"generated lengths {net.InputLength}/{net.OutputLength}, expected {s.InputLength}/{s.OutputLength}");
            if (options.Check) reference = GradientReference.Compute(s, net, x, g);
        }
        catch (Exception e)
        {
            setupError = Describe(e);
        }

        foreach (int t in options.Threads)
        {
            var mineFull = new List<double>();
            var mineWeights = new List<double>();
            var theirsFull = new List<double>();
            var theirsWeights = new List<double>();
            string? error = setupError, torchError = peer is null ? "not run" : null, backend = null;
            GradientCheck? check = null;
            long bytes = -1;

            if (net is not null && error is null)
            {
                try
                {
                    Parallelism.MaxThreads = t;
                    net.Forward(x, y, s.Batch); // recorded: Backward reads this tape
                    if (reference is not null) check = Check(s, net, x, g, dx, reference);
                    net.ZeroGrad();
                    const int calls = 20;
                    net.Backward(g, dx, s.Batch);
                    long before = GC.GetTotalAllocatedBytes(precise: true);
                    for (int i = 0; i < calls; i++) net.Backward(g, dx, s.Batch);
                    bytes = (GC.GetTotalAllocatedBytes(precise: true) - before) / calls;
                }
                catch (Exception e)
                {
                    error = Describe(e);
                }
            }

            for (int round = 0; round < timing.Rounds; round++)
            {
                foreach (bool withInput in new[] { true, false })
                {
                    if (net is not null && error is null)
                    {
                        try
                        {
                            Parallelism.MaxThreads = t;
                            net.ZeroGrad();
                            if (withInput)
                                CallClock.Run(() => net.Backward(g, dx, s.Batch), timing.WarmupOf(round), timing.SecondsPerRound,
                                    timing.MinCallsPerRound, mineFull);
                            else
                                CallClock.Run(() => net.Backward(g, Span<float>.Empty, s.Batch), timing.WarmupOf(round),
                                    timing.SecondsPerRound, timing.MinCallsPerRound, mineWeights);
                        }
                        catch (Exception e)
                        {
                            error = Describe(e);
                        }
                    }
                    if (peer is not null && torchError is null)
                    {
                        try
                        {
                            var reply = peer.AskTimes(new JsonObject
                            {
                                ["op"] = "conv_backward", ["batch"] = s.Batch, ["in"] = s.InChannels, ["h"] = s.Height,
                                ["w"] = s.Width, ["out"] = s.OutChannels, ["kernel"] = s.Kernel, ["stride"] = s.Stride,
                                ["pad"] = s.Pad, ["groups"] = s.Groups, ["threads"] = t, ["input_grad"] = withInput,
                                ["warmup_s"] = timing.WarmupOf(round), ["measure_s"] = timing.SecondsPerRound,
                                ["min_samples"] = timing.MinCallsPerRound,
                            }, withInput ? theirsFull : theirsWeights);
                            backend = reply["backend"]?.GetValue<string>();
                        }
                        catch (PeerException e)
                        {
                            torchError = e.Message;
                        }
                    }
                }
            }
            net?.ZeroGrad();

            var row = new ConvRow(s, t,
                error is null ? Stats.Of(mineFull) : null, error is null ? Stats.Of(mineWeights) : null, error, check, bytes,
                torchError is null ? Stats.Of(theirsFull) : null, torchError is null ? Stats.Of(theirsWeights) : null,
                peer is null ? null : torchError, backend);
            Console.WriteLine(
                $"({s.Id}) {s.Geometry,-32} {t}T  ConvGen full {Ms(row.ConvGenFull, error)} weights {Ms(row.ConvGenWeights, error)}"
                + $"  check {CheckText(check, options.Check)}  |  PyTorch full {Ms(row.TorchFull, row.TorchError)} weights {Ms(row.TorchWeights, row.TorchError)}");
            yield return row;
        }
    }

    /// <summary>One Backward with and one without the input gradient, from zeroed gradients, against the reference.</summary>
    private static GradientCheck Check(ConvShape s, INetwork net, float[] x, float[] g, float[] dx, GradientReference reference)
    {
        var weight = net.Parameters.First(p => p.Name == "0.weight");
        var bias = net.Parameters.FirstOrDefault(p => p.Name == "0.bias");
        var dw = new float[weight.Length];
        var db = new float[s.OutChannels];

        Array.Fill(dx, float.NaN); // every element must be written
        net.ZeroGrad();
        net.Backward(g, dx, s.Batch);
        weight.CopyGradientTo(dw);
        bias?.CopyGradientTo(db);
        double eInput = GradientReference.RelativeError(dx, reference.Input);
        double eWeight = GradientReference.RelativeError(dw, reference.Weight);
        double eBias = bias is null ? double.NaN : GradientReference.RelativeError(db, reference.Bias);

        net.ZeroGrad();
        net.Backward(g, Span<float>.Empty, s.Batch);
        weight.CopyGradientTo(dw);
        bias?.CopyGradientTo(db);
        double eWeightOnly = GradientReference.RelativeError(dw, reference.Weight);
        double eBiasOnly = bias is null ? double.NaN : GradientReference.RelativeError(db, reference.Bias);
        net.ZeroGrad();
        return new GradientCheck(eInput, eWeight, eBias, eWeightOnly, eBiasOnly);
    }

    internal static string Describe(Exception e) => $"{e.GetType().Name}: {e.Message}".Replace('\n', ' ').Replace('|', '/');

    internal static string Ms(Stats? s, string? error) =>
        error is not null ? $"error ({error})" : s is null ? "—" : $"{s.Median:F3} ms";

    internal static string CheckText(GradientCheck? c, bool enabled) =>
        !enabled ? "skipped"
        : c is null ? "—"
        : double.IsNaN(c.Worst) ? "FAIL (NaN/∞ or missing)"
        : c.Passed ? $"ok ({c.Worst:0.0e+0})"
        : $"FAIL (∂x {c.Input:0.0e+0}, ∂W {c.Weight:0.0e+0}, ∂b {c.Bias:0.0e+0}, ∂W w/o ∂x {c.WeightOnly:0.0e+0}, ∂b w/o ∂x {c.BiasOnly:0.0e+0})";
}

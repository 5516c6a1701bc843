using System;
using System.Collections.Generic;
using System.Linq;
using ConvGen.Tests.Infrastructure;
using ConvGen.Tests.Reference;
using Xunit;

namespace ConvGen.Tests;

/// <summary>
/// Random whole networks mixing every layer kind (convs, activations, padded max/avg pools, global pooling, flatten,
/// linear chains), drawn with a fixed seed, compiled together and compared with the float64 reference.
/// </summary>
[Trait("Category", "Correctness")]
public sealed class RandomizedNetworkTests
{
    /// <summary>Fixed, so CI runs the same cases every time; set <c>CONVGEN_SEED</c> to explore other draws locally.</summary>
    private static readonly int Seed = int.TryParse(Environment.GetEnvironmentVariable("CONVGEN_SEED"), out int s) ? s : 7_340_033;
    private const int Count = 40;
    private const int FixedCount = 50;
    private const long Budget = 2_500_000;

    /// <summary>One case: the network and the batch to run.</summary>
    public sealed record Case(NetworkSpec Spec, int Batch, float InputScale = 1f);

    public static IReadOnlyList<Case> Cases { get; } = BuildCases();

    /// <summary>The fixed cases whose backward-data runs the lane-sum kernel (<c>LaneSumDataGradStep</c>), LeNet's included.</summary>
    public static IReadOnlyList<string> LaneSumCases => s_laneSumCases!;
    private static List<string>? s_laneSumCases; // set by BuildCases, which the initializer of Cases runs first

    internal static readonly Lazy<CompiledNetworks> Compiled = new(
        () => new CompiledNetworks([.. Cases.Select(c => c.Spec)], "ConvGen.Dynamic.RandomNet", chunks: 2));

    public static IEnumerable<object[]> CaseData()
        => Cases.Select((c, i) => new object[] { i, $"{c.Spec.Name} batch {c.Batch}: " + string.Join(" ", c.Spec.Layers.Select(l => l.Attribute)) });

    [Theory]
    [MemberData(nameof(CaseData))]
    public void MatchesReference(int index, string label)
    {
        _ = label;
        var c = Cases[index];
        var network = Compiled.Value.Create(c.Spec.Name);
        string? failure = NetworkCheck.Check(network, c.Spec, c.Batch, seed: Seed + index, c.InputScale);
        if (failure is not null) Assert.Fail(failure);
    }

    [Fact]
    public void CasesCoverEveryLayerKind()
    {
        var layers = Cases.SelectMany(c => c.Spec.Layers).ToList();
        Assert.Contains(layers, l => l is ConvSpec);
        foreach (var kind in Enum.GetValues<RefActivationKind>())
            Assert.Contains(layers, l => l is ActivationSpec a && a.Kind == kind);
        Assert.Contains(layers, l => l is PoolSpec { Max: true, Pad: > 0 });
        Assert.Contains(layers, l => l is PoolSpec { Max: false, Pad: > 0 });
        Assert.Contains(layers, l => l is PoolSpec { Stride: > 0 } p && p.Stride != p.Size);
        Assert.Contains(layers, l => l is GlobalAvgPoolSpec);
        Assert.Contains(layers, l => l is FlattenSpec);
        Assert.Contains(layers, l => l is LinearSpec { Bias: false });
        Assert.Contains(Cases, c => c.Spec.Layers.OfType<LinearSpec>().Count() >= 2);
        Assert.Contains(Cases, c => !c.Spec.Output.IsFlat);
        Assert.Contains(Cases, c => c.Spec.Layers.OfType<ConvSpec>().Count() >= 3);
        // Layers the Winograd kernel runs: 3x3, stride 1, dense, inputs in blocks of 8 (at least 32), outputs in groups of 32.
        Assert.Contains(layers, l => l is ConvSpec { Kh: 3, Kw: 3, Stride: 1, Dilation: 1, Groups: 1, In: >= 32 } c && c.In % 8 == 0 && c.Out % 32 == 0);
        Assert.Equal(FixedCount, Cases.Count(c => c.Spec.Name.StartsWith("Fixed", StringComparison.Ordinal)));
        // Max pooling with padding where the -inf padding matters (input not known to be positive).
        Assert.Contains(Cases, c => Enumerable.Range(0, c.Spec.Layers.Count).Any(i =>
            c.Spec.Layers[i] is PoolSpec { Max: true, Pad: > 0 }
            && (i == 0 || c.Spec.Layers[i - 1] is not ActivationSpec { Kind: RefActivationKind.Relu or RefActivationKind.Sigmoid })));
    }

    private static IReadOnlyList<Case> BuildCases()
    {
        var random = new Random(Seed);
        var cases = new List<Case>();
        var laneSum = new List<string>();
        void RunsLaneSum() => laneSum.Add(cases[cases.Count - 1].Spec.Name);

        // Fixed corners first. Max pooling with padding only differs from zero padding where a window's values are all
        // negative, which never happens after Relu or Sigmoid: pool raw inputs, raw convs and Tanh outputs.
        LayerSpec relu = new ActivationSpec(RefActivationKind.Relu), tanh = new ActivationSpec(RefActivationKind.Tanh);
        void Add(int batch, int c, int h, int w, params LayerSpec[] layers) => AddScaled(1f, batch, c, h, w, layers);
        void AddScaled(float inputScale, int batch, int c, int h, int w, params LayerSpec[] layers)
        {
            var spec = new NetworkSpec($"Fixed{cases.Count:D2}", c, h, w, layers);
            if (!spec.IsValid()) throw new InvalidOperationException("invalid fixed case " + spec.Describe());
            cases.Add(new Case(spec, batch, inputScale));
        }
        Add(2, 3, 9, 8, new PoolSpec(true, 3, 2, 1));                                                   // max pool on raw input
        Add(3, 2, 7, 7, new ConvSpec(3, 3, 2, 5), new PoolSpec(true, 2, 0, 1), new PoolSpec(true, 3, 1, 1)); // on a raw conv
        Add(1, 4, 10, 9, new ConvSpec(3, 3, 4, 9, Pad: 1), tanh, new PoolSpec(true, 3, 1, 1), new PoolSpec(false, 3, 2, 1));
        Add(2, 3, 61, 47, new ConvSpec(3, 3, 3, 16, Pad: 1), relu, new PoolSpec(true, 2),            // wide rows: many tiles
            new ConvSpec(3, 3, 16, 24, Stride: 2, Same: true), new GlobalAvgPoolSpec(), new FlattenSpec(), new LinearSpec(24, 5));
        Add(2, 6, 5, 7, new GlobalAvgPoolSpec(), new FlattenSpec(), new LinearSpec(6, 3));               // global pool on input
        Add(3, 2, 4, 3, new FlattenSpec(), new LinearSpec(24, 17), tanh, new LinearSpec(17, 9, Bias: false)); // flatten on input
        Add(1, 12, 6, 6, new GlobalAvgPoolSpec(), new ConvSpec(3, 3, 12, 20, Pad: 1), relu,               // conv on 1×1
            new ConvSpec(1, 1, 20, 7));
        Add(2, 5, 3, 3, new PoolSpec(false, 3));                                                          // pool to 1×1
        Add(2, 70, 8, 9, new ConvSpec(3, 3, 70, 70, Pad: 1, Groups: 70), relu, new ConvSpec(1, 1, 70, 33),  // MobileNet block
            new ActivationSpec(RefActivationKind.Sigmoid));
        Add(4, 3, 5, 5, relu);                                                                           // no parameters
        Add(1, 1, 28, 28, new ConvSpec(5, 5, 1, 6, Pad: 2), relu, new PoolSpec(true, 2), new ConvSpec(5, 5, 6, 16), relu,
            new PoolSpec(true, 2), new FlattenSpec(), new LinearSpec(400, 120), relu, new LinearSpec(120, 84), relu,
            new LinearSpec(84, 10));                                                                     // LeNet
        RunsLaneSum();
        Add(2, 9, 7, 6, new ConvSpec(3, 3, 9, 15, Pad: 1, Groups: 3), new ConvSpec(3, 3, 15, 25, Groups: 5)); // groups 3 and 5
        Add(1, 5, 6, 6, new ConvSpec(3, 3, 5, 15, Pad: 1, Groups: 5));                                  // depthwise multiplier 3
        Add(2, 96, 5, 5, new ConvSpec(3, 3, 96, 96, Pad: 1), tanh, new ConvSpec(3, 3, 96, 20, Stride: 2, Pad: 1)); // 83k weights:
        // the dense backward-data repack splits over threads; then stride-2 phases, where a one-tap phase exists
        Add(1, 64, 72, 72, new ConvSpec(1, 1, 64, 64), relu);  // 1.3 MB input per sample, 16 KB of weights: forward and
        // backward-data kernels take their work items tile-fastest (ConvTiling.TilesFastest)
        // Planar depthwise layers (first layer, stride 1): gradients on NCHW. Rows that 8 does not divide and a height
        // 3 does not divide (work items of 3 output rows: the last has 2, then 1); dilation with 5x5 taps split into
        // per-row work items; a kernel wider than 12 split into column ranges; "same" padding of an even kernel (unequal
        // sides); ∂X rows narrower than a vector (the blocked fallback).
        Add(2, 3, 11, 13, new ConvSpec(3, 3, 3, 3, Pad: 1, Groups: 3), tanh, new ConvSpec(1, 1, 3, 4));
        Add(2, 16, 8, 20, new ConvSpec(3, 3, 16, 16, Pad: 1, Groups: 16), relu); // last layer: writes the caller's output
        Add(1, 8, 7, 9, new ConvSpec(3, 3, 8, 8, Pad: 1, Groups: 8));
        Add(2, 4, 4, 10, new ConvSpec(3, 3, 4, 4, Pad: 3, Groups: 4)); // backward-data crops (padding −1), ∂X 4 rows high
        Add(1, 2, 9, 20, new ConvSpec(5, 5, 2, 2, Pad: 3, Dilation: 2, Groups: 2, Bias: false));
        Add(2, 2, 4, 21, new ConvSpec(2, 13, 2, 2, Pad: 1, Groups: 2));
        Add(1, 3, 9, 10, new ConvSpec(4, 4, 3, 3, Groups: 3, Same: true), relu);
        Add(3, 2, 5, 6, new ConvSpec(1, 1, 2, 2, Pad: 1, Groups: 2));
        // Backward-data written as NCHW rows for layers with up to 6 input channels: stride-2 phases (a stem), stride
        // with dilation (the spread grid), dilation, and 1, 3 and 6 channels (both register-tile orders).
        Add(1, 3, 20, 21, new ConvSpec(7, 7, 3, 8, Stride: 2, Pad: 3), relu);
        Add(2, 2, 9, 20, new ConvSpec(3, 3, 2, 5, Stride: 2, Pad: 2, Dilation: 2), tanh);
        Add(2, 6, 7, 12, new ConvSpec(3, 3, 6, 4, Pad: 1, Dilation: 2), relu, new ConvSpec(3, 3, 4, 1, Pad: 1), new ConvSpec(1, 1, 1, 3));
        // Convolutions with fewer than 8 output channels run along their rows into NCHW8c (ConvStep.RowsToBlocked):
        // 7 channels in rows of 8, unbiased, into a sigmoid; rows of 19 (vectors at 0, 8 and 11) after a padded copy
        // whose zero rows are skipped, twice; and the backward-data kernel of a layer with 7 input channels in rows of
        // 8 (its ∂X blocked: not the network's input).
        Add(2, 2, 10, 10, new ConvSpec(3, 3, 2, 7, Bias: false), new ActivationSpec(RefActivationKind.Sigmoid));
        Add(1, 1, 12, 21, new ConvSpec(3, 5, 1, 3, Pad: 1), tanh, new ConvSpec(3, 3, 3, 5, Pad: 1));
        Add(2, 3, 8, 8, new ConvSpec(1, 1, 3, 7), relu, new ConvSpec(3, 3, 7, 8, Pad: 1), relu);
        // Backward-data of a layer with few input channels and whole blocks of output channels, summed over the outputs
        // in the lanes (LaneSumDataGradStep): 4 inputs in 3-pixel tiles (∂Z vectors held) with padding 2 and a last
        // tile of 2; 1 input in 12-pixel tiles (weights held) with unequal column padding; 3 inputs and 3 output blocks
        // over 3 rows, where both ends of the kernel rows are cut; 5 inputs of the network's own input (NCHW ∂X). The
        // last two have no activation, so the gradient check also compares whole gradients along a random direction.
        Add(2, 3, 9, 11, new ConvSpec(3, 3, 3, 4, Pad: 1), tanh, new ConvSpec(5, 5, 4, 8, Pad: 2), relu);
        RunsLaneSum();
        Add(2, 2, 6, 15, new ConvSpec(3, 3, 2, 1, Pad: 1), relu, new ConvSpec(3, 4, 1, 16, Same: true), tanh);
        RunsLaneSum();
        Add(1, 3, 3, 10, new ConvSpec(1, 1, 3, 3), new ConvSpec(3, 3, 3, 24, Pad: 1));
        RunsLaneSum();
        Add(2, 5, 7, 13, new ConvSpec(3, 5, 5, 16, Pad: 1));
        RunsLaneSum();
        // The same with a stride, where a ∂X pixel reads only the taps whose offset divides by it: a 7x7 stride-2 stem
        // on the network's input (tiles of 4 pixels, the last of 3); 2 blocked input channels in tiles of 6 over an
        // odd width; AlexNet's 11x11 stride 4; stride 3 with "same" (unequal) padding, 1 input in tiles of 12; and a
        // 2x2 kernel at stride 3, where whole rows and columns of ∂X read no tap and must come out zero.
        Add(2, 3, 21, 19, new ConvSpec(7, 7, 3, 16, Stride: 2, Pad: 3));
        RunsLaneSum();
        Add(2, 3, 11, 13, new ConvSpec(1, 1, 3, 2), relu, new ConvSpec(5, 5, 2, 24, Stride: 2, Pad: 2), relu);
        RunsLaneSum();
        Add(1, 3, 27, 25, new ConvSpec(11, 11, 3, 24, Stride: 4, Pad: 2), relu);
        RunsLaneSum();
        Add(2, 1, 10, 14, new ConvSpec(4, 5, 1, 64, Stride: 3, Same: true), tanh);
        RunsLaneSum();
        Add(1, 1, 8, 8, new ConvSpec(2, 2, 1, 296, Stride: 3));
        RunsLaneSum();
        // A last 1x1 layer on NCHW runs as a planar product, forward and backward: 2 inputs and 3 outputs take only the
        // smaller tiles of its weight gradient, and 35 pixels end on an overlapping vector. No activation, so the
        // gradient check compares whole gradients too.
        Add(2, 2, 5, 7, new ConvSpec(1, 1, 2, 3));
        // Saturating activations: inputs in ±40 (exp overflow, tanh/sigmoid at ±1/0, relu of large values).
        AddScaled(40f, 3, 4, 5, 7, new ActivationSpec(RefActivationKind.Sigmoid));
        AddScaled(40f, 3, 4, 5, 7, new ActivationSpec(RefActivationKind.Tanh));
        AddScaled(40f, 2, 3, 6, 5, new ConvSpec(3, 3, 3, 10, Pad: 1), new ActivationSpec(RefActivationKind.Tanh),
                  new FlattenSpec(), new LinearSpec(300, 12), new ActivationSpec(RefActivationKind.Sigmoid));
        // Tiny inputs: tanh and sigmoid near 0, where 1 − 2/(e^2x + 1) style formulas lose digits.
        AddScaled(1e-3f, 2, 4, 5, 7, new ActivationSpec(RefActivationKind.Tanh), new ActivationSpec(RefActivationKind.Sigmoid));
        // Winograd F(2×2, 3×3) forward kernels (ConvStep.WinogradFits): on the network's NCHW input with padding 1 (rows
        // of 5 tiles: register tiles of 3 and 2), then on NCHW8c without padding (4 tiles: 2 + 2), unbiased; padding 2
        // on an input 2 wide, then padding 1 on NCHW8c (the blocked padded grid); a single 2×2 tile (a 1-tile register
        // tile) with "same" padding.
        Add(2, 32, 6, 10, new ConvSpec(3, 3, 32, 32, Pad: 1), relu, new ConvSpec(3, 3, 32, 64, Bias: false), tanh);
        Add(1, 40, 4, 2, new ConvSpec(3, 3, 40, 32, Pad: 2), relu, new ConvSpec(3, 3, 32, 32, Pad: 1));
        Add(3, 32, 2, 2, new ConvSpec(3, 3, 32, 32, Same: true), new ActivationSpec(RefActivationKind.Sigmoid));
        // Transformed weights over 1 MiB (128 × 160 × 16 floats): work items by groups of 32 output channels, forward
        // and both backward-data kernels (ConvStep.WinogradGroupsOutermost).
        Add(2, 128, 4, 6, new ConvSpec(3, 3, 128, 160, Pad: 1), relu, new ConvSpec(3, 3, 160, 128, Pad: 1));
        // Backward-data over 5 blocks of 8 (40 outputs, 128 inputs): odd runs of the transposing refresh.
        Add(2, 16, 6, 8, new ConvSpec(1, 1, 16, 128), relu, new ConvSpec(3, 3, 128, 40, Pad: 1));
        // Pooling windows of more than 64 taps run as loops, not written out tap by tap (KernelEmitter.MaxUnrolledWindow),
        // forward and in the backward of windows that tile the input: max over a raw conv (negative values), and average.
        Add(2, 3, 18, 19, new ConvSpec(1, 1, 3, 5), new PoolSpec(true, 9));
        Add(1, 9, 20, 20, new PoolSpec(false, 10), new FlattenSpec(), new LinearSpec(36, 4));

        s_laneSumCases = laneSum;
        while (cases.Count < FixedCount + Count)
        {
            var spec = RandomNetwork(random, $"Net{cases.Count:D2}");
            int batch = random.Next(1, 5);
            if (spec is null || !spec.IsValid() || Cost(spec) * batch > Budget) continue;
            cases.Add(new Case(spec, batch));
        }
        return cases;
    }

    /// <summary>Multiply-adds of the reference, per sample.</summary>
    private static long Cost(NetworkSpec spec)
    {
        long total = 0;
        var shape = spec.Input;
        foreach (var layer in spec.Layers)
        {
            var next = layer.OutputShape(shape);
            total += layer switch
            {
                ConvSpec c => (long)next.Length * (c.In / c.Groups) * c.Kh * c.Kw,
                LinearSpec l => (long)l.In * l.Out,
                PoolSpec p => (long)next.Length * p.Size * p.Size,
                _ => shape.Length,
            };
            shape = next;
        }
        return total;
    }

    private static NetworkSpec? RandomNetwork(Random r, string name)
    {
        int c = r.Next(1, 9), h = r.Next(4, 30), w = r.NextDouble() < 0.6 ? h : r.Next(4, 30);
        var layers = new List<LayerSpec>();
        var shape = new RefShape(c, h, w);
        bool TryAdd(LayerSpec layer)
        {
            try { shape = layer.OutputShape(shape); }
            catch (ArgumentException) { return false; }
            layers.Add(layer);
            return true;
        }
        LayerSpec Activation() => new ActivationSpec((RefActivationKind)r.Next(3));

        if (r.NextDouble() < 0.1) TryAdd(Activation());
        if (r.NextDouble() < 0.1) TryAdd(RandomPool(r));

        int blocks = r.Next(1, 5);
        for (int b = 0; b < blocks; b++)
        {
            TryAdd(RandomConv(r, shape.C));
            if (r.NextDouble() < 0.75) TryAdd(Activation());
            if (r.NextDouble() < 0.15) TryAdd(Activation()); // two in a row
            if (r.NextDouble() < 0.45) TryAdd(RandomPool(r));
        }
        if (layers.Count == 0) return null;

        double tail = r.NextDouble();
        if (tail < 0.2)
        {
            // Ends on C×H×W.
        }
        else
        {
            if (tail < 0.55) TryAdd(new GlobalAvgPoolSpec());
            if (r.NextDouble() < 0.15 && !shape.IsFlat) TryAdd(new ConvSpec(1, 1, shape.C, r.Next(1, 20))); // conv on C×1×1 or more
            TryAdd(new FlattenSpec());
            if (r.NextDouble() < 0.15) TryAdd(Activation());
            if (shape.Length > 3000) return null;
            int linears = r.Next(1, 4);
            for (int i = 0; i < linears; i++)
            {
                TryAdd(new LinearSpec(shape.Length, r.Next(1, 80), Bias: r.NextDouble() < 0.8));
                if (i < linears - 1 || r.NextDouble() < 0.3) TryAdd(Activation());
            }
        }
        return new NetworkSpec(name, c, h, w, layers);
    }

    private static PoolSpec RandomPool(Random r)
    {
        int size = r.Next(2, 4);
        int stride = r.NextDouble() < 0.5 ? 0 : r.Next(1, 4);
        int pad = r.NextDouble() < 0.5 ? 0 : r.Next(0, size / 2 + 1);
        return new PoolSpec(r.NextDouble() < 0.55, size, stride, pad);
    }

    private static ConvSpec RandomConv(Random r, int inC)
    {
        int k = r.Next(1, 6);
        int kw = r.NextDouble() < 0.2 ? r.Next(1, 6) : k;
        int stride = r.NextDouble() < 0.7 ? 1 : 2;
        int dilation = r.NextDouble() < 0.8 ? 1 : 2;
        bool same = r.NextDouble() < 0.25;
        int pad = same ? 0 : r.Next(0, k / 2 + 2);
        int groups = 1, outC = r.Next(1, 40);
        double g = r.NextDouble();
        if (g < 0.15) { groups = inC; outC = inC * (r.NextDouble() < 0.7 ? 1 : 2); }          // depthwise
        else if (g < 0.3 && inC % 2 == 0) { groups = 2; outC = 2 * r.Next(1, 20); }
        return new ConvSpec(k, kw, inC, outC, stride, pad, dilation, groups, r.NextDouble() < 0.8, same);
    }
}

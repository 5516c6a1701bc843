using System;
using System.Collections.Generic;
using System.Linq;
using ConvGen.Tests.Infrastructure;
using ConvGen.Tests.Reference;
using Xunit;

namespace ConvGen.Tests;

/// <summary>
/// Hundreds of single-conv networks (sometimes followed by an activation, to exercise fusion) drawn with a fixed seed,
/// compiled together, run with known random weights and compared with the float64 reference.
/// Each case's display name is its whole configuration, so a failure names what to reproduce.
/// </summary>
[Trait("Category", "Correctness")]
public sealed class RandomizedConvTests
{
    /// <summary>Fixed, so CI runs the same cases every time; set <c>CONVGEN_SEED</c> to explore other draws locally.</summary>
    private static readonly int Seed = int.TryParse(Environment.GetEnvironmentVariable("CONVGEN_SEED"), out int s) ? s : 20240611;
    private const int RandomCount = 320;

    /// <summary>Multiply-adds allowed per case in the reference (keeps the whole class to a few seconds).</summary>
    private const long Budget = 1_500_000;

    /// <summary>One case: the network and the batch to run.</summary>
    public sealed record Case(NetworkSpec Spec, int Batch)
    {
        public string Label
        {
            get
            {
                var conv = (ConvSpec)Spec.Layers[0];
                string act = Spec.Layers.Count > 1 ? " +" + Spec.Layers[1].Attribute : "";
                return $"{Spec.Name}: in {Spec.C}x{Spec.H}x{Spec.W} batch {Batch} [{conv.Attribute}]{act}";
            }
        }
    }

    /// <summary>All cases, fixed by <see cref="Seed"/>.</summary>
    public static IReadOnlyList<Case> Cases { get; } = BuildCases();

    internal static readonly Lazy<CompiledNetworks> Compiled = new(
        () => new CompiledNetworks([.. Cases.Select(c => c.Spec)], "ConvGen.Dynamic.RandomConv", chunks: 2));

    public static IEnumerable<object[]> CaseData() => Cases.Select((c, i) => new object[] { i, c.Label });

    [Theory]
    [MemberData(nameof(CaseData))]
    public void MatchesReference(int index, string label)
    {
        var c = Cases[index];
        Assert.Equal(c.Label, label);
        var network = Compiled.Value.Create(c.Spec.Name);
        string? failure = NetworkCheck.Check(network, c.Spec, c.Batch, seed: Seed + index);
        if (failure is not null) Assert.Fail(failure);
    }

    [Fact]
    public void CasesCoverTheSpace()
    {
        var convs = Cases.Select(c => (Conv: (ConvSpec)c.Spec.Layers[0], c.Spec, c.Batch)).ToList();
        Assert.True(Cases.Count >= 300, $"only {Cases.Count} cases");
        Assert.Contains(convs, c => c.Conv.Kh != c.Conv.Kw);
        foreach (int k in Enumerable.Range(1, 7)) Assert.Contains(convs, c => c.Conv.Kh == k);
        foreach (int s in new[] { 1, 2, 3 }) Assert.Contains(convs, c => c.Conv.Stride == s);
        foreach (int d in new[] { 1, 2, 3 }) Assert.Contains(convs, c => c.Conv.Dilation == d);
        foreach (int p in new[] { 0, 1, 2, 3 }) Assert.Contains(convs, c => !c.Conv.Same && c.Conv.Pad == p);
        Assert.Contains(convs, c => c.Conv.Same && c.Conv.Stride > 1);
        Assert.Contains(convs, c => c.Conv.Same && c.Conv.Kh % 2 == 0);
        foreach (int g in new[] { 2, 4 }) Assert.Contains(convs, c => c.Conv.Groups == g && c.Conv.Groups != c.Conv.In);
        Assert.Contains(convs, c => c.Conv.Groups == c.Conv.In && c.Conv.Out == c.Conv.In && c.Conv.In > 8);
        Assert.Contains(convs, c => c.Conv.Groups == c.Conv.In && c.Conv.Out == 2 * c.Conv.In);
        Assert.Contains(convs, c => c.Conv.In % 8 != 0 && c.Conv.Out % 8 != 0 && c.Conv.Out > 8);
        Assert.Contains(convs, c => c.Conv.Out >= 64);
        Assert.Contains(convs, c => !c.Conv.Bias);
        Assert.Contains(convs, c => c.Spec.H % 2 == 1 && c.Spec.W % 2 == 1);
        foreach (int b in new[] { 1, 2, 3, 4 }) Assert.Contains(convs, c => c.Batch == b);
        foreach (var kind in Enum.GetValues<RefActivationKind>())
            Assert.Contains(Cases, c => c.Spec.Layers.Count > 1 && ((ActivationSpec)c.Spec.Layers[1]).Kind == kind);
        Assert.Contains(Cases, c => c.Spec.Output.H == 1 && c.Spec.Output.W == 1);
    }

    private static IReadOnlyList<Case> BuildCases()
    {
        var cases = new List<Case>();
        void Add(ConvSpec conv, int c, int h, int w, int batch, RefActivationKind? act = null)
        {
            var layers = new List<LayerSpec> { conv };
            if (act is { } a) layers.Add(new ActivationSpec(a));
            var spec = new NetworkSpec($"Conv{cases.Count:D3}", c, h, w, layers);
            if (!spec.IsValid()) throw new InvalidOperationException("invalid fixed case " + spec.Describe());
            cases.Add(new Case(spec, batch));
        }

        // Fixed corners first: shapes a kernel writer special-cases.
        Add(new ConvSpec(1, 1, 1, 1), 1, 1, 1, 1);                                        // everything 1
        Add(new ConvSpec(3, 3, 3, 64, Pad: 1), 3, 15, 17, 2, RefActivationKind.Relu);      // RGB first layer
        Add(new ConvSpec(7, 7, 3, 16, Stride: 2, Pad: 3), 3, 23, 21, 1);                  // ResNet stem
        Add(new ConvSpec(3, 3, 70, 70, Pad: 1, Groups: 70), 70, 9, 7, 2);                 // depthwise, 70 = 8·8 + 6
        Add(new ConvSpec(3, 3, 12, 24, Pad: 1, Groups: 12), 12, 7, 9, 1);                 // depthwise multiplier 2
        Add(new ConvSpec(5, 5, 5, 10, Groups: 5, Same: true, Bias: false), 5, 6, 8, 3);   // multiplier 2, Same
        Add(new ConvSpec(4, 2, 8, 8, Stride: 3, Same: true), 8, 11, 10, 1);               // even kernels, Same, stride 3
        Add(new ConvSpec(3, 3, 9, 7, Dilation: 3, Pad: 3), 9, 13, 13, 2, RefActivationKind.Sigmoid);
        Add(new ConvSpec(7, 7, 4, 4, Pad: 3), 4, 1, 1, 4);                                // 1×1 input, all taps padding but one
        Add(new ConvSpec(5, 3, 16, 33, Stride: 2), 16, 5, 3, 1, RefActivationKind.Tanh);  // output exactly 1×1
        Add(new ConvSpec(1, 1, 64, 65, Bias: false), 64, 3, 5, 2);                        // pointwise, 65 outputs
        Add(new ConvSpec(1, 1, 131, 12), 131, 4, 6, 2, RefActivationKind.Sigmoid);       // planar product in passes of 44 + 44 + 43 inputs
        Add(new ConvSpec(1, 1, 12, 131, Bias: false), 12, 3, 6, 1);                      // ∂x of 131 outputs, in passes
        Add(new ConvSpec(3, 3, 16, 16, Pad: 1, Groups: 4), 16, 8, 8, 2, RefActivationKind.Relu);
        Add(new ConvSpec(2, 2, 6, 6, Stride: 2, Groups: 2), 6, 9, 9, 3);                  // odd input, stride drops a row
        Add(new ConvSpec(3, 3, 8, 16, Pad: 1), 8, 13, 61, 1, RefActivationKind.Relu);     // wide rows: 5 tiles of 12 + 1
        Add(new ConvSpec(5, 5, 3, 8, Stride: 2, Same: true), 3, 40, 53, 2);              // wide, strided, asymmetric same
        Add(new ConvSpec(3, 3, 24, 24, Stride: 2, Pad: 1, Groups: 24), 24, 31, 45, 1);   // wide depthwise, strided
        Add(new ConvSpec(1, 7, 4, 12, Pad: 3), 4, 5, 50, 2, RefActivationKind.Tanh);     // 1×7 along a wide row
        Add(new ConvSpec(3, 3, 3, 8, Stride: 2, Pad: 1), 3, 13, 36, 2);                  // ∂x phases paired into rows: 18 = 8 + 8 + an overlapping 8
        // The streaming planar depthwise kernel (3 kernel rows) in bands of rows whose input stays within 16 KiB: wide
        // rows make several bands (300 floats: bands of 10), so bands start inside the plane and end at its bottom.
        Add(new ConvSpec(3, 3, 5, 5, Pad: 1, Groups: 5), 5, 30, 300, 2, RefActivationKind.Relu); // 3 bands, 10 strips
        Add(new ConvSpec(3, 3, 3, 3, Pad: 2, Groups: 3), 3, 25, 260, 1);                  // 2 rows of top padding; ∂x unpadded
        Add(new ConvSpec(3, 3, 2, 2, Pad: 3, Groups: 2), 2, 2, 200, 1, RefActivationKind.Sigmoid); // 2 input rows, ∂x cropped
        Add(new ConvSpec(3, 5, 4, 4, Pad: 1, Groups: 4, Bias: false), 4, 40, 250, 1);    // 3 × 5 window

        var random = new Random(Seed);
        while (cases.Count < RandomCount)
        {
            var (conv, c, h, w) = RandomConv(random);
            int batch = random.Next(1, 5);
            RefActivationKind? act = random.NextDouble() < 0.45 ? (RefActivationKind)random.Next(3) : null;
            var layers = new List<LayerSpec> { conv };
            if (act is { } a) layers.Add(new ActivationSpec(a));
            var spec = new NetworkSpec($"Conv{cases.Count:D3}", c, h, w, layers);
            if (!spec.IsValid()) continue; // output would be empty
            var o = spec.Shapes()[0];
            long macs = (long)batch * o.Length * (conv.In / conv.Groups) * conv.Kh * conv.Kw;
            if (macs > Budget) continue;
            cases.Add(new Case(spec, batch));
        }
        return cases;
    }

    private static (ConvSpec Conv, int C, int H, int W) RandomConv(Random r)
    {
        int kh = r.Next(1, 8);
        int kw = r.NextDouble() < 0.3 ? r.Next(1, 8) : kh;
        int stride = r.Next(1, 4);
        int dilation = r.NextDouble() < 0.6 ? 1 : r.Next(2, 4);
        bool same = r.NextDouble() < 0.2;
        int pad = same ? 0 : r.Next(0, 4);
        bool bias = r.NextDouble() < 0.7;

        int inC, outC, groups;
        double g = r.NextDouble();
        if (g < 0.5) { groups = 1; inC = Channels(r); outC = Channels(r); }
        else if (g < 0.62) { groups = 2; inC = 2 * r.Next(1, 36); outC = 2 * r.Next(1, 36); }
        else if (g < 0.74) { groups = 4; inC = 4 * r.Next(1, 18); outC = 4 * r.Next(1, 18); }
        else if (g < 0.9) { inC = r.Next(1, 71); groups = inC; outC = inC; }                // depthwise
        else { inC = r.Next(1, 36); groups = inC; outC = 2 * inC; }                           // depthwise multiplier 2

        // Spatial size: mostly small, often odd; the budget check rejects the expensive draws.
        int h = r.Next(1, 26), w = r.NextDouble() < 0.5 ? h : r.Next(1, 26);
        return (new ConvSpec(kh, kw, inC, outC, stride, pad, dilation, groups, bias, same), inC, h, w);
    }

    /// <summary>1–70, biased towards awkward counts around multiples of 8.</summary>
    private static int Channels(Random r)
    {
        double p = r.NextDouble();
        if (p < 0.25) return r.Next(1, 5);
        if (p < 0.5) return Math.Clamp(8 * r.Next(1, 9) + r.Next(-1, 2), 1, 70);
        return r.Next(1, 71);
    }
}

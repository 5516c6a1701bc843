using System;
using System.Collections.Generic;
using System.Linq;
using ConvGen.Tests.Infrastructure;
using ConvGen.Tests.Reference;
using Xunit;

namespace ConvGen.Tests.Backward;

/// <summary>
/// Generated backward kernels against finite differences of the float64 reference: the randomized conv configurations
/// (every stride, padding, dilation, group and kernel shape) and the randomized whole networks of the forward tests.
/// </summary>
public sealed class GradientCheckTests
{
    /// <summary>Reference multiply-adds allowed per conv case (finite differences run the reference ~30 times).</summary>
    private const long Budget = 300_000;

    public static IEnumerable<object[]> ConvCases()
        => RandomizedConvTests.Cases.Select((c, i) => (c, i))
            .Where(t => Cost(t.c.Spec) * t.c.Batch <= Budget)
            .Select(t => new object[] { t.i, t.c.Label });

    public static IEnumerable<object[]> NetworkCases()
        => RandomizedNetworkTests.Cases.Select((c, i) => new object[] { i, c.Spec.Name });

    // The conv sweep runs once (AVX2); the network cases below also run in CI's AVX2-off pass, covering the scalar twins.
    [Theory]
    [Trait("Category", "Gradients")]
    [MemberData(nameof(ConvCases))]
    public void ConvGradientsMatchFiniteDifferences(int index, string label)
    {
        var c = RandomizedConvTests.Cases[index];
        Assert.Equal(c.Label, label);
        var network = RandomizedConvTests.Compiled.Value.Create(c.Spec.Name);
        string? failure = GradientCheck.Check(network, c.Spec, c.Batch, seed: 1000 + index);
        if (failure is not null) Assert.Fail(failure);
    }

    [Theory]
    [Trait("Category", "Correctness")]
    [MemberData(nameof(NetworkCases))]
    public void NetworkGradientsMatchFiniteDifferences(int index, string name)
    {
        var c = RandomizedNetworkTests.Cases[index];
        Assert.Equal(c.Spec.Name, name);
        var network = RandomizedNetworkTests.Compiled.Value.Create(c.Spec.Name);
        string? failure = GradientCheck.Check(network, c.Spec, NetworkBatch(c), NetworkSeed(index), probes: 3);
        // Finite differences run the reference over and over, so they take at most 2 samples; the element-by-element
        // comparison with the reference backward is cheap, and also runs the case's whole batch (up to 4 samples).
        if (c.Batch > NetworkBatch(c)) failure ??= GradientCheck.Check(network, c.Spec, c.Batch, NetworkSeed(index), probes: 0);
        if (failure is not null) Assert.Fail(failure);
    }

    /// <summary>
    /// The element-by-element comparison with the reference backward leaves out the tensors before a layer whose ReLU
    /// input or max-pool window lies near its kink: that must stay the exception, or the check above would have become
    /// finite differences at three elements per tensor again without anyone noticing. (9 of the 80 cases have such a
    /// layer; in them the later layers' tensors are still compared.)
    /// </summary>
    [Fact]
    [Trait("Category", "Correctness")]
    public void MostNetworkCasesCompareEveryGradientElement()
    {
        var cases = RandomizedNetworkTests.Cases;
        var partial = cases.Where((c, i) => !GradientCheck.ComparesEveryElement(c.Spec, NetworkBatch(c), NetworkSeed(i)))
                           .Select(c => c.Spec.Name).ToList();
        Assert.True(partial.Count <= cases.Count / 5, $"{partial.Count} of {cases.Count} cases compared partly: {string.Join(", ", partial)}");
    }

    private static int NetworkBatch(RandomizedNetworkTests.Case c) => Math.Min(c.Batch, 2);

    private static int NetworkSeed(int index) => 2000 + index;

    /// <summary>Generates <paramref name="spec"/>'s network in namespace <paramref name="ns"/>: its generated source and an instance.</summary>
    private static (string Code, INetwork Network) Generate(NetworkSpec spec, string ns)
    {
        var (code, network, _) = GeneratorHarness.GenerateNetwork(spec, ns);
        return (code, network);
    }

    /// <summary>
    /// A dense weight gradient whose work items read more than half a pass per sample (two blocks of ∂Z at 63×63 and
    /// the 65×65 zero-padded input grid: 389 KB) sums the batch one sample per pass: checked whole against the
    /// reference at batch 2. (Its weight, 18,432 packed floats, is over the chunked limit: the work items split the
    /// layer's blocks. An odd output size keeps the layer off the Winograd kernels, whose tiles are 2×2.)
    /// </summary>
    [Fact]
    [Trait("Category", "Correctness")]
    public void WeightGradientSummedInPassesMatchesTheReference()
    {
        var spec = new NetworkSpec("Passes", 32, 63, 63, [new ConvSpec(3, 3, 32, 64, Pad: 1)]);
        var (code, network) = Generate(spec, "ConvGen.Dynamic.Passes");
        Assert.Contains("frame.N0 += 1)", code);
        string? failure = GradientCheck.Check(network, spec, batch: 2, seed: 3000, probes: 2);
        if (failure is not null) Assert.Fail(failure);
    }

    /// <summary>
    /// Where one sample's ∂Z and X planes exceed a pass (∂Z of 64 channels at 95×95: 2.3 MB), the weight gradient runs
    /// in passes over rows of ∂Z too: checked whole against the reference backward at batch 2. (Off the Winograd
    /// kernels, as above.)
    /// </summary>
    [Fact]
    [Trait("Category", "Correctness")]
    public void WeightGradientSummedInRowPassesMatchesTheReference()
    {
        var spec = new NetworkSpec("RowPasses", 32, 95, 95, [new ConvSpec(3, 3, 32, 64, Pad: 1)]);
        var (code, network) = Generate(spec, "ConvGen.Dynamic.RowPasses");
        Assert.Contains("rows of ∂Z per pass", code);
        string? failure = GradientCheck.Check(network, spec, batch: 2, seed: 3100, probes: 0);
        if (failure is not null) Assert.Fail(failure);
    }

    /// <summary>
    /// The weight gradient of a layer whose forward kernel is Winograd runs as Winograd F(3×3, 2×2): 40 inputs
    /// (register tiles of 3 and of 2 inputs), blocks of 3 rows of 10 tiles over 8 rows (the last block of 2 rows), then
    /// an unpadded layer on the first one's NCHW8c output (7 rows of 9 tiles: blocks of 3, 3 and 1); and 32→64 at
    /// 64×64, one sample per pass, so the sums carry from one pass to the next. Checked whole against the reference
    /// backward, and by finite differences.
    /// </summary>
    [Theory]
    [Trait("Category", "Correctness")]
    [InlineData("WinogradBlocks", 3)]
    [InlineData("WinogradPasses", 2)]
    public void WinogradWeightGradientMatchesTheReference(string name, int batch)
    {
        var spec = name == "WinogradBlocks"
            ? new NetworkSpec(name, 40, 16, 20, [new ConvSpec(3, 3, 40, 64, Pad: 1), new ActivationSpec(RefActivationKind.Relu), new ConvSpec(3, 3, 64, 32)])
            : new NetworkSpec(name, 32, 64, 64, [new ConvSpec(3, 3, 32, 64, Pad: 1)]);
        var (code, network) = Generate(spec, $"ConvGen.Dynamic.{name}");
        int convs = spec.Layers.Count(l => l is ConvSpec);
        Assert.Equal(convs, code.Split("weight, Winograd F(3×3, 2×2)").Length - 1);
        if (name == "WinogradPasses") Assert.Contains("frame.N0 += 1)", code);
        string? failure = GradientCheck.Check(network, spec, batch, seed: 3300 + batch, probes: name == "WinogradPasses" ? 1 : 3);
        if (failure is not null) Assert.Fail(failure);
    }

    /// <summary>
    /// A Winograd layer whose transformed weights are over 1 MiB (128 × 160 × 16 floats) runs by groups of 32 outputs,
    /// its products over the sample's 4 × 4 tiles as one run across rows (register tiles of 3 tiles, the last two of 2,
    /// so tiles 3–5 and 9–11 span two rows); its backward-data kernel (160 → 128) too. Forward against the reference,
    /// gradients against the reference backward and by finite differences.
    /// </summary>
    [Fact]
    [Trait("Category", "Correctness")]
    public void WinogradByGroupsRunsAcrossRowsMatchTheReference()
    {
        var spec = new NetworkSpec("WinogradAcrossRows", 128, 8, 8, [new ConvSpec(3, 3, 128, 160, Pad: 1), new ActivationSpec(RefActivationKind.Relu)]);
        var (code, network) = Generate(spec, "ConvGen.Dynamic.WinogradAcrossRows");
        Assert.Contains("Products3(u, v + tx * 128, m + tx * 32)", code);
        Assert.Contains("Products3(u, v + tx * 160, m + tx * 32)", code);
        string? failure = NetworkCheck.Check(network, spec, batch: 2, seed: 3400)
            ?? GradientCheck.Check(network, spec, batch: 2, seed: 3401, probes: 2);
        if (failure is not null) Assert.Fail(failure);
    }

    /// <summary>
    /// A Winograd layer by rows whose work items are four rows of tiles (14 per row, 56 per item: register tiles of 3,
    /// the last of 2), so that register tiles cross from one row into the next after 2 tiles (12–14) and after 1
    /// (27–29), while 42 starts a row; its backward-data kernel (32 → 32, the same grid) too. And rows of 2 tiles, 4 to
    /// an item (3 + 3 + 2: crossings after 2 and 1, then a 2-tile register tile), unpadded after a ReLU, 64 → 32.
    /// Forward against the reference, gradients against the reference backward and by finite differences.
    /// </summary>
    [Fact]
    [Trait("Category", "Correctness")]
    public void WinogradByRowsRegisterTilesAcrossRowsMatchTheReference()
    {
        var spec = new NetworkSpec("WinogradRowsPerItem", 32, 16, 28, [new ConvSpec(3, 3, 32, 32, Pad: 1), new ActivationSpec(RefActivationKind.Relu)]);
        var (code, network) = Generate(spec, "ConvGen.Dynamic.WinogradRowsPerItem");
        Assert.Equal(4, code.Split("int ty = item % 2 * 4, n = item / 2;").Length - 1); // forward and backward-data, AVX2 and scalar
        Assert.Contains("Output3At2(m, b, y + 192, y + 448); // across rows 0 and 1", code);
        Assert.Contains("Output3At1(m, b, y + 656, y + 896); // across rows 1 and 2", code);
        var narrow = new NetworkSpec("WinogradTwoTileRows", 64, 18, 6,
            [new ActivationSpec(RefActivationKind.Relu), new ConvSpec(3, 3, 64, 32), new ActivationSpec(RefActivationKind.Relu)]);
        var (narrowCode, narrowNetwork) = Generate(narrow, "ConvGen.Dynamic.WinogradTwoTileRows");
        Assert.Contains("int ty = item % 2 * 4, n = item / 2;", narrowCode);
        string? failure = NetworkCheck.Check(network, spec, batch: 3, seed: 3500)
            ?? GradientCheck.Check(network, spec, batch: 3, seed: 3501, probes: 2)
            ?? NetworkCheck.Check(narrowNetwork, narrow, batch: 3, seed: 3502)
            ?? GradientCheck.Check(narrowNetwork, narrow, batch: 3, seed: 3503, probes: 2);
        if (failure is not null) Assert.Fail(failure);
    }

    /// A small dense weight (at most 16,384 packed floats, one sample within a pass) is summed in 8 chunks of the
    /// batch's ∂Z rows, each into its own partial sums with the bias from the same rows, added in chunk order. Chunks
    /// that begin and end inside a sample (3 samples × 10 rows; one sample's 24 rows): checked whole against the
    /// reference backward and by finite differences.
    /// </summary>
    [Theory]
    [Trait("Category", "Correctness")]
    [InlineData(6, 16, 12, 3, "Rows")]
    [InlineData(1, 6, 26, 1, "OneSample")]
    public void ChunkedWeightGradientMatchesTheReference(int inputs, int outputs, int size, int batch, string name)
    {
        var spec = new NetworkSpec(name, inputs, size, size, [new ConvSpec(3, 3, inputs, outputs), new ActivationSpec(RefActivationKind.Relu)]);
        var (code, network) = Generate(spec, $"ConvGen.Dynamic.Chunked{name}");
        Assert.Contains("∂ layer 0 weight and bias, in 8 chunks of ∂Z rows", code);
        string? failure = GradientCheck.Check(network, spec, batch, seed: 3200 + inputs, probes: 3);
        if (failure is not null) Assert.Fail(failure);
    }

    /// <summary>
    /// A 1x1 layer on NCHW input as the last layer runs as a planar matrix product, and its bias gradient sums whole
    /// NCHW planes of ∂Z in four chains of vectors: planes of 63 pixels (one round of four vectors, three more, seven
    /// pixels one by one), 72 (nine vectors: two rounds and one more) and 24 (three vectors, no round), 12 outputs so the
    /// last block of 8 is partial. Checked whole against the reference backward and by finite differences.
    /// </summary>
    [Theory]
    [Trait("Category", "Correctness")]
    [InlineData(7, 9)]
    [InlineData(8, 9)]
    [InlineData(4, 6)]
    public void PlanarBiasGradientMatchesTheReference(int h, int w)
    {
        var spec = new NetworkSpec("PlanarBias", 5, h, w, [new ConvSpec(1, 1, 5, 12)]);
        var (code, network) = Generate(spec, "ConvGen.Dynamic.PlanarBias");
        Assert.Contains("8-pixel partial sums in four chains", code);
        string? failure = GradientCheck.Check(network, spec, batch: 2, seed: 4300 + h * w, probes: 3)
            ?? GradientCheck.Check(network, spec, batch: 3, seed: 4400 + h * w, probes: 0);
        if (failure is not null) Assert.Fail(failure);
    }

    /// <summary>
    /// A network whose last layer has few output channels on NCHW input writes the caller's NCHW from the planar-output
    /// kernel (bias and activation in its epilogue); Backward gives the weight gradient an NCHW8c copy of ∂Z, and
    /// backward-data reads ∂Z as it is: through a zero-padded view into NCHW8c ∂X (9 input channels), or from a
    /// zero-bordered NCHW grid into NCHW ∂X (2). Forward against the reference, gradients by finite differences.
    /// </summary>
    [Theory]
    [Trait("Category", "Correctness")]
    [InlineData(9, 4, RefActivationKind.Sigmoid, true)]
    [InlineData(2, 3, RefActivationKind.Relu, false)]
    [InlineData(1, 6, RefActivationKind.Tanh, true)]
    public void PlanarOutputHeadsMatchTheReference(int inputs, int outputs, RefActivationKind activation, bool bias)
    {
        var spec = new NetworkSpec("Head", inputs, 11, 13, [new ConvSpec(3, 3, inputs, outputs, Pad: 1, Bias: bias), new ActivationSpec(activation)]);
        var (code, network) = Generate(spec, "ConvGen.Dynamic.Head");
        Assert.Contains("NCHW in, NCHW out", code);
        Assert.Contains("∂Z into NCHW8c for the weight gradient", code);
        string? failure = NetworkCheck.Check(network, spec, batch: 3, seed: 4000 + inputs)
            ?? GradientCheck.Check(network, spec, batch: 2, seed: 4100 + inputs, probes: 3)
            ?? GradientCheck.Check(network, spec, batch: 3, seed: 4200 + inputs, probes: 0);
        if (failure is not null) Assert.Fail(failure);
    }

    /// <summary>
    /// A last layer with no activation after it writes the caller's NCHW from the register-tiled kernel, each tile's
    /// blocks transposed as they are stored: tiles narrower than 8 pixels whose spare lanes the next tiles overwrite
    /// (3-pixel tiles over two of them), masked tiles at the row's end, tiles wider than 8 pixels (one group per tile),
    /// the zero-column variants of a padded stride-2 stem (of 1 input: with 2 or more it runs Winograd down the columns), a 1x1 layer on NCHW8c whose rows are re-cut, a dilated layer
    /// on its padded copy, and last blocks of 2, 7 and 3 channels, whose other rows are not stored. Forward (recorded
    /// and not) against the reference, gradients by finite differences and in full.
    /// </summary>
    [Theory]
    [Trait("Category", "Correctness")]
    [InlineData("Stem", 1, 37, 35)]
    [InlineData("ThreePixelTiles", 8, 9, 10)]
    [InlineData("Grouped", 16, 5, 20)]
    [InlineData("PointwiseAfterBlocked", 8, 9, 11)]
    [InlineData("Dilated", 8, 7, 12)]
    [InlineData("TenOutputs", 3, 9, 20)]
    [InlineData("SevenOutputs", 4, 6, 13)]
    [InlineData("ThreeOutputsAfterBlocked", 2, 5, 9)]
    public void TransposedOutputLayersMatchTheReference(string name, int channels, int h, int w)
    {
        LayerSpec[] layers = name switch
        {
            "Stem" => [new ConvSpec(7, 7, 1, 16, Stride: 2, Pad: 3)],
            "ThreePixelTiles" => [new ConvSpec(3, 3, 8, 32, Pad: 1, Bias: false)],
            "Grouped" => [new ConvSpec(3, 3, 16, 16, Pad: 1, Groups: 2)],
            "PointwiseAfterBlocked" => [new ConvSpec(3, 3, 8, 16, Pad: 1), new ActivationSpec(RefActivationKind.Relu), new ConvSpec(1, 1, 16, 24)],
            "Dilated" => [new ConvSpec(3, 3, 8, 8, Pad: 2, Dilation: 2)],
            "TenOutputs" => [new ConvSpec(3, 3, 3, 10, Stride: 2, Pad: 1)],
            "SevenOutputs" => [new ConvSpec(3, 3, 4, 8, Pad: 1), new ActivationSpec(RefActivationKind.Relu), new ConvSpec(3, 3, 8, 7, Pad: 1)],
            _ => [new ConvSpec(3, 3, 2, 8, Pad: 1), new ActivationSpec(RefActivationKind.Tanh), new ConvSpec(1, 1, 8, 3)],
        };
        var spec = new NetworkSpec(name, channels, h, w, layers);
        var (code, network) = Generate(spec, $"ConvGen.Dynamic.Transposed{name}");
        Assert.Contains("stored transposed into NCHW", code);
        Assert.Contains("Masked(", code);
        if (spec.Output.C % 8 != 0) Assert.Contains($"Last{spec.Output.C % 8}(", code);
        string? failure = NetworkCheck.Check(network, spec, batch: 3, seed: 4300 + h)
            ?? GradientCheck.Check(network, spec, batch: 2, seed: 4400 + h, probes: 3)
            ?? GradientCheck.Check(network, spec, batch: 3, seed: 4500 + h, probes: 0);
        if (failure is not null) Assert.Fail(failure);
    }

    /// <summary>
    /// The fixed network cases written for the lane-sum backward-data kernel (and LeNet) do run it: without it, the
    /// finite differences above would check another kernel.
    /// </summary>
    [Fact]
    [Trait("Category", "Correctness")]
    public void LaneSumCasesRunTheLaneSumKernel()
    {
        var specs = RandomizedNetworkTests.Cases.Select(c => c.Spec).Where(s => RandomizedNetworkTests.LaneSumCases.Contains(s.Name)).ToList();
        Assert.Equal(10, specs.Count);
        var run = GeneratorHarness.Run(NetworkSpec.ToSource(specs, "ConvGen.Dynamic.LaneSum"));
        foreach (var spec in specs)
            Assert.Contains("Registers.LaneSums", run.Sources.Single(s => s.HintName.Contains(spec.Name, StringComparison.Ordinal)).Text);
    }

    [Fact]
    public void AtLeast200ConvConfigurationsAreChecked() => Assert.True(ConvCases().Count() >= 200, $"only {ConvCases().Count()} conv cases fit the budget");

    /// <summary>Multiply-adds of one reference forward per sample.</summary>
    private static long Cost(NetworkSpec spec)
    {
        long total = 0;
        var shapes = spec.Shapes();
        for (int i = 0; i < spec.Layers.Count; i++)
        {
            var o = shapes[i];
            total += spec.Layers[i] switch
            {
                ConvSpec conv => (long)o.C * o.H * o.W * (conv.In / conv.Groups) * conv.Kh * conv.Kw,
                LinearSpec linear => (long)linear.In * linear.Out,
                _ => o.Length,
            };
        }
        return total;
    }
}

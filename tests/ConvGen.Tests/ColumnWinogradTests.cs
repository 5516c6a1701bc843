using System;
using System.Linq;
using ConvGen.Tests.Backward;
using ConvGen.Tests.Infrastructure;
using ConvGen.Tests.Reference;
using Xunit;

namespace ConvGen.Tests;

/// <summary>
/// The kernel that runs Winograd F(2, k) down the columns of 5x5 and small 3x3 layers (each pair of output rows from
/// k + 1 transformed input rows, k + 1 one-row 1×k convolutions and the output transform) and of stride-2 7x7 layers
/// (F(2, 4) and F(2, 3) over the even and odd rows: 9 transformed rows and 9 one-row 1×7 convolutions), forward and
/// backward-data: against the float64 reference and by finite differences, on the layouts and edges it handles
/// differently, and its transformed weights kept up to date.
/// </summary>
[Trait("Category", "Correctness")]
[Collection(nameof(Sequential))] // sets Parallelism.MaxThreads, which is process-wide
public sealed class ColumnWinogradTests
{
    private const string Marker = ") down the columns";

    private static (string Code, INetwork Network, System.Reflection.Assembly Assembly) GenerateWithAssembly(NetworkSpec spec)
        => GeneratorHarness.GenerateNetwork(spec, "ConvGen.Dynamic.Columns");

    private static (string Code, INetwork Network) Generate(NetworkSpec spec)
    {
        var (code, network, _) = GenerateWithAssembly(spec);
        return (code, network);
    }

    public static TheoryData<string> Cases => new() { "LeNetConv2", "PlanarOverlap", "BlockedSigmoid", "Pooled", "Padded", "LastPartialBlock", "Small3x3", "Stem", "StemRelu", "Stride2Blocked", "TransposedOut", "OddRows", "OddRows3x3", "OddRowsStem", "StrideOneRuns" };

    /// <summary>
    /// LeNetConv2: the benchmark's shape (6→16 at 14×14, NCHW input, the last layer, so NCHW8c out and a copy to NCHW).
    /// LastPartialBlock: the same with 10 outputs (the copy takes 2 channels of the second block) and rows of 13.
    /// PlanarOverlap: NCHW rows of 17 (the transform's vectors at 0, 8 and 9, the last overlapping), 10 outputs (a
    /// partial second block), ReLU fused. BlockedSigmoid: NCHW8c input of 12 channels (two blocks, the second partial),
    /// 40 outputs (register tiles of 2, 2 and 1 blocks), rows of 13 (tiles of 5, 4 and 4 pixels), sigmoid fused.
    /// Pooled: LeNet's conv2 between a max pool and a ReLU + max pool (fused into its output transform when
    /// unrecorded). Padded: two "same" 5x5 layers (pad 2), each
    /// reading a zero-padded NCHW copy, the first of the NCHW input (3 channels), the second of a 32-channel NCHW8c tensor.
    /// Small3x3: F(2, 3) for 3x3 layers with too few channels for F(2×2, 3×3), padded (16→16, NCHW input) and not
    /// (16→24 at 12×12 → 10×10). BlockedSigmoid's first layer (3→12 3x3: 9 taps per one-row convolution) is left to
    /// the direct kernel. Stem: the stride-2 7x7 (F(2, 4) + F(2, 3)) on NCHW input, 3→64 with pad 3, rows of 64 outputs
    /// whose products (4 blocks × 9 rows) are cut into runs of the row (48 and 16 pixels), stored transposed into the
    /// caller's NCHW by the output transform. StemRelu: the same with ReLU and rows of 60 (runs of 30), which writes
    /// NCHW8c and copies it out. Stride2Blocked: the stride-2 7x7 unpadded on an NCHW8c input of 8 channels, 8→24
    /// (tiles of 3 blocks) with ReLU, 8×9 outputs. TransposedOut: a stride-1 5x5 last layer without activation, 16
    /// outputs in rows of 16, stored transposed into NCHW by the output transform. OddRows: LeNet's conv2 with 11 output
    /// rows (the last item a half pair). OddRows3x3: two 3x3 layers with 11 and 9 output rows, forward and backward-data
    /// (∂x with 11 rows). OddRowsStem: the stride-2 7x7 with 7 output rows of 16, stored transposed. StrideOneRuns: a
    /// stride-1 5x5 (16→32, rows of 100) whose products are cut into runs of 48 and 52 pixels (its backward-data's 6
    /// transformed rows of 32 channels × 108 would not fit on the stack: direct).
    /// </summary>
    private static NetworkSpec Spec(string name) => name switch
    {
        "LeNetConv2" => new(name, 6, 14, 14, [new ConvSpec(5, 5, 6, 16)]),
        "LastPartialBlock" => new(name, 9, 12, 17, [new ConvSpec(5, 5, 9, 10)]),
        "Small3x3" => new(name, 16, 12, 12,
            [new ConvSpec(3, 3, 16, 16, Pad: 1), new ActivationSpec(RefActivationKind.Relu), new ConvSpec(3, 3, 16, 24)]),
        "PlanarOverlap" => new(name, 9, 12, 17, [new ConvSpec(5, 5, 9, 10), new ActivationSpec(RefActivationKind.Relu)]),
        "BlockedSigmoid" => new(name, 3, 20, 17,
            [new ConvSpec(3, 3, 3, 12, Pad: 1), new ActivationSpec(RefActivationKind.Relu), new ConvSpec(5, 5, 12, 40), new ActivationSpec(RefActivationKind.Sigmoid)]),
        "Pooled" => new(name, 1, 28, 28,
            [new ConvSpec(5, 5, 1, 6, Pad: 2), new ActivationSpec(RefActivationKind.Relu), new PoolSpec(true, 2),
             new ConvSpec(5, 5, 6, 16), new ActivationSpec(RefActivationKind.Relu), new PoolSpec(true, 2)]),
        "Padded" => new(name, 3, 12, 10,
            [new ConvSpec(5, 5, 3, 32, Pad: 2), new ActivationSpec(RefActivationKind.Relu), new ConvSpec(5, 5, 32, 16, Pad: 2)]),
        "Stem" => new(name, 3, 16, 128, [new ConvSpec(7, 7, 3, 64, Stride: 2, Pad: 3)]),
        "StemRelu" => new(name, 3, 16, 120, [new ConvSpec(7, 7, 3, 64, Stride: 2, Pad: 3), new ActivationSpec(RefActivationKind.Relu)]),
        "Stride2Blocked" => new(name, 3, 21, 23,
            [new ConvSpec(3, 3, 3, 8, Pad: 1), new ActivationSpec(RefActivationKind.Relu), new ConvSpec(7, 7, 8, 24, Stride: 2), new ActivationSpec(RefActivationKind.Relu)]),
        "TransposedOut" => new(name, 12, 6, 16, [new ConvSpec(5, 5, 12, 16, Pad: 2)]),
        "OddRows" => new(name, 6, 15, 14, [new ConvSpec(5, 5, 6, 16)]),
        "OddRows3x3" => new(name, 16, 11, 12,
            [new ConvSpec(3, 3, 16, 16, Pad: 1), new ActivationSpec(RefActivationKind.Relu), new ConvSpec(3, 3, 16, 24)]),
        "OddRowsStem" => new(name, 3, 13, 32, [new ConvSpec(7, 7, 3, 16, Stride: 2, Pad: 3)]),
        "StrideOneRuns" => new(name, 16, 6, 104, [new ConvSpec(5, 5, 16, 32)]),
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void ForwardAndGradientsMatchTheReference(string name)
    {
        var spec = Spec(name);
        var (code, network) = Generate(spec);
        // Forward, and backward-data where ∂x (the layer's input) has at least 8 channels: Padded has two such layers
        // forward, and backward-data through the second; LeNet's conv2 has 6 inputs; both of Small3x3's have 16.
        // The stride-2 7x7 runs down the columns forward only (its backward-data runs by output phases).
        int kernels = name switch { "LeNetConv2" or "Pooled" or "Stem" or "StemRelu" or "Stride2Blocked" or "OddRows" or "OddRowsStem" or "StrideOneRuns" => 1, "TransposedOut" => 2, "Padded" => 3, "Small3x3" or "OddRows3x3" => 4, _ => 2 };
        Assert.Equal(kernels, code.Split(Marker).Length - 1);
        // A last layer without activation, whole blocks, rows of whole vectors: stored transposed by the output transform.
        Assert.Equal(name is "Stem" or "TransposedOut" or "OddRowsStem", code.Contains("Even(float* m, Vector256<float> bias)", StringComparison.Ordinal));
        Assert.Equal(name is "Pooled", code.Contains("OutputPooled(", StringComparison.Ordinal));
        // Runs of the row: one call of the output transform per tile and run.
        if (name is "Stem" or "StemRelu" or "StrideOneRuns") Assert.Contains("runs of the row", code);
        foreach (int threads in new[] { 1, 2 })
        {
            using var scope = new MaxThreadsScope(threads);
            string? failure = NetworkCheck.Check(network, spec, batch: 3, seed: 5100 + threads)
                ?? GradientCheck.Check(network, spec, batch: 2, seed: 5200 + threads, probes: 2);
            if (failure is not null) Assert.Fail($"{threads} thread(s): {failure}");
        }
    }

    /// <summary>
    /// A single output row, stride 2 on a 5x5, dilation, fewer than 8 outputs, a 7x7 window at stride 1, too few inputs:
    /// the direct kernels keep these layers; a 3x3 layer that F(2×2, 3×3) takes keeps that.
    /// </summary>
    [Theory]
    [InlineData(5, 6, 5, 14, 1, 1, 16)] // 1 output row
    [InlineData(5, 6, 15, 15, 2, 1, 16)] // stride 2
    [InlineData(5, 6, 16, 16, 1, 2, 16)] // dilation 2
    [InlineData(5, 1, 14, 14, 1, 1, 6)] // 6 outputs: along the rows
    [InlineData(7, 6, 16, 16, 1, 1, 16)] // 7x7 at stride 1
    [InlineData(7, 1, 16, 16, 2, 1, 16)] // 1 input to a stride-2 7x7 (ColumnMinInputs)
    [InlineData(3, 32, 10, 10, 1, 1, 32)] // F(2×2, 3×3)
    [InlineData(3, 4, 10, 10, 1, 1, 16)] // 4 inputs to a 3x3 (ColumnMinInputs)
    [InlineData(5, 1, 14, 14, 1, 1, 16)] // 1 input to a 5x5
    public void LayersItDoesNotFitKeepTheirKernels(int k, int inputs, int h, int w, int stride, int dilation, int outputs)
    {
        var spec = new NetworkSpec("Direct", inputs, h, w, [new ConvSpec(k, k, inputs, outputs, Stride: stride, Dilation: dilation)]);
        var (code, network) = Generate(spec);
        Assert.DoesNotContain(Marker, code);
        string? failure = NetworkCheck.Check(network, spec, batch: 2, seed: 5300 + k + h + stride + dilation);
        if (failure is not null) Assert.Fail(failure);
    }

    /// <summary>
    /// A weight written straight into <see cref="Parameter.Values"/> (the last of the packed weights) reaches the next
    /// Forward through the transformed weights: the same bits as a fresh instance given the same values, which transforms
    /// them from scratch; and writing the old value back gives the old output bit for bit.
    /// </summary>
    [Fact]
    public void OneWeightWrittenDirectlyIntoValuesIsUsedByTheNextForward()
    {
        var spec = Spec("LeNetConv2");
        var (_, network, assembly) = GenerateWithAssembly(spec);
        var x = NetworkCheck.RandomInput(new Random(5401), 2 * network.InputLength);
        float[] Run(INetwork net)
        {
            var y = new float[2 * net.OutputLength];
            net.Forward(x, y, 2);
            return y;
        }
        var before = Run(network);
        var values = network.Parameters[0].Values;
        int k = values.Length - 1;
        float old = values[k];
        values[k] = old + 0.5f;
        var after = Run(network);
        Assert.NotEqual(before, after);
        var fresh = GeneratorHarness.CreateNetwork(assembly, $"ConvGen.Dynamic.Columns.{spec.Name}", seed: 7);
        for (int p = 0; p < network.Parameters.Count; p++) network.Parameters[p].Values.CopyTo(fresh.Parameters[p].Values, 0);
        Assert.Equal(-1, NetworkCheck.FirstBitDifference(Run(fresh), after));
        values[k] = old;
        Assert.Equal(-1, NetworkCheck.FirstBitDifference(before, Run(network)));
    }

    [Fact]
    public void TransformedWeightsRejectShapesTheKernelDoesNotTake()
    {
        static Parameter Weight(int outChannels, int inChannels, int k)
            => new("weight", [outChannels, inChannels, k, k], ParameterLayout.ConvBlocked(outChannels, inChannels, 1, k, k));
        var error = Assert.Throws<ArgumentException>(() => WinogradWeights.ForConvColumns(Weight(16, 6, 7), 6));
        Assert.Contains("[16, 6, 7, 7]", error.Message);
        Assert.Throws<ArgumentException>(() => WinogradWeights.ForConvColumns(Weight(16, 6, 5), 8)); // not the layer's inputs
        error = Assert.Throws<ArgumentException>(() => WinogradWeights.ForConvColumnsDataGrad(Weight(16, 12, 4), 12));
        Assert.Contains("[16, 12, 4, 4]", error.Message);
        Assert.Throws<ArgumentException>(() => WinogradWeights.ForConvColumnsDataGrad(Weight(16, 12, 5), 16));
        // 10 outputs packed plainly (1,500 floats) where Refresh reads two whole blocks of 8 (2,400).
        error = Assert.Throws<ArgumentException>(() => WinogradWeights.ForConvColumns(new Parameter("plain", [10, 6, 5, 5], ParameterLayout.Vector(1500)), 6));
        Assert.Contains("2400", error.Message);
        // Stride 2 takes 7x7 only, and 7x7 needs stride 2; no other stride.
        error = Assert.Throws<ArgumentException>(() => WinogradWeights.ForConvColumns(Weight(16, 3, 5), 3, stride: 2));
        Assert.Contains("7x7", error.Message);
        Assert.Contains("stride 2", error.Message);
        Assert.NotNull(WinogradWeights.ForConvColumns(Weight(16, 3, 7), 3, stride: 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => WinogradWeights.ForConvColumns(Weight(16, 3, 7), 3, stride: 3));
    }
}

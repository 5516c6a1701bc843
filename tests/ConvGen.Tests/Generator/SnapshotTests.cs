using ConvGen.Tests.Infrastructure;
using Xunit;

namespace ConvGen.Tests.Generator;

/// <summary>
/// The generated source of representative networks, checked against *.verified.cs files beside this test.
/// A change to the emitter shows up here as a readable diff; accept it with CONVGEN_ACCEPT=1 after reading it.
/// </summary>
public class SnapshotTests
{
    private const string Usings = "using ConvGen;\nnamespace Snap;\n";

    [Fact]
    public void LeNet() => SnapshotHelper.Verify(GeneratorHarness.Run(Usings + """
        [Input(1, 28, 28)]
        [Conv(5, 5, pad: 2, @in: 1, @out: 6), Relu, MaxPool(2)]
        [Conv(5, 5, @in: 6, @out: 16), Relu, MaxPool(2)]
        [Flatten, Linear(400, 120), Relu, Linear(120, 84), Relu, Linear(84, 10)]
        public partial class LeNet;
        """));

    [Fact]
    public void PointwiseConv() => SnapshotHelper.Verify(GeneratorHarness.Run(Usings + """
        [Input(64, 7, 7)]
        [Conv(1, 1, @in: 64, @out: 32, bias: false)]
        public partial class Pointwise;
        """));

    [Fact]
    public void Stem7x7Stride2() => SnapshotHelper.Verify(GeneratorHarness.Run(Usings + """
        [Input(3, 32, 32)]
        [Conv(7, 7, stride: 2, pad: 3, @in: 3, @out: 16), Relu]
        public partial class Stem;
        """));

    /// <summary>
    /// A last layer with few output channels on NCHW input (an image-to-image head): the planar-output kernel writes the
    /// caller's NCHW with its bias and sigmoid, no NCHW8c tensor and no output copy; Backward first puts ∂Z into NCHW8c.
    /// </summary>
    [Fact]
    public void PlanarOutputHead() => SnapshotHelper.Verify(GeneratorHarness.Run(Usings + """
        [Input(2, 12, 12)]
        [Conv(3, 3, pad: 1, @in: 2, @out: 3), Sigmoid]
        public partial class Head;
        """));

    /// <summary>
    /// A 3x3 layer the Winograd kernel runs (32 → 32, rows of 3 tiles), on the network's NCHW input: the zero-padded
    /// NCHW8c grid written by pairs of rows, the input transform, the 16 products per register tile, the output
    /// transform with the fused ReLU, the scalar twin, and the transformed weights refreshed by Forward.
    /// </summary>
    [Fact]
    public void Winograd3x3() => SnapshotHelper.Verify(GeneratorHarness.Run(Usings + """
        [Input(32, 4, 6)]
        [Conv(3, 3, pad: 1, @in: 32, @out: 32), Relu]
        public partial class Winograd;
        """));

    /// <summary>
    /// A Winograd layer whose transformed weights (128 × 160 × 16 floats) are over 1 MiB: work items by groups of 32
    /// output channels, the sample's transformed input in a per-thread buffer; its backward-data kernel too.
    /// </summary>
    [Fact]
    public void Winograd3x3ByGroups() => SnapshotHelper.Verify(GeneratorHarness.Run(Usings + """
        [Input(128, 2, 2)]
        [Conv(3, 3, pad: 1, @in: 128, @out: 160)]
        public partial class WinogradByGroups;
        """));

    /// <summary>The everyday 3x3 same-padding layer, twice: the forward kernels and each backward-data kernel read their input through zero-padded views.</summary>
    [Fact]
    public void Conv3x3Same() => SnapshotHelper.Verify(GeneratorHarness.Run(Usings + """
        [Input(16, 10, 10)]
        [Conv(3, 3, pad: 1, @in: 16, @out: 16), Relu]
        [Conv(3, 3, pad: 1, @in: 16, @out: 8)]
        public partial class Same;
        """));

    [Fact]
    public void Depthwise3x3() => SnapshotHelper.Verify(GeneratorHarness.Run(Usings + """
        [Input(16, 9, 9)]
        [Conv(3, 3, pad: 1, @in: 16, @out: 16, groups: 16), Relu]
        public partial class Depthwise;
        """));

    [Fact]
    public void DilatedConv() => SnapshotHelper.Verify(GeneratorHarness.Run(Usings + """
        [Input(8, 11, 11)]
        [Conv(3, 3, dilation: 2, pad: 2, @in: 8, @out: 8), Tanh, GlobalAvgPool, Flatten]
        public partial class Dilated;
        """));

    [Fact]
    public void BrokenNetworks() => SnapshotHelper.Verify(GeneratorHarness.Run(Usings + """
        [Input(1, 28, 28)]
        [Conv(5, 5, @in: 3, @out: 6)]
        public partial class WrongChannels;

        [Input(1, 28, 28)]
        [Conv(5, 5, @in: 1, @out: 6), MaxPool(2), Flatten, Linear(1000, 10)]
        public partial class WrongFlatten;

        [Input(3, 8, 8)]
        [Conv(9, 9, @in: 3, @out: 4)]
        public partial class TooSmall;

        [Input(1, 8, 8)]
        public class NotPartial;
        """));
}

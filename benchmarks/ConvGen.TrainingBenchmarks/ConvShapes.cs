using System;
using System.Collections.Generic;

namespace ConvGen.TrainingBenchmarks;

/// <summary>
/// One convolution whose Backward is timed: its geometry (the numbers of the network's attributes, repeated so the
/// harness can count work, compute the reference gradients and describe the shape to the PyTorch peer) and a factory.
/// </summary>
public sealed record ConvShape(
    string Id, string Network, int Batch,
    int InChannels, int Height, int Width, int OutChannels,
    int Kernel, int Stride, int Pad, int Groups,
    Func<INetwork> Create)
{
    /// <summary>Output height, PyTorch's floor rule.</summary>
    public int OutHeight => (Height + 2 * Pad - Kernel) / Stride + 1;

    /// <summary>Output width.</summary>
    public int OutWidth => (Width + 2 * Pad - Kernel) / Stride + 1;

    /// <summary>Input channels each output channel reads.</summary>
    public int InPerGroup => InChannels / Groups;

    /// <summary>Floats of one input sample.</summary>
    public int InputLength => InChannels * Height * Width;

    /// <summary>Floats of one output sample.</summary>
    public int OutputLength => OutChannels * OutHeight * OutWidth;

    /// <summary>Floats of the weight tensor, PyTorch layout [Cout][Cin/g][K][K].</summary>
    public int WeightLength => OutChannels * InPerGroup * Kernel * Kernel;

    /// <summary>Multiply-accumulates of the forward pass over the whole batch: N·Cout·OH·OW·(Cin/g)·K².</summary>
    public long Macs => (long)Batch * OutChannels * OutHeight * OutWidth * InPerGroup * Kernel * Kernel;

    /// <summary>FLOP of one backward part (data, or weights): 2·MACs of the forward; bias gradients not counted.</summary>
    public double PartFlops => 2.0 * Macs;

    /// <summary>e.g. <c>64→64 3x3 s1 p1 @56×56</c>.</summary>
    public string Geometry =>
        $"{InChannels}→{OutChannels} {Kernel}x{Kernel}{(Stride > 1 ? $" s{Stride}" : "")}{(Pad > 0 ? $" p{Pad}" : "")}{(Groups > 1 ? $" g{Groups}" : "")} @{Height}×{Width}{(Batch > 1 ? $", N={Batch}" : "")}";

    /// <summary>The shapes of the brief, (a)–(h).</summary>
    public static IReadOnlyList<ConvShape> All { get; } =
    [
        new("a", nameof(Back3x3C64S56), 1, 64, 56, 56, 64, 3, 1, 1, 1, () => new Back3x3C64S56(1)),
        new("b", nameof(Back3x3C128S28), 1, 128, 28, 28, 128, 3, 1, 1, 1, () => new Back3x3C128S28(1)),
        new("c", nameof(Back3x3C256S14), 1, 256, 14, 14, 256, 3, 1, 1, 1, () => new Back3x3C256S14(1)),
        new("d", nameof(BackStem7x7), 1, 3, 224, 224, 64, 7, 2, 3, 1, () => new BackStem7x7(1)),
        new("e", nameof(Back1x1C64To256S56), 1, 64, 56, 56, 256, 1, 1, 0, 1, () => new Back1x1C64To256S56(1)),
        new("f", nameof(BackLeNetConv1), 64, 1, 28, 28, 6, 5, 1, 2, 1, () => new BackLeNetConv1(1)),
        new("g", nameof(BackLeNetConv2), 64, 6, 14, 14, 16, 5, 1, 0, 1, () => new BackLeNetConv2(1)),
        new("h", nameof(BackDepthwise3x3C32S112), 1, 32, 112, 112, 32, 3, 1, 1, 32, () => new BackDepthwise3x3C32S112(1)),
    ];
}

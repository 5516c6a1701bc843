using System;
using System.Collections.Generic;

namespace ConvGen.Benchmarks;

/// <summary>
/// One benchmarked convolution: its geometry (the numbers of the network's attributes, repeated so the harness can
/// count work, compute the float64 reference and describe the shape to the peers), the batch it runs at, and the
/// generated network that computes it.
/// </summary>
public sealed record ConvShape(
    string Id, Type Network, int Batch,
    int InChannels, int Height, int Width, int OutChannels,
    int Kernel, int Stride, int Pad, int Groups)
{
    /// <summary>A fresh instance of <see cref="Network"/> (seed 1).</summary>
    public INetwork Create() => (INetwork)Activator.CreateInstance(Network, 1)!;

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

    /// <summary>
    /// FLOP of each of forward, backward-data and backward-weights: 2·MACs (the three do the same multiply-adds);
    /// bias and bias gradient not counted.
    /// </summary>
    public double Flops => 2.0 * Macs;

    /// <summary>e.g. <c>64→64 3x3 p1 @56×56</c>.</summary>
    public string Geometry =>
        $"{InChannels}→{OutChannels} {Kernel}x{Kernel}{(Stride > 1 ? $" s{Stride}" : "")}{(Pad > 0 ? $" p{Pad}" : "")}{(Groups > 1 ? $" g{Groups}" : "")} @{Height}×{Width}{(Batch > 1 ? $", N={Batch}" : "")}";

    /// <summary>The issue's shapes, (a)–(h), then a–c at batch 32.</summary>
    public static IReadOnlyList<ConvShape> All { get; } =
    [
        new("a", typeof(Conv3x3_64_56), 1, 64, 56, 56, 64, 3, 1, 1, 1),
        new("b", typeof(Conv3x3_128_28), 1, 128, 28, 28, 128, 3, 1, 1, 1),
        new("c", typeof(Conv3x3_256_14), 1, 256, 14, 14, 256, 3, 1, 1, 1),
        new("d", typeof(Conv7x7_3_64_224), 1, 3, 224, 224, 64, 7, 2, 3, 1),
        new("e", typeof(Conv1x1_64_256_56), 1, 64, 56, 56, 256, 1, 1, 0, 1),
        new("f", typeof(LeNetConv1), 64, 1, 28, 28, 6, 5, 1, 2, 1),
        new("g", typeof(LeNetConv2), 64, 6, 14, 14, 16, 5, 1, 0, 1),
        new("h", typeof(Depthwise3x3_32_112), 1, 32, 112, 112, 32, 3, 1, 1, 32),
        new("a32", typeof(Conv3x3_64_56), 32, 64, 56, 56, 64, 3, 1, 1, 1),
        new("b32", typeof(Conv3x3_128_28), 32, 128, 28, 28, 128, 3, 1, 1, 1),
        new("c32", typeof(Conv3x3_256_14), 32, 256, 14, 14, 256, 3, 1, 1, 1),
    ];
}

using System;
using System.Collections.Generic;

namespace ConvGen.Benchmarks;

/// <summary>
/// One benchmarked convolution: the geometry (the same numbers as the network's attributes, repeated here so the
/// harness can count work, build the reference and describe the shape to the PyTorch peer) and a factory.
/// </summary>
public sealed record BenchShape(
    string Id, string Name, int Batch,
    int InChannels, int Height, int Width, int OutChannels,
    int Kernel, int Stride, int Pad, int Groups,
    Func<INetwork> Create)
{
    /// <summary>Output height (PyTorch floor rule).</summary>
    public int OutHeight => (Height + 2 * Pad - Kernel) / Stride + 1;

    /// <summary>Output width.</summary>
    public int OutWidth => (Width + 2 * Pad - Kernel) / Stride + 1;

    /// <summary>Floats per input sample.</summary>
    public int InputLength => InChannels * Height * Width;

    /// <summary>Floats per output sample.</summary>
    public int OutputLength => OutChannels * OutHeight * OutWidth;

    /// <summary>Multiply-accumulates of one forward pass over the whole batch: N·Cout·OH·OW·(Cin/groups)·KH·KW.</summary>
    public long Macs => (long)Batch * OutChannels * OutHeight * OutWidth * (InChannels / Groups) * Kernel * Kernel;

    /// <summary>Floating-point operations counted as 2·MACs (bias adds not counted).</summary>
    public double Flops => 2.0 * Macs;

    /// <summary>Short human description, e.g. <c>64→64 3x3 s1 p1 @56×56</c>.</summary>
    public string Geometry =>
        $"{InChannels}→{OutChannels} {Kernel}x{Kernel} s{Stride} p{Pad}{(Groups > 1 ? $" g{Groups}" : "")} @{Height}×{Width}";

    /// <summary>The shapes the brief asks for, in its order (a)–(h).</summary>
    public static IReadOnlyList<BenchShape> All { get; } =
    [
        new("a", "Conv3x3_64_56", 1, 64, 56, 56, 64, 3, 1, 1, 1, () => new Conv3x3_64_56()),
        new("b", "Conv3x3_128_28", 1, 128, 28, 28, 128, 3, 1, 1, 1, () => new Conv3x3_128_28()),
        new("c", "Conv3x3_256_14", 1, 256, 14, 14, 256, 3, 1, 1, 1, () => new Conv3x3_256_14()),
        new("d", "Conv7x7_3_64_224", 1, 3, 224, 224, 64, 7, 2, 3, 1, () => new Conv7x7_3_64_224()),
        new("e", "Conv1x1_64_256_56", 1, 64, 56, 56, 256, 1, 1, 0, 1, () => new Conv1x1_64_256_56()),
        new("f", "LeNetConv1", 64, 1, 28, 28, 6, 5, 1, 2, 1, () => new LeNetConv1()),
        new("g", "LeNetConv2", 64, 6, 14, 14, 16, 5, 1, 0, 1, () => new LeNetConv2()),
        new("h", "Depthwise3x3_32_112", 1, 32, 112, 112, 32, 3, 1, 1, 32, () => new Depthwise3x3_32_112()),
    ];
}

using System;
using System.Linq;
using System.Text.RegularExpressions;
using ConvGen.Tests.Backward;
using ConvGen.Tests.Infrastructure;
using ConvGen.Tests.Reference;
using Xunit;

namespace ConvGen.Tests;

/// <summary>
/// The NCHW8c → NCHW copies and the pools that follow a kernel split by rows go by rows too (CopyStep.ByRows: one work
/// item per row of every block; PoolStep.ByRows: items in the order of the rows), and the others keep their split by
/// blocks: which steps take which split, and their results against the float64 reference and by finite differences at
/// 1 and 2 threads (at 2, each thread takes other rows).
/// </summary>
[Trait("Category", "Correctness")]
[Collection(nameof(Sequential))] // sets Parallelism.MaxThreads, which is process-wide
public sealed class SplitByRowsTests
{
    private const string RowsMarker = "one row of every block per item";
    private const string PoolRowsMarker = "// by rows, as the step before";
    private const string Namespace = "ConvGen.Dynamic.CopyRows";

    /// <summary>
    /// Winograd: a 3x3 F(2×2, 3×3) layer (32→32 at 8×12: 4 blocks, 8 rows); its output copy and its backward-data's
    /// ∂x copy go by rows. PartialBlock: a direct 3x3 layer with one register tile (12→12, rows of 13: the second block
    /// of ∂x takes 4 channels, and the last 8 columns overlap the 8 before); it writes its NCHW output itself (the
    /// output copy, NCHW to NCHW and then skipped, keeps one item per channel), and its ∂x copy goes by rows.
    /// ChannelTiles: a direct 3x3 layer with 64 outputs and ReLU, split by tiles of output blocks before rows, so its
    /// output copy keeps one item per block (8); its backward-data kernel (8 outputs) runs by rows, and so does the ∂x
    /// copy after it. StemPool: the stride-2 7x7 down the columns with ReLU, then a 3x3 stride-2 max pool by rows (and
    /// the output copy after it); ChannelTilesPool: ChannelTiles with that pool, by blocks (and its output copy).
    /// </summary>
    private static NetworkSpec Spec(string name) => name switch
    {
        "Winograd" => new(name, 32, 8, 12, [new ConvSpec(3, 3, 32, 32, Pad: 1)]),
        "PartialBlock" => new(name, 12, 9, 13, [new ConvSpec(3, 3, 12, 12, Pad: 1)]),
        "ChannelTiles" => new(name, 8, 9, 13, [new ConvSpec(3, 3, 8, 64, Pad: 1), new ActivationSpec(RefActivationKind.Relu)]),
        "StemPool" => new(name, 3, 32, 40, [new ConvSpec(7, 7, 3, 16, Stride: 2, Pad: 3), new ActivationSpec(RefActivationKind.Relu), new PoolSpec(true, 3, 2, 1)]),
        "ChannelTilesPool" => new(name, 8, 9, 13, [new ConvSpec(3, 3, 8, 64, Pad: 1), new ActivationSpec(RefActivationKind.Relu), new PoolSpec(true, 3, 2, 1)]),
        _ => throw new ArgumentException(name),
    };

    /// <summary>The work items of the copy step described as <paramref name="purpose"/> (null: there is none).</summary>
    private static string? CopyItems(string code, string purpose)
    {
        var match = Regex.Match(code, @"Parallelism\.For\((batch \* \d+), &\w+, &?frame, itemNanoseconds: [\d.]+\); // " + Regex.Escape(purpose) + "$", RegexOptions.Multiline);
        return match.Success ? match.Groups[1].Value : null;
    }

    [Theory]
    [InlineData("Winograd", "batch * 8", "batch * 8")]
    [InlineData("PartialBlock", "batch * 12", "batch * 9")]
    [InlineData("ChannelTiles", "batch * 8", "batch * 9")]
    [InlineData("StemPool", "batch * 8", null)]
    [InlineData("ChannelTilesPool", "batch * 8", "batch * 9")]
    public void StepsAfterRowSplitKernelsGoByRows(string name, string outputItems, string? inputGradientItems)
    {
        var spec = Spec(name);
        var (code, network, _) = GeneratorHarness.GenerateNetwork(spec, Namespace);
        Assert.Equal(outputItems, CopyItems(code, "output"));
        Assert.Equal(inputGradientItems, CopyItems(code, "gradient into its tensor's layout"));
        Assert.Contains(RowsMarker, code);
        Assert.Equal(name == "StemPool", code.Contains(PoolRowsMarker, StringComparison.Ordinal));
        foreach (int threads in new[] { 1, 2 })
        {
            using var scope = new MaxThreadsScope(threads);
            string? failure = NetworkCheck.Check(network, spec, batch: 3, seed: 7100 + threads)
                ?? GradientCheck.Check(network, spec, batch: 2, seed: 7200 + threads, probes: 2);
            if (failure is not null) Assert.Fail($"{threads} thread(s): {failure}");
        }
    }

    /// <summary>
    /// A direct layer whose tiles of output blocks go fastest (more than one tile, an input above 1 MiB: 64→64 3x3 with
    /// dilation 2 at 72×72) runs its items down the rows too, so the pool and the copy after it go by rows. The code only:
    /// the steps' arithmetic is the one the cases above check.
    /// </summary>
    [Fact]
    public void DirectKernelWithTilesFastestCountsAsSplitByRows()
    {
        var spec = new NetworkSpec("TilesFastest", 64, 72, 72,
            [new ConvSpec(3, 3, 64, 64, Pad: 2, Dilation: 2), new ActivationSpec(RefActivationKind.Relu), new PoolSpec(true, 2)]);
        string code = GeneratorHarness.RunNetwork(spec, Namespace).Code;
        Assert.Contains("int tile = item % ", code); // the tiles of one output row follow each other
        Assert.Contains(PoolRowsMarker, code);
        Assert.Equal("batch * 36", CopyItems(code, "output"));
    }
}

using System;
using System.Collections.Generic;
using System.Linq;
using ConvGen.Tests.Infrastructure;
using ConvGen.Tests.Reference;
using Xunit;

namespace ConvGen.Tests;

/// <summary>
/// A first layer with few output channels (LeNet's conv1), or a layer the column Winograd kernel runs (LeNet's conv2),
/// followed by a 2x2 max pool runs, in an unrecorded Forward, as one kernel that pools in its epilogue; a recorded
/// Forward still runs the convolution and the pool apart, as Backward reads the convolution's output. Both must agree
/// with the float64 reference, and with each other bit for bit (AVX2 or the scalar twins): the max picks one of the
/// same sums, and ReLU commutes with it exactly. Where a row of W = 8k + 4 pixels ends in half a vector, the fused
/// kernel runs a pooled row's two convolution rows as one run of whole vectors, one of them across the two rows ("row
/// pairs"), the lanes past either end of a row masked off; each case says which kernel it expects.
/// </summary>
[Collection(nameof(Sequential))] // sets Parallelism.MaxThreads, which is process-wide
[Trait("Category", "Correctness")]
public sealed class FusedPoolTests
{
    [Flags]
    private enum Kernel { Unfused = 0, RowByRow = 1, RowPairs = 2, Column = 4 }

    private static readonly Dictionary<string, (NetworkSpec Spec, Kernel Kernel)> Networks = new()
    {
        // LeNet's conv1: rows of 28, a pair of rows 7 vectors (6 channels as 3 × 4 and 3 × 3 tiles); the first and last
        // pooled rows, whose two rows take different kernel rows, row by row in two tiles of two vectors, the second
        // overlapping (columns 16 and 20).
        ["LeNetConv1"] = (new NetworkSpec("LeNetConv1", 1, 28, 28,
            [new ConvSpec(5, 5, 1, 6, Pad: 2), new ActivationSpec(RefActivationKind.Relu), new PoolSpec(true, 2)]), Kernel.RowPairs),
        // Row pairs of 40 pixels (4 channels × 3 and × 2 vectors), 2 inputs, an odd height, no bias.
        ["PairsOddRows"] = (new NetworkSpec("PairsOddRows", 2, 11, 20,
            [new ConvSpec(3, 3, 2, 4, Pad: 1, Bias: false), new ActivationSpec(RefActivationKind.Relu), new PoolSpec(true, 2)]), Kernel.RowPairs),
        // Row pairs of 6 channels as three groups of 2 × 5 vectors; then more layers.
        ["PairsThreeGroups"] = (new NetworkSpec("PairsThreeGroups", 1, 12, 20,
            [new ConvSpec(5, 5, 1, 6, Pad: 2), new ActivationSpec(RefActivationKind.Relu), new PoolSpec(true, 2),
             new ConvSpec(3, 3, 6, 8), new ActivationSpec(RefActivationKind.Relu)]), Kernel.RowPairs),
        // A 7x7 kernel: taps reach 3 columns past either end of a row, and the first two pooled rows' rows take
        // different kernel rows (row by row), as do the last two.
        ["PairsWide7"] = (new NetworkSpec("PairsWide7", 1, 12, 20,
            [new ConvSpec(7, 7, 1, 6, Pad: 3), new ActivationSpec(RefActivationKind.Relu), new PoolSpec(true, 2)]), Kernel.RowPairs),
        // Row by row though 44 = 8·5 + 4: the 4 columns saved in 48 no longer cover the pass through memory, and
        // the tiles with most accumulators would hold one channel each (1 × 11), which ran 1.4× slower.
        ["WideRowStaysRowByRow"] = (new NetworkSpec("WideRowStaysRowByRow", 1, 8, 44,
            [new ConvSpec(5, 5, 1, 6, Pad: 2), new ActivationSpec(RefActivationKind.Relu), new PoolSpec(true, 2)]), Kernel.RowByRow),
        // Row pairs without zero rows to skip: every pooled row's two rows take all kernel rows, so no item runs row by
        // row (a kernel one column wide: NCHW rows of 20 follow each other).
        ["PairsEveryRow"] = (new NetworkSpec("PairsEveryRow", 1, 14, 20,
            [new ConvSpec(9, 1, 1, 6), new ActivationSpec(RefActivationKind.Relu), new PoolSpec(true, 2)]), Kernel.RowPairs),
        // Row by row though 20 = 8·2 + 4: the row tiles of 2 outputs × 3 vectors split their sums over a second set of
        // accumulators (even and odd inputs), which row pairs would not, and the recorded Forward would differ in the last bit.
        ["PairsWouldSplitSums"] = (new NetworkSpec("PairsWouldSplitSums", 2, 8, 20,
            [new ConvSpec(3, 3, 2, 2, Pad: 1), new ActivationSpec(RefActivationKind.Relu), new PoolSpec(true, 2)]), Kernel.RowByRow),
        // No activation; 5 outputs.
        ["Linear5"] = (new NetworkSpec("Linear5", 3, 16, 16, [new ConvSpec(3, 3, 3, 5, Pad: 1), new PoolSpec(true, 2)]), Kernel.RowByRow),
        // 15 rows: the pool drops the last; rows of 20 end in a tile of one vector (column 12) that pairs with itself.
        ["OddRows"] = (new NetworkSpec("OddRows", 2, 15, 20,
            [new ConvSpec(3, 3, 2, 6, Pad: 1), new ActivationSpec(RefActivationKind.Relu), new PoolSpec(true, 2)]), Kernel.RowByRow),
        // 3 outputs take tiles of 4 vectors: two pooled vectors per tile; then more layers after the pool.
        ["Wide3"] = (new NetworkSpec("Wide3", 1, 32, 32,
            [new ConvSpec(3, 3, 1, 3, Pad: 1), new ActivationSpec(RefActivationKind.Relu), new PoolSpec(true, 2),
             new ConvSpec(3, 3, 3, 8), new ActivationSpec(RefActivationKind.Relu)]), Kernel.RowByRow),
        // No padding (no masked loads, every kernel row), no bias; rows of 14: vectors at 0 and 6.
        ["Unpadded"] = (new NetworkSpec("Unpadded", 1, 12, 16,
            [new ConvSpec(3, 3, 1, 6, Bias: false), new ActivationSpec(RefActivationKind.Relu), new PoolSpec(true, 2)]), Kernel.RowByRow),
        // After a planar depthwise layer the conv reads buffer A, where the pool's output would go while later rows
        // still read it: the pool's output takes the conv's own buffer B instead, which the fused kernel leaves unwritten.
        ["AfterDepthwise"] = (new NetworkSpec("AfterDepthwise", 2, 16, 16,
            [new ConvSpec(3, 3, 2, 2, Pad: 1, Groups: 2), new ConvSpec(3, 3, 2, 6, Pad: 1), new ActivationSpec(RefActivationKind.Relu), new PoolSpec(true, 2)]), Kernel.RowByRow),
        // LeNet's conv2 (column Winograd F(2, 5)), after conv1 and its pool (row pairs): it reads buffer B, and its
        // pool's output takes its own buffer A; then more layers.
        ["LeNetConv2"] = (new NetworkSpec("LeNetConv2", 1, 28, 28,
            [new ConvSpec(5, 5, 1, 6, Pad: 2), new ActivationSpec(RefActivationKind.Relu), new PoolSpec(true, 2),
             new ConvSpec(5, 5, 6, 16), new ActivationSpec(RefActivationKind.Relu), new PoolSpec(true, 2),
             new FlattenSpec(), new LinearSpec(400, 10)]), Kernel.RowPairs | Kernel.Column),
        // Column Winograd F(2, 3) on a padded grid, no bias, no activation, 24 outputs (tiles of 2 blocks and 1).
        ["Column3x3"] = (new NetworkSpec("Column3x3", 16, 12, 20,
            [new ConvSpec(3, 3, 16, 24, Pad: 1, Bias: false), new PoolSpec(true, 2)]), Kernel.Column),
        // The stride-2 7x7 by F(2, 4) + F(2, 3): 12×12 outputs.
        ["ColumnStride2"] = (new NetworkSpec("ColumnStride2", 2, 24, 24,
            [new ConvSpec(7, 7, 2, 8, Stride: 2, Pad: 3), new ActivationSpec(RefActivationKind.Relu), new PoolSpec(true, 2)]), Kernel.Column),
        // Rows of 94 pixels, whose products (4 blocks) do not fit in one run: cut at pixel 48, where unpooled rows are cut
        // at 45 (a tile of 3 starts there, but a pooled window would straddle the cut).
        ["ColumnRuns"] = (new NetworkSpec("ColumnRuns", 2, 8, 98,
            [new ConvSpec(5, 5, 2, 32), new ActivationSpec(RefActivationKind.Relu), new PoolSpec(true, 2)]), Kernel.Column),
        // 12 outputs (lanes past them in the second block), 5x5 with pad 1 (a zero-padded copy), no bias.
        ["Column12"] = (new NetworkSpec("Column12", 2, 14, 14,
            [new ConvSpec(5, 5, 2, 12, Pad: 1, Bias: false), new ActivationSpec(RefActivationKind.Relu), new PoolSpec(true, 2)]), Kernel.Column),
        // A column layer reading buffer A (the direct 3x3's output), 20 outputs; a ReLU after the pool, in the pool's
        // buffer, and a layer after it.
        ["ColumnChain"] = (new NetworkSpec("ColumnChain", 3, 20, 18,
            [new ConvSpec(3, 3, 3, 8, Pad: 1), new ActivationSpec(RefActivationKind.Relu),
             new ConvSpec(5, 5, 8, 20), new ActivationSpec(RefActivationKind.Relu), new PoolSpec(true, 2), new ActivationSpec(RefActivationKind.Relu),
             new ConvSpec(3, 3, 20, 8, Pad: 1), new ActivationSpec(RefActivationKind.Relu)]), Kernel.Column),
        // Not fused: 11 rows end with a half pair (the pool drops the last row).
        ["ColumnOddRows"] = (new NetworkSpec("ColumnOddRows", 6, 15, 14,
            [new ConvSpec(5, 5, 6, 16), new ActivationSpec(RefActivationKind.Relu), new PoolSpec(true, 2)]), Kernel.Unfused),
        // Not fused: a sigmoid commutes with the max only as far as its approximation is monotone; an odd width would
        // leave a vector starting on an odd column; a pool of 3.
        ["SigmoidAfter"] = (new NetworkSpec("SigmoidAfter", 1, 16, 16,
            [new ConvSpec(3, 3, 1, 6, Pad: 1), new ActivationSpec(RefActivationKind.Sigmoid), new PoolSpec(true, 2)]), Kernel.Unfused),
        ["OddWidth"] = (new NetworkSpec("OddWidth", 1, 16, 17,
            [new ConvSpec(3, 3, 1, 6, Pad: 1), new ActivationSpec(RefActivationKind.Relu), new PoolSpec(true, 2)]), Kernel.Unfused),
        ["Pool3"] = (new NetworkSpec("Pool3", 1, 18, 18,
            [new ConvSpec(3, 3, 1, 6, Pad: 1), new ActivationSpec(RefActivationKind.Relu), new PoolSpec(true, 3)]), Kernel.Unfused),
    };

    public static IEnumerable<object[]> Names() => Networks.Keys.Select(k => new object[] { k });

    private static readonly Lazy<CompiledNetworks> Compiled = new(() => new CompiledNetworks(Networks.Values.Select(n => n.Spec).ToList(), "ConvGen.Dynamic.FusedPool"));

    [Theory]
    [MemberData(nameof(Names))]
    public void UnrecordedForwardPoolsInTheEpilogueAndMatchesTheRecordedOne(string name)
    {
        var (spec, kernel) = Networks[name];
        string code = GeneratorHarness.RunNetwork(spec, "ConvGen.Dynamic.FusedPoolSource").Code;
        Assert.Equal(kernel != Kernel.Unfused, code.Contains("Pooled(", StringComparison.Ordinal));
        Assert.Equal(kernel.HasFlag(Kernel.RowPairs), code.Contains("PairTile", StringComparison.Ordinal));
        Assert.Equal(kernel.HasFlag(Kernel.Column), code.Contains("OutputPooled(", StringComparison.Ordinal));

        var network = Compiled.Value.Create(name, seed: 5);
        foreach (int threads in new[] { 1, 2, 3 })
        {
            using var scope = new MaxThreadsScope(threads); // which clears the measured hand-off, so these small batches split
            string? failure = NetworkCheck.Check(network, spec, batch: 3, seed: 40 + threads);
            if (failure is not null) Assert.Fail($"{threads} thread(s): {failure}");

            var x = NetworkCheck.RandomInput(new Random(7), 3 * network.InputLength);
            var recorded = new float[3 * network.OutputLength];
            var unrecorded = new float[recorded.Length];
            network.RecordForBackward = true;
            network.Forward(x, recorded, 3);
            network.RecordForBackward = false;
            Parallelism.HandOffNanoseconds = 0; // measured again by the runs since the scope cleared it
            network.Forward(x, unrecorded, 3);
            network.RecordForBackward = true;
            // The scalar twins (no AVX2) add the taps in the same order too.
            int differs = NetworkCheck.FirstBitDifference(recorded, unrecorded);
            if (differs >= 0)
                Assert.Fail($"{name}, {threads} thread(s): the unrecorded Forward gives {unrecorded[differs]:R} at output {differs}, the recorded one {recorded[differs]:R}");
        }
    }
}

using System.Linq;
using System.Text.RegularExpressions;
using ConvGen.Tests.Infrastructure;
using Xunit;

namespace ConvGen.Tests.Backward;

/// <summary>
/// The register tile the generator picks for a convolution's weight gradient (<c>WeightGradTile</c>): the most
/// independent FMA chains up to 12, a tile of 6 or fewer accumulators counting twice (its odd-pixel set), whole kernel
/// rows before column ranges. The expected tiles follow from that rule by hand; the kernels' numbers are checked
/// against the float64 reference and finite differences elsewhere (GradientCheckTests, RandomizedConvTests).
/// </summary>
public sealed class WeightGradTileTests
{
    [Theory]
    // The ResNet stem: whole rows keep 1 block × 7 taps (7 chains); ranges of 2 taps (2, 2, 2, then 1 with the odd-pixel
    // set) fit 2 blocks × 3 input channels, 12 chains in every range.
    [InlineData("[Input(3, 40, 40)] [Conv(7, 7, stride: 2, pad: 3, @in: 3, @out: 64)]", "16 outputs × 3 input channel(s) × 1 kernel row(s) × up to 2 of the 7 columns: 12 accumulators")]
    // AlexNet's first layer: 1 block × 11 taps would keep 11 chains.
    [InlineData("[Input(3, 63, 63)] [Conv(11, 11, stride: 4, pad: 2, @in: 3, @out: 64)]", "16 outputs × 3 input channel(s) × 1 kernel row(s) × up to 2 of the 11 columns: 12 accumulators")]
    // 6→16 5x5 on NCHW: 2 blocks × 5 taps keep 10 chains; ranges 2, 2, 1 keep 12.
    [InlineData("[Input(6, 14, 14)] [Conv(5, 5, @in: 6, @out: 16)]", "16 outputs × 3 input channel(s) × 1 kernel row(s) × up to 2 of the 5 columns: 12 accumulators")]
    // 3→16 3x3: 1 block × 3 rows × 3 taps has more accumulators (9), but 2 blocks × 3 taps with the odd-pixel set has
    // more chains (12), and whole rows win over ranges with as many.
    [InlineData("[Input(3, 32, 32)] [Conv(3, 3, pad: 1, @in: 3, @out: 16)]", "16 outputs × 1 input channel(s) × 1 kernel row(s) × 3: 6 accumulators")]
    // LeNet's conv2 reads NCHW8c: a tile's inputs share a block of 8 and divide 6, so no tile has more than 10 chains.
    [InlineData("[Input(1, 28, 28)] [Conv(5, 5, pad: 2, @in: 1, @out: 6), Relu, MaxPool(2)] [Conv(5, 5, @in: 6, @out: 16)]", "16 outputs × 1 input channel(s) × 1 kernel row(s) × 5: 10 accumulators")]
    // 12 chains in whole rows already: unchanged by column ranges.
    [InlineData("[Input(64, 16, 16)] [Conv(3, 3, stride: 2, pad: 1, @in: 64, @out: 64)]", "16 outputs × 2 input channel(s) × 1 kernel row(s) × 3: 12 accumulators")]
    public void PicksTheTileWithTheMostChains(string layers, string expected)
    {
        var run = GeneratorHarness.Run($"using ConvGen;\n{layers} public partial class N;\n");
        Assert.Empty(run.Diagnostics);
        string code = Assert.Single(run.Sources, s => s.HintName.StartsWith("N", System.StringComparison.Ordinal)).Text;
        // Each conv layer's weight-gradient kernel states its tile (LeNet's part has two: conv1's 1 block × 5 taps too).
        var tiles = Regex.Matches(code, @"Each work item owns ([^:]+: \d+ accumulators) in registers").Select(m => m.Groups[1].Value).ToList();
        Assert.Contains(expected, tiles);
        Assert.Equal(layers.Split("Conv(").Length - 1, tiles.Count);
    }
}

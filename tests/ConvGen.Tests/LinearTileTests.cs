using System;
using System.Collections.Generic;
using System.Linq;
using ConvGen.Tests.Backward;
using ConvGen.Tests.Infrastructure;
using ConvGen.Tests.Reference;
using Xunit;

namespace ConvGen.Tests;

/// <summary>
/// Linear weights packed in tiles of 3 blocks of 8 outputs (ParameterLayout.Linear): networks whose Linear layers have
/// 1 to 13 output blocks, so every tile shape (3, 2 and 1 blocks, full and last), on plain features and after a blocked
/// Flatten, each followed by a second Linear whose transposed weights (backward-data) end in every partial tile, against
/// the float64 reference and finite differences, at batches 1, 2, 3 and 5 (every height of the 4-sample tile) on 1 and 2 threads;
/// the tile offsets, and TransposedWeights.ForLinear's refresh (on 2 threads from 64k floats) slot by slot.
/// </summary>
[Collection(nameof(Sequential))]
[Trait("Category", "Correctness")]
public sealed class LinearTileTests
{
    private static readonly IReadOnlyList<NetworkSpec> Specs = Build();

    private static List<NetworkSpec> Build()
    {
        var specs = new List<NetworkSpec>();
        // Output block counts 1,2,3,4,5,7 and odd sizes, fed by a second Linear whose transposed target (its inputs) has every tile shape.
        int[] outs = [1, 8, 16, 24, 30, 33, 40, 50, 56, 57, 100];
        foreach (int o in outs)
        {
            // plain: 37 inputs (5 blocks: tiles 3+2) -> o -> 13
            specs.Add(new NetworkSpec($"Plain{o}", 37, 1, 1, [new FlattenSpec(), new LinearSpec(37, o), new ActivationSpec(RefActivationKind.Tanh), new LinearSpec(o, 13)]));
            // blocked flatten: conv 3->12 channels at 3x3 then Flatten (12*2*2=48 features, packed 16 ch) -> o
            specs.Add(new NetworkSpec($"Blocked{o}", 3, 4, 4, [new ConvSpec(3, 3, 3, 12), new ActivationSpec(RefActivationKind.Tanh), new FlattenSpec(), new LinearSpec(48, o), new ActivationSpec(RefActivationKind.Tanh), new LinearSpec(o, 29, Bias: false)]));
        }
        // Large enough for a parallel Refresh (target ≥ 64k floats), inputs with a partial last tile (300 in = 38 blocks: 12 tiles + 2)
        specs.Add(new NetworkSpec("Wide", 300, 1, 1, [new FlattenSpec(), new LinearSpec(300, 260), new ActivationSpec(RefActivationKind.Tanh), new LinearSpec(260, 7)]));
        specs.Add(new NetworkSpec("Wide2", 100, 1, 1, [new FlattenSpec(), new LinearSpec(100, 700), new ActivationSpec(RefActivationKind.Tanh), new LinearSpec(700, 10)]));
        return specs;
    }

    private static readonly Lazy<CompiledNetworks> Compiled = new(() => new CompiledNetworks(Specs, "ConvGen.Dynamic.LinearTiles"));

    public static IEnumerable<object[]> Cases()
    {
        foreach (var s in Specs)
            foreach (int batch in new[] { 1, 2, 3, 5 })
                foreach (int threads in new[] { 1, 2 })
                    yield return [s.Name, batch, threads];
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void EveryTileShapeMatchesTheReference(string name, int batch, int threads)
    {
        using var scope = new MaxThreadsScope(threads);
        var spec = Specs.Single(s => s.Name == name);
        var network = Compiled.Value.Create(name);
        string? failure = NetworkCheck.Check(network, spec, batch, seed: 77 + batch)
            ?? GradientCheck.Check(network, spec, batch, seed: 99 + batch, probes: 1);
        if (failure is not null) Assert.Fail(failure);
    }

    [Fact]
    public void TileOffsetsGiveEveryRowOfEveryBlockItsOwnVector()
    {
        foreach (int tile in new[] { 1, 2, 3, 4 })
            for (int blocks = 1; blocks <= 11; blocks++)
                foreach (int rows in new[] { 1, 2, 5 })
                {
                    var seen = new HashSet<int>();
                    for (int b = 0; b < blocks; b++)
                        for (int r = 0; r < rows; r++)
                        {
                            int off = ParameterLayout.TileOffset(b, r, rows, blocks, tile);
                            Assert.Equal(0, off % 8);
                            Assert.InRange(off, 0, blocks * rows * 8 - 8);
                            Assert.True(seen.Add(off));
                            if (r + 1 < rows) Assert.Equal(off + ParameterLayout.TileRowStride(b, blocks, tile), ParameterLayout.TileOffset(b, r + 1, rows, blocks, tile));
                        }
                }
    }

    [Theory]
    [InlineData(1, 1)] [InlineData(8, 37)] [InlineData(17, 41)] [InlineData(33, 57)] [InlineData(50, 7)]
    [InlineData(100, 300)] [InlineData(260, 300)] [InlineData(700, 100)] [InlineData(65, 1030)]
    public unsafe void ForLinearTransposesEveryTileShape(int outs, int inputs)
    {
        foreach (int threads in new[] { 1, 2 })
        {
            using var scope = new MaxThreadsScope(threads);
            var weight = new Parameter("w", [outs, inputs], ParameterLayout.Linear(outs, inputs, 1, 1, blockedInput: false));
            var rnd = new Random(outs * 1000 + inputs);
            var src = new float[outs * inputs];
            for (int k = 0; k < src.Length; k++) src[k] = (float)rnd.NextDouble() + 0.5f;
            weight.CopyFrom(src);
            var t = TransposedWeights.ForLinear(weight, inputs);
            // NaN in every slot first: the refresh must write every value, and leave the padding alone.
            var target = ParameterLayout.Linear(inputs, outs, 1, 1, blockedInput: false);
            for (int k = 0; k < target.PackedLength; k++) t.Pointer[k] = float.NaN;
            t.Refresh();
            var mask = target.SlotMask();
            for (int i = 0; i < inputs; i++)
                for (int o = 0; o < outs; o++)
                    Assert.Equal(src[o * inputs + i], t.Pointer[target.PackedIndex(i * outs + o)]);
            int bad = 0;
            for (int k = 0; k < target.PackedLength; k++) if (mask[k] == 0 && !float.IsNaN(t.Pointer[k])) bad++;
            Assert.Equal(0, bad);
        }
    }
}

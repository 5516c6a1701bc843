using System;
using System.Collections.Generic;
using System.Linq;
using ConvGen.Tests.Networks;
using Xunit;

namespace ConvGen.Tests;

/// <summary>Parameters are named and shaped like the equivalent nn.Sequential's state dict and initialised like PyTorch.</summary>
public sealed class ParameterTests
{
    // list(nn.Sequential(Conv2d(1,6,5,padding=2), ReLU(), MaxPool2d(2), Conv2d(6,16,5), ReLU(), MaxPool2d(2), Flatten(),
    //      Linear(400,120), ReLU(), Linear(120,84), ReLU(), Linear(84,10)).state_dict().items()), checked with torch 1.13.
    private static readonly (string Name, int[] Shape)[] LeNetStateDict =
    [
        ("0.weight", [6, 1, 5, 5]), ("0.bias", [6]),
        ("3.weight", [16, 6, 5, 5]), ("3.bias", [16]),
        ("7.weight", [120, 400]), ("7.bias", [120]),
        ("9.weight", [84, 120]), ("9.bias", [84]),
        ("11.weight", [10, 84]), ("11.bias", [10]),
    ];

    [Fact]
    public void LeNetParametersMatchSequentialStateDict()
    {
        var net = new LeNet();
        Assert.Equal(LeNetStateDict.Select(p => p.Name), net.Parameters.Select(p => p.Name));
        foreach (var (p, (name, shape)) in net.Parameters.Zip(LeNetStateDict))
        {
            Assert.True(shape.SequenceEqual(p.Shape), $"{name}: shape [{string.Join(",", p.Shape)}], expected [{string.Join(",", shape)}]");
            Assert.Equal(shape.Aggregate(1, (a, b) => a * b), p.Length);
        }
    }

    [Fact]
    public void MixedNetParametersSkipBiasFreeLayers()
    {
        // Layer 2 (depthwise, bias: false) and layer 11 (Linear, bias: false) have only a weight.
        var net = new MixedNet();
        Assert.Equal(
            ["0.weight", "0.bias", "2.weight", "3.weight", "3.bias", "6.weight", "6.bias", "11.weight"],
            net.Parameters.Select(p => p.Name));
        Assert.Equal([32, 1, 3, 3], net.Parameters.Single(p => p.Name == "2.weight").Shape);
        Assert.Equal([10, 40], net.Parameters.Single(p => p.Name == "11.weight").Shape);
    }

    [Fact]
    public void StaticShapesAndLayerTable()
    {
        Assert.Equal(784, LeNet.InputLength);
        Assert.Equal(10, LeNet.OutputLength);
        INetwork net = new LeNet();
        Assert.Equal(784, net.InputLength);
        Assert.Equal(10, net.OutputLength);
        Assert.Equal([10], net.OutputShape);
        Assert.Equal(Enumerable.Range(0, 12), LeNet.LayerTable.Select(l => l.Index));
        Assert.Equal(["Conv", "Relu", "MaxPool", "Conv", "Relu", "MaxPool", "Flatten", "Linear", "Relu", "Linear", "Relu", "Linear"],
                     LeNet.LayerTable.Select(l => l.Kind));
        Assert.Equal([6, 28, 28], LeNet.LayerTable[0].OutputShape);
        Assert.Equal([16, 5, 5], LeNet.LayerTable[5].OutputShape);
        Assert.Equal([400], LeNet.LayerTable[6].OutputShape);
        Assert.Equal(61_706, LeNet.LayerTable.Sum(l => l.ParameterCount));
        Assert.Equal(net.Parameters.Sum(p => (long)p.Length), LeNet.LayerTable.Sum(l => l.ParameterCount));
        Assert.Contains("61,706", LeNet.Summary(), StringComparison.Ordinal);
        Assert.Same(LeNet.LayerTable, net.Layers);
    }

    [Fact]
    public void InitIsDeterministicPerSeed()
    {
        static List<float[]> Values(INetwork n) => [.. n.Parameters.Select(p => { var v = new float[p.Length]; p.CopyTo(v); return v; })];
        var a = Values(new LeNet(seed: 3));
        var b = Values(new LeNet(seed: 3));
        var c = Values(new LeNet(seed: 4));
        for (int i = 0; i < a.Count; i++)
        {
            Assert.Equal(a[i], b[i]);
            Assert.NotEqual(a[i], c[i]);
        }
    }

    [Fact]
    public void InitFollowsPyTorchBounds()
    {
        // Conv2d and Linear default init: weight and bias both uniform in ±1/√fan_in.
        var net = new LeNet(seed: 1);
        var fanIn = new Dictionary<string, int> { ["0"] = 25, ["3"] = 150, ["7"] = 400, ["9"] = 120, ["11"] = 84 };
        foreach (var p in net.Parameters)
        {
            double bound = 1 / Math.Sqrt(fanIn[p.Name.Split('.')[0]]);
            var v = new float[p.Length];
            p.CopyTo(v);
            Assert.All(v, x => Assert.InRange(Math.Abs(x), 0, bound * (1 + 1e-6)));
            // Uniform draws use the range: the largest magnitude is near the bound, the mean near 0.
            if (v.Length >= 100)
            {
                Assert.True(v.Max(x => Math.Abs(x)) > 0.9 * bound, $"{p.Name}: values do not reach the bound {bound}");
                Assert.True(Math.Abs(v.Average()) < 0.1 * bound, $"{p.Name}: mean {v.Average()} is far from 0");
            }
        }
    }

    [Fact]
    public void CopyFromCopyToRoundTripsInPyTorchLayout()
    {
        var net = new MixedNet(seed: 2);
        foreach (var p in net.Parameters)
        {
            var v = Enumerable.Range(0, p.Length).Select(i => (float)i * 0.5f - 3f).ToArray();
            p.CopyFrom(v);
            var back = new float[p.Length];
            p.CopyTo(back);
            Assert.Equal(v, back);
        }
    }

    [Fact]
    public void CopyFromRejectsShortSpan()
    {
        var p = new LeNet().Parameters[0];
        var e = Assert.Throws<ArgumentException>(() => p.CopyFrom(new float[p.Length - 1]));
        Assert.Contains(p.Name, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ConstructorCopiesTheShapeAndChecksIt()
    {
        int[] shape = [2, 4];
        var p = new Parameter("w", shape, ParameterLayout.Linear(2, 4, 1, 1, blockedInput: false));
        shape[0] = 1000; // the caller's array changing afterwards changes nothing (Save writes Shape)
        Assert.Equal([2, 4], p.Shape);

        var e = Assert.Throws<ArgumentException>(() => new Parameter("w", [-2, -4], ParameterLayout.Vector(8)));
        Assert.Contains("[-2, -4] has a negative dimension", e.Message);
        e = Assert.Throws<ArgumentException>(() => new Parameter("w", [3], ParameterLayout.Vector(8)));
        Assert.Contains("[3] has 3 values but the layout holds 8", e.Message);
        e = Assert.Throws<ArgumentException>(() => new Parameter("w", [65536, 65536, 2], ParameterLayout.Vector(8)));
        Assert.Contains("more than int.MaxValue values", e.Message);
        Assert.Equal(0, new Parameter("empty", [65536, 65536, 0], ParameterLayout.Vector(0)).Length); // a 0 after the huge dimensions
        Assert.Throws<ArgumentNullException>(() => new Parameter(null!, [8], ParameterLayout.Vector(8)));
        Assert.Throws<ArgumentNullException>(() => new Parameter("w", null!, ParameterLayout.Vector(8)));
        Assert.Throws<ArgumentNullException>(() => new Parameter("w", [8], null!));
    }

    [Fact]
    public void LayoutPackAndUnpackRejectShortSpans()
    {
        var layout = ParameterLayout.Vector(5); // 5 values packed into 8 floats
        var e = Assert.Throws<ArgumentException>(() => layout.Pack(new float[4], new float[8]));
        Assert.Contains("source holds 4 floats, fewer than the 5", e.Message);
        e = Assert.Throws<ArgumentException>(() => layout.Pack(new float[5], new float[7]));
        Assert.Contains("packed holds 7 floats, fewer than the 8", e.Message);
        e = Assert.Throws<ArgumentException>(() => layout.Unpack(new float[8], new float[4]));
        Assert.Contains("destination holds 4 floats, fewer than the 5", e.Message);
        e = Assert.Throws<ArgumentException>(() => layout.Unpack(new float[6], new float[5]));
        Assert.Contains("packed holds 6 floats, fewer than the 8", e.Message);
    }

    [Fact]
    public void LayoutFactoriesAndPackedIndexCheckTheirArguments()
    {
        // Groups of 0 divided by zero; groups that do not divide the channels mapped values onto each other.
        Assert.Equal("groups", Assert.Throws<ArgumentOutOfRangeException>(() => ParameterLayout.ConvBlocked(8, 8, 0, 3, 3)).ParamName);
        var e = Assert.Throws<ArgumentException>(() => ParameterLayout.ConvBlocked(8, 6, 4, 3, 3));
        Assert.Contains("groups (4) must divide both inChannels (6) and outChannels (8)", e.Message);
        Assert.Equal("kw", Assert.Throws<ArgumentOutOfRangeException>(() => ParameterLayout.ConvBlocked(8, 8, 1, 3, 0)).ParamName);
        Assert.Equal("length", Assert.Throws<ArgumentOutOfRangeException>(() => ParameterLayout.Vector(-1)).ParamName);
        Assert.Equal("channels", Assert.Throws<ArgumentOutOfRangeException>(() => ParameterLayout.Depthwise(0, 3, 3)).ParamName);
        Assert.Equal("outFeatures", Assert.Throws<ArgumentOutOfRangeException>(() => ParameterLayout.Linear(0, 4, 1, 1, false)).ParamName);
        Assert.Equal(0, ParameterLayout.Vector(0).PackedLength);

        // Before: PackedIndex(-1) was -8 and PackedIndex(Length) pointed past PackedLength.
        var layout = ParameterLayout.ConvBlocked(8, 1, 1, 5, 5);
        Assert.Equal(0, layout.PackedIndex(0));
        Assert.Equal(24 * 8 + 7, layout.PackedIndex(layout.Length - 1));
        Assert.Equal("index", Assert.Throws<ArgumentOutOfRangeException>(() => layout.PackedIndex(-1)).ParamName);
        var past = Assert.Throws<ArgumentOutOfRangeException>(() => layout.PackedIndex(layout.Length));
        Assert.Contains("index must be in [0, 200), was 200", past.Message);
    }

    [Fact]
    public void LinearWeightsArePackedInTilesOfThreeBlocks()
    {
        // 50 outputs, 7 inputs: 7 blocks of 8 outputs in tiles of 3, 3 and 1; within a tile, each input's vectors side by side.
        var layout = ParameterLayout.Linear(50, 7, 1, 1, blockedInput: false);
        Assert.Equal(7 * 7 * 8, layout.PackedLength);
        int At(int o, int f) => layout.PackedIndex(o * 7 + f);
        Assert.Equal(0, At(0, 0));
        Assert.Equal(8, At(8, 0));             // block 1: the tile's second vector for input 0
        Assert.Equal(3 * 8 + 2, At(2, 1));     // input 1 starts after input 0's three vectors
        Assert.Equal(168 + 2 * 24 + 1, At(25, 2)); // block 3 opens the second tile, after 3 blocks × 7 inputs × 8
        Assert.Equal(336 + 6 * 8 + 1, At(49, 6));  // the last tile holds one block: its inputs 8 floats apart

        // Every value has a slot of its own, and the slots left over are the padding lanes of outputs 50–55.
        var slots = Enumerable.Range(0, layout.Length).Select(layout.PackedIndex).ToHashSet();
        Assert.Equal(layout.Length, slots.Count);
        Assert.Equal(layout.Length, layout.SlotMask().Count(m => m == 1f));
        Assert.All(slots, i => Assert.InRange(i, 0, layout.PackedLength - 1));
    }

    [Fact]
    public void UniformInitRefusesAFanInBelowOne()
    {
        var p = new Parameter("w", [3], ParameterLayout.Vector(3));
        p.CopyFrom([1f, 2f, 3f]);
        // 1/√0 filled the parameter with ±∞ and NaN.
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => ParameterInit.Uniform(p, 0, new Random(1)));
        Assert.Equal("fanIn", e.ParamName);
        var values = new float[3];
        p.CopyTo(values);
        Assert.Equal([1f, 2f, 3f], values);
    }
}

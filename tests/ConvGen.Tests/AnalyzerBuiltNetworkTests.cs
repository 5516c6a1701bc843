using System;
using ConvGen.Tests.Infrastructure;
using ConvGen.Tests.Networks;
using ConvGen.Tests.Reference;
using Xunit;

namespace ConvGen.Tests;

/// <summary>The networks generated at build time (analyzer reference, as users get them) against the float64 reference.</summary>
[Trait("Category", "Correctness")]
public sealed class AnalyzerBuiltNetworkTests
{
    private static readonly LayerSpec Relu = new ActivationSpec(RefActivationKind.Relu);

    /// <summary>Networks/ApiNetworks.cs's LeNet, layer for layer.</summary>
    public static readonly NetworkSpec LeNetSpec = new("LeNet", 1, 28, 28,
    [
        new ConvSpec(5, 5, 1, 6, Pad: 2), Relu, new PoolSpec(true, 2),
        new ConvSpec(5, 5, 6, 16), Relu, new PoolSpec(true, 2),
        new FlattenSpec(), new LinearSpec(400, 120), Relu, new LinearSpec(120, 84), Relu, new LinearSpec(84, 10),
    ]);

    /// <summary>Networks/ApiNetworks.cs's MixedNet, layer for layer.</summary>
    public static readonly NetworkSpec MixedNetSpec = new("MixedNet", 3, 32, 32,
    [
        new ConvSpec(3, 3, 3, 32, Pad: 1), Relu,
        new ConvSpec(3, 3, 32, 32, Stride: 2, Groups: 32, Bias: false, Same: true),
        new ConvSpec(1, 1, 32, 48), new ActivationSpec(RefActivationKind.Tanh),
        new PoolSpec(true, 3, 2, 1),
        new ConvSpec(3, 3, 48, 40, Pad: 2, Dilation: 2), new ActivationSpec(RefActivationKind.Sigmoid),
        new PoolSpec(false, 2, 0, 1),
        new GlobalAvgPoolSpec(), new FlattenSpec(), new LinearSpec(40, 10, Bias: false),
    ]);

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(8)]
    public void LeNetMatchesReference(int batch)
    {
        string? failure = NetworkCheck.Check(new LeNet(), LeNetSpec, batch, seed: 100 + batch);
        if (failure is not null) Assert.Fail(failure);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    public void MixedNetMatchesReference(int batch)
    {
        string? failure = NetworkCheck.Check(new MixedNet(), MixedNetSpec, batch, seed: 200 + batch);
        if (failure is not null) Assert.Fail(failure);
    }

    [Fact]
    public void DefaultInitialisedNetworkMatchesReference()
    {
        // No CopyFrom: the constructor's own parameters, read back through CopyTo, drive the reference.
        var net = new MixedNet(seed: 42);
        var parameters = new System.Collections.Generic.Dictionary<string, float[]>();
        foreach (var p in net.Parameters)
        {
            var v = new float[p.Length];
            p.CopyTo(v);
            parameters[p.Name] = v;
        }
        var reference = MixedNetSpec.Reference(parameters);
        var x = NetworkCheck.RandomInput(new Random(1), 2 * MixedNet.InputLength);
        var y = new float[2 * MixedNet.OutputLength];
        net.Forward(x, y, 2);
        string? failure = NetworkCheck.Compare(y, reference.Forward(x, 2), reference.OutputShape, 2);
        if (failure is not null) Assert.Fail(failure);
    }
}

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using ConvGen.Tests.Infrastructure;
using Xunit;

namespace ConvGen.Tests.Reference;

/// <summary>
/// Pins the float64 reference to PyTorch: small networks run by torch 1.13 in float64 (golden/make_golden.py wrote
/// golden/torch_golden.json) must come out of <see cref="NetworkSpec.Reference"/> to 1e-9.
/// </summary>
[Trait("Category", "Correctness")]
public sealed class ReferenceVsTorchTests
{
    private static readonly Lazy<JsonDocument> Golden = new(() =>
        JsonDocument.Parse(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Reference", "golden", "torch_golden.json"))));

    public static IEnumerable<object[]> CaseNames()
        => JsonDocument.Parse(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Reference", "golden", "torch_golden.json")))
                       .RootElement.GetProperty("cases").EnumerateArray()
                       .Select(c => new object[] { c.GetProperty("name").GetString()! });

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void ReferenceMatchesTorch(string name)
    {
        var c = Golden.Value.RootElement.GetProperty("cases").EnumerateArray().Single(e => e.GetProperty("name").GetString() == name);
        int[] inShape = [.. c.GetProperty("input_shape").EnumerateArray().Select(e => e.GetInt32())];
        var spec = new NetworkSpec(name, inShape[1], inShape[2], inShape[3], [.. c.GetProperty("layers").EnumerateArray().Select(ParseLayer)]);

        var parameters = c.GetProperty("params").EnumerateObject()
                          .ToDictionary(p => p.Name, p => p.Value.EnumerateArray().Select(e => e.GetDouble()).ToArray());
        Assert.Equal(spec.ParameterShapes().Select(p => p.Name).OrderBy(n => n, StringComparer.Ordinal),
                     parameters.Keys.OrderBy(n => n, StringComparer.Ordinal));

        // The reference reads float32 parameters; give it the torch values through a float64 path instead.
        var layers = new List<RefLayer>();
        var shape = spec.Input;
        for (int i = 0; i < spec.Layers.Count; i++)
        {
            int index = i;
            var layer = spec.Layers[i].ToReference(shape, suffix => parameters[$"{index}.{suffix}"]);
            shape = layer.OutputShape(shape);
            layers.Add(layer);
        }
        var network = new ReferenceNetwork(spec.Input, layers);

        int[] outShape = [.. c.GetProperty("output_shape").EnumerateArray().Select(e => e.GetInt32())];
        var o = network.OutputShape;
        Assert.Equal(outShape.Skip(1).ToArray(), o.IsFlat ? [o.C] : [o.C, o.H, o.W]);

        // Inputs go through float in ReferenceNetwork.Forward, so run the layers directly in float64.
        double[] x = [.. c.GetProperty("input").EnumerateArray().Select(e => e.GetDouble())];
        var s = spec.Input;
        foreach (var layer in network.Layers) { x = layer.Forward(x, inShape[0], s); s = layer.OutputShape(s); }

        double[] want = [.. c.GetProperty("output").EnumerateArray().Select(e => e.GetDouble())];
        Assert.Equal(want.Length, x.Length);
        for (int i = 0; i < want.Length; i++)
            Assert.True(Math.Abs(x[i] - want[i]) <= 1e-9 * (1 + Math.Abs(want[i])), $"{name}[{i}]: reference {x[i]}, torch {want[i]}");
    }

    private static LayerSpec ParseLayer(JsonElement l)
    {
        int I(string p) => l.GetProperty(p).GetInt32();
        bool B(string p) => l.GetProperty(p).GetBoolean();
        return l.GetProperty("type").GetString() switch
        {
            "Conv" => new ConvSpec(I("kh"), I("kw"), I("in"), I("out"), I("stride"), I("pad"), I("dilation"), I("groups"), B("bias"), B("same")),
            "Relu" => new ActivationSpec(RefActivationKind.Relu),
            "Sigmoid" => new ActivationSpec(RefActivationKind.Sigmoid),
            "Tanh" => new ActivationSpec(RefActivationKind.Tanh),
            "MaxPool" => new PoolSpec(true, I("size"), I("stride"), I("pad")),
            "AvgPool" => new PoolSpec(false, I("size"), I("stride"), I("pad")),
            "GlobalAvgPool" => new GlobalAvgPoolSpec(),
            "Flatten" => new FlattenSpec(),
            "Linear" => new LinearSpec(I("in"), I("out"), B("bias")),
            var t => throw new InvalidDataException($"unknown layer type {t}"),
        };
    }
}

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using ConvGen.Tests.Infrastructure;
using Xunit;

namespace ConvGen.Tests.Reference;

/// <summary>
/// Pins the float64 reference to PyTorch: small networks run forward and backward by torch 1.13 in float64
/// (golden/make_golden.py wrote golden/torch_golden.json) must come out of <see cref="NetworkSpec.Reference"/> to 1e-9,
/// outputs and gradients alike.
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

        var network = spec.Reference(parameters);

        int[] outShape = [.. c.GetProperty("output_shape").EnumerateArray().Select(e => e.GetInt32())];
        var o = network.OutputShape;
        Assert.Equal(outShape.Skip(1).ToArray(), o.IsFlat ? [o.C] : [o.C, o.H, o.W]);

        // Inputs go through float in ReferenceNetwork.Forward, so run the layers directly in float64.
        double[] x = Doubles(c.GetProperty("input"));
        var s = spec.Input;
        foreach (var layer in network.Layers) { x = layer.Forward(x, inShape[0], s); s = layer.OutputShape(s); }

        AssertClose($"{name} output", Doubles(c.GetProperty("output")), x);

        // Backward from torch's ∂L/∂output: ∂L/∂input and every parameter's gradient as torch.autograd computed them.
        var dx = network.Backward(Doubles(c.GetProperty("input")), Doubles(c.GetProperty("grad_output")), inShape[0], kinkWindow: 0, out _);
        AssertClose($"{name} input gradient", Doubles(c.GetProperty("grad_input")), dx);
        var gradients = network.ParameterGradients().ToDictionary(g => g.Name, g => g.Gradient);
        var torchGradients = c.GetProperty("grads").EnumerateObject().ToList();
        Assert.Equal(torchGradients.Select(g => g.Name).OrderBy(n => n, StringComparer.Ordinal), gradients.Keys.OrderBy(n => n, StringComparer.Ordinal));
        foreach (var g in torchGradients) AssertClose($"{name} {g.Name} gradient", Doubles(g.Value), gradients[g.Name]);
    }

    private static double[] Doubles(JsonElement array) => [.. array.EnumerateArray().Select(e => e.GetDouble())];

    private static void AssertClose(string what, double[] torch, double[] reference)
    {
        Assert.Equal(torch.Length, reference.Length);
        for (int i = 0; i < torch.Length; i++)
            Assert.True(Math.Abs(reference[i] - torch[i]) <= 1e-9 * (1 + Math.Abs(torch[i])), $"{what}[{i}]: reference {reference[i]}, torch {torch[i]}");
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

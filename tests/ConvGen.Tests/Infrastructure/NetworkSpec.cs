using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using ConvGen.Tests.Reference;

namespace ConvGen.Tests.Infrastructure;

// A test's description of a network: turned into attribute source for the generator on one side and into a
// float64 ReferenceNetwork on the other. Parameter names follow nn.Sequential's state dict ("{index}.weight").

/// <summary>One layer attribute.</summary>
public abstract record LayerSpec
{
    /// <summary>The attribute as written on the class, e.g. <c>Conv(3, 3, 4, 8, stride: 2)</c>.</summary>
    public abstract string Attribute { get; }

    /// <summary>Learnable tensors (suffix, PyTorch shape) of this layer.</summary>
    public virtual IEnumerable<(string Suffix, int[] Shape)> ParameterShapes => [];

    /// <summary>The reference layer for <paramref name="input"/>, reading tensors through <paramref name="tensor"/> (suffix → values).</summary>
    public abstract RefLayer ToReference(RefShape input, Func<string, double[]> tensor);

    /// <summary>Per-sample output shape for <paramref name="input"/> (throws <see cref="ArgumentException"/> if the layer does not apply).</summary>
    public RefShape OutputShape(RefShape input)
        => ToReference(input, suffix => new double[ParameterShapes.First(p => p.Suffix == suffix).Shape.Aggregate(1, (a, b) => a * b)])
           .OutputShape(input);
}

/// <summary><c>[Conv]</c>.</summary>
public sealed record ConvSpec(int Kh, int Kw, int In, int Out, int Stride = 1, int Pad = 0, int Dilation = 1, int Groups = 1,
                              bool Bias = true, bool Same = false) : LayerSpec
{
    public override string Attribute
    {
        get
        {
            var s = $"Conv({Kh}, {Kw}, {In}, {Out}, stride: {Stride}, pad: {Pad}, dilation: {Dilation}, groups: {Groups}, bias: {(Bias ? "true" : "false")})";
            return Same ? s[..^1] + ", Same = true)" : s;
        }
    }

    public override IEnumerable<(string Suffix, int[] Shape)> ParameterShapes
        => Bias ? [("weight", [Out, In / Groups, Kh, Kw]), ("bias", [Out])] : [("weight", [Out, In / Groups, Kh, Kw])];

    /// <summary>(top, bottom, left, right) padding for an input of <paramref name="h"/>×<paramref name="w"/>.</summary>
    public (int Top, int Bottom, int Left, int Right) Padding(int h, int w)
    {
        if (!Same) return (Pad, Pad, Pad, Pad);
        var (top, bottom) = RefConv2d.SamePadding(h, Kh, Stride, Dilation);
        var (left, right) = RefConv2d.SamePadding(w, Kw, Stride, Dilation);
        return (top, bottom, left, right);
    }

    public override RefLayer ToReference(RefShape input, Func<string, double[]> tensor)
    {
        var (top, bottom, left, right) = Padding(input.H, input.W);
        return new RefConv2d(In, Out, Kh, Kw, Stride, top, bottom, left, right, Dilation, Groups, tensor("weight"), Bias ? tensor("bias") : null);
    }
}

/// <summary><c>[Relu]</c>, <c>[Sigmoid]</c>, <c>[Tanh]</c>.</summary>
public sealed record ActivationSpec(RefActivationKind Kind) : LayerSpec
{
    public override string Attribute => Kind.ToString();
    public override RefLayer ToReference(RefShape input, Func<string, double[]> tensor) => new RefActivation(Kind);
}

/// <summary><c>[MaxPool]</c> / <c>[AvgPool]</c>; stride 0 means "equal to size".</summary>
public sealed record PoolSpec(bool Max, int Size, int Stride = 0, int Pad = 0) : LayerSpec
{
    public override string Attribute => $"{(Max ? "MaxPool" : "AvgPool")}({Size}, stride: {Stride}, pad: {Pad})";
    public override RefLayer ToReference(RefShape input, Func<string, double[]> tensor) => new RefPool2d(Max, Size, Stride, Pad);
}

/// <summary><c>[GlobalAvgPool]</c>.</summary>
public sealed record GlobalAvgPoolSpec : LayerSpec
{
    public override string Attribute => "GlobalAvgPool";
    public override RefLayer ToReference(RefShape input, Func<string, double[]> tensor) => new RefGlobalAvgPool();
}

/// <summary><c>[Flatten]</c>.</summary>
public sealed record FlattenSpec : LayerSpec
{
    public override string Attribute => "Flatten";
    public override RefLayer ToReference(RefShape input, Func<string, double[]> tensor) => new RefFlatten();
}

/// <summary><c>[Linear]</c>.</summary>
public sealed record LinearSpec(int In, int Out, bool Bias = true) : LayerSpec
{
    public override string Attribute => $"Linear({In}, {Out}, bias: {(Bias ? "true" : "false")})";

    public override IEnumerable<(string Suffix, int[] Shape)> ParameterShapes
        => Bias ? [("weight", [Out, In]), ("bias", [Out])] : [("weight", [Out, In])];

    public override RefLayer ToReference(RefShape input, Func<string, double[]> tensor)
        => new RefLinear(In, Out, tensor("weight"), Bias ? tensor("bias") : null);
}

/// <summary>A whole network: class name, per-sample input shape and layers in order.</summary>
public sealed record NetworkSpec(string Name, int C, int H, int W, IReadOnlyList<LayerSpec> Layers)
{
    /// <summary>Per-sample input shape.</summary>
    public RefShape Input => new(C, H, W);

    /// <summary>Floats per input sample.</summary>
    public int InputLength => C * H * W;

    /// <summary>Per-sample shape after each layer (throws if the layers do not chain).</summary>
    public IReadOnlyList<RefShape> Shapes()
    {
        var shapes = new List<RefShape>();
        var shape = Input;
        foreach (var layer in Layers)
        {
            shape = layer.OutputShape(shape);
            shapes.Add(shape);
        }
        return shapes;
    }

    /// <summary>Whether the layers chain and every intermediate output is non-empty.</summary>
    public bool IsValid()
    {
        try { Shapes(); return true; }
        catch (ArgumentException) { return false; }
    }

    /// <summary>Per-sample output shape.</summary>
    public RefShape Output => Shapes()[^1];

    /// <summary>State-dict names and PyTorch shapes, in order.</summary>
    public IReadOnlyList<(string Name, int[] Shape)> ParameterShapes()
        => [.. Layers.SelectMany((layer, index) => layer.ParameterShapes.Select(p => ($"{index}.{p.Suffix}", p.Shape)))];

    /// <summary>
    /// Random tensors with PyTorch-like magnitudes (uniform in ±1/√fan_in, so activations stay O(1)), keyed by state-dict name.
    /// </summary>
    public Dictionary<string, float[]> RandomParameters(Random random)
    {
        var result = new Dictionary<string, float[]>(StringComparer.Ordinal);
        foreach (var (name, shape) in ParameterShapes())
        {
            int length = shape.Aggregate(1, (a, b) => a * b);
            int fanIn = name.EndsWith(".weight", StringComparison.Ordinal) ? length / shape[0] : 0;
            if (fanIn == 0)
            {
                // A bias: use the weight's fan-in (the weight comes first in the list).
                var weight = ParameterShapes().First(p => p.Name == name.Replace(".bias", ".weight", StringComparison.Ordinal));
                fanIn = weight.Shape.Aggregate(1, (a, b) => a * b) / weight.Shape[0];
            }
            double bound = 1.0 / Math.Sqrt(fanIn);
            var values = new float[length];
            for (int i = 0; i < length; i++) values[i] = (float)((random.NextDouble() * 2 - 1) * bound);
            result[name] = values;
        }
        return result;
    }

    /// <summary>The float64 reference network with <paramref name="parameters"/> (state-dict name → PyTorch-layout values).</summary>
    public ReferenceNetwork Reference(IReadOnlyDictionary<string, float[]> parameters)
        => Reference(parameters.ToDictionary(kv => kv.Key, kv => Array.ConvertAll(kv.Value, v => (double)v)));

    /// <summary>The float64 reference network reading <paramref name="parameters"/> as they are (not copied).</summary>
    public ReferenceNetwork Reference(IReadOnlyDictionary<string, double[]> parameters)
    {
        var layers = new List<RefLayer>();
        var shape = Input;
        for (int i = 0; i < Layers.Count; i++)
        {
            int index = i;
            var layer = Layers[i].ToReference(shape, suffix => parameters[$"{index}.{suffix}"]);
            shape = layer.OutputShape(shape);
            layers.Add(layer);
        }
        return new ReferenceNetwork(Input, layers);
    }

    /// <summary>The annotated partial class.</summary>
    public string ToSource()
    {
        var sb = new StringBuilder();
        sb.Append("[Input(").Append(C).Append(", ").Append(H).Append(", ").Append(W).Append(")]\n");
        foreach (var layer in Layers) sb.Append('[').Append(layer.Attribute).Append("]\n");
        sb.Append("public partial class ").Append(Name).Append(" { }\n");
        return sb.ToString();
    }

    /// <summary>Everything needed to reproduce a failure: the attributes and the shape after each layer.</summary>
    public string Describe()
    {
        var sb = new StringBuilder();
        sb.Append(Name).Append(": input ").Append(Input).Append('\n');
        var shapes = IsValid() ? Shapes() : null;
        for (int i = 0; i < Layers.Count; i++)
        {
            sb.Append("  ").Append(i.ToString(CultureInfo.InvariantCulture)).Append(": [").Append(Layers[i].Attribute).Append(']');
            if (shapes is not null) sb.Append(" -> ").Append(shapes[i]);
            sb.Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>Many networks as one compilation unit in <paramref name="ns"/>.</summary>
    public static string ToSource(IEnumerable<NetworkSpec> networks, string ns)
    {
        var sb = new StringBuilder();
        sb.Append("using ConvGen;\n\nnamespace ").Append(ns).Append(";\n\n");
        foreach (var n in networks) sb.Append(n.ToSource()).Append('\n');
        return sb.ToString();
    }
}

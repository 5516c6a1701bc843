using System;
using System.Collections.Generic;
using ConvGen.Generator.Model;

namespace ConvGen.Generator.Emit;

// Between the model and the text: decides where every tensor lives and in which layout, which layers fuse,
// and which kernels run in which order. Pure arithmetic on the model; the kernel emitters only print it.

/// <summary>Where a tensor lives: the caller's spans, two ping-pong activation buffers, or the padding scratch.</summary>
internal enum BufferKind { Input, Output, A, B, Scratch }

/// <summary>
/// A per-sample tensor in memory: NCHW ("planar") or NCHW8c ("blocked": 8 channels interleaved, padded with
/// zero-weight lanes), <see cref="Stride"/> floats apart from one sample to the next.
/// </summary>
internal sealed record Tensor(BufferKind Buffer, bool Blocked, int C, int H, int W, int Stride)
{
    public static int Blocks(int channels) => (channels + 7) / 8;

    public static Tensor Planar(BufferKind buffer, int c, int h, int w) => new(buffer, false, c, h, w, c * h * w);
    public static Tensor BlockedIn(BufferKind buffer, int c, int h, int w) => new(buffer, true, c, h, w, Blocks(c) * 8 * h * w);

    public int RowStride => Blocked ? W * 8 : W;
    public int ColumnStride => Blocked ? 8 : 1;
    /// <summary>Floats from one channel (planar) or one block of 8 (blocked) to the next.</summary>
    public int PlaneStride => Blocked ? H * W * 8 : H * W;

    /// <summary>C# expression for the offset of channel <paramref name="channel"/> (an int expression).</summary>
    public string ChannelOffset(string channel)
    {
        bool simple = channel.IndexOf(' ') < 0
            || (channel.StartsWith("(", StringComparison.Ordinal) && channel.EndsWith(")", StringComparison.Ordinal));
        string c = simple ? channel : $"({channel})";
        return Blocked ? $"({c} >> 3) * {PlaneStride} + ({c} & 7)" : $"{c} * {PlaneStride}";
    }

    public int Offset(int c, int h, int w) => Blocked ? ((c / 8 * H + h) * W + w) * 8 + c % 8 : (c * H + h) * W + w;
}

/// <summary>A learnable tensor of one layer.</summary>
internal sealed record ParameterPlan(int Layer, string Role, int[] Shape, string LayoutExpression, int FanIn)
{
    public string Field => $"_layer{Layer}{(Role == "weight" ? "Weight" : "Bias")}";
    public string Pointer => $"L{Layer}{(Role == "weight" ? "W" : "B")}";
    public string Name => $"{Layer}.{Role}";
}

internal abstract record Step(Tensor From, Tensor To);

/// <summary>Copies a tensor into another layout, optionally into the interior of a zero-padded frame.</summary>
internal sealed record CopyStep(Tensor From, Tensor To, int PadTop, int PadLeft, string Purpose) : Step(From, To);

/// <summary>A convolution, with the following activation fused into its epilogue when there is one.</summary>
internal sealed record ConvStep(LayerModel Layer, Tensor From, Tensor To, LayerKind? Activation, ParameterPlan Weight, ParameterPlan? Bias) : Step(From, To);

internal sealed record LinearStep(LayerModel Layer, Tensor From, Tensor To, LayerKind? Activation, ParameterPlan Weight, ParameterPlan? Bias) : Step(From, To);

internal sealed record ActivationStep(LayerModel Layer, Tensor From, Tensor To) : Step(From, To);

internal sealed record PoolStep(LayerModel Layer, Tensor From, Tensor To) : Step(From, To);

internal sealed class ExecutionPlan
{
    public List<Step> Steps { get; } = new();
    public List<ParameterPlan> Parameters { get; } = new();
    public Dictionary<BufferKind, int> BufferFloats { get; } = new() { [BufferKind.A] = 0, [BufferKind.B] = 0, [BufferKind.Scratch] = 0 };
    public int WorkspaceFloatsPerSample => BufferFloats[BufferKind.A] + BufferFloats[BufferKind.B] + BufferFloats[BufferKind.Scratch];

    public static ExecutionPlan Build(NetworkModel model)
    {
        var plan = new ExecutionPlan();
        var input = model.Input;
        var current = Tensor.Planar(BufferKind.Input, input.C, input.H, input.W);
        var layers = model.Layers;
        for (int i = 0; i < layers.Count; i++)
        {
            var layer = layers[i];
            LayerKind? fused = i + 1 < layers.Count && IsActivation(layers[i + 1].Kind) ? layers[i + 1].Kind : null;
            switch (layer.Kind)
            {
                case LayerKind.Conv:
                    current = plan.AddConv(layer, current, fused);
                    if (fused is not null) i++;
                    break;
                case LayerKind.Linear:
                    current = plan.AddLinear(layer, current, fused);
                    if (fused is not null) i++;
                    break;
                case LayerKind.Relu:
                case LayerKind.Sigmoid:
                case LayerKind.Tanh:
                {
                    // In place, except on the caller's input, which is read-only.
                    var to = current.Buffer == BufferKind.Input ? current with { Buffer = plan.Next(current), Stride = current.Stride } : current;
                    plan.Add(new ActivationStep(layer, current, to));
                    current = to;
                    break;
                }
                case LayerKind.MaxPool:
                case LayerKind.AvgPool:
                case LayerKind.GlobalAvgPool:
                {
                    var from = plan.EnsureBlocked(current);
                    var to = Tensor.BlockedIn(plan.Next(from), layer.Output.C, layer.Output.H, layer.Output.W);
                    plan.Add(new PoolStep(layer, from, to));
                    current = to;
                    break;
                }
                case LayerKind.Flatten:
                    break; // A relabelling: the Linear that follows packs its weights to read this layout directly.
            }
        }
        var output = model.Output;
        plan.Add(new CopyStep(current, Tensor.Planar(BufferKind.Output, current.C, current.H, current.W) with { Stride = (int)output.Elements }, 0, 0, "output"));
        return plan;
    }

    private static bool IsActivation(LayerKind kind) => kind is LayerKind.Relu or LayerKind.Sigmoid or LayerKind.Tanh;

    private BufferKind Next(Tensor current) => current.Buffer == BufferKind.A ? BufferKind.B : BufferKind.A;

    private void Add(Step step)
    {
        Steps.Add(step);
        foreach (var t in new[] { step.From, step.To })
            if (BufferFloats.TryGetValue(t.Buffer, out int size)) BufferFloats[t.Buffer] = Math.Max(size, t.Stride);
    }

    private Tensor EnsureBlocked(Tensor current)
    {
        if (current.Blocked) return current;
        var to = Tensor.BlockedIn(Next(current), current.C, current.H, current.W);
        Add(new CopyStep(current, to, 0, 0, "NCHW → NCHW8c"));
        return to;
    }

    private Tensor AddConv(LayerModel layer, Tensor current, LayerKind? activation)
    {
        var view = current;
        int kh = layer.KernelHeight, kw = layer.KernelWidth;
        if (layer.IsDepthwise)
        {
            // The depthwise kernel loads 8 channels of one pixel as a vector, so it reads NCHW8c.
            if (layer.HasPadding || !current.Blocked)
            {
                view = Tensor.BlockedIn(BufferKind.Scratch, current.C, current.H + layer.PadTop + layer.PadBottom, current.W + layer.PadLeft + layer.PadRight);
                Add(new CopyStep(current, view, layer.PadTop, layer.PadLeft, layer.HasPadding ? "zero-padded NCHW8c copy" : "NCHW → NCHW8c"));
            }
        }
        else if (layer.HasPadding)
        {
            // Padding once up front leaves the kernel with no borders: every tap of every pixel is in bounds.
            view = Tensor.Planar(BufferKind.Scratch, current.C, current.H + layer.PadTop + layer.PadBottom, current.W + layer.PadLeft + layer.PadRight);
            Add(new CopyStep(current, view, layer.PadTop, layer.PadLeft, "zero-padded copy"));
        }

        int inPerGroup = layer.Input.C / layer.Groups;
        var weight = new ParameterPlan(layer.Index, "weight", new[] { layer.Output.C, inPerGroup, kh, kw },
            layer.IsDepthwise
                ? $"global::ConvGen.ParameterLayout.Depthwise({layer.Output.C}, {kh}, {kw})"
                : $"global::ConvGen.ParameterLayout.ConvBlocked({layer.Output.C}, {layer.Input.C}, {layer.Groups}, {kh}, {kw})",
            inPerGroup * kh * kw);
        var bias = layer.Bias ? new ParameterPlan(layer.Index, "bias", new[] { layer.Output.C }, $"global::ConvGen.ParameterLayout.Vector({layer.Output.C})", weight.FanIn) : null;
        Parameters.Add(weight);
        if (bias is not null) Parameters.Add(bias);

        var to = Tensor.BlockedIn(Next(current), layer.Output.C, layer.Output.H, layer.Output.W);
        Add(new ConvStep(layer, view, to, activation, weight, bias));
        return to;
    }

    private Tensor AddLinear(LayerModel layer, Tensor current, LayerKind? activation)
    {
        var weight = new ParameterPlan(layer.Index, "weight", new[] { layer.Output.C, layer.Input.C },
            $"global::ConvGen.ParameterLayout.Linear({layer.Output.C}, {current.C}, {current.H}, {current.W}, blockedInput: {(current.Blocked ? "true" : "false")})",
            layer.Input.C);
        var bias = layer.Bias ? new ParameterPlan(layer.Index, "bias", new[] { layer.Output.C }, $"global::ConvGen.ParameterLayout.Vector({layer.Output.C})", weight.FanIn) : null;
        Parameters.Add(weight);
        if (bias is not null) Parameters.Add(bias);
        // Outputs are stored in whole vectors of 8: the stride rounds up, the extra lanes hold zero-weight results.
        var to = new Tensor(Next(current), false, layer.Output.C, 1, 1, Tensor.Blocks(layer.Output.C) * 8);
        Add(new LinearStep(layer, current, to, activation, weight, bias));
        return to;
    }
}

using System;

namespace ConvGen;

// Layer attributes. The generator reads them in source order (top to bottom, left to right)
// and numbers them exactly as torch.nn.Sequential numbers its modules.

/// <summary>Marks a <c>partial</c> class as a ConvGen network and gives the per-sample input shape (NCHW without N).</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class InputAttribute(int channels, int height, int width) : Attribute
{
    /// <summary>Input channels.</summary>
    public int Channels { get; } = channels;
    /// <summary>Input height.</summary>
    public int Height { get; } = height;
    /// <summary>Input width.</summary>
    public int Width { get; } = width;
}

/// <summary>
/// 2-D cross-correlation with <c>torch.nn.Conv2d</c> semantics: weights OIHW, symmetric zero padding <paramref name="pad"/>.
/// Set <see cref="Same"/> for TensorFlow-style "same" padding: output size <c>ceil(H / stride)</c>, the total padding split
/// with the smaller half before (top/left) and the larger after, so an even kernel pads one more row at the bottom.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
public sealed class ConvAttribute(int kh, int kw, int @in, int @out, int stride = 1, int pad = 0, int dilation = 1, int groups = 1, bool bias = true) : Attribute
{
    /// <summary>Kernel height.</summary>
    public int KernelHeight { get; } = kh;
    /// <summary>Kernel width.</summary>
    public int KernelWidth { get; } = kw;
    /// <summary>Input channels.</summary>
    public int InChannels { get; } = @in;
    /// <summary>Output channels.</summary>
    public int OutChannels { get; } = @out;
    /// <summary>Stride, both directions.</summary>
    public int Stride { get; } = stride;
    /// <summary>Zero padding on every side.</summary>
    public int Pad { get; } = pad;
    /// <summary>Dilation, both directions.</summary>
    public int Dilation { get; } = dilation;
    /// <summary>Channel groups; <c>groups == in</c> is depthwise.</summary>
    public int Groups { get; } = groups;
    /// <summary>Whether the layer has a bias.</summary>
    public bool Bias { get; } = bias;
    /// <summary>TensorFlow "same" padding (replaces <c>pad</c>, which must then be 0).</summary>
    public bool Same { get; set; }
}

/// <summary>Element-wise <c>max(x, 0)</c>.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
public sealed class ReluAttribute : Attribute;

/// <summary>Element-wise <c>1 / (1 + e^-x)</c>.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
public sealed class SigmoidAttribute : Attribute;

/// <summary>Element-wise <c>tanh(x)</c>.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
public sealed class TanhAttribute : Attribute;

/// <summary>Max pooling (<c>torch.nn.MaxPool2d</c>, floor mode; padding counts as -infinity).</summary>
/// <param name="size">Window size, both directions.</param>
/// <param name="stride">Stride; 0 means "equal to <paramref name="size"/>" (PyTorch's <c>stride=None</c>).</param>
/// <param name="pad">Implicit padding on every side, at most half the window.</param>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
public sealed class MaxPoolAttribute(int size, int stride = 0, int pad = 0) : Attribute
{
    /// <summary>Window size.</summary>
    public int Size { get; } = size;
    /// <summary>Stride (0: equal to the size).</summary>
    public int Stride { get; } = stride;
    /// <summary>Padding.</summary>
    public int Pad { get; } = pad;
}

/// <summary>Average pooling (<c>torch.nn.AvgPool2d</c>, floor mode, padding counted in the average).</summary>
/// <param name="size">Window size, both directions.</param>
/// <param name="stride">Stride; 0 means "equal to <paramref name="size"/>" (PyTorch's <c>stride=None</c>).</param>
/// <param name="pad">Implicit zero padding on every side, at most half the window.</param>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
public sealed class AvgPoolAttribute(int size, int stride = 0, int pad = 0) : Attribute
{
    /// <summary>Window size.</summary>
    public int Size { get; } = size;
    /// <summary>Stride (0: equal to the size).</summary>
    public int Stride { get; } = stride;
    /// <summary>Padding.</summary>
    public int Pad { get; } = pad;
}

/// <summary>Mean over all spatial positions: C×H×W → C×1×1 (<c>nn.AdaptiveAvgPool2d(1)</c>).</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
public sealed class GlobalAvgPoolAttribute : Attribute;

/// <summary>C×H×W → C·H·W features, in PyTorch's order (<c>nn.Flatten</c>).</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
public sealed class FlattenAttribute : Attribute;

/// <summary>Fully connected layer <c>y = W x + b</c> (<c>torch.nn.Linear</c>, weights <c>[out, in]</c>).</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
public sealed class LinearAttribute(int @in, int @out, bool bias = true) : Attribute
{
    /// <summary>Input features.</summary>
    public int InFeatures { get; } = @in;
    /// <summary>Output features.</summary>
    public int OutFeatures { get; } = @out;
    /// <summary>Whether the layer has a bias.</summary>
    public bool Bias { get; } = bias;
}

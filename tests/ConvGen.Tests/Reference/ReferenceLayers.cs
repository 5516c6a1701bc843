using System;
using System.Collections.Generic;

namespace ConvGen.Tests.Reference;

// An independent float64 implementation of every layer kind, written as plain loops straight from the PyTorch
// formulas (torch.nn.Conv2d, MaxPool2d, AvgPool2d with count_include_pad=True and ceil_mode=False, AdaptiveAvgPool2d(1),
// Flatten, Linear). Activations are NCHW per sample; weights are in PyTorch layout (OIHW, [out, in]).
// Backward is the chain rule written out per layer as the same loops (what torch.autograd computes, with its
// conventions: ReLU'(0) = 0, a max pool's gradient goes to the first maximum of its window).
// Nothing here is shared with the generator or the runtime: it is the yardstick they are measured against.

/// <summary>Per-sample shape: C×H×W, or <c>Features</c> values when <see cref="IsFlat"/>.</summary>
public readonly record struct RefShape(int C, int H, int W, bool IsFlat = false)
{
    /// <summary>Values per sample.</summary>
    public int Length => C * H * W;

    /// <summary>A flat feature vector of <paramref name="features"/> values.</summary>
    public static RefShape Flat(int features) => new(features, 1, 1, IsFlat: true);

    /// <inheritdoc/>
    public override string ToString() => IsFlat ? $"[{C}]" : $"[{C}x{H}x{W}]";
}

/// <summary>One layer of the reference network.</summary>
public abstract class RefLayer
{
    /// <summary>Per-sample output shape for <paramref name="input"/>; throws when the layer does not apply.</summary>
    public abstract RefShape OutputShape(RefShape input);

    /// <summary>Runs the layer on <paramref name="batch"/> samples of shape <paramref name="input"/>.</summary>
    public abstract double[] Forward(double[] x, int batch, RefShape input);

    /// <summary>
    /// ∂L/∂x for the layer's input <paramref name="x"/> given ∂L/∂y <paramref name="dy"/>; the gradients of the layer's
    /// tensors are added into <see cref="Gradients"/>.
    /// </summary>
    public abstract double[] Backward(double[] x, double[] dy, int batch, RefShape input);

    /// <summary>∂L/∂tensor by state-dict suffix ("weight", "bias"), summed over every <see cref="Backward"/> call.</summary>
    public IReadOnlyDictionary<string, double[]> Gradients { get; protected init; } = new Dictionary<string, double[]>();

    /// <summary>Zeroed gradients shaped like a layer's weight and (when it has one) bias.</summary>
    protected static IReadOnlyDictionary<string, double[]> GradientsLike(double[] weight, double[]? bias)
        => bias is null
            ? new Dictionary<string, double[]> { ["weight"] = new double[weight.Length] }
            : new Dictionary<string, double[]> { ["weight"] = new double[weight.Length], ["bias"] = new double[bias.Length] };

    /// <summary>
    /// How many of the layer's kinks lie within <paramref name="window"/> of <paramref name="x"/> without sitting on it:
    /// a ReLU input in (0, window], a max-pool window whose two largest values differ by less than it. A float32 run of
    /// the same network may land on the other side of such a kink, where the gradient takes another value. Exact ties
    /// and exact zeros are not counted: float32 meets them too, and both sides resolve them by the same convention.
    /// </summary>
    public virtual int NearKinks(double[] x, int batch, RefShape input, double window) => 0;
}

/// <summary>
/// <c>torch.nn.Conv2d</c> with explicit (possibly asymmetric) zero padding:
/// <c>y[n,o,i,j] = b[o] + Σ_{c,u,v} w[o,c,u,v] · x[n, g·Cin/G + c, i·s − top + u·d, j·s − left + v·d]</c>.
/// </summary>
public sealed class RefConv2d : RefLayer
{
    public RefConv2d(int inChannels, int outChannels, int kh, int kw, int stride, int padTop, int padBottom, int padLeft, int padRight,
                     int dilation, int groups, double[] weight, double[]? bias)
    {
        if (inChannels % groups != 0 || outChannels % groups != 0)
            throw new ArgumentException($"channels {inChannels}->{outChannels} not divisible by groups {groups}");
        if (weight.Length != outChannels * (inChannels / groups) * kh * kw)
            throw new ArgumentException("weight length does not match OIHW shape");
        if (bias is not null && bias.Length != outChannels)
            throw new ArgumentException("bias length does not match out channels");
        InChannels = inChannels; OutChannels = outChannels; KernelHeight = kh; KernelWidth = kw; Stride = stride;
        PadTop = padTop; PadBottom = padBottom; PadLeft = padLeft; PadRight = padRight; Dilation = dilation; Groups = groups;
        Weight = weight; Bias = bias;
        Gradients = GradientsLike(weight, bias);
    }

    public int InChannels { get; }
    public int OutChannels { get; }
    public int KernelHeight { get; }
    public int KernelWidth { get; }
    public int Stride { get; }
    public int PadTop { get; }
    public int PadBottom { get; }
    public int PadLeft { get; }
    public int PadRight { get; }
    public int Dilation { get; }
    public int Groups { get; }
    public double[] Weight { get; }
    public double[]? Bias { get; }

    /// <summary>
    /// TensorFlow "same" padding for one dimension: output <c>ceil(size / stride)</c>, total padding
    /// <c>max((out − 1)·stride + dilation·(k − 1) + 1 − size, 0)</c>, the smaller half before.
    /// </summary>
    public static (int Before, int After) SamePadding(int size, int kernel, int stride, int dilation)
    {
        int output = (size + stride - 1) / stride;
        int total = Math.Max((output - 1) * stride + dilation * (kernel - 1) + 1 - size, 0);
        return (total / 2, total - total / 2);
    }

    /// <summary>PyTorch's output size: <c>floor((size + padding − dilation·(k − 1) − 1) / stride) + 1</c>, or ≤ 0 when empty.</summary>
    public static int OutputSize(int size, int padBefore, int padAfter, int kernel, int stride, int dilation)
    {
        int numerator = size + padBefore + padAfter - dilation * (kernel - 1) - 1;
        return numerator < 0 ? 0 : numerator / stride + 1;
    }

    public override RefShape OutputShape(RefShape input)
    {
        if (input.IsFlat || input.C != InChannels)
            throw new ArgumentException($"Conv expects {InChannels} channels, got {input}");
        int oh = OutputSize(input.H, PadTop, PadBottom, KernelHeight, Stride, Dilation);
        int ow = OutputSize(input.W, PadLeft, PadRight, KernelWidth, Stride, Dilation);
        if (oh < 1 || ow < 1) throw new ArgumentException($"Conv output is empty for input {input}");
        return new RefShape(OutChannels, oh, ow);
    }

    public override double[] Forward(double[] x, int batch, RefShape input)
    {
        var o = OutputShape(input);
        int inPerGroup = InChannels / Groups, outPerGroup = OutChannels / Groups;
        var y = new double[batch * o.Length];
        for (int n = 0; n < batch; n++)
            for (int oc = 0; oc < OutChannels; oc++)
            {
                int g = oc / outPerGroup;
                for (int i = 0; i < o.H; i++)
                    for (int j = 0; j < o.W; j++)
                    {
                        double sum = Bias is null ? 0.0 : Bias[oc];
                        for (int c = 0; c < inPerGroup; c++)
                        {
                            int ic = g * inPerGroup + c;
                            for (int u = 0; u < KernelHeight; u++)
                            {
                                int r = i * Stride - PadTop + u * Dilation;
                                if (r < 0 || r >= input.H) continue; // zero padding
                                for (int v = 0; v < KernelWidth; v++)
                                {
                                    int s = j * Stride - PadLeft + v * Dilation;
                                    if (s < 0 || s >= input.W) continue;
                                    double w = Weight[((oc * inPerGroup + c) * KernelHeight + u) * KernelWidth + v];
                                    sum += w * x[((n * InChannels + ic) * input.H + r) * input.W + s];
                                }
                            }
                        }
                        y[((n * OutChannels + oc) * o.H + i) * o.W + j] = sum;
                    }
            }
        return y;
    }

    public override double[] Backward(double[] x, double[] dy, int batch, RefShape input)
    {
        var o = OutputShape(input);
        int inPerGroup = InChannels / Groups, outPerGroup = OutChannels / Groups;
        var dx = new double[x.Length];
        double[] dw = Gradients["weight"], db = Bias is null ? [] : Gradients["bias"];
        for (int n = 0; n < batch; n++)
            for (int oc = 0; oc < OutChannels; oc++)
            {
                int g = oc / outPerGroup;
                for (int i = 0; i < o.H; i++)
                    for (int j = 0; j < o.W; j++)
                    {
                        double grad = dy[((n * OutChannels + oc) * o.H + i) * o.W + j];
                        if (Bias is not null) db[oc] += grad;
                        for (int c = 0; c < inPerGroup; c++)
                        {
                            int ic = g * inPerGroup + c;
                            for (int u = 0; u < KernelHeight; u++)
                            {
                                int r = i * Stride - PadTop + u * Dilation;
                                if (r < 0 || r >= input.H) continue;
                                for (int v = 0; v < KernelWidth; v++)
                                {
                                    int s = j * Stride - PadLeft + v * Dilation;
                                    if (s < 0 || s >= input.W) continue;
                                    int wi = ((oc * inPerGroup + c) * KernelHeight + u) * KernelWidth + v;
                                    int xi = ((n * InChannels + ic) * input.H + r) * input.W + s;
                                    dw[wi] += grad * x[xi];
                                    dx[xi] += grad * Weight[wi];
                                }
                            }
                        }
                    }
            }
        return dx;
    }
}

/// <summary>Element-wise activations.</summary>
public enum RefActivationKind { Relu, Sigmoid, Tanh }

/// <summary><c>nn.ReLU</c>, <c>nn.Sigmoid</c>, <c>nn.Tanh</c>; any shape.</summary>
public sealed class RefActivation(RefActivationKind kind) : RefLayer
{
    public RefActivationKind Kind { get; } = kind;

    public override RefShape OutputShape(RefShape input) => input;

    public override double[] Forward(double[] x, int batch, RefShape input)
    {
        var y = new double[x.Length];
        for (int i = 0; i < x.Length; i++)
            y[i] = Kind switch
            {
                RefActivationKind.Relu => x[i] > 0 ? x[i] : 0.0,
                RefActivationKind.Sigmoid => Sigmoid(x[i]),
                RefActivationKind.Tanh => Math.Tanh(x[i]),
                _ => throw new InvalidOperationException(),
            };
        return y;
    }

    private static double Sigmoid(double x) => 1.0 / (1.0 + Math.Exp(-x));

    public override double[] Backward(double[] x, double[] dy, int batch, RefShape input)
    {
        var dx = new double[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            double slope = Kind switch
            {
                RefActivationKind.Relu => x[i] > 0 ? 1.0 : 0.0,
                RefActivationKind.Sigmoid => Sigmoid(x[i]) * (1.0 - Sigmoid(x[i])),
                RefActivationKind.Tanh => 1.0 - Math.Tanh(x[i]) * Math.Tanh(x[i]),
                _ => throw new InvalidOperationException(),
            };
            dx[i] = slope * dy[i];
        }
        return dx;
    }

    public override int NearKinks(double[] x, int batch, RefShape input, double window)
    {
        if (Kind != RefActivationKind.Relu) return 0;
        int count = 0;
        foreach (double v in x)
            if (v != 0 && Math.Abs(v) <= window) count++;
        return count;
    }
}

/// <summary>
/// <c>nn.MaxPool2d(size, stride, pad)</c> (padding is −∞) or <c>nn.AvgPool2d(size, stride, pad)</c> (padding is 0 and
/// counted: the divisor is always size²), floor mode: <c>out = floor((H + 2p − size) / stride) + 1</c>.
/// </summary>
public sealed class RefPool2d : RefLayer
{
    public RefPool2d(bool isMax, int size, int stride, int pad)
    {
        IsMax = isMax; Size = size; Stride = stride == 0 ? size : stride; Pad = pad;
        if (2 * pad > size) throw new ArgumentException($"pool pad {pad} is more than half of size {size}");
    }

    public bool IsMax { get; }
    public int Size { get; }
    public int Stride { get; }
    public int Pad { get; }

    public override RefShape OutputShape(RefShape input)
    {
        if (input.IsFlat) throw new ArgumentException("pooling needs C×H×W");
        int oh = (input.H + 2 * Pad - Size) / Stride + 1, ow = (input.W + 2 * Pad - Size) / Stride + 1;
        if (input.H + 2 * Pad < Size || input.W + 2 * Pad < Size)
            throw new ArgumentException($"pool window {Size} larger than padded input {input}");
        return new RefShape(input.C, oh, ow);
    }

    public override double[] Forward(double[] x, int batch, RefShape input)
    {
        var o = OutputShape(input);
        var y = new double[batch * o.Length];
        for (int n = 0; n < batch; n++)
            for (int c = 0; c < input.C; c++)
                for (int i = 0; i < o.H; i++)
                    for (int j = 0; j < o.W; j++)
                    {
                        double acc = IsMax ? double.NegativeInfinity : 0.0;
                        for (int u = 0; u < Size; u++)
                            for (int v = 0; v < Size; v++)
                            {
                                int r = i * Stride - Pad + u, s = j * Stride - Pad + v;
                                double value = r < 0 || r >= input.H || s < 0 || s >= input.W
                                    ? (IsMax ? double.NegativeInfinity : 0.0)
                                    : x[((n * input.C + c) * input.H + r) * input.W + s];
                                acc = IsMax ? Math.Max(acc, value) : acc + value;
                            }
                        y[((n * input.C + c) * o.H + i) * o.W + j] = IsMax ? acc : acc / (Size * Size);
                    }
        return y;
    }

    public override double[] Backward(double[] x, double[] dy, int batch, RefShape input)
    {
        var o = OutputShape(input);
        var dx = new double[x.Length];
        for (int n = 0; n < batch; n++)
            for (int c = 0; c < input.C; c++)
                for (int i = 0; i < o.H; i++)
                    for (int j = 0; j < o.W; j++)
                    {
                        double grad = dy[((n * input.C + c) * o.H + i) * o.W + j];
                        if (IsMax)
                        {
                            dx[Largest(x, n, c, i, j, input).First] += grad;
                            continue;
                        }
                        foreach (int at in InWindow(n, c, i, j, input)) dx[at] += grad / (Size * Size);
                    }
        return dx;
    }

    public override int NearKinks(double[] x, int batch, RefShape input, double window)
    {
        if (!IsMax) return 0;
        var o = OutputShape(input);
        int count = 0;
        for (int n = 0; n < batch; n++)
            for (int c = 0; c < input.C; c++)
                for (int i = 0; i < o.H; i++)
                    for (int j = 0; j < o.W; j++)
                    {
                        var (first, second) = Largest(x, n, c, i, j, input);
                        if (second >= 0 && x[first] != x[second] && x[first] - x[second] <= window) count++;
                    }
        return count;
    }

    /// <summary>Indices of the in-bounds values of one window, in row-major window order.</summary>
    private IEnumerable<int> InWindow(int n, int c, int i, int j, RefShape input)
    {
        for (int u = 0; u < Size; u++)
            for (int v = 0; v < Size; v++)
            {
                int r = i * Stride - Pad + u, s = j * Stride - Pad + v;
                if (r >= 0 && r < input.H && s >= 0 && s < input.W) yield return ((n * input.C + c) * input.H + r) * input.W + s;
            }
    }

    /// <summary>The first maximum of a window (where its gradient goes) and the largest value elsewhere (−1 if none).</summary>
    private (int First, int Second) Largest(double[] x, int n, int c, int i, int j, RefShape input)
    {
        int first = -1, second = -1;
        foreach (int at in InWindow(n, c, i, j, input))
        {
            if (first < 0 || x[at] > x[first]) (first, second) = (at, first);
            else if (second < 0 || x[at] > x[second]) second = at;
        }
        return (first, second);
    }
}

/// <summary><c>nn.AdaptiveAvgPool2d(1)</c>: C×H×W → C×1×1, the mean of each plane.</summary>
public sealed class RefGlobalAvgPool : RefLayer
{
    public override RefShape OutputShape(RefShape input)
        => input.IsFlat ? throw new ArgumentException("global pooling needs C×H×W") : new RefShape(input.C, 1, 1);

    public override double[] Forward(double[] x, int batch, RefShape input)
    {
        int plane = input.H * input.W;
        var y = new double[batch * input.C];
        for (int n = 0; n < batch; n++)
            for (int c = 0; c < input.C; c++)
            {
                double sum = 0;
                for (int p = 0; p < plane; p++) sum += x[(n * input.C + c) * plane + p];
                y[n * input.C + c] = sum / plane;
            }
        return y;
    }

    public override double[] Backward(double[] x, double[] dy, int batch, RefShape input)
    {
        int plane = input.H * input.W;
        var dx = new double[x.Length];
        for (int i = 0; i < dx.Length; i++) dx[i] = dy[i / plane] / plane;
        return dx;
    }
}

/// <summary><c>nn.Flatten</c>: C×H×W → C·H·W features in NCHW order (a no-op on the data).</summary>
public sealed class RefFlatten : RefLayer
{
    public override RefShape OutputShape(RefShape input) => RefShape.Flat(input.Length);

    public override double[] Forward(double[] x, int batch, RefShape input) => (double[])x.Clone();

    public override double[] Backward(double[] x, double[] dy, int batch, RefShape input) => (double[])dy.Clone();
}

/// <summary><c>nn.Linear</c>: <c>y[n,o] = b[o] + Σ_i W[o,i] · x[n,i]</c>; only after a flat input.</summary>
public sealed class RefLinear : RefLayer
{
    public RefLinear(int inFeatures, int outFeatures, double[] weight, double[]? bias)
    {
        if (weight.Length != inFeatures * outFeatures) throw new ArgumentException("weight length does not match [out, in]");
        if (bias is not null && bias.Length != outFeatures) throw new ArgumentException("bias length does not match out");
        InFeatures = inFeatures; OutFeatures = outFeatures; Weight = weight; Bias = bias;
        Gradients = GradientsLike(weight, bias);
    }

    public int InFeatures { get; }
    public int OutFeatures { get; }
    public double[] Weight { get; }
    public double[]? Bias { get; }

    public override RefShape OutputShape(RefShape input)
    {
        if (!input.IsFlat || input.Length != InFeatures)
            throw new ArgumentException($"Linear expects [{InFeatures}] features, got {input}");
        return RefShape.Flat(OutFeatures);
    }

    public override double[] Forward(double[] x, int batch, RefShape input)
    {
        OutputShape(input);
        var y = new double[batch * OutFeatures];
        for (int n = 0; n < batch; n++)
            for (int o = 0; o < OutFeatures; o++)
            {
                double sum = Bias is null ? 0.0 : Bias[o];
                for (int i = 0; i < InFeatures; i++) sum += Weight[o * InFeatures + i] * x[n * InFeatures + i];
                y[n * OutFeatures + o] = sum;
            }
        return y;
    }

    public override double[] Backward(double[] x, double[] dy, int batch, RefShape input)
    {
        var dx = new double[x.Length];
        double[] dw = Gradients["weight"], db = Bias is null ? [] : Gradients["bias"];
        for (int n = 0; n < batch; n++)
            for (int o = 0; o < OutFeatures; o++)
            {
                double grad = dy[n * OutFeatures + o];
                if (Bias is not null) db[o] += grad;
                for (int i = 0; i < InFeatures; i++)
                {
                    dw[o * InFeatures + i] += grad * x[n * InFeatures + i];
                    dx[n * InFeatures + i] += grad * Weight[o * InFeatures + i];
                }
            }
        return dx;
    }
}

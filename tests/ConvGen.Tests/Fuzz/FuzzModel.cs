using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using ConvGen.Tests.Infrastructure;
using ConvGen.Tests.Reference;

namespace ConvGen.Tests.Fuzz;

// The fuzz corpus: random attribute stacks (valid and invalid), an independent validity oracle written from the
// documentation (docs/attributes.md and docs/diagnostics), and the rendering of stacks as C# source with varied argument
// styles, class shapes, compiler-level mistakes and unrelated junk around them. Nothing here calls the generator.

internal enum FuzzKind { Conv, Relu, Sigmoid, Tanh, MaxPool, AvgPool, GlobalAvgPool, Flatten, Linear }

/// <summary>One layer attribute. Pools keep their window in <see cref="Kh"/>; their stride 0 means "the window".</summary>
internal sealed record FuzzLayer(FuzzKind Kind, int Kh = 0, int Kw = 0, int In = 0, int Out = 0, int Stride = 1, int Pad = 0,
                                 int Dilation = 1, int Groups = 1, bool Bias = true, bool Same = false)
{
    public static FuzzLayer Activation(FuzzKind kind) => new(kind);
    public static FuzzLayer Pool(bool max, int size, int stride = 0, int pad = 0) => new(max ? FuzzKind.MaxPool : FuzzKind.AvgPool, Kh: size, Kw: size, Stride: stride, Pad: pad);
    public static FuzzLayer Linear(int @in, int @out, bool bias = true) => new(FuzzKind.Linear, In: @in, Out: @out, Bias: bias);

    /// <summary>Compact, for failure messages: <c>Conv(3x3 1→4 s1 p0 d1 g1 bias)</c>, <c>MaxPool(2 s0 p0)</c>, <c>Linear(400→10)</c>.</summary>
    public override string ToString() => Kind switch
    {
        FuzzKind.Conv => $"Conv({Kh}x{Kw} {In}→{Out} s{Stride} p{Pad} d{Dilation} g{Groups}{(Bias ? " bias" : "")}{(Same ? " same" : "")})",
        FuzzKind.MaxPool or FuzzKind.AvgPool => $"{Kind}({Kh} s{Stride} p{Pad})",
        FuzzKind.Linear => $"Linear({In}→{Out}{(Bias ? "" : " no bias")})",
        _ => Kind.ToString(),
    };

    public bool IsActivation => Kind is FuzzKind.Relu or FuzzKind.Sigmoid or FuzzKind.Tanh;
    public bool IsPool => Kind is FuzzKind.MaxPool or FuzzKind.AvgPool;

    /// <summary>The test infrastructure's spec of this layer (only meaningful for valid, small layers).</summary>
    public LayerSpec ToSpec() => Kind switch
    {
        FuzzKind.Conv => new ConvSpec(Kh, Kw, In, Out, Stride, Pad, Dilation, Groups, Bias, Same),
        FuzzKind.Relu => new ActivationSpec(RefActivationKind.Relu),
        FuzzKind.Sigmoid => new ActivationSpec(RefActivationKind.Sigmoid),
        FuzzKind.Tanh => new ActivationSpec(RefActivationKind.Tanh),
        FuzzKind.MaxPool => new PoolSpec(true, Kh, Stride, Pad),
        FuzzKind.AvgPool => new PoolSpec(false, Kh, Stride, Pad),
        FuzzKind.GlobalAvgPool => new GlobalAvgPoolSpec(),
        FuzzKind.Flatten => new FlattenSpec(),
        FuzzKind.Linear => new LinearSpec(In, Out, Bias),
        _ => throw new ArgumentOutOfRangeException(nameof(Kind)),
    };
}

/// <summary>How the network's type is declared. Only the first three can be networks.</summary>
internal enum FuzzDecl { PartialClass, InternalPartialClass, SealedPartialClass, NotPartial, Struct, Record, RecordStruct, Static, Generic, Nested, Interface, Enum }

/// <summary>A mistake the C# compiler itself reports (the attribute does not bind, or the text does not parse).</summary>
internal enum FuzzCompileError
{
    None, MissingArgument, WrongArgumentType, TrailingComma, SameBeforeNamedArgument, UnknownNamedArgument, ArgumentToRelu,
    ConstantOverflow, DuplicateInput, InputMissingArgument,
}

/// <summary>What goes in the class body.</summary>
internal enum FuzzBody { Semicolon, Empty, Member, MisplacedLayerAttributeOnMethod, SyntaxErrorInMethod }

/// <summary>One random network: the attribute stack and everything around it.</summary>
internal sealed record FuzzNetwork(
    string Name, bool HasInput, int C, int H, int W, IReadOnlyList<FuzzLayer> Layers,
    FuzzDecl Decl = FuzzDecl.PartialClass, FuzzCompileError CompileError = FuzzCompileError.None, FuzzBody Body = FuzzBody.Semicolon,
    string Origin = "")
{
    /// <summary>Whether the declaration can be a network at all (a partial, non-static, non-generic, top-level class).</summary>
    public bool DeclIsNetwork => Decl is FuzzDecl.PartialClass or FuzzDecl.InternalPartialClass or FuzzDecl.SealedPartialClass;

    public NetworkSpec ToSpec() => new(Name, C, H, W, [.. Layers.Select(l => l.ToSpec())]);

    public string Describe()
        => $"{Name} ({Origin}; {Decl}, {CompileError}, body {Body}): "
           + (HasInput ? $"Input({C}, {H}, {W}) " : "no Input ") + string.Join(" ", Layers.Select(l => l.ToString()));
}

/// <summary>
/// Independent validity check, written from the documentation: PyTorch's shape rules (docs/attributes.md), ConvGen's
/// argument rules (CG0003 to CG0008) and its size limit (CG0009: 2^28 values per tensor, counted as stored in blocks of
/// 8 channels for C×H×W tensors, per layer's parameters, and for the zero-padded copy a convolution reads). 64-bit,
/// saturating arithmetic, so extreme arguments cannot wrap.
/// </summary>
internal static class FuzzOracle
{
    public const long Limit = 1L << 28;
    private const long Cap = 1L << 62;

    public readonly record struct Shape(long C, long H, long W, bool Flat)
    {
        public long Elements => Mul(Mul(C, H), W);
        public long Stored => Flat ? Elements : Mul(Mul((C + 7) / 8 * 8, H), W);
        public override string ToString() => Flat ? $"{C}" : $"{C}×{H}×{W}";
    }

    /// <summary>The verdict: valid or why not, and which layers leave input rows or columns unread (CG0012).</summary>
    public sealed record Verdict(bool Valid, string Reason, IReadOnlyList<Shape> Shapes, ISet<int> MustWarn, ISet<int> MayWarn);

    public static long Mul(long a, long b) => a == 0 || b == 0 ? 0 : a > Cap / b ? Cap : a * b;

    /// <summary>PyTorch: floor((size + before + after − dilation·(k − 1) − 1) / stride) + 1, or 0 when the window does not fit.</summary>
    public static long OutputSize(long size, long before, long after, long k, long stride, long dilation)
    {
        long span = size + before + after - Mul(dilation, k - 1) - 1;
        return span < 0 ? 0 : span / stride + 1;
    }

    /// <summary>TensorFlow "same": total padding max((ceil(size/s) − 1)·s + extent − size, 0), the smaller half first.</summary>
    public static (long Before, long After) SamePadding(long size, long k, long stride, long dilation)
    {
        long output = (size + stride - 1) / stride;
        long extent = Mul(dilation, k - 1) + 1;
        long total = Math.Max(Mul(output - 1, stride) + extent - size, 0);
        return (total / 2, total - total / 2);
    }

    public static Verdict Check(FuzzNetwork n)
    {
        var shapes = new List<Shape>();
        var mustWarn = new HashSet<int>();
        var mayWarn = new HashSet<int>();
        Verdict Bad(string why) => new(false, why, shapes, mustWarn, mayWarn);
        if (!n.HasInput) return Bad("no [Input]");
        if (!n.DeclIsNetwork) return Bad($"declared as {n.Decl}");
        if (n.CompileError != FuzzCompileError.None) return Bad($"compile error {n.CompileError}");
        if (n.C < 1 || n.H < 1 || n.W < 1) return Bad("input dimension below 1");
        var x = new Shape(n.C, n.H, n.W, false);
        if (x.Stored > Limit) return Bad($"input stored size {x.Stored}");

        for (int i = 0; i < n.Layers.Count; i++)
        {
            var l = n.Layers[i];
            string at = $"layer {i} ({l.Kind})";
            Shape y;
            long parameters = 0;
            switch (l.Kind)
            {
                case FuzzKind.Relu or FuzzKind.Sigmoid or FuzzKind.Tanh:
                    y = x;
                    break;
                case FuzzKind.Flatten:
                    y = new Shape(x.Elements, 1, 1, true);
                    break;
                case FuzzKind.GlobalAvgPool:
                    if (x.Flat) return Bad($"{at} on flat features");
                    y = x with { H = 1, W = 1 };
                    break;
                case FuzzKind.Linear:
                    if (l.In < 1 || l.Out < 1) return Bad($"{at} in/out below 1");
                    if (!x.Flat) return Bad($"{at} on an image");
                    if (l.In != x.C) return Bad($"{at} in {l.In} but {x.C} features");
                    y = new Shape(l.Out, 1, 1, true);
                    parameters = Mul(l.In, l.Out) + (l.Bias ? l.Out : 0);
                    break;
                case FuzzKind.MaxPool or FuzzKind.AvgPool:
                {
                    if (l.Kh < 1) return Bad($"{at} size below 1");
                    if (l.Stride < 0) return Bad($"{at} negative stride");
                    if (l.Pad < 0) return Bad($"{at} negative pad");
                    if (l.Pad > l.Kh / 2) return Bad($"{at} pad over half the window");
                    if (x.Flat) return Bad($"{at} on flat features");
                    long stride = l.Stride == 0 ? l.Kh : l.Stride;
                    long oh = OutputSize(x.H, l.Pad, l.Pad, l.Kh, stride, 1), ow = OutputSize(x.W, l.Pad, l.Pad, l.Kh, stride, 1);
                    if (oh < 1 || ow < 1) return Bad($"{at} output {oh}×{ow}");
                    Tiling(i, [(x.H, l.Kh, l.Pad, l.Pad), (x.W, l.Kh, l.Pad, l.Pad)], stride, 1, mustWarn, mayWarn);
                    y = new Shape(x.C, oh, ow, false);
                    break;
                }
                case FuzzKind.Conv:
                {
                    if (l.Kh < 1 || l.Kw < 1 || l.In < 1 || l.Out < 1 || l.Stride < 1 || l.Dilation < 1 || l.Groups < 1)
                        return Bad($"{at} argument below 1");
                    if (l.Pad < 0) return Bad($"{at} negative pad");
                    if (l.Same && l.Pad != 0) return Bad($"{at} pad with Same");
                    if (x.Flat) return Bad($"{at} on flat features");
                    if (l.In % l.Groups != 0 || l.Out % l.Groups != 0) return Bad($"{at} groups {l.Groups} do not divide {l.In}/{l.Out}");
                    if (l.In != x.C) return Bad($"{at} in {l.In} but {x.C} channels");
                    var (top, bottom) = l.Same ? SamePadding(x.H, l.Kh, l.Stride, l.Dilation) : (l.Pad, l.Pad);
                    var (left, right) = l.Same ? SamePadding(x.W, l.Kw, l.Stride, l.Dilation) : (l.Pad, l.Pad);
                    long oh = OutputSize(x.H, top, bottom, l.Kh, l.Stride, l.Dilation), ow = OutputSize(x.W, left, right, l.Kw, l.Stride, l.Dilation);
                    if (oh < 1 || ow < 1) return Bad($"{at} output {oh}×{ow}");
                    var padded = new Shape(x.C, x.H + top + bottom, x.W + left + right, false);
                    if (padded.Stored > Limit) return Bad($"{at} zero-padded input stored size {padded.Stored}");
                    Tiling(i, [(x.H, l.Kh, top, bottom), (x.W, l.Kw, left, right)], l.Stride, l.Dilation, mustWarn, mayWarn);
                    y = new Shape(l.Out, oh, ow, false);
                    parameters = Mul(Mul(Mul(l.Out, l.In / l.Groups), l.Kh), l.Kw) + (l.Bias ? l.Out : 0);
                    break;
                }
                default:
                    throw new ArgumentOutOfRangeException(nameof(n));
            }
            if (y.Stored > Limit) return Bad($"{at} output stored size {y.Stored}");
            if (parameters > Limit) return Bad($"{at} {parameters} parameters");
            shapes.Add(y);
            x = y;
        }
        return new Verdict(true, "", shapes, mustWarn, mayWarn);
    }

    /// <summary>
    /// CG0012 bookkeeping for one window layer, per dimension (size, window, padding before, padding after): the last
    /// window ends <c>r = (size + before + after − extent) mod stride</c> padded rows before the end. If more than
    /// <c>after</c> of them are real rows, input data is never read: the warning must come. If all of them are padding,
    /// nothing real is lost: no warning (<paramref name="may"/> only counts these cases). "Same" padding passes its own
    /// halves, which leave real rows unread only when the window is shorter than the stride.
    /// </summary>
    private static void Tiling(int index, (long Size, long K, long Before, long After)[] dimensions, long stride, long dilation, HashSet<int> must, HashSet<int> may)
    {
        foreach (var (size, k, before, after) in dimensions)
        {
            long remainder = (size + before + after - Mul(dilation, k - 1) - 1) % stride;
            if (remainder > after) must.Add(index);
            else if (remainder > 0) may.Add(index);
        }
    }
}

/// <summary>Draws random networks (a fixed seed gives the same corpus every time).</summary>
internal sealed class FuzzGenerator(int seed)
{
    private readonly Random _random = new(seed);
    private int _counter;

    private int Next(int min, int maxInclusive) => _random.Next(min, maxInclusive + 1);
    private bool Chance(double p) => _random.NextDouble() < p;
    private T Pick<T>(params T[] items) => items[_random.Next(items.Length)];

    /// <summary>An extreme or degenerate integer: zero, negatives, the int limits, powers of two around the size limit.</summary>
    public int Extreme() => Pick(0, -1, -2, -7, int.MinValue, int.MaxValue, int.MaxValue - 1, 1 << 16, 1 << 20, 1 << 28, (1 << 28) + 1,
                                 46_341, 65_535, Next(1000, 1_000_000), -Next(1, 1_000_000));

    /// <summary>Either <paramref name="value"/> or, with probability <paramref name="p"/>, something nearby or extreme.</summary>
    private int Perturb(int value, double p)
    {
        if (!Chance(p)) return value;
        return _random.Next(4) switch
        {
            0 => value + 1,
            1 => value - 1,
            2 => Extreme(),
            _ => Next(-3, 12),
        };
    }

    public FuzzNetwork Next()
    {
        string name = $"N{_counter++:D5}";
        double roll = _random.NextDouble();
        FuzzNetwork network;
        if (roll < 0.40) network = Coherent(name, mutate: Chance(0.45));
        else if (roll < 0.55) network = Wild(name);
        else if (roll < 0.62) network = Boundary(name);
        else if (roll < 0.72) network = Coherent(name, mutate: Chance(0.3)) with { Decl = (FuzzDecl)Next((int)FuzzDecl.NotPartial, (int)FuzzDecl.Enum), Origin = "declaration" };
        else if (roll < 0.84) network = Coherent(name, mutate: false) with { CompileError = (FuzzCompileError)Next(1, Enum.GetValues<FuzzCompileError>().Length - 1), Origin = "compile error" };
        else if (roll < 0.89) network = Coherent(name, mutate: Chance(0.5)) with { HasInput = false, Origin = "no input" };
        else network = Coherent(name, mutate: false) with { Origin = "clean" };

        if (network.DeclIsNetwork)
            network = network with
            {
                Body = Chance(0.75) ? FuzzBody.Semicolon : (FuzzBody)Next((int)FuzzBody.Empty, (int)FuzzBody.SyntaxErrorInMethod),
            };
        if (!network.HasInput && network.Layers.Count == 0)
            network = network with { Layers = [FuzzLayer.Activation(FuzzKind.Relu)] };
        return network;
    }

    /// <summary>A network built along its shapes (so usually valid), then maybe broken in one place.</summary>
    public FuzzNetwork Coherent(string name, bool mutate)
    {
        int c = Next(1, 12), h = Next(1, 20), w = Chance(0.7) ? h : Next(1, 20);
        var layers = new List<FuzzLayer>();
        var shape = new FuzzOracle.Shape(c, h, w, false);
        int count = Next(0, 8);
        for (int i = 0; i < count; i++)
        {
            var layer = NextLayer(shape);
            if (layer is null) break;
            var trial = new FuzzNetwork(name, true, c, h, w, [.. layers, layer]);
            var verdict = FuzzOracle.Check(trial);
            if (!verdict.Valid) continue; // an unlucky draw (say, a window too large): try another layer
            layers.Add(layer);
            shape = verdict.Shapes[^1];
        }
        var network = new FuzzNetwork(name, true, c, h, w, layers, Origin: mutate ? "coherent, mutated" : "coherent");
        return mutate ? Mutate(network) : network;
    }

    private FuzzLayer? NextLayer(FuzzOracle.Shape x)
    {
        if (x.Flat)
        {
            return _random.Next(5) switch
            {
                0 => FuzzLayer.Activation(Pick(FuzzKind.Relu, FuzzKind.Sigmoid, FuzzKind.Tanh)),
                1 => new FuzzLayer(FuzzKind.Flatten),
                _ => x.C > 4096 ? null : FuzzLayer.Linear((int)x.C, Next(1, 24), Chance(0.8)),
            };
        }
        int channels = (int)x.C;
        switch (_random.Next(10))
        {
            case 0 or 1 or 2:
            {
                int kh = Next(1, Math.Min(5, (int)x.H + 2)), kw = Chance(0.7) ? kh : Next(1, 5);
                int groups = Chance(0.75) ? 1 : Pick(Divisors(channels));
                int @out = groups * Next(1, Math.Max(1, 16 / groups));
                if (groups == channels && Chance(0.5)) @out = channels * Next(1, 2); // depthwise, multiplier 1 or 2
                bool same = Chance(0.15);
                return new FuzzLayer(FuzzKind.Conv, kh, kw, channels, @out,
                    Stride: Chance(0.7) ? 1 : Next(2, 3), Pad: same ? 0 : Next(0, 2), Dilation: Chance(0.85) ? 1 : 2,
                    Groups: groups, Bias: Chance(0.8), Same: same);
            }
            case 3 or 4:
                return FuzzLayer.Activation(Pick(FuzzKind.Relu, FuzzKind.Sigmoid, FuzzKind.Tanh));
            case 5 or 6:
            {
                int size = Next(1, 3);
                return FuzzLayer.Pool(Chance(0.5), size, stride: Pick(0, 0, 1, 2), pad: Next(0, size / 2));
            }
            case 7:
                return new FuzzLayer(FuzzKind.GlobalAvgPool);
            default:
                return new FuzzLayer(FuzzKind.Flatten);
        }
    }

    private static int[] Divisors(int n) => [.. Enumerable.Range(1, n).Where(d => n % d == 0)];

    /// <summary>One realistic or extreme change: an argument, a layer removed, duplicated, swapped or inserted.</summary>
    private FuzzNetwork Mutate(FuzzNetwork n)
    {
        var layers = n.Layers.ToList();
        switch (_random.Next(layers.Count == 0 ? 1 : 7))
        {
            case 0:
                return _random.Next(3) switch
                {
                    0 => n with { C = Perturb(n.C, 1) },
                    1 => n with { H = Perturb(n.H, 1) },
                    _ => n with { W = Perturb(n.W, 1) },
                };
            case 1 or 2 or 3:
            {
                int i = _random.Next(layers.Count);
                var l = layers[i];
                layers[i] = _random.Next(9) switch
                {
                    0 => l with { Kh = Perturb(l.Kh, 1) },
                    1 => l with { Kw = Perturb(l.Kw, 1) },
                    2 => l with { In = Perturb(l.In, 1) },
                    3 => l with { Out = Perturb(l.Out, 1) },
                    4 => l with { Stride = Perturb(l.Stride, 1) },
                    5 => l with { Pad = Perturb(l.Pad, 1) },
                    6 => l with { Dilation = Perturb(l.Dilation, 1) },
                    7 => l with { Groups = Perturb(l.Groups, 1) },
                    _ => l with { Same = !l.Same },
                };
                break;
            }
            case 4:
                layers.RemoveAt(_random.Next(layers.Count));
                break;
            case 5:
            {
                int i = _random.Next(layers.Count);
                layers.Insert(i, layers[i]);
                break;
            }
            default:
                layers.Insert(_random.Next(layers.Count + 1), RandomLayer());
                break;
        }
        return n with { Layers = layers };
    }

    /// <summary>Any layer with any arguments, mostly small, sometimes extreme.</summary>
    private FuzzLayer RandomLayer()
    {
        int Arg(int lo, int hi) => Chance(0.15) ? Extreme() : Next(lo, hi);
        var kind = (FuzzKind)_random.Next(Enum.GetValues<FuzzKind>().Length);
        return kind switch
        {
            FuzzKind.Conv => new FuzzLayer(kind, Arg(1, 7), Arg(1, 7), Arg(1, 16), Arg(1, 16), Arg(0, 3), Arg(-1, 3), Arg(0, 3), Arg(0, 4), Chance(0.5), Chance(0.2)),
            FuzzKind.MaxPool or FuzzKind.AvgPool => FuzzLayer.Pool(kind == FuzzKind.MaxPool, Arg(0, 4), Arg(-1, 3), Arg(-1, 3)),
            FuzzKind.Linear => FuzzLayer.Linear(Arg(0, 400), Arg(0, 20), Chance(0.5)),
            _ => new FuzzLayer(kind),
        };
    }

    /// <summary>A stack drawn without regard to shapes: almost always invalid, often absurd.</summary>
    public FuzzNetwork Wild(string name)
    {
        int Dim() => Chance(0.2) ? Extreme() : Next(0, 40);
        var layers = Enumerable.Range(0, Next(0, 7)).Select(_ => RandomLayer()).ToList();
        return new FuzzNetwork(name, true, Dim(), Dim(), Dim(), layers, Origin: "wild");
    }

    /// <summary>Tensors and parameter counts at, just under and just over the 2^28 limit, and the stored-in-blocks-of-8 rule.</summary>
    public FuzzNetwork Boundary(string name)
    {
        var relu = FuzzLayer.Activation(FuzzKind.Relu);
        FuzzNetwork N(int c, int h, int w, params FuzzLayer[] layers) => new(name, true, c, h, w, layers, Origin: "boundary");
        return _random.Next(16) switch
        {
            0 => N(8, 8192, 4096, relu),                                       // exactly 2^28: allowed
            1 => N(8, 8192, 4097),                                             // 2^28 + 8·8192: too large
            2 => N(1, 8192, 4096),                                             // 2^25 values, 2^28 as stored: allowed
            3 => N(1, 16384, 16384),                                           // 2^28 values, 2^31 stored: too large
            4 => N(16384, 1, 1, new FuzzLayer(FuzzKind.Flatten), FuzzLayer.Linear(16384, 16384, bias: false)),  // 2^28 parameters
            5 => N(16384, 1, 1, new FuzzLayer(FuzzKind.Flatten), FuzzLayer.Linear(16384, 16384)),               // 2^28 + 16384
            6 => N(8, 4096, 8192, new FuzzLayer(FuzzKind.Conv, 1, 1, 8, 8), relu, relu, relu),                 // 2^28 in and out
            7 => N(8, 4096, 8191, new FuzzLayer(FuzzKind.Conv, 1, 1, 8, 8, Pad: 1)),                           // padded copy over 2^28
            8 => N(1, 1, 1, new FuzzLayer(FuzzKind.Conv, 1, 1, 1, 8, Pad: Next(5000, 9000))),                 // huge pad on 1×1
            9 => N(3, 64, 64, new FuzzLayer(FuzzKind.Conv, int.MaxValue, 3, 3, 4)),                          // window overflow
            10 => N(3, 16, 16, new FuzzLayer(FuzzKind.Conv, 3, 3, 3, 4, Dilation: int.MaxValue, Same: true)), // same padding overflow
            11 => N(Next(1, 4), Next(1, 8), Next(1, 8), new FuzzLayer(FuzzKind.Flatten),
                    FuzzLayer.Linear(Next(1, 256), int.MaxValue)),
            // Many activations at the size limit: each tensor is allowed, together they pass 2^31 values.
            12 => N(8, 8192, 4096, [.. Enumerable.Range(0, Next(3, 10)).Select(_ => FuzzLayer.Activation(Pick(FuzzKind.Relu, FuzzKind.Sigmoid, FuzzKind.Tanh)))]),
            // Sizes whose product passes 2^63.
            13 => N(Next(9, 40), int.MaxValue, Next(1 << 28, int.MaxValue - 1)),
            14 => N(12, 12, 12, new FuzzLayer(FuzzKind.Conv, 4, 5, 12, 3, Pad: int.MaxValue - Next(1, 3))),
            _ => N(Next(1, 3), Next(1, 8), Next(1, 8), new FuzzLayer(FuzzKind.Conv, 1, 1, 1, 1, Pad: Next(1, 1 << 20))),
        };
    }
}

/// <summary>Renders networks as C# with varied argument styles, and junk around them.</summary>
internal sealed class FuzzRenderer(int seed)
{
    private readonly Random _random = new(seed);
    private bool Chance(double p) => _random.NextDouble() < p;
    private T Pick<T>(params T[] items) => items[_random.Next(items.Length)];

    /// <summary>Attributes in another namespace with ConvGen's names, which the generator must ignore.</summary>
    public const string FakeNamespace = """
        namespace Fake
        {
            [System.AttributeUsage(System.AttributeTargets.All, AllowMultiple = true)]
            public sealed class ConvAttribute : System.Attribute { public ConvAttribute(int size) { } }
            [System.AttributeUsage(System.AttributeTargets.All, AllowMultiple = true)]
            public sealed class ReluAttribute : System.Attribute { }
        }

        """;

    private string Int(int v) => v switch
    {
        int.MaxValue => Pick("int.MaxValue", "2147483647"),
        int.MinValue => Pick("int.MinValue", "-2147483648"),
        1 << 16 when Chance(0.5) => "1 << 16",
        _ => v.ToString(CultureInfo.InvariantCulture),
    };

    private static string Bool(bool b) => b ? "true" : "false";

    /// <summary>
    /// Required arguments by position (or all by name, shuffled), optional ones by name when not at their default
    /// (and sometimes when they are), or the whole list by position.
    /// </summary>
    private string Arguments((string Name, string Value, bool Required, bool IsDefault)[] args)
    {
        int style = _random.Next(3);
        if (style == 2 && args.Any(a => !a.Required))
        {
            // Everything by position, up to the last argument that is not at its default.
            int last = Array.FindLastIndex(args, a => a.Required || !a.IsDefault);
            return string.Join(", ", args.Take(last + 1).Select(a => a.Value));
        }
        var written = args.Where(a => a.Required || !a.IsDefault || Chance(0.15)).ToList();
        if (style == 1)
            return string.Join(", ", written.OrderBy(_ => _random.Next()).Select(a => $"{a.Name}: {a.Value}"));
        return string.Join(", ", written.Select(a => a.Required ? a.Value : $"{a.Name}: {a.Value}"));
    }

    private string Name(string name) => _random.Next(12) switch
    {
        0 => "ConvGen." + name,
        1 => name + "Attribute",
        2 => "global::ConvGen." + name,
        _ => name,
    };

    public string Layer(FuzzLayer l)
    {
        switch (l.Kind)
        {
            case FuzzKind.Conv:
            {
                string args = Arguments(
                [
                    ("kh", Int(l.Kh), true, false), ("kw", Int(l.Kw), true, false), ("@in", Int(l.In), true, false), ("@out", Int(l.Out), true, false),
                    ("stride", Int(l.Stride), false, l.Stride == 1), ("pad", Int(l.Pad), false, l.Pad == 0),
                    ("dilation", Int(l.Dilation), false, l.Dilation == 1), ("groups", Int(l.Groups), false, l.Groups == 1),
                    ("bias", Bool(l.Bias), false, l.Bias),
                ]);
                return $"{Name("Conv")}({args}{(l.Same ? ", Same = true" : !l.Same && Chance(0.05) ? ", Same = false" : "")})";
            }
            case FuzzKind.MaxPool or FuzzKind.AvgPool:
                return $"{Name(l.Kind.ToString())}({Arguments([("size", Int(l.Kh), true, false), ("stride", Int(l.Stride), false, l.Stride == 0), ("pad", Int(l.Pad), false, l.Pad == 0)])})";
            case FuzzKind.Linear:
                return $"{Name("Linear")}({Arguments([("@in", Int(l.In), true, false), ("@out", Int(l.Out), true, false), ("bias", Bool(l.Bias), false, l.Bias)])})";
            default:
                return Name(l.Kind.ToString()) + (Chance(0.1) ? "()" : "");
        }
    }

    private string Input(FuzzNetwork n)
        => $"{Name("Input")}({Arguments([("channels", Int(n.C), true, false), ("height", Int(n.H), true, false), ("width", Int(n.W), true, false)])})";

    /// <summary>A compiler-level mistake written into one layer's attribute text (the layer's values kept where possible).</summary>
    private string Break(FuzzLayer l, FuzzCompileError error) => error switch
    {
        // A required argument left out (CS7036).
        FuzzCompileError.MissingArgument => l.Kind switch
        {
            FuzzKind.Conv => $"Conv({Int(l.Kh)}, {Int(l.Kw)})",
            FuzzKind.MaxPool or FuzzKind.AvgPool => $"{l.Kind}()",
            FuzzKind.Linear => $"Linear({Int(l.In)})",
            _ => "Linear(4)",
        },
        // A string where an int goes (CS1503), or an argument to an attribute without parameters (CS1729).
        FuzzCompileError.WrongArgumentType => Layer(l) is var text && text.EndsWith(')') && !text.EndsWith("()", StringComparison.Ordinal)
            ? text.Insert(text.IndexOf('(') + 1, "\"3\", ")
            : l.Kind.ToString() + "(\"x\")",
        // A syntax error inside the attribute (CS1525).
        FuzzCompileError.TrailingComma => Layer(l) is var t && t.EndsWith(')') ? t[..^1] + ",)" : t + "(,)",
        _ => Layer(l),
    };

    /// <summary>Where a network's text went: its attributes and declaration (header) and its body.</summary>
    public sealed record Placed(FuzzNetwork Network, int HeaderStart, int HeaderEnd, int BodyStart, int BodyEnd);

    /// <summary>A junk chunk's span and what it is.</summary>
    public sealed record Junk(string Kind, int Start, int End);

    /// <summary>One compilation unit: the networks of one batch, junk in between, fake attributes sprinkled in.</summary>
    public (string Source, List<Placed> Networks, List<Junk> Junk) Render(IReadOnlyList<FuzzNetwork> networks, string ns)
    {
        var sb = new StringBuilder();
        sb.Append("using ConvGen;\n\n").Append(FakeNamespace).Append("namespace ").Append(ns).Append("\n{\n");
        var placed = new List<Placed>();
        var junk = new List<Junk>();
        int junkCounter = 0;
        foreach (var n in networks)
        {
            if (Chance(0.08))
            {
                int start = sb.Length;
                string kind = AppendJunk(sb, $"Junk{junkCounter++}");
                junk.Add(new Junk(kind, start, sb.Length));
            }

            var lines = new List<string>();
            var layerTexts = n.Layers.Select(Layer).ToList();
            if (n.CompileError is FuzzCompileError.MissingArgument or FuzzCompileError.WrongArgumentType or FuzzCompileError.TrailingComma)
            {
                if (n.Layers.Count == 0) layerTexts.Add(Break(FuzzLayer.Activation(FuzzKind.Relu), n.CompileError));
                else
                {
                    int i = _random.Next(n.Layers.Count);
                    layerTexts[i] = Break(n.Layers[i], n.CompileError);
                }
            }
            else if (n.CompileError == FuzzCompileError.SameBeforeNamedArgument)
                layerTexts.Insert(_random.Next(layerTexts.Count + 1), "Conv(3, 3, 1, 1, Same = true, stride: 2)");
            else if (n.CompileError == FuzzCompileError.UnknownNamedArgument)
                layerTexts.Insert(_random.Next(layerTexts.Count + 1), "Conv(3, 3, 1, 1, strides: 2)");
            else if (n.CompileError == FuzzCompileError.ArgumentToRelu)
                layerTexts.Insert(_random.Next(layerTexts.Count + 1), "Relu(1)");
            else if (n.CompileError == FuzzCompileError.ConstantOverflow)
                layerTexts.Insert(_random.Next(layerTexts.Count + 1), "Linear(int.MaxValue + 1, 10)");

            // Fake attributes in another namespace: not layers, must not shift the numbering.
            if (Chance(0.1)) layerTexts.Insert(_random.Next(layerTexts.Count + 1), Pick("Fake.Conv(3)", "Fake.Relu", "Fake.ConvAttribute(-1)"));

            string? input = n.HasInput ? Input(n) : null;
            if (input is not null && n.CompileError == FuzzCompileError.InputMissingArgument) input = $"Input({Int(n.C)}, {Int(n.H)})";

            // Group the layers into attribute lists of random sizes; [Input] first, or anywhere.
            var items = new List<string>(layerTexts);
            if (input is not null) items.Insert(Chance(0.8) ? 0 : _random.Next(items.Count + 1), input);
            if (input is not null && n.CompileError == FuzzCompileError.DuplicateInput) items.Insert(_random.Next(items.Count + 1), input);
            for (int i = 0; i < items.Count;)
            {
                int take = Math.Min(items.Count - i, Chance(0.4) ? 1 : _random.Next(1, 5));
                lines.Add("[" + string.Join(", ", items.Skip(i).Take(take)) + "]");
                i += take;
            }

            string declaration = n.Decl switch
            {
                FuzzDecl.PartialClass => $"public partial class {n.Name}",
                FuzzDecl.InternalPartialClass => $"internal partial class {n.Name}",
                FuzzDecl.SealedPartialClass => $"public sealed partial class {n.Name}",
                FuzzDecl.NotPartial => $"public class {n.Name}",
                FuzzDecl.Struct => $"public partial struct {n.Name}",
                FuzzDecl.Record => $"public partial record {n.Name}",
                FuzzDecl.RecordStruct => $"public partial record struct {n.Name}",
                FuzzDecl.Static => $"public static partial class {n.Name}",
                FuzzDecl.Generic => $"public partial class {n.Name}<T>",
                FuzzDecl.Nested => $"public partial class {n.Name}",
                FuzzDecl.Interface => $"public partial interface {n.Name}",
                FuzzDecl.Enum => $"public enum {n.Name}",
                _ => throw new ArgumentOutOfRangeException(nameof(networks)),
            };

            if (n.Decl == FuzzDecl.Nested) sb.Append("public partial class ").Append(n.Name).Append("Outer\n{\n");
            int headerStart = sb.Length;
            foreach (string line in lines) sb.Append(line).Append(Chance(0.2) ? " " : "\n");
            sb.Append(declaration);
            int headerEnd = sb.Length;
            int bodyStart = sb.Length;
            sb.Append(n.Decl switch
            {
                FuzzDecl.Enum => " { A, B }\n",
                FuzzDecl.Interface => " { }\n",
                _ => n.Body switch
                {
                    FuzzBody.Semicolon => ";\n",
                    FuzzBody.Empty => " { }\n",
                    FuzzBody.Member => $"\n{{\n    public string Label => \"{n.Name}\";\n}}\n",
                    FuzzBody.MisplacedLayerAttributeOnMethod => $"\n{{\n    [Conv(3, 3, 1, 4), Relu] public void User{n.Name}() {{ }}\n}}\n",
                    FuzzBody.SyntaxErrorInMethod => $"\n{{\n    public void User{n.Name}() {{ int y = 1 }}\n}}\n",
                    _ => ";\n",
                },
            });
            int bodyEnd = sb.Length;
            if (n.Decl == FuzzDecl.Nested) sb.Append("}\n");
            sb.Append('\n');
            placed.Add(new Placed(n, headerStart, headerEnd, bodyStart, bodyEnd));
        }
        sb.Append("}\n");
        return (sb.ToString(), placed, junk);
    }

    /// <summary>Unrelated mistakes: syntax errors and ConvGen attributes on targets they do not allow.</summary>
    private string AppendJunk(StringBuilder sb, string name)
    {
        string kind = Pick("initializer", "semicolon", "method", "field", "enum", "delegate", "unknown", "string", "property");
        sb.Append(kind switch
        {
            "initializer" => $"public class {name} {{ int x = ; }}\n",
            "semicolon" => $"public class {name} {{ void M() {{ int y = 1 }} }}\n",
            "method" => $"public class {name} {{ [Conv(3, 3, 1, 4)] [Input(1, 8, 8)] public void M() {{ }} }}\n",
            "field" => $"public class {name} {{ [Input(1, 8, 8)] [Linear(4, 4)] public int F; }}\n",
            "enum" => $"[Input(1, 8, 8)] [Relu] public enum {name} {{ A }}\n",
            "delegate" => $"[Relu] public delegate void {name}();\n",
            "unknown" => $"[Convolution(3, 3)] public partial class {name};\n",
            "string" => $"public class {name}\n{{\n    string s = \"unterminated;\n}}\n",  // the line break ends the literal (CS1010)
            _ => $"public class {name} {{ [MaxPool(2)] public int P {{ get; }} }}\n",
        });
        sb.Append('\n');
        return kind;
    }
}

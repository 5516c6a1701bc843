namespace ConvGen.Generator.Model;

// The validator's output and the emitter's only input: every shape inferred, every argument resolved
// (pooling stride, "same" padding), and no source locations, so edits that move code around leave it equal.

/// <summary>A per-sample tensor shape: C×H×W, or <see cref="Flat"/> features (C values, H = W = 1).</summary>
internal sealed record TensorShape(int C, int H, int W, bool Flat)
{
    /// <summary>C·H·W, saturating at <see cref="long.MaxValue"/> (user sizes can be anything up to int.MaxValue each).</summary>
    public long Elements => Saturating.Multiply(C, H, W);
    public override string ToString() => Flat ? C.ToString(System.Globalization.CultureInfo.InvariantCulture) : $"{C}×{H}×{W}";
}

/// <summary>Products of user-given sizes that cannot wrap around.</summary>
internal static class Saturating
{
    public static long Multiply(params long[] factors)
    {
        long product = 1;
        foreach (long f in factors)
        {
            if (f <= 0) return 0;
            if (product > long.MaxValue / f) return long.MaxValue;
            product *= f;
        }
        return product;
    }

    public static long Add(long a, long b) => a > long.MaxValue - b ? long.MaxValue : a + b;
}

/// <summary>One layer with its resolved arguments and the shapes it consumes and produces.</summary>
internal sealed record LayerModel(
    LayerKind Kind,
    int Index,
    TensorShape Input,
    TensorShape Output,
    int KernelHeight = 0,
    int KernelWidth = 0,
    int Stride = 1,
    int Dilation = 1,
    int Groups = 1,
    bool Bias = false,
    int PadTop = 0,
    int PadBottom = 0,
    int PadLeft = 0,
    int PadRight = 0,
    bool Same = false)
{
    public bool HasPadding => PadTop > 0 || PadBottom > 0 || PadLeft > 0 || PadRight > 0; // a sum of huge pads would wrap

    /// <summary>Depthwise with multiplier 1: each channel convolved with its own filter.</summary>
    public bool IsDepthwise => Kind == LayerKind.Conv && Groups > 1 && Groups == Input.C && Groups == Output.C;

    public long ParameterCount => Kind switch
    {
        LayerKind.Conv => Saturating.Add(Saturating.Multiply(Output.C, Input.C / Groups, KernelHeight, KernelWidth), Bias ? Output.C : 0),
        LayerKind.Linear => Saturating.Add(Saturating.Multiply(Output.C, Input.C), Bias ? Output.C : 0),
        _ => 0,
    };
}

/// <summary>A network that passed validation: everything the emitter needs.</summary>
internal sealed record NetworkModel(
    string? Namespace,
    string ClassName,
    string Accessibility,
    TensorShape Input,
    EquatableArray<LayerModel> Layers)
{
    public TensorShape Output => Layers.Count == 0 ? Input : Layers[Layers.Count - 1].Output;
    public string FullName => Namespace is null ? ClassName : Namespace + "." + ClassName;
}

/// <summary>
/// A network with errors whose class ConvGen can still extend (partial, non-nested, non-generic class): the emitter gives
/// it the public members of a generated network with bodies that throw, so that code using the network compiles and the
/// CG errors are the only ones. <see cref="Errors"/> are the error diagnostics as "CG0004: message"; empty when the
/// compiler could not bind an attribute (its own error says why).
/// </summary>
internal sealed record StubModel(string? Namespace, string ClassName, string Accessibility, EquatableArray<string> Errors)
{
    public string FullName => Namespace is null ? ClassName : Namespace + "." + ClassName;
}

/// <summary>
/// Validation of one network: a model when it is sound, otherwise a stub when the class can take one, and the
/// diagnostics either way.
/// </summary>
internal sealed record ValidationResult(NetworkModel? Model, StubModel? Stub, TypeDiagnostics Diagnostics);

using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace ConvGen.Generator.Model;

// The parser's output: what the user wrote, as plain values. Only ints, strings, enums and equatable arrays,
// so the incremental pipeline can compare runs and skip unchanged networks (no symbols, syntax or Locations).

/// <summary>Every layer attribute ConvGen knows.</summary>
internal enum LayerKind { Conv, Relu, Sigmoid, Tanh, MaxPool, AvgPool, GlobalAvgPool, Flatten, Linear }

/// <summary>A source position kept as values; turned back into a <see cref="Location"/> only when reporting.</summary>
internal sealed record LocationInfo(string FilePath, TextSpan Span, LinePositionSpan LineSpan)
{
    public Location ToLocation() => Location.Create(FilePath, Span, LineSpan);

    public static LocationInfo? From(Location? location)
        => location?.SourceTree is null ? null : new LocationInfo(location.SourceTree.FilePath, location.SourceSpan, location.GetLineSpan().Span);
}

/// <summary>Where one attribute argument was written, by parameter (or property) name.</summary>
internal sealed record ArgumentLocation(string Name, LocationInfo Location);

/// <summary>One layer attribute with its argument values (unused ones stay 0).</summary>
internal sealed record LayerSpec(
    LayerKind Kind,
    int Index,
    LocationInfo? Location,
    EquatableArray<ArgumentLocation> Arguments,
    int KernelHeight = 0,
    int KernelWidth = 0,
    int In = 0,
    int Out = 0,
    int Stride = 1,
    int Pad = 0,
    int Dilation = 1,
    int Groups = 1,
    bool Bias = true,
    bool Same = false)
{
    /// <summary>The location of argument <paramref name="name"/> if written, else the whole attribute.</summary>
    public LocationInfo? LocationOf(string name)
    {
        foreach (var a in Arguments)
            if (a.Name == name) return a.Location;
        return Location;
    }
}

/// <summary>
/// A diagnostic as values: descriptor ID, message arguments and position, plus the value a code fix should write
/// (<see cref="Diagnostics.FixValueKey"/>), e.g. the channel count the previous layer produces.
/// </summary>
internal sealed record DiagnosticInfo(string Id, LocationInfo? Location, EquatableArray<string> MessageArgs, string? FixValue = null);

/// <summary>One annotated class: its name, where it lives, its input and its layers in order.</summary>
internal sealed record NetworkSpec(
    string? Namespace,
    string ClassName,
    string Accessibility,
    LocationInfo? ClassLocation,
    int InputChannels,
    int InputHeight,
    int InputWidth,
    LocationInfo? InputLocation,
    EquatableArray<ArgumentLocation> InputArguments,
    EquatableArray<LayerSpec> Layers,
    EquatableArray<DiagnosticInfo> ParseDiagnostics)
{
    public string FullName => Namespace is null ? ClassName : Namespace + "." + ClassName;
}

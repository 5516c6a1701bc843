namespace ConvGen.Generator.Model;

// The parser's output: what the user wrote, as plain values. Only ints, strings, enums and equatable arrays,
// so the incremental pipeline can compare runs and skip unchanged networks (no symbols, syntax or Locations).

/// <summary>Every layer attribute ConvGen knows.</summary>
internal enum LayerKind { Conv, Relu, Sigmoid, Tanh, MaxPool, AvgPool, GlobalAvgPool, Flatten, Linear }

/// <summary>
/// Where a diagnostic points, as keys that do not move when code above the network is edited: the position of an
/// attribute among the type's ConvGen attributes (ordered by file path, then source position, as the parser reads them)
/// and, optionally, the name of one of its arguments. <see cref="Attribute"/> = -1 is the class name, -2 its base type,
/// -3 a member named by <see cref="Argument"/>. Source spans would change with every comment or method body edited
/// above the network and make the cached spec unequal; the diagnostics output turns a site into a <c>Location</c>
/// against the current compilation instead (<c>NetworkGenerator.Reporter</c>).
/// </summary>
internal sealed record SourceSite(int Attribute, string? Argument = null)
{
    /// <summary>The identifier of the declaration that carries the type's first <c>[Input]</c>.</summary>
    public static SourceSite Class { get; } = new(-1);

    /// <summary>The class's base type, as written in its base list.</summary>
    public static SourceSite BaseType { get; } = new(-2);

    /// <summary>Whether this names a member of the class (<see cref="Member"/>).</summary>
    public bool IsMember => Attribute == -3;

    /// <summary>
    /// The identifier of the class's member <paramref name="name"/> number <paramref name="ordinal"/> among those of that
    /// name, in declaration order (an overload; <c>.ctor</c> for a constructor). <see cref="Argument"/> holds
    /// <c>name#ordinal</c>: no member name contains '#'.
    /// </summary>
    public static SourceSite Member(string name, int ordinal) => new(-3, name + "#" + ordinal.ToString(System.Globalization.CultureInfo.InvariantCulture));
}

/// <summary>One layer attribute with its argument values (unused ones stay 0).</summary>
internal sealed record LayerSpec(
    LayerKind Kind,
    int Index,
    int Attribute,
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
    /// <summary>The whole attribute.</summary>
    public SourceSite Site => new(Attribute);

    /// <summary>Argument <paramref name="name"/> if written, else (when reported) the whole attribute.</summary>
    public SourceSite SiteOf(string name) => new(Attribute, name);
}

/// <summary>
/// A diagnostic as values: descriptor ID, message arguments and position, plus the value a code fix should write
/// (<see cref="Diagnostics.FixValueKey"/>), e.g. the channel count the previous layer produces.
/// </summary>
internal sealed record DiagnosticInfo(string Id, SourceSite? Site, EquatableArray<string> MessageArgs, string? FixValue = null);

/// <summary>
/// The diagnostics of one type, with the metadata name (<c>Namespace.Outer+Inner`1</c>) under which the reporting step
/// finds the type again in the compilation to place them.
/// </summary>
internal sealed record TypeDiagnostics(string MetadataName, EquatableArray<DiagnosticInfo> Items);

/// <summary>One annotated class: its name, where it lives, its input and its layers in order.</summary>
internal sealed record NetworkSpec(
    string? Namespace,
    string ClassName,
    string MetadataName,
    string Accessibility,
    int InputChannels,
    int InputHeight,
    int InputWidth,
    int InputAttribute,
    EquatableArray<LayerSpec> Layers,
    EquatableArray<DiagnosticInfo> ParseDiagnostics)
{
    public string FullName => Namespace is null ? ClassName : Namespace + "." + ClassName;

    /// <summary>The whole <c>[Input]</c> attribute.</summary>
    public SourceSite InputSite => new(InputAttribute);
}

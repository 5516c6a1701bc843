using Microsoft.CodeAnalysis;

namespace ConvGen.Generator;

/// <summary>Every diagnostic ConvGen reports. Each ID has a page at docs/diagnostics/CGxxxx.md.</summary>
internal static class Diagnostics
{
    private const string Category = "ConvGen";

    /// <summary>
    /// Key of the diagnostic property that carries the corrected value for a code fix: the produced channel count for
    /// CG0004, the flattened feature count for CG0007.
    /// </summary>
    public const string FixValueKey = "ConvGen.FixValue";
    private const string HelpRoot = "https://github.com/convgen/convgen/blob/main/docs/diagnostics/";

    private static DiagnosticDescriptor Error(string id, string title, string message)
        => new(id, title, message, Category, DiagnosticSeverity.Error, isEnabledByDefault: true, helpLinkUri: HelpRoot + id + ".md");

    public static readonly DiagnosticDescriptor NotPartial = Error("CG0001",
        "Network class must be partial",
        "Network class '{0}' must be declared 'partial' so that ConvGen can add its generated members");

    public static readonly DiagnosticDescriptor UnsupportedType = Error("CG0002",
        "Unsupported network type",
        "'{0}' cannot be a ConvGen network: {1}");

    public static readonly DiagnosticDescriptor InvalidArgument = Error("CG0003",
        "Invalid layer argument",
        "{0}: {1}");

    public static readonly DiagnosticDescriptor ChannelMismatch = Error("CG0004",
        "Channel mismatch between layers",
        "{0} expects {1} input channels, but {2} produces {3}");

    public static readonly DiagnosticDescriptor GroupsMismatch = Error("CG0005",
        "Groups do not divide the channels",
        "{0}: groups = {1} must divide both in = {2} and out = {3}{4}");

    public static readonly DiagnosticDescriptor SizeCollapses = Error("CG0006",
        "Spatial size collapses",
        "{0} produces an output {1} of {2}: {3} on an input {1} of {4}");

    public static readonly DiagnosticDescriptor LinearInputMismatch = Error("CG0007",
        "Linear input size mismatch",
        "{0} expects {1} input features, but {2} produces {3}");

    public static readonly DiagnosticDescriptor WrongInputKind = Error("CG0008",
        "Layer applied to the wrong kind of tensor",
        "{0} needs {1} input, but {2} produces {3}{4}");

    public static readonly DiagnosticDescriptor TooLarge = Error("CG0009",
        "Tensor or parameter too large",
        "{0}: {2} values in {1}{3}, more than ConvGen's limit of {4}");

    public static readonly DiagnosticDescriptor UnsafeRequired = Error("CG0010",
        "Unsafe code must be allowed",
        "ConvGen's generated kernels for '{0}' use pointers: set <AllowUnsafeBlocks>true</AllowUnsafeBlocks> in the project (the ConvGen package does this for you)");

    public static readonly DiagnosticDescriptor MissingInput = Error("CG0011",
        "Layer attributes without [Input]",
        "'{0}' has layer attributes but no [Input(channels, height, width)], so ConvGen cannot infer its shapes; add [Input] with the per-sample input shape");

    public static readonly DiagnosticDescriptor WindowDoesNotTile = new("CG0012",
        "Window does not tile the input",
        "{0} never reads the last {1} {2}(s) of its {3}-{2} input: ({3} + {4} − {5}) mod {6} = {7} left over, {8} of them padding; adjust the padding, stride or input size if they matter",
        Category, DiagnosticSeverity.Warning, isEnabledByDefault: true, helpLinkUri: HelpRoot + "CG0012.md");

    public static readonly DiagnosticDescriptor LanguageVersionTooLow = Error("CG0013",
        "C# 10 or later required",
        "ConvGen's generated code for '{0}' needs C# 10 or later, but the project compiles C# {1}; set <LangVersion> to 10 or later, or remove it (.NET 6 and later default to C# 10 or later)");

    /// <summary>Whether a diagnostic with this ID stops generation.</summary>
    public static bool IsError(string id) => ById(id)?.DefaultSeverity == DiagnosticSeverity.Error;

    /// <summary>
    /// Not reported: marks a network whose attributes the compiler could not bind. The compiler has already reported the
    /// error, so the generator adds no diagnostic and emits only a stub (no kernels) for the class.
    /// </summary>
    public const string AttributeBindingFailed = "binding-failed";

    public static DiagnosticDescriptor? ById(string id) => id switch
    {
        "CG0001" => NotPartial,
        "CG0002" => UnsupportedType,
        "CG0003" => InvalidArgument,
        "CG0004" => ChannelMismatch,
        "CG0005" => GroupsMismatch,
        "CG0006" => SizeCollapses,
        "CG0007" => LinearInputMismatch,
        "CG0008" => WrongInputKind,
        "CG0009" => TooLarge,
        "CG0010" => UnsafeRequired,
        "CG0011" => MissingInput,
        "CG0012" => WindowDoesNotTile,
        "CG0013" => LanguageVersionTooLow,
        _ => null,
    };
}

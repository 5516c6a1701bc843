using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;

namespace ConvGen.CodeFixes;

/// <summary>
/// What the fixes know about ConvGen's diagnostics. The IDs and the property key mirror
/// <c>generator/DiagnosticDescriptors.cs</c> (the generator keeps them internal; the tests check both sides agree by
/// running the real generator). Message parsing is for titles only: a fix never depends on it.
/// </summary>
internal static class DiagnosticFacts
{
    public const string NotPartial = "CG0001";
    public const string ChannelMismatch = "CG0004";
    public const string LinearInputMismatch = "CG0007";
    public const string WrongInputKind = "CG0008";

    /// <summary>Diagnostic property with the value a fix writes (CG0004: produced channels; CG0007: flattened features).</summary>
    public const string FixValueKey = "ConvGen.FixValue";

    // CG0004 "{0} expects {1} input channels, but {2} produces {3}", CG0007 "… input features, but {2} produces {3}",
    // CG0008 "{0} needs {1} input, but {2} produces {3}{4}": {2} is "[Input]" or "layer N (Kind)".
    private static readonly Regex s_producer = new(@", but (?<producer>\[Input\]|layer \d+ \(\w+\)) produces ", RegexOptions.CultureInvariant);
    private static readonly Regex s_subject = new(@"^(?<layer>layer \d+ \(\w+\)) ", RegexOptions.CultureInvariant);
    private static readonly Regex s_flattened = new(@"\(giving (?<features>[^()]+) features\)", RegexOptions.CultureInvariant);

    /// <summary>The <see cref="FixValueKey"/> property as a positive int, or null when absent or malformed.</summary>
    public static int? FixValue(Diagnostic diagnostic)
        => diagnostic.Properties.TryGetValue(FixValueKey, out var text)
           && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) && value > 0
            ? value
            : null;

    /// <summary>The layer (or <c>[Input]</c>) named as the producer in the message, e.g. <c>layer 2 (MaxPool)</c>.</summary>
    public static string? Producer(Diagnostic diagnostic) => Match(s_producer, diagnostic, "producer");

    /// <summary>The layer the message is about, e.g. <c>layer 3 (Linear)</c>.</summary>
    public static string? Subject(Diagnostic diagnostic) => Match(s_subject, diagnostic, "layer");

    /// <summary>CG0008's hint on what a [Flatten] would give, e.g. <c>4×26×26 = 2704</c>.</summary>
    public static string? FlattenedFeatures(Diagnostic diagnostic) => Match(s_flattened, diagnostic, "features");

    private static string? Match(Regex regex, Diagnostic diagnostic, string group)
    {
        var match = regex.Match(diagnostic.GetMessage(CultureInfo.InvariantCulture));
        return match.Success ? match.Groups[group].Value : null;
    }
}

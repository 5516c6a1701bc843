using System;

namespace ConvGen.Generator.Emit;

/// <summary>
/// The names of the members the emitters add to a network class (the generated network and the stub of a broken one).
/// A class cannot have a member of its own name (CS0542, reported in the generated file), nor two members of one name
/// unless both are methods with different parameters (CS0102, CS0111), so the parser refuses a network named like one of
/// them, or declaring a member named like one, with CG0002 instead. Kept in step with the emitters by a test that parses
/// the code generated for every kind of kernel and asks for each member name it finds.
/// </summary>
internal static class GeneratedMembers
{
    private static readonly string[] Names =
    {
        // The public API (docs/generated-api.md).
        "InputLength", "OutputLength", "OutputShape", "LayerTable", "Summary", "Parameters", "RecordForBackward", "Forward",
        "Infer", "Backward", "Save", "Load", "WorkspaceFloatsPerSample", "RecordedFloatsPerSample", "GradientFloatsPerSample",
        "SamplesPerPass", "SinglePassBatch",
        // Private helpers.
        "Frame", "SetTape", "SetWeights", "RunSteps", "CheckAndRefresh", "RunRecorded", "RunUnrecorded",
        "RunInWorkspace", "SharedRun", "RunShared", "RunSharedShares", "RunSharedSamples", "Sigmoid", "Tanh", "BufferAFloats", "BufferBFloats", "CompileTimeErrors",
        "ConvGenCompileTimeErrors",
        // Fields whose names do not depend on the network.
        "_parameters", "_recorded", "_gradients", "_recordLock", "_recordedBatch", "_partialSums", "_winogradSums",
        "s_useAvx2", "t_workspace", "t_winogradTiles",
    };

    /// <summary>
    /// The parameter types (as Roslyn displays them) of the public methods, which a method of the user's with other
    /// parameters overloads without a clash.
    /// </summary>
    private static readonly (string Name, string Parameters)[] PublicMethods =
    {
        ("Forward", "System.ReadOnlySpan<float>, System.Span<float>, int"),
        ("Infer", "System.ReadOnlySpan<float>, System.Span<float>, int"),
        ("Backward", "System.ReadOnlySpan<float>, System.Span<float>, int"),
        ("Save", "string"),
        ("Load", "string"),
        ("Summary", ""),
    };

    /// <summary>
    /// What reserves <paramref name="name"/> for the members the emitters add, in a few words for CG0002's message; null
    /// if nothing does. Reserved: <see cref="Names"/>, and the families whose members depend on the network, so that
    /// only a pattern can cover them: kernels (<c>Step</c> or <c>Back</c>, a digit, anything: <c>Step3</c>,
    /// <c>Step3PooledTile0</c>, <c>Back12Products3</c>) and per-layer fields (<c>_layer</c> or <c>_L</c>, a digit,
    /// anything: <c>_layer0Weight</c>, <c>_L7WT</c>).
    /// </summary>
    public static string? Why(string name)
        => Array.IndexOf(Names, name) >= 0 ? $"a member named '{name}'"
            : IsNumbered(name, "Step") || IsNumbered(name, "Back") ? "kernels are named Step or Back, a step number and more"
            : IsNumbered(name, "_layer") || IsNumbered(name, "_L") ? "per-layer fields are named _layer or _L, a layer number and more"
            : null;

    /// <summary>
    /// What makes a member of the user's part of the class clash with a generated one, or null: its name, unless it is a
    /// method that overloads one of the public methods (other parameter types, as Roslyn displays them).
    /// </summary>
    public static string? WhyMember(string name, string? methodParameters)
    {
        if (Why(name) is not { } reserved) return null;
        foreach (var (method, parameters) in PublicMethods)
            if (method == name && methodParameters is not null && methodParameters != parameters) return null;
        return reserved;
    }

    private static bool IsNumbered(string name, string prefix)
        => name.Length > prefix.Length && name.StartsWith(prefix, StringComparison.Ordinal) && char.IsDigit(name[prefix.Length]);
}

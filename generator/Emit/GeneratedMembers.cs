using System;

namespace ConvGen.Generator.Emit;

/// <summary>
/// The names of the members the emitters add to a network class (the generated network and the stub of a broken one).
/// A class cannot have a member of its own name (CS0542, reported in the generated file), so the parser refuses a
/// network named like one of them (CG0002) instead. Kept in step with the emitters by a test that parses the code
/// generated for every kind of kernel and asks for each member name it finds.
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
    };

    /// <summary>
    /// What reserves <paramref name="name"/> for the members the emitters add, in a few words for CG0002's message; null
    /// if nothing does. Reserved: <see cref="Names"/>, and the families whose members depend on the network, so that
    /// only a pattern can cover them: kernels (<c>Step</c> or <c>Back</c>, a digit, anything: <c>Step3</c>,
    /// <c>Step3PooledTile0</c>, <c>Back12Products3</c>) and fields (<c>_</c>, <c>s_</c> or <c>t_</c>, anything:
    /// <c>_layer0Weight</c>, <c>s_useAvx2</c>, <c>t_workspace</c>).
    /// </summary>
    public static string? Why(string name)
        => Array.IndexOf(Names, name) >= 0 ? $"a member named '{name}'"
            : IsKernel(name, "Step") || IsKernel(name, "Back") ? "kernels are named Step or Back, a step number and more"
            : name.StartsWith("_", StringComparison.Ordinal) || name.StartsWith("s_", StringComparison.Ordinal) || name.StartsWith("t_", StringComparison.Ordinal)
                ? "fields are named _, s_ or t_ and more"
            : null;

    private static bool IsKernel(string name, string prefix)
        => name.Length > prefix.Length && name.StartsWith(prefix, StringComparison.Ordinal) && char.IsDigit(name[prefix.Length]);
}

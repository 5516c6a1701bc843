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
        "Backward", "Save", "Load", "WorkspaceFloatsPerSample", "RecordedFloatsPerSample", "GradientFloatsPerSample",
        "SamplesPerPass", "SinglePassBatch",
        // Private helpers.
        "Frame", "SetTape", "RunForward", "Sigmoid", "Tanh", "BufferAFloats", "BufferBFloats", "CompileTimeErrors",
        "ConvGenCompileTimeErrors",
    };

    /// <summary>
    /// Whether the emitters may add a member named <paramref name="name"/>: one of <see cref="Names"/>, a kernel
    /// (<c>Step</c> or <c>Back</c> and its step number, then maybe more), or a field (<c>_</c>, <c>s_</c>, <c>t_</c>).
    /// </summary>
    public static bool Contains(string name)
        => Array.IndexOf(Names, name) >= 0 || IsKernel(name, "Step") || IsKernel(name, "Back")
           || name.StartsWith("_", StringComparison.Ordinal) || name.StartsWith("s_", StringComparison.Ordinal) || name.StartsWith("t_", StringComparison.Ordinal);

    private static bool IsKernel(string name, string prefix)
        => name.Length > prefix.Length && name.StartsWith(prefix, StringComparison.Ordinal) && char.IsDigit(name[prefix.Length]);
}

using System;
using System.Collections.Generic;
using System.Linq;

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
    /// The generated helpers whose parameters include the class's own private <c>Frame</c>: no method declared outside
    /// the class can have their signature, so a base class's method of their name never clashes.
    /// </summary>
    private static readonly string[] FrameMethods = { "SetTape", "SetWeights", "RunSteps", "RunInWorkspace", "RunShared", "RunSharedSamples" };

    /// <summary>The generated nested types (non-generic): a generic type of the same name is another type.</summary>
    private static readonly string[] TypeNames = { "Frame", "SharedRun" };

    /// <summary>The <c>INetwork</c> members the generated part implements explicitly; an explicit implementation of another is the user's to make.</summary>
    public static readonly string[] ExplicitlyImplemented = { "InputLength", "OutputLength", "OutputShape", "Layers" };

    /// <summary>
    /// The generated methods a method of the user's may overload: their signatures as <see cref="Signature"/> writes them.
    /// A user's method of one of these names with another signature is an overload, not a clash. (The kernels and the
    /// helpers that take the private <c>Frame</c> are not listed: any member of the class of their names clashes.)
    /// </summary>
    private static readonly (string Name, string Signature)[] Methods =
    {
        ("Forward", "0(System.ReadOnlySpan<float>, System.Span<float>, int)"),
        ("Infer", "0(System.ReadOnlySpan<float>, System.Span<float>, int)"),
        ("Backward", "0(System.ReadOnlySpan<float>, System.Span<float>, int)"),
        ("Save", "0(string)"),
        ("Load", "0(string)"),
        ("Summary", "0()"),
        ("Sigmoid", "0(System.Runtime.Intrinsics.Vector256<float>)"),
        ("Sigmoid", "0(float)"),
        ("Tanh", "0(System.Runtime.Intrinsics.Vector256<float>)"),
        ("CheckAndRefresh", "0(System.ReadOnlySpan<float>, System.Span<float>, int)"),
        ("RunRecorded", "0(System.ReadOnlySpan<float>, System.Span<float>, int)"),
        ("RunUnrecorded", "0(System.ReadOnlySpan<float>, System.Span<float>, int, bool)"),
        ("RunSharedShares", "0(void*, int, int)"),
        ("CompileTimeErrors", "0()"),
    };

    /// <summary>
    /// What reserves <paramref name="name"/> for the members the emitters add, in a few words for CG0002's message; null
    /// if nothing does. Reserved: <see cref="Names"/>, and the families whose members depend on the network, so that
    /// only a pattern can cover them: kernels (<c>Step</c> or <c>Back</c>, a digit, anything: <c>Step3</c>,
    /// <c>Step3PooledTile0</c>, <c>Back12Products3</c>) and per-layer fields (<c>_layer0Weight</c>, <c>_layer0Bias</c>;
    /// <c>_L7WT</c>, <c>_L3WT01</c>, <c>_L3WU</c>, <c>_L3WTU</c>, <c>_L5M</c>).
    /// </summary>
    public static string? Why(string name)
        => Array.IndexOf(Names, name) >= 0 ? $"a member named '{name}'"
            : IsNumbered(name, "Step", out _) || IsNumbered(name, "Back", out _) ? "kernels are named Step or Back, a step number and more"
            : IsNumbered(name, "_layer", out string rest) && rest is "Weight" or "Bias" ? "per-layer fields are named _layer, a layer number, and Weight or Bias"
            : IsNumbered(name, "_L", out rest) && (rest is "M" or "WU" or "WTU" || rest.StartsWith("WT", StringComparison.Ordinal) && rest.Skip(2).All(char.IsDigit))
                ? "per-layer fields are named _L, a layer number, and M, WU, WTU or WT with a phase"
            : null;

    /// <summary>A method's signature for <see cref="WhyMember"/>: its generic arity, then its parameters as overloading tells them apart.</summary>
    public static string Signature(int arity, IEnumerable<string> parameters) => $"{arity}({string.Join(", ", parameters)})";

    /// <summary>
    /// What makes a member of the user's class clash with a generated one, or null: its name (<see cref="Why"/>), unless
    /// it is a method (<paramref name="signature"/> not null) that overloads a generated method of known signatures, or a
    /// generic type (<paramref name="typeArity"/> above 0) beside a generated non-generic type. A method named like a
    /// kernel or an unlisted helper clashes whatever its parameters: their signatures are the emitters' to change.
    /// </summary>
    public static string? WhyMember(string name, string? signature, int typeArity = 0)
    {
        if (Why(name) is not { } reserved) return null;
        if (typeArity > 0 && Array.IndexOf(TypeNames, name) >= 0) return null;
        var generated = Methods.Where(m => m.Name == name).Select(m => m.Signature).ToList();
        return signature is not null && generated.Count > 0 && !generated.Contains(signature) ? null : reserved;
    }

    /// <summary>
    /// What makes an accessible member of a base class clash with a generated one (the generated member would hide or
    /// fail to override it), or null: as <see cref="WhyMember"/>, except that a base method never clashes with a helper
    /// that takes the class's own <c>Frame</c> (<see cref="FrameMethods"/>). A base method named like a kernel clashes
    /// whatever its parameters, as in the class itself.
    /// </summary>
    public static string? WhyInherited(string name, string? signature, int typeArity = 0)
        => signature is not null && Array.IndexOf(FrameMethods, name) >= 0 ? null : WhyMember(name, signature, typeArity);

    /// <summary>Whether <paramref name="name"/> is <paramref name="prefix"/>, a number, then <paramref name="rest"/>.</summary>
    private static bool IsNumbered(string name, string prefix, out string rest)
    {
        rest = "";
        if (name.Length <= prefix.Length || !name.StartsWith(prefix, StringComparison.Ordinal) || !char.IsDigit(name[prefix.Length])) return false;
        int end = prefix.Length;
        while (end < name.Length && char.IsDigit(name[end])) end++;
        rest = name.Substring(end);
        return true;
    }
}

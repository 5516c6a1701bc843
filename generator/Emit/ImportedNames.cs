namespace ConvGen.Generator.Emit;

/// <summary>
/// The .NET names the generated code writes without <c>global::</c> (through the file's <c>using</c> directives),
/// which reads better in kernels full of <c>Vector256</c> and <c>Fma</c>. A type (or namespace) of the same name and
/// arity in the network's namespace or one enclosing it, or a member of that name in the network's class, comes first
/// in C#'s name lookup and would break the generated code; the parser reports it (CG0002) instead. Kept in step with
/// the emitters by a test that binds every unqualified name in the code generated for every kind of kernel.
/// </summary>
internal static class ImportedNames
{
    /// <summary>Each name as the generated code writes it, its number of type parameters, and what it must bind to.</summary>
    public static readonly (string Name, int Arity, string Meant)[] All =
    {
        ("System", 0, "System"),
        ("Math", 0, "System.Math"),
        ("MathF", 0, "System.MathF"),
        ("Array", 0, "System.Array"),
        ("GC", 0, "System.GC"),
        ("Random", 0, "System.Random"),
        ("Span", 1, "System.Span<T>"),
        ("ReadOnlySpan", 1, "System.ReadOnlySpan<T>"),
        ("ArgumentException", 0, "System.ArgumentException"),
        ("InvalidOperationException", 0, "System.InvalidOperationException"),
        ("ThreadStatic", 0, "System.ThreadStaticAttribute"),
        ("ThreadStaticAttribute", 0, "System.ThreadStaticAttribute"),
        ("IReadOnlyList", 1, "System.Collections.Generic.IReadOnlyList<T>"),
        ("Monitor", 0, "System.Threading.Monitor"),
        ("Unsafe", 0, "System.Runtime.CompilerServices.Unsafe"),
        ("MethodImpl", 0, "System.Runtime.CompilerServices.MethodImplAttribute"),
        ("MethodImplAttribute", 0, "System.Runtime.CompilerServices.MethodImplAttribute"),
        ("MethodImplOptions", 0, "System.Runtime.CompilerServices.MethodImplOptions"),
        ("SkipLocalsInit", 0, "System.Runtime.CompilerServices.SkipLocalsInitAttribute"),
        ("SkipLocalsInitAttribute", 0, "System.Runtime.CompilerServices.SkipLocalsInitAttribute"),
        ("Vector128", 0, "System.Runtime.Intrinsics.Vector128"),
        ("Vector256", 0, "System.Runtime.Intrinsics.Vector256"),
        ("Vector256", 1, "System.Runtime.Intrinsics.Vector256<T>"),
        ("Sse", 0, "System.Runtime.Intrinsics.X86.Sse"),
        ("Avx", 0, "System.Runtime.Intrinsics.X86.Avx"),
        ("Avx2", 0, "System.Runtime.Intrinsics.X86.Avx2"),
        ("Fma", 0, "System.Runtime.Intrinsics.X86.Fma"),
    };
}

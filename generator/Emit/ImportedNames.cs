namespace ConvGen.Generator.Emit;

/// <summary>
/// The .NET names the generated code writes without <c>global::</c> (through the file's <c>using</c> directives),
/// which reads better in kernels full of <c>Vector256</c> and <c>Fma</c>. A type (or namespace) of the same name and
/// arity in the network's own namespace (the usings stand inside it, so enclosing namespaces matter only through a
/// namespace <c>System</c>, from where the usings' first names resolve), or a member of that name in the network's class
/// or a base class, comes first in C#'s name lookup and would break the generated code; the parser reports it (CG0002)
/// instead.
/// Kept in step with the emitters by a test that binds every unqualified name in the code generated for every kind of
/// kernel, and checks that each one it finds written in an expression is marked so.
/// </summary>
internal static class ImportedNames
{
    /// <summary>
    /// Each name as the generated code writes it, its number of type parameters, what it must bind to, and whether the
    /// code also writes it where an expression is looked up (<c>Math.Max(…)</c>, <c>Vector256&lt;float&gt;.One</c>): there a
    /// method, field or property of the name comes first too; where only a type is looked up (<c>new Random(…)</c>,
    /// <c>[MethodImpl(…)]</c>, a parameter's type) only a type or namespace does.
    /// </summary>
    public static readonly (string Name, int Arity, string Meant, bool InExpressions)[] All =
    {
        ("System", 0, "System", true),
        ("Math", 0, "System.Math", true),
        ("MathF", 0, "System.MathF", true),
        ("Array", 0, "System.Array", true),
        ("GC", 0, "System.GC", true),
        ("Random", 0, "System.Random", false),
        ("Span", 1, "System.Span<T>", false),
        ("ReadOnlySpan", 1, "System.ReadOnlySpan<T>", false),
        ("ArgumentException", 0, "System.ArgumentException", false),
        ("InvalidOperationException", 0, "System.InvalidOperationException", false),
        ("ThreadStatic", 0, "System.ThreadStaticAttribute", false),
        ("ThreadStaticAttribute", 0, "System.ThreadStaticAttribute", false),
        ("IReadOnlyList", 1, "System.Collections.Generic.IReadOnlyList<T>", false),
        ("Monitor", 0, "System.Threading.Monitor", true),
        ("Unsafe", 0, "System.Runtime.CompilerServices.Unsafe", true),
        ("MethodImpl", 0, "System.Runtime.CompilerServices.MethodImplAttribute", false),
        ("MethodImplAttribute", 0, "System.Runtime.CompilerServices.MethodImplAttribute", false),
        ("MethodImplOptions", 0, "System.Runtime.CompilerServices.MethodImplOptions", true),
        ("SkipLocalsInit", 0, "System.Runtime.CompilerServices.SkipLocalsInitAttribute", false),
        ("SkipLocalsInitAttribute", 0, "System.Runtime.CompilerServices.SkipLocalsInitAttribute", false),
        ("Vector128", 0, "System.Runtime.Intrinsics.Vector128", true),
        ("Vector256", 0, "System.Runtime.Intrinsics.Vector256", true),
        ("Vector256", 1, "System.Runtime.Intrinsics.Vector256<T>", true),
        ("Sse", 0, "System.Runtime.Intrinsics.X86.Sse", true),
        ("Avx", 0, "System.Runtime.Intrinsics.X86.Avx", true),
        ("Avx2", 0, "System.Runtime.Intrinsics.X86.Avx2", true),
        ("Fma", 0, "System.Runtime.Intrinsics.X86.Fma", true),
    };
}

using System.Text;
using ConvGen.Generator.Emit;
using ConvGen.Generator.Model;

namespace ConvGen.Generator;

// Stage 3 for a network with errors: StubModel → C#. The class gets the public members the Emitter gives a valid
// network (same names and signatures, and INetwork), so the user's code that constructs it, calls Forward or reads
// InputLength still compiles: the CG diagnostics are the only errors, not a cascade of "no definition for 'Forward'".
// Nothing here computes shapes; every member throws, and the size constants are 0.
public sealed partial class NetworkGenerator
{
    internal static class StubEmitter
    {
        /// <summary>The private constant holding the exception message (a name user code is unlikely to declare).</summary>
        private const string Message = "ConvGenCompileTimeErrors";

        public static string Emit(StubModel stub)
        {
            var w = Emitter.FileHeader(stub.Namespace, "System", "System.Collections.Generic");
            w.Line($"// {stub.ClassName} has compile-time errors (the ConvGen diagnostics say where), so it has no kernels. This stand-in");
            w.Line("// has the members of a generated network, so that code using them compiles; every one of them throws.");
            w.Line($"[global::System.CodeDom.Compiler.GeneratedCode(\"ConvGen\", \"{Emitter.Version}\")]");
            w.Open($"{stub.Accessibility} partial class {stub.ClassName} : global::ConvGen.INetwork");
            w.Line($"private const string {Message} =");
            w.Line($"    {Literal($"{stub.ClassName} has compile-time errors, so ConvGen generated no kernels for it; fix them and rebuild.")}");
            if (stub.Errors.Count == 0)
                w.Line($"    + {Literal(" The compiler could not read its ConvGen attributes (see its errors).")};");
            for (int i = 0; i < stub.Errors.Count; i++)
                w.Line($"    + {Literal("\n" + stub.Errors[i])}{(i == stub.Errors.Count - 1 ? ";" : "")}");
            w.Line();
            w.Line("private static InvalidOperationException CompileTimeErrors() => new(" + Message + ");");
            w.Line();
            w.Line("/// <summary>0: the network has compile-time errors.</summary>");
            w.Line("public const int InputLength = 0;");
            w.Line("/// <summary>0: the network has compile-time errors.</summary>");
            w.Line("public const int OutputLength = 0;");
            w.Line("/// <summary>0: the network has compile-time errors.</summary>");
            w.Line("public const int WorkspaceFloatsPerSample = 0;");
            w.Line("/// <summary>0: the network has compile-time errors.</summary>");
            w.Line("public const int SamplesPerPass = 0;");
            w.Line("/// <summary>0: the network has compile-time errors.</summary>");
            w.Line("public const int SinglePassBatch = 0;");
            w.Line("/// <summary>0: the network has compile-time errors.</summary>");
            w.Line("public const long RecordedFloatsPerSample = 0;");
            w.Line("/// <summary>0: the network has compile-time errors.</summary>");
            w.Line("public const long GradientFloatsPerSample = 0;");
            w.Line();
            w.Line("/// <summary>Throws: the network has compile-time errors.</summary>");
            w.Line("public static IReadOnlyList<int> OutputShape => throw CompileTimeErrors();");
            w.Line("/// <summary>Throws: the network has compile-time errors.</summary>");
            w.Line("public static IReadOnlyList<global::ConvGen.LayerInfo> LayerTable => throw CompileTimeErrors();");
            w.Line("/// <summary>Throws: the network has compile-time errors.</summary>");
            w.Line("public static string Summary() => throw CompileTimeErrors();");
            w.Line();
            w.Line("int global::ConvGen.INetwork.InputLength => throw CompileTimeErrors();");
            w.Line("int global::ConvGen.INetwork.OutputLength => throw CompileTimeErrors();");
            w.Line("IReadOnlyList<int> global::ConvGen.INetwork.OutputShape => throw CompileTimeErrors();");
            w.Line("IReadOnlyList<global::ConvGen.LayerInfo> global::ConvGen.INetwork.Layers => throw CompileTimeErrors();");
            w.Line();
            w.Line("/// <summary>Throws: the network has compile-time errors.</summary>");
            w.Line($"public {stub.ClassName}(int seed = 0) => throw CompileTimeErrors();");
            w.Line();
            w.Line("/// <summary>Throws: the network has compile-time errors.</summary>");
            w.Line("public IReadOnlyList<global::ConvGen.Parameter> Parameters => throw CompileTimeErrors();");
            w.Line();
            w.Line("/// <summary>Throws: the network has compile-time errors.</summary>");
            w.Line("public bool RecordForBackward { get => throw CompileTimeErrors(); set => throw CompileTimeErrors(); }");
            w.Line();
            w.Line("/// <summary>Throws: the network has compile-time errors.</summary>");
            w.Line("public void Forward(ReadOnlySpan<float> input, Span<float> output, int batch) => throw CompileTimeErrors();");
            w.Line("public void Infer(ReadOnlySpan<float> input, Span<float> output, int batch) => throw CompileTimeErrors();");
            w.Line();
            w.Line("/// <summary>Throws: the network has compile-time errors.</summary>");
            w.Line("public void Backward(ReadOnlySpan<float> outputGradient, Span<float> inputGradient, int batch) => throw CompileTimeErrors();");
            w.Line();
            w.Line("/// <summary>Throws: the network has compile-time errors.</summary>");
            w.Line("public void Save(string path) => throw CompileTimeErrors();");
            w.Line();
            w.Line("/// <summary>Throws: the network has compile-time errors.</summary>");
            w.Line("public void Load(string path) => throw CompileTimeErrors();");
            w.Close();
            return w.ToString();
        }

        /// <summary>A C# string literal; diagnostic messages hold user numbers and names only, but escape what could break it.</summary>
        private static string Literal(string text)
        {
            var sb = new StringBuilder("\"");
            foreach (char c in text)
            {
                switch (c)
                {
                    case '"': sb.Append("\\\""); break;
                    case '\\': sb.Append("\\\\"); break;
                    case '\n': sb.Append("\\n"); break;
                    case '\r': sb.Append("\\r"); break;
                    case '\t': sb.Append("\\t"); break;
                    default:
                        if (char.IsControl(c) || char.IsSurrogate(c) || c is '\u2028' or '\u2029' or '\u0085')
                            sb.Append("\\u").Append(((int)c).ToString("x4", System.Globalization.CultureInfo.InvariantCulture));
                        else sb.Append(c);
                        break;
                }
            }
            return sb.Append('"').ToString();
        }
    }
}

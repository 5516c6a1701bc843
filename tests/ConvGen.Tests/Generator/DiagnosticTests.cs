using System.Collections.Generic;
using System.Linq;
using ConvGen.Tests.Infrastructure;
using Microsoft.CodeAnalysis;
using Xunit;

namespace ConvGen.Tests.Generator;

/// <summary>
/// One broken network per diagnostic: the exact ID, a message with the computed shapes, and a location on the argument
/// at fault (checked as the source text it covers). A broken network gets no kernels: only a stub with the public members
/// of a network whose bodies throw, when its class can take one (not for CG0001, CG0002, CG0011), so that code using the
/// network still compiles and the CG diagnostics are the only errors.
/// </summary>
public class DiagnosticTests
{
    public static IEnumerable<object[]> Cases() => new[]
    {
        Case("CG0001", "[Input(1, 8, 8)] [Relu] public class NotPartial;", "NotPartial", "must be declared 'partial'"),
        Case("CG0002", "[Input(1, 8, 8)] [Relu] public partial struct Value;", "Value", "a struct is not supported"),
        Case("CG0002", "[Input(1, 8, 8)] [Relu] public partial record Rec;", "Rec", "records are not supported"),
        Case("CG0002", "public partial class Outer { [Input(1, 8, 8)] [Relu] public partial class Inner; }", "Inner", "nested types"),
        Case("CG0002", "[Input(1, 8, 8)] [Relu] public partial class Gen<T>;", "Gen", "generic types"),
        Case("CG0002", "[Input(1, 8, 8)] [Sigmoid] public partial class Sigmoid;", "Sigmoid", "the name is reserved for members ConvGen adds to the class (a member named 'Sigmoid')"),
        Case("CG0002", "public static class Math { } [Input(1, 8, 8)] [Relu] public partial class N;", "N", "'D.Math' hides 'System.Math', which the generated code names 'Math'"),
        Case("CG0003", "[Input(1, 8, 8)] [Conv(3, 3, @in: 1, @out: 4, stride: 0)] public partial class N;", "stride: 0", "stride must be at least 1, but is 0"),
        Case("CG0003", "[Input(1, 8, 8)] [Conv(3, 3, @in: 1, @out: 4, pad: -1)] public partial class N;", "pad: -1", "pad must not be negative, but is -1"),
        Case("CG0003", "[Input(1, 8, 8)] [Conv(0, 3, @in: 1, @out: 4)] public partial class N;", "0", "kh must be at least 1, but is 0"),
        Case("CG0003", "[Input(1, 8, 8)] [MaxPool(2, pad: 2)] public partial class N;", "pad: 2", "more than half the window"),
        Case("CG0003", "[Input(1, 8, 8)] [Conv(3, 3, @in: 1, @out: 4, pad: 1, Same = true)] public partial class N;", "pad: 1", "conflicts with Same = true"),
        Case("CG0003", "[Input(0, 8, 8)] public partial class N;", "0", "channels must be at least 1, but is 0"),
        Case("CG0004", "[Input(3, 8, 8)] [Conv(3, 3, @in: 1, @out: 4)] public partial class N;", "@in: 1", "layer 0 (Conv) expects 1 input channels, but [Input] produces 3×8×8"),
        Case("CG0004", "[Input(1, 8, 8)] [Conv(3, 3, @in: 1, @out: 4), MaxPool(2), Conv(1, 1, @in: 8, @out: 2)] public partial class N;", "@in: 8", "layer 2 (Conv) expects 8 input channels, but layer 1 (MaxPool) produces 4×3×3"),
        Case("CG0005", "[Input(6, 8, 8)] [Conv(3, 3, @in: 6, @out: 8, groups: 4)] public partial class N;", "groups: 4", "groups = 4 must divide both in = 6 and out = 8"),
        Case("CG0006", "[Input(1, 4, 9)] [Conv(5, 3, @in: 1, @out: 2)] public partial class N;", "5", "output height of 0: (4 − 5 + 0) / 1 + 1 = 0"),
        Case("CG0006", "[Input(1, 9, 4)] [MaxPool(5)] public partial class N;", "5", "output width of 0"),
        Case("CG0007", "[Input(2, 4, 4)] [Flatten, Linear(30, 10)] public partial class N;", "30", "layer 1 (Linear) expects 30 input features, but layer 0 (Flatten) produces 2×4×4 = 32"),
        Case("CG0008", "[Input(2, 4, 4)] [Linear(32, 10)] public partial class N;", "Linear(32, 10)", "insert [Flatten] before it"),
        Case("CG0008", "[Input(2, 4, 4)] [Flatten, MaxPool(2)] public partial class N;", "MaxPool(2)", "spatial layers must come before [Flatten]"),
        Case("CG0005", "[Input(8, 8, 8)] [Conv(3, 3, @in: 8, @out: 20, groups: 8)] public partial class N;", "groups: 8", "a depthwise layer, groups = in, needs out = multiplier × in: 20 is not a multiple of 8"),
        Case("CG0011", "[Relu, Conv(3, 3, @in: 1, @out: 4)] public partial class N;", "Relu", "has layer attributes but no [Input"),
        Case("CG0009", "[Input(1, 16384, 16384)] [MaxPool(2)] public partial class N;", "Input(1, 16384, 16384)", "as stored in channel blocks of 8"),
        Case("CG0009", "[Input(4096, 4096, 4096)] public partial class N;", "Input(4096, 4096, 4096)", "more than ConvGen's limit"),
        Case("CG0009", "[Input(1, 1, 1)] [Flatten, Linear(1, 1000000), Linear(1000000, 1000)] public partial class N;", "Linear(1000000, 1000)", "1,000,001,000 values in the parameters"),
        Case("CG0009", "[Input(1, 8, 8)] [Conv(3, 3, 1, 1, pad: int.MaxValue)] public partial class N;", "pad: int.MaxValue", "values in its zero-padded input"),
    };

    private static object[] Case(string id, string network, string located, string message) => new object[] { id, network, located, message };

    [Theory]
    [MemberData(nameof(Cases))]
    public void BrokenNetworkIsReportedAtTheArgumentAtFault(string id, string network, string located, string message)
    {
        string source = "using ConvGen;\nnamespace D;\n" + network + "\n";
        var run = GeneratorHarness.Run(source);
        var diagnostic = Assert.Single(run.Diagnostics, d => d.Id == id);
        Assert.Equal(DiagnosticSeverity.Error, diagnostic.Severity);
        Assert.Contains(message, diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(located, source.Substring(diagnostic.Location.SourceSpan.Start, diagnostic.Location.SourceSpan.Length));
        Assert.EndsWith($"docs/diagnostics/{id}.md", diagnostic.Descriptor.HelpLinkUri);
        if (id is "CG0001" or "CG0002" or "CG0011")
        {
            Assert.Empty(run.Sources);
            return;
        }
        AssertStub(run, diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture));
        AssertNoCompilerErrors(run);
    }

    /// <summary>The one generated source is a stub without kernels whose exception message lists the error.</summary>
    private static void AssertStub(GeneratorRun run, string message)
    {
        string text = Assert.Single(run.Sources).Text;
        Assert.Contains("has compile-time errors, so ConvGen generated no kernels for it", text);
        Assert.Contains(message.Replace("\"", "\\\"", System.StringComparison.Ordinal), text);
        Assert.DoesNotContain("unsafe", text);
        Assert.DoesNotContain("Step0", text);
    }

    private static void AssertNoCompilerErrors(GeneratorRun run, params string[] except)
    {
        var errors = run.OutputCompilation.GetDiagnostics()
            .Where(d => d.Severity == DiagnosticSeverity.Error && !except.Contains(d.Id)).ToList();
        Assert.True(errors.Count == 0, GeneratorHarness.FormatDiagnostics(errors));
    }

    /// <summary>A LeNet with a channel mistake (CG0004 at <c>@in: 8</c>).</summary>
    private const string BrokenLeNet = """
        using ConvGen;
        namespace D;
        [Input(1, 28, 28)]
        [Conv(5, 5, pad: 2, @in: 1, @out: 6), Relu, MaxPool(2), Conv(5, 5, @in: 8, @out: 16), Relu, MaxPool(2)]
        [Flatten, Linear(400, 120), Relu, Linear(120, 10)]
        public partial class LeNet;
        """;

    private static readonly string UsesLeNet = UserCode.TouchingEveryMember("LeNet", "D");

    [Fact]
    public void CodeThatUsesABrokenNetworkGetsOnlyTheCgError()
    {
        // Without a stub, every use of a member below is a CS0117/CS1061/CS1729 error of its own (a dozen here) under the
        // one CG0004 that explains them all.
        var run = GeneratorHarness.Run(BrokenLeNet, UsesLeNet);
        var diagnostic = Assert.Single(run.Diagnostics);
        Assert.Equal("CG0004", diagnostic.Id);
        Assert.Equal("@in: 8", BrokenLeNet.Substring(diagnostic.Location.SourceSpan.Start, diagnostic.Location.SourceSpan.Length));
        AssertNoCompilerErrors(run);
        AssertStub(run, diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public void TheCodeThatUsesTheNetworkCompilesAgainstTheValidNetwork()
    {
        // The counterpart of the test above: the same user code against the corrected network, so that it cannot pass
        // only because the stub lets through code a real network would reject.
        GeneratorHarness.CompileAndLoad(BrokenLeNet.Replace("@in: 8", "@in: 6", System.StringComparison.Ordinal), UsesLeNet);
    }

    [Fact]
    public void TheStubHasThePublicMembersOfAGeneratedNetwork()
    {
        var valid = GeneratorHarness.CompileAndLoad(BrokenLeNet.Replace("@in: 8", "@in: 6", System.StringComparison.Ordinal)).GetType("D.LeNet")!;
        var stub = LoadIgnoringGeneratorErrors(GeneratorHarness.Run(BrokenLeNet)).GetType("D.LeNet")!;
        Assert.Equal(Surface(valid), Surface(stub));
        Assert.Equal(valid.GetInterfaces().Select(i => i.FullName).Order(), stub.GetInterfaces().Select(i => i.FullName).Order());

        static List<string> Surface(System.Type type) => type
            .GetMembers(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.DeclaredOnly)
            .Select(m => m switch
            {
                System.Reflection.FieldInfo f => $"field {f} const={f.IsLiteral}",
                System.Reflection.PropertyInfo p => $"property {p} get={p.CanRead} set={p.CanWrite} static={p.GetMethod?.IsStatic}",
                System.Reflection.MethodBase b => $"{b.MemberType} {b} static={b.IsStatic} defaults={string.Join(",", b.GetParameters().Select(x => x.HasDefaultValue ? x.DefaultValue : "-"))}",
                _ => $"{m.MemberType} {m}",
            })
            .Order(System.StringComparer.Ordinal)
            .ToList();
    }

    [Fact]
    public void TheStubThrowsNamingTheNetworkAndItsErrors()
    {
        var run = GeneratorHarness.Run(BrokenLeNet);
        Assert.Equal(new[] { "CG0004" }, run.Diagnostics.Select(d => d.Id));
        var type = LoadIgnoringGeneratorErrors(run).GetType("D.LeNet")!;
        var e = Assert.Throws<System.Reflection.TargetInvocationException>(() => System.Activator.CreateInstance(type, 0));
        var error = Assert.IsType<System.InvalidOperationException>(e.InnerException);
        Assert.Equal("LeNet has compile-time errors, so ConvGen generated no kernels for it; fix them and rebuild.\n"
            + "CG0004: layer 3 (Conv) expects 8 input channels, but layer 2 (MaxPool) produces 6×14×14", error.Message);
        e = Assert.Throws<System.Reflection.TargetInvocationException>(() => type.GetMethod("Summary")!.Invoke(null, null));
        Assert.Equal(error.Message, Assert.IsType<System.InvalidOperationException>(e.InnerException).Message);
        Assert.Equal(0, type.GetField("InputLength")!.GetValue(null));
    }

    /// <summary>
    /// Emits the output compilation, whose own diagnostics do not include the generator's: what a build would produce
    /// if the CG errors were turned off (<c>dotnet_diagnostic.CG0004.severity = none</c>).
    /// </summary>
    private static System.Reflection.Assembly LoadIgnoringGeneratorErrors(GeneratorRun run)
    {
        using var pe = new System.IO.MemoryStream();
        var emit = run.OutputCompilation.Emit(pe);
        Assert.True(emit.Success, GeneratorHarness.FormatDiagnostics(emit.Diagnostics));
        return System.Reflection.Assembly.Load(pe.ToArray());
    }

    [Fact]
    public void WindowThatDoesNotTileTheInputIsAWarningAndTheNetworkIsStillGenerated()
    {
        string source = "using ConvGen;\nnamespace D;\n[Input(1, 7, 8)] [MaxPool(2)] public partial class N;\n";
        var run = GeneratorHarness.Run(source);
        var diagnostic = Assert.Single(run.Diagnostics);
        Assert.Equal("CG0012", diagnostic.Id);
        Assert.Equal(DiagnosticSeverity.Warning, diagnostic.Severity);
        Assert.Equal("layer 0 (MaxPool) never reads the last 1 row(s) of its 7-row input: (7 + 0 − 2) mod 2 = 1 left over, 0 of them padding; adjust the padding, stride or input size if they matter",
            diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal("MaxPool(2)", source.Substring(diagnostic.Location.SourceSpan.Start, diagnostic.Location.SourceSpan.Length));
        Assert.Single(run.Sources);
    }

    [Fact]
    public void StrideOneAndExactTilingGiveNoWarning()
    {
        var run = GeneratorHarness.Run("using ConvGen;\n[Input(1, 28, 28)] [Conv(5, 5, pad: 2, @in: 1, @out: 6), MaxPool(2), Conv(5, 5, @in: 6, @out: 16), MaxPool(2)] public partial class N;\n");
        Assert.Empty(run.Diagnostics);
    }

    [Fact]
    public void RowsLeftOverInsideTrailingPaddingGiveNoWarning()
    {
        // The ResNet stem: (224 + 6 − 7) mod 2 = 1 row left over, and it is padding.
        var run = GeneratorHarness.Run("using ConvGen;\n[Input(3, 224, 224)] [Conv(7, 7, stride: 2, pad: 3, @in: 3, @out: 8)] public partial class N;\n");
        Assert.Empty(run.Diagnostics);
    }

    /// <summary>
    /// A class whose own declaration clashes with the members ConvGen adds, each reported with CG0002 where the clash is
    /// written (<paramref name="at"/> starts there; <paramref name="located"/> is the text the location covers), and no
    /// generated part for it, which would only add compiler errors of its own.
    /// </summary>
    [Theory]
    [InlineData("[Input(1, 8, 8)] [Relu] file partial class FileLocal;", "FileLocal;", "FileLocal", "a file-local type is not supported")]
    [InlineData("[Input(1, 8, 8)] [Relu] public partial class Primary(int width);", "Primary(", "Primary", "a primary constructor is not supported")]
    [InlineData("[Input(1, 8, 8)] [Relu] public partial class BaseNet; [Input(1, 8, 8)] [Relu] public partial class N : BaseNet;", "BaseNet;", "BaseNet", "it derives from the network 'BaseNet'")]
    [InlineData("public class NeedsSize { public NeedsSize(int size) { } } [Input(1, 8, 8)] [Relu] public partial class N : NeedsSize;", "NeedsSize;", "NeedsSize", "its base class 'NeedsSize' has no accessible constructor that takes no arguments")]
    [InlineData("public class Hidden { private Hidden() { } public Hidden(int size) { } } [Input(1, 8, 8)] [Relu] public partial class N : Hidden;", "Hidden;", "Hidden", "no accessible constructor")]
    [InlineData("[Input(1, 8, 8)] [Relu] public partial class N { private int _parameters; }", "_parameters;", "_parameters", "its member '_parameters' clashes with a member ConvGen adds to the class (a member named '_parameters')")]
    [InlineData("[Input(1, 8, 8)] [Relu] public partial class N { public int Step1 => 3; }", "Step1 =>", "Step1", "kernels are named Step or Back")]
    [InlineData("[Input(1, 8, 8)] [Relu] public partial class N { private float[] _layer0Weight; }", "_layer0Weight;", "_layer0Weight", "per-layer fields are named _layer, a layer number, and Weight or Bias")]
    [InlineData("[Input(1, 8, 8)] [Relu] public partial class N { public void Forward(System.ReadOnlySpan<float> x, System.Span<float> y, int n) { } }", "Forward(", "Forward", "its member 'Forward' clashes")]
    [InlineData("[Input(1, 8, 8)] [Relu] public partial class N { public class Frame { } }", "Frame {", "Frame", "its member 'Frame' clashes")]
    [InlineData("[Input(1, 8, 8)] [Relu] public partial class N { public N(int size) { } }", "N(int size)", "N", "its constructor N(int) has the signature of the one ConvGen generates, N(int seed = 0)")]
    [InlineData("[Input(1, 8, 8)] [Relu] public partial class N { public N(string name) : base() { } }", "N(string name)", "N", "its constructor N(string) does not call this(seed)")]
    [InlineData("[Input(1, 8, 8)] [Relu] public partial class N { public N() { } }", "N() {", "N", "its constructor N() does not call this(seed)")]
    [InlineData("[Input(1, 8, 8)] [Relu] public partial class N { private float _L3WT01; }", "_L3WT01;", "_L3WT01", "per-layer fields are named _L, a layer number")]
    [InlineData("[Input(1, 8, 8)] [Relu] public partial class N { public void Forward(float[] x) { } public void Forward(System.ReadOnlySpan<float> x, System.Span<float> y, int n) { } }", "Forward(System", "Forward", "its member 'Forward' clashes")]
    [InlineData("#nullable enable\n[Input(1, 8, 8)] [Relu] public partial class N { public void Save(string? path) { } }", "Save(", "Save", "its member 'Save' clashes")]
    [InlineData("[Input(1, 8, 8)] [Relu] public partial class N { int ConvGen.INetwork.InputLength => 3; }", "InputLength =>", "InputLength", "its explicit implementation of INetwork.InputLength clashes")]
    [InlineData("[System.CodeDom.Compiler.GeneratedCode(\"me\", \"1\")] [Input(1, 8, 8)] [Relu] public partial class N;", "N;", "N", "it carries [GeneratedCode]")]
    [InlineData("public class Saver { public virtual void Save(string path) { } } [Input(1, 8, 8)] [Relu] public partial class N : Saver;", "Saver;", "Saver", "its base class 'Saver' has a member 'Save' that clashes")]
    [InlineData("[Input(1, 8, 8)] [Relu] public partial class A; public class B : A { } [Input(1, 8, 8)] [Relu] public partial class N : B;", "B;", "B", "it derives from the network 'A'")]
    [InlineData("public class Vectors { protected class Vector256<T> { } } [Input(1, 8, 8)] [Relu] public partial class N : Vectors;", "Vectors;", "Vectors", "the base class's member 'Vectors.Vector256' hides 'System.Runtime.Intrinsics.Vector256<T>'")]
    [InlineData("[Input(1, 8, 8)] [Relu] public partial class N { [System.Runtime.CompilerServices.IndexerName(\"Frame\")] public int this[int i] => i; }", "this[int", "this", "its member 'Frame' clashes")]
    [InlineData("[Input(1, 8, 8)] [Relu] public partial class N { public int Math => 0; }", "N {", "N", "the class's own member 'Math' hides 'System.Math'")]
    public void ClassThatClashesWithTheGeneratedMembersIsReportedWhereTheClashIs(string network, string at, string located, string message)
    {
        string source = "using ConvGen;\nnamespace D;\n" + network + "\n";
        var run = GeneratorHarness.Run(source);
        var diagnostic = Assert.Single(run.Diagnostics);
        Assert.Equal("CG0002", diagnostic.Id);
        Assert.Contains(message, diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture));
        var span = diagnostic.Location.SourceSpan;
        Assert.Equal(located, source.Substring(span.Start, span.Length));
        Assert.Equal(source.LastIndexOf(at, System.StringComparison.Ordinal), span.Start);
        string name = network.Contains(" class N") ? "N" : located;
        // The network the clash is on gets nothing generated; another network of the source (a base) is generated.
        Assert.DoesNotContain(run.Sources, s => s.HintName == $"D.{name}.g.cs");
    }

    /// <summary>
    /// What a class may declare beside the generated members: overloads of the public methods, fields and methods
    /// named near the reserved ones, constructors that call this(seed), and a base class with a constructor that takes
    /// no arguments (optional ones count). It compiles without a diagnostic or warning and runs.
    /// </summary>
    [Fact]
    public void MembersThatDoNotClashAreAccepted()
    {
        var assembly = GeneratorHarness.CompileAndLoad("""
            using ConvGen;
            namespace D.Fine;
            public class Base
            {
                protected Base(int size = 3) { }
                protected void RunSteps(int unused) { }   // generated RunSteps(Frame*) does not hide it
                protected int Random => 1;                 // the generated code writes Random only where a type is looked up
            }
            [Input(1, 4, 4)] [Relu]
            public partial class N : Base
            {
                private int _count = 2;
                private static int s_calls;
                private readonly float _L2Penalty = 0.5f;
                private float _layer2Scale = 1f;
                private static double Sigmoid(double v) => 1 / (1 + System.Math.Exp(-v));
                public static string Summary<T>() => typeof(T).Name;
                public void Load(ref string path) { path = ""; }
                public string Name { get; } = "n";
                public N(string name) : this(7) { Name = name; }
                public float[] Forward(float[] images) { s_calls++; var y = new float[images.Length]; Forward(images, y, images.Length / InputLength); return y; }
                public void Save(string path, bool overwrite) { }
                public static string Summary(bool wide) => wide ? Summary() : "";
                public int Stepper => _count + (int)(_L2Penalty * _layer2Scale + Sigmoid(0)) + Span + Random;
                public int Span => 4;
                public void ThreadStatic() { }
                private sealed class Frame<T> { }
                void ConvGen.INetwork.Save(string path) => Save(path);
            }
            """);
        var network = GeneratorHarness.CreateNetwork(assembly, "D.Fine.N");
        var input = new float[16];
        input[3] = -1; input[5] = 2;
        var forward = network.GetType().GetMethod("Forward", new[] { typeof(float[]) })!;
        var output = (float[])forward.Invoke(network, new object[] { input })!;
        Assert.Equal(0f, output[3]);
        Assert.Equal(2f, output[5]);
    }

    /// <summary>
    /// Pooling windows as large as an int allows generate loops (the sum of their paddings and their tap count would wrap
    /// in 32 bits: the window used to be unrolled into k² taps, and threw OutOfMemoryException in the generator).
    /// </summary>
    [Fact]
    public void HugePoolWindowsGenerateAndRun()
    {
        var assembly = GeneratorHarness.CompileAndLoad("""
            using ConvGen;
            namespace D.Huge;
            [Input(1, 8, 8)] [AvgPool(int.MaxValue, pad: int.MaxValue / 2)] public partial class Avg;
            [Input(1, 8, 8)] [MaxPool(int.MaxValue - 2, pad: 1073741822)] public partial class Max;
            """);
        var input = Enumerable.Range(0, 64).Select(i => (float)(i % 5) - 1.5f).ToArray();
        var avg = GeneratorHarness.CreateNetwork(assembly, "D.Huge.Avg");
        var output = new float[1];
        avg.Forward(input, output, 1);
        double area = (double)int.MaxValue * int.MaxValue;
        Assert.Equal(input.Sum(v => (double)v) / area, output[0], 1e-6 * System.Math.Abs(input.Sum(v => (double)v) / area));
        var max = GeneratorHarness.CreateNetwork(assembly, "D.Huge.Max");
        max.Forward(input, output, 1);
        Assert.Equal(input.Max(), output[0]);
        var gradient = new float[64];
        max.Backward(new[] { 3f }, gradient, 1);
        Assert.Equal(3f, gradient[System.Array.IndexOf(input, input.Max())]);
        Assert.Equal(3f, gradient.Sum());
    }

    /// <summary>
    /// The project's global usings: in a namespace the generated file's own usings come first, so a global using of a
    /// namespace with a Math of its own, or a global alias named Random, changes nothing; a network in the global
    /// namespace, whose file's usings stand beside them, is refused instead (the names would be ambiguous).
    /// </summary>
    [Fact]
    public void GlobalUsingsCannotRebindTheGeneratedCodesNames()
    {
        const string utils = """
            namespace MyUtils { public static class Math { public static int Twice(int x) => 2 * x; } public class Rng { } }
            """;
        var assembly = GeneratorHarness.CompileAndLoad("global using MyUtils;\nglobal using Random = MyUtils.Rng;\n" + utils,
            "using ConvGen;\nnamespace App;\n[Input(1, 8, 8)] [Conv(3, 3, 1, 2, pad: 1), Tanh, AvgPool(3, pad: 1)] public partial class Net;\n");
        var network = GeneratorHarness.CreateNetwork(assembly, "App.Net");
        var output = new float[network.OutputLength];
        network.Forward(new float[64], output, 1);

        var run = GeneratorHarness.Run("global using MyUtils;\n" + utils, "using ConvGen;\n[Input(1, 8, 8)] [Relu] public partial class TopLevel;\n");
        var diagnostic = Assert.Single(run.Diagnostics);
        Assert.Equal("CG0002", diagnostic.Id);
        Assert.Contains("'MyUtils.Math', imported by 'global using MyUtils;', hides 'System.Math'", diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// Where the generated file's names are looked up: types of the network's own namespace from a referenced assembly
    /// hide them, and so does a namespace System in an enclosing namespace (from where the usings' first names resolve);
    /// other types of enclosing namespaces do not, since the usings inside the network's namespace come first.
    /// </summary>
    [Fact]
    public void NamespacesAreCheckedAsCSharpLooksThemUp()
    {
        var library = GeneratorHarness.CreateCompilation(new[]
        {
            "namespace App.Nets2 { public static class Math { public static int Max(int a, int b) => a; } }\nnamespace App.System { public class Marker { } }",
        }).ToMetadataReference();
        var compilation = GeneratorHarness.CreateCompilation(new[]
        {
            "using ConvGen;\nnamespace App.Nets2 { [Input(1, 8, 8)] [Relu] public partial class Net2; }\nnamespace App.Nets { [Input(1, 8, 8)] [Relu] public partial class Net; }\n",
        }).AddReferences(library);
        var run = GeneratorHarness.Run(compilation, GeneratorHarness.CreateDriver());
        var messages = run.Diagnostics.Select(d => d.GetMessage(System.Globalization.CultureInfo.InvariantCulture)).OrderBy(m => m, System.StringComparer.Ordinal).ToList();
        // App.System is in an enclosing namespace of both networks; App.Nets2.Math in Net2's own.
        Assert.True(messages.Count == 3, string.Join("\n", messages));
        Assert.StartsWith("'Net' cannot be a ConvGen network: 'App.System' hides 'System'", messages[0]);
        Assert.StartsWith("'Net2' cannot be a ConvGen network: 'App.Nets2.Math' hides 'System.Math'", messages[1]);
        Assert.StartsWith("'Net2' cannot be a ConvGen network: 'App.System' hides 'System'", messages[2]);

        var assembly = GeneratorHarness.CompileAndLoad("""
            using ConvGen;
            namespace Outer { public static class Math { } public class Random { } public static class Fma { } }
            namespace Outer.Nets { [Input(1, 8, 8)] [Conv(3, 3, 1, 2, pad: 1), Tanh] public partial class Net; }
            """);
        Assert.NotNull(GeneratorHarness.CreateNetwork(assembly, "Outer.Nets.Net"));
    }

    /// <summary>
    /// A base class's method with the signature of a generated helper is refused (the helper would hide it, CS0108, or
    /// fail to override it, CS0114); a member whose type is the very type an imported name means is not (C# reads the
    /// name as the type); a global using static that brings in a Math is refused for a network in the global namespace.
    /// </summary>
    [Fact]
    public void HelpersSignaturesMemberTypesAndStaticUsingsAreCheckedToo()
    {
        var run = GeneratorHarness.Run("""
            using System;
            using ConvGen;
            namespace D;
            public class Base { public virtual void CheckAndRefresh(ReadOnlySpan<float> input, Span<float> output, int batch) { } }
            [Input(1, 8, 8)] [Relu] public partial class N : Base;
            """);
        Assert.Contains("its base class 'Base' has a member 'CheckAndRefresh' that clashes", Assert.Single(run.Diagnostics).GetMessage(System.Globalization.CultureInfo.InvariantCulture));

        var assembly = GeneratorHarness.CompileAndLoad("""
            using System.Runtime.CompilerServices;
            using ConvGen;
            namespace D.Typed;
            [Input(1, 8, 8)] [Conv(3, 3, 1, 2, pad: 1), Tanh, AvgPool(2)]
            public partial class N
            {
                public System.Array Array { get; } = new int[1];
                public MethodImplOptions MethodImplOptions => default;
            }
            """);
        Assert.NotNull(GeneratorHarness.CreateNetwork(assembly, "D.Typed.N"));

        run = GeneratorHarness.Run("global using static Cfg;\npublic static class Cfg { public static class Math { } }\n",
            "using ConvGen;\n[Input(1, 8, 8)] [Relu] public partial class TopLevel2;\n");
        Assert.Contains("'Cfg.Math', imported by 'global using static Cfg;', hides 'System.Math'", Assert.Single(run.Diagnostics).GetMessage(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public void CSharpBelow10IsReportedOnTheClass()
    {
        var old = GeneratorHarness.ParseOptions.WithLanguageVersion(Microsoft.CodeAnalysis.CSharp.LanguageVersion.CSharp9);
        var tree = Microsoft.CodeAnalysis.CSharp.CSharpSyntaxTree.ParseText("using ConvGen;\n[Input(1, 8, 8)] [Relu] public partial class N { }\n", old, path: "Test0.cs");
        var compilation = GeneratorHarness.CreateCompilation(System.Array.Empty<string>()).AddSyntaxTrees(tree);
        var driver = Microsoft.CodeAnalysis.CSharp.CSharpGeneratorDriver.Create(
            [new ConvGen.Generator.NetworkGenerator().AsSourceGenerator()], parseOptions: old);
        var run = GeneratorHarness.Run(compilation, driver);
        var diagnostic = Assert.Single(run.Diagnostics);
        Assert.Equal("CG0013", diagnostic.Id);
        Assert.Equal("N", tree.ToString().Substring(diagnostic.Location.SourceSpan.Start, diagnostic.Location.SourceSpan.Length));
        Assert.Contains("needs C# 10 or later, but the project compiles C# 9.0", diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Empty(run.Sources); // a generated part would not compile in C# 9 either
        Assert.DoesNotContain(run.OutputCompilation.GetDiagnostics(), d => d.Severity == DiagnosticSeverity.Error);
    }

    [Fact]
    public void UnsafeCodeNotAllowedIsReportedOnTheClass()
    {
        var compilation = GeneratorHarness.CreateCompilation(new[] { "using ConvGen;\n[Input(1, 8, 8)] [Relu] public partial class N;\n" });
        compilation = compilation.WithOptions(compilation.Options.WithAllowUnsafe(false));
        var run = GeneratorHarness.Run(compilation, GeneratorHarness.CreateDriver());
        var diagnostic = Assert.Single(run.Diagnostics);
        Assert.Equal("CG0010", diagnostic.Id);
        Assert.Equal("N", diagnostic.Location.SourceTree!.ToString().Substring(diagnostic.Location.SourceSpan.Start, diagnostic.Location.SourceSpan.Length));
        Assert.Contains("AllowUnsafeBlocks", diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture));
        AssertStub(run, diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture)); // a stub needs no unsafe code
        AssertNoCompilerErrors(run);
    }

    [Fact]
    public void DiagnosticLocationsBelongToTheCompilationsSyntaxTrees()
    {
        // The compiler applies #pragma warning disable and per-file .editorconfig severities only to diagnostics whose
        // location is in one of the compilation's trees (an external file span escapes them).
        var run = GeneratorHarness.Run("using ConvGen;\n[Input(3, 8, 8)] [Conv(3, 3, @in: 1, @out: 4)] public partial class N;\n");
        var diagnostic = Assert.Single(run.Diagnostics);
        Assert.True(diagnostic.Location.IsInSource);
        Assert.Same(run.InputCompilation.SyntaxTrees.First(), diagnostic.Location.SourceTree);
    }

    [Fact]
    public void AttributeTheCompilerCannotBindAddsNoGeneratorDiagnostic()
    {
        // Conv(3) lacks required arguments: the compiler reports CS7036; the generator adds no diagnostic, and a stub
        // (whose message points at the compiler's error), so that code using the network adds no errors of its own.
        var run = GeneratorHarness.Run("using ConvGen;\n[Input(1, 8, 8)] [Conv(3)] public partial class N;\n",
            "public static class App { public static void Run() { var n = new N(); n.Forward(new float[N.InputLength], new float[N.OutputLength], 1); } }");
        Assert.Empty(run.Diagnostics);
        Assert.Contains("The compiler could not read its ConvGen attributes", Assert.Single(run.Sources).Text);
        Assert.Contains(run.OutputCompilation.GetDiagnostics(), d => d.Id == "CS7036");
        AssertNoCompilerErrors(run, "CS7036");
    }

    /// <summary>
    /// A network may not be named like a member ConvGen adds to its class: the compiler would report CS0542 in the
    /// generated file. Every class-level member name in the code generated for the randomized networks (which cover the
    /// kernel kinds) and a few more (Winograd, a stub), used as a network's name, must be refused with CG0002 on the name.
    /// </summary>
    [Fact]
    public void EveryGeneratedMemberNameIsRefusedAsANetworkName()
    {
        var run = Corpus.Value;
        var names = new SortedSet<string>(System.StringComparer.Ordinal);
        foreach (var source in run.Sources)
        {
            var root = Microsoft.CodeAnalysis.CSharp.CSharpSyntaxTree.ParseText(source.Text).GetRoot();
            foreach (var type in root.DescendantNodes().OfType<Microsoft.CodeAnalysis.CSharp.Syntax.ClassDeclarationSyntax>().Where(t => t.Parent is not Microsoft.CodeAnalysis.CSharp.Syntax.TypeDeclarationSyntax))
                foreach (var member in type.Members)
                    foreach (string name in MemberNames(member)) names.Add(name);
        }
        Assert.Contains("Step0", names);
        Assert.Contains("ConvGenCompileTimeErrors", names); // the stub's

        // Names near the reserved ones stay free.
        string[] free = ["Fine", "Stepper", "StepNet", "Backend", "Framework", "SigmoidNet", "Forwarder", "S_net", "_count", "s_cache", "t_local", "_Layer", "_layers"];
        string classes = string.Join("\n", names.Concat(free).Select(n => $"[Input(1, 8, 8)] [Relu] public partial class {n};"));
        var check = GeneratorHarness.Run("using ConvGen;\nnamespace D.Named;\n" + classes);
        var refused = check.Diagnostics.Where(d => d.Id == "CG0002")
            .Select(d => d.Location.SourceTree!.GetText().ToString(d.Location.SourceSpan)).ToHashSet();
        var accepted = names.Where(n => !refused.Contains(n)).ToList();
        Assert.True(accepted.Count == 0, $"Generated member names accepted as a network's name: {string.Join(", ", accepted)}");
        Assert.Empty(free.Intersect(refused));
        Assert.DoesNotContain(check.Diagnostics, d => d.Id != "CG0002");
    }

    /// <summary>
    /// The code generated for the randomized networks (which cover the kernel kinds), a Winograd layer, both
    /// activations and a broken network (its stub).
    /// </summary>
    private static readonly System.Lazy<GeneratorRun> Corpus = new(() => GeneratorHarness.Run(
        NetworkSpec.ToSource(RandomizedNetworkTests.Cases.Select(c => c.Spec).ToList(), "D.Corpus"),
        """
        using ConvGen;
        namespace D.Extra;
        [Input(64, 8, 8)] [Conv(3, 3, 64, 64, pad: 1), Relu] public partial class Wino;
        [Input(1, 28, 28)] [Conv(5, 5, 1, 6, pad: 2), Sigmoid, MaxPool(2), Conv(5, 5, 6, 16), Tanh] public partial class Acts;
        [Input(128, 8, 8)] [Conv(1, 1, 128, 16)] public partial class Gemm;
        [Input(1, 8, 8)] [Conv(3, 3, 2, 4)] public partial class Broken;
        """));

    /// <summary>
    /// The generated code names .NET types without <c>global::</c>; a type of the same name in the network's namespace
    /// (or an enclosing one, or a member of the class) would come first in C#'s lookup and break it. Every unqualified
    /// name in the corpus that binds to a System type or namespace, declared beside a network, must be refused with
    /// CG0002 on the network, and nothing else reported; names of another arity stay free.
    /// </summary>
    [Fact]
    public void EveryNetNameTheGeneratedCodeImportsIsCheckedForHiding()
    {
        var run = Corpus.Value;
        var used = new SortedSet<(string Name, int Arity)>();
        var inExpressions = new SortedSet<(string Name, int Arity)>(); // written where a method or property could come first
        var compilation = run.OutputCompilation;
        foreach (var tree in compilation.SyntaxTrees.Where(t => t.FilePath.EndsWith(".g.cs", System.StringComparison.Ordinal)))
        {
            var root = (Microsoft.CodeAnalysis.CSharp.Syntax.CompilationUnitSyntax)tree.GetRoot();
            // The usings stand after the file-scoped namespace (or at the top, for a network in the global namespace).
            var imported = root.DescendantNodes().OfType<Microsoft.CodeAnalysis.CSharp.Syntax.UsingDirectiveSyntax>().Select(u => u.Name!.ToString()).ToList();
            // Only the leftmost name of a dotted name is looked up in scope. Binding each one took half a minute, so a
            // name counts when a type of that name and arity (or an attribute of that name) is in a namespace the
            // file imports, or it is the System namespace itself.
            var leftmost = root.DescendantNodes().OfType<Microsoft.CodeAnalysis.CSharp.Syntax.SimpleNameSyntax>()
                .Where(id => !(id.Parent is Microsoft.CodeAnalysis.CSharp.Syntax.QualifiedNameSyntax q && q.Right == id
                               || id.Parent is Microsoft.CodeAnalysis.CSharp.Syntax.MemberAccessExpressionSyntax m && m.Name == id
                               || id.Parent is Microsoft.CodeAnalysis.CSharp.Syntax.AliasQualifiedNameSyntax
                               || id.Parent is Microsoft.CodeAnalysis.CSharp.Syntax.UsingDirectiveSyntax || id.IsVar))
                .Select(id => (id.Identifier.ValueText, id.Arity, Expression: !Microsoft.CodeAnalysis.CSharp.SyntaxFacts.IsInTypeOnlyContext(id))).Distinct();
            foreach (var (name, arity, expression) in leftmost)
            {
                string metadata = arity == 0 ? name : $"{name}`{arity}";
                if (name == "System" || imported.Any(ns => compilation.GetTypeByMetadataName($"{ns}.{metadata}") is not null
                                                          || arity == 0 && compilation.GetTypeByMetadataName($"{ns}.{name}Attribute") is not null))
                {
                    used.Add((name, arity));
                    if (expression) inExpressions.Add((name, arity));
                }
            }
        }
        Assert.Contains(("Vector256", 1), used);
        Assert.Contains(("Fma", 0), used);
        Assert.Contains(("Sse", 0), used); // the planar product's prefetches, in passes of input channels (Gemm)

        // A name written in an expression must be marked so (ImportedNames.InExpressions): there a member of the class of
        // that name would come first, and the parser must refuse it; elsewhere only a type would.
        var table = ((System.Array)typeof(ConvGen.Generator.NetworkGenerator).Assembly
            .GetType("ConvGen.Generator.Emit.ImportedNames")!.GetField("All")!.GetValue(null)!).Cast<System.Runtime.CompilerServices.ITuple>();
        var marked = table.Where(e => (bool)e[3]!).Select(e => ((string)e[0]!, (int)e[1]!)).ToHashSet();
        Assert.Contains(("Math", 0), inExpressions);
        Assert.DoesNotContain(("Random", 0), inExpressions); // new Random(seed): a type's place
        var unmarked = inExpressions.Where(n => !marked.Contains(n)).ToList();
        Assert.True(unmarked.Count == 0, $"Written in expressions but not marked: {string.Join(", ", unmarked)}");

        // Each name declared as a type beside a network of its own, in a namespace of its own; then names of another arity.
        var cases = used.Select((u, i) => (u.Name, u.Arity, Net: $"Net{i}", Declared: $"public class {u.Name}{(u.Arity == 0 ? "" : "<" + string.Join(", ", Enumerable.Range(0, u.Arity).Select(k => $"T{k}")) + ">")} {{ }}")).ToList();
        string source = "using ConvGen;\n" + string.Join("\n", cases.Select(c => $"namespace D.Hide.{c.Net} {{ {c.Declared} [Input(1, 8, 8)] [Relu] public partial class {c.Net}; }}"))
            + "\nnamespace D.Free { public class Span { } public class Vector256<T1, T2> { } [Input(1, 8, 8)] [Relu] public partial class Ok; }";
        var check = GeneratorHarness.Run(source);
        foreach (var c in cases)
        {
            var d = check.Diagnostics.SingleOrDefault(d => d.Id == "CG0002" && d.GetMessage(System.Globalization.CultureInfo.InvariantCulture).StartsWith($"'{c.Net}'", System.StringComparison.Ordinal));
            Assert.True(d is not null, $"A type named {c.Name} (arity {c.Arity}) beside network {c.Net} is not reported.");
            Assert.Contains($"which the generated code names '{c.Name}'", d!.GetMessage(System.Globalization.CultureInfo.InvariantCulture));
        }
        Assert.DoesNotContain(check.Diagnostics, d => d.Id != "CG0002" || d.GetMessage(System.Globalization.CultureInfo.InvariantCulture).StartsWith("'Ok'", System.StringComparison.Ordinal));
        AssertNoCompilerErrors(check);
    }

    /// <summary>The names a class member declares (none for constructors and explicit interface implementations).</summary>
    private static IEnumerable<string> MemberNames(Microsoft.CodeAnalysis.CSharp.Syntax.MemberDeclarationSyntax member) => member switch
    {
        Microsoft.CodeAnalysis.CSharp.Syntax.MethodDeclarationSyntax { ExplicitInterfaceSpecifier: null } m => [m.Identifier.ValueText],
        Microsoft.CodeAnalysis.CSharp.Syntax.PropertyDeclarationSyntax { ExplicitInterfaceSpecifier: null } p => [p.Identifier.ValueText],
        Microsoft.CodeAnalysis.CSharp.Syntax.BaseFieldDeclarationSyntax f => f.Declaration.Variables.Select(v => v.Identifier.ValueText),
        Microsoft.CodeAnalysis.CSharp.Syntax.BaseTypeDeclarationSyntax t => [t.Identifier.ValueText],
        Microsoft.CodeAnalysis.CSharp.Syntax.DelegateDeclarationSyntax d => [d.Identifier.ValueText],
        _ => [],
    };

    [Fact]
    public void EveryDescriptorHasADocPageAndADiagnosticTest()
    {
        var ids = typeof(ConvGen.Generator.NetworkGenerator).Assembly.GetType("ConvGen.Generator.Diagnostics")!
            .GetFields().Where(f => f.FieldType == typeof(DiagnosticDescriptor))
            .Select(f => ((DiagnosticDescriptor)f.GetValue(null)!).Id).ToList();
        Assert.NotEmpty(ids);
        var tested = Cases().Select(c => (string)c[0]).Append("CG0010").Append("CG0012").Append("CG0013").ToHashSet();
        string docs = System.IO.Path.Combine(RepoRoot(), "docs", "diagnostics");
        foreach (string id in ids)
        {
            Assert.True(tested.Contains(id), $"{id} has no test case");
            Assert.True(System.IO.File.Exists(System.IO.Path.Combine(docs, id + ".md")), $"{id} has no page in docs/diagnostics");
        }
    }

    private static string RepoRoot([System.Runtime.CompilerServices.CallerFilePath] string file = "")
        => System.IO.Path.GetFullPath(System.IO.Path.Combine(System.IO.Path.GetDirectoryName(file)!, "..", "..", ".."));
}

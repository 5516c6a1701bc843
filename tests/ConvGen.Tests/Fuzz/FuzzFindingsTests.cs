using System.Globalization;
using System.Linq;
using ConvGen.Tests.Infrastructure;
using Microsoft.CodeAnalysis;
using Xunit;

namespace ConvGen.Tests.Fuzz;

/// <summary>
/// What <see cref="FuzzTests"/> and the broken-variant corpus turned up, each as the smallest network that shows it, so
/// that a fix can be checked without the random corpus.
/// </summary>
public sealed class FuzzFindingsTests
{
    private static GeneratorRun Run(string network) => GeneratorHarness.Run("using ConvGen;\nnamespace Findings;\n" + network + "\n");

    /// <summary>
    /// Sizes whose C·H·W passes 2^63 must be rejected (CG0009), not wrap around the 64-bit size check and come out as
    /// <c>const int InputLength = -7493989744242589715</c> in generated code that does not compile.
    /// </summary>
    [Theory]
    [InlineData("[Input(19, int.MaxValue, 268435457)] public partial class HugeInput;")]
    [InlineData("[Input(2147483647, 27, 2147483647)] public partial class HugeInput;")]
    [InlineData("[Input(12, 12, 12)] [Conv(4, 5, 12, 3, pad: 2147483646)] public partial class HugePad;")]
    public void SizesPastTwoToTheSixtyThreeAreRejected(string network)
    {
        var run = Run(network);
        Assert.True(run.Diagnostics.Any(d => d.Id == "CG0009" && d.Severity == DiagnosticSeverity.Error),
            "expected CG0009, got: " + GeneratorHarness.FormatDiagnostics(run.Diagnostics)
            + string.Join("\n", run.Sources.SelectMany(s => s.Text.Split('\n').Where(l => l.Contains("Length =", System.StringComparison.Ordinal)))));
        // Only the stub of a network with errors (its constants are 0), whose output compiles.
        Assert.Contains("const int InputLength = 0;", Assert.Single(run.Sources).Text);
        Assert.DoesNotContain(run.OutputCompilation.GetDiagnostics(), d => d.Severity == DiagnosticSeverity.Error);
    }

    /// <summary>
    /// Every tensor is within the 2^28 limit, but the recorded forward keeps all of them (nine activations of 2^28
    /// values plus the input): the generator must not throw (today: OverflowException in a checked
    /// <c>Enumerable.Sum</c> in <c>ExecutionPlan.Build</c>, CS8785). Either a diagnostic or code that compiles.
    /// </summary>
    [Fact]
    public void ManyTensorsAtTheSizeLimitDoNotCrashTheGenerator()
    {
        var run = Run("[Input(8, 8192, 4096)] [Relu, Sigmoid, Tanh, Relu, Sigmoid, Tanh, Relu, Sigmoid, Tanh] public partial class Tall;");
        if (!run.Diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error)) GeneratorHarness.CompileAndLoad(run);
    }

    /// <summary>
    /// CG0009 states a layer's real parameter count: 774,400 × 4,096 + 4,096 = 3,171,946,496, not int.MaxValue.
    /// </summary>
    [Fact]
    public void ParameterCountInCg0009IsNotClampedToIntMaxValue()
    {
        var run = Run("[Input(256, 55, 55)] [Flatten, Linear(774400, 4096)] public partial class Wide;");
        var diagnostic = Assert.Single(run.Diagnostics);
        Assert.Equal("CG0009", diagnostic.Id);
        Assert.Contains("3,171,946,496", diagnostic.GetMessage(CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// CG0012 says the layer "never reads the last rows of its input". When the rows the last window stops short of are
    /// the layer's own bottom padding, every input row is read and the warning would be wrong: MaxPool(3, stride 2, pad 1)
    /// on 4 rows reads padded rows 0–2 and 2–4, i.e. input rows 0–3, and skips only padding. The ResNet stem (7x7/2 pad 3
    /// on 224, then 3x3/2 pad 1 on 112) is the common case. (Found by the fuzz corpus at the same time as d942426 fixed it.)
    /// </summary>
    [Theory]
    [InlineData("[Input(1, 4, 4)] [MaxPool(3, stride: 2, pad: 1)] public partial class N;")]
    [InlineData("[Input(3, 224, 224)] [Conv(7, 7, 3, 64, stride: 2, pad: 3), Relu, MaxPool(3, stride: 2, pad: 1)] public partial class N;")]
    [InlineData("[Input(8, 16, 16)] [Conv(3, 3, 8, 8, stride: 2, pad: 1)] public partial class N;")]
    [InlineData("[Input(1, 28, 28)] [Conv(3, 3, 1, 4, stride: 2, Same = true)] public partial class N;")]
    [InlineData("[Input(1, 27, 27)] [Conv(2, 2, 1, 4, stride: 2, Same = true)] public partial class N;")]
    public void Cg0012IsNotReportedWhenOnlyPaddingGoesUnread(string network)
    {
        var run = Run(network);
        Assert.True(run.Diagnostics.IsEmpty, GeneratorHarness.FormatDiagnostics(run.Diagnostics));
        Assert.Single(run.Sources);
    }

    /// <summary>
    /// The counterpart: when real rows go unread, CG0012 must stay (with and without padding). "Same" padding cannot go
    /// below zero, so a window shorter than the stride (a 1x1 at stride 2) leaves the last row of an even size unread:
    /// it was not checked at all before (docs review).
    /// </summary>
    [Theory]
    [InlineData("[Input(1, 5, 5)] [MaxPool(2)] public partial class N;", "layer 0 (MaxPool) never reads the last 1 row(s)")]
    [InlineData("[Input(1, 6, 6)] [MaxPool(3, stride: 3, pad: 1)] public partial class N;", "layer 0 (MaxPool) never reads the last")]
    [InlineData("[Input(3, 224, 224)] [Conv(11, 11, 3, 96, stride: 4)] public partial class N;", "layer 0 (Conv) never reads the last 1 row(s)")]
    [InlineData("[Input(1, 28, 28)] [Conv(1, 1, 1, 1, stride: 2, Same = true)] public partial class N;", "layer 0 (Conv) never reads the last 1 row(s)")]
    [InlineData("[Input(1, 30, 30)] [Conv(1, 1, 1, 1, stride: 3, Same = true)] public partial class N;", "layer 0 (Conv) never reads the last 2 row(s)")]
    public void Cg0012IsReportedWhenInputRowsGoUnread(string network, string message)
    {
        var run = Run(network);
        var diagnostic = Assert.Single(run.Diagnostics);
        Assert.Equal("CG0012", diagnostic.Id);
        Assert.Equal(DiagnosticSeverity.Warning, diagnostic.Severity);
        Assert.Contains(message, diagnostic.GetMessage(CultureInfo.InvariantCulture));
        Assert.Single(run.Sources);
    }
}

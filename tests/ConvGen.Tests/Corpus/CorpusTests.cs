using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using ConvGen.Tests.Infrastructure;
using ConvGen.Tests.Reference;
using Xunit;

namespace ConvGen.Tests.Corpus;

/// <summary>
/// Classic networks as a compile-time corpus: LeNet-5 (modern), AlexNet (single tower, 227×227 input, as in the course
/// material) and VGG-16. Each is generated and compiled through <see cref="GeneratorHarness"/> with no diagnostics at all,
/// and every row of its generated <c>LayerTable</c> is compared with the published table written out below by hand
/// (shapes as C×H×W, parameter counts as weights + bias). Nothing in the expected tables is computed by ConvGen or by
/// test code: they are the numbers from the papers and the course notes, so a wrong shape formula cannot agree with itself.
/// AlexNet and VGG-16 are too big to run here; only LeNet also runs Forward against the float64 reference.
/// </summary>
public sealed class CorpusTests
{
    private const string Usings = "using ConvGen;\n\nnamespace Corpus;\n\n";

    /// <summary>One published row: the nn.Sequential index, the layer kind, the output shape and the parameter count.</summary>
    private sealed record Row(int Index, string Kind, int[] Shape, long Parameters);

    private static Row R(int index, string kind, long parameters, params int[] shape) => new(index, kind, shape, parameters);

    // ---------------------------------------------------------------------------------------------------------------
    // LeNet-5, the modern variant (ReLU, max pooling, 28×28 MNIST input padded by 2 in the first convolution).
    // Published table: 6×28×28 → 6×14×14 → 16×10×10 → 16×5×5 → 400 → 120 → 84 → 10; 61,706 parameters.

    internal const string LeNetSource = """
        [Input(1, 28, 28)]
        [Conv(5, 5, pad: 2, @in: 1, @out: 6), Relu, MaxPool(2)]
        [Conv(5, 5, @in: 6, @out: 16), Relu, MaxPool(2)]
        [Flatten, Linear(400, 120), Relu, Linear(120, 84), Relu, Linear(84, 10)]
        public partial class LeNet5;
        """;

    private static readonly Row[] LeNetTable =
    [
        R(0, "Conv", 156, 6, 28, 28),          // 6·1·5·5 + 6
        R(1, "Relu", 0, 6, 28, 28),
        R(2, "MaxPool", 0, 6, 14, 14),
        R(3, "Conv", 2_416, 16, 10, 10),       // 16·6·5·5 + 16
        R(4, "Relu", 0, 16, 10, 10),
        R(5, "MaxPool", 0, 16, 5, 5),
        R(6, "Flatten", 0, 400),
        R(7, "Linear", 48_120, 120),           // 400·120 + 120
        R(8, "Relu", 0, 120),
        R(9, "Linear", 10_164, 84),            // 120·84 + 84
        R(10, "Relu", 0, 84),
        R(11, "Linear", 850, 10),              // 84·10 + 10
    ];

    private const long LeNetParameters = 61_706;

    // ---------------------------------------------------------------------------------------------------------------
    // AlexNet as in the course material: one tower (no groups), 3×227×227 input.
    //   Conv 11x11/4, 96  → 55×55×96;   MaxPool 3/2 → 27×27×96
    //   Conv 5x5 p2, 256  → 27×27×256;  MaxPool 3/2 → 13×13×256
    //   Conv 3x3 p1, 384 → 384 → 256 (13×13);        MaxPool 3/2 → 6×6×256
    //   Flatten 9216 → FC 4096 → FC 4096 → FC 1000
    // Parameters by hand, layer by layer (weights + bias):
    //   96·3·11·11 + 96 = 34,944          256·96·5·5 + 256 = 614,656
    //   384·256·3·3 + 384 = 885,120       384·384·3·3 + 384 = 1,327,488      256·384·3·3 + 256 = 884,992
    //   9216·4096 + 4096 = 37,752,832     4096·4096 + 4096 = 16,781,312      4096·1000 + 1000 = 4,097,000
    //   total 62,378,344 (the usual "62.3 million" of single-tower AlexNet).

    internal const string AlexNetSource = """
        [Input(3, 227, 227)]
        [Conv(11, 11, @in: 3, @out: 96, stride: 4), Relu, MaxPool(3, stride: 2)]
        [Conv(5, 5, @in: 96, @out: 256, pad: 2), Relu, MaxPool(3, stride: 2)]
        [Conv(3, 3, @in: 256, @out: 384, pad: 1), Relu]
        [Conv(3, 3, @in: 384, @out: 384, pad: 1), Relu]
        [Conv(3, 3, @in: 384, @out: 256, pad: 1), Relu, MaxPool(3, stride: 2)]
        [Flatten]
        [Linear(9216, 4096), Relu]
        [Linear(4096, 4096), Relu]
        [Linear(4096, 1000)]
        public partial class AlexNet;
        """;

    private static readonly Row[] AlexNetTable =
    [
        R(0, "Conv", 34_944, 96, 55, 55),
        R(1, "Relu", 0, 96, 55, 55),
        R(2, "MaxPool", 0, 96, 27, 27),
        R(3, "Conv", 614_656, 256, 27, 27),
        R(4, "Relu", 0, 256, 27, 27),
        R(5, "MaxPool", 0, 256, 13, 13),
        R(6, "Conv", 885_120, 384, 13, 13),
        R(7, "Relu", 0, 384, 13, 13),
        R(8, "Conv", 1_327_488, 384, 13, 13),
        R(9, "Relu", 0, 384, 13, 13),
        R(10, "Conv", 884_992, 256, 13, 13),
        R(11, "Relu", 0, 256, 13, 13),
        R(12, "MaxPool", 0, 256, 6, 6),
        R(13, "Flatten", 0, 9216),
        R(14, "Linear", 37_752_832, 4096),
        R(15, "Relu", 0, 4096),
        R(16, "Linear", 16_781_312, 4096),
        R(17, "Relu", 0, 4096),
        R(18, "Linear", 4_097_000, 1000),
    ];

    private const long AlexNetParameters = 62_378_344;

    // ---------------------------------------------------------------------------------------------------------------
    // VGG-16 (configuration D of Simonyan & Zisserman): 13 3x3/1 pad-1 convolutions in five blocks, each block closed by
    // a 2x2 max pool; 224×224×3 → 112×112×64 → 56×56×128 → 28×28×256 → 14×14×512 → 7×7×512 → 4096 → 4096 → 1000.
    // 138,357,544 parameters (the published count; torchvision's vgg16 has exactly this many).

    internal const string Vgg16Source = """
        [Input(3, 224, 224)]
        [Conv(3, 3, 3, 64, pad: 1), Relu, Conv(3, 3, 64, 64, pad: 1), Relu, MaxPool(2)]
        [Conv(3, 3, 64, 128, pad: 1), Relu, Conv(3, 3, 128, 128, pad: 1), Relu, MaxPool(2)]
        [Conv(3, 3, 128, 256, pad: 1), Relu, Conv(3, 3, 256, 256, pad: 1), Relu, Conv(3, 3, 256, 256, pad: 1), Relu, MaxPool(2)]
        [Conv(3, 3, 256, 512, pad: 1), Relu, Conv(3, 3, 512, 512, pad: 1), Relu, Conv(3, 3, 512, 512, pad: 1), Relu, MaxPool(2)]
        [Conv(3, 3, 512, 512, pad: 1), Relu, Conv(3, 3, 512, 512, pad: 1), Relu, Conv(3, 3, 512, 512, pad: 1), Relu, MaxPool(2)]
        [Flatten, Linear(25088, 4096), Relu, Linear(4096, 4096), Relu, Linear(4096, 1000)]
        public partial class Vgg16;
        """;

    private static readonly Row[] Vgg16Table =
    [
        // Block 1
        R(0, "Conv", 1_792, 64, 224, 224),       // 64·3·9 + 64
        R(1, "Relu", 0, 64, 224, 224),
        R(2, "Conv", 36_928, 64, 224, 224),      // 64·64·9 + 64
        R(3, "Relu", 0, 64, 224, 224),
        R(4, "MaxPool", 0, 64, 112, 112),
        // Block 2
        R(5, "Conv", 73_856, 128, 112, 112),     // 128·64·9 + 128
        R(6, "Relu", 0, 128, 112, 112),
        R(7, "Conv", 147_584, 128, 112, 112),    // 128·128·9 + 128
        R(8, "Relu", 0, 128, 112, 112),
        R(9, "MaxPool", 0, 128, 56, 56),
        // Block 3
        R(10, "Conv", 295_168, 256, 56, 56),     // 256·128·9 + 256
        R(11, "Relu", 0, 256, 56, 56),
        R(12, "Conv", 590_080, 256, 56, 56),     // 256·256·9 + 256
        R(13, "Relu", 0, 256, 56, 56),
        R(14, "Conv", 590_080, 256, 56, 56),
        R(15, "Relu", 0, 256, 56, 56),
        R(16, "MaxPool", 0, 256, 28, 28),
        // Block 4
        R(17, "Conv", 1_180_160, 512, 28, 28),   // 512·256·9 + 512
        R(18, "Relu", 0, 512, 28, 28),
        R(19, "Conv", 2_359_808, 512, 28, 28),   // 512·512·9 + 512
        R(20, "Relu", 0, 512, 28, 28),
        R(21, "Conv", 2_359_808, 512, 28, 28),
        R(22, "Relu", 0, 512, 28, 28),
        R(23, "MaxPool", 0, 512, 14, 14),
        // Block 5
        R(24, "Conv", 2_359_808, 512, 14, 14),
        R(25, "Relu", 0, 512, 14, 14),
        R(26, "Conv", 2_359_808, 512, 14, 14),
        R(27, "Relu", 0, 512, 14, 14),
        R(28, "Conv", 2_359_808, 512, 14, 14),
        R(29, "Relu", 0, 512, 14, 14),
        R(30, "MaxPool", 0, 512, 7, 7),
        // Classifier
        R(31, "Flatten", 0, 25088),
        R(32, "Linear", 102_764_544, 4096),      // 25088·4096 + 4096
        R(33, "Relu", 0, 4096),
        R(34, "Linear", 16_781_312, 4096),       // 4096·4096 + 4096
        R(35, "Relu", 0, 4096),
        R(36, "Linear", 4_097_000, 1000),        // 4096·1000 + 1000
    ];

    private const long Vgg16Parameters = 138_357_544;

    // ---------------------------------------------------------------------------------------------------------------

    public static IEnumerable<object[]> Networks() =>
    [
        ["LeNet5"],
        ["AlexNet"],
        ["Vgg16"],
    ];

    private static (string Source, Row[] Table, long Parameters, int[] Input) Published(string name) => name switch
    {
        "LeNet5" => (LeNetSource, LeNetTable, LeNetParameters, [1, 28, 28]),
        "AlexNet" => (AlexNetSource, AlexNetTable, AlexNetParameters, [3, 227, 227]),
        "Vgg16" => (Vgg16Source, Vgg16Table, Vgg16Parameters, [3, 224, 224]),
        _ => throw new ArgumentException(name),
    };

    /// <summary>Compiled once per network (VGG-16 takes a few seconds): the generator run and the loaded assembly.</summary>
    private static readonly Dictionary<string, Lazy<(GeneratorRun Run, Assembly Assembly)>> s_compiled =
        new[] { "LeNet5", "AlexNet", "Vgg16" }.ToDictionary(n => n, n => new Lazy<(GeneratorRun, Assembly)>(() =>
        {
            var run = GeneratorHarness.Run(Usings + Published(n).Source + "\n");
            return (run, GeneratorHarness.CompileAndLoad(run));
        }));

    private static IReadOnlyList<LayerInfo> LayerTable(string name)
    {
        var type = s_compiled[name].Value.Assembly.GetType("Corpus." + name)
                   ?? throw new Xunit.Sdk.XunitException($"Corpus.{name} is not in the compiled assembly");
        var property = type.GetProperty("LayerTable", BindingFlags.Public | BindingFlags.Static)
                       ?? throw new Xunit.Sdk.XunitException($"Corpus.{name} has no public static LayerTable");
        return (IReadOnlyList<LayerInfo>)property.GetValue(null)!;
    }

    [Theory]
    [MemberData(nameof(Networks))]
    public void CompilesWithoutAnyDiagnostic(string name)
    {
        var (run, _) = s_compiled[name].Value;
        Assert.True(run.Diagnostics.IsEmpty, "Generator diagnostics:\n" + GeneratorHarness.FormatDiagnostics(run.Diagnostics));
        Assert.Equal($"Corpus.{name}.g.cs", Assert.Single(run.Sources).HintName);
        // The whole output compilation (user code and generated code) is clean: no errors and no warnings.
        var compileDiagnostics = run.OutputCompilation.GetDiagnostics().Where(d => d.Severity >= Microsoft.CodeAnalysis.DiagnosticSeverity.Warning).ToList();
        Assert.True(compileDiagnostics.Count == 0, "Compiler diagnostics:\n" + GeneratorHarness.FormatDiagnostics(compileDiagnostics));
    }

    [Theory]
    [MemberData(nameof(Networks))]
    public void EveryLayerMatchesThePublishedTable(string name)
    {
        var (_, expected, _, _) = Published(name);
        var actual = LayerTable(name);
        Assert.Equal(expected.Length, actual.Count);
        for (int i = 0; i < expected.Length; i++)
        {
            var (e, a) = (expected[i], actual[i]);
            string where = $"{name} layer {e.Index} ({e.Kind}): got {a.Index} {a.Kind} [{string.Join("×", a.OutputShape)}] {a.ParameterCount:N0} params";
            Assert.True(e.Index == a.Index, where);
            Assert.True(e.Kind == a.Kind, where);
            Assert.True(e.Shape.SequenceEqual(a.OutputShape), $"{where}; published shape {string.Join("×", e.Shape)}");
            Assert.True(e.Parameters == a.ParameterCount, $"{where}; published {e.Parameters:N0} params");
        }
    }

    [Theory]
    [MemberData(nameof(Networks))]
    public void TotalParameterCountIsThePublishedOne(string name)
    {
        var (_, _, total, _) = Published(name);
        Assert.Equal(total, LayerTable(name).Sum(l => l.ParameterCount));
        // The hand-written rows add up to the published total as well (a typo in a row would show here).
        Assert.Equal(total, Published(name).Table.Sum(r => r.Parameters));
    }

    [Theory]
    [MemberData(nameof(Networks))]
    public void SummaryShowsThePublishedTotalAndShapes(string name)
    {
        var (_, table, total, input) = Published(name);
        var type = s_compiled[name].Value.Assembly.GetType("Corpus." + name)!;
        string summary = (string)type.GetMethod("Summary", BindingFlags.Public | BindingFlags.Static)!.Invoke(null, null)!;
        Assert.Contains($"Network: {name}", summary);
        Assert.Contains("Total parameters: " + total.ToString("N0", System.Globalization.CultureInfo.InvariantCulture), summary);
        Assert.Contains(string.Join("×", input), summary);
        Assert.Contains(string.Join("×", table[^1].Shape), summary);
        // Constants the class exposes: C·H·W in, the classifier's width out.
        Assert.Equal(input[0] * input[1] * input[2], (int)type.GetField("InputLength")!.GetValue(null)!);
        Assert.Equal(table[^1].Shape[0], (int)type.GetField("OutputLength")!.GetValue(null)!);
    }

    [Fact]
    public void LeNetHasPyTorchsStateDictAndMatchesTheReference()
    {
        var network = GeneratorHarness.CreateNetwork(s_compiled["LeNet5"].Value.Assembly, "Corpus.LeNet5", seed: 5);
        Assert.Equal(new[] { "0.weight", "0.bias", "3.weight", "3.bias", "7.weight", "7.bias", "9.weight", "9.bias", "11.weight", "11.bias" },
                     network.Parameters.Select(p => p.Name));
        Assert.Equal(new[] { 6, 1, 5, 5 }, network.Parameters[0].Shape);
        Assert.Equal(new[] { 120, 400 }, network.Parameters[4].Shape);
        Assert.Equal(LeNetParameters, network.Parameters.Sum(p => (long)p.Length));

        LayerSpec relu = new ActivationSpec(RefActivationKind.Relu);
        var spec = new NetworkSpec("LeNet5", 1, 28, 28,
        [
            new ConvSpec(5, 5, 1, 6, Pad: 2), relu, new PoolSpec(true, 2),
            new ConvSpec(5, 5, 6, 16), relu, new PoolSpec(true, 2),
            new FlattenSpec(), new LinearSpec(400, 120), relu, new LinearSpec(120, 84), relu, new LinearSpec(84, 10),
        ]);
        string? failure = NetworkCheck.Check(network, spec, batch: 5, seed: 61_706);
        if (failure is not null) Assert.Fail(failure);
    }
}

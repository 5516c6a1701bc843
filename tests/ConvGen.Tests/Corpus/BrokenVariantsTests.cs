using System;
using System.Collections.Generic;
using System.Linq;
using ConvGen.Tests.Infrastructure;
using Microsoft.CodeAnalysis;
using Xunit;

namespace ConvGen.Tests.Corpus;

/// <summary>
/// Realistic mistakes in the classic networks of <see cref="CorpusTests"/>: each variant is the published network with one
/// edit (a wrong channel count after a pool, a forgotten <c>[Flatten]</c>, the 224-vs-227 AlexNet input, a pool padding
/// over half the window, a Keras habit, a class that is not <c>partial</c>, …). Every variant must produce at least one
/// error and no kernels; its diagnostics (ID, message, location) are snapshot-tested in
/// <c>BrokenVariantsTests.{Variant}.verified.txt</c> beside this file, so a change in wording or location shows up as a diff.
/// A variant whose class can be extended gets a stub (the members of a network, bodies that throw), checked here by
/// compiling code that uses the network: the CG errors must be the only ones. The stub's text is snapshot-tested once, in
/// <c>SnapshotTests.BrokenNetworks</c>, rather than 40 near-identical times here.
/// </summary>
public sealed class BrokenVariantsTests
{
    private const string Usings = "using ConvGen;\n\nnamespace Corpus;\n\n";

    /// <summary>One broken variant: the full source and whether the compilation allows unsafe code.</summary>
    private sealed record Variant(string Name, string Source, bool AllowUnsafe = true);

    /// <summary>
    /// <paramref name="source"/> with occurrence <paramref name="occurrence"/> (0-based) of <paramref name="find"/> replaced;
    /// fails if that occurrence does not exist, so a variant cannot silently stop being broken when a base network changes.
    /// </summary>
    private static string Edit(string source, string find, string replace, int occurrence = 0)
    {
        int at = -1;
        for (int i = 0; i <= occurrence; i++)
        {
            at = source.IndexOf(find, at + 1, StringComparison.Ordinal);
            if (at < 0) throw new InvalidOperationException($"Occurrence {occurrence} of '{find}' not found in:\n{source}");
        }
        return source[..at] + replace + source[(at + find.Length)..];
    }

    private static string EditAll(string source, string find, string replace)
    {
        if (!source.Contains(find, StringComparison.Ordinal)) throw new InvalidOperationException($"'{find}' not found in:\n{source}");
        return source.Replace(find, replace, StringComparison.Ordinal);
    }

    private const string AlexNet = CorpusTests.AlexNetSource;
    private const string Vgg = CorpusTests.Vgg16Source;
    private const string LeNet = CorpusTests.LeNetSource;

    private static readonly Variant[] s_variants =
    [
        // ---- AlexNet -----------------------------------------------------------------------------------------------
        // The paper's figure splits conv2 over two GPUs (48 channels each): copying 48 as @in after the first pool.
        new("AlexNet_InAfterPoolFromTwoTowerFigure", Edit(AlexNet, "@in: 96", "@in: 48")),
        // [Flatten] line forgotten: Linear straight on the 256×6×6 pool output.
        new("AlexNet_ForgotFlatten", Edit(AlexNet, "[Flatten]\n", "")),
        // The famous 224 of the paper: 11x11/4 then no longer tiles, and the last pool gives 5×5, so 6400 ≠ 9216.
        new("AlexNet_Input224", Edit(AlexNet, "Input(3, 227, 227)", "Input(3, 224, 224)")),
        // MaxPool(3) with PyTorch's default stride (= 3) at the end: 4×4, so 4096 ≠ 9216.
        new("AlexNet_LastPoolWithoutStride", Edit(AlexNet, "MaxPool(3, stride: 2)", "MaxPool(3)", occurrence: 2)),
        // Wrong stride in the stem: 44 → 21 → 10 → 4, so the classifier gets 4096 features.
        new("AlexNet_StemStride5", Edit(AlexNet, "stride: 4", "stride: 5")),
        // Pool padding larger than half the window.
        new("AlexNet_PoolPadTooBig", Edit(AlexNet, "MaxPool(3, stride: 2)", "MaxPool(3, stride: 2, pad: 2)")),
        // Copy-pasted first FC line: the second Linear also says 9216.
        new("AlexNet_SecondLinearCopyPasted", Edit(AlexNet, "Linear(4096, 4096)", "Linear(9216, 4096)")),
        // groups: 3 on conv5 divides 384 but not 256.
        new("AlexNet_GroupsDoNotDivideOut", Edit(AlexNet, "@in: 384, @out: 256, pad: 1", "@in: 384, @out: 256, pad: 1, groups: 3")),
        // A sign slip in the padding.
        new("AlexNet_NegativePad", Edit(AlexNet, "pad: 2", "pad: -2")),
        // Keras habit: "same" and an explicit pad together.
        new("AlexNet_SameWithPad", Edit(AlexNet, "@in: 256, @out: 384, pad: 1)", "@in: 256, @out: 384, pad: 1, Same = true)")),
        // stride 0 means "the window" for pools, but not for convolutions.
        new("AlexNet_ConvStrideZero", Edit(AlexNet, "stride: 4", "stride: 0")),
        // Dilation 0 (meant "no dilation").
        new("AlexNet_DilationZero", Edit(AlexNet, "@in: 384, @out: 384, pad: 1)", "@in: 384, @out: 384, pad: 1, dilation: 0)")),
        // AlexNet pointed at CIFAR-10: the second pool's 3x3 window no longer fits the 2×2 map.
        new("AlexNet_OnCifar32", Edit(AlexNet, "Input(3, 227, 227)", "Input(3, 32, 32)")),
        // One more 7x7 convolution after the last pool, whose output is only 6×6.
        new("AlexNet_KernelLargerThanInput", Edit(AlexNet, "[Flatten]\n", "[Conv(7, 7, @in: 256, @out: 256), Relu]\n[Flatten]\n")),
        // [Flatten] one line too early: conv5 after it.
        new("AlexNet_ConvAfterFlatten", Edit(Edit(AlexNet, "[Flatten]\n", ""),
            "[Conv(3, 3, @in: 384, @out: 256, pad: 1)", "[Flatten]\n[Conv(3, 3, @in: 384, @out: 256, pad: 1)")),
        // Images given as H×W×C (TensorFlow/NumPy order) instead of C×H×W.
        new("AlexNet_InputHwcOrder", Edit(AlexNet, "Input(3, 227, 227)", "Input(227, 227, 3)")),
        // A grayscale dataset fed to the RGB stem.
        new("AlexNet_GrayscaleInput", Edit(AlexNet, "Input(3, 227, 227)", "Input(1, 227, 227)")),
        // Number of classes left at 0.
        new("AlexNet_ZeroClasses", Edit(AlexNet, "Linear(4096, 1000)", "Linear(4096, 0)")),
        // All pools dropped: 256×55×55 features into the first FC, a 3.2-billion-value weight matrix.
        new("AlexNet_NoPools", EditAll(EditAll(AlexNet, ", MaxPool(3, stride: 2)", ""), "Linear(9216, 4096)", "Linear(774400, 4096)")),
        // Several typos in one convolution: all of its argument errors are reported together.
        new("AlexNet_SeveralTyposInOneConv", Edit(AlexNet, "Conv(11, 11, @in: 3, @out: 96, stride: 4)", "Conv(11, 0, @in: 3, @out: -96, stride: 4, pad: -1)")),
        // Class shapes the generator cannot extend.
        new("AlexNet_NotPartial", Edit(AlexNet, "public partial class AlexNet;", "public class AlexNet;")),
        new("AlexNet_Struct", Edit(AlexNet, "public partial class AlexNet;", "public partial struct AlexNet;")),
        new("AlexNet_Record", Edit(AlexNet, "public partial class AlexNet;", "public partial record AlexNet;")),
        new("AlexNet_Static", Edit(AlexNet, "public partial class AlexNet;", "public static partial class AlexNet;")),
        new("AlexNet_Generic", Edit(AlexNet, "public partial class AlexNet;", "public partial class AlexNet<TLabel>;")),
        new("AlexNet_Nested", "public static partial class Models\n{\n" + Edit(AlexNet, "public partial class AlexNet;", "public partial class AlexNet { }") + "}\n"),
        // A project without <AllowUnsafeBlocks>.
        new("AlexNet_UnsafeNotAllowed", AlexNet, AllowUnsafe: false),

        // ---- VGG-16 -----------------------------------------------------------------------------------------------
        // Block 5 without its pool: 512×14×14 = 100352 features.
        new("Vgg16_ForgotLastPool", Edit(Vgg, ", MaxPool(2)]\n[Flatten", "]\n[Flatten")),
        // Typo in block 3: @in 64 where block 2 ends with 128 channels.
        new("Vgg16_ChannelTypoInBlock3", Edit(Vgg, "Conv(3, 3, 128, 256, pad: 1)", "Conv(3, 3, 64, 256, pad: 1)")),
        // A modern head: global average pooling straight into Linear, without [Flatten].
        new("Vgg16_LinearAfterGlobalAvgPoolWithoutFlatten", Edit(Vgg,
            "[Flatten, Linear(25088, 4096), Relu, Linear(4096, 4096), Relu, Linear(4096, 1000)]", "[GlobalAvgPool, Linear(512, 1000)]")),
        // VGG-16 on CIFAR: five pools leave 1×1.
        new("Vgg16_OnCifar32", Edit(Vgg, "Input(3, 224, 224)", "Input(3, 32, 32)")),
        // Padding forgotten everywhere: every 3x3 convolution shrinks the map by 2.
        new("Vgg16_NoPadding", EditAll(Vgg, ", pad: 1)", ")")),
        // Keras "same" plus the explicit pad: 1 of the PyTorch code it was ported from.
        new("Vgg16_SameAndPad", Edit(Vgg, "Conv(3, 3, 3, 64, pad: 1)", "Conv(3, 3, 3, 64, pad: 1, Same = true)")),
        // A depthwise convolution with a multiplier that is not a whole number (96 = 1.5 × 64).
        new("Vgg16_DepthwiseMultiplierNotWhole", Edit(Vgg, "Conv(3, 3, 64, 128, pad: 1)", "Conv(3, 3, 64, 96, pad: 1, groups: 64)")),
        // Flatten and the first Linear swapped.
        new("Vgg16_LinearBeforeFlatten", Edit(Vgg, "[Flatten, Linear(25088, 4096)", "[Linear(25088, 4096), Flatten")),
        // Pool window 2 with padding 2.
        new("Vgg16_PoolPadEqualsWindow", Edit(Vgg, "MaxPool(2)", "MaxPool(2, pad: 2)", occurrence: 3)),

        // ---- LeNet-5 ----------------------------------------------------------------------------------------------
        // The original LeNet read 32×32 images; on 28×28 MNIST without the pad the classifier gets 16×4×4.
        new("LeNet_NoPadOn28", Edit(LeNet, "pad: 2, ", "")),
        // 32×32 input and the padding both: 16×6×6.
        new("LeNet_Input32WithPad", Edit(LeNet, "Input(1, 28, 28)", "Input(1, 32, 32)")),
        // [Flatten] before the second pool.
        new("LeNet_PoolAfterFlatten", Edit(LeNet, "Relu, MaxPool(2)]\n[Flatten, ", "Relu, Flatten, MaxPool(2)]\n[")),
        // The [Input] line forgotten.
        new("LeNet_MissingInput", Edit(LeNet, "[Input(1, 28, 28)]\n", "")),
        // A pooling window larger than the 10×10 map.
        new("LeNet_PoolLargerThanInput", Edit(LeNet, "MaxPool(2)", "MaxPool(12)", occurrence: 1)),
        // The C5 layer of the original written as 7x7 on the 5×5 map.
        new("LeNet_C5KernelTooLarge", Edit(LeNet, "[Flatten, Linear(400, 120)", "[Conv(7, 7, @in: 16, @out: 120), Relu]\n[Flatten, Linear(120, 120)")),
        // Average pooling with a negative stride.
        new("LeNet_AvgPoolNegativeStride", Edit(LeNet, "MaxPool(2)", "AvgPool(2, stride: -2)")),
        // Linear's arguments swapped (out, in).
        new("LeNet_LinearArgumentsSwapped", Edit(LeNet, "Linear(400, 120)", "Linear(120, 400)")),
        // A high-resolution scan: 8192×8192 in one channel is stored as 8 channels.
        new("LeNet_HugeInput", Edit(LeNet, "Input(1, 28, 28)", "Input(1, 8192, 8192)")),
        // Linear(0, …): a feature count left at 0.
        new("LeNet_LinearInZero", Edit(LeNet, "Linear(120, 84)", "Linear(0, 84)")),
    ];

    public static IEnumerable<object[]> Variants() => s_variants.Select(v => new object[] { v.Name });

    [Theory]
    [MemberData(nameof(Variants))]
    public void VariantIsRejectedWithTheVerifiedDiagnostics(string name)
    {
        var variant = s_variants.Single(v => v.Name == name);
        var compilation = GeneratorHarness.CreateCompilation([Usings + variant.Source]);
        if (!variant.AllowUnsafe) compilation = compilation.WithOptions(compilation.Options.WithAllowUnsafe(false));
        var run = GeneratorHarness.Run(compilation, GeneratorHarness.CreateDriver());

        Assert.True(run.Diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error),
            $"{name}: no error\n{GeneratorHarness.FormatDiagnostics(run.Diagnostics)}");
        Assert.All(run.Diagnostics, d => Assert.StartsWith("CG", d.Id));
        SnapshotHelper.Verify(run with { Sources = [] }, testMethod: name);

        // The class cannot take generated members when it is not a partial, top-level, non-generic class (CG0001,
        // CG0002), nor is it a network without [Input] (CG0011): no source. Otherwise a stub, and code that uses the
        // network compiles with the CG errors as the only ones.
        if (run.Diagnostics.Any(d => d.Id is "CG0001" or "CG0002" or "CG0011"))
        {
            Assert.True(run.Sources.IsEmpty, $"{name}: generated {string.Join(", ", run.Sources.Select(s => s.HintName))}");
            return;
        }
        string className = name[..name.IndexOf('_', StringComparison.Ordinal)] switch { "LeNet" => "LeNet5", var other => other };
        var stub = Assert.Single(run.Sources);
        Assert.Equal($"Corpus.{className}.g.cs", stub.HintName);
        Assert.Contains("has compile-time errors, so ConvGen generated no kernels for it", stub.Text);
        Assert.All(run.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error),
            d => Assert.Contains(d.Id + ": " + d.GetMessage(System.Globalization.CultureInfo.InvariantCulture), stub.Text));

        var withUser = GeneratorHarness.Run(compilation.AddSyntaxTrees(Microsoft.CodeAnalysis.CSharp.CSharpSyntaxTree.ParseText(
            UserCode.TouchingEveryMember(className, "Corpus"), GeneratorHarness.ParseOptions, "User.cs")), GeneratorHarness.CreateDriver());
        Assert.Equal(run.Diagnostics.Select(d => d.ToString()), withUser.Diagnostics.Select(d => d.ToString()));
        var errors = withUser.OutputCompilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        Assert.True(errors.Count == 0, $"{name}: code using the network has errors besides the CG ones:\n{GeneratorHarness.FormatDiagnostics(errors)}");
    }

    [Fact]
    public void TheCodeThatUsesTheNetworksCompilesAgainstAValidOne()
    {
        // The counterpart of the check above, so that it cannot pass only because a stub lets through what a real
        // network would reject. (LeNet-5 only: the code is the same for every network, and VGG's kernels take long to
        // compile.)
        GeneratorHarness.CompileAndLoad(Usings + LeNet, UserCode.TouchingEveryMember("LeNet5", "Corpus"));
    }

    [Fact]
    public void ThereAreAtLeastThirtyDistinctVariants()
    {
        Assert.True(s_variants.Length >= 30, $"{s_variants.Length} variants");
        Assert.Equal(s_variants.Length, s_variants.Select(v => v.Name).Distinct().Count());
        Assert.Equal(s_variants.Length, s_variants.Select(v => (v.Source, v.AllowUnsafe)).Distinct().Count());
    }

    [Fact]
    public void EveryVerifiedSnapshotBelongsToAVariant()
    {
        string directory = SnapshotHelper.SourceDirectory(ThisFile());
        var names = s_variants.Select(v => v.Name).ToHashSet(StringComparer.Ordinal);
        foreach (string path in System.IO.Directory.EnumerateFiles(directory, nameof(BrokenVariantsTests) + ".*.verified.txt"))
        {
            string variant = System.IO.Path.GetFileName(path)[(nameof(BrokenVariantsTests).Length + 1)..^".verified.txt".Length];
            Assert.True(names.Contains(variant), $"{System.IO.Path.GetFileName(path)} has no variant any more");
        }
    }

    [Fact]
    public void MistakesTheCompilerCatchesGetNoGeneratorDiagnostic()
    {
        // Attributes the compiler cannot bind are the compiler's to report (CS7036 missing argument, CS1503 wrong type): the
        // generator adds no diagnostic and emits only a stub (no kernels), whose members keep code using it error-free. A duplicate [Input] (CS0579) and a property before a named argument
        // (CS1016) still bind, so the generator does emit the class, but adds no error of its own: the compiler's stays
        // the only one. (With `Same = true, pad: 1` the CS1016 attribute also gets CG0003, since it binds with pad 1.)
        foreach (var (source, id, bindable) in new[]
                 {
                     (Edit(AlexNet, "Conv(11, 11, @in: 3, @out: 96, stride: 4)", "Conv(11, 11, stride: 4)"), "CS7036", false),
                     (Edit(AlexNet, "Linear(4096, 1000)", "Linear(4096, \"1000\")"), "CS1503", false),
                     (Edit(LeNet, "Conv(5, 5, pad: 2, @in: 1, @out: 6)", "Conv(5, 5, 1, 6, Same = true, stride: 1)"), "CS1016", true),
                     (Edit(LeNet, "[Input(1, 28, 28)]", "[Input(1, 28, 28)]\n[Input(1, 28, 28)]"), "CS0579", true),
                 })
        {
            var run = GeneratorHarness.Run(Usings + source);
            var errors = run.OutputCompilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
            Assert.True(errors.Count > 0 && errors.All(d => d.Id == id), $"{id}: {GeneratorHarness.FormatDiagnostics(errors)}");
            Assert.True(run.Diagnostics.IsEmpty, $"{id}: {GeneratorHarness.FormatDiagnostics(run.Diagnostics)}");
            if (!bindable) Assert.Contains("The compiler could not read its ConvGen attributes", Assert.Single(run.Sources).Text);
        }
    }

    private static string ThisFile([System.Runtime.CompilerServices.CallerFilePath] string file = "") => file;
}

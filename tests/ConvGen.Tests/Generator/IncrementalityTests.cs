using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using ConvGen.Generator;
using ConvGen.Tests.Infrastructure;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Xunit;

namespace ConvGen.Tests.Generator;

/// <summary>The generator must stay incremental: unrelated edits reuse cached outputs, and cached models hold only values.</summary>
public class IncrementalityTests
{
    // A valid network and a broken one, with a comment, another class and another part of the network's own class in
    // the same file: edits there move every source position below them.
    private const string Network = """
        using ConvGen;
        namespace Inc;

        // A comment above the networks.
        public static class Util
        {
            public static int Twice(int x) { return 2 * x; }
        }

        [Input(3, 16, 16)]
        [Conv(3, 3, pad: 1, @in: 3, @out: 8), Relu, MaxPool(2), Flatten, Linear(512, 10)]
        public partial class Small;

        public partial class Small
        {
            public int Extra() { return 1; }
        }

        [Input(3, 8, 8)]
        [Conv(3, 3, @in: 1, @out: 4)]
        public partial class Broken;
        """;

    private static readonly string[] s_allSteps =
        [NetworkGenerator.Steps.Parse, NetworkGenerator.Steps.Validate, NetworkGenerator.Steps.Model, NetworkGenerator.Steps.Diagnostics];

    private const string Other = """
        namespace Inc;
        public static class Helper { public static int Answer() => 42; }
        """;

    private static (GeneratorDriver Driver, CSharpCompilation Compilation) FirstRun()
    {
        var compilation = GeneratorHarness.CreateCompilation(new[] { Network, Other });
        var driver = GeneratorHarness.CreateDriver(trackSteps: true).RunGenerators(compilation);
        return (driver, compilation);
    }

    private static GeneratorRunResult SecondRun(GeneratorDriver driver, CSharpCompilation edited)
        => driver.RunGenerators(edited).GetRunResult().Results.Single();

    private static CSharpCompilation Replace(CSharpCompilation compilation, int index, string text)
    {
        var old = compilation.SyntaxTrees.ElementAt(index);
        return compilation.ReplaceSyntaxTree(old, CSharpSyntaxTree.ParseText(text, GeneratorHarness.ParseOptions, old.FilePath));
    }

    private static void AssertAllCached(GeneratorRunResult result, params string[] steps)
    {
        foreach (string step in steps)
        {
            Assert.True(result.TrackedSteps.TryGetValue(step, out var runs), $"step {step} did not run");
            var reasons = runs.SelectMany(r => r.Outputs).Select(o => o.Reason).ToList();
            Assert.All(reasons, reason => Assert.True(reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged,
                $"step {step} produced {reason}"));
        }
        // Source outputs must be served from the cache. An output that only reports diagnostics is combined with the
        // compilation (to place them in its syntax trees), so it runs on every compilation by design, and Roslyn calls a
        // non-empty diagnostic list from a fresh run Modified; its input, the Diagnostics step, is checked above.
        var outputs = result.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(r => r.Outputs).ToList();
        Assert.NotEmpty(outputs);
        foreach (var (value, reason) in outputs)
        {
            var sources = (System.Collections.IEnumerable)((System.Runtime.CompilerServices.ITuple)value)[0]!;
            if (sources.Cast<object>().Any())
                Assert.True(reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"a source output produced {reason}");
        }
        Assert.Contains(outputs, o => ((System.Collections.IEnumerable)((System.Runtime.CompilerServices.ITuple)o.Value)[0]!).Cast<object>().Any());
    }

    [Fact]
    public void EditingAnUnrelatedFileLeavesEveryStepCached()
    {
        var (driver, compilation) = FirstRun();
        var result = SecondRun(driver, Replace(compilation, 1, Other.Replace("42", "43")));
        AssertAllCached(result, s_allSteps);
    }

    [Fact]
    public void AddingAnUnrelatedFileLeavesEveryStepCached()
    {
        var (driver, compilation) = FirstRun();
        var edited = compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText("namespace Inc; public class Extra { }", GeneratorHarness.ParseOptions, "Extra.cs"));
        AssertAllCached(SecondRun(driver, edited), NetworkGenerator.Steps.Parse, NetworkGenerator.Steps.Model);
    }

    /// <summary>
    /// A type in another file that hides a .NET name the generated code uses (CG0002) changes what the network's parse
    /// step finds, although the network's file did not change: the driver must report it on the next run, not only when
    /// that file is edited; and taking the type away again brings the network back.
    /// </summary>
    [Fact]
    public void AHidingTypeAddedInAnotherFileIsReportedOnTheNextRun()
    {
        var (driver, compilation) = FirstRun();
        var withMath = compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText("namespace Inc; public static class Math { }", GeneratorHarness.ParseOptions, "Math.cs"));
        driver = driver.RunGenerators(withMath);
        var result = driver.GetRunResult().Results.Single();
        Assert.Contains(result.Diagnostics, d => d.Id == "CG0002" && d.GetMessage(System.Globalization.CultureInfo.InvariantCulture).Contains("'Inc.Math' hides 'System.Math'", StringComparison.Ordinal));
        Assert.DoesNotContain(result.GeneratedSources, s => s.HintName.Contains("Small", StringComparison.Ordinal));

        var result2 = driver.RunGenerators(compilation).GetRunResult().Results.Single();
        Assert.DoesNotContain(result2.Diagnostics, d => d.Id == "CG0002");
        Assert.Contains(result2.GeneratedSources, s => s.HintName.Contains("Small", StringComparison.Ordinal));
    }

    /// <summary>Edits in the networks' own file that move them (or not) without changing them.</summary>
    public static TheoryData<string, string, string> SameFileEdits() => new()
    {
        { "comment added above everything", "using ConvGen;", "// a new comment\nusing ConvGen;" },
        { "comment above the networks edited", "// A comment above the networks.", "// A longer comment above the networks, edited twice." },
        { "method body of another class above the networks", "return 2 * x;", "int twice = x + x;\n        return twice;" },
        { "method body in another part of the network's class", "return 1;", "return 1 + 0;" },
        { "blank lines above the network", "[Input(3, 16, 16)]", "\n\n\n[Input(3, 16, 16)]" },
        { "member added to another part of the network's class", "public int Extra()", "public int Other() => 2;\n    public int Extra()" },
    };

    [Theory]
    [MemberData(nameof(SameFileEdits))]
    public void EditingCommentsAndMethodBodiesInTheNetworksFileLeavesEveryStepCached(string edit, string find, string replace)
    {
        // No cached value holds a source position (diagnostics carry SourceSites, placed at report time), so moving a
        // network down, or editing code around it, leaves every one of our steps and outputs equal. (Roslyn's own
        // ForAttributeWithMetadataName step re-runs its transform for the edited file; its output compares equal.)
        Assert.Contains(find, Network, StringComparison.Ordinal);
        var (driver, compilation) = FirstRun();
        var edited = Replace(compilation, 0, Network.Replace(find, replace, StringComparison.Ordinal));
        var result = SecondRun(driver, edited);
        Assert.True(result.Exception is null, $"{edit}: {result.Exception}");
        AssertAllCached(result, s_allSteps);
    }

    [Theory]
    [MemberData(nameof(SameFileEdits))]
    public void DiagnosticsOfACachedNetworkFollowTheEditedSource(string edit, string find, string replace)
    {
        // The other side of caching the diagnostics without positions: after the edit they must point at the moved
        // argument, in the edited compilation's own tree (where #pragma applies), not where it was before.
        var (driver, compilation) = FirstRun();
        string text = Network.Replace(find, replace, StringComparison.Ordinal);
        var edited = Replace(compilation, 0, text);
        var diagnostic = Assert.Single(driver.RunGenerators(edited).GetRunResult().Diagnostics);
        Assert.Equal("CG0004", diagnostic.Id);
        Assert.Same(edited.SyntaxTrees.First(), diagnostic.Location.SourceTree);
        int at = text.IndexOf("@in: 1", StringComparison.Ordinal);
        Assert.True(at == diagnostic.Location.SourceSpan.Start && diagnostic.Location.SourceSpan.Length == 6,
            $"{edit}: CG0004 at {diagnostic.Location.SourceSpan}, but '@in: 1' is at {at}");
    }

    [Fact]
    public void EditingAnotherFilesPartOfTheNetworksClassLeavesEveryStepCached()
    {
        // The network's class continued in a second file: editing a method body there re-runs nothing of ours either.
        const string part = "namespace Inc;\npublic partial class Small\n{\n    public int Third() { return 3; }\n}\n";
        var compilation = GeneratorHarness.CreateCompilation(new[] { Network, Other, part });
        var driver = GeneratorHarness.CreateDriver(trackSteps: true).RunGenerators(compilation);
        var result = SecondRun(driver, Replace(compilation, 2, part.Replace("return 3;", "// three\n        return 2 + 1;", StringComparison.Ordinal)));
        AssertAllCached(result, s_allSteps);
    }

    [Fact]
    public void ChangingTheNetworkRegeneratesIt()
    {
        // The other side of the coin: a real change must not be served from the cache.
        var (driver, compilation) = FirstRun();
        var result = SecondRun(driver, Replace(compilation, 0, Network.Replace("@out: 8), Relu, MaxPool(2), Flatten, Linear(512", "@out: 4), Relu, MaxPool(2), Flatten, Linear(256")));
        var model = result.TrackedSteps[NetworkGenerator.Steps.Model].SelectMany(r => r.Outputs).ToList();
        Assert.Contains(model, o => o.Reason == IncrementalStepRunReason.Modified);
    }

    [Fact]
    public void CachedModelTypesHoldNoSymbolsSyntaxCompilationsOrLocations()
    {
        var forbidden = new[] { typeof(ISymbol), typeof(SyntaxNode), typeof(Compilation), typeof(SemanticModel), typeof(Location), typeof(SyntaxTree) };
        var modelTypes = typeof(NetworkGenerator).Assembly.GetTypes()
            .Where(t => t.Namespace == "ConvGen.Generator.Model")
            .ToList();
        Assert.NotEmpty(modelTypes);
        var seen = new HashSet<Type>();
        var problems = new List<string>();
        foreach (var type in modelTypes) Walk(type, type.Name);
        Assert.True(problems.Count == 0, string.Join("\n", problems));

        void Walk(Type type, string path)
        {
            if (!seen.Add(type)) return;
            foreach (var f in type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
            {
                var t = f.FieldType.IsArray ? f.FieldType.GetElementType()! : f.FieldType;
                if (forbidden.Any(bad => bad.IsAssignableFrom(t)))
                    problems.Add($"{path}.{f.Name} is a {t.Name}");
                foreach (var inner in t.IsGenericType ? t.GetGenericArguments().Append(t) : new[] { t })
                    if (inner.Assembly == typeof(NetworkGenerator).Assembly || inner.IsGenericType) Walk(inner, $"{path}.{f.Name}");
            }
        }
    }
}

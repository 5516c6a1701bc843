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
    private const string Network = """
        using ConvGen;
        namespace Inc;
        [Input(3, 16, 16)]
        [Conv(3, 3, pad: 1, @in: 3, @out: 8), Relu, MaxPool(2), Flatten, Linear(512, 10)]
        public partial class Small;
        """;

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
        Assert.All(result.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(r => r.Outputs),
            o => Assert.True(o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"an output step produced {o.Reason}"));
    }

    [Fact]
    public void EditingAnUnrelatedFileLeavesEveryStepCached()
    {
        var (driver, compilation) = FirstRun();
        var result = SecondRun(driver, Replace(compilation, 1, Other.Replace("42", "43")));
        AssertAllCached(result, NetworkGenerator.Steps.Parse, NetworkGenerator.Steps.Validate, NetworkGenerator.Steps.Model, NetworkGenerator.Steps.Diagnostics);
    }

    [Fact]
    public void AddingAnUnrelatedFileLeavesEveryStepCached()
    {
        var (driver, compilation) = FirstRun();
        var edited = compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText("namespace Inc; public class Extra { }", GeneratorHarness.ParseOptions, "Extra.cs"));
        AssertAllCached(SecondRun(driver, edited), NetworkGenerator.Steps.Parse, NetworkGenerator.Steps.Model);
    }

    [Fact]
    public void MovingTheNetworkDownKeepsTheGeneratedSourceCached()
    {
        // A comment above the class shifts every source position: the parsed spec (which keeps locations for
        // diagnostics) changes, but the model the emitter reads has no locations and stays equal.
        var (driver, compilation) = FirstRun();
        var result = SecondRun(driver, Replace(compilation, 0, "// a comment\n" + Network));
        var model = result.TrackedSteps[NetworkGenerator.Steps.Model].SelectMany(r => r.Outputs).ToList();
        Assert.NotEmpty(model);
        Assert.All(model, o => Assert.True(o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"model step produced {o.Reason}"));
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

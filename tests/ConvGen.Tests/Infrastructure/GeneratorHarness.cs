using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Xunit;

namespace ConvGen.Tests.Infrastructure;

/// <summary>One source the generator added.</summary>
public sealed record GeneratedSource(string HintName, string Text);

/// <summary>The outcome of one generator driver run over an in-memory compilation.</summary>
public sealed record GeneratorRun(
    CSharpCompilation InputCompilation,
    Compilation OutputCompilation,
    GeneratorDriver Driver,
    GeneratorDriverRunResult RunResult,
    ImmutableArray<GeneratedSource> Sources,
    ImmutableArray<Diagnostic> Diagnostics)
{
    /// <summary>The generated text for <paramref name="hintName"/> (fails the test when absent).</summary>
    public string Source(string hintName)
        => Sources.FirstOrDefault(s => s.HintName == hintName)?.Text
           ?? throw new Xunit.Sdk.XunitException($"No generated source '{hintName}'; have: {string.Join(", ", Sources.Select(s => s.HintName))}");
}

/// <summary>
/// Runs <c>ConvGen.Generator.NetworkGenerator</c> through <see cref="CSharpGeneratorDriver"/> over in-memory sources,
/// and can emit the result and load it into the default load context (so <see cref="INetwork"/> is the test's own type).
/// A generator exception or a compile error fails the test outright, with the details printed.
/// </summary>
public static class GeneratorHarness
{
    private static int s_assemblyCounter;

    /// <summary>Parse options for test sources (the newest language version this Roslyn knows).</summary>
    public static readonly CSharpParseOptions ParseOptions = CSharpParseOptions.Default.WithLanguageVersion(LanguageVersion.Latest);

    /// <summary>
    /// The trusted platform assemblies of the running framework (the folder of <c>System.Private.CoreLib</c>) plus the
    /// ConvGen runtime. Test-output assemblies (xunit, this test project) are left out on purpose.
    /// </summary>
    public static ImmutableArray<MetadataReference> References { get; } = BuildReferences();

    private static ImmutableArray<MetadataReference> BuildReferences()
    {
        string frameworkDir = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        var tpa = ((string?)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries);
        var paths = tpa.Where(p => string.Equals(Path.GetDirectoryName(p), frameworkDir, StringComparison.Ordinal))
                       .Where(p => p.EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
                       .ToList();
        paths.Add(typeof(INetwork).Assembly.Location);
        return [.. paths.Distinct(StringComparer.Ordinal).Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))];
    }

    /// <summary>An in-memory library compilation of <paramref name="sources"/> (named <c>Test0.cs</c>, <c>Test1.cs</c>, …).</summary>
    public static CSharpCompilation CreateCompilation(IEnumerable<string> sources, string? assemblyName = null)
    {
        var trees = sources.Select((text, i) => CSharpSyntaxTree.ParseText(text, ParseOptions, path: $"Test{i}.cs", encoding: Encoding.UTF8));
        return CSharpCompilation.Create(
            assemblyName ?? $"ConvGenDynamic{Interlocked.Increment(ref s_assemblyCounter)}",
            trees,
            References,
            new CSharpCompilationOptions(
                OutputKind.DynamicallyLinkedLibrary,
                optimizationLevel: OptimizationLevel.Release,
                allowUnsafe: true,
                nullableContextOptions: NullableContextOptions.Enable,
                deterministic: true));
    }

    /// <summary>A driver holding a fresh <c>NetworkGenerator</c>, tracking steps when asked (for incrementality tests).</summary>
    public static GeneratorDriver CreateDriver(bool trackSteps = false)
        => CSharpGeneratorDriver.Create(
            [new ConvGen.Generator.NetworkGenerator().AsSourceGenerator()],
            parseOptions: ParseOptions,
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: trackSteps));

    /// <summary>Runs the generator over <paramref name="sources"/>; fails on any generator exception.</summary>
    public static GeneratorRun Run(params string[] sources) => Run(CreateCompilation(sources), CreateDriver());

    /// <summary>Runs <paramref name="driver"/> over <paramref name="compilation"/>; fails on any generator exception.</summary>
    public static GeneratorRun Run(CSharpCompilation compilation, GeneratorDriver driver)
    {
        driver = driver.RunGeneratorsAndUpdateCompilation(compilation, out var output, out var driverDiagnostics);
        var result = driver.GetRunResult();

        var failures = new StringBuilder();
        foreach (var r in result.Results)
            if (r.Exception is not null)
                failures.Append("Generator ").Append(r.Generator.GetGeneratorType().FullName).Append(" threw: ").Append(r.Exception).Append('\n');
        // CS8784: generator failed to initialise; CS8785: generator failed to generate source.
        foreach (var d in driverDiagnostics.Concat(result.Diagnostics))
            if (d.Id is "CS8784" or "CS8785")
                failures.Append(d).Append('\n');
        if (failures.Length > 0) Assert.Fail(failures.ToString());

        var sources = result.Results.SelectMany(r => r.GeneratedSources)
                            .Select(s => new GeneratedSource(s.HintName, s.SourceText.ToString()))
                            .ToImmutableArray();
        return new GeneratorRun(compilation, output, driver, result, sources, result.Diagnostics);
    }

    /// <summary>
    /// Runs the generator over <paramref name="sources"/>, compiles everything and loads the assembly into the default
    /// load context. Fails on generator exceptions, on generator errors, and on any compile error or warning in the output
    /// (users build with warnings as errors), printing each with its source line.
    /// </summary>
    public static Assembly CompileAndLoad(params string[] sources) => CompileAndLoad(Run(sources));

    /// <summary>Compiles and loads the output of <paramref name="run"/> (see <see cref="CompileAndLoad(string[])"/>).</summary>
    public static Assembly CompileAndLoad(GeneratorRun run)
    {
        var generatorErrors = run.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        if (generatorErrors.Count > 0)
            Assert.Fail("The generator reported errors:\n" + FormatDiagnostics(generatorErrors));

        using var pe = new MemoryStream();
        var emit = run.OutputCompilation.Emit(pe);
        var problems = emit.Diagnostics
            .Where(d => d.Severity == DiagnosticSeverity.Error
                        || (d.Severity == DiagnosticSeverity.Warning && d.WarningLevel <= 4 && IsGenerated(d)))
            .ToList();
        if (!emit.Success || problems.Count > 0)
            Assert.Fail($"Compiling the generated code failed ({problems.Count} errors/warnings in generated code):\n" + FormatDiagnostics(problems));
        return Assembly.Load(pe.ToArray());
    }

    /// <summary>
    /// Runs the generator over <paramref name="spec"/>'s network in namespace <paramref name="ns"/>: the run, and the
    /// network's generated source (to check which kernels and work splits it was given).
    /// </summary>
    public static (GeneratorRun Run, string Code) RunNetwork(NetworkSpec spec, string ns)
    {
        var run = Run(NetworkSpec.ToSource([spec], ns));
        return (run, run.Sources.Single(s => s.HintName.Contains(spec.Name, StringComparison.Ordinal)).Text);
    }

    /// <summary>
    /// Generates <paramref name="spec"/>'s network in namespace <paramref name="ns"/>: its generated source and an
    /// instance of it (seed 0), with the assembly it was loaded from.
    /// </summary>
    public static (string Code, INetwork Network, Assembly Assembly) GenerateNetwork(NetworkSpec spec, string ns)
    {
        var (run, code) = RunNetwork(spec, ns);
        var assembly = CompileAndLoad(run);
        return (code, CreateNetwork(assembly, $"{ns}.{spec.Name}"), assembly);
    }

    /// <summary>Creates <paramref name="typeName"/> from <paramref name="assembly"/> with its <c>(int seed)</c> constructor.</summary>
    public static INetwork CreateNetwork(Assembly assembly, string typeName, int seed = 0)
    {
        var type = assembly.GetType(typeName)
                   ?? throw new Xunit.Sdk.XunitException($"Type '{typeName}' is not in the compiled assembly {assembly.GetName().Name}.");
        var instance = Activator.CreateInstance(type, seed)
                       ?? throw new Xunit.Sdk.XunitException($"Could not create '{typeName}'.");
        return instance as INetwork
               ?? throw new Xunit.Sdk.XunitException($"'{typeName}' does not implement ConvGen.INetwork (implements: {string.Join(", ", type.GetInterfaces().Select(i => i.FullName))}).");
    }

    private static bool IsGenerated(Diagnostic d)
        => d.Location.SourceTree is { } tree && !tree.FilePath.StartsWith("Test", StringComparison.Ordinal);

    /// <summary>Each diagnostic with the text of the line it points at (at most 40).</summary>
    public static string FormatDiagnostics(IEnumerable<Diagnostic> diagnostics)
    {
        var sb = new StringBuilder();
        int count = 0;
        foreach (var d in diagnostics)
        {
            if (++count > 40) { sb.Append("... and more\n"); break; }
            sb.Append(d).Append('\n');
            if (d.Location.SourceTree is { } tree)
            {
                var span = d.Location.GetLineSpan();
                var lines = tree.GetText().Lines;
                int line = span.StartLinePosition.Line;
                if (line >= 0 && line < lines.Count) sb.Append("    | ").Append(lines[line].ToString().Trim()).Append('\n');
            }
        }
        return sb.ToString();
    }
}

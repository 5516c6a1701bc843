using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading.Tasks;
using ConvGen.Tests.Infrastructure;
using Microsoft.CodeAnalysis;
using Xunit;
using Xunit.Abstractions;

namespace ConvGen.Tests.Fuzz;

/// <summary>
/// Thousands of random attribute stacks, valid and invalid, pushed through the generator many classes per compilation,
/// each judged by <see cref="FuzzOracle"/> (written from the docs, not from the generator):
/// <list type="bullet">
/// <item>the generator never throws (no CS8784/CS8785, no exception in the run result: <see cref="GeneratorHarness.Run(string[])"/>);</item>
/// <item>an invalid network gets at least one error on its attributes or declaration (a CGxxxx, or the compiler's own
/// CSxxxx when the attribute does not bind or parse) and, when the compiler had nothing to say, no generated source;</item>
/// <item>a valid network gets its source, no error, and no warning except CG0012 exactly on the layers whose windows leave
/// input rows or columns unread (not where they skip only padding);</item>
/// <item>the generated code of a selection of valid networks (the sample below and the largest ones) compiles cleanly;</item>
/// <item>a sample of the valid ones runs and matches the float64 reference.</item>
/// </list>
/// Junk around the networks (syntax errors, ConvGen attributes on methods, fields, enums, delegates) must not disturb them.
/// </summary>
public sealed class FuzzTests(ITestOutputHelper output)
{
    /// <summary>Text only a stub for a network with errors contains.</summary>
    private const string StubMarker = "has compile-time errors, so ConvGen generated no kernels for it";

    /// <summary>Fixed so CI runs the same corpus; set <c>CONVGEN_FUZZ_SEED</c> to explore other draws locally.</summary>
    private static readonly int Seed = int.TryParse(Environment.GetEnvironmentVariable("CONVGEN_FUZZ_SEED"), out int s) ? s : 20_251_201;
    private const int NetworkCount = 5_000;
    private const int BatchSize = 125;
    private const int SampleSize = 30;

    private static readonly Regex LayerIndex = new(@"^layer (\d+) \(", RegexOptions.Compiled);

    /// <summary>What happened to one batch.</summary>
    private sealed record BatchResult(
        int Index, string Namespace, string Source, List<FuzzRenderer.Placed> Networks, List<FuzzRenderer.Junk> Junk,
        GeneratorRun Run, TimeSpan GeneratorTime, TimeSpan CompileTime, List<Diagnostic> UserDiagnostics);

    [Fact]
    public void RandomAttributeStacksNeverCrashTheGeneratorAndAreJudgedLikeTheOracle()
    {
        var generator = new FuzzGenerator(Seed);
        var networks = Enumerable.Range(0, NetworkCount).Select(_ => generator.Next()).ToList();
        var verdicts = networks.ToDictionary(n => n.Name, FuzzOracle.Check);
        var batches = networks.Chunk(BatchSize).Select((chunk, i) =>
        {
            string ns = $"Fuzz.B{i:D2}";
            var (source, placed, junk) = new FuzzRenderer(Seed + i).Render(chunk, ns);
            return (Index: i, Namespace: ns, Source: source, Placed: placed, Junk: junk);
        }).ToList();

        var failures = new List<string>();
        var failureKinds = new SortedDictionary<string, int>(StringComparer.Ordinal);
        void Fail(string kind, string message)
        {
            failureKinds[kind] = failureKinds.GetValueOrDefault(kind) + 1;
            if (failures.Count < 40) failures.Add(message);
            else if (failures.Count == 40) failures.Add("… (the first 40 are shown)");
        }

        // The generator over every batch, two at a time.
        var runs = new (GeneratorRun Run, TimeSpan Time)?[batches.Count];
        var crashed = new ConcurrentBag<int>();
        var generatorWall = Stopwatch.StartNew();
        Parallel.For(0, batches.Count, new ParallelOptions { MaxDegreeOfParallelism = 2 }, i =>
        {
            var timer = Stopwatch.StartNew();
            try
            {
                runs[i] = (GeneratorHarness.Run(batches[i].Source), timer.Elapsed); // throws on an exception, CS8784 or CS8785
            }
            catch (Xunit.Sdk.XunitException)
            {
                crashed.Add(i);
            }
        });
        generatorWall.Stop();

        // A batch on which the generator threw: find the networks that make it throw (one compilation each), report them,
        // blank them out (spaces, so every offset stays put) and run the rest of the batch again.
        var crashers = new HashSet<string>(StringComparer.Ordinal);
        foreach (int i in crashed.OrderBy(i => i))
        {
            var b = batches[i];
            var patched = b.Source.ToCharArray();
            foreach (var p in b.Placed)
            {
                string text = b.Source[p.HeaderStart..p.BodyEnd];
                try { GeneratorHarness.Run(SampleSource(b.Namespace, [text.TrimEnd().TrimEnd(';')])); }
                catch (Xunit.Sdk.XunitException e)
                {
                    crashers.Add(p.Network.Name);
                    for (int c = p.HeaderStart; c < p.BodyEnd; c++) if (patched[c] != '\n') patched[c] = ' ';
                    string first = e.Message.Split('\n').FirstOrDefault(l => l.Contains("Exception", StringComparison.Ordinal)) ?? e.Message;
                    Fail("generator exception", $"generator exception on {p.Network.Describe()}\n    source: {text.Replace("\n", "⏎", StringComparison.Ordinal)}\n    oracle: {verdicts[p.Network.Name] switch { { Valid: true } => "valid", var v => v.Reason }}\n    {first.Trim()}");
                }
            }
            batches[i] = b with { Source = new string(patched) };
            var timer = Stopwatch.StartNew();
            runs[i] = (GeneratorHarness.Run(batches[i].Source), timer.Elapsed);
        }

        // The compiler's own diagnostics of the fuzz sources (attributes that do not bind, syntax, wrong targets). The
        // generated trees are not bound here (thousands of kernels would take minutes); the samples below compile a
        // selection of them and run the small ones.
        var results = new BatchResult[batches.Count];
        var bindingWall = Stopwatch.StartNew();
        Parallel.For(0, batches.Count, new ParallelOptions { MaxDegreeOfParallelism = 2 }, i =>
        {
            var (run, generatorTime) = runs[i]!.Value;
            var b = batches[i];
            var timer = Stopwatch.StartNew();
            var userTree = run.InputCompilation.SyntaxTrees.First(t => t.FilePath == "Test0.cs");
            var user = run.InputCompilation.GetSemanticModel(userTree).GetDiagnostics()
                .Where(d => d.Severity >= DiagnosticSeverity.Warning).ToList();
            var kept = b.Placed.Where(p => !crashers.Contains(p.Network.Name)).ToList();
            results[i] = new BatchResult(b.Index, b.Namespace, b.Source, kept, b.Junk, run, generatorTime, timer.Elapsed, user);
        });
        bindingWall.Stop();

        var ran = results;
        int valid = 0, invalid = 0, sourcesForCompileErrors = 0, paddingOnlyWarnings = 0, bodiesChecked = 0;
        var errorIds = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var sourcesByCompileError = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var validByOrigin = new SortedDictionary<string, (int Valid, int Invalid)>(StringComparer.Ordinal);

        foreach (var r in ran)
        {
            var all = r.Run.Diagnostics.Concat(r.UserDiagnostics).ToList();
            var attributed = new HashSet<Diagnostic>();
            var hints = r.Run.Sources.Select(s => s.HintName).ToHashSet(StringComparer.Ordinal);
            var stubs = r.Run.Sources.Where(s => s.Text.Contains(StubMarker, StringComparison.Ordinal)).Select(s => s.HintName).ToHashSet(StringComparer.Ordinal);
            var expectedHints = new HashSet<string>(StringComparer.Ordinal);
            string Snippet(int start, int end) => r.Source[start..end].Replace("\n", "⏎", StringComparison.Ordinal);
            string List(IEnumerable<Diagnostic> ds) => string.Join("; ", ds.Select(d => $"{d.Id}: {d.GetMessage(CultureInfo.InvariantCulture)}"));

            foreach (var p in r.Networks)
            {
                var n = p.Network;
                var verdict = verdicts[n.Name];
                var header = all.Where(d => d.Location.IsInSource && d.Location.SourceSpan.Start >= p.HeaderStart && d.Location.SourceSpan.Start < p.HeaderEnd).ToList();
                var body = all.Where(d => d.Location.IsInSource && d.Location.SourceSpan.Start >= p.BodyStart && d.Location.SourceSpan.Start < p.BodyEnd).ToList();
                attributed.UnionWith(header);
                attributed.UnionWith(body);
                string hint = $"{r.Namespace}.{n.Name}.g.cs";
                bool generated = hints.Contains(hint);
                string what = $"{n.Describe()}\n    source: {Snippet(p.HeaderStart, p.BodyEnd)}\n    oracle: {(verdict.Valid ? "valid" : verdict.Reason)}";
                var origin = validByOrigin.GetValueOrDefault(n.Origin);
                validByOrigin[n.Origin] = verdict.Valid ? (origin.Valid + 1, origin.Invalid) : (origin.Valid, origin.Invalid + 1);
                foreach (var d in header.Where(d => d.Severity == DiagnosticSeverity.Error)) errorIds[d.Id] = errorIds.GetValueOrDefault(d.Id) + 1;

                if (verdict.Valid)
                {
                    valid++;
                    expectedHints.Add(hint);
                    var errors = header.Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
                    var others = header.Where(d => d.Severity != DiagnosticSeverity.Error && d.Id != "CG0012").ToList();
                    if (errors.Count > 0 || others.Count > 0) Fail("valid network with diagnostics", $"valid network got {List(errors.Concat(others))}\n  {what}");
                    if (!generated) Fail("valid network without source", $"valid network generated nothing\n  {what}");
                    else if (stubs.Contains(hint)) Fail("valid network with a stub", $"valid network generated a stub\n  {what}");

                    // CG0012 exactly where real rows or columns go unread, and not where only padding does.
                    var warned = header.Where(d => d.Id == "CG0012")
                        .Select(d => int.Parse(LayerIndex.Match(d.GetMessage(CultureInfo.InvariantCulture)).Groups[1].Value, CultureInfo.InvariantCulture))
                        .ToHashSet();
                    if (!verdict.MustWarn.IsSubsetOf(warned))
                        Fail("CG0012 missing", $"CG0012 missing for layers {string.Join(",", verdict.MustWarn.Except(warned))}\n  {what}");
                    var unexpected = warned.Except(verdict.MustWarn).ToList();
                    if (unexpected.Count > 0) Fail("CG0012 where every row is read", $"CG0012 on layers {string.Join(",", unexpected)}, which read every input row and column\n  {what}");
                    paddingOnlyWarnings += verdict.MayWarn.Except(verdict.MustWarn).Count();
                }
                else
                {
                    invalid++;
                    bool compilerSaysSo = header.Any(d => d.Id.StartsWith("CS", StringComparison.Ordinal) && d.Severity == DiagnosticSeverity.Error);
                    if (!header.Any(d => d.Severity == DiagnosticSeverity.Error))
                        Fail("invalid network without error", $"invalid network got no error{(header.Count > 0 ? " (only " + List(header) + ")" : "")}{(generated ? ", and its source was generated" : "")}\n  {what}");
                    // No kernels for an invalid network: a stub (members that throw) when its class can take one, so that
                    // code using it compiles; real code only where the compiler's own error stops the build anyway.
                    else if (generated && !compilerSaysSo && !stubs.Contains(hint)) Fail("invalid network with kernels", $"invalid network generated kernels in {hint}\n  {what}");
                    if (!generated && n.DeclIsNetwork && n.HasInput) Fail("invalid network without stub", $"invalid network of a partial class generated no stub\n  {what}");
                    if (generated && compilerSaysSo)
                    {
                        sourcesForCompileErrors++;
                        sourcesByCompileError[n.CompileError.ToString()] = sourcesByCompileError.GetValueOrDefault(n.CompileError.ToString()) + 1;
                    }
                    if (generated) expectedHints.Add(hint);
                }

                // The body: junk there is reported there, and nothing else.
                if (n.DeclIsNetwork)
                {
                    bodiesChecked++;
                    bool ok = n.Body switch
                    {
                        FuzzBody.MisplacedLayerAttributeOnMethod => body.Any(d => d.Id == "CS0592") && body.All(d => d.Id.StartsWith("CS", StringComparison.Ordinal)),
                        FuzzBody.SyntaxErrorInMethod => body.Any(d => d.Severity == DiagnosticSeverity.Error) && body.All(d => d.Id.StartsWith("CS", StringComparison.Ordinal)),
                        _ => body.Count == 0,
                    };
                    if (!ok) Fail("body", $"body {n.Body}: {List(body)}\n  {what}");
                }
            }

            foreach (var j in r.Junk)
            {
                var inJunk = all.Where(d => d.Location.IsInSource && d.Location.SourceSpan.Start >= j.Start && d.Location.SourceSpan.Start < j.End).ToList();
                attributed.UnionWith(inJunk);
                if (!inJunk.Any(d => d.Severity == DiagnosticSeverity.Error)) Fail("junk", $"junk '{j.Kind}' reported nothing: {Snippet(j.Start, j.End)}");
            }

            foreach (var d in all.Where(d => !attributed.Contains(d)))
                Fail("stray diagnostic", $"diagnostic outside every network and junk chunk in batch {r.Index}: {d}");
            foreach (string extra in hints.Except(expectedHints))
                Fail("stray source", $"batch {r.Index}: unexpected generated source {extra}");
        }

        // A sample of the valid, small networks: compiled again on their own (exactly as written, bodies dropped), run
        // against the float64 reference.
        var sampleTimer = Stopwatch.StartNew();
        var sample = SampleValid(ran, verdicts);
        var assembly = GeneratorHarness.CompileAndLoad(SampleSource("FuzzSample", sample.Select(x => x.Header)));
        int checkedRuns = 0;
        foreach (var (network, _) in sample)
        {
            var instance = GeneratorHarness.CreateNetwork(assembly, "FuzzSample." + network.Name, seed: 1);
            string? mismatch = NetworkCheck.Check(instance, network.ToSpec(), batch: 3, seed: Seed ^ network.Name.GetHashCode(StringComparison.Ordinal));
            if (mismatch is not null) Fail("sample differs from the reference", $"{network.Describe()}\n{mismatch}");
            checkedRuns++;
        }
        sampleTimer.Stop();

        // The valid networks at the size limit: their generated code must compile too (too big to run here).
        var largeTimer = Stopwatch.StartNew();
        var large = LargeValid(ran, verdicts);
        try
        {
            GeneratorHarness.CompileAndLoad(SampleSource("FuzzLarge", large.Select(x => x.Header)));
        }
        catch (Exception e) when (e is Xunit.Sdk.XunitException or OverflowException)
        {
            Fail("large networks do not compile", $"valid networks at the size limit ({string.Join(", ", large.Select(x => x.Network.Name))}) do not compile:\n{e.Message}");
        }
        largeTimer.Stop();

        var generatorTotal = TimeSpan.FromTicks(ran.Sum(r => r.GeneratorTime.Ticks));
        var compileTotal = TimeSpan.FromTicks(ran.Sum(r => r.CompileTime.Ticks));
        var report = new StringBuilder();
        if (crashers.Count > 0) report.AppendLine(CultureInfo.InvariantCulture, $"GENERATOR EXCEPTIONS on {crashers.Count} networks in {crashed.Count} of {batches.Count} batches (left out of the statistics below)");
        report.AppendLine(CultureInfo.InvariantCulture, $"Fuzz corpus: seed {Seed}, {networks.Count} attribute stacks in {batches.Count} compilations of {BatchSize}, {ran.Sum(r => r.Junk.Count)} junk chunks");
        report.AppendLine(CultureInfo.InvariantCulture, $"  valid {valid} (sources {ran.Sum(r => r.Run.Sources.Length)}), invalid {invalid}; invalid with compiler errors that still got a source: {sourcesForCompileErrors} ({string.Join(", ", sourcesByCompileError.Select(kv => $"{kv.Key} ×{kv.Value}"))})");
        report.AppendLine("  by origin (valid/invalid): " + string.Join(", ", validByOrigin.Select(kv => $"{kv.Key} {kv.Value.Valid}/{kv.Value.Invalid}")));
        report.AppendLine("  errors on invalid networks: " + string.Join(", ", errorIds.Select(kv => $"{kv.Key} ×{kv.Value}")));
        report.AppendLine(CultureInfo.InvariantCulture, $"  layers of valid networks whose last window skips only padding (no CG0012 expected): {paddingOnlyWarnings}; bodies checked: {bodiesChecked}");
        report.AppendLine(CultureInfo.InvariantCulture, $"  generator (GeneratorHarness.Run) on the corpus: {generatorWall.Elapsed.TotalSeconds:F2} s wall on 2 threads, {generatorTotal.TotalSeconds:F2} s summed over batches, {generatorTotal.TotalMilliseconds / networks.Count:F2} ms per stack");
        report.AppendLine(CultureInfo.InvariantCulture, $"  compiler diagnostics of the fuzz sources (declarations and attributes, without the generated trees): {bindingWall.Elapsed.TotalSeconds:F2} s wall, {compileTotal.TotalSeconds:F2} s summed");
        report.AppendLine(CultureInfo.InvariantCulture, $"  sample: {checkedRuns} valid networks compiled, run and compared with the reference in {sampleTimer.Elapsed.TotalSeconds:F2} s");
        report.AppendLine(CultureInfo.InvariantCulture, $"  {large.Count} distinct valid networks at the size limit generated and compiled in {largeTimer.Elapsed.TotalSeconds:F2} s");
        output.WriteLine(report.ToString());

        Assert.True(valid >= NetworkCount / 10 && invalid >= NetworkCount / 3, $"unbalanced corpus:\n{report}");
        Assert.Equal(SampleSize, checkedRuns);
        if (failureKinds.Count > 0)
            Assert.Fail($"{string.Join(", ", failureKinds.Select(kv => $"{kv.Key} ×{kv.Value}"))}\n\n{string.Join("\n", failures)}\n\n{report}");
    }

    /// <summary>Networks given by their attribute text and declaration, in one compilation unit with the fake attributes.</summary>
    private static string SampleSource(string ns, IEnumerable<string> headers)
        => "using ConvGen;\n\n" + FuzzRenderer.FakeNamespace + "namespace " + ns + "\n{\n" + string.Join("\n", headers.Select(h => h + ";\n")) + "}\n";

    /// <summary>Up to 30 distinct valid networks with a tensor or a parameter count above 2^24 (the limit is 2^28).</summary>
    private static List<(FuzzNetwork Network, string Header)> LargeValid(BatchResult[] results, Dictionary<string, FuzzOracle.Verdict> verdicts)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var large = new List<(FuzzNetwork, string)>();
        foreach (var r in results)
            foreach (var p in r.Networks)
            {
                var n = p.Network;
                var v = verdicts[n.Name];
                if (!v.Valid) continue;
                bool big = v.Shapes.Prepend(new FuzzOracle.Shape(n.C, n.H, n.W, false)).Any(x => x.Stored > 1 << 24)
                           || n.Layers.Any(l => l.Kind == FuzzKind.Linear && (long)l.In * l.Out > 1 << 24);
                string key = $"{n.C},{n.H},{n.W}:{string.Join(";", n.Layers)}";
                if (big && seen.Add(key)) large.Add((n, r.Source[p.HeaderStart..p.HeaderEnd]));
            }
        return [.. large.Take(30)];
    }

    /// <summary>Up to <see cref="SampleSize"/> valid networks small enough for the reference, spread over the corpus.</summary>
    private static List<(FuzzNetwork Network, string Header)> SampleValid(BatchResult[] results, Dictionary<string, FuzzOracle.Verdict> verdicts)
    {
        var candidates = new List<(FuzzNetwork, string)>();
        foreach (var r in results)
            foreach (var p in r.Networks)
            {
                var n = p.Network;
                var v = verdicts[n.Name];
                if (!v.Valid || n.Layers.Count == 0) continue;
                var shapes = v.Shapes.Prepend(new FuzzOracle.Shape(n.C, n.H, n.W, false));
                if (shapes.Any(x => x.Elements > 4096)) continue;
                if (n.Layers.Any(l => l.Kind is FuzzKind.Conv or FuzzKind.Linear && (long)l.In * Math.Max(1, l.Out) * Math.Max(1, l.Kh) * Math.Max(1, l.Kw) > 50_000)) continue;
                candidates.Add((n, r.Source[p.HeaderStart..p.HeaderEnd]));
            }
        // Prefer variety: spread the picks evenly over the candidates (which are in corpus order).
        int step = Math.Max(1, candidates.Count / SampleSize);
        return [.. candidates.Where((_, i) => i % step == 0).Take(SampleSize)];
    }

    [Fact]
    public void FiftyLayerNetworkGeneratorTime()
    {
        var sb = new StringBuilder("using ConvGen;\nnamespace Deep;\n[Input(3, 32, 32)]\n[Conv(3, 3, 3, 16, pad: 1), Relu]\n");
        var layers = new List<FuzzLayer> { new(FuzzKind.Conv, 3, 3, 3, 16, Pad: 1), FuzzLayer.Activation(FuzzKind.Relu) };
        for (int i = 0; i < 10; i++)
        {
            sb.Append("[Conv(3, 3, 16, 16, pad: 1), Relu, Conv(1, 1, 16, 16), Tanh]\n");
            layers.AddRange([new(FuzzKind.Conv, 3, 3, 16, 16, Pad: 1), FuzzLayer.Activation(FuzzKind.Relu), new(FuzzKind.Conv, 1, 1, 16, 16), FuzzLayer.Activation(FuzzKind.Tanh)]);
        }
        sb.Append("[MaxPool(2), Conv(3, 3, 16, 32, pad: 1), Relu, AvgPool(2), GlobalAvgPool, Flatten, Linear(32, 10), Sigmoid]\npublic partial class Deep50;\n");
        layers.AddRange([FuzzLayer.Pool(true, 2), new(FuzzKind.Conv, 3, 3, 16, 32, Pad: 1), FuzzLayer.Activation(FuzzKind.Relu), FuzzLayer.Pool(false, 2),
                         new(FuzzKind.GlobalAvgPool), new(FuzzKind.Flatten), FuzzLayer.Linear(32, 10), FuzzLayer.Activation(FuzzKind.Sigmoid)]);
        string source = sb.ToString();
        var network = new FuzzNetwork("Deep50", true, 3, 32, 32, layers);
        Assert.Equal(50, layers.Count);
        Assert.True(FuzzOracle.Check(network).Valid);

        GeneratorHarness.Run(source); // warm-up: JIT the generator's code paths
        var times = new List<double>();
        GeneratorRun? run = null;
        for (int i = 0; i < 5; i++)
        {
            var timer = Stopwatch.StartNew();
            run = GeneratorHarness.Run(source);
            times.Add(timer.Elapsed.TotalMilliseconds);
        }
        times.Sort();
        Assert.Empty(run!.Diagnostics);
        var text = Assert.Single(run.Sources).Text;

        var compileTimer = Stopwatch.StartNew();
        var assembly = GeneratorHarness.CompileAndLoad(run);
        double compileMs = compileTimer.Elapsed.TotalMilliseconds;
        var instance = GeneratorHarness.CreateNetwork(assembly, "Deep.Deep50");
        Assert.Equal(50, instance.Layers.Count);
        string? mismatch = NetworkCheck.Check(instance, network.ToSpec(), batch: 2, seed: 50);
        if (mismatch is not null) Assert.Fail(mismatch);

        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"50-layer network: GeneratorHarness.Run median {times[2]:F1} ms (min {times[0]:F1}, max {times[4]:F1}, 5 warm runs); "
            + $"{text.Length / 1024.0:F0} KiB generated; compiling and loading it {compileMs:F0} ms"));
    }
}

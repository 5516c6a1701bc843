using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using ConvGen.Tests.Infrastructure;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Xunit;

namespace ConvGen.Tests.Generator;

/// <summary>
/// The examples in the documentation are compiled, so they cannot drift from what the generator does: every example
/// file of a diagnostic page (a <c>`CG0002a.cs`</c> marker, its C# block, then the build output block) reports exactly
/// the lines shown, at the positions shown, and README's first example compiles as a program.
/// </summary>
public class DocExampleTests
{
    public static IEnumerable<object[]> DiagnosticExamples()
    {
        foreach (string page in Directory.GetFiles(Path.Combine(RepoRoot(), "docs", "diagnostics"), "CG*.md").OrderBy(p => p, System.StringComparer.Ordinal))
            foreach (var example in Examples(File.ReadAllText(page)))
                yield return new object[] { Path.GetFileName(page), example.File };
    }

    [Theory]
    [MemberData(nameof(DiagnosticExamples))]
    public void DiagnosticPageExampleReportsWhatThePageShows(string page, string file)
    {
        var example = Examples(File.ReadAllText(Path.Combine(RepoRoot(), "docs", "diagnostics", page))).Single(e => e.File == file);
        // The two examples about project settings build as the page says: without unsafe code, and in C# 9.
        var options = GeneratorHarness.ParseOptions.WithLanguageVersion(page == "CG0013.md" ? LanguageVersion.CSharp9 : LanguageVersion.Latest);
        var tree = CSharpSyntaxTree.ParseText(example.Code, options, path: file);
        var compilation = GeneratorHarness.CreateCompilation(System.Array.Empty<string>()).AddSyntaxTrees(tree);
        if (page == "CG0010.md") compilation = compilation.WithOptions(compilation.Options.WithAllowUnsafe(false));
        var driver = CSharpGeneratorDriver.Create([new ConvGen.Generator.NetworkGenerator().AsSourceGenerator()], parseOptions: options);
        var run = GeneratorHarness.Run(compilation, driver);

        // CG lines word for word with their help link, as dotnet build prints them; the compiler's own (CS) lines by
        // position and ID only, since their wording belongs to the compiler version.
        string Line(Diagnostic d)
        {
            var at = d.Location.GetLineSpan().StartLinePosition;
            string head = $"{file}({at.Line + 1},{at.Character + 1}): {(d.Severity == DiagnosticSeverity.Error ? "error" : "warning")} {d.Id}";
            return d.Id.StartsWith("CG", System.StringComparison.Ordinal)
                ? $"{head}: {d.GetMessage(System.Globalization.CultureInfo.InvariantCulture)} ({d.Descriptor.HelpLinkUri})"
                : head;
        }
        var actual = run.Diagnostics.Concat(run.OutputCompilation.GetDiagnostics().Where(d => d.Id.StartsWith("CS", System.StringComparison.Ordinal)))
            .Where(d => d.Severity >= DiagnosticSeverity.Warning && d.Location.SourceTree?.FilePath == file)
            .Select(Line).Distinct().OrderBy(l => l, System.StringComparer.Ordinal).ToList();
        var expected = example.Output.Select(l => l.Contains(" CS", System.StringComparison.Ordinal) ? l[..(l.IndexOf(" CS", System.StringComparison.Ordinal) + 7)] : l)
            .OrderBy(l => l, System.StringComparer.Ordinal).ToList();
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void DiagnosticPagesHaveExamples()
    {
        var pages = DiagnosticExamples().Select(e => (string)e[0]).Distinct().ToList();
        Assert.Equal(13, pages.Count); // CG0001 … CG0013, each with at least one example
    }

    [Fact]
    public void ReadmeFirstExampleCompilesAsAProgram()
    {
        string readme = File.ReadAllText(Path.Combine(RepoRoot(), "README.md"));
        string code = Regex.Match(readme, "```csharp\n(.*?)```", RegexOptions.Singleline).Groups[1].Value;
        Assert.Contains("public partial class LeNet", code);
        var compilation = GeneratorHarness.CreateCompilation(new[] { "global using System;", code });
        compilation = compilation.WithOptions(compilation.Options.WithOutputKind(OutputKind.ConsoleApplication));
        var run = GeneratorHarness.Run(compilation, GeneratorHarness.CreateDriver());
        Assert.Empty(run.Diagnostics);
        var problems = run.OutputCompilation.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning).ToList();
        Assert.True(problems.Count == 0, GeneratorHarness.FormatDiagnostics(problems));
    }

    /// <summary>An example of a page: its file name, its code, and the build output lines for that file.</summary>
    private sealed record Example(string File, string Code, List<string> Output);

    private static IEnumerable<Example> Examples(string page)
    {
        var markers = Regex.Matches(page, @"`(CG\d{4}[a-z]?\.cs)`").Cast<Match>().ToList();
        for (int i = 0; i < markers.Count; i++)
        {
            int end = i + 1 < markers.Count ? markers[i + 1].Index : page.Length;
            string section = page[markers[i].Index..end];
            string file = markers[i].Groups[1].Value;
            var code = Regex.Match(section, "```csharp\n(.*?)```", RegexOptions.Singleline);
            var output = Regex.Match(section[(code.Index + code.Length)..], "```text\n(.*?)```", RegexOptions.Singleline);
            if (!code.Success || !output.Success) continue;
            var lines = output.Groups[1].Value.Split('\n').Where(l => l.StartsWith(file + "(", System.StringComparison.Ordinal)).ToList();
            yield return new Example(file, code.Groups[1].Value, lines);
        }
    }

    private static string RepoRoot([System.Runtime.CompilerServices.CallerFilePath] string file = "")
        => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(file)!, "..", "..", ".."));
}

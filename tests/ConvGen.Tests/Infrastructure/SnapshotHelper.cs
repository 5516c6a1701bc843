using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Xunit;

namespace ConvGen.Tests.Infrastructure;

/// <summary>
/// Snapshot tests of generator output, following Verify.SourceGenerators' conventions (which cannot be restored here):
/// <list type="bullet">
/// <item>one file per generated source, <c>{TestClass}.{TestMethod}#{HintName}.verified.cs</c> beside the test file
/// (the hint name's <c>.cs</c> dropped), whose first line is <c>//HintName: {hint}</c> followed by the text exactly;</item>
/// <item>the generator's diagnostics, when there are any, in <c>{TestClass}.{TestMethod}.verified.txt</c>, one per line:
/// <c>ID | Severity | message | path: (line,col)-(line,col)</c> (Roslyn's 0-based positions);</item>
/// <item>on a mismatch (or a missing snapshot) the new text goes to <c>*.received.*</c> (git-ignored) and the test fails
/// with a diff; <c>CONVGEN_ACCEPT=1</c> writes the verified files instead and removes stale ones.</item>
/// </list>
/// The generator version in <c>[GeneratedCode("ConvGen", "…")]</c> is scrubbed to <c>{version}</c>; line endings become LF.
/// {TestClass} defaults to the test file's name, so keep one test class per file.
/// </summary>
public static partial class SnapshotHelper
{
    /// <summary>Set to <c>1</c> to accept received snapshots.</summary>
    public const string AcceptVariable = "CONVGEN_ACCEPT";

    /// <summary>What a scrubbed generator version reads as.</summary>
    public const string ScrubbedVersion = "{version}";

    /// <summary>Whether this run accepts snapshots.</summary>
    public static bool Accepting => Environment.GetEnvironmentVariable(AcceptVariable) is "1" or "true";

    /// <summary>Checks every generated source and the diagnostics of <paramref name="run"/> against the snapshots.</summary>
    public static void Verify(GeneratorRun run, string? testClass = null,
                              [CallerFilePath] string callerFile = "", [CallerMemberName] string testMethod = "")
        => Verify(run.Sources, run.Diagnostics, SourceDirectory(callerFile),
                  testClass ?? Path.GetFileNameWithoutExtension(callerFile), testMethod, Accepting);

    /// <summary>
    /// The folder of the test file. A build with a path map (<c>ContinuousIntegrationBuild</c> turns <c>/work/x/</c> into
    /// <c>/_/</c>) hides it; then the same relative path is looked up above the test's output folder.
    /// </summary>
    public static string SourceDirectory(string callerFile)
    {
        string directory = Path.GetDirectoryName(callerFile)!;
        if (Directory.Exists(directory)) return directory;
        string relative = directory.Replace('\\', '/').TrimStart('/');
        if (relative.StartsWith("_/", StringComparison.Ordinal)) relative = relative[2..];
        for (var root = new DirectoryInfo(AppContext.BaseDirectory); root is not null; root = root.Parent)
        {
            string candidate = Path.Combine(root.FullName, relative);
            if (Directory.Exists(candidate)) return candidate;
        }
        throw new DirectoryNotFoundException($"Snapshot folder '{directory}' (from [CallerFilePath]) does not exist, nor does '{relative}' above {AppContext.BaseDirectory}.");
    }

    /// <summary>The core, with the directory, names and accept mode explicit (used by the helper's own tests).</summary>
    public static void Verify(IReadOnlyList<GeneratedSource> sources, IReadOnlyList<Diagnostic> diagnostics,
                              string directory, string testClass, string testMethod, bool accept)
    {
        string prefix = $"{testClass}.{testMethod}";
        var expected = new List<(string VerifiedPath, string Text)>();
        foreach (var s in sources.OrderBy(s => s.HintName, StringComparer.Ordinal))
        {
            string hint = s.HintName.EndsWith(".cs", StringComparison.Ordinal) ? s.HintName[..^3] : s.HintName;
            expected.Add((Path.Combine(directory, $"{prefix}#{hint}.verified.cs"), $"//HintName: {s.HintName}\n{Scrub(s.Text)}"));
        }
        string diagnosticsPath = Path.Combine(directory, $"{prefix}.verified.txt");
        if (diagnostics.Count > 0) expected.Add((diagnosticsPath, FormatDiagnostics(diagnostics)));

        var failures = new StringBuilder();
        foreach (var (verifiedPath, text) in expected)
        {
            string receivedPath = ReceivedPath(verifiedPath);
            string? verified = File.Exists(verifiedPath) ? Normalize(File.ReadAllText(verifiedPath)) : null;
            if (verified == text)
            {
                File.Delete(receivedPath);
                continue;
            }
            if (accept)
            {
                File.WriteAllText(verifiedPath, text);
                File.Delete(receivedPath);
                continue;
            }
            File.WriteAllText(receivedPath, text);
            failures.Append(verified is null
                ? $"New snapshot {Path.GetFileName(verifiedPath)} (written to {Path.GetFileName(receivedPath)}; set {AcceptVariable}=1 to accept):\n{Head(text)}\n"
                : $"Snapshot {Path.GetFileName(verifiedPath)} differs (received written to {Path.GetFileName(receivedPath)}):\n{Diff(verified, text)}\n");
        }

        // Verified files nobody produced any more: a source that vanished, or diagnostics that went away.
        var produced = expected.Select(e => e.VerifiedPath).ToHashSet(StringComparer.Ordinal);
        var stale = Directory.Exists(directory)
            ? Directory.EnumerateFiles(directory, $"{prefix}#*.verified.cs").Append(diagnosticsPath)
                       .Where(File.Exists).Where(p => !produced.Contains(p)).Distinct().ToList()
            : [];
        foreach (var path in stale)
        {
            if (accept) File.Delete(path);
            else failures.Append($"Snapshot {Path.GetFileName(path)} exists but the generator no longer produces it.\n");
        }

        if (failures.Length > 0) Assert.Fail(failures.ToString());
    }

    /// <summary><c>X.verified.cs</c> → <c>X.received.cs</c>.</summary>
    public static string ReceivedPath(string verifiedPath)
        => verifiedPath.Replace(".verified.", ".received.", StringComparison.Ordinal);

    /// <summary>Scrubs the generator version and pins LF line endings.</summary>
    public static string Scrub(string text)
        => GeneratedCodeVersion().Replace(Normalize(text), $"$1\"{ScrubbedVersion}\"");

    [GeneratedRegex(@"(GeneratedCode\(\s*""ConvGen""\s*,\s*)""[^""]*""")]
    private static partial Regex GeneratedCodeVersion();

    private static string Normalize(string text) => text.Replace("\r\n", "\n", StringComparison.Ordinal);

    /// <summary>One line per diagnostic, in a stable order: <c>ID | Severity | message | path: (l,c)-(l,c)</c>.</summary>
    public static string FormatDiagnostics(IEnumerable<Diagnostic> diagnostics)
    {
        var sb = new StringBuilder();
        foreach (var d in diagnostics
                     .OrderBy(d => d.Location.GetLineSpan().Path, StringComparer.Ordinal)
                     .ThenBy(d => d.Location.SourceSpan.Start)
                     .ThenBy(d => d.Id, StringComparer.Ordinal))
        {
            string location = d.Location == Location.None ? "(no location)" : d.Location.GetLineSpan().ToString();
            sb.Append(d.Id).Append(" | ").Append(d.Severity).Append(" | ")
              .Append(d.GetMessage(System.Globalization.CultureInfo.InvariantCulture)).Append(" | ").Append(location).Append('\n');
        }
        return sb.ToString();
    }

    private static string Head(string text, int lines = 30)
    {
        var all = text.Split('\n');
        return string.Join("\n", all.Take(lines)) + (all.Length > lines ? $"\n... ({all.Length - lines} more lines)" : "");
    }

    /// <summary>A line diff (<c>-</c> verified, <c>+</c> received) of the region between the common prefix and suffix.</summary>
    public static string Diff(string verified, string received, int maxLines = 80)
    {
        var a = verified.Split('\n');
        var b = received.Split('\n');
        int start = 0;
        while (start < a.Length && start < b.Length && a[start] == b[start]) start++;
        int endA = a.Length, endB = b.Length;
        while (endA > start && endB > start && a[endA - 1] == b[endB - 1]) { endA--; endB--; }

        var output = new List<string> { $"@@ verified line {start + 1}, received line {start + 1} @@" };
        for (int i = Math.Max(0, start - 3); i < start; i++) output.Add("  " + a[i]);
        int n = endA - start, m = endB - start;
        if ((long)n * m <= 4_000_000)
        {
            // Longest common subsequence of the middle, then walk it.
            var lcs = new int[n + 1, m + 1];
            for (int i = n - 1; i >= 0; i--)
                for (int j = m - 1; j >= 0; j--)
                    lcs[i, j] = a[start + i] == b[start + j] ? lcs[i + 1, j + 1] + 1 : Math.Max(lcs[i + 1, j], lcs[i, j + 1]);
            int x = 0, y = 0;
            while (x < n || y < m)
            {
                if (x < n && y < m && a[start + x] == b[start + y]) { output.Add("  " + a[start + x]); x++; y++; }
                else if (y < m && (x == n || lcs[x, y + 1] >= lcs[x + 1, y])) { output.Add("+ " + b[start + y]); y++; }
                else { output.Add("- " + a[start + x]); x++; }
            }
        }
        else
        {
            for (int i = start; i < endA; i++) output.Add("- " + a[i]);
            for (int i = start; i < endB; i++) output.Add("+ " + b[i]);
        }
        for (int i = endA; i < Math.Min(a.Length, endA + 3); i++) output.Add("  " + a[i]);
        return string.Join("\n", output.Take(maxLines)) + (output.Count > maxLines ? $"\n... ({output.Count - maxLines} more diff lines)" : "");
    }
}

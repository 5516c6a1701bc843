using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using ConvGen.CodeFixes;
using ConvGen.Tests.Infrastructure;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Text;
using Xunit;

namespace ConvGen.Tests.CodeFixes;

/// <summary>
/// Each code fix end to end: the source goes into an <see cref="AdhocWorkspace"/> document, the real generator runs over
/// that document's compilation (so the diagnostics point into the workspace's own syntax tree, as in the IDE), the fix's
/// operations are applied to the workspace, and the generator runs again on the fixed text, which must give no
/// diagnostics at all, generated source, and a compilation without errors.
/// </summary>
public class CodeFixTests
{
    private static readonly CodeFixProvider[] s_providers =
    {
        new MakePartialCodeFixProvider(), new SetInCountCodeFixProvider(), new InsertFlattenCodeFixProvider(),
    };

    [Fact]
    public async Task ChannelMismatchSetsConvInToTheProducedChannels()
    {
        using var session = new FixSession("""
            using ConvGen;
            namespace D;
            [Input(1, 8, 8)]
            [Conv(3, 3, @in: 1, @out: 6), MaxPool(2), Conv(1, 1, @in: 8, @out: 2)]
            public partial class N;
            """);
        await session.FixAsync("CG0004", "Set @in to 6 (what layer 1 (MaxPool) produces)");
        session.AssertFixed("""
            using ConvGen;
            namespace D;
            [Input(1, 8, 8)]
            [Conv(3, 3, @in: 1, @out: 6), MaxPool(2), Conv(1, 1, @in: 6, @out: 2)]
            public partial class N;
            """);
    }

    [Fact]
    public async Task ChannelMismatchFixKeepsAPositionalArgumentPositional()
    {
        using var session = new FixSession("""
            using ConvGen;
            [Input(3, 8, 8)]
            [Conv(3, 3, /* in */ 1, 4)]
            public partial class N;
            """);
        await session.FixAsync("CG0004", "Set @in to 3 (what [Input] produces)");
        session.AssertFixed("""
            using ConvGen;
            [Input(3, 8, 8)]
            [Conv(3, 3, /* in */ 3, 4)]
            public partial class N;
            """);
    }

    [Fact]
    public async Task LinearInputMismatchSetsInToTheFlattenedSize()
    {
        using var session = new FixSession("""
            using ConvGen;
            namespace D;
            [Input(1, 28, 28)]
            [Conv(5, 5, 1, 6), Relu, MaxPool(2)]
            [Flatten, Linear(784, 10)]
            public partial class WrongFeatures;
            """);
        await session.FixAsync("CG0007", "Set @in to 864 (what layer 3 (Flatten) produces)");
        session.AssertFixed("""
            using ConvGen;
            namespace D;
            [Input(1, 28, 28)]
            [Conv(5, 5, 1, 6), Relu, MaxPool(2)]
            [Flatten, Linear(864, 10)]
            public partial class WrongFeatures;
            """);
    }

    [Fact]
    public async Task NotPartialAddsPartialAfterTheOtherModifiers()
    {
        using var session = new FixSession("""
            using ConvGen;
            namespace D;
            [Input(1, 8, 8)] [Relu]
            public sealed class EdgeNet;
            """);
        await session.FixAsync("CG0001", "Make 'EdgeNet' partial");
        session.AssertFixed("""
            using ConvGen;
            namespace D;
            [Input(1, 8, 8)] [Relu]
            public sealed partial class EdgeNet;
            """);
    }

    [Fact]
    public async Task NotPartialWithoutModifiersKeepsTheIndentation()
    {
        using var session = new FixSession("""
            using ConvGen;
            namespace D
            {
                [Input(1, 8, 8)] [Relu]
                class EdgeNet { }
            }
            """);
        await session.FixAsync("CG0001", "Make 'EdgeNet' partial");
        session.AssertFixed("""
            using ConvGen;
            namespace D
            {
                [Input(1, 8, 8)] [Relu]
                partial class EdgeNet { }
            }
            """);
    }

    [Fact]
    public async Task LinearOnASpatialTensorGetsAFlattenInItsAttributeList()
    {
        using var session = new FixSession("""
            using ConvGen;
            namespace D;
            [Input(1, 28, 28)]
            [Conv(3, 3, 1, 4), Relu]
            [Linear(2704, 10)]
            public partial class MissingFlatten;
            """);
        await session.FixAsync("CG0008", "Insert [Flatten] before layer 2 (Linear) (giving 4×26×26 = 2704 features)");
        session.AssertFixed("""
            using ConvGen;
            namespace D;
            [Input(1, 28, 28)]
            [Conv(3, 3, 1, 4), Relu]
            [Flatten, Linear(2704, 10)]
            public partial class MissingFlatten;
            """);
    }

    [Fact]
    public async Task FlattenIsSpeltLikeTheLinearItPrecedes()
    {
        using var session = new FixSession("""
            [ConvGen.Input(2, 4, 4)]
            [ConvGen.Relu, ConvGen.LinearAttribute(32, 10)]
            public partial class N;
            """);
        await session.FixAsync("CG0008", "Insert [Flatten] before layer 1 (Linear) (giving 2×4×4 = 32 features)");
        session.AssertFixed("""
            [ConvGen.Input(2, 4, 4)]
            [ConvGen.Relu, ConvGen.FlattenAttribute, ConvGen.LinearAttribute(32, 10)]
            public partial class N;
            """);
    }

    [Fact]
    public async Task FlattenUnderAnAliasIsFullyQualified()
    {
        // 'Flatten' does not bind here (no using ConvGen), and the alias names only Linear: the fix qualifies it.
        using var session = new FixSession("""
            using Dense = ConvGen.LinearAttribute;
            [ConvGen.Input(2, 4, 4)]
            [Dense(32, 10)]
            public partial class N;
            """);
        await session.FixAsync("CG0008", "Insert [Flatten] before layer 0 (Linear) (giving 2×4×4 = 32 features)");
        session.AssertFixed("""
            using Dense = ConvGen.LinearAttribute;
            [ConvGen.Input(2, 4, 4)]
            [ConvGen.Flatten, Dense(32, 10)]
            public partial class N;
            """);
    }

    [Fact]
    public async Task SpatialLayerAfterFlattenGetsNoFix()
    {
        using var session = new FixSession("""
            using ConvGen;
            [Input(2, 4, 4)] [Flatten, MaxPool(2)]
            public partial class N;
            """);
        var diagnostic = Assert.Single(await session.DiagnosticsAsync(), d => d.Id == "CG0008");
        Assert.Empty(await session.ActionsAsync(new InsertFlattenCodeFixProvider(), diagnostic));
    }

    [Fact]
    public async Task ChainedFlattenThenLinearSize()
    {
        using var session = new FixSession("""
            using ConvGen;
            namespace D;
            [Input(1, 8, 8)]
            [Conv(3, 3, @in: 1, @out: 4), Relu, MaxPool(2)]
            [Linear(100, 10)]
            public partial class N;
            """);
        await session.FixAsync("CG0008", "Insert [Flatten] before layer 3 (Linear) (giving 4×3×3 = 36 features)");
        Assert.Equal("""
            using ConvGen;
            namespace D;
            [Input(1, 8, 8)]
            [Conv(3, 3, @in: 1, @out: 4), Relu, MaxPool(2)]
            [Flatten, Linear(100, 10)]
            public partial class N;
            """, session.Text);
        // The Linear is now layer 4, and its 'in' is the next thing the generator reports.
        await session.FixAsync("CG0007", "Set @in to 36 (what layer 3 (Flatten) produces)");
        session.AssertFixed("""
            using ConvGen;
            namespace D;
            [Input(1, 8, 8)]
            [Conv(3, 3, @in: 1, @out: 4), Relu, MaxPool(2)]
            [Flatten, Linear(36, 10)]
            public partial class N;
            """);
    }

    [Fact]
    public async Task EveryFixInTurnUntilTheGeneratorIsSatisfied()
    {
        // Not partial, two wrong channel counts, a missing Flatten and then a wrong Linear size: taking the fix offered for
        // the first diagnostic, again and again, must reach a clean network.
        using var session = new FixSession("""
            using ConvGen;
            namespace D;
            [Input(3, 16, 16)]
            [Conv(3, 3, @in: 1, @out: 8, pad: 1), Relu, MaxPool(2)]
            [Conv(3, 3, @in: 16, @out: 16), Relu]
            [Linear(10, 5)]
            internal class Chain;
            """);
        var titles = new List<string>();
        for (int step = 0; step < 10; step++)
        {
            var diagnostics = await session.DiagnosticsAsync();
            if (diagnostics.Length == 0) break;
            var diagnostic = diagnostics[0];
            var provider = s_providers.Single(p => p.FixableDiagnosticIds.Contains(diagnostic.Id));
            var action = (await session.ActionsAsync(provider, diagnostic)).First();
            titles.Add(action.Title);
            await session.ApplyAsync(action);
        }
        Assert.Equal(new[]
        {
            // Diagnostics in source order: CG0001 sits on the class name, after the layers, so it comes last.
            "Set @in to 3 (what [Input] produces)",
            "Set @in to 8 (what layer 2 (MaxPool) produces)",
            "Insert [Flatten] before layer 5 (Linear) (giving 16×6×6 = 576 features)",
            "Set @in to 576 (what layer 5 (Flatten) produces)",
            "Make 'Chain' partial",
        }, titles);
        session.AssertFixed("""
            using ConvGen;
            namespace D;
            [Input(3, 16, 16)]
            [Conv(3, 3, @in: 3, @out: 8, pad: 1), Relu, MaxPool(2)]
            [Conv(3, 3, @in: 8, @out: 16), Relu]
            [Flatten, Linear(576, 5)]
            internal partial class Chain;
            """);
    }

    [Fact]
    public async Task FixAllInDocumentSetsEveryConvIn()
    {
        using var session = new FixSession("""
            using ConvGen;
            [Input(3, 8, 8)] [Conv(3, 3, @in: 1, @out: 4)] public partial class A;
            [Input(2, 8, 8)] [Conv(1, 1, @in: 2, @out: 4), Relu, Conv(1, 1, @in: 2, @out: 4)] public partial class B;
            """);
        var diagnostics = await session.DiagnosticsAsync();
        Assert.Equal(new[] { "CG0004", "CG0004" }, diagnostics.Select(d => d.Id));
        var provider = new SetInCountCodeFixProvider();
        var action = (await session.ActionsAsync(provider, diagnostics[0])).Single();
        var fixAll = await provider.GetFixAllProvider()!.GetFixAsync(new FixAllContext(
            session.Document, provider, FixAllScope.Document, action.EquivalenceKey!, new[] { "CG0004" },
            new FixedDiagnostics(diagnostics), CancellationToken.None));
        Assert.NotNull(fixAll);
        await session.ApplyAsync(fixAll!);
        session.AssertFixed("""
            using ConvGen;
            [Input(3, 8, 8)] [Conv(3, 3, @in: 3, @out: 4)] public partial class A;
            [Input(2, 8, 8)] [Conv(1, 1, @in: 2, @out: 4), Relu, Conv(1, 1, @in: 4, @out: 4)] public partial class B;
            """);
    }

    [Fact]
    public void EveryFixableIdIsAGeneratorDiagnostic()
    {
        var descriptors = typeof(ConvGen.Generator.NetworkGenerator).Assembly.GetType("ConvGen.Generator.Diagnostics")!
            .GetFields().Where(f => f.FieldType == typeof(DiagnosticDescriptor))
            .Select(f => ((DiagnosticDescriptor)f.GetValue(null)!).Id).ToHashSet();
        var fixable = s_providers.SelectMany(p => p.FixableDiagnosticIds).ToList();
        Assert.Equal(new[] { "CG0001", "CG0004", "CG0007", "CG0008" }, fixable.OrderBy(id => id, System.StringComparer.Ordinal));
        Assert.All(fixable, id => Assert.Contains(id, descriptors));
        Assert.All(s_providers, p => Assert.Same(WellKnownFixAllProviders.BatchFixer, p.GetFixAllProvider()));
    }

    /// <summary>One document in an <see cref="AdhocWorkspace"/> with the options and references of <see cref="GeneratorHarness"/>.</summary>
    private sealed class FixSession : System.IDisposable
    {
        private readonly AdhocWorkspace _workspace = new();
        private readonly DocumentId _documentId;

        public FixSession(string source)
        {
            var project = _workspace.AddProject(ProjectInfo.Create(
                ProjectId.CreateNewId(), VersionStamp.Create(), "FixTarget", "FixTarget", LanguageNames.CSharp,
                compilationOptions: new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, allowUnsafe: true,
                    nullableContextOptions: NullableContextOptions.Enable),
                parseOptions: GeneratorHarness.ParseOptions,
                metadataReferences: GeneratorHarness.References));
            _documentId = _workspace.AddDocument(project.Id, "Test0.cs", SourceText.From(source, Encoding.UTF8)).Id;
        }

        public Document Document => _workspace.CurrentSolution.GetDocument(_documentId)!;

        public string Text => Document.GetTextAsync().GetAwaiter().GetResult().ToString();

        /// <summary>The generator's diagnostics for the document as it is now, located in its own syntax tree.</summary>
        public async Task<ImmutableArray<Diagnostic>> DiagnosticsAsync()
        {
            var compilation = (CSharpCompilation)(await Document.Project.GetCompilationAsync())!;
            var run = GeneratorHarness.Run(compilation, GeneratorHarness.CreateDriver());
            var tree = await Document.GetSyntaxTreeAsync();
            Assert.All(run.Diagnostics, d => Assert.Same(tree, d.Location.SourceTree));
            return run.Diagnostics.OrderBy(d => d.Location.SourceSpan.Start).ToImmutableArray();
        }

        public async Task<List<CodeAction>> ActionsAsync(CodeFixProvider provider, Diagnostic diagnostic)
        {
            var actions = new List<CodeAction>();
            await provider.RegisterCodeFixesAsync(new CodeFixContext(Document, diagnostic, (a, _) => actions.Add(a), CancellationToken.None));
            return actions;
        }

        public async Task ApplyAsync(CodeAction action)
        {
            var operations = await action.GetOperationsAsync(CancellationToken.None);
            Assert.NotEmpty(operations);
            foreach (var operation in operations) operation.Apply(_workspace, CancellationToken.None);
        }

        /// <summary>Expects exactly one <paramref name="id"/> diagnostic with exactly one fix titled <paramref name="title"/>, and applies it.</summary>
        public async Task FixAsync(string id, string title)
        {
            var diagnostic = Assert.Single(await DiagnosticsAsync(), d => d.Id == id);
            var provider = s_providers.Single(p => p.FixableDiagnosticIds.Contains(id));
            var action = Assert.Single(await ActionsAsync(provider, diagnostic));
            Assert.Equal(title, action.Title);
            await ApplyAsync(action);
        }

        /// <summary>The text is <paramref name="expected"/>, and on it the generator reports nothing and its output compiles.</summary>
        public void AssertFixed(string expected)
        {
            string text = Text;
            Assert.Equal(expected, text);
            var run = GeneratorHarness.Run(text);
            Assert.True(run.Diagnostics.IsEmpty, "The generator still reports:\n" + GeneratorHarness.FormatDiagnostics(run.Diagnostics));
            Assert.NotEmpty(run.Sources);
            var errors = run.OutputCompilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
            Assert.True(errors.Count == 0, "The fixed source does not compile:\n" + GeneratorHarness.FormatDiagnostics(errors));
        }

        public void Dispose() => _workspace.Dispose();
    }

    /// <summary>Hands a fix-all run the diagnostics the generator reported (the IDE gets them from its diagnostic service).</summary>
    private sealed class FixedDiagnostics(ImmutableArray<Diagnostic> diagnostics) : FixAllContext.DiagnosticProvider
    {
        public override Task<IEnumerable<Diagnostic>> GetDocumentDiagnosticsAsync(Document document, CancellationToken cancellationToken)
            => Task.FromResult<IEnumerable<Diagnostic>>(diagnostics);

        public override Task<IEnumerable<Diagnostic>> GetProjectDiagnosticsAsync(Project project, CancellationToken cancellationToken)
            => Task.FromResult<IEnumerable<Diagnostic>>(diagnostics);

        public override Task<IEnumerable<Diagnostic>> GetAllDiagnosticsAsync(Project project, CancellationToken cancellationToken)
            => Task.FromResult<IEnumerable<Diagnostic>>(diagnostics);
    }
}

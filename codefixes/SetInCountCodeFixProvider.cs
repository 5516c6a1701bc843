using System.Collections.Immutable;
using System.Composition;
using System.Globalization;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace ConvGen.CodeFixes;

/// <summary>
/// CG0004 (a <c>[Conv]</c>'s <c>in</c> differs from the channels it receives) and CG0007 (a <c>[Linear]</c>'s <c>in</c>
/// differs from the features it receives): rewrites the <c>in</c> argument, where the diagnostic points, to the count the
/// generator computed (the <c>ConvGen.FixValue</c> property). Positional or named, the argument keeps its form and trivia.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(SetInCountCodeFixProvider)), Shared]
public sealed class SetInCountCodeFixProvider : CodeFixProvider
{
    public override ImmutableArray<string> FixableDiagnosticIds { get; } =
        ImmutableArray.Create(DiagnosticFacts.ChannelMismatch, DiagnosticFacts.LinearInputMismatch);

    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        if (root is null) return;
        foreach (var diagnostic in context.Diagnostics)
        {
            if (DiagnosticFacts.FixValue(diagnostic) is not int value) continue;
            var span = diagnostic.Location.SourceSpan;
            if (root.FindNode(span).FirstAncestorOrSelf<AttributeArgumentSyntax>() is not { } argument
                || argument.Span != span || argument.NameEquals is not null)
                continue;

            string text = value.ToString(CultureInfo.InvariantCulture);
            string? producer = DiagnosticFacts.Producer(diagnostic);
            string title = producer is null ? $"Set @in to {text}" : $"Set @in to {text} (what {producer} produces)";
            context.RegisterCodeFix(
                CodeAction.Create(title, ct => SetAsync(context.Document, argument, value, ct), EquivalenceKey(diagnostic.Id)),
                diagnostic);
        }
    }

    /// <summary>One key per ID, so "fix all" applies every CG0004 (or every CG0007) fix at once.</summary>
    private static string EquivalenceKey(string id) => nameof(SetInCountCodeFixProvider) + "." + id;

    private static async Task<Document> SetAsync(Document document, AttributeArgumentSyntax argument, int value, CancellationToken cancellationToken)
    {
        var root = await document.GetSyntaxRootAsync(cancellationToken).ConfigureAwait(false);
        if (root is null) return document;
        var literal = SyntaxFactory.LiteralExpression(SyntaxKind.NumericLiteralExpression, SyntaxFactory.Literal(value))
            .WithTriviaFrom(argument.Expression);
        return document.WithSyntaxRoot(root.ReplaceNode(argument.Expression, literal));
    }
}

using System.Collections.Immutable;
using System.Composition;
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
/// CG0001 (network class not <c>partial</c>): adds <c>partial</c> as the last modifier of the declaration whose name the
/// diagnostic points at (C# wants it right before <c>class</c>).
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(MakePartialCodeFixProvider)), Shared]
public sealed class MakePartialCodeFixProvider : CodeFixProvider
{
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create(DiagnosticFacts.NotPartial);

    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        if (root is null) return;
        foreach (var diagnostic in context.Diagnostics)
        {
            var span = diagnostic.Location.SourceSpan;
            var token = root.FindToken(span.Start);
            if (token.Span != span || token.Parent is not TypeDeclarationSyntax declaration || declaration.Identifier != token
                || declaration.Modifiers.Any(SyntaxKind.PartialKeyword))
                continue;
            context.RegisterCodeFix(
                CodeAction.Create($"Make '{token.ValueText}' partial", ct => AddPartialAsync(context.Document, declaration, ct), nameof(MakePartialCodeFixProvider)),
                diagnostic);
        }
    }

    private static async Task<Document> AddPartialAsync(Document document, TypeDeclarationSyntax declaration, CancellationToken cancellationToken)
    {
        var root = await document.GetSyntaxRootAsync(cancellationToken).ConfigureAwait(false);
        if (root is null) return document;
        TypeDeclarationSyntax updated;
        var partial = SyntaxFactory.Token(SyntaxFactory.TriviaList(), SyntaxKind.PartialKeyword, SyntaxFactory.TriviaList(SyntaxFactory.Space));
        if (declaration.Modifiers.Count > 0)
        {
            // "public class" → "public partial class": the new keyword goes where the type keyword was.
            updated = declaration.WithModifiers(declaration.Modifiers.Add(partial));
        }
        else
        {
            // "class" → "partial class": 'partial' takes over the keyword's leading trivia (indentation, comments).
            var keyword = declaration.Keyword;
            updated = declaration
                .WithModifiers(SyntaxFactory.TokenList(partial.WithLeadingTrivia(keyword.LeadingTrivia)))
                .WithKeyword(keyword.WithLeadingTrivia());
        }
        return document.WithSyntaxRoot(root.ReplaceNode(declaration, updated));
    }
}

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
using Microsoft.CodeAnalysis.Simplification;

namespace ConvGen.CodeFixes;

/// <summary>
/// CG0008 on a <c>[Linear]</c> (it got a C×H×W tensor; the message says "insert [Flatten] before it"): inserts
/// <c>Flatten</c> right before that attribute in the same attribute list, so <c>[Linear(…)]</c> becomes
/// <c>[Flatten, Linear(…)]</c>. Later layers shift by one index. The Linear's <c>in</c> is left alone: if it is wrong the
/// generator then reports CG0007 with the flattened count, which <see cref="SetInCountCodeFixProvider"/> fixes.
/// CG0008 on a spatial layer after <c>[Flatten]</c> has no mechanical fix and gets none.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(InsertFlattenCodeFixProvider)), Shared]
public sealed class InsertFlattenCodeFixProvider : CodeFixProvider
{
    private const string LinearAttribute = "ConvGen.LinearAttribute";
    private const string FlattenAttribute = "ConvGen.FlattenAttribute";

    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create(DiagnosticFacts.WrongInputKind);

    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        if (root is null) return;
        SemanticModel? model = null;
        foreach (var diagnostic in context.Diagnostics)
        {
            var span = diagnostic.Location.SourceSpan;
            if (root.FindNode(span).FirstAncestorOrSelf<AttributeSyntax>() is not { } linear || linear.Span != span
                || linear.Parent is not AttributeListSyntax)
                continue;
            // Only the [Linear] variant: decided by what the attribute binds to, not by the message wording.
            model ??= await context.Document.GetSemanticModelAsync(context.CancellationToken).ConfigureAwait(false);
            if (model is null || !BindsTo(model.GetSymbolInfo(linear, context.CancellationToken).Symbol, model.Compilation.GetTypeByMetadataName(LinearAttribute)))
                continue;

            string subject = DiagnosticFacts.Subject(diagnostic) ?? "the [Linear]";
            string? features = DiagnosticFacts.FlattenedFeatures(diagnostic);
            string title = features is null ? $"Insert [Flatten] before {subject}" : $"Insert [Flatten] before {subject} (giving {features} features)";
            context.RegisterCodeFix(
                CodeAction.Create(title, ct => InsertAsync(context.Document, linear, ct), nameof(InsertFlattenCodeFixProvider)),
                diagnostic);
        }
    }

    private static bool BindsTo(ISymbol? symbol, INamedTypeSymbol? type)
        => type is not null && symbol is IMethodSymbol { MethodKind: MethodKind.Constructor } constructor
           && SymbolEqualityComparer.Default.Equals(constructor.ContainingType, type);

    private static async Task<Document> InsertAsync(Document document, AttributeSyntax linear, CancellationToken cancellationToken)
    {
        var root = await document.GetSyntaxRootAsync(cancellationToken).ConfigureAwait(false);
        var model = await document.GetSemanticModelAsync(cancellationToken).ConfigureAwait(false);
        if (root is null || model is null || linear.Parent is not AttributeListSyntax list) return document;

        var flatten = SyntaxFactory.Attribute(FlattenName(linear.Name, model, linear.SpanStart)).WithLeadingTrivia(linear.GetLeadingTrivia());
        var items = list.Attributes.GetWithSeparators();
        int index = items.IndexOf(linear);
        items = items.Replace(linear, linear.WithoutLeadingTrivia())
                     .InsertRange(index, new SyntaxNodeOrToken[] { flatten, SyntaxFactory.Token(SyntaxKind.CommaToken).WithTrailingTrivia(SyntaxFactory.Space) });
        var updated = list.WithAttributes(SyntaxFactory.SeparatedList<AttributeSyntax>(items));
        return document.WithSyntaxRoot(root.ReplaceNode(list, updated));

        NameSyntax FlattenName(NameSyntax linearName, SemanticModel semanticModel, int position)
        {
            // Spell it the way the Linear is spelt (Linear → Flatten, ConvGen.LinearAttribute → ConvGen.FlattenAttribute),
            // as long as that binds to ConvGen's [Flatten] here; otherwise (an alias, a shadowing type) fully qualified.
            var mirrored = Mirror(linearName);
            if (mirrored is not null
                && BindsTo(semanticModel.GetSpeculativeSymbolInfo(position, SyntaxFactory.Attribute(mirrored)).Symbol,
                           semanticModel.Compilation.GetTypeByMetadataName(FlattenAttribute)))
                return mirrored;
            return SyntaxFactory.ParseName("global::ConvGen.Flatten").WithAdditionalAnnotations(Simplifier.Annotation);
        }
    }

    private static NameSyntax? Mirror(NameSyntax name) => name switch
    {
        IdentifierNameSyntax identifier => Rename(identifier),
        QualifiedNameSyntax { Right: IdentifierNameSyntax right } qualified when Rename(right) is { } renamed => qualified.WithRight(renamed),
        AliasQualifiedNameSyntax { Name: IdentifierNameSyntax right } aliased when Rename(right) is { } renamed => aliased.WithName(renamed),
        _ => null,
    };

    private static IdentifierNameSyntax? Rename(IdentifierNameSyntax identifier) => identifier.Identifier.ValueText switch
    {
        "Linear" => identifier.WithIdentifier(SyntaxFactory.Identifier(identifier.Identifier.LeadingTrivia, "Flatten", identifier.Identifier.TrailingTrivia)),
        "LinearAttribute" => identifier.WithIdentifier(SyntaxFactory.Identifier(identifier.Identifier.LeadingTrivia, "FlattenAttribute", identifier.Identifier.TrailingTrivia)),
        _ => null,
    };
}

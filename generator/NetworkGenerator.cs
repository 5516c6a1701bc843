using System.Linq;
using ConvGen.Generator.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace ConvGen.Generator;

/// <summary>
/// Turns every <c>[Input]</c>-annotated partial class into a network with kernels specialised to its shapes.
/// Pipeline: <see cref="Parser"/> (attributes → spec) → <see cref="Validator"/> (spec → shapes + diagnostics)
/// → <see cref="Emitter"/> (shapes → C#). Diagnostics and source leave on separate branches.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed partial class NetworkGenerator : IIncrementalGenerator
{
    /// <summary>Tracking names of the pipeline steps, for incrementality tests.</summary>
    public static class Steps
    {
        public const string Parse = "ConvGen.Parse";
        public const string Validate = "ConvGen.Validate";
        public const string Model = "ConvGen.Model";
        public const string Diagnostics = "ConvGen.Diagnostics";
    }

    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var specs = context.SyntaxProvider
            .ForAttributeWithMetadataName("ConvGen.InputAttribute",
                predicate: static (node, _) => node is Microsoft.CodeAnalysis.CSharp.Syntax.TypeDeclarationSyntax,
                transform: static (ctx, ct) => Parser.Parse(ctx, ct))
            .Where(static spec => spec is not null)
            .Select(static (spec, _) => spec!)
            .WithTrackingName(Steps.Parse);

        var allowUnsafe = context.CompilationProvider
            .Select(static (compilation, _) => compilation is CSharpCompilation { Options.AllowUnsafe: true });

        var results = specs.Combine(allowUnsafe)
            .Select(static (pair, _) => Validator.Validate(pair.Left, pair.Right))
            .WithTrackingName(Steps.Validate);

        // Locations are rebuilt against the compilation's own syntax trees (not as external file spans), so that
        // #pragma warning disable and per-file .editorconfig severities apply to ConvGen's diagnostics like any other.
        var diagnostics = results.Select(static (r, _) => r.Diagnostics).WithTrackingName(Steps.Diagnostics);
        context.RegisterSourceOutput(diagnostics.Combine(context.CompilationProvider), static (spc, pair) =>
        {
            var (list, compilation) = pair;
            foreach (var d in list)
            {
                var descriptor = Diagnostics.ById(d.Id);
                if (descriptor is null) continue;
                var properties = d.FixValue is null ? null
                    : System.Collections.Immutable.ImmutableDictionary<string, string?>.Empty.Add(Diagnostics.FixValueKey, d.FixValue);
                spc.ReportDiagnostic(Diagnostic.Create(descriptor, Locate(compilation, d.Location), properties, d.MessageArgs.Items.Cast<object>().ToArray()));
            }
        });

        // Layer attributes on a type without [Input]: one pipeline per attribute type (each is a cheap
        // ForAttributeWithMetadataName lookup), reported once per type.
        foreach (string name in Parser.LayerAttributeNames)
        {
            var orphans = context.SyntaxProvider
                .ForAttributeWithMetadataName(name,
                    predicate: static (node, _) => node is Microsoft.CodeAnalysis.CSharp.Syntax.TypeDeclarationSyntax,
                    transform: static (ctx, ct) => Parser.ParseOrphan(ctx, ct))
                .Where(static d => d is not null);
            context.RegisterSourceOutput(orphans.Combine(context.CompilationProvider), static (spc, pair)
                => spc.ReportDiagnostic(Diagnostic.Create(Diagnostics.MissingInput, Locate(pair.Right, pair.Left!.Location), pair.Left.MessageArgs.Items.Cast<object>().ToArray())));
        }

        var models = results
            .Where(static r => r.Model is not null)
            .Select(static (r, _) => r.Model!)
            .WithTrackingName(Steps.Model);
        context.RegisterSourceOutput(models, static (spc, model) =>
            spc.AddSource(model.FullName + ".g.cs", Emitter.Emit(model)));
    }

    private static Location Locate(Compilation compilation, LocationInfo? info)
    {
        if (info is null) return Location.None;
        foreach (var tree in compilation.SyntaxTrees)
            if (tree.FilePath == info.FilePath && info.Span.End <= tree.Length) return Location.Create(tree, info.Span);
        return info.ToLocation();
    }
}

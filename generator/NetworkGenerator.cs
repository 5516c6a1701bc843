using ConvGen.Generator.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace ConvGen.Generator;

/// <summary>
/// Turns every <c>[Input]</c>-annotated partial class into a network with kernels specialised to its shapes.
/// Pipeline: <see cref="Parser"/> (attributes → spec) → <see cref="Validator"/> (spec → shapes + diagnostics)
/// → <see cref="Emitter"/> (shapes → C#), or <see cref="StubEmitter"/> for a network with errors. Diagnostics leave on a
/// separate branch, placed in the source by the <see cref="Reporter"/>.
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
        public const string Stub = "ConvGen.Stub";
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

        // Diagnostics carry SourceSites, not spans: the Reporter places them against the current compilation's own syntax
        // trees, so that edits above a network leave every cached step equal, and #pragma warning disable and per-file
        // .editorconfig severities apply to ConvGen's diagnostics like any other.
        var diagnostics = results.Select(static (r, _) => r.Diagnostics).WithTrackingName(Steps.Diagnostics);
        context.RegisterSourceOutput(diagnostics.Combine(context.CompilationProvider),
            static (spc, pair) => Reporter.Report(spc, pair.Right, pair.Left));

        // Layer attributes on a type without [Input]: one pipeline per attribute type (each is a cheap
        // ForAttributeWithMetadataName lookup), reported once per type.
        foreach (string name in Parser.LayerAttributeNames)
        {
            var orphans = context.SyntaxProvider
                .ForAttributeWithMetadataName(name,
                    predicate: static (node, _) => node is Microsoft.CodeAnalysis.CSharp.Syntax.TypeDeclarationSyntax,
                    transform: static (ctx, ct) => Parser.ParseOrphan(ctx, ct))
                .Where(static d => d is not null);
            context.RegisterSourceOutput(orphans.Combine(context.CompilationProvider),
                static (spc, pair) => Reporter.Report(spc, pair.Right, pair.Left!));
        }

        var models = results
            .Where(static r => r.Model is not null)
            .Select(static (r, _) => r.Model!)
            .WithTrackingName(Steps.Model);
        context.RegisterSourceOutput(models, static (spc, model) =>
            spc.AddSource(model.FullName + ".g.cs", Emitter.Emit(model)));

        // A network with errors gets no kernels but, when its class can take them, the same public members with bodies
        // that throw: code that uses the network then compiles, and the CG diagnostics are its only errors.
        var stubs = results
            .Where(static r => r.Stub is not null)
            .Select(static (r, _) => r.Stub!)
            .WithTrackingName(Steps.Stub);
        context.RegisterSourceOutput(stubs, static (spc, stub) =>
            spc.AddSource(stub.FullName + ".g.cs", StubEmitter.Emit(stub)));
    }
}

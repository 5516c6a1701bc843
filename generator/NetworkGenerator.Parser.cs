using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Threading;
using ConvGen.Generator.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace ConvGen.Generator;

// Stage 1: attributes → NetworkSpec. Reads only what the user wrote; judging it is the validator's job.
public sealed partial class NetworkGenerator
{
    internal static partial class Parser
    {
        private static readonly Dictionary<string, LayerKind> s_layerAttributes = new()
        {
            ["ConvAttribute"] = LayerKind.Conv,
            ["ReluAttribute"] = LayerKind.Relu,
            ["SigmoidAttribute"] = LayerKind.Sigmoid,
            ["TanhAttribute"] = LayerKind.Tanh,
            ["MaxPoolAttribute"] = LayerKind.MaxPool,
            ["AvgPoolAttribute"] = LayerKind.AvgPool,
            ["GlobalAvgPoolAttribute"] = LayerKind.GlobalAvgPool,
            ["FlattenAttribute"] = LayerKind.Flatten,
            ["LinearAttribute"] = LayerKind.Linear,
        };

        /// <summary>
        /// Reads one annotated type. Returns null for the second and later partial declarations of a type that carries
        /// <c>[Input]</c> on several of them, so each network is generated once.
        /// </summary>
        public static NetworkSpec? Parse(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
        {
            if (context.TargetSymbol is not INamedTypeSymbol type || context.TargetNode is not TypeDeclarationSyntax node)
                return null;
            var attributes = ConvGenAttributes(type);
            int inputIndex = attributes.FindIndex(a => a.AttributeClass!.Name == "InputAttribute");
            var firstInput = inputIndex < 0 ? null : attributes[inputIndex];
            if (firstInput?.ApplicationSyntaxReference?.SyntaxTree != node.SyntaxTree
                || !node.Span.Contains(firstInput.ApplicationSyntaxReference.Span))
                return null;

            var diagnostics = new List<DiagnosticInfo>();
            CheckTypeShape(type, node, context.SemanticModel.Compilation, diagnostics);
            // The generated files use C# 10 (file-scoped namespaces and more); older versions would fail in them.
            if (node.SyntaxTree.Options is CSharpParseOptions { LanguageVersion: var version } && version < LanguageVersion.CSharp10)
                diagnostics.Add(new DiagnosticInfo(Diagnostics.LanguageVersionTooLow.Id, SourceSite.Class, new[] { type.Name, version.ToDisplayString() }.ToEquatableArray()));

            var input = ReadArguments(firstInput);
            var layers = new List<LayerSpec>();
            int index = 0;
            for (int i = 0; i < attributes.Count; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (!s_layerAttributes.TryGetValue(attributes[i].AttributeClass!.Name, out var kind)) continue;
                layers.Add(ReadLayer(kind, index++, i, attributes[i]));
            }

            // An attribute the compiler could not bind (wrong argument types or count) has already produced a compiler
            // error; the generator then adds no diagnostic of its own, and only a stub without kernels (Validator).
            bool bindingErrors = attributes.Any(a => a.AttributeConstructor is null);
            if (bindingErrors)
                diagnostics.Add(new DiagnosticInfo(Diagnostics.AttributeBindingFailed, null, EquatableArray<string>.Empty));

            // No source positions are kept: a comment or method body edited above the network must leave this spec
            // equal, so that no later step re-runs. Diagnostics carry SourceSites, placed by the Reporter.
            return new NetworkSpec(
                Namespace: type.ContainingNamespace.IsGlobalNamespace ? null : type.ContainingNamespace.ToDisplayString(),
                ClassName: type.Name,
                MetadataName: MetadataNameOf(type),
                Accessibility: SyntaxFacts.GetText(type.DeclaredAccessibility),
                InputChannels: input.Get("channels"),
                InputHeight: input.Get("height"),
                InputWidth: input.Get("width"),
                InputAttribute: inputIndex,
                Layers: layers.ToEquatableArray(),
                ParseDiagnostics: diagnostics.ToEquatableArray());
        }

        /// <summary>
        /// The type's ConvGen attributes in the order every stage numbers them: by file path, then source position.
        /// <see cref="SourceSite.Attribute"/> indexes this list, here and in the Reporter.
        /// </summary>
        public static List<AttributeData> ConvGenAttributes(INamedTypeSymbol type)
            => type.GetAttributes()
                .Where(a => a.ApplicationSyntaxReference is not null && IsConvGenAttribute(a))
                .OrderBy(a => a.ApplicationSyntaxReference!.SyntaxTree.FilePath, System.StringComparer.Ordinal)
                .ThenBy(a => a.ApplicationSyntaxReference!.Span.Start)
                .ToList();

        /// <summary>The CLR metadata name (<c>N.Outer+Inner`1</c>) under which the Reporter looks the type up again.</summary>
        public static string MetadataNameOf(INamedTypeSymbol type)
        {
            string name = type.MetadataName;
            var outermost = type;
            for (var t = type.ContainingType; t is not null; t = t.ContainingType)
            {
                name = t.MetadataName + "+" + name;
                outermost = t;
            }
            for (var ns = outermost.ContainingNamespace; ns is { IsGlobalNamespace: false }; ns = ns.ContainingNamespace)
                name = ns.MetadataName + "." + name;
            return name;
        }

        /// <summary>Metadata names of the layer attributes, for the pipeline that finds layers without [Input].</summary>
        public static IEnumerable<string> LayerAttributeNames => s_layerAttributes.Keys.Select(k => "ConvGen." + k);

        /// <summary>
        /// CG0011 for a type with layer attributes but no [Input]: reported once, at the type's first layer attribute
        /// (this transform runs once per attribute type found on it).
        /// </summary>
        public static TypeDiagnostics? ParseOrphan(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
        {
            if (context.TargetSymbol is not INamedTypeSymbol type || context.TargetNode is not TypeDeclarationSyntax node) return null;
            var attributes = ConvGenAttributes(type);
            if (attributes.Any(a => a.AttributeClass!.Name == "InputAttribute")) return null;
            var first = attributes.First();
            if (!SymbolEqualityComparer.Default.Equals(first.AttributeClass, context.Attributes[0].AttributeClass)
                || first.ApplicationSyntaxReference!.SyntaxTree != node.SyntaxTree
                || !node.Span.Contains(first.ApplicationSyntaxReference.Span))
                return null;
            return new TypeDiagnostics(MetadataNameOf(type), new[]
            {
                new DiagnosticInfo(Diagnostics.MissingInput.Id, new SourceSite(0), new[] { type.Name }.ToEquatableArray()),
            }.ToEquatableArray());
        }

        private static bool IsConvGenAttribute(AttributeData attribute)
            => attribute.AttributeClass is { ContainingNamespace: { Name: "ConvGen", ContainingNamespace.IsGlobalNamespace: true } };

        private static LayerSpec ReadLayer(LayerKind kind, int index, int attributeIndex, AttributeData attribute)
        {
            var a = ReadArguments(attribute);
            return kind switch
            {
                LayerKind.Conv => new LayerSpec(kind, index, attributeIndex,
                    KernelHeight: a.Get("kh"), KernelWidth: a.Get("kw"), In: a.Get("in"), Out: a.Get("out"),
                    Stride: a.Get("stride", 1), Pad: a.Get("pad"), Dilation: a.Get("dilation", 1), Groups: a.Get("groups", 1),
                    Bias: a.GetBool("bias", true), Same: a.GetBool("Same", false)),
                LayerKind.MaxPool or LayerKind.AvgPool => new LayerSpec(kind, index, attributeIndex,
                    KernelHeight: a.Get("size"), KernelWidth: a.Get("size"), Stride: a.Get("stride"), Pad: a.Get("pad")),
                LayerKind.Linear => new LayerSpec(kind, index, attributeIndex,
                    In: a.Get("in"), Out: a.Get("out"), Bias: a.GetBool("bias", true)),
                _ => new LayerSpec(kind, index, attributeIndex),
            };
        }

        /// <summary>Argument values by parameter or property name.</summary>
        private sealed class Arguments
        {
            public readonly Dictionary<string, object?> Values = new();

            public int Get(string name, int fallback = 0) => Values.TryGetValue(name, out var v) && v is int i ? i : fallback;
            public bool GetBool(string name, bool fallback) => Values.TryGetValue(name, out var v) && v is bool b ? b : fallback;
        }

        private static Arguments ReadArguments(AttributeData attribute)
        {
            var result = new Arguments();
            var parameters = attribute.AttributeConstructor?.Parameters ?? ImmutableArray<IParameterSymbol>.Empty;
            for (int i = 0; i < parameters.Length && i < attribute.ConstructorArguments.Length; i++)
                result.Values[parameters[i].Name] = attribute.ConstructorArguments[i].Value;
            foreach (var named in attribute.NamedArguments)
                result.Values[named.Key] = named.Value.Value;
            return result;
        }

        /// <summary>
        /// The syntax of the argument written for parameter or property <paramref name="name"/> (by <c>name:</c>,
        /// <c>Name =</c> or position), or null when it was left at its default.
        /// </summary>
        public static AttributeArgumentSyntax? FindArgument(AttributeData attribute, AttributeSyntax syntax, string name)
        {
            if (syntax.ArgumentList is not { } list) return null;
            var parameters = attribute.AttributeConstructor?.Parameters ?? ImmutableArray<IParameterSymbol>.Empty;
            for (int i = 0; i < list.Arguments.Count; i++)
            {
                var argument = list.Arguments[i];
                string? written = argument.NameColon?.Name.Identifier.ValueText
                    ?? argument.NameEquals?.Name.Identifier.ValueText
                    ?? (i < parameters.Length ? parameters[i].Name : null);
                if (written == name) return argument;
            }
            return null;
        }
    }
}

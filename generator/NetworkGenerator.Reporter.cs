using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Threading;
using ConvGen.Generator.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace ConvGen.Generator;

// The diagnostics branch's last step: DiagnosticInfo (IDs, message arguments, SourceSites) → Diagnostic. The cached
// pipeline values hold no source positions (they would change with every edit above a network); the exact location of
// the attribute argument at fault is found here, against the compilation being built.
public sealed partial class NetworkGenerator
{
    internal static class Reporter
    {
        public static void Report(SourceProductionContext context, Compilation compilation, TypeDiagnostics diagnostics)
        {
            if (diagnostics.Items.Count == 0) return;
            var sites = new SiteLocator(compilation, diagnostics.MetadataName, context.CancellationToken);
            foreach (var d in diagnostics.Items)
            {
                var descriptor = Diagnostics.ById(d.Id);
                if (descriptor is null) continue;
                var properties = d.FixValue is null ? null
                    : ImmutableDictionary<string, string?>.Empty.Add(Diagnostics.FixValueKey, d.FixValue);
                context.ReportDiagnostic(Diagnostic.Create(descriptor, sites.Locate(d.Site), properties, d.MessageArgs.Items.Cast<object>().ToArray()));
            }
        }

        /// <summary>
        /// Turns <see cref="SourceSite"/>s of one type into locations in the compilation's own syntax trees (so
        /// <c>#pragma warning disable</c> and per-file <c>.editorconfig</c> severities apply, as for any compiler
        /// diagnostic). The type and its attributes are looked up once, and only for a type that has diagnostics.
        /// </summary>
        private sealed class SiteLocator(Compilation compilation, string metadataName, CancellationToken cancellationToken)
        {
            private List<AttributeData>? _attributes;

            private List<AttributeData> Attributes => _attributes ??= Type is { } type ? Parser.ConvGenAttributes(type) : new List<AttributeData>();

            public Location Locate(SourceSite? site)
            {
                if (site is null) return Location.None;
                if (site == SourceSite.BaseType) return BaseType() ?? ClassName();
                if (site.IsMember) return Member(site.Argument ?? "") ?? ClassName();
                if (site.Attribute < 0) return ClassName();
                if (site.Attribute >= Attributes.Count) return Location.None;
                var attribute = Attributes[site.Attribute];
                if (attribute.ApplicationSyntaxReference?.GetSyntax(cancellationToken) is not AttributeSyntax syntax) return Location.None;
                var argument = site.Argument is null ? null : Parser.FindArgument(attribute, syntax, site.Argument);
                return (argument ?? (SyntaxNode)syntax).GetLocation();
            }

            private INamedTypeSymbol? _type;
            private bool _typeLooked;

            /// <summary>The type the diagnostics are about, looked up once.</summary>
            private INamedTypeSymbol? Type
            {
                get
                {
                    if (!_typeLooked) (_type, _typeLooked) = (compilation.Assembly.GetTypeByMetadataName(metadataName), true);
                    return _type;
                }
            }

            /// <summary>The base list entry that names the class's base type (in whichever partial declaration has it).</summary>
            private Location? BaseType()
            {
                if (Type is not { BaseType: { } baseType } type) return null;
                foreach (var reference in type.DeclaringSyntaxReferences)
                    if (reference.GetSyntax(cancellationToken) is TypeDeclarationSyntax { BaseList.Types: { Count: > 0 } types } declaration
                        && SymbolEqualityComparer.Default.Equals(compilation.GetSemanticModel(declaration.SyntaxTree).GetTypeInfo(types[0].Type, cancellationToken).Type, baseType))
                        return types[0].GetLocation();
                return null;
            }

            /// <summary>The identifier of the member a <see cref="SourceSite.Member"/> names (<c>name#ordinal</c>).</summary>
            private Location? Member(string site)
            {
                int hash = site.LastIndexOf('#');
                if (Type is not { } type || hash < 0 || !int.TryParse(site.Substring(hash + 1), out int ordinal)) return null;
                string name = site.Substring(0, hash);
                var member = type.GetMembers().Where(m => m.Name == name && !m.IsImplicitlyDeclared && m.Locations.Any(l => l.IsInSource)).ElementAtOrDefault(ordinal);
                return member?.Locations.FirstOrDefault(l => l.IsInSource);
            }

            /// <summary>The identifier of the declaration that carries the first [Input]: the one the parser read.</summary>
            private Location ClassName()
            {
                var input = Attributes.FirstOrDefault(a => a.AttributeClass!.Name == "InputAttribute") ?? Attributes.FirstOrDefault();
                var declaration = input?.ApplicationSyntaxReference?.GetSyntax(cancellationToken).FirstAncestorOrSelf<TypeDeclarationSyntax>();
                return declaration?.Identifier.GetLocation() ?? Location.None;
            }
        }
    }
}

using System.Collections.Generic;
using System.Linq;
using ConvGen.Generator.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace ConvGen.Generator;

// Stage 1, the class itself: whether the declaration can take the generated part at all (CG0001, CG0002). Each rule
// stands for a compiler error the generated file would otherwise raise, reported here at the user's code instead.
public sealed partial class NetworkGenerator
{
    internal static partial class Parser
    {
        private static void CheckTypeShape(INamedTypeSymbol type, TypeDeclarationSyntax node, Compilation compilation, List<DiagnosticInfo> diagnostics)
        {
            void UnsupportedAt(SourceSite site, string why) => diagnostics.Add(new DiagnosticInfo(Diagnostics.UnsupportedType.Id, site,
                new[] { type.Name, why }.ToEquatableArray()));
            void Unsupported(string why) => UnsupportedAt(SourceSite.Class, why);

            if (node is RecordDeclarationSyntax) Unsupported("records are not supported; declare a 'partial class'");
            else if (node is not ClassDeclarationSyntax) Unsupported($"{(node.Keyword.ValueText.StartsWith("i", System.StringComparison.Ordinal) ? "an" : "a")} {node.Keyword.ValueText} is not supported; declare a 'partial class'");
            else if (type.IsStatic) Unsupported("a static class cannot hold parameters; remove 'static'");
            if (type.ContainingType is not null) Unsupported("nested types are not supported yet; declare the network at namespace level");
            if (type.TypeParameters.Length > 0) Unsupported("generic types are not supported: every shape must be a constant");
            // Read once for all the imported names: every tree's global usings, bound (only the global namespace needs them).
            var globalUsings = type.ContainingNamespace.IsGlobalNamespace ? GlobalUsings(compilation) : new List<GlobalUsing>();
            foreach (var (name, arity, meant, inExpressions) in Emit.ImportedNames.All)
                if (Hider(type, compilation, globalUsings, name, arity, meant, inExpressions) is { } hider)
                    UnsupportedAt(hider.Site, $"{hider.What} hides '{meant}', which the generated code names '{name}'; rename it or declare the network in another namespace");
            if (Emit.GeneratedMembers.Why(type.Name) is { } reserved)
                Unsupported($"the name is reserved for members ConvGen adds to the class ({reserved}), and no member may have its class's name; rename the class");
            if (type.IsFileLocal)
                Unsupported("a file-local type is not supported: the generated part, in a file of its own, would declare a second type; remove 'file'");
            if (type.DeclaringSyntaxReferences.Any(r => r.GetSyntax() is TypeDeclarationSyntax { ParameterList: not null }))
                Unsupported($"a primary constructor is not supported: the generated constructor {type.Name}(int seed = 0) would have to call it; declare an ordinary constructor that calls this(seed) instead");
            if (type.GetAttributes().Any(a => a.AttributeClass?.ToDisplayString() == "System.CodeDom.Compiler.GeneratedCodeAttribute"))
                Unsupported("it carries [GeneratedCode], which the generated part adds itself (an attribute may appear once); remove it");
            if (type.TypeKind == TypeKind.Class) CheckBase(type, compilation, UnsupportedAt);
            CheckMembers(type, UnsupportedAt);
            if (!node.Modifiers.Any(SyntaxKind.PartialKeyword))
                diagnostics.Add(new DiagnosticInfo(Diagnostics.NotPartial.Id, SourceSite.Class, new[] { type.Name }.ToEquatableArray()));
        }

        /// <summary>
        /// The base classes, up to <c>object</c>: none may be a network (the generated members would hide its own,
        /// CS0108) or have an accessible member that clashes with a generated one (CS0108, CS0114, CS0534), and the direct
        /// base needs an accessible constructor callable without arguments, which the generated constructor calls (CS7036).
        /// Reported once per rule, at the base type in the base list.
        /// </summary>
        private static void CheckBase(INamedTypeSymbol type, Compilation compilation, System.Action<SourceSite, string> unsupportedAt)
        {
            if (type.BaseType is not { SpecialType: not SpecialType.System_Object, TypeKind: not TypeKind.Error, IsStatic: false } direct) return;
            if (!direct.InstanceConstructors.Any(c => c.Parameters.All(p => p.IsOptional || p.IsParams) && compilation.IsSymbolAccessibleWithin(c, type)))
                unsupportedAt(SourceSite.BaseType, $"its base class '{direct.Name}' has no accessible constructor that takes no arguments, which the generated constructor calls; add one");
            for (var b = direct; b is { SpecialType: not SpecialType.System_Object, TypeKind: not TypeKind.Error }; b = b.BaseType)
            {
                if (b.GetAttributes().Any(a => IsConvGenAttribute(a) && a.AttributeClass!.Name == "InputAttribute"))
                {
                    unsupportedAt(SourceSite.BaseType, $"it derives from the network '{b.Name}', whose generated members it would hide with its own; derive both from a class that is not a network, or hold one network in a field of the other");
                    return;
                }
                foreach (var member in b.GetMembers())
                    if (!member.IsImplicitlyDeclared && compilation.IsSymbolAccessibleWithin(member, type) && Clash(member, inherited: true) is { } reserved)
                    {
                        unsupportedAt(SourceSite.BaseType, $"its base class '{b.Name}' has a member '{NameOf(member)}' that clashes with a member ConvGen adds to the class ({reserved}); rename it");
                        return;
                    }
            }
        }

        /// <summary>
        /// The class's own members against the generated ones: a member named like one (<see cref="Clash"/>), an explicit
        /// implementation of an <c>INetwork</c> member the generated part implements, a constructor with the generated one's
        /// signature, and a constructor that does not call another (<c>this(…)</c>), which would leave the parameters the
        /// generated constructor creates unallocated.
        /// </summary>
        private static void CheckMembers(INamedTypeSymbol type, System.Action<SourceSite, string> unsupportedAt)
        {
            var seen = new Dictionary<string, int>();
            foreach (var member in type.GetMembers())
            {
                if (member.IsImplicitlyDeclared || !member.Locations.Any(l => l.IsInSource)) continue;
                seen.TryGetValue(member.Name, out int ordinal);
                seen[member.Name] = ordinal + 1;
                var site = SourceSite.Member(member.Name, ordinal);
                if (member is IMethodSymbol { MethodKind: MethodKind.Constructor } ctor)
                {
                    // A primary constructor is the class's own, reported on it (CheckTypeShape). A partial constructor (C# 14)
                    // has its initializer on the implementing part; without one, the compiler's error stands alone.
                    if (ctor.IsPartialDefinition && ctor.PartialImplementationPart is null) continue;
                    var declarations = new[] { ctor, ctor.PartialImplementationPart }.Where(c => c is not null)
                        .SelectMany(c => c!.DeclaringSyntaxReferences).Select(r => r.GetSyntax()).OfType<ConstructorDeclarationSyntax>().ToList();
                    if (declarations.Count == 0) continue;
                    string signature = $"{type.Name}({string.Join(", ", ctor.Parameters.Select(Parameter))})";
                    if (ctor.Parameters.Length == 1 && ctor.Parameters[0] is { RefKind: RefKind.None, Type.SpecialType: SpecialType.System_Int32 })
                        unsupportedAt(site, $"its constructor {signature} has the signature of the one ConvGen generates, {type.Name}(int seed = 0); remove it, or give it other parameters and call this(seed)");
                    else if (!declarations.Any(d => d.Initializer is { RawKind: (int)SyntaxKind.ThisConstructorInitializer }))
                        unsupportedAt(site, $"its constructor {signature} does not call this(seed), so the parameters the generated constructor creates would never exist; add ': this(seed)'");
                    continue;
                }
                var implemented = member switch
                {
                    IMethodSymbol { MethodKind: MethodKind.ExplicitInterfaceImplementation } m => m.ExplicitInterfaceImplementations.Cast<ISymbol>(),
                    IPropertySymbol p => p.ExplicitInterfaceImplementations,
                    _ => Enumerable.Empty<ISymbol>(),
                };
                if (implemented.FirstOrDefault(i => i.ContainingType.ToDisplayString() == "ConvGen.INetwork" && System.Array.IndexOf(Emit.GeneratedMembers.ExplicitlyImplemented, i.Name) >= 0) is { } generated)
                    unsupportedAt(site, $"its explicit implementation of INetwork.{generated.Name} clashes with the generated part's, which implements it; remove it");
                else if (Clash(member) is { } reserved)
                    unsupportedAt(site, $"its member '{NameOf(member)}' clashes with a member ConvGen adds to the class ({reserved}); rename it");
            }
        }

        /// <summary>
        /// Why <paramref name="member"/>, the class's own or (<paramref name="inherited"/>) a base class's, clashes with a
        /// generated member, or null (<see cref="Emit.GeneratedMembers.WhyMember"/>, <see cref="Emit.GeneratedMembers.WhyInherited"/>).
        /// Accessors, operators, finalizers and explicit implementations have names no generated member has; an indexer
        /// goes by its metadata name (<c>Item</c>, or what <c>[IndexerName]</c> says).
        /// </summary>
        private static string? Clash(ISymbol member, bool inherited = false)
        {
            if (member is IMethodSymbol { MethodKind: not MethodKind.Ordinary }) return null;
            string name = NameOf(member);
            string? signature = member is IMethodSymbol method ? Emit.GeneratedMembers.Signature(method.Arity, method.Parameters.Select(Parameter)) : null;
            int typeArity = member is INamedTypeSymbol t ? t.Arity : 0;
            return inherited ? Emit.GeneratedMembers.WhyInherited(name, signature, typeArity) : Emit.GeneratedMembers.WhyMember(name, signature, typeArity);
        }

        /// <summary>The name a member takes among the class's members: an indexer's is its metadata name (<c>Item</c>, or what <c>[IndexerName]</c> says).</summary>
        private static string NameOf(ISymbol member) => member is IPropertySymbol { IsIndexer: true } ? member.MetadataName : member.Name;

        /// <summary>A parameter as overloading tells them apart: by-reference or not, and the type without nullable annotations.</summary>
        private static string Parameter(IParameterSymbol p)
            => (p.RefKind == RefKind.None ? "" : "ref ") + p.Type.WithNullableAnnotation(NullableAnnotation.NotAnnotated).ToDisplayString();

        /// <summary>
        /// What C#'s lookup of <paramref name="name"/> (with <paramref name="arity"/> type parameters) finds, in the
        /// generated partial class <paramref name="type"/>, before <paramref name="meant"/>, which the generated file's
        /// <c>using</c> directives import, and where to report it; null when nothing comes first. In order: a member of
        /// the class (from the user's part) or an accessible one of a base class (<see cref="Hides"/>); a type or namespace
        /// of the network's own namespace, from any assembly, which C# looks up before the file's usings (they stand inside
        /// the namespace); and <c>System</c> in an enclosing namespace, where C# resolves the usings' own first names. For a
        /// network in the global namespace, also the project's global usings (<see cref="GlobalUsingHider"/>).
        /// </summary>
        private static (string What, SourceSite Site)? Hider(INamedTypeSymbol type, Compilation compilation, List<GlobalUsing> globalUsings, string name, int arity, string meant, bool inExpressions)
        {
            for (var t = type; t is { SpecialType: not SpecialType.System_Object }; t = t.BaseType)
            {
                bool own = SymbolEqualityComparer.Default.Equals(t, type);
                if (t.GetMembers(name).FirstOrDefault(m => Hides(m, arity, meant, inExpressions) && (own || compilation.IsSymbolAccessibleWithin(m, type))) is not null)
                    return own ? ($"the class's own member '{name}'", SourceSite.Class) : ($"the base class's member '{t.Name}.{name}'", SourceSite.BaseType);
            }
            // The compilation's namespace merges every assembly's; the type's own sees only its module's types.
            for (INamespaceSymbol? ns = type.ContainingNamespace; ns is not null; ns = ns.ContainingNamespace)
            {
                bool own = SymbolEqualityComparer.Default.Equals(ns, type.ContainingNamespace);
                if (!own && name != "System") continue;
                foreach (var found in compilation.GetCompilationNamespace(ns)?.GetMembers(name) ?? Enumerable.Empty<INamespaceOrTypeSymbol>())
                {
                    bool same = found is INamespaceSymbol ? arity == 0 : found is INamedTypeSymbol t && t.Arity == arity && IsVisibleTo(t, type);
                    if (same && found.OriginalDefinition.ToDisplayString() != meant) return ($"'{found.ToDisplayString()}'", SourceSite.Class);
                }
            }
            return GlobalUsingHider(type, compilation, globalUsings, name, arity, meant, inExpressions);
        }

        /// <summary>
        /// Whether <paramref name="member"/> comes before the imported name in C#'s lookup: a nested type of that arity or,
        /// where the generated code writes the name in an expression (<paramref name="inExpressions"/>), a method of that
        /// arity (any, for arity 0) or another member (for arity 0), unless that member's type is the very type meant (C#
        /// then reads the name as the type: <c>public MethodImplOptions MethodImplOptions</c> is fine).
        /// </summary>
        private static bool Hides(ISymbol member, int arity, string meant, bool inExpressions) => member switch
        {
            INamedTypeSymbol nested => nested.Arity == arity,
            IMethodSymbol method => inExpressions && (arity == 0 || method.Arity == arity),
            IFieldSymbol { Type: var t } => inExpressions && arity == 0 && t.OriginalDefinition.ToDisplayString() != meant,
            IPropertySymbol { Type: var t } => inExpressions && arity == 0 && t.OriginalDefinition.ToDisplayString() != meant,
            IEventSymbol { Type: var t } => inExpressions && arity == 0 && t.OriginalDefinition.ToDisplayString() != meant,
            _ => false,
        };

        /// <summary>
        /// For a network in the global namespace, whose generated file's usings stand beside the project's global usings
        /// (in a namespace they come first, see <c>Emitter.FileHeader</c>): a global alias of the name, a globally
        /// imported namespace with a visible type of that name and arity, which would make the name ambiguous, or a
        /// type's member brought in by <c>global using static</c> that <see cref="Hides"/> the name. The caller passes
        /// no usings for a network in a namespace.
        /// </summary>
        private static (string What, SourceSite Site)? GlobalUsingHider(INamedTypeSymbol type, Compilation compilation, List<GlobalUsing> globalUsings, string name, int arity, string meant, bool inExpressions)
        {
            foreach (var (alias, imported, isStatic) in globalUsings)
            {
                if (alias is not null)
                {
                    if (arity == 0 && alias == name) return ($"the global using alias '{name}'", SourceSite.Class);
                    continue;
                }
                string how = $"imported by 'global using {(isStatic ? "static " : "")}{imported?.ToDisplayString()};',";
                if (isStatic && imported is INamedTypeSymbol holder)
                {
                    if (holder.GetMembers(name).Any(m => (m.IsStatic || m is INamedTypeSymbol) && Hides(m, arity, meant, inExpressions) && compilation.IsSymbolAccessibleWithin(m, type)))
                        return ($"'{holder.ToDisplayString()}.{name}', {how}", SourceSite.Class);
                }
                else if (!isStatic && imported is INamespaceSymbol ns)
                {
                    foreach (var found in ns.GetTypeMembers(name, arity))
                        if (IsVisibleTo(found, type) && found.OriginalDefinition.ToDisplayString() != meant)
                            return ($"'{found.ToDisplayString()}', {how}", SourceSite.Class);
                }
            }
            return null;
        }

        /// <summary>A <c>global using</c> directive: its alias name, or what it imports (a namespace, or a type when static).</summary>
        private readonly record struct GlobalUsing(string? Alias, ISymbol? Imported, bool IsStatic);

        /// <summary>Every global using directive of the compilation, each bound once.</summary>
        private static List<GlobalUsing> GlobalUsings(Compilation compilation)
        {
            var result = new List<GlobalUsing>();
            foreach (var tree in compilation.SyntaxTrees)
            {
                if (tree.GetRoot() is not CompilationUnitSyntax root) continue;
                foreach (var directive in root.Usings)
                {
                    if (directive.GlobalKeyword.IsKind(SyntaxKind.None)) continue;
                    if (directive.Alias is { } alias) result.Add(new GlobalUsing(alias.Name.Identifier.ValueText, null, false));
                    else if (directive.Name is not null)
                        result.Add(new GlobalUsing(null, compilation.GetSemanticModel(tree).GetSymbolInfo(directive.Name).Symbol,
                            directive.StaticKeyword.IsKind(SyntaxKind.StaticKeyword)));
                }
            }
            return result;
        }

        /// <summary>Whether code in <paramref name="within"/>'s assembly can see <paramref name="t"/> (only those take part in the lookup).</summary>
        private static bool IsVisibleTo(INamedTypeSymbol t, INamedTypeSymbol within)
            => SymbolEqualityComparer.Default.Equals(t.ContainingAssembly, within.ContainingAssembly)
               || t.DeclaredAccessibility == Accessibility.Public || t.ContainingAssembly.GivesAccessTo(within.ContainingAssembly);
    }
}

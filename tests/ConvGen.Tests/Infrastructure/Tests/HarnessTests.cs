using System;
using System.Linq;
using ConvGen.Tests.Reference;
using Microsoft.CodeAnalysis;
using Xunit;
using Xunit.Sdk;

namespace ConvGen.Tests.Infrastructure.Tests;

/// <summary>The harness fails loudly, loads into the default context, and the checker notices wrong semantics.</summary>
public sealed class HarnessTests
{
    private const string Usings = "using ConvGen;\nnamespace H;\n";

    [Fact]
    public void LoadedNetworkImplementsTheTestsOwnINetwork()
    {
        var assembly = GeneratorHarness.CompileAndLoad(Usings + "[Input(2, 5, 5)]\n[Conv(3, 3, 2, 4, pad: 1)]\npublic partial class A { }\n");
        var net = GeneratorHarness.CreateNetwork(assembly, "H.A", seed: 1);
        Assert.Contains(typeof(INetwork), net.GetType().GetInterfaces());
        Assert.Same(typeof(INetwork).Assembly, net.GetType().GetInterfaces().Single(i => i.Name == "INetwork").Assembly);
        Assert.Equal(50, net.InputLength);
    }

    [Fact]
    public void CompileErrorsFailWithTheErrorAndItsLine()
    {
        var e = Assert.Throws<FailException>(() => GeneratorHarness.CompileAndLoad(Usings + "public class B { int M() => \"no\"; }\n"));
        Assert.Contains("CS0029", e.Message, StringComparison.Ordinal);
        Assert.Contains("| public class B", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void GeneratorErrorsFailCompileAndLoad()
    {
        // 3 input channels declared, the conv wants 4: the generator reports an error instead of generating.
        const string source = Usings + "[Input(3, 5, 5)]\n[Conv(3, 3, 4, 4)]\npublic partial class C { }\n";
        var run = GeneratorHarness.Run(source);
        Assert.Contains(run.Diagnostics, d => d.Severity == DiagnosticSeverity.Error);
        var e = Assert.Throws<FailException>(() => GeneratorHarness.CompileAndLoad(run));
        Assert.Contains("generator reported errors", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MissingTypeFailsClearly()
    {
        var assembly = GeneratorHarness.CompileAndLoad(Usings + "[Input(1, 3, 3)]\n[Relu]\npublic partial class D { }\n");
        var e = Assert.Throws<XunitException>(() => GeneratorHarness.CreateNetwork(assembly, "H.Nope"));
        Assert.Contains("H.Nope", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CheckerNoticesWrongSemantics()
    {
        // Network compiled from one spec, checked against another with the same shapes: must be reported.
        var specs = new[]
        {
            Spec("P0", new ConvSpec(3, 3, 4, 4, Pad: 1)),
            Spec("P1", new ConvSpec(3, 3, 4, 4, Pad: 2, Dilation: 2)),
            Spec("P2", new ConvSpec(2, 2, 4, 4, Pad: 1), new PoolSpec(true, 2)),
            Spec("P3", new ConvSpec(2, 2, 4, 4, Pad: 1), new PoolSpec(false, 2)),
            Spec("P4", new ConvSpec(3, 3, 4, 4, Pad: 1), new ActivationSpec(RefActivationKind.Relu)),
            Spec("P5", new ConvSpec(3, 3, 4, 4, Pad: 1), new ActivationSpec(RefActivationKind.Tanh)),
            // On 11×11, "same" pads (1, 2) and pad 2 pads (2, 2): both give 6×6.
            Spec("P6", new ConvSpec(4, 4, 4, 4, Stride: 2, Same: true)) with { H = 11, W = 11 },
            Spec("P7", new ConvSpec(4, 4, 4, 4, Stride: 2, Pad: 2)) with { H = 11, W = 11 },
        };
        var compiled = new CompiledNetworks(specs, "H.Pairs", chunks: 1);
        for (int i = 0; i < specs.Length; i += 2)
        {
            var (a, b) = (specs[i], specs[i + 1]);
            Assert.Null(NetworkCheck.Check(compiled.Create(a.Name), a, batch: 2, seed: 1));
            Assert.Null(NetworkCheck.Check(compiled.Create(b.Name), b, batch: 2, seed: 1));
            Assert.Equal(a.Output, b.Output);
            string? report = NetworkCheck.Check(compiled.Create(a.Name), b with { Name = a.Name }, batch: 2, seed: 1);
            Assert.NotNull(report);
            Assert.Contains("values differ", report, StringComparison.Ordinal);
            Assert.Contains($"[{b.Layers[0].Attribute}]", report, StringComparison.Ordinal); // names the whole config
        }
    }

    private static NetworkSpec Spec(string name, params LayerSpec[] layers) => new(name, 4, 9, 10, layers);
}

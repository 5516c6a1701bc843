using System;
using System.Linq;
using Xunit;

namespace ConvGen.Tests.Backward;

/// <summary>A Conv with 5 channels fills 3 unused lanes of its 8-channel block with sigmoid(0) = 0.5.</summary>
[Input(3, 6, 6)]
[Conv(3, 3, @in: 3, @out: 5), Sigmoid, Flatten, Linear(80, 4)]
public partial class SigmoidHead;

/// <summary>A grouped conv whose output blocks straddle groups, so its packed weights hold structural zeros.</summary>
[Input(12, 5, 5)]
[Conv(3, 3, @in: 12, @out: 12, groups: 2), Tanh, Flatten, Linear(108, 3)]
public partial class StraddlingGroups;

/// <summary>
/// The packed layouts hold padding slots (unused lanes, structural zeros of grouped convs) that must keep a zero
/// gradient, or an optimizer step moves them away from zero and Forward no longer computes the PyTorch-layout network.
/// </summary>
[Trait("Category", "Correctness")]
public sealed class PaddingSlotTests
{
    [Theory]
    [InlineData(typeof(SigmoidHead))]
    [InlineData(typeof(StraddlingGroups))]
    public void GradientsOfPaddingSlotsStayZero(Type type)
    {
        var net = (INetwork)Activator.CreateInstance(type, 3)!;
        var random = new Random(5);
        const int batch = 3;
        var x = Enumerable.Range(0, batch * net.InputLength).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var y = new float[batch * net.OutputLength];
        var g = Enumerable.Range(0, y.Length).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        net.ZeroGrad();
        net.Forward(x, y, batch);
        net.Backward(g, Span<float>.Empty, batch);
        foreach (var p in net.Parameters)
        {
            var mask = p.Layout.SlotMask();
            int nonzero = Enumerable.Range(0, mask.Length).Count(i => mask[i] == 0 && p.Gradient[i] != 0);
            Assert.True(nonzero == 0, $"{type.Name} {p.Name}: {nonzero} padding slots got a gradient");
            Assert.Contains(p.Gradient, v => v != 0); // and the real slots did get one
        }
    }
}

using System;
using System.Linq;
using ConvGen.Tests.Infrastructure;
using Xunit;

namespace ConvGen.Tests;

/// <summary>
/// Every randomized network gives the same bits on 1 and 2 threads: a recorded Forward's output, ∂x and every parameter
/// gradient after its Backward, and an unrecorded Forward's output. At batch 13 on 2 threads the batch is cut into
/// shares (2 × 6 samples and a rest of 1, or 2 × 4 and a rest of 5 with a Linear layer), so a kernel whose result
/// depended on where a range of samples starts or ends would show here where these networks' sizes put a cut where it
/// matters. (They do not for the element-wise kernels' tails: their stand-alone activations hold multiples of 8 floats
/// per share. ForwardRuntimeTests.ActivationStepsGiveTheSameBitsOnAnyThreadCount covers those.) Not in the AVX2-off pass
/// (Category=Correctness), which runs the far slower scalar twins: they split work the same way.
/// </summary>
[Collection(nameof(Sequential))]
public sealed class ThreadCountTests
{
    private const int Batch = 13;

    [Theory]
    [MemberData(nameof(RandomizedNetworkTests.CaseData), MemberType = typeof(RandomizedNetworkTests))]
    public void RandomizedNetworksGiveTheSameBitsOnOneAndTwoThreads(int index, string label)
    {
        _ = label;
        var spec = RandomizedNetworkTests.Cases[index].Spec;
        var probe = RandomizedNetworkTests.Compiled.Value.Create(spec.Name);
        var random = new Random(1_000 + index);
        var x = NetworkCheck.RandomInput(random, Batch * probe.InputLength);
        var g = NetworkCheck.RandomInput(random, Batch * probe.OutputLength);
        float[][] single, multi;
        using (new MaxThreadsScope(1)) single = Run(spec.Name, x, g);
        using (new MaxThreadsScope(2)) multi = Run(spec.Name, x, g);
        string[] what = ["output", "∂x", "unrecorded output", .. probe.Parameters.Select(p => p.Name + " gradient")];
        for (int i = 0; i < single.Length; i++)
        {
            int bad = NetworkCheck.FirstBitDifference(single[i], multi[i]);
            Assert.True(bad < 0, $"{spec.Name}: {what[i]}[{bad}] is {(bad < 0 ? 0 : multi[i][bad]):R} on 2 threads, {(bad < 0 ? 0 : single[i][bad]):R} on 1");
        }
    }

    /// <summary>The output, ∂x, the unrecorded output and every parameter gradient of a fresh network (seed 3).</summary>
    private static float[][] Run(string name, float[] x, float[] g)
    {
        var net = RandomizedNetworkTests.Compiled.Value.Create(name, seed: 3);
        var y = new float[g.Length];
        net.Forward(x, y, Batch);
        var dx = new float[x.Length];
        net.Backward(g, dx, Batch);
        var inferred = new float[g.Length];
        net.Infer(x, inferred, Batch);
        return [y, dx, inferred, .. net.Parameters.Select(p => p.Gradient.ToArray())];
    }
}

using System;
using System.Linq;
using System.Threading;
using ConvGen.Tests.Infrastructure;
using ConvGen.Tests.Networks;
using Xunit;

namespace ConvGen.Tests;

/// <summary>Tests that change <see cref="Parallelism.MaxThreads"/> or measure allocations run alone.</summary>
[CollectionDefinition(nameof(Sequential), DisableParallelization = true)]
public sealed class Sequential;

/// <summary>Forward is allocation-free once warm and safe to call concurrently on one instance.</summary>
[Collection(nameof(Sequential))]
public sealed class ForwardRuntimeTests
{
    private static float[] Input(int batch, int perSample, int seed) => NetworkCheck.RandomInput(new Random(seed), batch * perSample);

    [Theory]
    [InlineData(1, 1)]
    [InlineData(1, 4)]
    [InlineData(0, 1)] // 0: the default (processor count)
    [InlineData(0, 4)]
    [InlineData(4, 3)]
    public void WarmForwardAllocatesNothing(int maxThreads, int batch)
    {
        using var scope = new MaxThreadsScope(maxThreads > 0 ? maxThreads : null);
        foreach (INetwork net in new INetwork[] { new MixedNet(seed: 5), new LeNet(seed: 5) })
        {
            var input = Input(batch, net.InputLength, 11);
            var output = new float[batch * net.OutputLength];
            for (int i = 0; i < 30; i++) net.Forward(input, output, batch); // warm: workspace sized, JIT done

            var rounds = Allocations.UntilQuiet(() =>
            {
                for (int i = 0; i < 20; i++) net.Forward(input, output, batch);
            });
            Assert.True(rounds[^1] == 0,
                $"{net.GetType().Name}: {string.Join(" / ", rounds)} bytes allocated on the calling thread by three rounds of 20 warm Forward calls (MaxThreads {Parallelism.MaxThreads}, batch {batch}).");
        }
    }

    [Fact]
    public void WorkerThreadsDoNotAllocatePerCall()
    {
        // GetAllocatedBytesForCurrentThread only sees the caller; the pool's workers are checked process-wide. Other
        // threads of the test host allocate a little now and then (a few hundred bytes per round even with MaxThreads = 1),
        // so the bound is "less than one object per call" over the quietest of several rounds, not zero.
        var net = new MixedNet(seed: 6);
        const int batch = 4, calls = 100;
        var input = Input(batch, MixedNet.InputLength, 12);
        var output = new float[batch * MixedNet.OutputLength];
        for (int i = 0; i < 30; i++) net.Forward(input, output, batch);

        long quietest = long.MaxValue;
        for (int round = 0; round < 6; round++)
        {
            long before = GC.GetTotalAllocatedBytes(precise: true);
            for (int i = 0; i < calls; i++) net.Forward(input, output, batch);
            quietest = Math.Min(quietest, GC.GetTotalAllocatedBytes(precise: true) - before);
        }
        Assert.True(quietest < 24 * calls,
            $"{calls} warm Forward calls allocated at least {quietest} bytes process-wide (MaxThreads {Parallelism.MaxThreads}).");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(0)]
    public void ConcurrentCallsMatchSequentialResults(int maxThreads)
    {
        using var scope = new MaxThreadsScope(maxThreads > 0 ? maxThreads : null);
        var net = new MixedNet(seed: 9);
        const int threads = 4, iterations = 15;
        // Different batch sizes per thread, so each thread's workspace differs too.
        var inputs = Enumerable.Range(0, threads).Select(t => Input(t + 1, MixedNet.InputLength, 100 + t)).ToArray();
        var expected = inputs.Select((x, t) =>
        {
            var y = new float[(t + 1) * MixedNet.OutputLength];
            net.Forward(x, y, t + 1);
            return y;
        }).ToArray();

        var failures = new string?[threads];
        using var start = new Barrier(threads);
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            try
            {
                var y = new float[expected[t].Length];
                start.SignalAndWait();
                for (int i = 0; i < iterations && failures[t] is null; i++)
                {
                    y.AsSpan().Clear();
                    net.Forward(inputs[t], y, t + 1);
                    int bad = NetworkCheck.FirstBitDifference(expected[t], y);
                    if (bad >= 0) failures[t] = $"thread {t}, iteration {i}: output[{bad}] = {y[bad]:R}, sequential gave {expected[t][bad]:R}";
                }
            }
            catch (Exception e) { failures[t] = $"thread {t}: {e}"; }
        })).ToList();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => w.Join());
        Assert.All(failures, f => Assert.Null(f));
    }

    /// <summary>
    /// A recorded Forward gives the same bits on any number of threads; at batch 13 it runs in shares of whole 4-sample
    /// groups (MixedNet ends in a Linear layer), the rest split step by step.
    /// </summary>
    [Theory]
    [InlineData(1, 3)]
    [InlineData(2, 3)]
    [InlineData(3, 3)]
    [InlineData(2, 13)]
    [InlineData(3, 13)]
    public void ResultsDoNotDependOnThreadCount(int maxThreads, int batch)
    {
        using var scope = new MaxThreadsScope(null);
        var net = new MixedNet(seed: 4);
        var x = Input(batch, MixedNet.InputLength, 77);
        Parallelism.MaxThreads = 1;
        var single = new float[batch * MixedNet.OutputLength];
        net.Forward(x, single, batch);
        Parallelism.MaxThreads = maxThreads;
        var multi = new float[single.Length];
        net.Forward(x, multi, batch);
        Assert.Equal(single, multi);
    }

    /// <summary>
    /// Backward gives the same bits on any number of threads: every weight gradient is summed in an order fixed by the
    /// network and the batch (LeNet's convolutions in 8 chunks of ∂Z rows, at batch 5 cut inside samples; its Linear
    /// layers by blocks of weights), never by how the work was spread. At batch 13 the per-sample steps between them
    /// run in shares of whole 4-sample groups (2 or 3 shares of 4, the rest split step by step), which must not change
    /// how the Linear layers' ∂X tiles sum either.
    /// </summary>
    [Theory]
    [InlineData(2, 5)]
    [InlineData(3, 5)]
    [InlineData(2, 13)]
    [InlineData(3, 13)]
    public void GradientsDoNotDependOnThreadCount(int maxThreads, int batch)
    {
        using var scope = new MaxThreadsScope(null);
        var x = Input(batch, LeNet.InputLength, 78);
        var r = Input(batch, LeNet.OutputLength, 79);
        Parallelism.MaxThreads = 1;
        var single = Gradients(new LeNet(seed: 6), x, r, batch);
        Parallelism.MaxThreads = maxThreads;
        var multi = Gradients(new LeNet(seed: 6), x, r, batch);
        for (int i = 0; i < single.Length; i++) Assert.Equal(single[i], multi[i]);
    }

    /// <summary>
    /// A Tanh or Sigmoid step of its own over 25 floats per sample: at batch 13 on 2 threads the shares cut the batch
    /// inside a vector of 8, and the floats after the last whole vector of a range must come out as the vector loop
    /// computes them (a scalar tail computed with MathF, and the Sigmoid gradient in another order, changed 1–25 floats).
    /// Outputs, ∂x and the weight gradients are the same bits as on one thread.
    /// </summary>
    [Theory]
    [InlineData(nameof(TanhFirstNet))]
    [InlineData(nameof(SigmoidFirstNet))]
    public void ActivationStepsGiveTheSameBitsOnAnyThreadCount(string name)
    {
        INetwork Create() => name == nameof(TanhFirstNet) ? new TanhFirstNet(seed: 8) : new SigmoidFirstNet(seed: 8);
        const int batch = 13;
        var x = Input(batch, Create().InputLength, 82);
        var r = Input(batch, Create().OutputLength, 83);
        float[] single = new float[r.Length], inferred = new float[r.Length], recordedSingle = new float[r.Length], recorded = new float[r.Length];
        float[][] singleGradients;
        using (new MaxThreadsScope(1))
        {
            singleGradients = Gradients(Create(), x, r, batch);
            Create().Infer(x, single, batch);
            Create().Forward(x, recordedSingle, batch);
        }
        using var scope = new MaxThreadsScope(2);
        Create().Infer(x, inferred, batch);
        Assert.Equal(single, inferred);
        Create().Forward(x, recorded, batch);
        Assert.Equal(recordedSingle, recorded);
        var multiGradients = Gradients(Create(), x, r, batch);
        for (int i = 0; i < singleGradients.Length; i++) Assert.Equal(singleGradients[i], multiGradients[i]);
    }

    /// <summary>
    /// A caller may pass ∂loss/∂input over its ∂loss/∂output. With no parameter gradient between them, one run of
    /// per-sample steps reads the one and writes the other: it must not be shared among threads then (at batch 13 on 2
    /// threads, 896 of 6,656 floats of ∂x came out wrong when it was).
    /// </summary>
    [Fact]
    public void InputGradientMayOverwriteTheOutputGradient()
    {
        using var scope = new MaxThreadsScope(2);
        const int batch = 13;
        var x = Input(batch, PoolOnlyNet.InputLength, 84);
        var g = Input(batch, PoolOnlyNet.OutputLength, 85);
        var net = new PoolOnlyNet(seed: 1);
        var y = new float[g.Length];
        net.Forward(x, y, batch);
        var expected = new float[x.Length];
        net.Backward(g, expected, batch);
        var shared = new float[x.Length];
        g.CopyTo(shared, 0);
        net.Backward(shared.AsSpan(0, g.Length), shared, batch);
        Assert.Equal(expected, shared);
    }

    /// <summary>
    /// Backward uses the input as the recorded Forward saw it, though the caller overwrites it in between: LeNet's
    /// recorded Forward reads the caller's input in place (Backward reads only its padded copy), DepthwiseNet's keeps
    /// a copy (its weight gradient reads the input itself).
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void BackwardUsesTheInputAsRecorded(bool lenet)
    {
        INetwork Create() => lenet ? new LeNet(seed: 3) : new DepthwiseNet(seed: 3);
        const int batch = 3;
        var reference = Create();
        var x = Input(batch, reference.InputLength, 80);
        var r = Input(batch, reference.OutputLength, 81);
        var expected = Gradients(reference, x, r, batch);
        var actual = Gradients(Create(), x, r, batch, afterForward: input => Array.Fill(input, float.NaN));
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i]);
    }

    /// <summary>∂x and every parameter's gradient after a recorded Forward of a copy of <paramref name="x"/> and a Backward of <paramref name="r"/>.</summary>
    private static float[][] Gradients(INetwork net, float[] x, float[] r, int batch, Action<float[]>? afterForward = null)
    {
        var input = x.ToArray();
        net.Forward(input, new float[batch * net.OutputLength], batch);
        afterForward?.Invoke(input);
        var dx = new float[input.Length];
        net.Backward(r, dx, batch);
        return [dx, .. net.Parameters.Select(p => p.Gradient.ToArray())];
    }

    [Fact]
    public void BatchOfOneEqualsSliceOfBigBatch()
    {
        var net = new LeNet(seed: 2);
        const int batch = 5;
        var x = Input(batch, LeNet.InputLength, 8);
        var all = new float[batch * LeNet.OutputLength];
        net.Forward(x, all, batch);
        for (int n = 0; n < batch; n++)
        {
            var one = new float[LeNet.OutputLength];
            net.Forward(x.AsSpan(n * LeNet.InputLength, LeNet.InputLength), one, 1);
            // Kernels may tile batches differently, so allow rounding differences, not more.
            for (int k = 0; k < one.Length; k++)
                Assert.True(Math.Abs(one[k] - all[n * LeNet.OutputLength + k]) <= 1e-5f * (1 + Math.Abs(one[k])),
                            $"sample {n}, output {k}: alone {one[k]}, in the batch {all[n * LeNet.OutputLength + k]}");
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void ABatchInPassesEqualsTheRecordedForward(int maxThreads)
    {
        // 6 samples of WideNet run in 6 passes through one sample's workspace; the recorded Forward runs them in one,
        // every tensor in its own region. The same kernels compute every sample either way: the results agree exactly.
        Assert.True(WideNet.SamplesPerPass == 1 && WideNet.SinglePassBatch == 2,
            $"WideNet should run 6 samples in passes of 1 (SamplesPerPass {WideNet.SamplesPerPass}, SinglePassBatch {WideNet.SinglePassBatch})");
        AssertPassesMatchRecorded(seed => new WideNet(seed), batch: 6, maxThreads);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void PassesKeepTheLinearKernelsSampleTiles(int maxThreads)
    {
        // 0.7 MB per sample would make passes of 5; the Linear kernel sums a tile of fewer than 4 samples in another
        // order, so passes of 5 rounded samples 4, 9, … differently. Passes of 4 (and a last one of 3) agree exactly.
        Assert.True(WideLinearNet.SamplesPerPass == 4 && WideLinearNet.SinglePassBatch == 23,
            $"WideLinearNet should run 27 samples in passes of 4 (SamplesPerPass {WideLinearNet.SamplesPerPass}, SinglePassBatch {WideLinearNet.SinglePassBatch})");
        AssertPassesMatchRecorded(seed => new WideLinearNet(seed), batch: 27, maxThreads);
    }

    /// <summary>
    /// An unrecorded Forward on several threads hands each an equal share of whole samples (of 4-sample groups with a
    /// Linear layer, the kernel's tiles) and runs what is left after them with each step split across the threads:
    /// MixedNet's 15 samples as 2 shares of 4 and a rest of 7, or 3 shares of 4 and a rest of 3; DepthwiseNet's 5 as 2
    /// shares of 2 and a rest of 1; WideNet's 7 (passes of 1 each) as 3 shares of 2 and a rest of 1. Every sample comes
    /// out as the recorded Forward, one pass on one thread, computes it.
    /// </summary>
    [Theory]
    [InlineData(nameof(MixedNet), 15, 2)]
    [InlineData(nameof(MixedNet), 15, 3)]
    [InlineData(nameof(DepthwiseNet), 5, 2)]
    [InlineData(nameof(WideNet), 7, 3)]
    public void SharesOfABatchAmongThreadsEqualTheRecordedForward(string name, int batch, int maxThreads)
    {
        Func<int, INetwork> create = name switch
        {
            nameof(MixedNet) => seed => new MixedNet(seed),
            nameof(DepthwiseNet) => seed => new DepthwiseNet(seed),
            _ => seed => new WideNet(seed),
        };
        var recordedNet = create(4);
        var x = Input(batch, recordedNet.InputLength, 12);
        var recorded = new float[batch * recordedNet.OutputLength];
        using (new MaxThreadsScope(1)) recordedNet.Forward(x, recorded, batch);
        using var scope = new MaxThreadsScope(maxThreads);
        var shared = new float[recorded.Length];
        create(4).Infer(x, shared, batch);
        Assert.Equal(recorded, shared);
    }

    /// <summary>
    /// The kernels reach the weights and gradients through pointers into pinned arrays, which do not keep them alive: a
    /// network whose caller drops it while its call runs (<c>new N().Infer(…)</c>, a loop's last Backward) must live
    /// until the call ends. Another thread collects and fills freed memory with NaN all the while; a network collected
    /// under its kernels would compute NaN or garbage from that memory, or crash the test host.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ANetworkItsCallerDropsLivesUntilItsCallEnds(bool backward)
    {
        using var scope = new MaxThreadsScope(2);
        const int batch = 8;
        var x = Input(batch, MixedNet.InputLength, 13);
        var g = Input(batch, MixedNet.OutputLength, 14);
        var expected = Run(x, g, backward);
        using var stop = new CancellationTokenSource();
        var collector = new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                GC.Collect();
                for (int i = 0; i < 16; i++) Array.Fill(GC.AllocateArray<float>(1 << 12, pinned: true), float.NaN);
                Thread.Sleep(1);
            }
        });
        collector.Start();
        try
        {
            for (int i = 0; i < 50; i++) Assert.Equal(expected, Run(x, g, backward));
        }
        finally
        {
            stop.Cancel();
            collector.Join();
        }
    }

    /// <summary>The output of an Infer, or the input gradient of a Backward, of a network nothing references after the call.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static float[] Run(float[] x, float[] g, bool backward)
    {
        int batch = g.Length / MixedNet.OutputLength;
        var y = new float[g.Length];
        if (!backward)
        {
            new MixedNet(seed: 5).Infer(x, y, batch);
            return y;
        }
        var net = new MixedNet(seed: 5);
        net.Forward(x, y, batch);
        var dx = new float[x.Length];
        net.Backward(g, dx, batch);
        return dx;
    }

    private static void AssertPassesMatchRecorded(Func<int, INetwork> create, int batch, int maxThreads)
    {
        using var scope = new MaxThreadsScope(maxThreads);
        var recordedNet = create(4);
        var x = Input(batch, recordedNet.InputLength, 11);
        var recorded = new float[batch * recordedNet.OutputLength];
        recordedNet.Forward(x, recorded, batch);
        var passes = new float[recorded.Length];
        var unrecorded = create(4);
        unrecorded.RecordForBackward = false;
        unrecorded.Forward(x, passes, batch);
        Assert.Equal(recorded, passes);
    }

    [Theory]
    [InlineData(nameof(DepthwiseNet), true)]
    [InlineData(nameof(DepthwiseNet), false)]
    [InlineData(nameof(SameShapeConvNet), true)]
    [InlineData(nameof(SameShapeConvNet), false)]
    public void OutputMayBeTheInputBuffer(string name, bool record)
    {
        // The unrecorded Forward of DepthwiseNet writes its last layer into the caller's output, and SameShapeConvNet's
        // kernel reads the caller's input in place; no output may be written while a layer still reads the input
        // from the same memory.
        INetwork Create() => name == nameof(DepthwiseNet) ? new DepthwiseNet(seed: 3) : new SameShapeConvNet(seed: 3);
        var net = Create();
        net.RecordForBackward = record;
        const int batch = 3;
        Assert.Equal(net.InputLength, net.OutputLength);
        var x = Input(batch, net.InputLength, 9);
        var separate = new float[x.Length];
        net.Forward(x, separate, batch);
        var expected = Create();
        var recorded = new float[x.Length];
        expected.Forward(x, recorded, batch);
        Assert.Equal(recorded, separate); // the unrecorded direct write and the recorded copy agree exactly

        var shared = (float[])x.Clone();
        net.Forward(shared, shared, batch);
        Assert.Equal(separate, shared);
    }

    [Fact]
    public void PassesOverInputChannelsGiveTheSameBitsOnAnyThreadCount()
    {
        // WidePointwiseNet keeps partial sums in its output between passes; work items that shared output pixels
        // (a panel and the overlapping vector after it) would read each other's partial sums when run at once. With
        // them in separate items this failed in 4 of 4 runs at 3 threads.
        var net = new WidePointwiseNet(seed: 4) { RecordForBackward = false };
        var x = Input(1, WidePointwiseNet.InputLength, 12);
        float[] Run(int threads, int times)
        {
            using var scope = new MaxThreadsScope(threads);
            var y = new float[WidePointwiseNet.OutputLength];
            var first = new float[y.Length];
            net.Forward(x, first, 1);
            for (int i = 0; i < times; i++)
            {
                net.Forward(x, y, 1);
                Assert.Equal(first, y);
            }
            return first;
        }
        var serial = Run(1, 1);
        Assert.Equal(serial, Run(2, 2000));
        Assert.Equal(serial, Run(3, 20000));
    }

    [Fact]
    public void InputGradientMayBeTheOutputGradientBuffer()
    {
        // DepthwiseNet's Backward reads the caller's ∂loss/∂output in place and writes ∂loss/∂input straight into the
        // caller's span; when both are one buffer it must copy ∂loss/∂output first, as it would otherwise overwrite it
        // while still reading it.
        const int batch = 3;
        var x = Input(batch, DepthwiseNet.InputLength, 9);
        var g = Input(batch, DepthwiseNet.OutputLength, 4);
        var y = new float[x.Length];
        (float[] InputGradient, float[] Weight, float[] Bias) Run(bool shared)
        {
            var net = new DepthwiseNet(seed: 3);
            net.Forward(x, y, batch);
            var buffer = (float[])g.Clone();
            var dx = shared ? buffer : new float[x.Length];
            net.Backward(buffer, dx, batch);
            if (!shared) Assert.Equal(g, buffer); // read, never written
            return (dx, net.Parameters[0].Gradient.ToArray(), net.Parameters[1].Gradient.ToArray());
        }
        var separate = Run(shared: false);
        var inPlace = Run(shared: true);
        Assert.Contains(separate.InputGradient, v => v != 0);
        Assert.Equal(separate.InputGradient, inPlace.InputGradient);
        Assert.Equal(separate.Weight, inPlace.Weight);
        Assert.Equal(separate.Bias, inPlace.Bias);
    }
}

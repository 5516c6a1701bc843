using System;
using System.Globalization;
using System.Linq;
using System.Text.RegularExpressions;
using System.Threading;
using ConvGen.Tests.Backward;
using ConvGen.Tests.Infrastructure;
using ConvGen.Tests.Networks;
using ConvGen.Tests.Reference;
using ConvGen.Training;
using Xunit;

namespace ConvGen.Tests;

/// <summary>
/// The Winograd F(2×2, 3×3) forward and backward-data kernels as users get them (<see cref="WinogradNet"/>, built by
/// the analyzer): against the float64 reference, and their transformed weights kept up to date however the weights
/// change. A fresh instance given the same weights transforms them from scratch, so "same bits as a fresh instance"
/// means nothing stale was read.
/// </summary>
[Trait("Category", "Correctness")]
[Collection(nameof(Sequential))] // sets Parallelism.MaxThreads, which is process-wide
public sealed class WinogradTests
{
    private static readonly NetworkSpec Spec = new("WinogradNet", 32, 6, 8,
        [new ConvSpec(3, 3, 32, 32, Pad: 1), new ActivationSpec(RefActivationKind.Relu), new ConvSpec(3, 3, 32, 64)]);

    private static float[] Input(int batch, int seed) => NetworkCheck.RandomInput(new Random(seed), batch * WinogradNet.InputLength);

    private static float[] Run(WinogradNet net, float[] x, int batch)
    {
        var y = new float[batch * WinogradNet.OutputLength];
        net.Forward(x, y, batch);
        return y;
    }

    /// <summary>A new instance holding <paramref name="source"/>'s packed values, bit for bit.</summary>
    private static WinogradNet CopyOf(WinogradNet source)
    {
        var copy = new WinogradNet(seed: 99);
        for (int p = 0; p < source.Parameters.Count; p++) source.Parameters[p].Values.CopyTo(copy.Parameters[p].Values, 0);
        return copy;
    }

    /// <summary>∂loss/∂input of a recorded Forward of <paramref name="x"/> and a Backward of <paramref name="outputGradient"/>.</summary>
    private static float[] InputGradient(WinogradNet net, float[] x, float[] outputGradient, int batch)
    {
        Run(net, x, batch);
        var inputGradient = new float[x.Length];
        net.Backward(outputGradient, inputGradient, batch);
        return inputGradient;
    }

    private static void AssertSameBits(float[] expected, float[] actual, string what)
    {
        int bad = NetworkCheck.FirstBitDifference(expected, actual);
        Assert.True(bad < 0, bad < 0 ? "" : $"{what}: output[{bad}] = {actual[bad]:R}, a fresh instance with the same weights gives {expected[bad]:R}");
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 0)] // 0: the default thread count
    public void MatchesReference(int batch, int maxThreads)
    {
        using var scope = new MaxThreadsScope(maxThreads > 0 ? maxThreads : null);
        string? failure = NetworkCheck.Check(new WinogradNet(), Spec, batch, seed: 31 + batch);
        if (failure is not null) Assert.Fail(failure);
    }

    /// <summary>
    /// Every gradient (the second layer's weight gradient by Winograd F(3×3, 2×2)) against the reference backward and
    /// finite differences, at 1 and 2 threads; and the same bits at both, as the backward kernels promise. One
    /// instance for both: the second Backward must start its Winograd sums afresh.
    /// </summary>
    [Fact]
    public void GradientsMatchTheReferenceWithTheSameBitsOnOneAndTwoThreads()
    {
        var net = new WinogradNet();
        float[][] Gradients(int threads)
        {
            using var scope = new MaxThreadsScope(threads);
            string? failure = GradientCheck.Check(net, Spec, batch: 3, seed: 51, probes: 2);
            if (failure is not null) Assert.Fail($"{threads} thread(s): {failure}");
            return net.Parameters.Select(p =>
            {
                var gradient = new float[p.Length];
                p.CopyGradientTo(gradient);
                return gradient;
            }).ToArray();
        }
        var one = Gradients(1);
        var two = Gradients(2);
        for (int p = 0; p < one.Length; p++) AssertSameBits(one[p], two[p], $"parameter {p}'s gradient at 2 threads against 1");
    }

    /// <summary>
    /// The Winograd weight gradient's work items are (group of 32 outputs, row of ξ) pairs, group-major, and a range
    /// of them transforms V once per row of ξ for all its groups; from a batch that holds 32 pixels of ∂Z per output
    /// channel (at least 2), each half of the batch has such items and a sum M of its own, and an odd batch's middle
    /// sample is split between the halves by rows of tiles. One M: 64→32 at 8×10, one group, so the four items are the
    /// rows of ξ alone (64 inputs, so that the weight is too large to be summed in chunks); 32→96, three groups, 12
    /// items, where 5 threads make ranges that start and end inside groups (at batch 1 and 2, and with halves at 39,
    /// three groups and their gaps in each M); 256→64 at 14×10, where V for all 16 ξ of a
    /// block (30 tiles × 256 channels) would pass 256 KiB, so every range transforms it a row of ξ at a time. Halves:
    /// 64→32 at 8×10 from batch 13 (one pass; 3 threads take items [2, 5) of the 8, across the halves); 32→64 at 38×38
    /// from batch 2, one sample per pass, so that batch 3 takes two passes, the second the middle sample's two parts;
    /// 64→32 at 2×64 from batch 8, one row of tiles (the middle sample of batch 25 all in half 1) and 12 samples per
    /// pass, so that each half's 13 take two passes.
    /// At each thread count: that the step's own arguments split into a part per thread (the measured hand-off set to
    /// 0); against the reference and finite differences, on data of its own (the sums are not cleared between calls,
    /// so a skipped item would leave the last call's sums behind, which data shared with that call would hide); then
    /// the gradients of one fixed batch, which must have the same bits at every thread count.
    /// </summary>
    [Theory]
    [InlineData(64, 32, 8, 10, 2, 13)]
    [InlineData(32, 96, 8, 10, 2, 39)]
    [InlineData(32, 96, 8, 10, 1, 39)]
    [InlineData(32, 96, 8, 10, 39, 39)]
    [InlineData(256, 64, 14, 10, 2, 15)]
    [InlineData(64, 32, 8, 10, 13, 13)]
    [InlineData(32, 64, 38, 38, 3, 2)]
    [InlineData(64, 32, 2, 64, 25, 8)]
    public void WeightGradientItemsSplitByHalvesOutputGroupsAndRowsOfXi(int inputs, int outputs, int height, int width, int batch, int halvesFrom)
    {
        var spec = new NetworkSpec($"WinogradGroups{inputs}x{outputs}x{height}", inputs, height, width, [new ConvSpec(3, 3, inputs, outputs, Pad: 1)]);
        var (code, network, _) = GeneratorHarness.GenerateNetwork(spec, "ConvGen.Dynamic.WinogradGroups");
        int itemsPerSum = 4 * outputs / 32, items = batch >= halvesFrom ? 2 * itemsPerSum : itemsPerSum;
        // The step's call, in the loop over passes of samples (the only For line without a comment).
        var step = Regex.Match(code, $@"Parallelism\.For\(\(batch >= {halvesFrom} \? {2 * itemsPerSum} : {itemsPerSum}\), &Back\d+, &frame, itemNanoseconds: ([\d.]+) \* batch\);\r?$", RegexOptions.Multiline);
        Assert.True(step.Success, "the weight gradient's step");
        double itemNanoseconds = batch * double.Parse(step.Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.Contains("∂ layer 0 weight, Winograd F(3×3, 2×2)", code);
        Assert.Equal(inputs < 256, code.Contains("InputAll(", StringComparison.Ordinal)); // V for all 16 ξ at once only within 256 KiB
        Assert.Equal(height == 38, code.Contains(" 1 sample(s) (of each half of the batch) per pass", StringComparison.Ordinal));
        Assert.Equal(height == 2, code.Contains(" 12 sample(s) (of each half of the batch) per pass", StringComparison.Ordinal));
        var x = NetworkCheck.RandomInput(new Random(62), batch * network.InputLength);
        var outputGradient = NetworkCheck.RandomInput(new Random(63), batch * network.OutputLength);
        float[][]? first = null;
        foreach (int threads in new[] { 1, 2, 3, 5 })
        {
            using var scope = new MaxThreadsScope(threads); // which clears the measured hand-off, so the steps split
            // The step's own arguments make a part per thread (at most one per item: 64→32 has 4 per sum), so the runs below split.
            Assert.Equal(Math.Min(threads, items), PartsOf(items, itemNanoseconds));
            string? failure = GradientCheck.Check(network, spec, batch, seed: 60 + threads, probes: 2);
            if (failure is not null) Assert.Fail($"{threads} thread(s): {failure}");
            network.ZeroGrad();
            network.Forward(x, new float[batch * network.OutputLength], batch);
            network.Backward(outputGradient, new float[x.Length], batch);
            var gradients = network.Parameters.Select(p => p.Gradient.ToArray()).ToArray();
            first ??= gradients;
            for (int p = 0; p < first.Length; p++) AssertSameBits(first[p], gradients[p], $"parameter {p}'s gradient at {threads} threads against 1");
        }
    }

    /// <summary>The parts <see cref="Parallelism.For"/> makes of <paramref name="count"/> items of the given estimate.</summary>
    private static unsafe int PartsOf(int count, double itemNanoseconds)
    {
        int parts = 0;
        Parallelism.For(count, &CountPart, &parts, itemNanoseconds);
        return parts;
    }

    private static unsafe void CountPart(void* state, int begin, int end) => Interlocked.Increment(ref *(int*)state);

    /// <summary>
    /// The widest row the Winograd kernel takes (128 KiB of transformed tiles, on the stack) on a thread with a 256 KiB
    /// stack, the work on that thread (one thread): with 256 KiB rows allowed, this ended the process with a stack overflow.
    /// </summary>
    [Fact]
    public void TheWidestRowRunsOnAThreadWithASmallStack()
    {
        using var scope = new MaxThreadsScope(1);
        var spec = new NetworkSpec("WinogradWideRowNet", 32, 2, 128, [new ConvSpec(3, 3, 32, 32, Pad: 1)]);
        string? failure = NetworkCheck.Check(new WinogradWideRowNet(), spec, batch: 1, seed: 41);
        if (failure is not null) Assert.Fail(failure);

        var net = new WinogradWideRowNet(seed: 5) { RecordForBackward = false };
        var x = NetworkCheck.RandomInput(new Random(12), WinogradWideRowNet.InputLength);
        var expected = new float[WinogradWideRowNet.OutputLength];
        net.Forward(x, expected, 1);
        var actual = new float[expected.Length];
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try { net.Forward(x, actual, 1); }
            catch (Exception e) { error = e; }
        }, maxStackSize: 256 << 10);
        thread.Start();
        thread.Join();
        Assert.Null(error);
        AssertSameBits(expected, actual, "on a 256 KiB stack");
    }

    [Fact]
    public void WeightsSetThroughCopyFromAreUsedByTheNextForward()
    {
        var net = new WinogradNet(seed: 1);
        var x = Input(2, 5);
        var before = Run(net, x, 2);
        // New values for the second layer's weights only: the first layer's transformed weights must stay valid.
        var weight = net.Parameters[2];
        var values = NetworkCheck.RandomInput(new Random(6), weight.Length);
        weight.CopyFrom(values);
        var after = Run(net, x, 2);
        Assert.NotEqual(before, after);
        AssertSameBits(Run(CopyOf(net), x, 2), after, "after CopyFrom");
    }

    [Fact]
    public void OneWeightWrittenDirectlyIntoValuesIsUsedByTheNextForward()
    {
        var net = new WinogradNet(seed: 2);
        var x = Input(1, 7);
        var before = Run(net, x, 1);
        // One packed weight of the first layer, in its last group of 32 output channels.
        var values = net.Parameters[0].Values;
        int k = values.Length - 5;
        float old = values[k];
        values[k] = old + 0.25f;
        var after = Run(net, x, 1);
        Assert.NotEqual(before, after);
        AssertSameBits(Run(CopyOf(net), x, 1), after, "after writing Values");
        // And back: the old weights give the old output again.
        values[k] = old;
        AssertSameBits(before, Run(net, x, 1), "after restoring Values");
    }

    [Fact]
    public void TrainingStepsChangeWhatForwardComputes()
    {
        var net = new WinogradNet(seed: 3);
        var x = Input(2, 8);
        var y = Run(net, x, 2);
        var gradient = NetworkCheck.RandomInput(new Random(9), y.Length);
        net.Backward(gradient, Span<float>.Empty, 2);
        var sgd = new Sgd(net.Parameters, learningRate: 0.1f);
        sgd.Step();
        AssertSameBits(Run(CopyOf(net), x, 2), Run(net, x, 2), "after an SGD step");
    }

    /// <summary>
    /// Backward-data transforms the weights itself (transposed and flipped), compared with its own copy: a weight
    /// written between two Backwards reaches ∂x, and writing it back restores the old ∂x.
    /// </summary>
    [Fact]
    public void OneWeightWrittenDirectlyIntoValuesIsUsedByTheNextBackward()
    {
        var net = new WinogradNet(seed: 4);
        var x = Input(1, 13);
        var outputGradient = NetworkCheck.RandomInput(new Random(14), WinogradNet.OutputLength);
        var before = InputGradient(net, x, outputGradient, 1);
        // One packed weight of each layer, in a block of 8 outputs after the first: both layers' backward-data kernels
        // run Winograd, the second's 64 outputs are its kernel's inputs.
        foreach (int p in new[] { 0, 2 })
        {
            var values = net.Parameters[p].Values;
            int k = values.Length - 300;
            float old = values[k];
            values[k] = old - 0.5f;
            var after = InputGradient(net, x, outputGradient, 1);
            Assert.NotEqual(before, after);
            AssertSameBits(InputGradient(CopyOf(net), x, outputGradient, 1), after, $"∂x after writing parameter {p}'s Values");
            values[k] = old;
            AssertSameBits(before, InputGradient(net, x, outputGradient, 1), $"∂x after restoring parameter {p}'s Values");
        }
    }

    [Fact]
    public void TrainingStepsChangeWhatBackwardComputes()
    {
        var net = new WinogradNet(seed: 6);
        var x = Input(2, 15);
        var outputGradient = NetworkCheck.RandomInput(new Random(16), 2 * WinogradNet.OutputLength);
        var sgd = new Sgd(net.Parameters, learningRate: 0.1f);
        for (int step = 0; step < 2; step++)
        {
            InputGradient(net, x, outputGradient, 2);
            sgd.Step();
            AssertSameBits(InputGradient(CopyOf(net), x, outputGradient, 2), InputGradient(net, x, outputGradient, 2), $"∂x after SGD step {step + 1}");
        }
    }

    /// <summary>
    /// The backward-data weights, transposed and flipped as they are transformed, against the forward transform of a
    /// layer whose weights are the transposed copy the direct backward-data kernel reads (<see cref="TransposedWeights.ForConv"/>):
    /// the same bits, made fresh, after one weight of a block in the middle changes, and after all of them change; with
    /// odd numbers of blocks of 8 outputs, on 1 and 2 threads.
    /// </summary>
    [Theory]
    [InlineData(40, 128, 2)]
    [InlineData(160, 96, 2)]
    [InlineData(8, 32, 1)]
    [InlineData(256, 256, 2)]
    public unsafe void DataGradWeightsAreTheTransformOfTheTransposedWeights(int outChannels, int inChannels, int maxThreads)
    {
        using var scope = new MaxThreadsScope(maxThreads);
        var random = new Random(outChannels + inChannels);
        var weight = new Parameter("weight", [outChannels, inChannels, 3, 3], ParameterLayout.ConvBlocked(outChannels, inChannels, 1, 3, 3));
        weight.CopyFrom(NetworkCheck.RandomInput(random, weight.Length));
        var dataGrad = WinogradWeights.ForConv3x3DataGrad(weight, inChannels);
        int length = 16 * outChannels * inChannels;

        float[] Expected()
        {
            var transposed = TransposedWeights.ForConv(weight, inChannels, groups: 1, kh: 3, kw: 3);
            transposed.Refresh();
            var asLayer = new Parameter("transposed", [inChannels, outChannels, 3, 3], ParameterLayout.ConvBlocked(inChannels, outChannels, 1, 3, 3));
            new ReadOnlySpan<float>(transposed.Pointer, asLayer.Values.Length).CopyTo(asLayer.Values);
            var forward = WinogradWeights.ForConv3x3(asLayer, outChannels);
            forward.Refresh();
            return new ReadOnlySpan<float>(forward.Pointer, length).ToArray();
        }
        void Check(string what)
        {
            dataGrad.Refresh();
            AssertSameBits(Expected(), new ReadOnlySpan<float>(dataGrad.Pointer, length).ToArray(), what);
        }

        Check("fresh");
        var values = weight.Values;
        values[values.Length / 2 + 7] += 0.5f;
        Check("after one weight changed");
        for (int k = 0; k < values.Length; k++) values[k] *= 0.75f;
        Check("after every weight changed");
    }

    [Fact]
    public void DataGradWeightsRejectShapesTheKernelDoesNotTake()
    {
        static Parameter Weight(int outChannels, int inChannels, int k = 3)
            => new("weight", [outChannels, inChannels, k, k], ParameterLayout.ConvBlocked(outChannels, inChannels, 1, k, k));
        var error = Assert.Throws<ArgumentException>(() => WinogradWeights.ForConv3x3DataGrad(Weight(36, 32), 32));
        Assert.Contains("[36, 32, 3, 3]", error.Message);
        Assert.Throws<ArgumentException>(() => WinogradWeights.ForConv3x3DataGrad(Weight(32, 40), 40)); // inputs not in groups of 32
        Assert.Throws<ArgumentException>(() => WinogradWeights.ForConv3x3DataGrad(Weight(32, 32), 64)); // not the layer's inputs
        Assert.Throws<ArgumentException>(() => WinogradWeights.ForConv3x3DataGrad(Weight(32, 32, 5), 32)); // 5x5
    }

    /// <summary>
    /// Threads calling Forward on one instance just after its weights changed: each refreshes the transformed weights
    /// before its kernels read them, and none reads them half rewritten by another.
    /// </summary>
    [Fact]
    public void ConcurrentForwardsAfterAWeightChangeAllSeeTheNewWeights()
    {
        using var scope = new MaxThreadsScope(null);
        const int threads = 4;
        var x = Input(1, 11);
        for (int round = 0; round < 10; round++)
        {
            var net = new WinogradNet(seed: 20 + round) { RecordForBackward = false };
            Run(net, x, 1);
            net.Parameters[2].CopyFrom(NetworkCheck.RandomInput(new Random(round), net.Parameters[2].Length));
            var expected = Run(CopyOf(net), x, 1);
            var results = new float[threads][];
            using var start = new Barrier(threads);
            var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
            {
                start.SignalAndWait();
                results[t] = Run(net, x, 1);
            })).ToList();
            workers.ForEach(w => w.Start());
            workers.ForEach(w => w.Join());
            for (int t = 0; t < threads; t++) AssertSameBits(expected, results[t], $"round {round}, thread {t}");
        }
    }
}

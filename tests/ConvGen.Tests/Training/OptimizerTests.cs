using System;
using System.Linq;
using ConvGen.Training;
using ConvGen.Tests.Infrastructure;
using Xunit;

namespace ConvGen.Tests.Training;

/// <summary>Optimizer rules checked by hand (the PyTorch trajectories are in <see cref="OptimizerPeerTests"/>), padding, validation, allocation.</summary>
public sealed class OptimizerTests
{
    private static Parameter Vector(float[] values)
    {
        var p = new Parameter("v", [values.Length], ParameterLayout.Vector(values.Length));
        p.CopyFrom(values);
        return p;
    }

    private static void SetGradient(Parameter p, float[] gradient) => p.Layout.Pack(gradient, p.Gradient);

    private static Optimizer[] AllKinds(Parameter[] ps) =>
    [
        new Sgd(ps, 0.1f),
        new Sgd(ps, 0.1f, momentum: 0.9, weightDecay: 0.1),
        new Sgd(ps, 0.1f, momentum: 0.9, weightDecay: 0.1, nesterov: true),
        new Sgd(ps, 0.1f, momentum: 0.9, dampening: 0.5, weightDecay: 0.1),
        new Adam(ps, 0.1f, weightDecay: 0.1),
        new AdamW(ps, 0.1f, weightDecay: 0.1),
    ];

    [Fact]
    [Trait("Category", "Correctness")]
    public void PaddingSlotsStayZeroUnderEveryRule()
    {
        // Conv, depthwise and linear layouts all have padding; ConvBlocked with 5 outputs pads lanes 5..7 of every vector.
        var random = new Random(1);
        for (int kind = 0; kind < 6; kind++)
        {
            var layouts = new[]
            {
                ParameterLayout.Vector(13), ParameterLayout.ConvBlocked(5, 3, 1, 3, 3), ParameterLayout.Depthwise(11, 3, 3),
                ParameterLayout.Linear(10, 3, 2, 2, blockedInput: true),
            };
            var ps = layouts.Select((l, i) => new Parameter($"p{i}", [l.Length], l)).ToArray();
            var padding = ps.Select(p =>
            {
                var used = new bool[p.Values.Length];
                for (int i = 0; i < p.Length; i++) used[p.Layout.PackedIndex(i)] = true;
                return Enumerable.Range(0, used.Length).Where(i => !used[i]).ToArray();
            }).ToArray();
            Assert.All(padding, slots => Assert.NotEmpty(slots));
            foreach (var p in ps) p.CopyFrom(Enumerable.Range(0, p.Length).Select(_ => (float)random.NextDouble() * 2 - 1).ToArray());
            var optimizer = AllKinds(ps)[kind];
            for (int step = 0; step < 20; step++)
            {
                foreach (var p in ps) SetGradient(p, Enumerable.Range(0, p.Length).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray());
                optimizer.Step();
            }
            for (int i = 0; i < ps.Length; i++)
            {
                foreach (int slot in padding[i])
                    Assert.True(BitConverter.SingleToInt32Bits(ps[i].Values[slot]) == 0,
                                $"{optimizer.GetType().Name} #{kind}: {ps[i].Name} padding slot {slot} is {ps[i].Values[slot]}");
                Assert.True(ps[i].Values.Where((_, j) => !padding[i].Contains(j)).All(float.IsFinite));
            }
        }
    }

    [Fact]
    [Trait("Category", "Correctness")]
    public void SgdStepsByHand()
    {
        var p = Vector([1f, -2f]);
        var sgd = new Sgd([p], 0.5f, momentum: 0.9, weightDecay: 0.1);
        SetGradient(p, [1f, 1f]);
        sgd.Step(); // d = g + 0.1p = [1.1, 0.8]; buffer = d; p -= 0.5 d
        Assert.Equal([0.45f, -2.4f], Values(p), Tolerance(1e-6f));
        sgd.Step(); // d = [1.045, 0.76]; buffer = 0.9·[1.1, 0.8] + d = [2.035, 1.48]; p -= 0.5·buffer
        Assert.Equal([0.45f - 0.5f * 2.035f, -2.4f - 0.5f * 1.48f], Values(p), Tolerance(1e-6f));
    }

    [Fact]
    [Trait("Category", "Correctness")]
    public void AdamFirstStepMovesEachValueByTheLearningRate()
    {
        // With bias correction, the first step is lr·g/(|g| + ε') ≈ lr·sign(g), whatever the gradient's size.
        var p = Vector([1f, 1f, 1f, 1f]);
        var adam = new Adam([p], 0.01f);
        SetGradient(p, [1e-3f, -5f, 1e3f, 0f]);
        adam.Step();
        Assert.Equal([0.99f, 1.01f, 0.99f, 1f], Values(p), Tolerance(1e-6f));
    }

    [Fact]
    [Trait("Category", "Correctness")]
    public void AdamWDecaysEvenWithoutGradient()
    {
        var p = Vector([2f, -4f]);
        var adamW = new AdamW([p], 0.1f, weightDecay: 0.5);
        adamW.Step(); // zero gradient: only p·(1 − 0.1·0.5)
        Assert.Equal([1.9f, -3.8f], Values(p), Tolerance(1e-6f));
        var adam = new Adam([p], 0.1f, weightDecay: 0.5); // coupled: the L2 gradient 0.5p goes through Adam's normalisation
        adam.Step();
        Assert.Equal([1.8f, -3.7f], Values(p), Tolerance(1e-5f));
    }

    [Fact]
    public void LearningRateAndStepCount()
    {
        var p = Vector([1f]);
        var sgd = new Sgd([p], 0.25f);
        Assert.Equal(0.25f, sgd.LearningRate);
        sgd.LearningRate = 0;
        SetGradient(p, [3f]);
        sgd.Step();
        Assert.Equal([1f], Values(p)); // lr 0: no change
        Assert.Equal(1, sgd.StepCount);
        Assert.Throws<ArgumentOutOfRangeException>(() => sgd.LearningRate = -1);
        Assert.Throws<ArgumentOutOfRangeException>(() => sgd.LearningRate = float.NaN);
        // The constructors name their own argument, not the property setter's "value".
        Assert.Equal("learningRate", Assert.Throws<ArgumentOutOfRangeException>(() => new Sgd([p], -1)).ParamName);
        Assert.Equal("learningRate", Assert.Throws<ArgumentOutOfRangeException>(() => new Adam([p], double.NaN)).ParamName);
        Assert.Equal("learningRate", Assert.Throws<ArgumentOutOfRangeException>(() => new AdamW([p], double.PositiveInfinity)).ParamName);
        sgd.ZeroGrad();
        Assert.All(p.Gradient, g => Assert.Equal(0f, g));
        Assert.Same(p, Assert.Single(sgd.Parameters));
    }

    [Fact]
    public void HyperparametersAreValidatedLikePyTorch()
    {
        var ps = new[] { Vector([1f]) };
        var e = Assert.Throws<ArgumentException>(() => new Sgd(ps, 0.1f, nesterov: true));
        Assert.Contains("Nesterov", e.Message);
        Assert.Throws<ArgumentException>(() => new Sgd(ps, 0.1f, momentum: 0.9, dampening: 0.1, nesterov: true));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Sgd(ps, -0.1f));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Sgd(ps, 0.1f, momentum: -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Sgd(ps, 0.1f, weightDecay: -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Adam(ps, beta1: 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Adam(ps, beta2: -0.1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new AdamW(ps, epsilon: double.NaN));
        // PyTorch takes 0; here a padding slot's update would be 0/0 (its v stays 0), so it is refused, saying why.
        var zero = Assert.Throws<ArgumentOutOfRangeException>(() => new Adam(ps, epsilon: 0));
        Assert.Contains("padding slots", zero.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new AdamW(ps, epsilon: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new AdamW(ps, weightDecay: -0.01));
        var twice = Assert.Throws<ArgumentException>(() => new Adam([ps[0], ps[0]]));
        Assert.Contains("more than once", twice.Message);
        Assert.Throws<ArgumentException>(() => new Adam([ps[0], null!]));
        Assert.Equal(0.01, new AdamW(ps).WeightDecay); // PyTorch's defaults
        Assert.Equal(0, new Adam(ps).WeightDecay);
        Assert.Equal(1e-3, new Adam(ps).LearningRate); // a double, as PyTorch's: not 1e-3f
    }

    [Fact]
    public void StepAllocatesNothing()
    {
        var ps = new[] { Vector(new float[1000]), Vector(new float[13]) };
        foreach (var optimizer in AllKinds(ps))
        {
            optimizer.Step();
            var rounds = Allocations.UntilQuiet(() =>
            {
                for (int i = 0; i < 10; i++) optimizer.Step();
            });
            Assert.True(rounds[^1] == 0, $"{optimizer.GetType().Name}.Step: {string.Join(" / ", rounds)} bytes allocated by rounds of 10 warm steps.");
        }
    }

    [Fact]
    [Trait("Category", "Correctness")]
    public void SchedulesFollowTheClosedForms()
    {
        var step = new StepLR(0.1, 3, 0.5);
        Assert.Equal([0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025], Enumerable.Range(0, 7).Select(step.LearningRateAt));
        var cosine = new CosineAnnealingLR(0.1, 4, 0.02);
        Assert.Equal(0.1, cosine.LearningRateAt(0));
        Assert.Equal(0.06, cosine.LearningRateAt(2), 15);
        Assert.Equal(0.02, cosine.LearningRateAt(4), 15);
        Assert.Equal(cosine.LearningRateAt(3), cosine.LearningRateAt(5), 15); // rises again past tMax, like PyTorch
        Assert.Throws<ArgumentOutOfRangeException>(() => step.LearningRateAt(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new StepLR(0.1f, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new CosineAnnealingLR(0.1f, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new CosineAnnealingLR(-0.1f, 3));
    }

    private static float[] Values(Parameter p)
    {
        var v = new float[p.Length];
        p.CopyTo(v);
        return v;
    }

    private static System.Collections.Generic.IEqualityComparer<float> Tolerance(float relative) => new RelativeComparer(relative);

    private sealed class RelativeComparer(float relative) : System.Collections.Generic.IEqualityComparer<float>
    {
        public bool Equals(float x, float y) => Math.Abs(x - y) <= relative * Math.Max(Math.Abs(x), Math.Abs(y));
        public int GetHashCode(float obj) => 0;
    }
}

/// <summary>
/// <see cref="Optimizer.Step"/> splits the packed floats into ranges of 4,096 and spreads them over the threads: a
/// large parameter must step exactly as the same floats held in many small parameters (one range each, offset 0),
/// on 1 thread and on 2.
/// </summary>
[Collection(nameof(Sequential))]
public sealed class OptimizerRangeTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void ALargeParameterStepsAsItsPiecesWould(int maxThreads)
    {
        const int length = 10_003, piece = 97;
        var random = new Random(5);
        float[] Draw() => Enumerable.Range(0, length).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        float[] values = Draw(), gradient1 = Draw(), gradient2 = Draw();
        using var scope = new MaxThreadsScope(maxThreads);
        var kinds = new Func<Parameter[], Optimizer>[]
        {
            ps => new Sgd(ps, 0.1f, momentum: 0.9, weightDecay: 0.1, nesterov: true),
            ps => new Sgd(ps, 0.1f, momentum: 0.9, dampening: 0.5),
            ps => new Adam(ps, 0.1f, weightDecay: 0.1),
            ps => new AdamW(ps, 0.1f, weightDecay: 0.1),
        };
        foreach (var kind in kinds)
        {
            var large = new Parameter("large", [length], ParameterLayout.Vector(length));
            large.CopyFrom(values);
            var pieces = Enumerable.Range(0, (length + piece - 1) / piece).Select(k =>
            {
                int n = Math.Min(piece, length - k * piece);
                var p = new Parameter($"piece{k}", [n], ParameterLayout.Vector(n));
                p.CopyFrom(values.AsSpan(k * piece, n));
                return p;
            }).ToArray();
            var one = kind([large]);
            var many = kind(pieces);
            foreach (var gradient in new[] { gradient1, gradient2 })
            {
                gradient.CopyTo(large.Gradient, 0);
                for (int k = 0; k < pieces.Length; k++) gradient.AsSpan(k * piece, pieces[k].Length).CopyTo(pieces[k].Gradient);
                one.Step();
                many.Step();
            }
            var expected = pieces.SelectMany(p => p.Values.Take(p.Length)).ToArray();
            Assert.Equal(expected, large.Values.Take(length).ToArray());
        }
    }
}

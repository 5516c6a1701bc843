using System;
using System.Linq;
using ConvGen.Training;
using ConvGen.Tests.Infrastructure;
using Xunit;

namespace ConvGen.Tests.Training;

/// <summary>SoftmaxCrossEntropy and MeanSquaredError against float64 references written here and finite differences.</summary>
[Trait("Category", "Correctness")]
public sealed class LossTests
{
    // ---------------------------------------------------------------- float64 references

    /// <summary>Mean cross-entropy and its gradient in double, straight from the definition (with the max shift).</summary>
    private static (double Loss, double[] Gradient) CrossEntropyReference(float[] logits, int[] labels, int classes)
    {
        int batch = labels.Length;
        double total = 0;
        var gradient = new double[logits.Length];
        for (int n = 0; n < batch; n++)
        {
            var row = logits.Skip(n * classes).Take(classes).Select(v => (double)v).ToArray();
            double max = row.Max();
            double[] e = row.Select(v => Math.Exp(v - max)).ToArray();
            double sum = e.Sum();
            total += -Math.Log(e[labels[n]] / sum);
            for (int j = 0; j < classes; j++) gradient[n * classes + j] = (e[j] / sum - (j == labels[n] ? 1 : 0)) / batch;
        }
        return (total / batch, gradient);
    }

    private static float[] RandomFloats(Random random, int count, double scale)
        => Enumerable.Range(0, count).Select(_ => (float)((random.NextDouble() * 2 - 1) * scale)).ToArray();

    private static void AssertClose(double expected, double actual, double relative, double absolute, string what)
        => Assert.True(Math.Abs(expected - actual) <= relative * Math.Abs(expected) + absolute,
                       $"{what}: expected {expected:R}, got {actual:R} (|diff| {Math.Abs(expected - actual):G3})");

    // ---------------------------------------------------------------- cross-entropy

    [Theory]
    [InlineData(1, 10, 1.0, 1)]
    [InlineData(8, 10, 3.0, 2)]
    [InlineData(33, 3, 10.0, 3)]
    [InlineData(5, 1000, 2.0, 4)]
    [InlineData(16, 10, 5000.0, 5)] // far beyond exp's range without the shift
    public void CrossEntropyMatchesFloat64Reference(int batch, int classes, double scale, int seed)
    {
        var random = new Random(seed);
        var logits = RandomFloats(random, batch * classes, scale);
        var labels = Enumerable.Range(0, batch).Select(_ => random.Next(classes)).ToArray();
        var (expectedLoss, expectedGradient) = CrossEntropyReference(logits, labels, classes);

        var gradient = new float[logits.Length];
        float loss = SoftmaxCrossEntropy.Compute(logits, labels, classes, gradient, out int correct);
        Assert.True(float.IsFinite(loss));
        AssertClose(expectedLoss, loss, 1e-6, 1e-7, "loss");
        for (int i = 0; i < gradient.Length; i++)
            AssertClose(expectedGradient[i], gradient[i], 1e-6, 1e-9, $"gradient[{i}]");
        int expectedCorrect = Enumerable.Range(0, batch)
            .Count(n => Array.IndexOf(logits, logits.Skip(n * classes).Take(classes).Max(), n * classes, classes) - n * classes == labels[n]);
        Assert.Equal(expectedCorrect, correct);
        // The gradient of each row sums to 0 (softmax sums to 1).
        for (int n = 0; n < batch; n++)
            Assert.True(Math.Abs(gradient.Skip(n * classes).Take(classes).Sum(v => (double)v)) < 1e-6);
    }

    [Fact]
    public void ByteAndIntLabelsGiveIdenticalResults()
    {
        var random = new Random(9);
        const int batch = 12, classes = 10;
        var logits = RandomFloats(random, batch * classes, 4);
        var ints = Enumerable.Range(0, batch).Select(_ => random.Next(classes)).ToArray();
        var bytes = ints.Select(v => (byte)v).ToArray();
        var g1 = new float[logits.Length];
        var g2 = new float[logits.Length];
        float l1 = SoftmaxCrossEntropy.Compute(logits, ints, classes, g1, out int c1);
        float l2 = SoftmaxCrossEntropy.Compute(logits, bytes, classes, g2, out int c2);
        Assert.Equal(l1, l2);
        Assert.Equal(g1, g2);
        Assert.Equal(c1, c2);
        Assert.Equal(c1, SoftmaxCrossEntropy.CountCorrect(logits, bytes, classes));
        Assert.Equal(l1, SoftmaxCrossEntropy.Compute(logits, bytes, classes, Span<float>.Empty)); // no gradient, same loss
    }

    [Fact]
    public void CrossEntropyGradientMatchesFiniteDifferences()
    {
        var random = new Random(21);
        const int batch = 4, classes = 6;
        var logits = RandomFloats(random, batch * classes, 2);
        var labels = Enumerable.Range(0, batch).Select(_ => (byte)random.Next(classes)).ToArray();
        var gradient = new float[logits.Length];
        SoftmaxCrossEntropy.Compute(logits, labels, classes, gradient);
        const float h = 1e-2f;
        for (int i = 0; i < logits.Length; i++)
        {
            var plus = (float[])logits.Clone();
            var minus = (float[])logits.Clone();
            plus[i] += h;
            minus[i] -= h;
            double numeric = ((double)SoftmaxCrossEntropy.Compute(plus, labels, classes, Span<float>.Empty)
                              - SoftmaxCrossEntropy.Compute(minus, labels, classes, Span<float>.Empty)) / (plus[i] - minus[i]);
            AssertClose(numeric, gradient[i], 0, 2e-4, $"∂loss/∂logits[{i}]");
        }
    }

    [Fact]
    public void CrossEntropyKnownValues()
    {
        // All logits equal: loss log(C), gradient (1/C − onehot)/batch, the first class predicted.
        var gradient = new float[8];
        float loss = SoftmaxCrossEntropy.Compute(new float[8], new byte[] { 0, 3 }, 4, gradient, out int correct);
        AssertClose(Math.Log(4), loss, 1e-7, 0, "uniform loss");
        Assert.Equal(1, correct); // argmax of a tie is the first index, as torch.argmax
        Assert.Equal([-0.375f, 0.125f, 0.125f, 0.125f, 0.125f, 0.125f, 0.125f, -0.375f], gradient);

        // A confident right answer costs ~0, a confident wrong one ~the margin; both exactly representable.
        float right = SoftmaxCrossEntropy.Compute(new float[] { 1000, 0 }, new byte[] { 0 }, 2, Span<float>.Empty);
        float wrong = SoftmaxCrossEntropy.Compute(new float[] { 1000, 0 }, new byte[] { 1 }, 2, Span<float>.Empty);
        Assert.Equal(0f, right);
        Assert.Equal(1000f, wrong);
    }

    [Fact]
    public void NonFiniteLogitsGiveNonFiniteLoss()
    {
        Assert.True(float.IsNaN(SoftmaxCrossEntropy.Compute(new[] { 0f, float.NaN, 1f }, new byte[] { 0 }, 3, Span<float>.Empty)));
        Assert.True(float.IsNaN(SoftmaxCrossEntropy.Compute(new[] { float.NaN, 0f, 1f }, new byte[] { 2 }, 3, Span<float>.Empty)));
        Assert.False(float.IsFinite(SoftmaxCrossEntropy.Compute(new[] { float.PositiveInfinity, 0f }, new byte[] { 1 }, 2, Span<float>.Empty)));
    }

    [Fact]
    public void CrossEntropyValidatesLengthsAndLabels()
    {
        var e = Assert.Throws<ArgumentException>(() => SoftmaxCrossEntropy.Compute(new float[39], new byte[4], 10, new float[40]));
        Assert.Equal("logits", e.ParamName);
        Assert.Contains("39", e.Message);
        Assert.Contains("40 = 4 labels × 10 classes", e.Message);
        Assert.Contains("not a whole number of samples", e.Message);

        // Logits of 2 samples with 1 label: the message counts the samples the logits hold.
        e = Assert.Throws<ArgumentException>(() => SoftmaxCrossEntropy.Compute(new float[20], new byte[1], 10, Span<float>.Empty));
        Assert.Contains("logits holds 20 floats = 2 samples × 10 classes, but labels holds 1 label: expected 10 = 1 label × 10 classes", e.Message);

        e = Assert.Throws<ArgumentException>(() => SoftmaxCrossEntropy.Compute(new float[40], new byte[4], 10, new float[30]));
        Assert.Equal("logitsGradient", e.ParamName);
        Assert.Contains("30", e.Message);
        Assert.Contains("expected 40", e.Message);

        e = Assert.Throws<ArgumentException>(() => SoftmaxCrossEntropy.Compute(new float[40], new byte[] { 0, 1, 10, 2 }, 10, Span<float>.Empty));
        Assert.Equal("labels", e.ParamName);
        Assert.Contains("Label 10 of sample 2", e.Message);

        e = Assert.Throws<ArgumentException>(() => SoftmaxCrossEntropy.Compute(new float[20], new[] { 0, -1 }, 10, Span<float>.Empty));
        Assert.Contains("Label -1 of sample 1", e.Message);

        e = Assert.Throws<ArgumentException>(() => SoftmaxCrossEntropy.Compute(Array.Empty<float>(), Array.Empty<byte>(), 10, Span<float>.Empty));
        Assert.Contains("empty", e.Message);

        Assert.Throws<ArgumentOutOfRangeException>(() => SoftmaxCrossEntropy.Compute(new float[4], new byte[4], 0, Span<float>.Empty));
    }

    [Fact]
    public void ABadLabelLeavesTheGradientAsItWasAndCountCorrectChecksLabelsToo()
    {
        // Sample 1's label is bad: every label is checked before row 0's gradient is written.
        var gradient = new float[20];
        Array.Fill(gradient, 42f);
        var e = Assert.Throws<ArgumentException>(() => SoftmaxCrossEntropy.Compute(new float[20], new byte[] { 1, 10 }, 10, gradient));
        Assert.Contains("Label 10 of sample 1", e.Message);
        Assert.All(gradient, g => Assert.Equal(42f, g));

        e = Assert.Throws<ArgumentException>(() => SoftmaxCrossEntropy.CountCorrect(new float[20], new byte[] { 200, 0 }, 10));
        Assert.Equal("labels", e.ParamName);
        Assert.Contains("Label 200 of sample 0 is outside 0..9", e.Message);
        Assert.Equal(1, SoftmaxCrossEntropy.CountCorrect(new float[] { 0, 1, 1, 0 }, new byte[] { 1, 1 }, 2));
    }

    [Fact]
    public void LossesAllocateNothing()
    {
        var random = new Random(3);
        var logits = RandomFloats(random, 64 * 10, 3);
        var labels = Enumerable.Range(0, 64).Select(_ => (byte)random.Next(10)).ToArray();
        var ints = labels.Select(v => (int)v).ToArray();
        var gradient = new float[logits.Length];
        var target = RandomFloats(random, logits.Length, 1);
        for (int i = 0; i < 3; i++)
        {
            SoftmaxCrossEntropy.Compute(logits, labels, 10, gradient, out _);
            SoftmaxCrossEntropy.Compute(logits, ints, 10, gradient, out _);
            MeanSquaredError.Compute(logits, target, gradient);
        }
        var rounds = Allocations.UntilQuiet(() =>
        {
            for (int i = 0; i < 10; i++)
            {
                SoftmaxCrossEntropy.Compute(logits, labels, 10, gradient, out _);
                SoftmaxCrossEntropy.Compute(logits, ints, 10, gradient);
                SoftmaxCrossEntropy.CountCorrect(logits, labels, 10);
                MeanSquaredError.Compute(logits, target, gradient);
            }
        });
        Assert.True(rounds[^1] == 0, $"{string.Join(" / ", rounds)} bytes allocated by rounds of 10 warm calls of each loss.");
    }

    // ---------------------------------------------------------------- mean squared error

    [Fact]
    public void MeanSquaredErrorMatchesFloat64ReferenceAndFiniteDifferences()
    {
        var random = new Random(5);
        var prediction = RandomFloats(random, 3 * 7, 2);
        var target = RandomFloats(random, 3 * 7, 2);
        double expected = prediction.Zip(target, (p, t) => ((double)p - t) * ((double)p - t)).Sum() / prediction.Length;
        var gradient = new float[prediction.Length];
        float loss = MeanSquaredError.Compute(prediction, target, gradient);
        AssertClose(expected, loss, 1e-6, 0, "MSE");
        for (int i = 0; i < prediction.Length; i++)
        {
            AssertClose(2.0 * ((double)prediction[i] - target[i]) / prediction.Length, gradient[i], 1e-6, 1e-12, $"∂MSE/∂p[{i}]");
            var plus = (float[])prediction.Clone();
            var minus = (float[])prediction.Clone();
            plus[i] += 1e-2f;
            minus[i] -= 1e-2f;
            double numeric = ((double)MeanSquaredError.Compute(plus, target, Span<float>.Empty)
                              - MeanSquaredError.Compute(minus, target, Span<float>.Empty)) / (plus[i] - minus[i]);
            AssertClose(numeric, gradient[i], 0, 1e-4, $"finite difference [{i}]");
        }
    }

    [Fact]
    public void MeanSquaredErrorValidatesLengths()
    {
        var e = Assert.Throws<ArgumentException>(() => MeanSquaredError.Compute(new float[6], new float[5], Span<float>.Empty));
        Assert.Equal("target", e.ParamName);
        Assert.Contains("holds 5 floats, expected 6", e.Message);
        e = Assert.Throws<ArgumentException>(() => MeanSquaredError.Compute(new float[6], new float[6], new float[7]));
        Assert.Equal("predictionGradient", e.ParamName);
        Assert.Contains("holds 7 floats, expected 6", e.Message);
        Assert.Throws<ArgumentException>(() => MeanSquaredError.Compute(Array.Empty<float>(), Array.Empty<float>(), Span<float>.Empty));
    }
}

using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using ConvGen.Tests.Infrastructure;

namespace ConvGen.Tests.Backward;

/// <summary>
/// Checks a generated Backward element by element against the float64 reference's backward, and at a few elements
/// against central finite differences of the reference's forward (which also keeps the reference backward honest).
/// The loss is <c>L = Σ R ⊙ output</c> for a fixed random <c>R</c>, so ∂L/∂output = R is what Backward receives.
/// Each parameter and the input are probed at a few random elements. Where the network is affine in its input (no
/// activation, no max pool), it is also affine in each parameter tensor with the others fixed, so every gradient is
/// checked whole as well: L(x + u) − L(x) = Σ u ⊙ ∂L/∂x exactly for a random direction u, and likewise for each
/// parameter; one more reference run per tensor tests every element at once.
/// </summary>
public static class GradientCheck
{
    /// <summary>Accepted error: <c>|analytic − numeric| ≤ Tolerance · (1 + |numeric|)</c>.</summary>
    public const double Tolerance = 2e-3;
    private const double Step = 1e-5;
    /// <summary>
    /// Accepted error against the reference backward, relative to the element plus its tensor's rms. The largest seen
    /// when this check was written (75 network and 300 conv cases, with and without AVX2) was 1.4e-5.
    /// </summary>
    private const double ElementTolerance = 2e-4;
    /// <summary>How close to a kink a float32 run may round to its other side (activations here are O(1)).</summary>
    private const double KinkWindow = 1e-5;

    public static string? Check(INetwork network, NetworkSpec spec, int batch, int seed, int probes = 4)
    {
        var (random, parameters, x, r) = Draw(spec, batch, seed);
        foreach (var p in network.Parameters) p.CopyFrom(parameters[p.Name]);
        int outLength = network.OutputLength;

        var y = new float[batch * outLength];
        network.ZeroGrad();
        network.Forward(x, y, batch);
        var guardedDx = NetworkCheck.Guarded(x.Length);
        network.Backward(r, NetworkCheck.Inside(guardedDx), batch);
        if (NetworkCheck.WroteOutside(guardedDx, "Backward's ∂x") is { } outside) return $"{spec.Describe()}batch {batch}, {outside}";
        var dx = NetworkCheck.Inside(guardedDx).ToArray();
        var gradients = network.Parameters.ToDictionary(p => p.Name, p =>
        {
            var gradient = new float[p.Length];
            p.CopyGradientTo(gradient);
            return gradient;
        });

        var problems = new StringBuilder();
        // ReLU and max pooling have kinks: when one lies within ±Step of the probed value, the central difference
        // averages two slopes. The analytic gradient is then one of the one-sided slopes, so any of the three may match.
        void Compare(string what, double analytic, Func<double, double> lossAt)
        {
            double plus = lossAt(Step), minus = lossAt(-Step), here = lossAt(0);
            double central = (plus - minus) / (2 * Step), forward = (plus - here) / Step, backward = (here - minus) / Step;
            bool Close(double numeric) => Math.Abs(analytic - numeric) <= Tolerance * (1 + Math.Abs(numeric));
            if (!Close(central) && !Close(forward) && !Close(backward) && problems.Length < 2000)
                problems.AppendLine(CultureInfo.InvariantCulture,
                    $"  {what}: backward {analytic:G7}, finite differences central {central:G7}, forward {forward:G7}, backward {backward:G7}");
        }

        // Perturbations are applied in float64 (a float could not hold value ± 1e-5 exactly).
        var baseParameters = parameters.ToDictionary(kv => kv.Key, kv => Array.ConvertAll(kv.Value, v => (double)v));
        var baseInput = Array.ConvertAll(x, v => (double)v);
        foreach (var p in network.Parameters)
        {
            foreach (int j in Probe(random, p.Length, probes))
                Compare($"{p.Name}[{j}]", gradients[p.Name][j], h =>
                {
                    var values = baseParameters[p.Name];
                    double original = values[j];
                    values[j] = original + h;
                    try { return Loss(spec, baseParameters, baseInput, batch, r); }
                    finally { values[j] = original; }
                });
        }
        foreach (int j in Probe(random, x.Length, probes))
            Compare($"input[{j}]", dx[j], h =>
            {
                double original = baseInput[j];
                baseInput[j] = original + h;
                try { return Loss(spec, baseParameters, baseInput, batch, r); }
                finally { baseInput[j] = original; }
            });

        CompareWithReferenceBackward(spec, baseParameters, baseInput, batch, r, gradients, dx, problems);

        if (spec.Layers.All(l => l is not ActivationSpec and not PoolSpec { Max: true }))
        {
            double baseLoss = Loss(spec, baseParameters, baseInput, batch, r);
            // Moves `values` along a random direction, compares the loss change with Σ direction ⊙ gradient, restores them.
            void Along(string what, double[] values, float[] gradient)
            {
                var saved = (double[])values.Clone();
                var direction = NetworkCheck.RandomInput(random, values.Length);
                double predicted = 0, scale = 0;
                for (int j = 0; j < values.Length; j++)
                {
                    values[j] += direction[j];
                    predicted += (double)direction[j] * gradient[j];
                    scale += Math.Abs((double)direction[j] * gradient[j]);
                }
                double actual = Loss(spec, baseParameters, baseInput, batch, r) - baseLoss;
                saved.CopyTo(values, 0);
                if (Math.Abs(actual - predicted) > 1e-4 * (scale + 1e-3))
                    problems.AppendLine(CultureInfo.InvariantCulture,
                        $"  {what} along a random direction u: Σ u ⊙ backward {predicted:G7}, reference L(· + u) − L(·) {actual:G7} (Σ |u ⊙ backward| {scale:G7})");
            }
            Along("input gradient", baseInput, dx);
            foreach (var (name, gradient) in gradients) Along($"{name} gradient", baseParameters[name], gradient);
        }

        return problems.Length == 0 ? null : $"{spec.Describe()} batch {batch}:\n{problems}";
    }

    /// <summary>
    /// Every element of every gradient against the float64 reference's own backward (chain rule written out per layer,
    /// pinned to torch.autograd by ReferenceVsTorchTests): <c>|backward − reference| ≤ ElementTolerance · (|reference| + rms)</c>,
    /// rms over the tensor, since float32 sums that cancel to near zero keep an error of the size of their terms.
    /// Where a ReLU input or max-pool window of the reference lies within <see cref="KinkWindow"/> of its kink, float32
    /// rounding may choose the other side, which changes the gradients of every tensor before that layer: only the
    /// later layers' tensors are compared then (the finite differences above accept either side).
    /// </summary>
    private static void CompareWithReferenceBackward(NetworkSpec spec, Dictionary<string, double[]> parameters, double[] input,
                                                     int batch, float[] r, Dictionary<string, float[]> gradients, float[] dx,
                                                     StringBuilder problems)
    {
        var reference = spec.Reference(parameters);
        var expectedDx = reference.Backward(input, Array.ConvertAll(r, v => (double)v), batch, KinkWindow, out int lastNearKink);
        void Whole(string what, double[] expected, float[] actual)
        {
            double rms = Math.Sqrt(expected.Sum(e => e * e) / expected.Length);
            for (int j = 0; j < expected.Length && problems.Length < 2000; j++)
                if (Math.Abs(actual[j] - expected[j]) > ElementTolerance * (Math.Abs(expected[j]) + rms))
                    problems.AppendLine(CultureInfo.InvariantCulture,
                        $"  {what}[{j}]: backward {actual[j]:G7}, reference backward {expected[j]:G7} (rms {rms:G3})");
        }
        if (lastNearKink < 0) Whole("input gradient", expectedDx, dx);
        foreach (var (layer, name, expected) in reference.ParameterGradients())
            if (layer > lastNearKink) Whole($"{name} gradient", expected, gradients[name]);
    }

    /// <summary>
    /// Whether <see cref="Check"/> with these arguments compares every gradient with the reference backward element by
    /// element, i.e. no ReLU input or max-pool window of the reference lies near its kink.
    /// </summary>
    public static bool ComparesEveryElement(NetworkSpec spec, int batch, int seed)
    {
        var (_, parameters, x, r) = Draw(spec, batch, seed);
        spec.Reference(parameters).Backward(Array.ConvertAll(x, v => (double)v), Array.ConvertAll(r, v => (double)v), batch,
                                            KinkWindow, out int lastNearKink);
        return lastNearKink < 0;
    }

    /// <summary>The parameters, input and ∂L/∂output of a check; the random source goes on to pick the probes.</summary>
    private static (Random Random, Dictionary<string, float[]> Parameters, float[] X, float[] R) Draw(NetworkSpec spec, int batch, int seed)
    {
        var random = new Random(seed);
        var parameters = spec.RandomParameters(random);
        var x = NetworkCheck.RandomInput(random, batch * spec.InputLength);
        var r = NetworkCheck.RandomInput(random, batch * spec.Output.Length);
        return (random, parameters, x, r);
    }

    /// <summary>Σ R ⊙ reference(x), all in float64.</summary>
    private static double Loss(NetworkSpec spec, Dictionary<string, double[]> parameters, double[] input, int batch, float[] r)
    {
        var x = (double[])input.Clone();
        var shape = spec.Input;
        for (int i = 0; i < spec.Layers.Count; i++)
        {
            int index = i;
            var layer = spec.Layers[i].ToReference(shape, suffix => parameters[$"{index}.{suffix}"]);
            x = layer.Forward(x, batch, shape);
            shape = layer.OutputShape(shape);
        }
        double sum = 0;
        for (int i = 0; i < x.Length; i++) sum += r[i] * x[i];
        return sum;
    }

    private static IEnumerable<int> Probe(Random random, int length, int count)
        => length <= count ? Enumerable.Range(0, length) : Enumerable.Range(0, count).Select(_ => random.Next(length)).Distinct();
}

using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using ConvGen.Tests.Infrastructure;

namespace ConvGen.Tests.Backward;

/// <summary>
/// Checks a generated Backward against central finite differences of the float64 reference network.
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

    public static string? Check(INetwork network, NetworkSpec spec, int batch, int seed, int probes = 4)
    {
        var random = new Random(seed);
        var parameters = spec.RandomParameters(random);
        foreach (var p in network.Parameters) p.CopyFrom(parameters[p.Name]);
        var x = NetworkCheck.RandomInput(random, batch * spec.InputLength);
        int outLength = network.OutputLength;
        var r = NetworkCheck.RandomInput(random, batch * outLength);

        var y = new float[batch * outLength];
        network.ZeroGrad();
        network.Forward(x, y, batch);
        var dx = new float[x.Length];
        network.Backward(r, dx, batch);

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
            var grad = new float[p.Length];
            p.CopyGradientTo(grad);
            foreach (int j in Probe(random, p.Length, probes))
                Compare($"{p.Name}[{j}]", grad[j], h =>
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
            foreach (var p in network.Parameters)
            {
                var grad = new float[p.Length];
                p.CopyGradientTo(grad);
                Along($"{p.Name} gradient", baseParameters[p.Name], grad);
            }
        }

        return problems.Length == 0 ? null : $"{spec.Describe()} batch {batch}:\n{problems}";
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

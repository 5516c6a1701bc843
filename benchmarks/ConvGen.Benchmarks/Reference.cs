using System;
using System.Collections.Generic;
using System.Linq;

namespace ConvGen.Benchmarks;

/// <summary>
/// A plain direct convolution in double precision, used to check that the timed kernel computes the right thing
/// (a fast wrong kernel is not a result). Checks the first and the last sample of the batch.
/// </summary>
public sealed class Reference
{
    private readonly BenchShape _shape;
    private readonly int[] _samples;
    private readonly double[][] _expected;

    private Reference(BenchShape shape, int[] samples, double[][] expected)
    {
        _shape = shape;
        _samples = samples;
        _expected = expected;
    }

    /// <summary>Computes the expected output of the checked samples from the network's own parameters.</summary>
    public static Reference Build(BenchShape s, INetwork net, float[] input)
    {
        var weightParam = net.Parameters.FirstOrDefault(p => p.Name == "0.weight")
            ?? throw new InvalidOperationException($"{s.Name}: no parameter named '0.weight' (have: {string.Join(", ", net.Parameters.Select(p => p.Name))}).");
        var weights = new float[weightParam.Length];
        weightParam.CopyTo(weights);
        var bias = new float[s.OutChannels];
        net.Parameters.FirstOrDefault(p => p.Name == "0.bias")?.CopyTo(bias);

        int[] samples = s.Batch == 1 ? [0] : [0, s.Batch - 1];
        var expected = new double[samples.Length][];
        int cinPerGroup = s.InChannels / s.Groups, coutPerGroup = s.OutChannels / s.Groups;
        int oh = s.OutHeight, ow = s.OutWidth, k = s.Kernel;
        for (int si = 0; si < samples.Length; si++)
        {
            var y = new double[s.OutputLength];
            int inBase = samples[si] * s.InputLength;
            for (int co = 0; co < s.OutChannels; co++)
            {
                int g = co / coutPerGroup;
                for (int oy = 0; oy < oh; oy++)
                    for (int ox = 0; ox < ow; ox++)
                    {
                        double acc = bias[co];
                        for (int cl = 0; cl < cinPerGroup; cl++)
                        {
                            int ci = g * cinPerGroup + cl;
                            for (int ky = 0; ky < k; ky++)
                            {
                                int iy = oy * s.Stride - s.Pad + ky;
                                if ((uint)iy >= (uint)s.Height) continue;
                                for (int kx = 0; kx < k; kx++)
                                {
                                    int ix = ox * s.Stride - s.Pad + kx;
                                    if ((uint)ix >= (uint)s.Width) continue;
                                    acc += (double)weights[((co * cinPerGroup + cl) * k + ky) * k + kx]
                                        * input[inBase + (ci * s.Height + iy) * s.Width + ix];
                                }
                            }
                        }
                        y[(co * oh + oy) * ow + ox] = acc;
                    }
            }
            expected[si] = y;
        }
        return new Reference(s, samples, expected);
    }

    /// <summary>Largest error relative to the output's scale; <c>double.NaN</c> if the output holds a NaN.</summary>
    public double RelativeError(float[] output)
    {
        double maxErr = 0, maxRef = 0;
        for (int si = 0; si < _samples.Length; si++)
        {
            int outBase = _samples[si] * _shape.OutputLength;
            var y = _expected[si];
            for (int i = 0; i < y.Length; i++)
            {
                float got = output[outBase + i];
                if (!float.IsFinite(got)) return double.NaN;
                maxErr = Math.Max(maxErr, Math.Abs(got - y[i]));
                maxRef = Math.Max(maxRef, Math.Abs(y[i]));
            }
        }
        return maxErr / Math.Max(maxRef, 1e-30);
    }

    /// <summary>Tolerance for <see cref="RelativeError"/>: FP32 accumulation over up to a few thousand terms.</summary>
    public const double Tolerance = 1e-4;

    /// <summary>The checked sample indices.</summary>
    public IReadOnlyList<int> Samples => _samples;
}

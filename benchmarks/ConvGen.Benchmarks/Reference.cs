using System;
using System.Linq;

namespace ConvGen.Benchmarks;

/// <summary>
/// The forward output and the gradients of one convolution computed directly in double precision from the network's
/// own parameters, to check that the timed kernels compute the right thing (a fast wrong kernel is not a result).
/// <para>
/// The benchmark's input and output gradient repeat with period <see cref="Distinct"/> along the batch (sample n holds
/// the values of sample n mod Distinct), so the reference needs only the first Distinct samples: the output and ∂x of
/// sample n are those of n mod Distinct, and ∂W, ∂b are batch/Distinct times their sums over the distinct samples.
/// Every sample of ConvGen's output is still compared, so a kernel that mixes up samples fails. Timing does not depend
/// on the values.
/// </para>
/// ∂W[co][cl][ky][kx] = Σ g[n][co][oy][ox]·x[n][ci][oy·s−p+ky][ox·s−p+kx], ∂b[co] = Σ g[n][co][·][·], ∂x the same sum
/// scattered with the weights (ci = group·Cin/g + cl, taps outside the input skipped).
/// </summary>
public sealed class ConvReference
{
    /// <summary>Pass mark of a relative error: float32 sums of up to ~50,000 products relative to the largest value.</summary>
    public const double Tolerance = 1e-4;

    private ConvReference(int distinct, double[] output, double[] input, double[] weight, double[] bias)
    {
        Distinct = distinct;
        Output = output;
        InputGradient = input;
        WeightGradient = weight;
        BiasGradient = bias;
    }

    /// <summary>Distinct samples in the batch.</summary>
    public int Distinct { get; }

    /// <summary>Forward output of the distinct samples (NCHW).</summary>
    public double[] Output { get; }

    /// <summary>∂loss/∂input of the distinct samples.</summary>
    public double[] InputGradient { get; }

    /// <summary>∂loss/∂weight over the whole batch, PyTorch layout.</summary>
    public double[] WeightGradient { get; }

    /// <summary>∂loss/∂bias over the whole batch.</summary>
    public double[] BiasGradient { get; }

    /// <summary>
    /// The period for a shape: the whole batch when its reference is cheap, else 2 (a–c at batch 32 would otherwise
    /// take minutes of scalar double arithmetic).
    /// </summary>
    public static int DistinctSamples(ConvShape s) =>
        s.Batch == 1 || s.Macs <= 60_000_000 || s.Batch % 2 != 0 ? s.Batch : 2;

    /// <summary>Random values in [−1, 1) with period <paramref name="distinct"/> samples of <paramref name="perSample"/> floats.</summary>
    public static float[] PeriodicData(int seed, int batch, int perSample, int distinct)
    {
        var random = new Random(seed);
        var data = new float[(long)batch * perSample];
        long period = (long)distinct * perSample;
        for (long i = 0; i < period; i++) data[i] = (float)(random.NextDouble() * 2 - 1);
        for (long i = period; i < data.Length; i++) data[i] = data[i - period];
        return data;
    }

    /// <summary>Computes the reference for input <paramref name="x"/>, output gradient <paramref name="g"/> and the network's own parameters.</summary>
    public static ConvReference Compute(ConvShape s, INetwork net, float[] x, float[] g, int distinct)
    {
        var weightParameter = net.Parameters.FirstOrDefault(p => p.Name == "0.weight")
            ?? throw new InvalidOperationException($"{s.Network.Name} has no parameter '0.weight' (it has {string.Join(", ", net.Parameters.Select(p => p.Name))}).");
        var w = new float[weightParameter.Length];
        weightParameter.CopyTo(w);
        if (w.Length != s.WeightLength)
            throw new InvalidOperationException($"{s.Network.Name}: '0.weight' holds {w.Length} values, expected {s.WeightLength}.");
        var b = new float[s.OutChannels];
        net.Parameters.FirstOrDefault(p => p.Name == "0.bias")?.CopyTo(b);

        var y = new double[(long)distinct * s.OutputLength];
        var dx = new double[(long)distinct * s.InputLength];
        var dw = new double[s.WeightLength];
        var db = new double[s.OutChannels];
        int k = s.Kernel, cinG = s.InPerGroup, coutG = s.OutChannels / s.Groups, oh = s.OutHeight, ow = s.OutWidth;
        for (int n = 0; n < distinct; n++)
            for (int co = 0; co < s.OutChannels; co++)
            {
                int group = co / coutG;
                long oBase = ((long)n * s.OutChannels + co) * oh * ow;
                for (int oy = 0; oy < oh; oy++)
                    for (int ox = 0; ox < ow; ox++)
                    {
                        double gv = g[oBase + oy * ow + ox];
                        double acc = b[co];
                        db[co] += gv;
                        for (int cl = 0; cl < cinG; cl++)
                        {
                            long xPlane = ((long)n * s.InChannels + group * cinG + cl) * s.Height * s.Width;
                            int wBase = (co * cinG + cl) * k * k;
                            for (int ky = 0; ky < k; ky++)
                            {
                                int iy = oy * s.Stride - s.Pad + ky;
                                if ((uint)iy >= (uint)s.Height) continue;
                                for (int kx = 0; kx < k; kx++)
                                {
                                    int ix = ox * s.Stride - s.Pad + kx;
                                    if ((uint)ix >= (uint)s.Width) continue;
                                    long xi = xPlane + iy * s.Width + ix;
                                    int wi = wBase + ky * k + kx;
                                    acc += (double)w[wi] * x[xi];
                                    dw[wi] += gv * x[xi];
                                    dx[xi] += gv * w[wi];
                                }
                            }
                        }
                        y[oBase + oy * ow + ox] = acc;
                    }
            }
        double repeat = (double)s.Batch / distinct;
        for (int i = 0; i < dw.Length; i++) dw[i] *= repeat;
        for (int i = 0; i < db.Length; i++) db[i] *= repeat;
        return new ConvReference(distinct, y, dx, dw, db);
    }

    /// <summary>
    /// Largest |got − expected| over all of <paramref name="got"/> (compared periodically against
    /// <paramref name="expected"/>) relative to the largest |expected|; NaN when <paramref name="got"/> holds a NaN or an
    /// infinity, or the lengths do not fit (reported as a failure).
    /// </summary>
    public static double RelativeError(ReadOnlySpan<float> got, double[] expected)
    {
        if (expected.Length == 0 || got.Length % expected.Length != 0) return double.NaN;
        double worst = 0, scale = 0;
        for (int i = 0; i < expected.Length; i++) scale = Math.Max(scale, Math.Abs(expected[i]));
        for (int i = 0, j = 0; i < got.Length; i++, j = j + 1 == expected.Length ? 0 : j + 1)
        {
            if (!float.IsFinite(got[i])) return double.NaN;
            worst = Math.Max(worst, Math.Abs(got[i] - expected[j]));
        }
        return worst / Math.Max(scale, 1e-30);
    }
}

using System;
using System.Linq;

namespace ConvGen.TrainingBenchmarks;

/// <summary>
/// The gradients of one convolution computed directly in double precision from the definition, to check that the
/// timed Backward computes the right thing (a fast wrong kernel is not a result). For output gradient g:
/// ∂W[co][cl][ky][kx] = Σ g[n][co][oy][ox]·x[n][ci][oy·s−p+ky][ox·s−p+kx], ∂b[co] = Σ g[n][co][·][·], and ∂x the
/// same sum scattered with the weights (ci = group·Cin/g + cl, taps outside the input skipped).
/// </summary>
public sealed class GradientReference
{
    private GradientReference(double[] input, double[] weight, double[] bias)
    {
        Input = input;
        Weight = weight;
        Bias = bias;
    }

    /// <summary>∂loss/∂input, NCHW over the batch.</summary>
    public double[] Input { get; }

    /// <summary>∂loss/∂weight, PyTorch layout.</summary>
    public double[] Weight { get; }

    /// <summary>∂loss/∂bias.</summary>
    public double[] Bias { get; }

    /// <summary>Computes the reference for input <paramref name="x"/>, output gradient <paramref name="g"/> and the network's own weights.</summary>
    public static GradientReference Compute(ConvShape s, INetwork net, float[] x, float[] g)
    {
        var weightParameter = net.Parameters.FirstOrDefault(p => p.Name == "0.weight")
            ?? throw new InvalidOperationException($"{s.Network} has no parameter '0.weight' (it has {string.Join(", ", net.Parameters.Select(p => p.Name))}).");
        var w = new float[weightParameter.Length];
        weightParameter.CopyTo(w);
        if (w.Length != s.WeightLength)
            throw new InvalidOperationException($"{s.Network}: '0.weight' holds {w.Length} values, expected {s.WeightLength}.");

        var dx = new double[(long)s.Batch * s.InputLength];
        var dw = new double[s.WeightLength];
        var db = new double[s.OutChannels];
        int k = s.Kernel, cinG = s.InPerGroup, coutG = s.OutChannels / s.Groups, oh = s.OutHeight, ow = s.OutWidth;
        for (int n = 0; n < s.Batch; n++)
            for (int co = 0; co < s.OutChannels; co++)
            {
                int group = co / coutG;
                long gBase = ((long)n * s.OutChannels + co) * oh * ow;
                for (int oy = 0; oy < oh; oy++)
                    for (int ox = 0; ox < ow; ox++)
                    {
                        double gv = g[gBase + oy * ow + ox];
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
                                    dw[wi] += gv * x[xi];
                                    dx[xi] += gv * w[wi];
                                }
                            }
                        }
                    }
            }
        return new GradientReference(dx, dw, db);
    }

    /// <summary>
    /// Largest |got − expected| relative to the largest |expected|; NaN when <paramref name="got"/> holds a NaN or an
    /// infinity (reported as a failure).
    /// </summary>
    public static double RelativeError(ReadOnlySpan<float> got, double[] expected)
    {
        if (got.Length != expected.Length) return double.NaN;
        double worst = 0, scale = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            if (!float.IsFinite(got[i])) return double.NaN;
            worst = Math.Max(worst, Math.Abs(got[i] - expected[i]));
            scale = Math.Max(scale, Math.Abs(expected[i]));
        }
        return worst / Math.Max(scale, 1e-30);
    }

    /// <summary>
    /// Pass mark for <see cref="RelativeError"/>: float32 sums of up to N·OH·OW = 50,176 products (LeNet conv1's weight
    /// gradient at batch 64) relative to the largest value.
    /// </summary>
    public const double Tolerance = 1e-4;
}

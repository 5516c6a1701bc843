using System;
using System.Collections.Generic;
using System.Diagnostics;

namespace ConvGen.Benchmarks;

/// <summary>
/// How each figure is measured: <see cref="Rounds"/> rounds, alternating ConvGen and PyTorch, each round a warm-up
/// then timed calls until <see cref="MeasureSeconds"/>/<see cref="Rounds"/> seconds and enough calls have run.
/// Alternating spreads a burst of load from a neighbour over both sides instead of one.
/// </summary>
public sealed record TimingOptions(double WarmupSeconds, double MeasureSeconds, int MinSamples, int Rounds)
{
    /// <summary>The default run: about 1 s of timed calls per figure, in 5 rounds.</summary>
    public static TimingOptions Full { get; } = new(0.3, 1.0, 15, 5);

    /// <summary><c>--quick</c>: a smoke run with noisy figures.</summary>
    public static TimingOptions Quick { get; } = new(0.05, 0.1, 5, 1);

    /// <summary>Warm-up before round <paramref name="round"/>: full before the first, short afterwards.</summary>
    public double WarmupFor(int round) => round == 0 ? WarmupSeconds : Math.Min(WarmupSeconds, 0.02);

    /// <summary>Timed seconds per round.</summary>
    public double SecondsPerRound => MeasureSeconds / Rounds;

    /// <summary>Minimum calls per round.</summary>
    public int MinSamplesPerRound => (MinSamples + Rounds - 1) / Rounds;
}

/// <summary>Per-call times of one figure, in milliseconds.</summary>
public sealed record Sample(double MedianMs, double P25Ms, double P75Ms, double MinMs, int Count)
{
    /// <summary>Summarises raw per-call times.</summary>
    public static Sample From(List<double> ms)
    {
        ms.Sort();
        return new Sample(Quantile(ms, 0.5), Quantile(ms, 0.25), Quantile(ms, 0.75), ms[0], ms.Count);
    }

    /// <summary>Linear-interpolated quantile of sorted data (the median of an even count is the mean of the middle two).</summary>
    public static double Quantile(List<double> sorted, double q)
    {
        double pos = q * (sorted.Count - 1);
        int lo = (int)Math.Floor(pos);
        int hi = Math.Min(lo + 1, sorted.Count - 1);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
    }
}

/// <summary>Stopwatch harness: warm-up, then each call timed on its own.</summary>
public static class CallTimer
{
    private const int MaxSamples = 200_000;

    /// <summary>
    /// Runs <paramref name="body"/> for <paramref name="warmupSeconds"/> (at least 3 calls), then times single calls
    /// until <paramref name="seconds"/> of calls and <paramref name="minSamples"/> calls; appends the times (ms).
    /// </summary>
    public static void Measure(Action body, double warmupSeconds, double seconds, int minSamples, List<double> times)
    {
        long freq = Stopwatch.Frequency;
        long warmEnd = Stopwatch.GetTimestamp() + (long)(warmupSeconds * freq);
        int warm = 0;
        while (warm < 3 || Stopwatch.GetTimestamp() < warmEnd)
        {
            body();
            warm++;
        }

        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();

        long measureTicks = (long)(seconds * freq);
        long spent = 0;
        for (int n = 0; (spent < measureTicks || n < minSamples) && n < MaxSamples; n++)
        {
            long t0 = Stopwatch.GetTimestamp();
            body();
            long dt = Stopwatch.GetTimestamp() - t0;
            spent += dt;
            times.Add(dt * 1000.0 / freq);
        }
    }
}

using System;
using System.Collections.Generic;
using System.Diagnostics;

namespace ConvGen.Benchmarks;

/// <summary>
/// How long each per-call figure is measured. A figure is measured in <see cref="Rounds"/> rounds that alternate with
/// the peers (so a burst of load from a neighbour is shared by all sides); each round warms up, then times single
/// calls until <see cref="Seconds"/>/<see cref="Rounds"/> seconds and <see cref="MinCalls"/>/<see cref="Rounds"/>
/// calls have run.
/// </summary>
public sealed record TimingPlan(double WarmupSeconds, double Seconds, int MinCalls, int Rounds)
{
    /// <summary>The normal run: about 0.6 s of timed calls per figure, in 3 rounds.</summary>
    public static TimingPlan Full { get; } = new(0.25, 0.6, 9, 3);

    /// <summary><c>--quick</c>: a smoke run.</summary>
    public static TimingPlan Quick { get; } = new(0.03, 0.05, 3, 1);

    /// <summary>Warm-up of round <paramref name="round"/>: the full one first, a short one later (the code is hot by then).</summary>
    public double WarmupOf(int round) => round == 0 ? WarmupSeconds : Math.Min(WarmupSeconds, 0.03);

    /// <summary>Timed seconds per round.</summary>
    public double SecondsPerRound => Seconds / Rounds;

    /// <summary>Minimum timed calls per round.</summary>
    public int MinCallsPerRound => Math.Max(1, (MinCalls + Rounds - 1) / Rounds);
}

/// <summary>Summary of per-call times in milliseconds.</summary>
public sealed record Stats(double Median, double P25, double P75, double Min, int Count)
{
    /// <summary>Summarises <paramref name="ms"/> (sorted in place); null when empty.</summary>
    public static Stats? Of(List<double> ms)
    {
        if (ms.Count == 0) return null;
        ms.Sort();
        return new Stats(Quantile(ms, 0.5), Quantile(ms, 0.25), Quantile(ms, 0.75), ms[0], ms.Count);
    }

    /// <summary>Quantile of sorted data with linear interpolation.</summary>
    public static double Quantile(List<double> sorted, double q)
    {
        double at = q * (sorted.Count - 1);
        int lo = (int)at, hi = Math.Min(lo + 1, sorted.Count - 1);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo);
    }
}

/// <summary>Times single calls with the Stopwatch after a warm-up.</summary>
public static class CallClock
{
    private const int MaxCalls = 100_000;

    /// <summary>
    /// Calls <paramref name="body"/> for <paramref name="warmupSeconds"/> (at least twice), collects garbage, then times
    /// single calls until <paramref name="seconds"/> of timed calls and <paramref name="minCalls"/> calls; appends each
    /// call's time in ms to <paramref name="times"/>.
    /// </summary>
    public static void Run(Action body, double warmupSeconds, double seconds, int minCalls, List<double> times)
    {
        WarmUp(body, warmupSeconds);

        long budget = (long)(seconds * Stopwatch.Frequency), spent = 0;
        double msPerTick = 1000.0 / Stopwatch.Frequency;
        for (int n = 0; (spent < budget || n < minCalls) && n < MaxCalls; n++)
        {
            long t0 = Stopwatch.GetTimestamp();
            body();
            long dt = Stopwatch.GetTimestamp() - t0;
            spent += dt;
            times.Add(dt * msPerTick);
        }
    }

    /// <summary>
    /// Like <see cref="Run"/> for two calls timed back to back in pairs (<paramref name="a"/> then <paramref name="b"/>),
    /// so that the difference of a pair measures what <paramref name="a"/> does beyond <paramref name="b"/> under the
    /// same machine state. Appends the times of each to <paramref name="timesA"/> and <paramref name="timesB"/> and the
    /// per-pair difference to <paramref name="differences"/>.
    /// </summary>
    public static void RunPairs(Action a, Action b, double warmupSeconds, double seconds, int minPairs,
        List<double> timesA, List<double> timesB, List<double> differences)
    {
        WarmUp(() => { a(); b(); }, warmupSeconds);

        long budget = (long)(seconds * Stopwatch.Frequency), spent = 0;
        double msPerTick = 1000.0 / Stopwatch.Frequency;
        for (int n = 0; (spent < budget || n < minPairs) && n < MaxCalls; n++)
        {
            long t0 = Stopwatch.GetTimestamp();
            a();
            long t1 = Stopwatch.GetTimestamp();
            b();
            long t2 = Stopwatch.GetTimestamp();
            spent += t2 - t0;
            timesA.Add((t1 - t0) * msPerTick);
            timesB.Add((t2 - t1) * msPerTick);
            differences.Add(((t1 - t0) - (t2 - t1)) * msPerTick);
        }
    }

    /// <summary>Calls <paramref name="body"/> for <paramref name="seconds"/> (at least twice), then collects garbage.</summary>
    private static void WarmUp(Action body, double seconds)
    {
        long until = Stopwatch.GetTimestamp() + (long)(seconds * Stopwatch.Frequency);
        for (int n = 0; n < 2 || Stopwatch.GetTimestamp() < until; n++) body();
        GC.Collect();
        GC.WaitForPendingFinalizers();
    }
}

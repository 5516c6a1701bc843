using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Threading;

namespace ConvGen.Benchmarks;

/// <summary>
/// The machine's FP32 FMA peak at this moment: every thread runs 12 independent <c>Vector256</c> FMA chains
/// (enough to cover FMA latency × throughput on current x86 cores), all threads started together, wall time measured.
/// </summary>
public static class FmaPeak
{
    private const int Chains = 12;
    private static volatile float s_sink;

    /// <summary>FLOPs per loop iteration: 12 chains × 8 lanes × 2 (multiply + add).</summary>
    private const double FlopsPerIteration256 = Chains * 8 * 2;

    /// <summary>Same for the informational <c>Vector512</c> loop.</summary>
    private const double FlopsPerIteration512 = Chains * 16 * 2;

    /// <summary>Whether the reference loop can run (needs x86 FMA3).</summary>
    public static bool IsSupported => Fma.IsSupported;

    /// <summary>Whether the informational 512-bit loop can run.</summary>
    public static bool Is512Supported => Avx512F.IsSupported;

    /// <summary>
    /// Best GFLOP/s of <paramref name="repeats"/> runs of about <paramref name="secondsPerRun"/> each, on
    /// <paramref name="threads"/> threads. The best, not the median: a peak is what the cores can do, and on a shared
    /// machine a neighbour's burst only ever lowers a run; a depressed peak would flatter every "% of peak".
    /// </summary>
    public static double Measure(int threads, int repeats, double secondsPerRun, bool wide = false)
    {
        Func<long, float> loop = wide ? Loop512 : Loop256;
        double flopsPerIteration = wide ? FlopsPerIteration512 : FlopsPerIteration256;

        // Warm up (tier-up is forced by AggressiveOptimization; this settles clocks) and calibrate on one thread.
        long iterations = 1 << 16;
        while (true)
        {
            long t0 = Stopwatch.GetTimestamp();
            s_sink = loop(iterations);
            double s = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            if (s > 0.02)
            {
                iterations = Math.Max(1, (long)(iterations * secondsPerRun / s));
                break;
            }
            iterations *= 4;
        }

        var gflops = new List<double>(repeats);
        for (int r = 0; r < repeats; r++)
        {
            double seconds = RunOnThreads(threads, iterations, loop);
            gflops.Add(threads * iterations * flopsPerIteration / seconds / 1e9);
        }
        gflops.Sort();
        return gflops[^1];
    }

    private static double RunOnThreads(int threads, long iterations, Func<long, float> loop)
    {
        if (threads == 1)
        {
            long t0 = Stopwatch.GetTimestamp();
            s_sink = loop(iterations);
            return Stopwatch.GetElapsedTime(t0).TotalSeconds;
        }

        using var start = new Barrier(threads);
        var workers = new Thread[threads - 1];
        for (int i = 0; i < workers.Length; i++)
        {
            workers[i] = new Thread(() =>
            {
                start.SignalAndWait();
                s_sink = loop(iterations);
            }) { IsBackground = true };
            workers[i].Start();
        }
        start.SignalAndWait();
        long begin = Stopwatch.GetTimestamp();
        s_sink = loop(iterations);
        foreach (var w in workers) w.Join();
        return Stopwatch.GetElapsedTime(begin).TotalSeconds;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Loop256(long iterations)
    {
        // acc = acc·m + c converges to c/(1-m) = 0.1: no overflow, no denormals.
        var m = Vector256.Create(0.999f);
        var c = Vector256.Create(1e-4f);
        var a0 = Vector256.Create(1.00f); var a1 = Vector256.Create(1.01f); var a2 = Vector256.Create(1.02f);
        var a3 = Vector256.Create(1.03f); var a4 = Vector256.Create(1.04f); var a5 = Vector256.Create(1.05f);
        var a6 = Vector256.Create(1.06f); var a7 = Vector256.Create(1.07f); var a8 = Vector256.Create(1.08f);
        var a9 = Vector256.Create(1.09f); var a10 = Vector256.Create(1.10f); var a11 = Vector256.Create(1.11f);
        for (long i = 0; i < iterations; i++)
        {
            a0 = Fma.MultiplyAdd(a0, m, c); a1 = Fma.MultiplyAdd(a1, m, c); a2 = Fma.MultiplyAdd(a2, m, c);
            a3 = Fma.MultiplyAdd(a3, m, c); a4 = Fma.MultiplyAdd(a4, m, c); a5 = Fma.MultiplyAdd(a5, m, c);
            a6 = Fma.MultiplyAdd(a6, m, c); a7 = Fma.MultiplyAdd(a7, m, c); a8 = Fma.MultiplyAdd(a8, m, c);
            a9 = Fma.MultiplyAdd(a9, m, c); a10 = Fma.MultiplyAdd(a10, m, c); a11 = Fma.MultiplyAdd(a11, m, c);
        }
        var sum = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11));
        return Vector256.Sum(sum);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Loop512(long iterations)
    {
        var m = Vector512.Create(0.999f);
        var c = Vector512.Create(1e-4f);
        var a0 = Vector512.Create(1.00f); var a1 = Vector512.Create(1.01f); var a2 = Vector512.Create(1.02f);
        var a3 = Vector512.Create(1.03f); var a4 = Vector512.Create(1.04f); var a5 = Vector512.Create(1.05f);
        var a6 = Vector512.Create(1.06f); var a7 = Vector512.Create(1.07f); var a8 = Vector512.Create(1.08f);
        var a9 = Vector512.Create(1.09f); var a10 = Vector512.Create(1.10f); var a11 = Vector512.Create(1.11f);
        for (long i = 0; i < iterations; i++)
        {
            a0 = Avx512F.FusedMultiplyAdd(a0, m, c); a1 = Avx512F.FusedMultiplyAdd(a1, m, c); a2 = Avx512F.FusedMultiplyAdd(a2, m, c);
            a3 = Avx512F.FusedMultiplyAdd(a3, m, c); a4 = Avx512F.FusedMultiplyAdd(a4, m, c); a5 = Avx512F.FusedMultiplyAdd(a5, m, c);
            a6 = Avx512F.FusedMultiplyAdd(a6, m, c); a7 = Avx512F.FusedMultiplyAdd(a7, m, c); a8 = Avx512F.FusedMultiplyAdd(a8, m, c);
            a9 = Avx512F.FusedMultiplyAdd(a9, m, c); a10 = Avx512F.FusedMultiplyAdd(a10, m, c); a11 = Avx512F.FusedMultiplyAdd(a11, m, c);
        }
        var sum = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11));
        return Vector512.Sum(sum);
    }
}

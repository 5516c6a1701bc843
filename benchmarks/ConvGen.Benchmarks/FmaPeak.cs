using System;
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
    /// machine a neighbour only ever lowers a run. Runs are short (milliseconds, like one kernel call) so that some
    /// of them fall inside an undisturbed scheduler slice, as kernel calls do; a depressed peak would flatter every
    /// "% of peak".
    /// </summary>
    public static double Measure(int threads, int repeats, double secondsPerRun, bool wide = false)
    {
        Func<long, float> loop = wide ? Loop512 : Loop256;
        double flopsPerIteration = wide ? FlopsPerIteration512 : FlopsPerIteration256;

        // Calibrate on one thread (AggressiveOptimization means no tier-up to wait for).
        long iterations = 1 << 12;
        while (true)
        {
            long t0 = Stopwatch.GetTimestamp();
            s_sink = loop(iterations);
            double s = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            if (s > 0.002)
            {
                iterations = Math.Max(1, (long)(iterations * secondsPerRun / s));
                break;
            }
            iterations *= 2;
        }

        using var team = new SpinTeam(threads - 1, loop, iterations);
        double best = 0;
        for (int r = 0; r < repeats; r++)
        {
            double seconds = team.Run();
            best = Math.Max(best, threads * iterations * flopsPerIteration / seconds / 1e9);
        }
        return best;
    }

    /// <summary>
    /// The caller plus <c>n</c> workers that spin (never sleep) between runs, so a run starts on every thread within
    /// a fraction of a microsecond and millisecond runs are timed fairly.
    /// </summary>
    private sealed class SpinTeam : IDisposable
    {
        private readonly Thread[] _workers;
        private readonly Func<long, float> _loop;
        private readonly long _iterations;
        private int _generation;
        private int _done;
        private volatile bool _stop;

        public SpinTeam(int workers, Func<long, float> loop, long iterations)
        {
            _loop = loop;
            _iterations = iterations;
            _workers = new Thread[workers];
            for (int i = 0; i < workers; i++)
            {
                _workers[i] = new Thread(Work) { IsBackground = true, Name = "FmaPeak" };
                _workers[i].Start();
            }
        }

        /// <summary>One run on all threads; wall seconds from release to the last thread finishing.</summary>
        public double Run()
        {
            Volatile.Write(ref _done, 0);
            long begin = Stopwatch.GetTimestamp();
            Interlocked.Increment(ref _generation);
            s_sink = _loop(_iterations);
            while (Volatile.Read(ref _done) < _workers.Length) Thread.SpinWait(4);
            return Stopwatch.GetElapsedTime(begin).TotalSeconds;
        }

        private void Work()
        {
            int seen = 0;
            while (true)
            {
                int g;
                while ((g = Volatile.Read(ref _generation)) == seen) Thread.SpinWait(4);
                seen = g;
                if (_stop) return;
                s_sink = _loop(_iterations);
                Interlocked.Increment(ref _done);
            }
        }

        public void Dispose()
        {
            _stop = true;
            Interlocked.Increment(ref _generation);
            foreach (var w in _workers) w.Join();
        }
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

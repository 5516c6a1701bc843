using System;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Threading;

namespace ConvGen.TrainingBenchmarks;

/// <summary>
/// The FP32 FMA throughput this machine gives right now: on every thread a loop of 12 independent FMA dependency
/// chains (enough to hide the FMA latency on current x86 cores), all threads released together by a spinning start
/// flag, wall time until the last one finishes. The best of many short runs is kept: a neighbour on a shared machine
/// only ever slows a run down, and short runs (like one kernel call) often fit into an undisturbed time slice.
/// </summary>
public static class PeakFlops
{
    private static volatile float s_sink;

    /// <summary>Whether the 256-bit loop can run (x86 FMA3).</summary>
    public static bool Supported => Fma.IsSupported;

    /// <summary>Whether the 512-bit loop can run (AVX-512F); informational, since oneDNN uses 512-bit FMAs.</summary>
    public static bool Supported512 => Avx512F.IsSupported;

    /// <summary>Best GFLOP/s over <paramref name="runs"/> runs of about <paramref name="secondsPerRun"/> on <paramref name="threads"/> threads.</summary>
    public static double Measure(int threads, int runs, double secondsPerRun, bool wide = false)
    {
        Func<long, float> body = wide ? Chains512 : Chains256;
        double flopsPerIteration = 12 * (wide ? 16 : 8) * 2;

        long iterations = 1024;
        while (true)
        {
            long start = Stopwatch.GetTimestamp();
            s_sink = body(iterations);
            double elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
            if (elapsed >= 0.001)
            {
                iterations = Math.Max(1, (long)(iterations * secondsPerRun / elapsed));
                break;
            }
            iterations *= 4;
        }

        var crew = new Crew(threads - 1, body, iterations);
        try
        {
            double best = 0;
            for (int r = 0; r < runs; r++)
                best = Math.Max(best, threads * iterations * flopsPerIteration / crew.RunOnce() / 1e9);
            return best;
        }
        finally
        {
            crew.Stop();
        }
    }

    /// <summary>Helper threads that spin between runs, so a run starts on all threads within a microsecond.</summary>
    private sealed class Crew
    {
        private readonly Thread[] _threads;
        private readonly Func<long, float> _body;
        private readonly long _iterations;
        private long _round;
        private int _finished;
        private volatile bool _quit;

        public Crew(int helpers, Func<long, float> body, long iterations)
        {
            _body = body;
            _iterations = iterations;
            _threads = new Thread[helpers];
            for (int i = 0; i < helpers; i++)
            {
                _threads[i] = new Thread(Spin) { IsBackground = true, Name = $"peak helper {i + 1}" };
                _threads[i].Start();
            }
        }

        public double RunOnce()
        {
            Volatile.Write(ref _finished, 0);
            long start = Stopwatch.GetTimestamp();
            Interlocked.Increment(ref _round);
            s_sink = _body(_iterations);
            var spinner = new SpinWait();
            while (Volatile.Read(ref _finished) < _threads.Length) spinner.SpinOnce(-1);
            return Stopwatch.GetElapsedTime(start).TotalSeconds;
        }

        public void Stop()
        {
            _quit = true;
            Interlocked.Increment(ref _round);
            foreach (var t in _threads) t.Join();
        }

        private void Spin()
        {
            long seen = 0;
            while (true)
            {
                long round;
                while ((round = Volatile.Read(ref _round)) == seen) Thread.SpinWait(8);
                seen = round;
                if (_quit) return;
                s_sink = _body(_iterations);
                Interlocked.Increment(ref _finished);
            }
        }
    }

    // x ← x·0.9999 + 1e-5 tends to 0.1: values stay normal, no overflow, and no chain can be optimised away.
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Chains256(long iterations)
    {
        var m = Vector256.Create(0.9999f);
        var c = Vector256.Create(1e-5f);
        Vector256<float> x0 = Vector256.Create(0.50f), x1 = Vector256.Create(0.51f), x2 = Vector256.Create(0.52f), x3 = Vector256.Create(0.53f);
        Vector256<float> x4 = Vector256.Create(0.54f), x5 = Vector256.Create(0.55f), x6 = Vector256.Create(0.56f), x7 = Vector256.Create(0.57f);
        Vector256<float> x8 = Vector256.Create(0.58f), x9 = Vector256.Create(0.59f), x10 = Vector256.Create(0.60f), x11 = Vector256.Create(0.61f);
        for (long i = 0; i < iterations; i++)
        {
            x0 = Fma.MultiplyAdd(x0, m, c); x1 = Fma.MultiplyAdd(x1, m, c); x2 = Fma.MultiplyAdd(x2, m, c);
            x3 = Fma.MultiplyAdd(x3, m, c); x4 = Fma.MultiplyAdd(x4, m, c); x5 = Fma.MultiplyAdd(x5, m, c);
            x6 = Fma.MultiplyAdd(x6, m, c); x7 = Fma.MultiplyAdd(x7, m, c); x8 = Fma.MultiplyAdd(x8, m, c);
            x9 = Fma.MultiplyAdd(x9, m, c); x10 = Fma.MultiplyAdd(x10, m, c); x11 = Fma.MultiplyAdd(x11, m, c);
        }
        return Vector256.Sum(((x0 + x1) + (x2 + x3)) + ((x4 + x5) + (x6 + x7)) + ((x8 + x9) + (x10 + x11)));
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Chains512(long iterations)
    {
        var m = Vector512.Create(0.9999f);
        var c = Vector512.Create(1e-5f);
        Vector512<float> x0 = Vector512.Create(0.50f), x1 = Vector512.Create(0.51f), x2 = Vector512.Create(0.52f), x3 = Vector512.Create(0.53f);
        Vector512<float> x4 = Vector512.Create(0.54f), x5 = Vector512.Create(0.55f), x6 = Vector512.Create(0.56f), x7 = Vector512.Create(0.57f);
        Vector512<float> x8 = Vector512.Create(0.58f), x9 = Vector512.Create(0.59f), x10 = Vector512.Create(0.60f), x11 = Vector512.Create(0.61f);
        for (long i = 0; i < iterations; i++)
        {
            x0 = Avx512F.FusedMultiplyAdd(x0, m, c); x1 = Avx512F.FusedMultiplyAdd(x1, m, c); x2 = Avx512F.FusedMultiplyAdd(x2, m, c);
            x3 = Avx512F.FusedMultiplyAdd(x3, m, c); x4 = Avx512F.FusedMultiplyAdd(x4, m, c); x5 = Avx512F.FusedMultiplyAdd(x5, m, c);
            x6 = Avx512F.FusedMultiplyAdd(x6, m, c); x7 = Avx512F.FusedMultiplyAdd(x7, m, c); x8 = Avx512F.FusedMultiplyAdd(x8, m, c);
            x9 = Avx512F.FusedMultiplyAdd(x9, m, c); x10 = Avx512F.FusedMultiplyAdd(x10, m, c); x11 = Avx512F.FusedMultiplyAdd(x11, m, c);
        }
        return Vector512.Sum(((x0 + x1) + (x2 + x3)) + ((x4 + x5) + (x6 + x7)) + ((x8 + x9) + (x10 + x11)));
    }
}

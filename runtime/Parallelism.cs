using System;
using System.ComponentModel;
using System.Threading;

namespace ConvGen;

/// <summary>
/// How many threads a generated <c>Forward</c> may use, and the small worker pool it runs on. Work is split into
/// contiguous ranges of independent items (rows, channel blocks, samples), one range per thread, so a result never
/// depends on scheduling. A call that finds the pool busy (another thread's Forward) runs on its own thread.
/// </summary>
public static unsafe class Parallelism
{
    private static int s_maxThreads = Environment.ProcessorCount;

    /// <summary>At most this many threads work on one call (default: the processor count; 1 runs on the caller only).</summary>
    public static int MaxThreads
    {
        get => s_maxThreads;
        set => s_maxThreads = value >= 1 ? value
            : throw new ArgumentOutOfRangeException(nameof(value), $"MaxThreads must be at least 1, was {value}.");
    }

    // The job being run: written by the caller holding s_gate, read by the workers after their signal.
    private static readonly object s_gate = new();
    private static delegate*<void*, int, int, void> s_body;
    private static void* s_state;
    private static int s_count, s_parts, s_pending;
    private static Worker[] s_workers = Array.Empty<Worker>();
    // Released once by the last worker to finish. A semaphore rather than a ManualResetEventSlim: the latter creates its
    // lock object the first time a Wait really blocks, a 24-byte allocation that can land in any call, long after warm-up.
    private static readonly SemaphoreSlim s_done = new(0);

    /// <summary>
    /// Runs <paramref name="body"/> over items <c>[0, count)</c>, split into up to <see cref="MaxThreads"/> contiguous
    /// ranges of at least <paramref name="grain"/> items each (fewer than two grains run on the calling thread alone).
    /// </summary>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public static void For(int count, delegate*<void*, int, int, void> body, void* state, int grain = 1)
    {
        int parts = Math.Min(MaxThreads, count / Math.Max(grain, 1));
        if (parts <= 1 || !Monitor.TryEnter(s_gate))
        {
            body(state, 0, count);
            return;
        }
        try
        {
            EnsureWorkers(parts - 1);
            s_body = body;
            s_state = state;
            s_count = count;
            s_parts = parts;
            Volatile.Write(ref s_pending, parts - 1);
            for (int p = 1; p < parts; p++) s_workers[p - 1].Start(p);
            try
            {
                body(state, 0, count / parts);
            }
            finally
            {
                // Even if this thread's part threw: the workers still write into the caller's buffers, and the one
                // release they owe must be taken here, not by the next call.
                s_done.Wait();
            }
        }
        finally
        {
            Monitor.Exit(s_gate);
        }
    }

    private static void EnsureWorkers(int needed)
    {
        if (s_workers.Length >= needed) return;
        var workers = new Worker[needed];
        Array.Copy(s_workers, workers, s_workers.Length);
        for (int i = s_workers.Length; i < needed; i++) workers[i] = new Worker(i);
        s_workers = workers;
    }

    private static void RunPart(int part)
    {
        long begin = (long)s_count * part / s_parts, end = (long)s_count * (part + 1) / s_parts;
        try
        {
            s_body(s_state, (int)begin, (int)end);
        }
        finally
        {
            if (Interlocked.Decrement(ref s_pending) == 0) s_done.Release();
        }
    }

    private sealed class Worker
    {
        private readonly SemaphoreSlim _signal = new(0);
        private int _part;

        public Worker(int index)
        {
            var thread = new Thread(Loop) { IsBackground = true, Name = $"ConvGen worker {index + 1}" };
            thread.Start();
        }

        public void Start(int part)
        {
            _part = part;
            _signal.Release();
        }

        private void Loop()
        {
            while (true)
            {
                _signal.Wait();
                RunPart(_part);
            }
        }
    }
}

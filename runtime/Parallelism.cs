using System;
using System.ComponentModel;
using System.Diagnostics;
using System.Runtime.ExceptionServices;
using System.Threading;

namespace ConvGen;

/// <summary>
/// How many threads a generated <c>Forward</c> may use, and the small worker pool it runs on. Work is split into
/// contiguous ranges of independent items (rows, channel blocks, samples), one range per thread, so a result never
/// depends on scheduling. A call that finds the pool busy (another thread's Forward, or a For inside a part of this
/// thread's own) runs on its own thread.
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

    // The job being run: written by the caller holding s_gate, read by the workers once their sequence number moves.
    private static readonly object s_gate = new();
    private static delegate*<void*, int, int, void> s_body;
    private static void* s_state;
    private static int s_count, s_parts, s_pending;
    private static ExceptionDispatchInfo? s_failure;
    private static Worker[] s_workers = Array.Empty<Worker>();
    // Released by the last worker to finish, for a caller that stopped spinning. A semaphore rather than a
    // ManualResetEventSlim: the latter creates its lock object the first time a Wait really blocks, a 24-byte allocation
    // that can land in any call, long after warm-up.
    private static readonly SemaphoreSlim s_done = new(0);
    // Set in s_pending by a caller about to block: the worker whose decrement leaves exactly this flag owes the release.
    // Count and flag in one word, so that decision is made in the same atomic step that finishes the job.
    private const int CallerBlocked = 1 << 30;

    // How long an idle worker, and a caller waiting for the workers, spin before they block. The steps of a Forward or
    // Backward follow each other within microseconds, and a spinning thread sees a store from the other core within a
    // cache-line transfer, while waking a blocked thread is slow here: two threads taking turns through semaphores
    // took 66–101 µs per round trip. The spin outlasts such a round trip, so a worker woken late is still spinning
    // when its caller, woken late in turn, hands out the next step.
    private const int SpinMicroseconds = 200;
    private static readonly long s_spinTicks = Stopwatch.Frequency * SpinMicroseconds / 1_000_000;

    // Whether a split pays depends on how long a hand-off to the other core takes, and on this machine's 2 vCPUs that
    // swings between periods of minutes (where the hypervisor places them): a ping-pong round trip took 100 ns in one
    // and 390–440 ns in another. So For measures it: s_startTimestamp is when the caller handed out the current job,
    // s_handOffTicks a running average (each sample weighs 1/8) of how long the first worker took to see one when it
    // had not blocked (it spun, or the job was there when it came back), in Stopwatch ticks; samples beyond
    // s_maxSampleTicks are a descheduled thread, not the hand-off.
    private static long s_startTimestamp;
    private static double s_handOffTicks;
    private static readonly long s_maxSampleTicks = Stopwatch.Frequency / 50_000; // 20 µs
    private static readonly double s_nanosecondsPerTick = 1e9 / Stopwatch.Frequency;

    /// <summary>
    /// The least work, in nanoseconds, that the <c>For</c> overload taking <c>itemNanoseconds</c> (the one generated
    /// code calls) gives a thread while hand-offs are quick. Once the measured hand-off (<see cref="HandOffNanoseconds"/>)
    /// exceeds <see cref="SlowHandOffNanoseconds"/>, a part must instead hold <see cref="WorkPerHandOff"/> hand-offs.
    /// </summary>
    /// <remarks>
    /// LeNet's batch-1 forward at 2 threads, medians: in a period of 100 ns round trips (hand-offs measured at
    /// 96–166 ns while every step split), 6.9–7.1 µs with parts of at least 1 µs of work, 8.0 with 2 µs, 9.5 with 4 µs
    /// (nothing split); in a period of 390 ns round trips (hand-offs measured at 325–395 ns), 14.0 µs with 1 µs parts,
    /// 10.5 with 2 µs and 9.5 unsplit. Splitting only the larger steps in a quick period (parts of 1.8 µs) took 10.2 µs:
    /// a step split after one that was not reads its input from the other core's cache, so the threshold has two
    /// settings rather than a slope. 12 hand-offs of 330 ns ask for 4 µs.
    /// </remarks>
    public const double MinPartNanoseconds = 1000;
    internal const double SlowHandOffNanoseconds = 240;
    internal const int WorkPerHandOff = 12;

    // A split refused only because of the measured hand-off is still run now and then, so that the measurement follows
    // the machine: after every ProbePeriod-th refusal, the next ProbeLength calls that would be refused split. The
    // first of them usually finds the worker blocked and pays a wake (tens of µs, not measured); the next ones find it
    // spinning, and 15 samples move the average most of the way to the new level. At LeNet's 8 steps per batch-1
    // forward, a probe comes every 1,024 forwards (about 10 ms). The counters are not synchronized: concurrent callers
    // may miscount, which only moves a probe.
    internal const int ProbePeriod = 8192, ProbeLength = 16;
    private static int s_refused, s_probes;

    /// <summary>
    /// The measured time from a <c>For</c> handing out work to a waiting (spinning) worker starting on it, in
    /// nanoseconds: a running average over recent calls, 0 before the first. It sets how much work a part must hold
    /// (see <see cref="MinPartNanoseconds"/>). Setting it replaces the average, which later calls go on updating, and
    /// restarts the count of refused splits between probes (for tests that need a known starting point).
    /// </summary>
    public static double HandOffNanoseconds
    {
        get => s_handOffTicks * s_nanosecondsPerTick;
        set
        {
            if (!(value >= 0 && value < double.PositiveInfinity))
                throw new ArgumentOutOfRangeException(nameof(value), $"HandOffNanoseconds must be a finite number of nanoseconds ≥ 0, was {value}.");
            s_handOffTicks = value / s_nanosecondsPerTick;
            s_refused = 0;
            s_probes = 0;
        }
    }

    /// <summary>
    /// Runs <paramref name="body"/> over items <c>[0, count)</c>, split into up to <see cref="MaxThreads"/> contiguous
    /// ranges of at least <paramref name="grain"/> items each (fewer than two grains run on the calling thread alone).
    /// </summary>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public static void For(int count, delegate*<void*, int, int, void> body, void* state, int grain = 1)
        => Run(count, body, state, Math.Min(MaxThreads, count / Math.Max(grain, 1)));

    /// <summary>
    /// Runs <paramref name="body"/> over items <c>[0, count)</c> of about <paramref name="itemNanoseconds"/> of work
    /// each (the generator's estimate), split into up to <see cref="MaxThreads"/> contiguous ranges that each hold at
    /// least <see cref="MinPartNanoseconds"/> of work, or <see cref="WorkPerHandOff"/> measured hand-offs when those are
    /// slow (see <see cref="MinPartNanoseconds"/>).
    /// </summary>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public static void For(int count, delegate*<void*, int, int, void> body, void* state, double itemNanoseconds)
    {
        int parts = Math.Min(MaxThreads, count / ItemsHolding(MinPartNanoseconds, itemNanoseconds));
        double handOff = HandOffNanoseconds;
        if (parts > 1 && handOff > SlowHandOffNanoseconds)
        {
            double handOffs = WorkPerHandOff * handOff;
            int affordable = count / ItemsHolding(handOffs, itemNanoseconds);
            if (affordable >= 2) parts = Math.Min(parts, affordable);
            else if (s_probes > 0) { s_probes--; parts = 2; }
            else
            {
                if (++s_refused % ProbePeriod == 0) s_probes = ProbeLength;
                parts = 1;
            }
        }
        Run(count, body, state, parts);
    }

    /// <summary>
    /// The fewest items of <paramref name="itemNanoseconds"/> each that hold <paramref name="nanoseconds"/> of work
    /// (all of them, so no split, for an estimate that is not a positive number).
    /// </summary>
    private static int ItemsHolding(double nanoseconds, double itemNanoseconds)
    {
        if (!(itemNanoseconds > 0)) return int.MaxValue;
        double items = Math.Ceiling(nanoseconds / itemNanoseconds);
        return items >= 1 ? (int)Math.Min(items, int.MaxValue) : 1;
    }

    private static void Run(int count, delegate*<void*, int, int, void> body, void* state, int parts)
    {
        // Monitor is re-entrant: a For inside a part run by this thread must not take the pool its own call holds.
        if (parts <= 1 || Monitor.IsEntered(s_gate) || !Monitor.TryEnter(s_gate))
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
            s_failure = null;
            Volatile.Write(ref s_pending, parts - 1);
            s_startTimestamp = Stopwatch.GetTimestamp();
            for (int p = 1; p < parts; p++) s_workers[p - 1].Start(p);
            try
            {
                body(state, 0, PartStart(count, parts, 1));
            }
            finally
            {
                // Even if this thread's part threw: the workers still write into the caller's buffers.
                WaitForWorkers();
            }
            s_failure?.Throw();
        }
        finally
        {
            Monitor.Exit(s_gate);
        }
    }

    /// <summary>
    /// Where part <paramref name="part"/> of <paramref name="parts"/> starts: contiguous parts whose sizes differ by at
    /// most one item, part 0 holding ⌈count/parts⌉. The caller runs part 0, and starts on it while the workers are
    /// still seeing their job, so an item that does not divide evenly goes to it.
    /// </summary>
    internal static int PartStart(int count, int parts, int part) => count - (int)((long)count * (parts - part) / parts);

    private static void WaitForWorkers()
    {
        long deadline = Stopwatch.GetTimestamp() + s_spinTicks;
        while (Volatile.Read(ref s_pending) != 0)
        {
            if (Stopwatch.GetTimestamp() > deadline)
            {
                // The flag asks the worker whose decrement finishes the job for a release. A release can also be left
                // over (the count reached zero between the flag and the look below), so a wake only means: look again.
                Interlocked.Or(ref s_pending, CallerBlocked);
                while ((Volatile.Read(ref s_pending) & ~CallerBlocked) != 0) s_done.Wait();
                return;
            }
            Thread.SpinWait(8);
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
        int begin = PartStart(s_count, s_parts, part), end = PartStart(s_count, s_parts, part + 1);
        try
        {
            s_body(s_state, begin, end);
        }
        catch (Exception e)
        {
            // Thrown on a worker it would end the process; the caller rethrows it instead (the first, if several).
            Interlocked.CompareExchange(ref s_failure, ExceptionDispatchInfo.Capture(e), null);
        }
        finally
        {
            if (Interlocked.Decrement(ref s_pending) == CallerBlocked) s_done.Release();
        }
    }

    // One worker thread. A job arrives as a new sequence number: the worker spins on it for a while after each part,
    // then blocks on its semaphore, having set _blocked, which tells Start to release it. A wake-up is never lost (see
    // AwaitJob); a release left over from an earlier block costs one extra look, nothing more. (Job 1 is not measured:
    // it includes the thread's start.)
    private sealed class Worker
    {
        private readonly SemaphoreSlim _signal = new(0);
        private readonly bool _measures;
        private int _sequence, _part, _blocked;

        public Worker(int index)
        {
            _measures = index == 0;
            var thread = new Thread(Loop) { IsBackground = true, Name = $"ConvGen worker {index + 1}" };
            thread.Start();
        }

        public void Start(int part)
        {
            _part = part;
            Interlocked.Increment(ref _sequence);
            if (Interlocked.Exchange(ref _blocked, 0) == 1) _signal.Release();
        }

        private void Loop()
        {
            int seen = 0;
            while (true)
            {
                bool spun = AwaitJob(seen);
                seen = Volatile.Read(ref _sequence);
                if (spun && _measures && seen != 1) Measure(Stopwatch.GetTimestamp() - Volatile.Read(ref s_startTimestamp));
                RunPart(_part);
            }
        }

        /// <summary>
        /// Returns once the sequence number has moved past <paramref name="seen"/>: true if it did before this thread
        /// blocked. A wake from the semaphore only means "look again": the loop, not the release, decides that a job
        /// has come, so a release that arrives late or twice never runs a part that was not handed out.
        /// </summary>
        private bool AwaitJob(int seen)
        {
            bool spun = true;
            long deadline = Stopwatch.GetTimestamp() + s_spinTicks;
            while (Volatile.Read(ref _sequence) == seen)
            {
                if (Stopwatch.GetTimestamp() > deadline)
                {
                    spun = false;
                    // Flag first, then look: Start increments the sequence before it takes the flag, so either this
                    // look sees the new job or Start sees the flag and releases.
                    Interlocked.Exchange(ref _blocked, 1);
                    if (Volatile.Read(ref _sequence) == seen) _signal.Wait();
                    Interlocked.Exchange(ref _blocked, 0);
                    continue;
                }
                Thread.SpinWait(1);
            }
            return spun;
        }
    }

    private static void Measure(long ticks)
    {
        if (ticks > s_maxSampleTicks) return;
        double estimate = s_handOffTicks;
        // One late sample (an interrupt, a preempted thread) raises the average by at most half.
        s_handOffTicks = estimate == 0 ? ticks : estimate + (Math.Min(ticks, 5 * estimate) - estimate) / 8;
    }
}

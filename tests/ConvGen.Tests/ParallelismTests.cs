using System;
using System.Linq;
using System.Threading;
using ConvGen.Tests.Infrastructure;
using Xunit;

namespace ConvGen.Tests;

/// <summary>How <see cref="Parallelism.For"/> splits items: contiguous ranges, at most MaxThreads, at least a grain each.</summary>
[Collection(nameof(Sequential))]
public sealed unsafe class ParallelismTests
{
    // One row per call of the body: begin, end, managed thread id. Slot 0 counts the rows.
    private static void Record(void* state, int begin, int end)
    {
        int* log = (int*)state;
        int row = Interlocked.Increment(ref log[0]);
        log[3 * row - 2] = begin;
        log[3 * row - 1] = end;
        log[3 * row] = Environment.CurrentManagedThreadId;
    }

    private static (int Begin, int End, int Thread)[] Split(int maxThreads, int count, int grain)
    {
        int* log = stackalloc int[1 + 3 * 16];
        log[0] = 0;
        using (new MaxThreadsScope(maxThreads)) Parallelism.For(count, &Record, log, grain);
        return Parts(log);
    }

    // The overload generated code calls: items of an estimated cost, after setting the measured hand-off.
    private static (int Begin, int End, int Thread)[] SplitWork(int count, double itemNanoseconds, double handOff)
    {
        int* log = stackalloc int[1 + 3 * 16];
        log[0] = 0;
        using (new MaxThreadsScope(2))
        {
            Parallelism.HandOffNanoseconds = handOff;
            Parallelism.For(count, &Record, log, itemNanoseconds);
        }
        return Parts(log);
    }

    private static (int Begin, int End, int Thread)[] Parts(int* log)
        => Enumerable.Range(1, log[0]).Select(r => (log[3 * r - 2], log[3 * r - 1], log[3 * r])).OrderBy(p => p.Item1).ToArray();

    // The hand-off at which a part must hold this much work.
    private static double HandOffAsking(double partNanoseconds) => partNanoseconds / Parallelism.WorkPerHandOff;

    [Theory]
    [InlineData(4, 10, 1, new[] { 0, 3, 5, 8, 10 })] // no grain: one part per thread, part 0 (the caller's) one of the larger
    [InlineData(4, 10, 4, new[] { 0, 5, 10 })]       // 10 items of grain 4: two parts
    [InlineData(2, 100, 30, new[] { 0, 50, 100 })]   // grain below count / threads: every thread
    [InlineData(2, 5, 1, new[] { 0, 3, 5 })]         // an odd count: the caller takes the extra item
    [InlineData(4, 10, 0, new[] { 0, 3, 5, 8, 10 })] // a grain below 1 counts as 1
    public void SplitsIntoContiguousPartsOfAtLeastTheGrain(int maxThreads, int count, int grain, int[] bounds)
    {
        var parts = Split(maxThreads, count, grain);
        Assert.Equal(bounds.Length - 1, parts.Length);
        for (int p = 0; p < parts.Length; p++)
        {
            Assert.Equal(bounds[p], parts[p].Begin);
            Assert.Equal(bounds[p + 1], parts[p].End);
        }
        // Part 0 (one of the larger) runs on the caller, which starts on it before a worker sees its own.
        Assert.Equal(Environment.CurrentManagedThreadId, parts[0].Thread);
        Assert.All(parts.Skip(1), part => Assert.NotEqual(Environment.CurrentManagedThreadId, part.Thread));
    }

    [Theory]
    [InlineData(7, 4)]  // fewer than two grains
    [InlineData(28, 48)] // LeNet's first layer at batch 1: 28 rows, grain 48
    [InlineData(0, 1)]
    public void FewerItemsThanTwoGrainsRunOnTheCallerAlone(int count, int grain)
    {
        var parts = Split(4, count, grain);
        var single = Assert.Single(parts);
        Assert.Equal((0, count), (single.Begin, single.End));
        Assert.Equal(Environment.CurrentManagedThreadId, single.Thread);
    }

    [Theory]
    [InlineData(250, 8)] // 4 items hold MinPartNanoseconds: 8 items make two parts, 7 one
    [InlineData(1000, 2)]
    [InlineData(3000, 2)] // one item is more than a part needs
    public void APartHoldsAtLeastMinPartNanosecondsOfEstimatedWork(double itemNanoseconds, int fewestToSplit)
    {
        Assert.Equal(2, SplitWork(fewestToSplit, itemNanoseconds, handOff: 0).Length);
        Assert.Single(SplitWork(fewestToSplit - 1, itemNanoseconds, handOff: 0));
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-5.0)]
    [InlineData(double.NaN)]
    public void AnEstimateThatIsNotPositiveDoesNotSplit(double itemNanoseconds)
        => Assert.Single(SplitWork(1000, itemNanoseconds, handOff: 0));

    [Theory]
    [InlineData(250, 32)] // 4 µs parts: 16 items each
    [InlineData(2000, 4)]
    public void ASlowHandOffNeedsProportionallyBiggerParts(double itemNanoseconds, int fewestToSplit)
    {
        double slow = HandOffAsking(4000);
        Assert.Equal(2, SplitWork(fewestToSplit, itemNanoseconds, slow).Length);
        Assert.Single(SplitWork(fewestToSplit - 1, itemNanoseconds, slow));
        Assert.Equal(2, SplitWork(fewestToSplit - 1, itemNanoseconds, handOff: 0).Length); // a quick hand-off would split it
    }

    [Fact]
    public void UpToTheSlowThresholdAHandOffLeavesTheMinimumPart()
    {
        // 12 hand-offs of 240 ns would ask for 2.9 µs parts; at the threshold the 1 µs minimum still decides.
        Assert.Equal(2, SplitWork(8, 250, Parallelism.SlowHandOffNanoseconds).Length);
        Assert.Single(SplitWork(8, 250, Parallelism.SlowHandOffNanoseconds + 1));
    }

    [Fact]
    public void RefusedSplitsAreProbedSoTheMeasurementFollowsTheMachine()
    {
        using var threads = new MaxThreadsScope(2);
        Parallelism.HandOffNanoseconds = HandOffAsking(1e6); // 1 ms parts
        int* log = stackalloc int[1 + 3 * 16];
        var splitCalls = new System.Collections.Generic.List<int>();
        for (int call = 1; call <= Parallelism.ProbePeriod + Parallelism.ProbeLength + 1; call++)
        {
            log[0] = 0;
            Parallelism.For(10, &Record, log, itemNanoseconds: 1000); // worth 2 parts at a quick hand-off
            if (log[0] > 1) splitCalls.Add(call);
        }
        // Refusals 1 … ProbePeriod run alone; the next ProbeLength calls split; then refusals count again.
        Assert.Equal(Enumerable.Range(Parallelism.ProbePeriod + 1, Parallelism.ProbeLength), splitCalls);
    }

    [Fact]
    public void HandOffsAreMeasuredWhileTheWorkerSpins()
    {
        using var threads = new MaxThreadsScope(2);
        Parallelism.HandOffNanoseconds = 0;
        int* log = stackalloc int[1 + 3 * 16];
        // Samples above 20 µs are not taken (a descheduled thread), nor those of a worker that had stopped spinning; on
        // a loaded machine (CI's run next to a build) all of 200 calls were once refused, so calls go on, up to
        // 20,000, until one is taken.
        for (int call = 0; call < 200 || (Parallelism.HandOffNanoseconds == 0 && call < 20_000); call++)
        {
            log[0] = 0;
            Parallelism.For(1 << 20, &Record, log, 1); // split whatever the hand-off
            Assert.Equal(2, log[0]);
        }
        // A cross-core hand-off is well below 20 µs.
        Assert.InRange(Parallelism.HandOffNanoseconds, 1, 20_000);
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(-1.0)]
    [InlineData(double.PositiveInfinity)]
    public void AHandOffMustBeAFiniteTimeOfAtLeastZero(double value)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => Parallelism.HandOffNanoseconds = value);
        Assert.Contains("HandOffNanoseconds", error.Message);
    }

    // Parts longer than the spin (the caller blocks on the join) and pauses longer than it (the worker blocks): every
    // part still runs once per call and the caller returns only after all of them.
    private static void SlowOnWorker(void* state, int begin, int end)
    {
        if (begin > 0) Thread.Sleep(1);
        Count(state, begin, end);
    }

    [Fact]
    public void ThreadsThatBlockedAfterSpinningStillMeet()
    {
        using var threads = new MaxThreadsScope(2);
        int done = 0;
        for (int call = 1; call <= 20; call++)
        {
            Parallelism.For(2, &SlowOnWorker, &done, 1); // the grain overload: split whatever the hand-off
            Assert.Equal(2 * call, Volatile.Read(ref done));
            if (call % 2 == 0) Thread.Sleep(1);
        }
    }

    // Each part of the outer call runs an inner For over 100 items and counts them.
    private static void Nested(void* state, int begin, int end)
    {
        for (int i = begin; i < end; i++) Parallelism.For(100, &Count, state, 1);
    }

    private static void Count(void* state, int begin, int end) => Interlocked.Add(ref *(int*)state, end - begin);

    [Fact]
    public void AForInsideAPartRunsOnThatPartsThread()
    {
        using var threads = new MaxThreadsScope(2);
        int counted = 0;
        for (int call = 1; call <= 50; call++)
        {
            Parallelism.For(2, &Nested, &counted, 1);
            Assert.Equal(200 * call, Volatile.Read(ref counted)); // every inner item, before the outer call returned
        }
    }

    private static void ThrowOnWorker(void* state, int begin, int end)
    {
        if (begin > 0) throw new InvalidOperationException($"part [{begin}, {end})");
    }

    [Fact]
    public void AnExceptionInAWorkersPartReachesTheCaller()
    {
        using var threads = new MaxThreadsScope(2);
        var error = Assert.Throws<InvalidOperationException>(() => Parallelism.For(2, &ThrowOnWorker, null, 1));
        Assert.Equal("part [1, 2)", error.Message);
        int counted = 0;
        Parallelism.For(1000, &Count, &counted, 1); // the pool still works
        Assert.Equal(1000, counted);
    }
}

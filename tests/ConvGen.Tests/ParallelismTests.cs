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
        return Enumerable.Range(1, log[0]).Select(r => (log[3 * r - 2], log[3 * r - 1], log[3 * r])).OrderBy(p => p.Item1).ToArray();
    }

    [Theory]
    [InlineData(4, 10, 1, new[] { 0, 2, 5, 7, 10 })] // no grain: one part per thread
    [InlineData(4, 10, 4, new[] { 0, 5, 10 })]       // 10 items of grain 4: two parts
    [InlineData(2, 100, 30, new[] { 0, 50, 100 })]   // grain below count / threads: every thread
    [InlineData(4, 10, 0, new[] { 0, 2, 5, 7, 10 })] // a grain below 1 counts as 1
    public void SplitsIntoContiguousPartsOfAtLeastTheGrain(int maxThreads, int count, int grain, int[] bounds)
    {
        var parts = Split(maxThreads, count, grain);
        Assert.Equal(bounds.Length - 1, parts.Length);
        for (int p = 0; p < parts.Length; p++)
        {
            Assert.Equal(bounds[p], parts[p].Begin);
            Assert.Equal(bounds[p + 1], parts[p].End);
        }
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
}

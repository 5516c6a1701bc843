using System;
using System.Collections.Generic;

namespace ConvGen.Tests.Infrastructure;

/// <summary>What warm code allocates on the calling thread, measured so that a one-off by the runtime does not count.</summary>
internal static class Allocations
{
    /// <summary>
    /// Runs <paramref name="round"/> up to <paramref name="rounds"/> times and returns the bytes each run allocated on the
    /// calling thread, stopping after the first that allocated nothing. An allocation in every call shows in every
    /// round; a one-off by the runtime on this thread does not fail a test (once in a full CI run, a round of 20 warm
    /// LeNet forwards saw 8,016 bytes that no rerun reproduced). Callers assert that the last entry is 0.
    /// </summary>
    public static List<long> UntilQuiet(Action round, int rounds = 3)
    {
        var bytes = new List<long>();
        do
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            round();
            bytes.Add(GC.GetAllocatedBytesForCurrentThread() - before);
        }
        while (bytes[^1] != 0 && bytes.Count < rounds);
        return bytes;
    }
}

using System;

namespace ConvGen.Tests.Infrastructure;

/// <summary>
/// Sets <see cref="Parallelism.MaxThreads"/> for a test (or only remembers it, when given none) and puts the old value
/// back on dispose, even when the test fails. Tests that use it belong to the <c>Sequential</c> collection. Given more
/// than one thread, it also clears the pool's hand-off estimate (<see cref="Parallelism.HandOffNanoseconds"/>), so the
/// steps the test runs first split whenever their parts would hold 1 µs of work, whatever hand-offs were measured
/// before (on this machine they often measure slow enough to keep small test batches on one thread); the pool measures
/// them again as it runs.
/// </summary>
internal readonly struct MaxThreadsScope : IDisposable
{
    private readonly int _saved;

    public MaxThreadsScope(int? threads)
    {
        _saved = Parallelism.MaxThreads;
        if (threads is int t) Parallelism.MaxThreads = t;
        if (threads > 1) Parallelism.HandOffNanoseconds = 0;
    }

    public void Dispose() => Parallelism.MaxThreads = _saved;
}

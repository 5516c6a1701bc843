using System;

namespace ConvGen.Tests.Infrastructure;

/// <summary>
/// Sets <see cref="Parallelism.MaxThreads"/> for a test (or only remembers it, when given none) and puts the old value
/// back on dispose, even when the test fails. Tests that use it belong to the <c>Sequential</c> collection.
/// </summary>
internal readonly struct MaxThreadsScope : IDisposable
{
    private readonly int _saved;

    public MaxThreadsScope(int? threads)
    {
        _saved = Parallelism.MaxThreads;
        if (threads is int t) Parallelism.MaxThreads = t;
    }

    public void Dispose() => Parallelism.MaxThreads = _saved;
}

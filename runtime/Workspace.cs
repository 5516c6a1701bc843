using System;
using System.ComponentModel;

namespace ConvGen;

/// <summary>
/// Per-thread scratch memory for generated kernels. Each thread keeps one array per network type and grows it only
/// when a larger batch arrives, so a warm <c>Forward</c> allocates nothing and concurrent calls never share buffers.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class Workspace
{
    /// <summary>
    /// Returns <paramref name="slot"/>, replaced by a larger array first when it holds fewer than <paramref name="length"/>
    /// floats. Past the largest array it throws, naming <c>batch</c>: the generated Forward and Backward size their
    /// workspaces by the caller's batch, the only argument that can make one too large.
    /// </summary>
    public static float[] Ensure(ref float[]? slot, long length)
    {
        Check(length);
        if (slot is null || slot.Length < length)
            slot = GC.AllocateUninitializedArray<float>((int)length);
        return slot;
    }

    /// <summary>
    /// Throws as <see cref="Ensure"/> does for a workspace of <paramref name="length"/> floats, without allocating one:
    /// for a call that must fail before it changes anything, while its threads size their own workspaces later.
    /// </summary>
    public static void Check(long length)
    {
        if (length < 0 || length > Array.MaxLength)
            throw new ArgumentOutOfRangeException("batch", $"A workspace of {length} floats is larger than the largest array .NET allows ({Array.MaxLength}); use a smaller batch.");
    }
}

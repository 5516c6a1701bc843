using System;

namespace ConvGen.Training;

/// <summary>
/// Training stopped because a loss or a parameter became NaN or infinite. The message says where, and whether the last
/// good checkpoint (written at the end of the last epoch that ended well) is intact on disk.
/// </summary>
public sealed class TrainingDivergedException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What diverged, where, and what the checkpoint holds.</param>
    /// <param name="epoch">The epoch it happened in, 1 for the first.</param>
    /// <param name="batch">Batches of that epoch done when it was noticed, 1-based (the batch whose loss diverged).</param>
    /// <param name="checkpointPath">The last good checkpoint written in this run, or null if none was.</param>
    /// <param name="checkpointEpoch">The epoch that checkpoint was written after, or null.</param>
    public TrainingDivergedException(string message, int epoch, int batch, string? checkpointPath, int? checkpointEpoch)
        : base(message)
    {
        Epoch = epoch;
        Batch = batch;
        CheckpointPath = checkpointPath;
        CheckpointEpoch = checkpointEpoch;
    }

    /// <summary>The epoch training diverged in, 1 for the first.</summary>
    public int Epoch { get; }

    /// <summary>The batch (1-based within <see cref="Epoch"/>) whose loss was non-finite, or the epoch's batch count when the divergence was found at its end.</summary>
    public int Batch { get; }

    /// <summary>The last good checkpoint written in this run, or null if none was (no path set, or the first epoch diverged).</summary>
    public string? CheckpointPath { get; }

    /// <summary>The epoch after which <see cref="CheckpointPath"/> was written, or null.</summary>
    public int? CheckpointEpoch { get; }
}

using System;

namespace ConvGen.Training;

/// <summary>How <see cref="Trainer"/> trains: epochs, batches, shuffling, optimizer, schedule, checkpoints and reporting.</summary>
public sealed class TrainingOptions
{
    /// <summary>The optimizer, built over the network's parameters (or a subset of them).</summary>
    public required Optimizer Optimizer { get; init; }

    /// <summary>Passes over the training set (≥ 1). Default 1.</summary>
    public int Epochs { get; init; } = 1;

    /// <summary>Samples per batch (≥ 1); the last batch of an epoch holds the remainder, as PyTorch's DataLoader does by default. Default 64.</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>Seeds the shuffling: epoch <c>e</c> visits the samples in the order <see cref="Trainer.EpochOrder"/> gives for (Seed, e). Default 0.</summary>
    public int Seed { get; init; }

    /// <summary>When set, <c>Optimizer.LearningRate = Schedule.LearningRateAt(e)</c> before epoch <c>e</c> (0-based). Default none (the optimizer's rate).</summary>
    public LearningRateSchedule? Schedule { get; init; }

    /// <summary>
    /// When set, the network is saved here (safetensors, atomically, via <see cref="INetwork.Save"/>) after every epoch
    /// that ends with finite parameters and losses. <c>Fit</c> checks it before the first epoch: a file path, not a
    /// folder, in a folder that exists and takes a new file.
    /// </summary>
    public string? CheckpointPath { get; init; }

    /// <summary>Called after every <see cref="ProgressInterval"/>-th batch and after each epoch's last batch, on the training thread.</summary>
    public Action<BatchProgress>? Progress { get; init; }

    /// <summary>Batches between <see cref="Progress"/> calls (≥ 1). Default 1 (every batch).</summary>
    public int ProgressInterval { get; init; } = 1;

    /// <summary>Called at the end of every epoch, after its checkpoint is written.</summary>
    public Action<EpochResult>? EpochCompleted { get; init; }
}

/// <summary>Progress within an epoch, passed to <see cref="TrainingOptions.Progress"/> (a struct: reporting allocates nothing).</summary>
/// <param name="Epoch">The epoch, 1 for the first.</param>
/// <param name="Epochs">Epochs in the run.</param>
/// <param name="Batch">Batches done in this epoch, 1 after the first.</param>
/// <param name="Batches">Batches per epoch.</param>
/// <param name="RunningLoss">Mean training loss over this epoch's samples so far (each batch's loss weighted by its size).</param>
/// <param name="RunningAccuracy">Fraction of this epoch's samples so far predicted correctly (before their batch's step).</param>
/// <param name="ImagesPerSecond">Samples trained per second of wall time since the epoch began.</param>
public readonly record struct BatchProgress(int Epoch, int Epochs, int Batch, int Batches, double RunningLoss, double RunningAccuracy, double ImagesPerSecond);

/// <summary>The outcome of one epoch.</summary>
/// <param name="Epoch">The epoch, 1 for the first.</param>
/// <param name="LearningRate">The learning rate used throughout the epoch.</param>
/// <param name="TrainLoss">Mean training loss over the epoch's samples (each measured before its batch's step).</param>
/// <param name="TrainAccuracy">Fraction of training samples predicted correctly (before their batch's step).</param>
/// <param name="Test">The test set evaluated after the epoch, or null when none was given.</param>
/// <param name="Seconds">Wall time of the epoch: training, evaluation and checkpoint.</param>
public sealed record EpochResult(int Epoch, double LearningRate, double TrainLoss, double TrainAccuracy, EvaluationResult? Test, double Seconds)
{
    /// <summary>Mean test loss, or null without a test set.</summary>
    public double? TestLoss => Test?.Loss;

    /// <summary>Test accuracy, or null without a test set.</summary>
    public double? TestAccuracy => Test?.Accuracy;
}

/// <summary>A network's performance on a labelled set.</summary>
/// <param name="Loss">Mean softmax cross-entropy over the samples.</param>
/// <param name="Accuracy">Fraction of samples whose largest output is at their label.</param>
/// <param name="ClassAccuracy">Accuracy among the samples of each class (NaN for a class without samples).</param>
/// <param name="ClassCounts">Samples of each class.</param>
public sealed record EvaluationResult(double Loss, double Accuracy, System.Collections.Generic.IReadOnlyList<double> ClassAccuracy,
                                      System.Collections.Generic.IReadOnlyList<int> ClassCounts);

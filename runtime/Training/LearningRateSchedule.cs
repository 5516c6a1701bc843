using System;

namespace ConvGen.Training;

/// <summary>
/// A learning rate as a function of the epoch, applied once per epoch:
/// <c>optimizer.LearningRate = schedule.LearningRateAt(epoch)</c> before the epoch's first step.
/// <c>epoch</c> counts the epochs completed before this one (0 for the first), as PyTorch's <c>last_epoch</c> does after
/// <c>scheduler.step()</c> has been called once per finished epoch; the values are PyTorch's closed forms.
/// </summary>
public abstract class LearningRateSchedule
{
    /// <summary>Creates a schedule starting from <paramref name="baseLearningRate"/> (PyTorch's <c>base_lr</c>, the optimizer's initial lr).</summary>
    /// <param name="baseLearningRate">The learning rate at epoch 0 (≥ 0, finite).</param>
    /// <exception cref="ArgumentOutOfRangeException">The rate is negative, infinite or NaN.</exception>
    protected LearningRateSchedule(double baseLearningRate)
    {
        if (!(baseLearningRate >= 0) || !double.IsFinite(baseLearningRate))
            throw new ArgumentOutOfRangeException(nameof(baseLearningRate), $"The base learning rate must be finite and ≥ 0, was {baseLearningRate}.");
        BaseLearningRate = baseLearningRate;
    }

    /// <summary>The learning rate at epoch 0.</summary>
    public double BaseLearningRate { get; }

    /// <summary>The learning rate for the epoch that follows <paramref name="epoch"/> completed epochs.</summary>
    /// <param name="epoch">Epochs completed so far (≥ 0).</param>
    /// <returns>The learning rate, in double as PyTorch's.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="epoch"/> is negative.</exception>
    public double LearningRateAt(int epoch)
    {
        if (epoch < 0) throw new ArgumentOutOfRangeException(nameof(epoch), $"epoch must be ≥ 0, was {epoch}.");
        return Compute(epoch);
    }

    /// <summary>The closed form, in double, for a valid <paramref name="epoch"/>.</summary>
    /// <param name="epoch">Epochs completed so far (≥ 0).</param>
    /// <returns>The learning rate.</returns>
    protected abstract double Compute(int epoch);
}

/// <summary>
/// <c>torch.optim.lr_scheduler.StepLR</c>: the base rate multiplied by <c>gamma</c> every <c>stepSize</c> epochs,
/// <c>lr(epoch) = base · gamma^⌊epoch / stepSize⌋</c>.
/// </summary>
public sealed class StepLR : LearningRateSchedule
{
    /// <summary>Creates the schedule.</summary>
    /// <param name="baseLearningRate">The learning rate at epoch 0.</param>
    /// <param name="stepSize">Epochs between decays (≥ 1).</param>
    /// <param name="gamma">The decay factor (finite, ≥ 0; PyTorch's default 0.1).</param>
    /// <exception cref="ArgumentOutOfRangeException">An argument is out of range.</exception>
    public StepLR(double baseLearningRate, int stepSize, double gamma = 0.1) : base(baseLearningRate)
    {
        if (stepSize < 1) throw new ArgumentOutOfRangeException(nameof(stepSize), $"stepSize must be ≥ 1, was {stepSize}.");
        if (!(gamma >= 0) || !double.IsFinite(gamma))
            throw new ArgumentOutOfRangeException(nameof(gamma), $"gamma must be finite and ≥ 0, was {gamma}.");
        StepSize = stepSize;
        Gamma = gamma;
    }

    /// <summary>Epochs between decays.</summary>
    public int StepSize { get; }

    /// <summary>The decay factor.</summary>
    public double Gamma { get; }

    /// <inheritdoc/>
    protected override double Compute(int epoch) => BaseLearningRate * Math.Pow(Gamma, epoch / StepSize);
}

/// <summary>
/// <c>torch.optim.lr_scheduler.CosineAnnealingLR</c> in its closed form (SGDR without restarts):
/// <c>lr(epoch) = etaMin + (base − etaMin) · (1 + cos(π · epoch / tMax)) / 2</c>. It reaches <c>etaMin</c> at
/// <c>epoch = tMax</c> and, past it, rises again along the same cosine, as PyTorch's does.
/// </summary>
public sealed class CosineAnnealingLR : LearningRateSchedule
{
    /// <summary>Creates the schedule.</summary>
    /// <param name="baseLearningRate">The learning rate at epoch 0.</param>
    /// <param name="tMax">Epochs of the half cosine, from the base rate down to <paramref name="etaMin"/> (≥ 1).</param>
    /// <param name="etaMin">The smallest learning rate (finite, ≥ 0).</param>
    /// <exception cref="ArgumentOutOfRangeException">An argument is out of range.</exception>
    public CosineAnnealingLR(double baseLearningRate, int tMax, double etaMin = 0) : base(baseLearningRate)
    {
        if (tMax < 1) throw new ArgumentOutOfRangeException(nameof(tMax), $"tMax must be ≥ 1, was {tMax}.");
        if (!(etaMin >= 0) || !double.IsFinite(etaMin))
            throw new ArgumentOutOfRangeException(nameof(etaMin), $"etaMin must be finite and ≥ 0, was {etaMin}.");
        TMax = tMax;
        EtaMin = etaMin;
    }

    /// <summary>Epochs from the base rate down to <see cref="EtaMin"/>.</summary>
    public int TMax { get; }

    /// <summary>The smallest learning rate.</summary>
    public double EtaMin { get; }

    /// <inheritdoc/>
    protected override double Compute(int epoch)
        => EtaMin + (BaseLearningRate - EtaMin) * (1 + Math.Cos(Math.PI * epoch / TMax)) / 2;
}

using System;
using System.Collections.Generic;

namespace ConvGen.Training;

/// <summary>
/// Updates a fixed set of parameters from their accumulated gradients, with PyTorch's update rules (torch 1.13).
/// Works directly on <see cref="Parameter.Values"/> and <see cref="Parameter.Gradient"/> in the packed layout: the
/// rules are elementwise, and every rule maps a zero value with a zero gradient (a padding slot) to zero.
/// </summary>
/// <remarks>
/// Hyperparameters other than the learning rate are kept in double, like PyTorch's Python floats; scalar factors
/// (bias corrections, step sizes) are computed in double and each elementwise operation is done in float32 in
/// PyTorch's order, with a fused multiply-add wherever PyTorch calls <c>add(other, alpha=…)</c> (its CPU kernels fuse
/// those); in the peer tests the trajectories are bit-identical to torch 1.13 on x86-64 (AVX2). Fused multiply-adds are exact on every
/// machine (emulated where the hardware lacks them), so results never depend on the CPU. <see cref="Step"/> allocates
/// nothing. Not thread-safe: step from one thread at a time.
/// </remarks>
public abstract class Optimizer
{
    private readonly Parameter[] _parameters;
    private float _learningRate;

    /// <summary>Takes the parameters to update (each at most once) and the initial learning rate.</summary>
    /// <param name="parameters">Usually <see cref="INetwork.Parameters"/>; copied, so later changes to the list do not matter.</param>
    /// <param name="learningRate">The initial learning rate (≥ 0, finite).</param>
    /// <exception cref="ArgumentException">A parameter is null or appears twice.</exception>
    protected Optimizer(IReadOnlyList<Parameter> parameters, float learningRate)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        _parameters = new Parameter[parameters.Count];
        var seen = new HashSet<Parameter>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < _parameters.Length; i++)
        {
            var p = parameters[i] ?? throw new ArgumentException($"parameters[{i}] is null.", nameof(parameters));
            if (!seen.Add(p))
                throw new ArgumentException($"Parameter '{p.Name}' (parameters[{i}]) appears more than once; it would be updated twice per step.", nameof(parameters));
            _parameters[i] = p;
        }
        Parameters = Array.AsReadOnly(_parameters);
        LearningRate = learningRate;
    }

    /// <summary>The parameters this optimizer updates, in order.</summary>
    public IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>The learning rate the next <see cref="Step"/> uses (PyTorch's <c>param_group["lr"]</c>); schedules set it per epoch.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative, infinite or NaN.</exception>
    public float LearningRate
    {
        get => _learningRate;
        set => _learningRate = value >= 0 && float.IsFinite(value) ? value
            : throw new ArgumentOutOfRangeException(nameof(value), $"The learning rate must be finite and ≥ 0, was {value}.");
    }

    /// <summary>Steps taken so far (PyTorch's per-parameter <c>state["step"]</c>; 0 before the first step).</summary>
    public long StepCount { get; private set; }

    /// <summary>Updates every parameter from its accumulated gradient. Does not clear the gradients (see <see cref="ZeroGrad"/>).</summary>
    public void Step()
    {
        StepCount++;
        for (int i = 0; i < _parameters.Length; i++) Update(i, _parameters[i].Values, _parameters[i].Gradient, StepCount);
    }

    /// <summary>Sets the accumulated gradient of every parameter of this optimizer to zero.</summary>
    public void ZeroGrad()
    {
        foreach (var p in _parameters) p.ZeroGradient();
    }

    /// <summary>Applies one update to parameter <paramref name="index"/>.</summary>
    /// <param name="index">Position in <see cref="Parameters"/>, for per-parameter state.</param>
    /// <param name="values">The packed values, updated in place.</param>
    /// <param name="gradient">The packed gradient, as long as <paramref name="values"/>.</param>
    /// <param name="step">The step number, 1 for the first step.</param>
    protected abstract void Update(int index, Span<float> values, ReadOnlySpan<float> gradient, long step);

    /// <summary>Per-parameter state buffers (zeroed, packed length), for subclasses.</summary>
    /// <returns>One float array per parameter, as long as its <see cref="Parameter.Values"/>.</returns>
    protected float[][] CreateState()
    {
        var state = new float[_parameters.Length][];
        for (int i = 0; i < state.Length; i++) state[i] = new float[_parameters[i].Values.Length];
        return state;
    }

    /// <summary>Throws unless <paramref name="value"/> is finite and ≥ 0.</summary>
    /// <param name="value">The hyperparameter.</param>
    /// <param name="name">Its name, for the message.</param>
    protected static void RequireNonNegative(double value, string name)
    {
        if (!(value >= 0) || !double.IsFinite(value))
            throw new ArgumentOutOfRangeException(name, $"{name} must be finite and ≥ 0, was {value}.");
    }
}

using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;

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
public abstract unsafe class Optimizer
{
    private readonly Parameter[] _parameters;
    private double _learningRate;
    // The packed floats of all parameters in ranges of at most RangeFloats (whole vectors), the work items of a Step.
    private readonly (int Parameter, int Offset, int Length)[] _ranges;
    // How the static range kernel finds this optimizer (weak: the handle does not keep it alive; freed by the finalizer).
    private GCHandle _self;

    /// <summary>Takes the parameters to update (each at most once) and the initial learning rate.</summary>
    /// <param name="parameters">Usually <see cref="INetwork.Parameters"/>; copied, so later changes to the list do not matter.</param>
    /// <param name="learningRate">The initial learning rate (≥ 0, finite).</param>
    /// <exception cref="ArgumentException">A parameter is null or appears twice.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="learningRate"/> is negative, infinite or NaN.</exception>
    protected Optimizer(IReadOnlyList<Parameter> parameters, double learningRate)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        _learningRate = CheckLearningRate(learningRate, nameof(learningRate));
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
        var ranges = new List<(int, int, int)>();
        for (int i = 0; i < _parameters.Length; i++)
            for (int offset = 0, length = _parameters[i].Values.Length; offset < length; offset += RangeFloats)
                ranges.Add((i, offset, Math.Min(RangeFloats, length - offset)));
        _ranges = ranges.ToArray();
        _self = GCHandle.Alloc(this, GCHandleType.Weak);
    }

    /// <summary>Frees the handle the parallel step finds the optimizer by (not allocated when a constructor threw first).</summary>
    ~Optimizer()
    {
        if (_self.IsAllocated) _self.Free();
    }

    // Floats per work item of a Step (a multiple of 8), and the items a thread's part must hold: an element costs about
    // 0.25 ns (SGD with momentum: 5 streams of floats), so a part of 4 ranges is about 4 µs, as the networks' steps.
    private const int RangeFloats = 4096, RangesPerPart = 4;

    /// <summary>The parameters this optimizer updates, in order.</summary>
    public IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>
    /// The learning rate the next <see cref="Step"/> uses (PyTorch's <c>param_group["lr"]</c>); schedules set it per
    /// epoch. A double, as PyTorch's Python float: Adam's step size <c>lr / (1 − β₁ᵗ)</c> and AdamW's <c>1 − lr · wd</c>
    /// are computed from it in double before rounding, so <c>1e-3</c> here and in PyTorch give the same bits.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative, infinite or NaN.</exception>
    public double LearningRate
    {
        get => _learningRate;
        set => _learningRate = CheckLearningRate(value, nameof(value));
    }

    // Named after the argument the caller gave: the constructor's learningRate, the property's value.
    private static double CheckLearningRate(double rate, string name) => rate >= 0 && double.IsFinite(rate) ? rate
        : throw new ArgumentOutOfRangeException(name, $"The learning rate must be finite and ≥ 0, was {rate}.");

    /// <summary>Steps taken so far (PyTorch's per-parameter <c>state["step"]</c>; 0 before the first step).</summary>
    public long StepCount { get; private set; }

    /// <summary>
    /// Updates every parameter from its accumulated gradient. Does not clear the gradients (see <see cref="ZeroGrad"/>).
    /// Runs on up to <see cref="Parallelism.MaxThreads"/> threads, each over contiguous ranges of the packed floats: the
    /// rules are elementwise, so the result does not depend on the split. (At 2 threads LeNet's gradients were written
    /// by both cores and its values read by both; updating them all on the calling thread took 55–75 µs a step against
    /// 15 µs at 1 thread, most of it waiting on the other core's cache.)
    /// </summary>
    public void Step()
    {
        StepCount++;
        Parallelism.For(_ranges.Length, &UpdateRanges, (void*)GCHandle.ToIntPtr(_self), RangesPerPart);
        // The handle is weak and the kernels reach the optimizer only through it: without this, a caller that drops
        // its last reference during its last Step lets a collection run the finalizer, free the handle mid-step and
        // hand it (and the memory it named) to another object.
        GC.KeepAlive(this);
    }

    private static void UpdateRanges(void* state, int begin, int end)
    {
        var optimizer = (Optimizer)GCHandle.FromIntPtr((nint)state).Target!;
        var parameters = optimizer._parameters;
        for (int r = begin; r < end; r++)
        {
            var (index, offset, length) = optimizer._ranges[r];
            var p = parameters[index];
            optimizer.Update(index, offset, p.Values.AsSpan(offset, length), p.Gradient.AsSpan(offset, length), optimizer.StepCount);
        }
    }

    /// <summary>Sets the accumulated gradient of every parameter of this optimizer to zero.</summary>
    public void ZeroGrad()
    {
        foreach (var p in _parameters) p.ZeroGradient();
    }

    /// <summary>
    /// Applies one update to a range of parameter <paramref name="index"/>'s packed floats. <see cref="Step"/> calls
    /// it for consecutive ranges, several at once on different threads; each element's update may depend only on that
    /// element (its value, gradient and state).
    /// </summary>
    /// <param name="index">Position in <see cref="Parameters"/>, for per-parameter state.</param>
    /// <param name="offset">Where the range starts in the parameter's packed arrays (and in state kept per element).</param>
    /// <param name="values">The range of packed values, updated in place.</param>
    /// <param name="gradient">The same range of the packed gradient.</param>
    /// <param name="step">The step number, 1 for the first step.</param>
    protected abstract void Update(int index, int offset, Span<float> values, ReadOnlySpan<float> gradient, long step);

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

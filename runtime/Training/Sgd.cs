using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace ConvGen.Training;

/// <summary>
/// Stochastic gradient descent with optional momentum, dampening, Nesterov momentum and L2 weight decay:
/// <c>torch.optim.SGD</c> (torch 1.13, <c>maximize=False</c>). Per element, with <c>g</c> the gradient:
/// <code>
/// d = g + weightDecay · p                      (when weightDecay ≠ 0)
/// b = d                                        (first step)
/// b = momentum · b + (1 − dampening) · d       (later steps; when momentum ≠ 0)
/// d = nesterov ? d + momentum · b : b          (when momentum ≠ 0)
/// p = p − lr · d
/// </code>
/// </summary>
public sealed class Sgd : Optimizer
{
    private readonly float[][]? _momentumBuffers;

    /// <summary>Creates the optimizer; the arguments mean what they mean in <c>torch.optim.SGD</c>.</summary>
    /// <param name="parameters">The parameters to update.</param>
    /// <param name="learningRate">The learning rate (≥ 0).</param>
    /// <param name="momentum">Momentum factor (≥ 0; 0 for plain SGD).</param>
    /// <param name="dampening">Dampening for momentum (from the second step on).</param>
    /// <param name="weightDecay">L2 penalty added to the gradient (≥ 0).</param>
    /// <param name="nesterov">Nesterov momentum; needs momentum &gt; 0 and dampening 0, as in PyTorch.</param>
    /// <exception cref="ArgumentException">A hyperparameter is out of range, or Nesterov is asked without momentum or with dampening.</exception>
    public Sgd(IReadOnlyList<Parameter> parameters, double learningRate, double momentum = 0, double dampening = 0,
               double weightDecay = 0, bool nesterov = false)
        : base(parameters, learningRate)
    {
        RequireNonNegative(momentum, nameof(momentum));
        RequireNonNegative(weightDecay, nameof(weightDecay));
        if (!double.IsFinite(dampening))
            throw new ArgumentOutOfRangeException(nameof(dampening), $"dampening must be finite, was {dampening}.");
        if (nesterov && (momentum <= 0 || dampening != 0))
            throw new ArgumentException(
                $"Nesterov momentum requires momentum > 0 and dampening = 0 (got momentum {momentum}, dampening {dampening}).", nameof(nesterov));
        Momentum = momentum;
        Dampening = dampening;
        WeightDecay = weightDecay;
        Nesterov = nesterov;
        if (momentum != 0) _momentumBuffers = CreateState();
    }

    /// <summary>The momentum factor.</summary>
    public double Momentum { get; }

    /// <summary>The dampening of the momentum buffer's new term.</summary>
    public double Dampening { get; }

    /// <summary>The L2 penalty added to the gradient.</summary>
    public double WeightDecay { get; }

    /// <summary>Whether the step uses Nesterov momentum.</summary>
    public bool Nesterov { get; }

    /// <inheritdoc/>
    protected override void Update(int index, int offset, Span<float> values, ReadOnlySpan<float> gradient, long step)
    {
        float weightDecay = (float)WeightDecay, momentum = (float)Momentum, keep = (float)(1 - Dampening), negLr = (float)-LearningRate; // PyTorch: add_(d_p, alpha=-lr), alpha rounded to the tensor's float32
        bool decay = WeightDecay != 0, first = step == 1, nesterov = Nesterov;
        int n = values.Length, i = 0;
        if (_momentumBuffers is null)
        {
            if (Vector256.IsHardwareAccelerated)
            {
                var wdV = Vector256.Create(weightDecay);
                var lrV = Vector256.Create(negLr);
                ref float p = ref MemoryMarshal.GetReference(values);
                ref float g = ref MemoryMarshal.GetReference(gradient);
                for (; i <= n - 8; i += 8)
                {
                    var pv = Vector256.LoadUnsafe(ref p, (nuint)i);
                    var d = Vector256.LoadUnsafe(ref g, (nuint)i);
                    if (decay) d = Vector256.FusedMultiplyAdd(pv, wdV, d);
                    Vector256.FusedMultiplyAdd(d, lrV, pv).StoreUnsafe(ref p, (nuint)i);
                }
            }
            for (; i < n; i++)
            {
                float d = gradient[i];
                if (decay) d = MathF.FusedMultiplyAdd(values[i], weightDecay, d);
                values[i] = MathF.FusedMultiplyAdd(d, negLr, values[i]);
            }
            return;
        }

        Span<float> buffer = _momentumBuffers[index].AsSpan(offset, n);
        if (Vector256.IsHardwareAccelerated)
        {
            var wdV = Vector256.Create(weightDecay);
            var lrV = Vector256.Create(negLr);
            var momV = Vector256.Create(momentum);
            var keepV = Vector256.Create(keep);
            ref float p = ref MemoryMarshal.GetReference(values);
            ref float g = ref MemoryMarshal.GetReference(gradient);
            ref float b = ref MemoryMarshal.GetReference(buffer);
            for (; i <= n - 8; i += 8)
            {
                var pv = Vector256.LoadUnsafe(ref p, (nuint)i);
                var d = Vector256.LoadUnsafe(ref g, (nuint)i);
                if (decay) d = Vector256.FusedMultiplyAdd(pv, wdV, d);
                var bv = first ? d : Vector256.FusedMultiplyAdd(d, keepV, Vector256.LoadUnsafe(ref b, (nuint)i) * momV);
                bv.StoreUnsafe(ref b, (nuint)i);
                d = nesterov ? Vector256.FusedMultiplyAdd(bv, momV, d) : bv;
                Vector256.FusedMultiplyAdd(d, lrV, pv).StoreUnsafe(ref p, (nuint)i);
            }
        }
        for (; i < n; i++)
        {
            float d = gradient[i];
            if (decay) d = MathF.FusedMultiplyAdd(values[i], weightDecay, d);
            float b = first ? d : MathF.FusedMultiplyAdd(d, keep, buffer[i] * momentum);
            buffer[i] = b;
            d = nesterov ? MathF.FusedMultiplyAdd(b, momentum, d) : b;
            values[i] = MathF.FusedMultiplyAdd(d, negLr, values[i]);
        }
    }
}

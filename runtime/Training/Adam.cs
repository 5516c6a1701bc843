using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace ConvGen.Training;

/// <summary>
/// Adam with L2 weight decay added to the gradient: <c>torch.optim.Adam</c> (torch 1.13, <c>amsgrad=False</c>,
/// <c>maximize=False</c>). Per element, at step <c>t</c> (1 for the first):
/// <code>
/// g = g + weightDecay · p                      (when weightDecay ≠ 0)
/// m = β₁ · m + (1 − β₁) · g
/// v = β₂ · v + (1 − β₂) · g²
/// p = p − lr / (1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)
/// </code>
/// ε is added outside the square root, after the bias correction, as in PyTorch.
/// </summary>
public sealed class Adam : Optimizer
{
    private readonly AdamState _state;

    /// <summary>Creates the optimizer; the arguments mean what they mean in <c>torch.optim.Adam</c> (same defaults).</summary>
    /// <param name="parameters">The parameters to update.</param>
    /// <param name="learningRate">The learning rate (≥ 0).</param>
    /// <param name="beta1">Decay of the running mean of the gradient, in [0, 1).</param>
    /// <param name="beta2">Decay of the running mean of its square, in [0, 1).</param>
    /// <param name="epsilon">Added to the denominator (&gt; 0).</param>
    /// <param name="weightDecay">L2 penalty added to the gradient (≥ 0).</param>
    /// <exception cref="ArgumentOutOfRangeException">A hyperparameter is out of range.</exception>
    public Adam(IReadOnlyList<Parameter> parameters, double learningRate = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
                double epsilon = 1e-8, double weightDecay = 0)
        : base(parameters, learningRate)
    {
        _state = new AdamState(this, beta1, beta2, epsilon, weightDecay);
    }

    /// <summary>β₁, the decay of the running mean of the gradient.</summary>
    public double Beta1 => _state.Beta1;

    /// <summary>β₂, the decay of the running mean of the squared gradient.</summary>
    public double Beta2 => _state.Beta2;

    /// <summary>ε, added to the denominator.</summary>
    public double Epsilon => _state.Epsilon;

    /// <summary>The L2 penalty added to the gradient.</summary>
    public double WeightDecay => _state.WeightDecay;

    /// <inheritdoc/>
    protected override void Update(int index, int offset, Span<float> values, ReadOnlySpan<float> gradient, long step)
        => _state.Update(index, offset, values, gradient, step, LearningRate, decoupled: false);
}

/// <summary>
/// Adam with decoupled weight decay: <c>torch.optim.AdamW</c> (torch 1.13, <c>amsgrad=False</c>, <c>maximize=False</c>).
/// Each step first shrinks the parameter, <c>p = p · (1 − lr · weightDecay)</c>, then takes the <see cref="Adam"/> step
/// with the plain gradient (no L2 term).
/// </summary>
public sealed class AdamW : Optimizer
{
    private readonly AdamState _state;

    /// <summary>Creates the optimizer; the arguments mean what they mean in <c>torch.optim.AdamW</c> (same defaults, weight decay 0.01).</summary>
    /// <param name="parameters">The parameters to update.</param>
    /// <param name="learningRate">The learning rate (≥ 0).</param>
    /// <param name="beta1">Decay of the running mean of the gradient, in [0, 1).</param>
    /// <param name="beta2">Decay of the running mean of its square, in [0, 1).</param>
    /// <param name="epsilon">Added to the denominator (&gt; 0).</param>
    /// <param name="weightDecay">Decoupled weight decay (≥ 0).</param>
    /// <exception cref="ArgumentOutOfRangeException">A hyperparameter is out of range.</exception>
    public AdamW(IReadOnlyList<Parameter> parameters, double learningRate = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
                 double epsilon = 1e-8, double weightDecay = 1e-2)
        : base(parameters, learningRate)
    {
        _state = new AdamState(this, beta1, beta2, epsilon, weightDecay);
    }

    /// <summary>β₁, the decay of the running mean of the gradient.</summary>
    public double Beta1 => _state.Beta1;

    /// <summary>β₂, the decay of the running mean of the squared gradient.</summary>
    public double Beta2 => _state.Beta2;

    /// <summary>ε, added to the denominator.</summary>
    public double Epsilon => _state.Epsilon;

    /// <summary>The decoupled weight decay.</summary>
    public double WeightDecay => _state.WeightDecay;

    /// <inheritdoc/>
    protected override void Update(int index, int offset, Span<float> values, ReadOnlySpan<float> gradient, long step)
        => _state.Update(index, offset, values, gradient, step, LearningRate, decoupled: true);
}

/// <summary>The moments and the update shared by <see cref="Adam"/> and <see cref="AdamW"/>.</summary>
internal sealed class AdamState
{
    private readonly float[][] _m, _v;

    public AdamState(Optimizer owner, double beta1, double beta2, double epsilon, double weightDecay)
    {
        if (!(beta1 >= 0 && beta1 < 1))
            throw new ArgumentOutOfRangeException(nameof(beta1), $"beta1 must be in [0, 1), was {beta1}.");
        if (!(beta2 >= 0 && beta2 < 1))
            throw new ArgumentOutOfRangeException(nameof(beta2), $"beta2 must be in [0, 1), was {beta2}.");
        // PyTorch accepts 0; here the packed parameters' padding slots (v = 0 forever) would get 0/0 = NaN updates.
        if (!(epsilon > 0) || !double.IsFinite(epsilon))
            throw new ArgumentOutOfRangeException(nameof(epsilon), $"epsilon must be finite and > 0 (with 0, the padding slots of packed parameters, whose gradient is always 0, would become 0/0 = NaN), was {epsilon}.");
        if (!(weightDecay >= 0) || !double.IsFinite(weightDecay))
            throw new ArgumentOutOfRangeException(nameof(weightDecay), $"weightDecay must be finite and ≥ 0, was {weightDecay}.");
        Beta1 = beta1;
        Beta2 = beta2;
        Epsilon = epsilon;
        WeightDecay = weightDecay;
        _m = new float[owner.Parameters.Count][];
        _v = new float[owner.Parameters.Count][];
        for (int i = 0; i < _m.Length; i++)
        {
            _m[i] = new float[owner.Parameters[i].Values.Length];
            _v[i] = new float[owner.Parameters[i].Values.Length];
        }
    }

    public double Beta1 { get; }
    public double Beta2 { get; }
    public double Epsilon { get; }
    public double WeightDecay { get; }

    // torch/optim/adam.py and adamw.py, _single_tensor_*: the scalars in double, then, in float32,
    //   param.mul_(1 - lr*wd)                         (AdamW)      grad = grad.add(param, alpha=wd)   (Adam, wd ≠ 0)
    //   exp_avg.mul_(b1).add_(grad, alpha=1-b1)       exp_avg_sq.mul_(b2).addcmul_(grad, grad, value=1-b2)
    //   (its CPU kernels fuse both: fma(grad, 1-b1, exp_avg·b1) and fma((1-b2)·grad, grad, exp_avg_sq·b2))
    //   denom = (exp_avg_sq.sqrt() / sqrt(bc2)).add_(eps)          param.addcdiv_(exp_avg, denom, value=-lr/bc1)
    // Zero value, gradient and moments stay zero: m = v = 0, so the update is −s·0/ε = 0.
    public void Update(int index, int offset, Span<float> values, ReadOnlySpan<float> gradient, long step, double lr, bool decoupled)
    {
        double bc1 = 1 - Math.Pow(Beta1, step), bc2 = 1 - Math.Pow(Beta2, step);
        float negStepSize = (float)-(lr / bc1), bc2Sqrt = (float)Math.Sqrt(bc2), eps = (float)Epsilon;
        float b1 = (float)Beta1, c1 = (float)(1 - Beta1), b2 = (float)Beta2, c2 = (float)(1 - Beta2);
        float shrink = (float)(1 - lr * WeightDecay), l2 = (float)WeightDecay;
        bool addL2 = !decoupled && WeightDecay != 0;
        int n = values.Length, i = 0;
        Span<float> m = _m[index].AsSpan(offset, n), v = _v[index].AsSpan(offset, n);
        if (Vector256.IsHardwareAccelerated)
        {
            var negStepV = Vector256.Create(negStepSize);
            var bc2SqrtV = Vector256.Create(bc2Sqrt);
            var epsV = Vector256.Create(eps);
            var b1V = Vector256.Create(b1);
            var c1V = Vector256.Create(c1);
            var b2V = Vector256.Create(b2);
            var c2V = Vector256.Create(c2);
            var shrinkV = Vector256.Create(shrink);
            var l2V = Vector256.Create(l2);
            ref float p = ref MemoryMarshal.GetReference(values);
            ref float g = ref MemoryMarshal.GetReference(gradient);
            ref float mr = ref MemoryMarshal.GetReference(m);
            ref float vr = ref MemoryMarshal.GetReference(v);
            for (; i <= n - 8; i += 8)
            {
                var pv = Vector256.LoadUnsafe(ref p, (nuint)i);
                var gv = Vector256.LoadUnsafe(ref g, (nuint)i);
                if (decoupled) pv *= shrinkV;
                else if (addL2) gv = Vector256.FusedMultiplyAdd(pv, l2V, gv);
                var mv = Vector256.FusedMultiplyAdd(gv, c1V, Vector256.LoadUnsafe(ref mr, (nuint)i) * b1V);
                var vv = Vector256.FusedMultiplyAdd(c2V * gv, gv, Vector256.LoadUnsafe(ref vr, (nuint)i) * b2V);
                mv.StoreUnsafe(ref mr, (nuint)i);
                vv.StoreUnsafe(ref vr, (nuint)i);
                var denom = Vector256.Sqrt(vv) / bc2SqrtV + epsV;
                (pv + negStepV * mv / denom).StoreUnsafe(ref p, (nuint)i);
            }
        }
        for (; i < n; i++)
        {
            float pv = values[i], gv = gradient[i];
            if (decoupled) pv *= shrink;
            else if (addL2) gv = MathF.FusedMultiplyAdd(pv, l2, gv);
            float mv = MathF.FusedMultiplyAdd(gv, c1, m[i] * b1);
            float vv = MathF.FusedMultiplyAdd(c2 * gv, gv, v[i] * b2);
            m[i] = mv;
            v[i] = vv;
            float denom = MathF.Sqrt(vv) / bc2Sqrt + eps;
            values[i] = pv + negStepSize * mv / denom;
        }
    }
}

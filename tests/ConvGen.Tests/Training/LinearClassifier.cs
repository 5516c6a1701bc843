using System;
using System.Collections.Generic;

namespace ConvGen.Tests.Training;

/// <summary>
/// A hand-written <see cref="INetwork"/> test double for the training runtime: softmax regression, <c>y = W x + b</c>
/// (<c>W</c> is <c>[classes, inputs]</c> like <c>nn.Linear</c>), with its own exact Backward. Both parameters use
/// <see cref="ParameterLayout.Vector"/>, whose packed arrays have padding slots when the length is not a multiple of 8.
/// Forward and Backward allocate nothing once the input buffer has grown to the largest batch. Hooks inject failures:
/// NaN outputs from a given Forward call on, or an infinite gradient entry at a given Backward call.
/// </summary>
internal sealed class LinearClassifier : INetwork
{
    private readonly Parameter _weight, _bias;
    private readonly Parameter[] _parameters;
    private float[] _lastInput = Array.Empty<float>();
    private int _lastBatch = -1;

    /// <summary>Ignored: this network always keeps its last input, which is all its Backward needs.</summary>
    public bool RecordForBackward { get; set; } = true;

    public LinearClassifier(int inputs, int classes, int seed = 0)
    {
        InputLength = inputs;
        OutputLength = classes;
        _weight = new Parameter("0.weight", [classes, inputs], ParameterLayout.Vector(classes * inputs));
        _bias = new Parameter("0.bias", [classes], ParameterLayout.Vector(classes));
        _parameters = [_weight, _bias];
        var random = new Random(seed);
        ParameterInit.Uniform(_weight, inputs, random);
        ParameterInit.Uniform(_bias, inputs, random);
        OutputShape = Array.AsReadOnly(new[] { classes });
        Layers = Array.AsReadOnly(new[] { new LayerInfo(0, "Linear", $"{inputs}→{classes}", OutputShape, (long)classes * inputs + classes) });
    }

    public int InputLength { get; }
    public int OutputLength { get; }
    public IReadOnlyList<int> OutputShape { get; }
    public IReadOnlyList<LayerInfo> Layers { get; }
    public IReadOnlyList<Parameter> Parameters => _parameters;

    public Parameter Weight => _weight;
    public Parameter Bias => _bias;

    /// <summary>Forward calls so far (training and evaluation), 1 after the first.</summary>
    public int ForwardCalls { get; private set; }

    /// <summary>Backward calls so far.</summary>
    public int BackwardCalls { get; private set; }

    /// <summary>When set, Forward call number ≥ this (1-based) outputs NaN.</summary>
    public int? NaNFromForwardCall { get; set; }

    /// <summary>When set, Backward call number == this (1-based) adds +∞ to the first weight's gradient.</summary>
    public int? InfiniteGradientAtBackwardCall { get; set; }

    public void Forward(ReadOnlySpan<float> input, Span<float> output, int batch)
    {
        if (input.Length != batch * InputLength || output.Length != batch * OutputLength)
            throw new ArgumentException($"LinearClassifier: input {input.Length}, output {output.Length} for batch {batch}");
        ForwardCalls++;
        if (_lastInput.Length < input.Length) _lastInput = new float[input.Length];
        input.CopyTo(_lastInput);
        _lastBatch = batch;
        float[] w = _weight.Values, b = _bias.Values;
        int d = InputLength, k = OutputLength;
        bool poison = NaNFromForwardCall is int from && ForwardCalls >= from;
        for (int n = 0; n < batch; n++)
            for (int o = 0; o < k; o++)
            {
                float sum = b[o];
                for (int i = 0; i < d; i++) sum += w[o * d + i] * input[n * d + i];
                output[n * k + o] = poison ? float.NaN : sum;
            }
    }

    public void Backward(ReadOnlySpan<float> outputGradient, Span<float> inputGradient, int batch)
    {
        if (batch != _lastBatch || outputGradient.Length != batch * OutputLength)
            throw new InvalidOperationException($"LinearClassifier: Backward of batch {batch} after Forward of batch {_lastBatch}");
        if (!inputGradient.IsEmpty && inputGradient.Length != batch * InputLength)
            throw new ArgumentException("LinearClassifier: inputGradient length");
        BackwardCalls++;
        float[] w = _weight.Values, gw = _weight.Gradient, gb = _bias.Gradient, x = _lastInput;
        int d = InputLength, k = OutputLength;
        for (int n = 0; n < batch; n++)
            for (int o = 0; o < k; o++)
            {
                float g = outputGradient[n * k + o];
                gb[o] += g;
                for (int i = 0; i < d; i++) gw[o * d + i] += g * x[n * d + i];
            }
        if (!inputGradient.IsEmpty)
            for (int n = 0; n < batch; n++)
                for (int i = 0; i < d; i++)
                {
                    float sum = 0;
                    for (int o = 0; o < k; o++) sum += outputGradient[n * k + o] * w[o * d + i];
                    inputGradient[n * d + i] = sum;
                }
        if (InfiniteGradientAtBackwardCall == BackwardCalls) gw[0] += float.PositiveInfinity;
    }

    // Overridden so that the test double allocates nothing per batch (the interface default enumerates an IReadOnlyList).
    public void ZeroGrad()
    {
        foreach (var p in _parameters) p.ZeroGradient();
    }

    public void Save(string path) => SafeTensors.Save(path, _parameters);

    public void Load(string path) => SafeTensors.Load(path, _parameters);

    /// <summary>Copies of the packed values (padding included), for bitwise comparisons.</summary>
    public float[][] PackedValues() => [(float[])_weight.Values.Clone(), (float[])_bias.Values.Clone()];
}

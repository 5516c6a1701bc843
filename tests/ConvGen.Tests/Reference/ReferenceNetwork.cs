using System;
using System.Collections.Generic;
using System.Linq;

namespace ConvGen.Tests.Reference;

/// <summary>Runs a list of reference layers in order, in float64 (the yardstick for generated networks).</summary>
public sealed class ReferenceNetwork
{
    private readonly RefLayer[] _layers;

    /// <summary>Checks that the layers chain from <paramref name="input"/> and records every intermediate shape.</summary>
    public ReferenceNetwork(RefShape input, IReadOnlyList<RefLayer> layers)
    {
        InputShape = input;
        _layers = [.. layers];
        var shapes = new RefShape[_layers.Length];
        var shape = input;
        for (int i = 0; i < _layers.Length; i++)
        {
            try { shape = _layers[i].OutputShape(shape); }
            catch (ArgumentException e) { throw new ArgumentException($"layer {i} ({_layers[i].GetType().Name}): {e.Message}", e); }
            shapes[i] = shape;
        }
        LayerShapes = shapes;
        OutputShape = shape;
    }

    /// <summary>Per-sample input shape.</summary>
    public RefShape InputShape { get; }

    /// <summary>Per-sample output shape.</summary>
    public RefShape OutputShape { get; }

    /// <summary>Per-sample output shape of each layer.</summary>
    public IReadOnlyList<RefShape> LayerShapes { get; }

    /// <summary>The layers.</summary>
    public IReadOnlyList<RefLayer> Layers => _layers;

    /// <summary>Runs <paramref name="batch"/> samples (NCHW) through every layer.</summary>
    public double[] Forward(ReadOnlySpan<float> input, int batch)
    {
        if (input.Length != batch * InputShape.Length)
            throw new ArgumentException($"reference input needs {batch * InputShape.Length} values, got {input.Length}");
        var x = new double[input.Length];
        for (int i = 0; i < x.Length; i++) x[i] = input[i];
        var shape = InputShape;
        foreach (var layer in _layers)
        {
            x = layer.Forward(x, batch, shape);
            shape = layer.OutputShape(shape);
        }
        return x;
    }

    /// <summary>
    /// Runs <paramref name="batch"/> samples forward, then <paramref name="dOutput"/> = ∂L/∂output back through every
    /// layer: returns ∂L/∂input, and each layer's <see cref="RefLayer.Gradients"/> gains its tensors' gradients.
    /// <paramref name="lastNearKink"/> is the last layer with a ReLU input or max-pool window within
    /// <paramref name="kinkWindow"/> of its kink (<see cref="RefLayer.NearKinks"/>), or −1: a float32 run may take the
    /// kink's other side, which changes the gradients of that layer's input and of every tensor before it, while those
    /// of later layers stay as they are (the activation there moves by less than the window).
    /// </summary>
    public double[] Backward(double[] input, double[] dOutput, int batch, double kinkWindow, out int lastNearKink)
    {
        var inputs = new double[_layers.Length][];
        var x = input;
        var shape = InputShape;
        lastNearKink = -1;
        for (int i = 0; i < _layers.Length; i++)
        {
            inputs[i] = x;
            if (_layers[i].NearKinks(x, batch, shape, kinkWindow) > 0) lastNearKink = i;
            x = _layers[i].Forward(x, batch, shape);
            shape = LayerShapes[i];
        }
        var dx = dOutput;
        for (int i = _layers.Length - 1; i >= 0; i--)
            dx = _layers[i].Backward(inputs[i], dx, batch, i == 0 ? InputShape : LayerShapes[i - 1]);
        return dx;
    }

    /// <summary>Every layer tensor's gradient summed by <see cref="Backward"/>, named as in the state dict ("{layer}.weight").</summary>
    public IEnumerable<(int Layer, string Name, double[] Gradient)> ParameterGradients()
        => _layers.SelectMany((layer, i) => layer.Gradients.Select(g => (i, $"{i}.{g.Key}", g.Value)));
}

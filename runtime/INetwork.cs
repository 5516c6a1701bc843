using System;
using System.Collections.Generic;

namespace ConvGen;

/// <summary>
/// What every generated network offers, so that tools (training loops, weight files, benchmarks) work with any of them.
/// Generated classes implement it with code specialised to their shapes.
/// </summary>
public interface INetwork
{
    /// <summary>Floats per input sample (C·H·W of <c>[Input]</c>).</summary>
    int InputLength { get; }

    /// <summary>Floats per output sample.</summary>
    int OutputLength { get; }

    /// <summary>Per-sample output shape (C, H, W) or (features).</summary>
    IReadOnlyList<int> OutputShape { get; }

    /// <summary>One row per layer attribute, in order.</summary>
    IReadOnlyList<LayerInfo> Layers { get; }

    /// <summary>Learnable tensors, named as in the equivalent <c>torch.nn.Sequential</c>'s state dict.</summary>
    IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>
    /// Whether <see cref="Forward"/> keeps the tensors <see cref="Backward"/> needs (default <see langword="true"/>).
    /// Inference sets it to <see langword="false"/>: Forward then runs in a per-thread workspace sized by liveness, and
    /// discards the record of any earlier Forward, so that a Backward after it throws rather than use older tensors.
    /// </summary>
    bool RecordForBackward { get; set; }

    /// <summary>
    /// Runs the network on <paramref name="batch"/> samples: <paramref name="input"/> holds <c>batch × InputLength</c>
    /// floats (NCHW), <paramref name="output"/> receives <c>batch × OutputLength</c>. Thread-safe; allocation-free once warm.
    /// </summary>
    void Forward(ReadOnlySpan<float> input, Span<float> output, int batch);

    /// <summary>
    /// Runs the network as <see cref="Forward"/> does without recording, whatever <see cref="RecordForBackward"/> says,
    /// and leaves the record of the last recorded Forward as it is, so it can run between a Forward and its
    /// <see cref="Backward"/> or on another thread (<c>Trainer.Evaluate</c> uses it). Generated networks implement it;
    /// for other implementations it is <see cref="Forward"/>.
    /// </summary>
    void Infer(ReadOnlySpan<float> input, Span<float> output, int batch) => Forward(input, output, batch);

    /// <summary>
    /// Back-propagates <paramref name="outputGradient"/> (<c>batch × OutputLength</c>, ∂loss/∂output) through the network
    /// as it ran in the last <see cref="Forward"/> of the same batch on this instance: adds every parameter's gradient to
    /// <see cref="Parameter.Gradient"/> and writes ∂loss/∂input to <paramref name="inputGradient"/>
    /// (<c>batch × InputLength</c>), or skips that work when <paramref name="inputGradient"/> is empty.
    /// </summary>
    void Backward(ReadOnlySpan<float> outputGradient, Span<float> inputGradient, int batch)
        => throw new NotSupportedException($"{GetType().Name} was generated without backward kernels.");

    /// <summary>Sets every parameter's accumulated gradient to zero (gradients add up across Backward calls, as in PyTorch).</summary>
    void ZeroGrad()
    {
        var parameters = Parameters;
        for (int i = 0; i < parameters.Count; i++) parameters[i].ZeroGradient(); // an index loop: no enumerator allocated per batch
    }

    /// <summary>Writes all parameters to a safetensors file (atomically).</summary>
    void Save(string path);

    /// <summary>Reads all parameters from a safetensors file; on any failure the parameters are left unchanged.</summary>
    void Load(string path);
}

/// <summary>One row of a network's layer table.</summary>
/// <param name="Index">Position among the layer attributes, as <c>nn.Sequential</c> numbers its modules.</param>
/// <param name="Kind">Attribute name, e.g. <c>Conv</c>.</param>
/// <param name="Description">The layer's arguments, e.g. <c>3x3, 64→128, pad 1</c>.</param>
/// <param name="OutputShape">Per-sample output shape.</param>
/// <param name="ParameterCount">Learnable values (PyTorch count, no internal padding).</param>
public sealed record LayerInfo(int Index, string Kind, string Description, IReadOnlyList<int> OutputShape, long ParameterCount)
{
    /// <summary>A Keras-like table of the layers with a total parameter count.</summary>
    public static string Summary(string networkName, IReadOnlyList<int> inputShape, IReadOnlyList<LayerInfo> layers)
    {
        var sb = new System.Text.StringBuilder();
        sb.Append("Network: ").Append(networkName).AppendLine();
        sb.AppendLine($"{"#",-4}{"Layer",-14}{"Arguments",-34}{"Output shape",-18}{"Params",12}");
        sb.AppendLine(new string('-', 82));
        sb.AppendLine(System.FormattableString.Invariant($"{"",-4}{"Input",-14}{"",-34}{Shape(inputShape),-18}{0,12:N0}"));
        long total = 0;
        foreach (var l in layers)
        {
            string description = l.Description.Length >= 34 ? l.Description[..31] + "… " : l.Description;
            sb.AppendLine(System.FormattableString.Invariant($"{l.Index,-4}{l.Kind,-14}{description,-34}{Shape(l.OutputShape),-18}{l.ParameterCount,12:N0}"));
            total += l.ParameterCount;
        }
        sb.AppendLine(new string('-', 82));
        sb.Append("Total parameters: ").Append(total.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)).AppendLine();
        return sb.ToString();
    }

    private static string Shape(IReadOnlyList<int> shape) => string.Join("×", shape);
}

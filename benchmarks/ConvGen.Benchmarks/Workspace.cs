using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;

namespace ConvGen.Benchmarks;

/// <summary>
/// The memory a generated network plans ahead, from its public constants (see NetworkGenerator.Emitter.cs), next to
/// the sum of all its activations.
/// </summary>
/// <param name="Network">Class name.</param>
/// <param name="Batch">The batch it is benchmarked at.</param>
/// <param name="InferenceFloats"><c>WorkspaceFloatsPerSample</c>: the per-thread workspace of an unrecorded Forward.</param>
/// <param name="RecordedFloats"><c>RecordedFloatsPerSample</c>: a recorded Forward keeps every tensor for Backward.</param>
/// <param name="GradientFloats"><c>GradientFloatsPerSample</c>: what Backward needs for gradients.</param>
/// <param name="ActivationFloats">The input plus every layer's output, per sample, as PyTorch would materialise them
/// (one tensor per layer attribute, NCHW, no padding).</param>
/// <param name="Layers">Layer attributes. With one layer, input and output are live at once and liveness cannot make
/// the workspace smaller than their sum, so the "smaller where liveness allows" applies to deeper networks.</param>
public sealed record WorkspacePlan(string Network, int Batch, int Layers, long InferenceFloats, long RecordedFloats, long GradientFloats, long ActivationFloats)
{
    /// <summary>Whether the inference workspace is smaller than the sum of all activations.</summary>
    public bool SmallerThanActivations => InferenceFloats < ActivationFloats;

    /// <summary>Whether liveness allows a workspace smaller than all activations (more than one layer).</summary>
    public bool LivenessAllows => Layers > 1;

    /// <summary>Reads the constants of <paramref name="network"/>; null when one is missing.</summary>
    public static WorkspacePlan? Of(Type network, int batch)
    {
        const BindingFlags flags = BindingFlags.Public | BindingFlags.Static;
        long? Constant(string name) => network.GetField(name, flags)?.GetRawConstantValue() switch
        {
            int i => i,
            long l => l,
            _ => null,
        };
        long? workspace = Constant("WorkspaceFloatsPerSample"), recorded = Constant("RecordedFloatsPerSample"),
            gradient = Constant("GradientFloatsPerSample"), input = Constant("InputLength");
        if (workspace is null || recorded is null || gradient is null || input is null) return null;
        if (network.GetProperty("LayerTable", flags)?.GetValue(null) is not IReadOnlyList<LayerInfo> layers) return null;
        long activations = input.Value + layers.Sum(l => l.OutputShape.Aggregate(1L, (a, d) => a * d));
        return new WorkspacePlan(network.Name, batch, layers.Count, workspace.Value, recorded.Value, gradient.Value, activations);
    }

    /// <summary>The benchmarked networks: each convolution's network at its first benchmarked batch, and the LeNet at 64 and 256.</summary>
    public static List<WorkspacePlan> ForRun(IEnumerable<ConvShape> shapes, bool lenet)
    {
        var plans = new List<WorkspacePlan>();
        foreach (var s in shapes.GroupBy(s => s.Network).Select(g => g.First()))
            if (Of(s.Network, s.Batch) is { } p) plans.Add(p);
        if (lenet)
        {
            if (Of(typeof(BenchLeNet), LeNetBench.BatchSize) is { } train) plans.Add(train);
            if (Of(typeof(BenchLeNet), 256) is { } infer) plans.Add(infer);
        }
        return plans;
    }
}

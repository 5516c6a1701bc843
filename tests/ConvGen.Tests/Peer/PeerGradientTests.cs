using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using ConvGen;
using ConvGen.Training;
using Xunit;
using Xunit.Abstractions;

namespace ConvGen.Tests.Peer;

/// <summary>
/// Generated Backward against PyTorch autograd. For each peer network, <c>tests/peer/make_peer.py</c> (run by
/// <c>scripts/peer.sh</c>) writes, beside the weights and input batch of <see cref="PeerTests"/>, a fixed label per sample
/// (<c>&lt;name&gt;.labels.bin</c>), the mean softmax cross-entropy (<c>.loss.bin</c>), the gradient of every parameter
/// (<c>.grads.safetensors</c>, state-dict keys and layout) and of the input (<c>.input_grad.bin</c>). Here the same batch
/// goes through <c>Forward</c>, <see cref="SoftmaxCrossEntropy"/> and <c>Backward</c>, and everything is compared.
/// The rest checks the Backward contract: gradients accumulate until <c>ZeroGrad</c>, an empty input gradient skips only
/// that work, and calls without a matching recorded Forward or with wrong lengths are refused before anything changes.
/// </summary>
[Trait("Category", "Correctness")]
public sealed class PeerGradientTests(ITestOutputHelper output)
{
    private const int Batch = PeerData.Batch;

    /// <summary>Element-wise bound against PyTorch: |got − ref| ≤ 1e-4·(1 + |ref|), as the forward peer tests use.</summary>
    private const double Tolerance = 1e-4;

    /// <summary>
    /// A second bound relative to the tensor's own scale: max |got − ref| ≤ 1e-3·max |ref|. The element-wise bound is
    /// nearly absolute for gradients far below 1 (the input gradients here peak at 2e-5 to 1e-3), so it alone would pass
    /// an input gradient of all zeros; this one would not. float32 rounding sits around 1e-6 of the scale.
    /// </summary>
    private const double ScaleTolerance = 1e-3;

    /// <summary>Bound for comparisons of our own Backward runs with each other (accumulation, skipped input gradient).</summary>
    private const double SelfTolerance = 1e-6;

    public static TheoryData<string> Names => PeerData.Names;

    /// <summary>Per-sample input shapes, as in make_peer.py (for naming elements of the input gradient).</summary>
    private static int[] InputShape(string name) => name switch
    {
        "lenet" => [1, 28, 28],
        "alexnet" => [3, 101, 101],
        "mixed" => [4, 23, 19],
        "winograd" => [32, 8, 10],
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "unknown peer network"),
    };

    [Theory]
    [MemberData(nameof(Names))]
    public void Loss_parameter_and_input_gradients_match_pytorch(string name)
    {
        var (net, r) = Setup(name);
        var logitsGradient = new float[Batch * net.OutputLength];
        float loss = ForwardLoss(net, r, logitsGradient);
        net.ZeroGrad();
        float[] inputGradient = Filled(Batch * net.InputLength, float.NaN); // Backward must write every element
        net.Backward(logitsGradient, inputGradient, Batch);

        var results = new List<Comparison> { Compare("loss", [1], [r.Loss], [loss]) };
        foreach (var p in net.Parameters) results.Add(Compare(p.Name, r.Gradients[p.Name].Shape, r.Gradients[p.Name].Values, GradientOf(p)));
        results.Add(Compare("input", [Batch, .. InputShape(name)], r.InputGradient, inputGradient));
        Report(name, results);
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Backward_twice_accumulates_and_ZeroGrad_resets(string name)
    {
        var (net, r) = Setup(name);
        var logitsGradient = new float[Batch * net.OutputLength];
        ForwardLoss(net, r, logitsGradient);

        var firstInput = new float[Batch * net.InputLength];
        net.Backward(logitsGradient, firstInput, Batch);
        float[][] once = Gradients(net);

        // Same recorded Forward again: parameter gradients add up, the input gradient is written afresh (not added).
        float[] secondInput = Filled(Batch * net.InputLength, 1e3f);
        net.Backward(logitsGradient, secondInput, Batch);
        float[][] twice = Gradients(net);
        var failures = new List<string>();
        for (int i = 0; i < once.Length; i++)
            CheckSelf(failures, $"{net.Parameters[i].Name} after two Backward calls vs 2 × one call", once[i].Select(v => 2 * v).ToArray(), twice[i]);
        CheckSelf(failures, "input gradient of the second call vs the first", firstInput, secondInput);
        Assert.True(once.Any(g => g.Any(v => v != 0)), $"{name}: every parameter gradient is zero after Backward");

        net.ZeroGrad();
        foreach (var p in net.Parameters)
        {
            Assert.True(GradientOf(p).All(v => v == 0), $"{name}: {p.Name} has a nonzero gradient after ZeroGrad");
            Assert.True(p.Gradient.All(v => v == 0), $"{name}: {p.Name}'s packed Gradient array is not all zero after ZeroGrad");
        }

        // And the next Backward starts from zero: one call's worth again.
        net.Backward(logitsGradient, Span<float>.Empty, Batch);
        float[][] afterReset = Gradients(net);
        for (int i = 0; i < once.Length; i++)
            CheckSelf(failures, $"{net.Parameters[i].Name} after ZeroGrad and one Backward vs one call", once[i], afterReset[i]);
        if (failures.Count > 0) Assert.Fail($"{name}:\n" + string.Join("\n", failures));
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Backward_with_an_empty_input_gradient_gives_the_same_parameter_gradients(string name)
    {
        var (net, r) = Setup(name);
        var logitsGradient = new float[Batch * net.OutputLength];
        ForwardLoss(net, r, logitsGradient);

        net.Backward(logitsGradient, Span<float>.Empty, Batch);
        float[][] skipped = Gradients(net);
        net.ZeroGrad();
        net.Backward(logitsGradient, new float[Batch * net.InputLength], Batch);
        float[][] full = Gradients(net);

        var failures = new List<string>();
        for (int i = 0; i < skipped.Length; i++)
            CheckSelf(failures, $"{net.Parameters[i].Name} with an empty input gradient vs with one", full[i], skipped[i]);
        if (failures.Count > 0) Assert.Fail($"{name}:\n" + string.Join("\n", failures));

        // And those are PyTorch's gradients.
        var results = net.Parameters.Select((p, i) => Compare(p.Name, r.Gradients[p.Name].Shape, r.Gradients[p.Name].Values, skipped[i])).ToList();
        Report(name + " (input gradient skipped)", results);
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Backward_without_a_matching_Forward_throws_InvalidOperationException(string name)
    {
        // A fresh instance has recorded nothing.
        var fresh = PeerData.Create(name);
        var freshError = Assert.Throws<InvalidOperationException>(
            () => fresh.Backward(new float[Batch * fresh.OutputLength], new float[Batch * fresh.InputLength], Batch));
        AssertNamesForward(name + ", fresh instance", freshError.Message, Batch);
        AssertAllZero(name + ", fresh instance", fresh);

        // A Forward of another batch size does not serve a Backward of this one, either way round.
        var (net, r) = Setup(name);
        var logitsGradient = new float[Batch * net.OutputLength];
        ForwardLoss(net, r, logitsGradient);
        var smaller = Assert.Throws<InvalidOperationException>(
            () => net.Backward(new float[net.OutputLength], new float[net.InputLength], 1));
        AssertNamesForward(name + ", Forward batch 3 then Backward batch 1", smaller.Message, 1);
        Assert.Contains(Batch.ToString(CultureInfo.InvariantCulture), smaller.Message, StringComparison.Ordinal);

        net.Forward(r.Input.AsSpan(0, net.InputLength), new float[net.OutputLength], 1);
        var larger = Assert.Throws<InvalidOperationException>(() => net.Backward(logitsGradient, Span<float>.Empty, Batch));
        AssertNamesForward(name + ", Forward batch 1 then Backward batch 3", larger.Message, Batch);
        AssertAllZero(name + " after refused Backward calls", net);

        // Once the batches match again, Backward works and gives PyTorch's gradients.
        ForwardLoss(net, r, logitsGradient);
        var inputGradient = new float[Batch * net.InputLength];
        net.Backward(logitsGradient, inputGradient, Batch);
        var results = net.Parameters.Select(p => Compare(p.Name, r.Gradients[p.Name].Shape, r.Gradients[p.Name].Values, GradientOf(p))).ToList();
        results.Add(Compare("input", [Batch, .. InputShape(name)], r.InputGradient, inputGradient));
        Report(name + " (after refused calls)", results, quiet: true);
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Backward_with_wrong_lengths_throws_ArgumentException_naming_both(string name)
    {
        var (net, r) = Setup(name);
        var logitsGradient = new float[Batch * net.OutputLength];
        ForwardLoss(net, r, logitsGradient);
        int outputLength = Batch * net.OutputLength, inputLength = Batch * net.InputLength;

        var shortOutput = Assert.ThrowsAny<ArgumentException>(
            () => net.Backward(new float[outputLength - 1], new float[inputLength], Batch));
        AssertNamesLengths(name, shortOutput, "outputGradient", outputLength, outputLength - 1);
        var longOutput = Assert.ThrowsAny<ArgumentException>(
            () => net.Backward(new float[outputLength + 7], Span<float>.Empty, Batch));
        AssertNamesLengths(name, longOutput, "outputGradient", outputLength, outputLength + 7);
        var shortInput = Assert.ThrowsAny<ArgumentException>(
            () => net.Backward(logitsGradient, new float[inputLength - 1], Batch));
        AssertNamesLengths(name, shortInput, "inputGradient", inputLength, inputLength - 1);
        var longInput = Assert.ThrowsAny<ArgumentException>(
            () => net.Backward(logitsGradient, new float[inputLength + 5], Batch));
        AssertNamesLengths(name, longInput, "inputGradient", inputLength, inputLength + 5);
        // One sample's worth is a length error too when the batch says 3 (not a different-batch Backward).
        var oneSample = Assert.ThrowsAny<ArgumentException>(
            () => net.Backward(logitsGradient.AsSpan(0, net.OutputLength), Span<float>.Empty, Batch));
        AssertNamesLengths(name, oneSample, "outputGradient", outputLength, net.OutputLength);
        AssertAllZero(name + " after refused Backward calls", net);

        // The recording survived the refused calls.
        net.Backward(logitsGradient, Span<float>.Empty, Batch);
        var results = net.Parameters.Select(p => Compare(p.Name, r.Gradients[p.Name].Shape, r.Gradients[p.Name].Values, GradientOf(p))).ToList();
        Report(name + " (after refused calls)", results, quiet: true);
    }

    // ------------------------------------------------------------------ reference data

    private sealed record Reference(
        float[] Input, int[] Labels, float Loss, Dictionary<string, (int[] Shape, float[] Values)> Gradients, float[] InputGradient);

    /// <summary>A network with PyTorch's weights and its reference data, checked for size against the network.</summary>
    private static (INetwork Net, Reference Reference) Setup(string name)
    {
        var net = PeerData.Create(name);
        net.Load(PeerData.File(name, "safetensors"));
        const string regenerate = "; regenerate with scripts/peer.sh";
        float[] input = PeerData.ReadFloats(PeerData.File(name, "input.bin"));
        Assert.True(input.Length == Batch * net.InputLength, $"{name}: {input.Length} input floats, expected {Batch}×{net.InputLength}{regenerate}");
        int[] labels = PeerData.ReadInts(PeerData.File(name, "labels.bin"));
        Assert.True(labels.Length == Batch && labels.All(l => l >= 0 && l < net.OutputLength),
            $"{name}: labels [{string.Join(", ", labels)}], expected {Batch} classes in [0, {net.OutputLength}){regenerate}");
        float[] loss = PeerData.ReadFloats(PeerData.File(name, "loss.bin"));
        Assert.True(loss.Length == 1, $"{name}: loss.bin holds {loss.Length} floats, expected 1{regenerate}");
        var gradients = PeerData.ReadSafeTensors(PeerData.File(name, "grads.safetensors"));
        var ours = net.Parameters.Select(p => $"{p.Name}[{string.Join(",", p.Shape)}]").OrderBy(s => s, StringComparer.Ordinal);
        var theirs = gradients.Select(g => $"{g.Key}[{string.Join(",", g.Value.Shape)}]").OrderBy(s => s, StringComparer.Ordinal);
        Assert.Equal(ours, theirs);
        float[] inputGradient = PeerData.ReadFloats(PeerData.File(name, "input_grad.bin"));
        Assert.True(inputGradient.Length == input.Length, $"{name}: {inputGradient.Length} input-gradient floats, expected {input.Length}{regenerate}");
        return (net, new Reference(input, labels, loss[0], gradients, inputGradient));
    }

    /// <summary>Forward of the reference batch (recorded), then the loss and ∂loss/∂logits.</summary>
    private static float ForwardLoss(INetwork net, Reference r, float[] logitsGradient)
    {
        var logits = new float[Batch * net.OutputLength];
        net.Forward(r.Input, logits, Batch);
        return SoftmaxCrossEntropy.Compute(logits, r.Labels, net.OutputLength, logitsGradient);
    }

    private static float[] GradientOf(Parameter p)
    {
        var g = new float[p.Length];
        p.CopyGradientTo(g);
        return g;
    }

    private static float[][] Gradients(INetwork net) => net.Parameters.Select(GradientOf).ToArray();

    private static float[] Filled(int length, float value)
    {
        var a = new float[length];
        Array.Fill(a, value);
        return a;
    }

    // ------------------------------------------------------------------ comparisons

    /// <summary>One tensor against PyTorch: the element worst against the element-wise bound, and the scale check.</summary>
    private sealed record Comparison(
        string Name, int[] Shape, int Count, int Bad, int Worst, double Expected, double Actual, double WorstRatio,
        double MaxDiff, double MaxRef)
    {
        public bool ScaleOk => MaxDiff <= ScaleTolerance * MaxRef || MaxDiff == 0;
        public bool Ok => Bad == 0 && ScaleOk;
        public string Element => Name + "[" + string.Join(",", Unravel(Worst, Shape)) + "]";
    }

    private static Comparison Compare(string name, int[] shape, float[] expected, float[] actual)
    {
        Assert.True(expected.Length == actual.Length, $"{name}: PyTorch has {expected.Length} values, we have {actual.Length}");
        int worst = 0, bad = 0;
        double worstRatio = -1, maxDiff = 0, maxRef = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            double diff = double.IsFinite(a) ? Math.Abs(a - e) : double.PositiveInfinity;
            double ratio = diff / (Tolerance * (1 + Math.Abs(e)));
            if (ratio > 1) bad++;
            if (ratio > worstRatio) { worstRatio = ratio; worst = i; }
            maxDiff = Math.Max(maxDiff, diff);
            maxRef = Math.Max(maxRef, Math.Abs(e));
        }
        return new Comparison(name, shape, expected.Length, bad, worst, expected[worst], actual[worst], worstRatio, maxDiff, maxRef);
    }

    /// <summary>Writes every tensor's worst difference to the test output and fails naming each tensor out of bounds.</summary>
    private void Report(string what, List<Comparison> results, bool quiet = false)
    {
        var worstParameter = results.Where(c => c.Name is not ("loss" or "input")).MaxBy(c => c.MaxDiff);
        if (!quiet)
        {
            foreach (var c in results)
                output.WriteLine(Describe(c));
            var inv = CultureInfo.InvariantCulture;
            string summary = worstParameter is null ? what + ":" : string.Create(inv,
                $"{what}: worst parameter-gradient |diff| {worstParameter.MaxDiff:G3} ({worstParameter.Element}, max |ref| {worstParameter.MaxRef:G3})");
            if (results.FirstOrDefault(c => c.Name == "input") is { } input)
                summary += string.Create(inv, $", input gradient |diff| {input.MaxDiff:G3} (max |ref| {input.MaxRef:G3})");
            if (results.FirstOrDefault(c => c.Name == "loss") is { } loss)
                summary += string.Create(inv, $", loss |diff| {loss.MaxDiff:G3} (PyTorch {loss.Expected:R})");
            output.WriteLine(summary);
        }
        var failures = results.Where(c => !c.Ok).ToList();
        if (failures.Count > 0)
            Assert.Fail($"{what}: {failures.Count} of {results.Count} tensors differ from PyTorch autograd:\n" +
                        string.Join("\n", failures.Select(Describe)));
    }

    private static string Describe(Comparison c)
    {
        var inv = CultureInfo.InvariantCulture;
        string bad = c.Bad > 0 ? string.Create(inv, $"{c.Bad} of {c.Count} elements beyond 1e-4·(1+|ref|); ") : "";
        string scale = c.ScaleOk ? "" : string.Create(inv, $" — beyond {ScaleTolerance:G}·max |ref|");
        return string.Create(inv,
            $"  {c.Name} [{string.Join("×", c.Shape)}]: {bad}worst {c.Element}: expected {c.Expected:R}, got {c.Actual:R} " +
            $"(|diff| {Math.Abs(c.Actual - c.Expected):G3}, {c.WorstRatio:G3} of its tolerance); max |diff| {c.MaxDiff:G3}, max |ref| {c.MaxRef:G3}{scale}");
    }

    /// <summary>Our own runs against each other: |got − want| ≤ 1e-6·(|want| + max |want|).</summary>
    private static void CheckSelf(List<string> failures, string what, float[] want, float[] got)
    {
        double scale = want.Length == 0 ? 0 : want.Max(v => Math.Abs((double)v));
        int worst = -1;
        double worstRatio = 1;
        for (int i = 0; i < want.Length; i++)
        {
            double diff = Math.Abs((double)got[i] - want[i]);
            double ratio = double.IsFinite(got[i]) ? diff / (SelfTolerance * (Math.Abs(want[i]) + scale)) : double.PositiveInfinity;
            if (diff != 0 && ratio > worstRatio) { worstRatio = ratio; worst = i; }
        }
        if (worst >= 0)
            failures.Add(string.Create(CultureInfo.InvariantCulture,
                $"  {what}: element {worst} is {got[worst]:R}, expected {want[worst]:R} (|diff| {Math.Abs((double)got[worst] - want[worst]):G3}, bound 1e-6·(|want| + {scale:G3}))"));
    }

    private static void AssertAllZero(string what, INetwork net)
    {
        foreach (var p in net.Parameters)
            Assert.True(p.Gradient.All(v => v == 0), $"{what}: {p.Name} has a nonzero gradient, but no Backward was accepted");
    }

    private void AssertNamesForward(string what, string message, int batch)
    {
        output.WriteLine($"{what}: {message}");
        Assert.True(message.Contains("Forward", StringComparison.Ordinal) && message.Contains("batch", StringComparison.OrdinalIgnoreCase) &&
                    message.Contains(batch.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal),
            $"{what}: the message should say that Backward (batch {batch}) needs a recorded Forward of the same batch: \"{message}\"");
    }

    private void AssertNamesLengths(string what, ArgumentException e, string parameter, int expected, int actual)
    {
        output.WriteLine($"{what}, {parameter} of {actual} floats: {e.Message}");
        Assert.Equal(parameter, e.ParamName);
        Assert.True(e.Message.Contains(expected.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal) &&
                    e.Message.Contains(actual.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal),
            $"{what}: {parameter} of {actual} floats (expected {expected}): the message should name both lengths: \"{e.Message}\"");
    }

    private static int[] Unravel(int index, int[] shape)
    {
        var result = new int[shape.Length];
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            result[d] = index % shape[d];
            index /= shape[d];
        }
        return result;
    }
}

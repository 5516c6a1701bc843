using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using ConvGen;
using Xunit;

namespace ConvGen.Tests.Peer;

/// <summary>
/// Compares generated networks with PyTorch. The reference data (weights as safetensors, a batch of inputs and
/// PyTorch's outputs) comes from <c>tests/peer/make_peer.py</c>, run by <c>scripts/peer.sh</c> into
/// <c>artifacts/peer</c> (or the directory in <c>CONVGEN_PEER_DIR</c>). Missing data is a failure, not a skip.
/// </summary>
[Trait("Category", "Correctness")]
public sealed class PeerTests
{
    private const int Batch = PeerData.Batch;

    public static TheoryData<string> Names => PeerData.Names;

    private static INetwork Create(string name, int seed = 0) => PeerData.Create(name, seed);

    [Theory]
    [MemberData(nameof(Names))]
    public void Forward_matches_pytorch(string name)
    {
        var net = Create(name);
        net.Load(PeerData.File(name, "safetensors"));
        float[] input = PeerData.ReadFloats(PeerData.File(name, "input.bin"));
        float[] expected = PeerData.ReadFloats(PeerData.File(name, "output.bin"));
        Assert.True(input.Length == Batch * net.InputLength,
            $"{name}: {input.Length} input floats, expected {Batch}×{net.InputLength}; regenerate with scripts/peer.sh");
        Assert.True(expected.Length == Batch * net.OutputLength,
            $"{name}: PyTorch wrote {expected.Length} output floats, we produce {Batch}×{net.OutputLength}");

        var actual = new float[expected.Length];
        net.Forward(input, actual, Batch);
        AssertClose(name, expected, actual, net.OutputLength);
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Forward_one_sample_at_a_time_matches_pytorch(string name)
    {
        var net = Create(name);
        net.Load(PeerData.File(name, "safetensors"));
        float[] input = PeerData.ReadFloats(PeerData.File(name, "input.bin"));
        float[] expected = PeerData.ReadFloats(PeerData.File(name, "output.bin"));
        Assert.Equal(Batch * net.InputLength, input.Length);
        Assert.Equal(Batch * net.OutputLength, expected.Length);

        var actual = new float[expected.Length];
        for (int n = 0; n < Batch; n++)
            net.Forward(input.AsSpan(n * net.InputLength, net.InputLength), actual.AsSpan(n * net.OutputLength, net.OutputLength), 1);
        AssertClose(name + " (batch 1)", expected, actual, net.OutputLength);
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Parameter_names_and_shapes_match_the_pytorch_state_dict(string name)
    {
        var net = Create(name);
        var header = PeerData.ReadSafeTensorsHeader(PeerData.File(name, "safetensors"));
        var ours = net.Parameters.Select(p => $"{p.Name}[{string.Join(",", p.Shape)}]").ToList();
        var theirs = header.Select(t => $"{t.Name}[{string.Join(",", t.Shape)}]").ToList();
        Assert.Equal(theirs, ours);
    }

    /// <summary>
    /// Our <c>Save</c> must write a file a strict safetensors reader accepts and that loads into the PyTorch network
    /// with <c>load_state_dict(strict=True)</c>; PyTorch's forward with those weights must then agree with ours.
    /// </summary>
    [Theory]
    [MemberData(nameof(Names))]
    public void Saved_weights_load_into_pytorch_and_give_the_same_outputs(string name)
    {
        var net = Create(name, seed: 12345);
        float[] input = PeerData.ReadFloats(PeerData.File(name, "input.bin"));
        Assert.Equal(Batch * net.InputLength, input.Length);
        var ours = new float[Batch * net.OutputLength];
        net.Forward(input, ours, Batch);

        string dir = Path.Combine(Path.GetTempPath(), "convgen-peer-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            string weights = Path.Combine(dir, name + ".safetensors");
            string output = Path.Combine(dir, name + ".output.bin");
            net.Save(weights);
            RunPython(PeerData.MakePeerScript(), "--verify", name, weights, PeerData.File(name, "input.bin"), output);
            float[] theirs = PeerData.ReadFloats(output);
            Assert.Equal(ours.Length, theirs.Length);
            AssertClose(name + " (our Save, PyTorch forward)", theirs, ours, net.OutputLength);
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    // ------------------------------------------------------------------ helpers

    private static void AssertClose(string what, float[] expected, float[] actual, int perSample)
    {
        Assert.Equal(expected.Length, actual.Length);
        int worst = -1, bad = 0;
        double worstRatio = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            double tolerance = 1e-4 * (1 + Math.Abs(e));
            double ratio = double.IsFinite(a) ? Math.Abs(a - e) / tolerance : double.PositiveInfinity;
            if (ratio > 1) bad++;
            if (ratio > worstRatio) { worstRatio = ratio; worst = i; }
        }
        if (bad == 0) return;
        double we = expected[worst], wa = actual[worst];
        Assert.Fail(string.Create(CultureInfo.InvariantCulture,
            $"{what}: {bad} of {expected.Length} outputs differ from PyTorch by more than 1e-4·(1+|ref|). " +
            $"Worst: sample {worst / perSample}, index {worst % perSample}: expected {we:R}, got {wa:R} " +
            $"(|diff| {Math.Abs(wa - we):G4}, tolerance {1e-4 * (1 + Math.Abs(we)):G4})."));
    }

    private static void RunPython(params string[] arguments)
    {
        string python = Environment.GetEnvironmentVariable("CONVGEN_PYTHON") is { Length: > 0 } p ? p : "/usr/bin/python3";
        if (!File.Exists(python))
            Assert.Fail($"'{python}' (Python with PyTorch) is missing. Run scripts/setup.sh, or set CONVGEN_PYTHON.");
        var start = new ProcessStartInfo(python)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in arguments) start.ArgumentList.Add(a);
        var output = new System.Text.StringBuilder();
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{python} {string.Join(" ", arguments)} did not finish within 3 minutes.");
        }
        process.WaitForExit(); // drains the asynchronous readers
        if (process.ExitCode != 0)
            Assert.Fail($"{python} {string.Join(" ", arguments)} exited with {process.ExitCode}:\n{output}");
    }
}

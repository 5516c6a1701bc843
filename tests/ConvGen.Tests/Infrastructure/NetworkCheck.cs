using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Reflection;
using System.Text;
using System.Threading.Tasks;
using ConvGen.Tests.Reference;

namespace ConvGen.Tests.Infrastructure;

/// <summary>Many <see cref="NetworkSpec"/>s generated and compiled together (a few compilations, not one per network).</summary>
public sealed class CompiledNetworks
{
    private readonly Dictionary<string, (Assembly Assembly, string FullName)> _types = new(StringComparer.Ordinal);

    /// <summary>
    /// Splits <paramref name="specs"/> into <paramref name="chunks"/> sources (compiled concurrently), each in namespace
    /// <paramref name="ns"/>; class names must be unique.
    /// </summary>
    public CompiledNetworks(IReadOnlyList<NetworkSpec> specs, string ns, int chunks = 2)
    {
        chunks = Math.Max(1, Math.Min(chunks, specs.Count));
        var parts = Enumerable.Range(0, chunks).Select(c => specs.Where((_, i) => i % chunks == c).ToList()).ToList();
        var assemblies = new Assembly[chunks];
        var started = DateTime.UtcNow;
        try
        {
            Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = chunks },
                         c => assemblies[c] = GeneratorHarness.CompileAndLoad(NetworkSpec.ToSource(parts[c], ns)));
        }
        catch (AggregateException e) when (e.InnerExceptions.Count >= 1)
        {
            // Surface the test failure itself (the harness's message), not the wrapper.
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
        }
        CompileTime = DateTime.UtcNow - started;
        for (int c = 0; c < chunks; c++)
            foreach (var spec in parts[c])
                _types.Add(spec.Name, (assemblies[c], $"{ns}.{spec.Name}"));
    }

    /// <summary>Wall time of generating and compiling everything.</summary>
    public TimeSpan CompileTime { get; }

    /// <summary>A new instance of network <paramref name="name"/>.</summary>
    public INetwork Create(string name, int seed = 0)
    {
        var (assembly, fullName) = _types[name];
        return GeneratorHarness.CreateNetwork(assembly, fullName, seed);
    }
}

/// <summary>Runs a generated network against the float64 reference and explains any difference.</summary>
public static class NetworkCheck
{
    /// <summary>The accepted error: <c>|got − ref| ≤ Tolerance · (1 + |ref|)</c>.</summary>
    public const double Tolerance = 1e-4;

    /// <summary>Uniform values in [-1, 1).</summary>
    public static float[] RandomInput(Random random, int length)
    {
        var x = new float[length];
        for (int i = 0; i < length; i++) x[i] = (float)(random.NextDouble() * 2 - 1);
        return x;
    }

    /// <summary>Every parameter's accumulated gradient of <paramref name="actual"/> equals <paramref name="expected"/>'s, bit for bit.</summary>
    public static void AssertSameGradients(INetwork expected, INetwork actual)
    {
        Xunit.Assert.Equal(expected.Parameters.Count, actual.Parameters.Count);
        for (int i = 0; i < expected.Parameters.Count; i++)
            Xunit.Assert.Equal(expected.Parameters[i].Gradient, actual.Parameters[i].Gradient);
    }

    /// <summary>The first index where the two arrays differ bit for bit (NaN payloads and ±0 included), or −1.</summary>
    public static int FirstBitDifference(float[] expected, float[] actual)
        => Enumerable.Range(0, expected.Length).FirstOrDefault(k => BitConverter.SingleToInt32Bits(expected[k]) != BitConverter.SingleToInt32Bits(actual[k]), -1);

    // Floats on each side of an output span that a check fills with GuardValue and expects back unchanged: a kernel
    // that writes the caller's output directly and stores a row too many would otherwise go unseen (or corrupt the heap).
    private const int GuardFloats = 4096;
    private const float GuardValue = -1234.5f;

    /// <summary>An array of <paramref name="length"/> floats (<see cref="Inside"/>) between guard bands holding GuardValue.</summary>
    public static float[] Guarded(int length)
    {
        var guarded = new float[length + 2 * GuardFloats];
        guarded.AsSpan().Fill(GuardValue);
        return guarded;
    }

    public static Span<float> Inside(float[] guarded) => guarded.AsSpan(GuardFloats, guarded.Length - 2 * GuardFloats);

    /// <summary>A description of the first guard float <paramref name="what"/> changed, or null if none.</summary>
    public static string? WroteOutside(float[] guarded, string what)
    {
        int length = guarded.Length - 2 * GuardFloats;
        int at = Array.FindIndex(guarded, 0, GuardFloats, v => v != GuardValue);
        if (at < 0) at = Array.FindIndex(guarded, GuardFloats + length, GuardFloats, v => v != GuardValue);
        return at < 0 ? null : $"{what} wrote {guarded[at]} outside its output span, at offset {at - GuardFloats} from its start (length {length})";
    }

    /// <summary>
    /// Checks parameter names/shapes and lengths, sets random parameters through <see cref="Parameter.CopyFrom"/>, runs
    /// <paramref name="batch"/> random samples (uniform in ±<paramref name="inputScale"/>) through <c>Forward</c>, recorded
    /// and unrecorded, and compares with the reference.
    /// Returns null when everything matches, else a report naming the network (all its layers) and the first bad values.
    /// </summary>
    public static string? Check(INetwork network, NetworkSpec spec, int batch, int seed, float inputScale = 1f)
    {
        var problems = new StringBuilder();
        var random = new Random(seed);

        // Parameters: same names, same order, same PyTorch shapes as nn.Sequential.
        var expected = spec.ParameterShapes();
        var actual = network.Parameters;
        string Names(IEnumerable<(string Name, IReadOnlyList<int> Shape)> ps) => string.Join(", ", ps.Select(p => $"{p.Name}[{string.Join(",", p.Shape)}]"));
        var expectedList = expected.Select(p => (p.Name, (IReadOnlyList<int>)p.Shape)).ToList();
        var actualList = actual.Select(p => (p.Name, p.Shape)).ToList();
        if (Names(expectedList) != Names(actualList))
            return $"{spec.Describe()}Parameters differ:\n  expected {Names(expectedList)}\n  got      {Names(actualList)}";

        var reference = spec.Reference(SetRandomParameters(network, spec, random));
        var output = reference.OutputShape;
        if (network.InputLength != spec.InputLength) problems.Append($"InputLength {network.InputLength}, expected {spec.InputLength}\n");
        if (network.OutputLength != output.Length) problems.Append($"OutputLength {network.OutputLength}, expected {output.Length}\n");
        var expectedShape = output.IsFlat ? new[] { output.C } : new[] { output.C, output.H, output.W };
        if (!network.OutputShape.SequenceEqual(expectedShape))
            problems.Append($"OutputShape [{string.Join(",", network.OutputShape)}], expected [{string.Join(",", expectedShape)}]\n");
        if (problems.Length > 0) return spec.Describe() + problems;

        var input = RandomInput(random, batch * spec.InputLength);
        for (int i = 0; i < input.Length; i++) input[i] *= inputScale;
        var want = reference.Forward(input, batch);
        int length = batch * output.Length;
        var guarded = Guarded(length);
        // Both ways Forward runs: recording every tensor for Backward, and in the reused inference workspace (where
        // buffers are shared between layers and the last layer may write the caller's output directly).
        bool recorded = network.RecordForBackward;
        try
        {
            foreach (bool record in new[] { true, false })
            {
                network.RecordForBackward = record;
                guarded.AsSpan().Fill(GuardValue);
                Inside(guarded).Fill(float.NaN);
                network.Forward(input, Inside(guarded), batch);
                string? outside = WroteOutside(guarded, $"{(record ? "recorded" : "unrecorded")} Forward");
                if (outside is not null) return $"{spec.Describe()}batch {batch}, {outside}";
                var got = Inside(guarded).ToArray();
                string? mismatch = Compare(got, want, output, batch);
                if (mismatch is not null)
                    return $"{spec.Describe()}batch {batch}, data seed {seed}, inputs in ±{inputScale}, {(record ? "recorded" : "unrecorded")} Forward\n{mismatch}";
            }
        }
        finally { network.RecordForBackward = recorded; }
        return null;
    }

    /// <summary>Random parameters for <paramref name="spec"/> written into <paramref name="network"/> (and read back as a check).</summary>
    public static Dictionary<string, float[]> SetRandomParameters(INetwork network, NetworkSpec spec, Random random)
    {
        var values = spec.RandomParameters(random);
        foreach (var p in network.Parameters)
        {
            p.CopyFrom(values[p.Name]);
            var back = new float[p.Length];
            p.CopyTo(back);
            if (!back.AsSpan().SequenceEqual(values[p.Name]))
                throw new Xunit.Sdk.XunitException($"{spec.Describe()}Parameter {p.Name}: CopyTo after CopyFrom does not give the values back.");
        }
        return values;
    }

    /// <summary>
    /// Compares <paramref name="got"/> with <paramref name="want"/> element by element; null when all are within tolerance,
    /// else the count of bad values, the worst error and the first few bad positions as (n, c, y, x) or (n, feature).
    /// </summary>
    public static string? Compare(ReadOnlySpan<float> got, double[] want, RefShape shape, int batch)
    {
        if (got.Length != want.Length) return $"length {got.Length}, expected {want.Length}";
        int bad = 0;
        double worst = 0;
        var first = new StringBuilder();
        for (int i = 0; i < want.Length; i++)
        {
            double error = Math.Abs(got[i] - want[i]);
            double allowed = Tolerance * (1 + Math.Abs(want[i]));
            if (!(error <= allowed)) // NaN counts as bad
            {
                bad++;
                worst = double.IsNaN(error) ? double.NaN : Math.Max(worst, error);
                if (bad <= 6)
                    first.Append("  at ").Append(Position(i, shape)).Append(": got ").Append(got[i].ToString("R", CultureInfo.InvariantCulture))
                         .Append(", expected ").Append(want[i].ToString("R", CultureInfo.InvariantCulture)).Append('\n');
            }
        }
        if (bad == 0) return null;
        return $"{bad} of {want.Length} values differ (worst |error| {worst.ToString("G4", CultureInfo.InvariantCulture)}, output {shape} × batch {batch}):\n{first}";
    }

    private static string Position(int index, RefShape shape)
    {
        int per = shape.Length, n = index / per, r = index % per;
        if (shape.IsFlat) return $"(n={n}, f={r})";
        int c = r / (shape.H * shape.W), y = r / shape.W % shape.H, x = r % shape.W;
        return $"(n={n}, c={c}, y={y}, x={x})";
    }
}

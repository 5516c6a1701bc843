using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using ConvGen;
using Xunit;

namespace ConvGen.Tests.Peer;

/// <summary>
/// The PyTorch reference data of the peer tests: <c>tests/peer/make_peer.py</c>, run by <c>scripts/peer.sh</c>, writes it
/// into <c>artifacts/peer</c> (or the directory in <c>CONVGEN_PEER_DIR</c>). Missing data is a failure, not a skip.
/// </summary>
internal static class PeerData
{
    /// <summary>Samples in every peer batch (<c>BATCH</c> in make_peer.py).</summary>
    public const int Batch = 3;

    public static TheoryData<string> Names => new() { "lenet", "alexnet", "mixed", "winograd" };

    public static INetwork Create(string name, int seed = 0) => name switch
    {
        "lenet" => new PeerLeNet(seed),
        "alexnet" => new PeerAlexNet(seed),
        "mixed" => new PeerMixed(seed),
        "winograd" => new PeerWinograd(seed),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "unknown peer network"),
    };

    /// <summary>The path of <c>&lt;name&gt;.&lt;suffix&gt;</c>; fails the test, pointing at scripts/peer.sh, when it is missing.</summary>
    public static string File(string name, string suffix)
    {
        string dir = Directory();
        string path = Path.Combine(dir, $"{name}.{suffix}");
        if (!System.IO.File.Exists(path))
            Assert.Fail($"PyTorch reference file '{path}' is missing. Run scripts/peer.sh from the repository root " +
                        "(it writes artifacts/peer; set CONVGEN_PEER_DIR to use another directory).");
        return path;
    }

    public static string Directory()
    {
        string? fromEnv = Environment.GetEnvironmentVariable("CONVGEN_PEER_DIR");
        if (!string.IsNullOrWhiteSpace(fromEnv)) return Path.GetFullPath(fromEnv);
        string? root = RepositoryRoot();
        if (root is null)
            Assert.Fail($"Cannot find the repository root above '{AppContext.BaseDirectory}' to locate artifacts/peer. " +
                        "Run scripts/peer.sh and set CONVGEN_PEER_DIR to its output directory.");
        return Path.Combine(root, "artifacts", "peer");
    }

    public static string MakePeerScript()
    {
        string? root = RepositoryRoot();
        string? script = root is null ? null : Path.Combine(root, "tests", "peer", "make_peer.py");
        if (script is null || !System.IO.File.Exists(script))
            Assert.Fail($"Cannot find tests/peer/make_peer.py above '{AppContext.BaseDirectory}'.");
        return script;
    }

    public static string? RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (System.IO.File.Exists(Path.Combine(dir.FullName, "tests", "peer", "make_peer.py")) ||
                System.IO.File.Exists(Path.Combine(dir.FullName, "ConvGen.sln")))
                return dir.FullName;
        }
        return null;
    }

    /// <summary>A raw little-endian float32 file.</summary>
    public static float[] ReadFloats(string path)
    {
        byte[] bytes = System.IO.File.ReadAllBytes(path);
        Assert.True(bytes.Length % 4 == 0, $"{path}: {bytes.Length} bytes is not a whole number of float32 values");
        var values = new float[bytes.Length / 4];
        for (int i = 0; i < values.Length; i++)
            values[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(4 * i, 4));
        return values;
    }

    /// <summary>A raw little-endian int32 file.</summary>
    public static int[] ReadInts(string path)
    {
        byte[] bytes = System.IO.File.ReadAllBytes(path);
        Assert.True(bytes.Length % 4 == 0, $"{path}: {bytes.Length} bytes is not a whole number of int32 values");
        var values = new int[bytes.Length / 4];
        for (int i = 0; i < values.Length; i++)
            values[i] = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(4 * i, 4));
        return values;
    }

    public sealed record TensorEntry(string Name, int[] Shape, long Start, long End);

    /// <summary>The tensors of a safetensors file in data order (the order PyTorch's state dict wrote them).</summary>
    public static List<TensorEntry> ReadSafeTensorsHeader(string path) => ReadSafeTensorsHeader(System.IO.File.ReadAllBytes(path));

    /// <summary>
    /// Every F32 tensor of a safetensors file written by make_peer.py, in PyTorch layout, keyed by name. Read here rather
    /// than through ConvGen's <c>Load</c>, so a reference does not depend on the code under test.
    /// </summary>
    public static Dictionary<string, (int[] Shape, float[] Values)> ReadSafeTensors(string path)
    {
        byte[] bytes = System.IO.File.ReadAllBytes(path);
        long dataStart = 8 + BinaryPrimitives.ReadInt64LittleEndian(bytes);
        var result = new Dictionary<string, (int[], float[])>(StringComparer.Ordinal);
        foreach (var t in ReadSafeTensorsHeader(bytes))
        {
            long count = t.Shape.Aggregate(1L, (a, d) => a * d);
            Assert.True(t.End - t.Start == 4 * count && dataStart + t.End <= bytes.Length,
                $"{path}: tensor '{t.Name}' [{string.Join(",", t.Shape)}] has data_offsets [{t.Start}, {t.End}], which do not fit; regenerate with scripts/peer.sh");
            var values = new float[count];
            for (int i = 0; i < values.Length; i++)
                values[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(checked((int)(dataStart + t.Start + 4 * i)), 4));
            result.Add(t.Name, (t.Shape, values));
        }
        return result;
    }

    private static List<TensorEntry> ReadSafeTensorsHeader(byte[] bytes)
    {
        long length = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        using var doc = System.Text.Json.JsonDocument.Parse(bytes.AsMemory(8, checked((int)length)));
        return doc.RootElement.EnumerateObject()
            .Where(p => p.Name != "__metadata__")
            .Select(p => new TensorEntry(
                p.Name,
                p.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt32()).ToArray(),
                p.Value.GetProperty("data_offsets")[0].GetInt64(),
                p.Value.GetProperty("data_offsets")[1].GetInt64()))
            .OrderBy(t => t.Start)
            .ToList();
    }
}

using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json.Nodes;
using ConvGen.Tests.Networks;
using Xunit;

namespace ConvGen.Tests;

/// <summary>Save/Load in safetensors: roundtrip, atomic replacement, and every kind of bad file rejected without side effects.</summary>
public sealed class PersistenceTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("convgen-tests-");

    public void Dispose() => _dir.Delete(recursive: true);

    private string PathOf(string name) => Path.Combine(_dir.FullName, name);

    private static float[][] Values(INetwork net)
        => [.. net.Parameters.Select(p => { var v = new float[p.Length]; p.CopyTo(v); return v; })];

    private static float[] Run(INetwork net, int seed)
    {
        var x = Infrastructure.NetworkCheck.RandomInput(new Random(seed), 2 * net.InputLength);
        var y = new float[2 * net.OutputLength];
        net.Forward(x, y, 2);
        return y;
    }

    [Fact]
    public void SaveLoadRoundTrip()
    {
        var a = new MixedNet(seed: 1);
        var b = new MixedNet(seed: 2);
        Assert.NotEqual(Run(a, 5), Run(b, 5));
        string path = PathOf("mixed.safetensors");
        a.Save(path);
        b.Load(path);
        Assert.Equal(Values(a), Values(b));
        Assert.Equal(Run(a, 5), Run(b, 5));
    }

    [Fact]
    public void SavedFileIsPlainSafetensors()
    {
        // Read back with an independent parser: names, F32, PyTorch shapes, contiguous offsets, values in PyTorch layout.
        var net = new LeNet(seed: 7);
        string path = PathOf("lenet.safetensors");
        net.Save(path);
        var (header, data) = ReadFile(File.ReadAllBytes(path));
        long offset = 0;
        foreach (var p in net.Parameters)
        {
            var entry = header[p.Name]!.AsObject();
            Assert.Equal("F32", (string?)entry["dtype"]);
            Assert.Equal(p.Shape, entry["shape"]!.AsArray().Select(n => (int)n!));
            long[] offsets = [.. entry["data_offsets"]!.AsArray().Select(n => (long)n!)];
            Assert.Equal([offset, offset + 4L * p.Length], offsets);
            var expected = new float[p.Length];
            p.CopyTo(expected);
            Assert.Equal(expected, MemoryMarshal.Cast<byte, float>(data.AsSpan((int)offsets[0], 4 * p.Length)).ToArray());
            offset = offsets[1];
        }
        Assert.Equal(offset, data.Length);
        Assert.Equal(net.Parameters.Count, header.Count(kv => kv.Key != "__metadata__"));
    }

    [Fact]
    public void LoadsFileFromAnotherWriter()
    {
        // Keys in a different order, a __metadata__ entry, data in reverse order: all allowed by the format.
        var source = new LeNet(seed: 8);
        var header = new JsonObject { ["__metadata__"] = new JsonObject { ["format"] = "pt" } };
        var blobs = new List<byte[]>();
        long offset = 0;
        foreach (var p in source.Parameters.Reverse())
        {
            var v = new float[p.Length];
            p.CopyTo(v);
            blobs.Add(MemoryMarshal.AsBytes(v.AsSpan()).ToArray());
            header[p.Name] = Entry("F32", p.Shape, offset, offset + 4L * p.Length);
            offset += 4L * p.Length;
        }
        string path = PathOf("other.safetensors");
        File.WriteAllBytes(path, BuildFile(header.ToJsonString(), [.. blobs.SelectMany(b => b)]));
        var target = new LeNet(seed: 9);
        target.Load(path);
        Assert.Equal(Values(source), Values(target));
    }

    [Fact]
    public void SaveLeavesNoTemporaryFile()
    {
        string path = PathOf("a.safetensors");
        new LeNet().Save(path);
        Assert.Equal(["a.safetensors"], _dir.GetFiles().Select(f => f.Name));
    }

    [Fact]
    public void SaveReplacesExistingFile()
    {
        string path = PathOf("a.safetensors");
        File.WriteAllText(path, "not a weight file, and longer than nothing at all");
        var net = new LeNet(seed: 4);
        net.Save(path);
        Assert.Equal(["a.safetensors"], _dir.GetFiles().Select(f => f.Name));
        var other = new LeNet(seed: 5);
        other.Load(path);
        Assert.Equal(Values(net), Values(other));
    }

    [Fact]
    public void SaveReplacesByRenameNotInPlace()
    {
        // A reader holding the old file keeps seeing the old, complete content: the new file was written aside and
        // renamed over it, never truncated and rewritten in place. (POSIX semantics; Windows refuses to replace an open file.)
        if (OperatingSystem.IsWindows()) return;
        string path = PathOf("a.safetensors");
        new LeNet(seed: 1).Save(path);
        byte[] old = File.ReadAllBytes(path);
        using var reader = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        new LeNet(seed: 2).Save(path);
        var seen = new byte[old.Length + 1];
        int read = reader.ReadAtLeast(seen, seen.Length, throwOnEndOfStream: false);
        Assert.Equal(old, seen.AsSpan(0, read).ToArray());
        Assert.NotEqual(old, File.ReadAllBytes(path));
    }

    [Fact]
    public void SaveToMissingDirectoryThrowsAndWritesNothing()
    {
        string path = Path.Combine(_dir.FullName, "no-such-dir", "a.safetensors");
        Assert.ThrowsAny<IOException>(() => new LeNet().Save(path));
        Assert.Empty(_dir.GetFileSystemInfos());
    }

    /// <summary>A bad file: what to do to a good one, and words the error message must contain.</summary>
    public static IEnumerable<object[]> BadFiles() =>
    [
        ["missing key", new[] { "'11.bias'", "missing" }],
        ["extra key", new[] { "'12.weight'", "unexpected" }],
        ["wrong shape", new[] { "'3.weight'", "shape", "[16, 6, 25, 1]", "[16, 6, 5, 5]" }],
        ["wrong dtype", new[] { "'0.bias'", "F64", "F32" }],
        ["truncated data", new[] { "truncated" }],
        ["truncated header", new[] { "truncated" }],
        ["shorter than 8 bytes", new[] { "8" }],
        ["malformed header", new[] { "JSON" }],
        ["non-object header", new[] { "object", "Array" }],
        ["wrong data offsets", new[] { "'7.weight'", "data_offsets" }],
        ["entry without dtype", new[] { "'9.weight'", "malformed" }],
    ];

    [Theory]
    [MemberData(nameof(BadFiles))]
    public void LoadRejectsBadFileAndChangesNothing(string problem, string[] messageContains)
    {
        var good = new LeNet(seed: 1);
        string goodPath = PathOf("good.safetensors");
        good.Save(goodPath);
        byte[] bad = Corrupt(File.ReadAllBytes(goodPath), problem);
        string path = PathOf("bad.safetensors");
        File.WriteAllBytes(path, bad);

        var net = new LeNet(seed: 2);
        var before = Values(net);
        var outputBefore = Run(net, 3);
        var e = Assert.Throws<InvalidDataException>(() => net.Load(path));
        foreach (var word in messageContains)
            Assert.True(e.Message.Contains(word, StringComparison.Ordinal), $"{problem}: message lacks \"{word}\": {e.Message}");
        Assert.Equal(before, Values(net));
        Assert.Equal(outputBefore, Run(net, 3));
    }

    [Fact]
    public void LoadMissingFileThrowsFileNotFound()
        => Assert.Throws<FileNotFoundException>(() => new LeNet().Load(PathOf("nope.safetensors")));

    private static byte[] Corrupt(byte[] file, string problem)
    {
        var (header, data) = ReadFile(file);
        switch (problem)
        {
            case "missing key":
                header.Remove("11.bias");
                return BuildFile(header.ToJsonString(), data);
            case "extra key":
                header["12.weight"] = Entry("F32", [1], data.Length, data.Length + 4);
                return BuildFile(header.ToJsonString(), [.. data, 0, 0, 128, 63]);
            case "wrong shape":
                header["3.weight"]!["shape"] = new JsonArray(16, 6, 25, 1); // same count, different shape
                return BuildFile(header.ToJsonString(), data);
            case "wrong dtype":
                header["0.bias"]!["dtype"] = "F64";
                return BuildFile(header.ToJsonString(), data);
            case "truncated data":
                return file[..^100];
            case "truncated header":
                return file[..(8 + 20)];
            case "shorter than 8 bytes":
                return file[..5];
            case "malformed header":
                return BuildFile("{\"0.weight\": {\"dtype\": \"F32\", \"shape\": [6, 1, 5, 5", data);
            case "non-object header":
                return BuildFile("[1, 2, 3]", data);
            case "wrong data offsets":
                header["7.weight"]!["data_offsets"] = new JsonArray(0, 8);
                return BuildFile(header.ToJsonString(), data);
            case "entry without dtype":
                header["9.weight"]!.AsObject().Remove("dtype");
                return BuildFile(header.ToJsonString(), data);
            default:
                throw new ArgumentException(problem);
        }
    }

    private static JsonObject Entry(string dtype, IEnumerable<int> shape, long start, long end) => new()
    {
        ["dtype"] = dtype,
        ["shape"] = new JsonArray([.. shape.Select(d => (JsonNode)d)]),
        ["data_offsets"] = new JsonArray(start, end),
    };

    private static (JsonObject Header, byte[] Data) ReadFile(byte[] file)
    {
        long n = BinaryPrimitives.ReadInt64LittleEndian(file);
        var header = JsonNode.Parse(Encoding.UTF8.GetString(file, 8, (int)n))!.AsObject();
        return (header, file[(int)(8 + n)..]);
    }

    private static byte[] BuildFile(string header, byte[] data)
    {
        byte[] h = Encoding.UTF8.GetBytes(header);
        var file = new byte[8 + h.Length + data.Length];
        BinaryPrimitives.WriteInt64LittleEndian(file, h.Length);
        h.CopyTo(file, 8);
        data.CopyTo(file, 8 + h.Length);
        return file;
    }
}

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
        var e = Assert.ThrowsAny<IOException>(() => new LeNet().Save(path));
        // The message names the caller's path, not the temporary file Save writes first.
        Assert.Contains($"Cannot save to '{path}': the folder", e.Message);
        Assert.DoesNotContain(".convgen-", e.Message);
        Assert.Empty(_dir.GetFileSystemInfos());
        // A folder as the target: refused before anything is written (a rename over it would fail after the write).
        e = Assert.ThrowsAny<IOException>(() => new LeNet().Save(_dir.FullName));
        Assert.Contains("is a folder", e.Message);
        Assert.Empty(_dir.GetFileSystemInfos());
    }

    [Theory]
    [InlineData("quote\"d")]
    [InlineData("tab\there")]
    [InlineData("back\\slash")]
    [InlineData("line\nbreak")]
    [InlineData("größe.weight")]
    [InlineData("")]
    public void NamesAreEscapedInTheHeaderAndComeBack(string name)
    {
        // A name is a JSON string in the header: whatever its characters, an independent JSON parser reads it back
        // exactly, and Load finds it.
        var p = new Parameter(name, [3], ParameterLayout.Vector(3));
        p.CopyFrom([1f, 2f, 3f]);
        var q = new Parameter("other", [2], ParameterLayout.Vector(2));
        q.CopyFrom([4f, 5f]);
        string path = PathOf("named.safetensors");
        SafeTensors.Save(path, [p, q]);

        var (header, _) = ReadFile(File.ReadAllBytes(path));
        Assert.Equal([name, "other"], header.Select(kv => kv.Key));
        var p2 = new Parameter(name, [3], ParameterLayout.Vector(3));
        var q2 = new Parameter("other", [2], ParameterLayout.Vector(2));
        SafeTensors.Load(path, [p2, q2]);
        Assert.Equal(p.Values, p2.Values);
        Assert.Equal(q.Values, q2.Values);
    }

    [Fact]
    public void SaveRefusesTwoParametersOfOneNameAndKeepsTheOldFile()
    {
        string path = PathOf("a.safetensors");
        new LeNet(seed: 1).Save(path);
        byte[] old = File.ReadAllBytes(path);
        var p = new Parameter("x", [2], ParameterLayout.Vector(2));
        var q = new Parameter("x", [3], ParameterLayout.Vector(3));

        var e = Assert.Throws<ArgumentException>(() => SafeTensors.Save(path, [p, q]));
        Assert.Contains("Two parameters are named 'x'", e.Message);
        Assert.Equal(old, File.ReadAllBytes(path));
        Assert.Equal(["a.safetensors"], _dir.GetFiles().Select(f => f.Name));
        Assert.Throws<ArgumentNullException>(() => SafeTensors.Save(path, null!));
        // Names Load could not find again: the format's reserved key, and a lone surrogate (no UTF-8 form).
        e = Assert.Throws<ArgumentException>(() => SafeTensors.Save(path, [new Parameter("__metadata__", [2], ParameterLayout.Vector(2))]));
        Assert.Contains("reserves", e.Message);
        e = Assert.Throws<ArgumentException>(() => SafeTensors.Save(path, [new Parameter("bad\ud800name", [2], ParameterLayout.Vector(2))]));
        Assert.Contains("lone UTF-16 surrogate", e.Message);
        Assert.Equal(old, File.ReadAllBytes(path));
        Assert.Throws<ArgumentNullException>(() => SafeTensors.Load(path, null!));
    }

    [Fact]
    public void LoadChecksItsParameterListAsSaveDoesAndChangesNothing()
    {
        string path = PathOf("a.safetensors");
        new LeNet(seed: 1).Save(path);
        var net = new LeNet(seed: 2);
        var before = Values(net);
        var withNull = net.Parameters.Select((p, i) => i == 2 ? null! : p).ToList();
        var e = Assert.Throws<ArgumentException>(() => SafeTensors.Load(path, withNull));
        Assert.Equal("parameters", e.ParamName);
        Assert.Contains("parameters[2] is null", e.Message);
        // Before: "the data of tensors '0.weight' and '0.weight' overlap", as if the file were at fault.
        e = Assert.Throws<ArgumentException>(() => SafeTensors.Load(path, [.. net.Parameters, net.Parameters[0]]));
        Assert.Contains("Two parameters are named '0.weight'", e.Message);
        // Before: "…; this network has ." with nothing after it.
        var data = Assert.Throws<InvalidDataException>(() => SafeTensors.Load(path, []));
        Assert.Contains("no parameters were given", data.Message);
        Assert.Equal(before, Values(net));
    }

    [Fact]
    public void SaveWorksForTheLongestFileName()
    {
        // The temporary file's name does not grow with the target's: a 255-byte name (the usual limit) still saves.
        string path = PathOf(new string('w', 255 - ".safetensors".Length) + ".safetensors");
        var net = new LeNet(seed: 3);
        net.Save(path);
        var other = new LeNet(seed: 4);
        other.Load(path);
        Assert.Equal(Values(net), Values(other));
    }

    [Fact]
    public void SaveThroughASymbolicLinkReplacesItsTargetAndKeepsTheLink()
    {
        if (OperatingSystem.IsWindows()) return; // creating links needs a privilege there
        string target = PathOf("weights-v1.safetensors"), link = PathOf("latest.safetensors");
        new LeNet(seed: 1).Save(target);
        File.CreateSymbolicLink(link, target);
        var net = new LeNet(seed: 2);

        net.Save(link);

        Assert.NotNull(new FileInfo(link).LinkTarget);
        var fromTarget = new LeNet(seed: 3);
        fromTarget.Load(target);
        Assert.Equal(Values(net), Values(fromTarget));
    }

    /// <summary>A bad file: what to do to a good one, and words the error message must contain.</summary>
    public static IEnumerable<object[]> BadFiles() =>
    [
        ["missing key", new[] { "'11.bias'", "missing" }],
        ["extra key", new[] { "'12.weight'", "unexpected" }],
        ["wrong shape", new[] { "'3.weight'", "shape", "[16, 6, 25, 1]", "[16, 6, 5, 5]" }],
        ["wrong dtype", new[] { "'0.bias'", "F64", "F32" }],
        ["two wrong shapes and a wrong dtype", new[] { "tensor '0.weight' has shape [6, 1, 25]", "tensor '3.bias' has dtype F16", "tensor '9.weight' has shape [120, 84]" }],
        ["truncated data", new[] { "truncated" }],
        ["truncated header", new[] { "truncated" }],
        ["shorter than 8 bytes", new[] { "8" }],
        ["malformed header", new[] { "JSON" }],
        ["non-object header", new[] { "object", "Array" }],
        ["wrong data offsets", new[] { "'7.weight'", "data_offsets" }],
        ["entry without dtype", new[] { "'9.weight'", "malformed" }],
        ["null dtype", new[] { "'9.bias'", "dtype null", "F32" }],
        ["overflowing data offsets", new[] { "'0.bias'", "data_offsets", "9223372036854775784" }],
        ["duplicate key", new[] { "'0.bias'", "twice" }],
        ["name not UTF-8", new[] { "malformed JSON header" }],
        ["overlapping data", new[] { "'0.weight'", "'0.bias'", "overlap" }],
        ["gap in the data", new[] { "belong to no tensor" }],
        ["bytes after the data", new[] { "4 byte(s) after the last tensor's data" }],
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

    [Fact]
    public void LoadFromAFolderSaysItIsAFolder()
    {
        string folder = PathOf("a-folder");
        Directory.CreateDirectory(folder);
        var e = Assert.Throws<IOException>(() => new LeNet().Load(folder));
        Assert.Contains("it is a folder", e.Message);
    }

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
            case "two wrong shapes and a wrong dtype": // all reported at once, in the network's order
                header["0.weight"]!["shape"] = new JsonArray(6, 1, 25);
                header["3.bias"]!["dtype"] = "F16";
                header["9.weight"]!["shape"] = new JsonArray(120, 84);
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
            case "null dtype":
                header["9.bias"]!["dtype"] = null;
                return BuildFile(header.ToJsonString(), data);
            case "overflowing data offsets":
                // end − begin wraps to the tensor's 24 bytes (6 floats) in 64-bit arithmetic; begin points far past the data.
                header["0.bias"]!["data_offsets"] = new JsonArray(long.MaxValue - 23, long.MinValue);
                return BuildFile(header.ToJsonString(), data);
            case "duplicate key":
            {
                string json = header.ToJsonString();
                return BuildFile($"{{\"0.bias\":{header["0.bias"]!.ToJsonString()},{json[1..]}", data);
            }
            case "name not UTF-8":
            {
                header["zz"] = Entry("F32", [1], data.Length, data.Length + 4);
                byte[] bytes = Encoding.UTF8.GetBytes(header.ToJsonString());
                int at = Encoding.UTF8.GetString(bytes).IndexOf("\"zz\"", StringComparison.Ordinal) + 1;
                bytes[at] = 0xFF; // a lone continuation-less lead byte: no UTF-8 string has it
                return BuildFile(bytes, [.. data, 0, 0, 0, 0]);
            }
            case "overlapping data":
                header["0.bias"]!["data_offsets"] = new JsonArray(0, 24); // inside 0.weight's [0, 600)
                return BuildFile(header.ToJsonString(), data);
            case "gap in the data":
            {
                // The last tensor moved 4 bytes on, with 4 bytes more data: every range fits, but 4 bytes belong to none.
                var last = header.Where(kv => kv.Key != "__metadata__").MaxBy(kv => (long)kv.Value!["data_offsets"]![1]!);
                long begin = (long)last.Value!["data_offsets"]![0]!, end = (long)last.Value!["data_offsets"]![1]!;
                last.Value["data_offsets"] = new JsonArray(begin + 4, end + 4);
                return BuildFile(header.ToJsonString(), [.. data[..(int)begin], 0, 0, 0, 0, .. data[(int)begin..]]);
            }
            case "bytes after the data":
                return BuildFile(header.ToJsonString(), [.. data, 1, 2, 3, 4]);
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

    private static byte[] BuildFile(string header, byte[] data) => BuildFile(Encoding.UTF8.GetBytes(header), data);

    private static byte[] BuildFile(byte[] h, byte[] data)
    {
        var file = new byte[8 + h.Length + data.Length];
        BinaryPrimitives.WriteInt64LittleEndian(file, h.Length);
        h.CopyTo(file, 8);
        data.CopyTo(file, 8 + h.Length);
        return file;
    }
}

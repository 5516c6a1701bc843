using System;
using System.Buffers.Binary;
using System.IO;
using Xunit;

namespace ConvGen.Tests.Training;

/// <summary>
/// Finds the PyTorch reference data of the training runtime, written by <c>tests/peer/make_optim_peer.py</c> (run by
/// <c>scripts/peer.sh</c>) into <c>artifacts/peer</c>, or the directory in <c>CONVGEN_PEER_DIR</c>, as for PeerTests.
/// Missing data is a failure, not a skip.
/// </summary>
internal static class PeerData
{
    public static string File(string name)
    {
        string path = Path.Combine(Directory(), name);
        if (!System.IO.File.Exists(path))
            Assert.Fail($"PyTorch reference file '{path}' is missing. Run scripts/peer.sh from the repository root " +
                        "(or /usr/bin/python3 tests/peer/make_optim_peer.py artifacts/peer; set CONVGEN_PEER_DIR to use another directory).");
        return path;
    }

    public static float[] ReadFloats(string path)
    {
        byte[] bytes = System.IO.File.ReadAllBytes(path);
        Assert.True(bytes.Length % 4 == 0, $"{path}: {bytes.Length} bytes is not a whole number of float32 values");
        var values = new float[bytes.Length / 4];
        for (int i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(4 * i, 4));
        return values;
    }

    private static string Directory()
    {
        string? fromEnv = Environment.GetEnvironmentVariable("CONVGEN_PEER_DIR");
        if (!string.IsNullOrWhiteSpace(fromEnv)) return Path.GetFullPath(fromEnv);
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (System.IO.File.Exists(Path.Combine(dir.FullName, "tests", "peer", "make_optim_peer.py")) ||
                System.IO.File.Exists(Path.Combine(dir.FullName, "ConvGen.sln")))
                return Path.Combine(dir.FullName, "artifacts", "peer");
        Assert.Fail($"Cannot find the repository root above '{AppContext.BaseDirectory}' to locate artifacts/peer. " +
                    "Run scripts/peer.sh and set CONVGEN_PEER_DIR to its output directory.");
        return "";
    }
}

using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;
using System.Linq;
using ConvGen.Data;
using ConvGen.Training;
using Xunit;

namespace ConvGen.Tests;

/// <summary>IDX reading (raw and gzip, every kind of malformed file) and locating Fashion-MNIST, on tiny files written here.</summary>
public sealed class IdxTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("convgen-idx-");

    public void Dispose() => _dir.Delete(recursive: true);

    private string PathOf(string name) => Path.Combine(_dir.FullName, name);

    // An IDX file: magic, big-endian sizes, then the bytes; gzip-compressed when asked.
    private static byte[] IdxBytes(int magic, int[] sizes, byte[] body)
    {
        var bytes = new byte[4 + 4 * sizes.Length + body.Length];
        BinaryPrimitives.WriteInt32BigEndian(bytes, magic);
        for (int i = 0; i < sizes.Length; i++) BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4 + 4 * i), sizes[i]);
        body.CopyTo(bytes, 4 + 4 * sizes.Length);
        return bytes;
    }

    private static byte[] Gzip(byte[] bytes)
    {
        using var memory = new MemoryStream();
        using (var gzip = new GZipStream(memory, CompressionLevel.Optimal, leaveOpen: true)) gzip.Write(bytes);
        return memory.ToArray();
    }

    private string Write(string name, byte[] bytes, bool gzip)
    {
        string path = PathOf(name);
        File.WriteAllBytes(path, gzip ? Gzip(bytes) : bytes);
        return path;
    }

    // 3 images of 2 rows × 4 columns, pixel values 0, 10, 20, … with 255 last.
    private static readonly byte[] ImageBody = [.. Enumerable.Range(0, 23).Select(i => (byte)(i * 10)), 255];

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ReadsImagesScaledToUnitRange(bool gzip)
    {
        string path = Write("images.idx3", IdxBytes(Idx.ImagesMagic, [3, 2, 4], ImageBody), gzip);

        var (pixels, count, rows, cols) = Idx.ReadImages(path);

        Assert.Equal((3, 2, 4), (count, rows, cols));
        Assert.Equal(ImageBody.Select(b => b / 255f), pixels);
        Assert.Equal(0f, pixels[0]);
        Assert.Equal(1f, pixels[^1]);
        Assert.Equal(220f / 255f, pixels[2 * 8 + 1 * 4 + 2]); // image 2, row 1, column 2: row-major, image after image
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ReadsLabels(bool gzip)
    {
        byte[] labels = [9, 0, 3, 3, 7];
        string path = Write("labels.idx1", IdxBytes(Idx.LabelsMagic, [labels.Length], labels), gzip);

        Assert.Equal(labels, Idx.ReadLabels(path));
    }

    [Fact]
    public void ReadsAnEmptySet()
    {
        string path = Write("empty.idx3", IdxBytes(Idx.ImagesMagic, [0, 28, 28], []), gzip: false);

        var (pixels, count, rows, cols) = Idx.ReadImages(path);

        Assert.Empty(pixels);
        Assert.Equal((0, 28, 28), (count, rows, cols));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void RejectsWrongMagic(bool gzip)
    {
        string labels = Write("labels.idx1", IdxBytes(Idx.LabelsMagic, [2], [1, 2]), gzip);
        string images = Write("images.idx3", IdxBytes(Idx.ImagesMagic, [3, 2, 4], ImageBody), gzip);
        string text = Write("notes.txt", "hello, world"u8.ToArray(), gzip);

        var e = Assert.Throws<InvalidDataException>(() => Idx.ReadImages(labels));
        Assert.Contains(labels, e.Message);
        Assert.Contains("0x00000801", e.Message);
        Assert.Contains("expected 0x00000803", e.Message);
        Assert.Contains("label file", e.Message);

        e = Assert.Throws<InvalidDataException>(() => Idx.ReadLabels(images));
        Assert.Contains("expected 0x00000801", e.Message);
        Assert.Contains("image file", e.Message);

        e = Assert.Throws<InvalidDataException>(() => Idx.ReadImages(text));
        Assert.Contains("not an IDX image file", e.Message);
    }

    [Theory]
    [InlineData(false, 0)]   // empty file
    [InlineData(false, 3)]   // inside the magic number
    [InlineData(false, 10)]  // inside the sizes
    [InlineData(false, 16)]  // header complete, no pixels
    [InlineData(false, 30)]  // some pixels missing
    [InlineData(true, 3)]
    [InlineData(true, 10)]
    [InlineData(true, 30)]
    public void RejectsTruncatedImages(bool gzip, int keep)
    {
        byte[] whole = IdxBytes(Idx.ImagesMagic, [3, 2, 4], ImageBody);
        string path = Write("cut.idx3", whole[..keep], gzip);

        var e = Assert.Throws<InvalidDataException>(() => Idx.ReadImages(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("truncated", e.Message);
        if (keep == 30) Assert.Contains("3 images of 2x4 (24 bytes of data), but only 14 bytes follow", e.Message);
    }

    [Fact]
    public void RejectsTruncatedLabels()
    {
        string path = Write("cut.idx1", IdxBytes(Idx.LabelsMagic, [10], [1, 2, 3]), gzip: false);

        var e = Assert.Throws<InvalidDataException>(() => Idx.ReadLabels(path));
        Assert.Contains("declares 10 labels", e.Message);
    }

    [Fact]
    public void RejectsACutGzipStream()
    {
        // The IDX content is whole, but the compressed file stops partway (an interrupted download).
        byte[] compressed = Gzip(IdxBytes(Idx.ImagesMagic, [3, 2, 4], ImageBody));
        string path = PathOf("cut.idx3.gz");
        File.WriteAllBytes(path, compressed[..(compressed.Length / 2)]);

        var e = Assert.Throws<InvalidDataException>(() => Idx.ReadImages(path));
        Assert.Contains(path, e.Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void RejectsBytesAfterTheLastElement(bool gzip)
    {
        string path = Write("long.idx3", IdxBytes(Idx.ImagesMagic, [3, 2, 4], [.. ImageBody, 0]), gzip);

        var e = Assert.Throws<InvalidDataException>(() => Idx.ReadImages(path));
        Assert.Contains("longer than its header says", e.Message);
    }

    [Theory]
    [InlineData(4194304, 2097152, 2097152)]   // the product wraps to 0 in 64 bits
    [InlineData(21004288, 1715306752, 256)]   // the product overflows 64 bits
    [InlineData(65536, 65536, 1)]             // 2^32 pixels: no overflow, but past the largest array
    public void RejectsImageSizesNoArrayCanHold(int count, int rows, int cols)
    {
        string path = Write("huge.idx3", IdxBytes(Idx.ImagesMagic, [count, rows, cols], []), gzip: false);

        var e = Assert.Throws<InvalidDataException>(() => Idx.ReadImages(path));
        Assert.Contains($"declares {count} images of {rows}x{cols} pixels, more than one array can hold", e.Message);
    }

    [Fact]
    public void RejectsALabelCountNoArrayCanHold()
    {
        string path = Write("huge.idx1", IdxBytes(Idx.LabelsMagic, [int.MaxValue], []), gzip: false);

        var e = Assert.Throws<InvalidDataException>(() => Idx.ReadLabels(path));
        Assert.Contains($"declares {int.MaxValue} labels, more than one array can hold", e.Message);
    }

    [Fact]
    public void ARawFileDeclaringMoreThanItHoldsFailsBeforeAllocating()
    {
        // 10^9 pixels declared, 3 present: the message counts what is there, and the check needs no 1 GB buffer.
        string path = Write("short.idx3", IdxBytes(Idx.ImagesMagic, [1000, 1000, 1000], [1, 2, 3]), gzip: false);
        long before = GC.GetAllocatedBytesForCurrentThread();

        var e = Assert.Throws<InvalidDataException>(() => Idx.ReadImages(path));

        Assert.Contains("(1000000000 bytes of data), but only 3 bytes follow", e.Message);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 10_000_000, "the reader allocated the declared size before failing");
    }

    // A gzip file whose member is whole but whose file is not: cut inside the 8-byte trailer (CRC, size), or followed
    // by bytes that are not another member. GZipStream alone returns the data in all four cases.
    [Theory]
    [InlineData("cut 4", "cut short")]
    [InlineData("cut 8", "cut short")]
    [InlineData("junk", "bytes follow")]
    [InlineData("zeros", "bytes follow")]
    public void RejectsAGzipFileCutInItsTrailerOrFollowedByBytes(string change, string expected)
    {
        byte[] compressed = Gzip(IdxBytes(Idx.ImagesMagic, [3, 2, 4], ImageBody));
        byte[] changed = change switch
        {
            "cut 4" => compressed[..^4],
            "cut 8" => compressed[..^8],
            "junk" => [.. compressed, 1, 2, 3, 4, 5],
            _ => [.. compressed, .. new byte[16]],
        };
        string path = PathOf("changed.idx3.gz");
        File.WriteAllBytes(path, changed);

        var e = Assert.Throws<InvalidDataException>(() => Idx.ReadImages(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void RefusesAGzipFileOfSeveralMembersSayingSo()
    {
        // Valid gzip (what cat a.gz b.gz makes), but its last trailer gives only the last member's size: refused, and
        // the message names the cause among the others.
        byte[] whole = IdxBytes(Idx.LabelsMagic, [10], [1, 2, 3, 4, 5, 6, 7, 8, 9, 0]);
        string path = PathOf("members.idx1.gz");
        File.WriteAllBytes(path, [.. Gzip(whole[..12]), .. Gzip(whole[12..])]);

        var e = Assert.Throws<InvalidDataException>(() => Idx.ReadLabels(path));
        Assert.Contains("more than one gzip member", e.Message);
    }

    [Theory]
    [InlineData(8)] // a byte of the CRC
    [InlineData(3)] // a byte of the size
    public void RejectsAGzipFileWithAWrongTrailer(int fromEnd)
    {
        byte[] compressed = Gzip(IdxBytes(Idx.ImagesMagic, [3, 2, 4], ImageBody));
        compressed[^fromEnd] ^= 0x40;
        string path = PathOf("crc.idx3.gz");
        File.WriteAllBytes(path, compressed);

        var e = Assert.Throws<InvalidDataException>(() => Idx.ReadImages(path));
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void RejectsNegativeSizes()
    {
        string path = Write("negative.idx1", IdxBytes(Idx.LabelsMagic, [-1], []), gzip: false);

        var e = Assert.Throws<InvalidDataException>(() => Idx.ReadLabels(path));
        Assert.Contains("negative label count", e.Message);
    }

    [Fact]
    public void MissingFileIsFileNotFound()
        => Assert.Throws<FileNotFoundException>(() => Idx.ReadImages(PathOf("nowhere.idx3")));

    [Fact]
    public void LocateFindsTheFirstFolderWithAllFourFiles()
    {
        string partial = _dir.CreateSubdirectory("partial").FullName;
        string full = _dir.CreateSubdirectory("full").FullName;
        File.WriteAllBytes(Path.Combine(partial, "t10k-images-idx3-ubyte.gz"), []);
        foreach (string name in new[] { "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz" })
            File.WriteAllBytes(Path.Combine(full, name), []);
        File.WriteAllBytes(Path.Combine(full, "t10k-labels-idx1-ubyte"), []); // unpacked copies count too

        FashionMnistFiles files = FashionMnist.Locate([PathOf("absent"), partial, full]);

        Assert.Equal(full, files.Directory);
        Assert.Equal(Path.Combine(full, "t10k-images-idx3-ubyte.gz"), files.TestImages);
        Assert.Equal(Path.Combine(full, "t10k-labels-idx1-ubyte"), files.TestLabels);
        Assert.Equal(Path.Combine(full, "train-images-idx3-ubyte.gz"), files.TrainImages);
    }

    /// <summary>Edge cases a review found with unclear messages (review of the runtime's error handling).</summary>
    [Fact]
    public void ZeroPixelImagesOutOfRangeSamplesAndNullFoldersSayWhatIsWrong()
    {
        // Images of 0×2 pixels: before, an ArgumentException about "images" (not FromIdx's parameter) with a wrong sum.
        string images = Write("empty-pixels.idx3", IdxBytes(Idx.ImagesMagic, [3, 0, 2], []), gzip: false);
        string labels = Write("three.idx1", IdxBytes(Idx.LabelsMagic, [3], [0, 1, 2]), gzip: false);
        var e = Assert.Throws<InvalidDataException>(() => InMemoryDataset.FromIdx(images, labels));
        Assert.Contains($"IDX file '{images}' holds images of 0x2 pixels", e.Message);

        var set = new InMemoryDataset([0f, 1f, 2f, 3f, 4f, 5f], [0, 1, 2], 2);
        Assert.Equal([4f, 5f], set.Sample(2).ToArray());
        foreach (int index in new[] { -1, 3, int.MaxValue })
        {
            var range = Assert.Throws<ArgumentOutOfRangeException>(() => set.Sample(index));
            Assert.Equal("index", range.ParamName);
            Assert.Contains($"index must be in [0, 3), was {index}", range.Message);
        }

        var locate = Assert.Throws<ArgumentException>(() => FashionMnist.Locate([PathOf("absent"), null!]));
        Assert.Equal("directories", locate.ParamName);

        // Only a gzip signature: nothing decompresses, which the message now says instead of "0 bytes".
        string header = Write("header-only.idx3", [0x1F, 0x8B], gzip: false);
        var idx = Assert.Throws<InvalidDataException>(() => Idx.ReadImages(header));
        Assert.Contains($"IDX file '{header}' is truncated: 0 byte(s) after gunzip", idx.Message);
    }

    [Fact]
    public void LocateSaysHowToInstall()
    {
        string partial = _dir.CreateSubdirectory("partial").FullName;
        File.WriteAllBytes(Path.Combine(partial, "t10k-images-idx3-ubyte.gz"), []);

        var e = Assert.Throws<FileNotFoundException>(() => FashionMnist.Locate([PathOf("absent"), partial]));

        Assert.Contains("apt-get install dataset-fashion-mnist", e.Message);
        Assert.Contains("scripts/setup.sh", e.Message);
        Assert.Contains($"{PathOf("absent")} (no such folder)", e.Message);
        Assert.Contains("missing train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]", e.Message);
    }

    [Fact]
    public void EnvironmentVariableIsSearchedFirst()
    {
        string? saved = Environment.GetEnvironmentVariable(FashionMnist.EnvironmentVariable);
        try
        {
            Environment.SetEnvironmentVariable(FashionMnist.EnvironmentVariable, _dir.FullName);
            Assert.Equal(new List<string> { _dir.FullName, FashionMnist.DebianDirectory }, FashionMnist.SearchDirectories());
            Environment.SetEnvironmentVariable(FashionMnist.EnvironmentVariable, null);
            Assert.Equal(new List<string> { FashionMnist.DebianDirectory }, FashionMnist.SearchDirectories());
        }
        finally
        {
            Environment.SetEnvironmentVariable(FashionMnist.EnvironmentVariable, saved);
        }
    }

    [Fact]
    public void ReadsTheInstalledTestSetWhenPresent()
    {
        // Only when Debian's dataset-fashion-mnist (or CONVGEN_FASHION_MNIST) is there; a quiet pass otherwise.
        FashionMnistFiles files;
        try { files = FashionMnist.Locate(); }
        catch (FileNotFoundException) { return; }

        var (pixels, count, rows, cols) = Idx.ReadImages(files.TestImages);
        byte[] labels = Idx.ReadLabels(files.TestLabels);

        Assert.Equal((10_000, 28, 28), (count, rows, cols));
        Assert.Equal(count * rows * cols, pixels.Length);
        Assert.Equal(count, labels.Length);
        Assert.All(labels, l => Assert.InRange(l, (byte)0, (byte)9));
        Assert.Equal(1000, labels.Count(l => l == 0)); // the test set is balanced: 1,000 per class
    }
}

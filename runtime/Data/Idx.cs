using System;
using System.Buffers.Binary;
using System.IO;
using System.IO.Compression;

namespace ConvGen.Data;

/// <summary>
/// Reads IDX files, the format of MNIST and Fashion-MNIST: a 4-byte magic number <c>00 00 TT DD</c> (TT the element
/// type, 0x08 for unsigned bytes; DD the number of dimensions), then DD big-endian 32-bit sizes, then the elements in
/// row-major order. Files may be raw or gzip-compressed (as distributed); which one is told by the first bytes, not by
/// the file name.
/// </summary>
/// <remarks>
/// Only unsigned-byte files are read: images with 3 dimensions (count, rows, cols; magic <c>0x00000803</c>) and labels
/// with 1 dimension (count; magic <c>0x00000801</c>). Every malformed input (wrong magic, a truncated header or body,
/// bytes after the last element, sizes larger than one array can hold, a corrupt gzip stream, a gzip file cut inside
/// its trailer or followed by other bytes) throws <see cref="InvalidDataException"/> naming the file. A gzip file holds
/// one member, as <c>gzip</c> writes it.
/// </remarks>
public static class Idx
{
    /// <summary>Magic number of an unsigned-byte IDX file with 3 dimensions (images).</summary>
    public const int ImagesMagic = 0x00000803;

    /// <summary>Magic number of an unsigned-byte IDX file with 1 dimension (labels).</summary>
    public const int LabelsMagic = 0x00000801;

    /// <summary>
    /// Reads an image file. Pixels come back as one array of <c>count × rows × cols</c> floats, image after image,
    /// each scaled from 0..255 to [0, 1] (value / 255) — directly an NCHW batch with one channel.
    /// </summary>
    /// <param name="path">An IDX3 unsigned-byte file, raw or gzip-compressed.</param>
    /// <returns>The pixels, the number of images and each image's height (<c>Rows</c>) and width (<c>Cols</c>).</returns>
    /// <exception cref="InvalidDataException">The file is not a well-formed IDX image file.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static (float[] Pixels, int Count, int Rows, int Cols) ReadImages(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return Read(path, ImagesMagic, "image", reader =>
        {
            int count = ReadDimension(reader, "image count");
            int rows = ReadDimension(reader, "row count");
            int cols = ReadDimension(reader, "column count");
            long perImage = (long)rows * cols; // < 2^62: no overflow; the product with count is checked by division
            if (count > 0 && perImage > Array.MaxLength / count)
                throw new InvalidDataException(
                    $"IDX file '{path}' declares {count} images of {rows}x{cols} pixels, more than one array can hold ({Array.MaxLength}).");
            byte[] bytes = ReadBody(reader, (int)(count * perImage), $"{count} images of {rows}x{cols}");
            Span<float> scaled = stackalloc float[256]; // value / 255, correctly rounded (so 255 → exactly 1)
            for (int v = 0; v < 256; v++) scaled[v] = v / 255f;
            var pixels = new float[bytes.Length];
            for (int i = 0; i < bytes.Length; i++) pixels[i] = scaled[bytes[i]];
            return (pixels, count, rows, cols);
        });
    }

    /// <summary>Reads a label file: one byte per sample (for Fashion-MNIST a class index 0..9).</summary>
    /// <param name="path">An IDX1 unsigned-byte file, raw or gzip-compressed.</param>
    /// <returns>The labels in file order.</returns>
    /// <exception cref="InvalidDataException">The file is not a well-formed IDX label file.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static byte[] ReadLabels(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return Read(path, LabelsMagic, "label", reader =>
        {
            int count = ReadDimension(reader, "label count");
            if (count > Array.MaxLength)
                throw new InvalidDataException(
                    $"IDX file '{path}' declares {count} labels, more than one array can hold ({Array.MaxLength}).");
            return ReadBody(reader, count, $"{count} labels");
        });
    }

    // Opens the file (decompressing when it starts with the gzip signature), checks the magic number, runs `body`
    // on the stream positioned after it, then insists that nothing follows the last element.
    private static T Read<T>(string path, int expectedMagic, string what, Func<Reader, T> body)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
        Span<byte> head = stackalloc byte[4];
        int got = file.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        file.Position = 0;
        bool gzip = got >= 2 && head[0] == 0x1F && head[1] == 0x8B;
        using Stream stream = gzip ? new GZipStream(file, CompressionMode.Decompress) : file;
        var reader = new Reader(stream, path, gzip);
        got = reader.ReadFully(head);
        if (got < 4)
            throw new InvalidDataException(
                $"IDX file '{path}' is truncated: {got} byte(s){(gzip ? " after gunzip" : "")}, too short for the 4-byte magic number.");
        int magic = BinaryPrimitives.ReadInt32BigEndian(head);
        if (magic != expectedMagic)
            throw new InvalidDataException(
                $"'{path}' is not an IDX {what} file: magic number 0x{magic:X8}{(gzip ? " (after gunzip)" : "")}, " +
                $"expected 0x{expectedMagic:X8} (unsigned bytes, {expectedMagic & 0xFF} dimension{(expectedMagic == LabelsMagic ? "" : "s")})" +
                (magic == ImagesMagic ? "; it is an IDX image file." : magic == LabelsMagic ? "; it is an IDX label file." : "."));
        T result = body(reader);
        Span<byte> extra = stackalloc byte[1];
        if (reader.ReadFully(extra) != 0)
            throw new InvalidDataException(
                $"IDX file '{path}' is longer than its header says: bytes follow the last of its elements.");
        if (gzip) CheckGzipSize(file, reader.Total, path);
        return result;
    }

    // GZipStream checks a member's CRC and size when it reaches its trailer, but ends without complaint when the
    // file stops before the trailer, and ignores bytes after the member that do not start another one. The file's
    // last 4 bytes must therefore be the trailer's size field: the decompressed length modulo 2^32. That holds for a
    // file of one member, as gzip writes it; a file of several (cat a.gz b.gz, bgzip), which GZipStream reads and
    // earlier versions accepted, ends with its last member's size only and is refused, with a message that says so.
    private static void CheckGzipSize(FileStream file, long decompressed, string path)
    {
        Span<byte> size = stackalloc byte[4];
        if (file.Length < 18) // the smallest gzip member: a 10-byte header and an 8-byte trailer
            throw new InvalidDataException($"IDX file '{path}' is not a valid gzip file: {file.Length} bytes, shorter than any gzip stream.");
        file.Position = file.Length - 4;
        file.ReadExactly(size);
        uint declared = BinaryPrimitives.ReadUInt32LittleEndian(size);
        if (declared != (uint)decompressed)
            throw new InvalidDataException(
                $"IDX file '{path}' is not a valid gzip file: its last 4 bytes give a size of {declared} bytes (modulo 2^32), " +
                $"but it decompresses to {decompressed}; the file is cut short, bytes follow the gzip stream, or it holds " +
                "more than one gzip member (not read: decompress it, or recompress it with gzip).");
    }

    private static int ReadDimension(Reader reader, string name)
    {
        Span<byte> bytes = stackalloc byte[4];
        if (reader.ReadFully(bytes) < 4)
            throw new InvalidDataException($"IDX file '{reader.Path}' is truncated: its header ends before the {name}.");
        int value = BinaryPrimitives.ReadInt32BigEndian(bytes);
        if (value < 0)
            throw new InvalidDataException($"IDX file '{reader.Path}' has a negative {name} ({value}) in its header.");
        return value;
    }

    private static byte[] ReadBody(Reader reader, int length, string description)
    {
        // A raw file's size is known: a header declaring more than follows fails before a buffer that size is allocated.
        if (reader.Remaining is long remaining && remaining < length)
            throw new InvalidDataException(
                $"IDX file '{reader.Path}' is truncated: its header declares {description} ({length} bytes of data), but only {remaining} bytes follow.");
        var bytes = new byte[length];
        int got = reader.ReadFully(bytes);
        if (got < length)
            throw new InvalidDataException(
                $"IDX file '{reader.Path}' is truncated: its header declares {description} ({length} bytes of data), but only {got} bytes follow.");
        return bytes;
    }

    // The (possibly decompressing) stream with the file's path, so every message can name the file.
    private sealed class Reader(Stream stream, string path, bool gzip)
    {
        public string Path { get; } = path;

        /// <summary>Bytes read so far (decompressed).</summary>
        public long Total { get; private set; }

        /// <summary>Bytes left in a raw file; null for a gzip stream, whose decompressed length is not known ahead.</summary>
        public long? Remaining => gzip ? null : stream.Length - stream.Position;

        // Reads until `buffer` is full or the stream ends; returns the number of bytes read. A corrupt gzip stream's
        // error is rethrown naming the file (GZipStream's own message does not).
        public int ReadFully(Span<byte> buffer)
        {
            int total = 0;
            while (total < buffer.Length)
            {
                int n;
                try
                {
                    n = stream.Read(buffer[total..]);
                }
                catch (InvalidDataException e) when (gzip)
                {
                    throw new InvalidDataException($"IDX file '{Path}' is not a valid gzip stream (corrupt or truncated): {e.Message}", e);
                }
                if (n == 0) break;
                total += n;
            }
            Total += total;
            return total;
        }
    }
}

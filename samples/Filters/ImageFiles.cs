using System;
using System.Buffers.Binary;
using System.IO;
using System.IO.Compression;
using System.Text;

namespace ConvGen.Samples.Filters;

/// <summary>Turns float planes into 8-bit gray and writes them as PGM files and a PNG contact sheet, with no library.</summary>
public static class ImageFiles
{
    /// <summary>
    /// One plane to 8-bit gray. Images (input, blurs, sharpen) clamp to [0, 1]; edge responses are signed, so they show
    /// |value| scaled to the plane's own maximum (a flat plane stays black).
    /// </summary>
    public static byte[] ToGray(ReadOnlySpan<float> plane, bool edge)
    {
        float scale = 1;
        if (edge)
        {
            float max = 0;
            foreach (float v in plane) max = Math.Max(max, Math.Abs(v));
            scale = max > 1e-6f ? 1 / max : 0;
        }
        var gray = new byte[plane.Length];
        for (int i = 0; i < plane.Length; i++)
        {
            float v = edge ? Math.Abs(plane[i]) * scale : plane[i];
            gray[i] = (byte)MathF.Round(Math.Clamp(v, 0f, 1f) * 255f);
        }
        return gray;
    }

    /// <summary>Binary PGM (P5), 8-bit: a text header, then the pixels row by row.</summary>
    public static void WritePgm(string path, byte[] gray, int width, int height)
    {
        using var file = File.Create(path);
        file.Write(Encoding.ASCII.GetBytes($"P5\n{width} {height}\n255\n"));
        file.Write(gray, 0, width * height);
    }

    /// <summary>
    /// Lays out <paramref name="tiles"/>[row][column] (each <paramref name="width"/>×<paramref name="height"/> gray)
    /// on a dark background, each enlarged <paramref name="scale"/> times (nearest neighbour), with a wider gap after
    /// the first column (the input), and writes it as an 8-bit grayscale PNG.
    /// </summary>
    public static void WriteContactSheet(string path, byte[][][] tiles, int width, int height, int scale, string description)
    {
        const int Gap = 4, InputGap = 14;
        const byte Background = 48;
        int columns = tiles[0].Length, rows = tiles.Length;
        int tileW = width * scale, tileH = height * scale;
        int sheetW = Gap + columns * (tileW + Gap) + (InputGap - Gap), sheetH = Gap + rows * (tileH + Gap);
        var sheet = new byte[sheetW * sheetH];
        Array.Fill(sheet, Background);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < columns; c++)
            {
                int left = Gap + c * (tileW + Gap) + (c > 0 ? InputGap - Gap : 0), top = Gap + r * (tileH + Gap);
                for (int y = 0; y < tileH; y++)
                    for (int x = 0; x < tileW; x++)
                        sheet[(top + y) * sheetW + left + x] = tiles[r][c][y / scale * width + x / scale];
            }
        WritePng(path, sheet, sheetW, sheetH, description);
    }

    /// <summary>
    /// An 8-bit grayscale PNG: the signature, then chunks IHDR, tEXt (Description), IDAT (zlib-compressed rows, each
    /// led by filter type 0 = none) and IEND, each as length, type, data, CRC-32 of type and data.
    /// </summary>
    public static void WritePng(string path, byte[] gray, int width, int height, string description)
    {
        using var file = File.Create(path);
        file.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);

        var header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(0), width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = 8;  // bit depth
        header[9] = 0;  // color type: grayscale
        header[10] = 0; // compression: deflate
        header[11] = 0; // filter method: adaptive (per-row filter byte)
        header[12] = 0; // no interlace
        WriteChunk(file, "IHDR", header);

        WriteChunk(file, "tEXt", Encoding.Latin1.GetBytes("Description\0" + description));

        var raw = new byte[height * (width + 1)];
        for (int y = 0; y < height; y++)
        {
            raw[y * (width + 1)] = 0; // filter: none
            Array.Copy(gray, y * width, raw, y * (width + 1) + 1, width);
        }
        using var compressed = new MemoryStream();
        using (var zlib = new ZLibStream(compressed, CompressionLevel.Optimal, leaveOpen: true))
            zlib.Write(raw);
        WriteChunk(file, "IDAT", compressed.ToArray());

        WriteChunk(file, "IEND", []);
    }

    private static void WriteChunk(Stream stream, string type, byte[] data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        stream.Write(word);
        byte[] typeBytes = Encoding.ASCII.GetBytes(type);
        stream.Write(typeBytes);
        stream.Write(data);
        uint crc = Crc32.Update(Crc32.Update(0xFFFFFFFFu, typeBytes), data) ^ 0xFFFFFFFFu;
        BinaryPrimitives.WriteUInt32BigEndian(word, crc);
        stream.Write(word);
    }

    /// <summary>CRC-32 as PNG (and zip, gzip) define it: reflected polynomial 0xEDB88320, one table lookup per byte.</summary>
    private static class Crc32
    {
        private static readonly uint[] Table = BuildTable();

        private static uint[] BuildTable()
        {
            var table = new uint[256];
            for (uint n = 0; n < 256; n++)
            {
                uint c = n;
                for (int k = 0; k < 8; k++)
                    c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
                table[n] = c;
            }
            return table;
        }

        /// <summary>Continues a running CRC (start with 0xFFFFFFFF, finish by xor with 0xFFFFFFFF).</summary>
        public static uint Update(uint crc, ReadOnlySpan<byte> data)
        {
            foreach (byte b in data)
                crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
            return crc;
        }
    }
}

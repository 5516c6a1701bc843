using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;
using System.Linq;
using System.Text.Json;

namespace ConvGen;

/// <summary>
/// The safetensors weight format: an 8-byte little-endian header length, a UTF-8 JSON header
/// <c>{name: {dtype, shape, data_offsets}}</c> (plus an optional <c>__metadata__</c>), then the raw little-endian data.
/// Only F32 tensors are written or accepted.
/// </summary>
public static class SafeTensors
{
    private const long MaxHeaderBytes = 100_000_000;

    /// <summary>Writes <paramref name="parameters"/> in PyTorch layout; the file appears whole or not at all.</summary>
    public static void Save(string path, IReadOnlyList<Parameter> parameters)
    {
        ArgumentNullException.ThrowIfNull(path);
        var header = new StringBuilder("{");
        long offset = 0;
        for (int i = 0; i < parameters.Count; i++)
        {
            var p = parameters[i];
            if (i > 0) header.Append(',');
            header.Append('"').Append(p.Name).Append("\":{\"dtype\":\"F32\",\"shape\":[")
                  .Append(string.Join(",", p.Shape)).Append("],\"data_offsets\":[")
                  .Append(offset).Append(',').Append(offset + 4L * p.Length).Append("]}");
            offset += 4L * p.Length;
        }
        header.Append('}');
        // Pad the header with spaces so the data starts 8-byte aligned, as the reference writer does.
        while ((Encoding.UTF8.GetByteCount(header.ToString()) + 8) % 8 != 0) header.Append(' ');
        byte[] headerBytes = Encoding.UTF8.GetBytes(header.ToString());

        string full = Path.GetFullPath(path);
        string temp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                Span<byte> length = stackalloc byte[8];
                BinaryPrimitives.WriteInt64LittleEndian(length, headerBytes.Length);
                stream.Write(length);
                stream.Write(headerBytes);
                foreach (var p in parameters)
                {
                    var values = new float[p.Length];
                    p.CopyTo(values);
                    if (!BitConverter.IsLittleEndian)
                        for (int i = 0; i < values.Length; i++)
                            values[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReverseEndianness(BitConverter.SingleToInt32Bits(values[i])));
                    stream.Write(MemoryMarshal.AsBytes(values.AsSpan()));
                }
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    /// <summary>
    /// Reads every parameter from <paramref name="path"/>. The file must hold exactly these names, each F32 with the
    /// same shape; anything else throws <see cref="InvalidDataException"/> naming the problem, and no parameter changes.
    /// </summary>
    public static void Load(string path, IReadOnlyList<Parameter> parameters)
    {
        ArgumentNullException.ThrowIfNull(path);
        byte[] file = File.ReadAllBytes(path);
        var staged = Read(file, path, parameters);
        // Everything checked: only now touch the network.
        for (int i = 0; i < parameters.Count; i++) parameters[i].CopyFrom(staged[i]);
    }

    private static float[][] Read(byte[] file, string path, IReadOnlyList<Parameter> parameters)
    {
        string where = $"'{path}'";
        if (file.Length < 8)
            throw new InvalidDataException($"{where} is not a safetensors file: {file.Length} bytes, fewer than the 8-byte header length.");
        long headerLength = BinaryPrimitives.ReadInt64LittleEndian(file);
        if (headerLength <= 0 || headerLength > MaxHeaderBytes || headerLength > file.Length - 8)
            throw new InvalidDataException($"{where} is truncated or malformed: header length {headerLength} does not fit in the file's {file.Length} bytes.");
        long dataStart = 8 + headerLength;
        long dataLength = file.Length - dataStart;

        JsonDocument doc;
        try { doc = JsonDocument.Parse(file.AsMemory(8, (int)headerLength)); }
        catch (JsonException e) { throw new InvalidDataException($"{where} has a malformed JSON header: {e.Message}", e); }

        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{where} has a malformed header: expected a JSON object, found {doc.RootElement.ValueKind}.");
            var byName = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
            foreach (var property in doc.RootElement.EnumerateObject())
                if (property.Name != "__metadata__") byName[property.Name] = property.Value;

            var expected = new HashSet<string>(StringComparer.Ordinal);
            foreach (var p in parameters) expected.Add(p.Name);
            var missing = parameters.Where(p => !byName.ContainsKey(p.Name)).Select(p => p.Name).ToList();
            if (missing.Count > 0)
                throw new InvalidDataException($"{where} is missing tensor(s) {string.Join(", ", missing.Select(n => $"'{n}'"))}.");
            var extra = byName.Keys.Where(k => !expected.Contains(k)).OrderBy(k => k, StringComparer.Ordinal).ToList();
            if (extra.Count > 0)
                throw new InvalidDataException($"{where} has unexpected tensor(s) {string.Join(", ", extra.Select(n => $"'{n}'"))}; this network has {string.Join(", ", parameters.Select(p => $"'{p.Name}'"))}.");

            var result = new float[parameters.Count][];
            for (int i = 0; i < parameters.Count; i++)
                result[i] = ReadTensor(file, dataStart, dataLength, byName[parameters[i].Name], parameters[i], where);
            return result;
        }
    }

    private static float[] ReadTensor(byte[] file, long dataStart, long dataLength, JsonElement entry, Parameter p, string where)
    {
        string tensor = $"{where}: tensor '{p.Name}'";
        try
        {
            string? dtype = entry.GetProperty("dtype").GetString();
            if (dtype != "F32")
                throw new InvalidDataException($"{tensor} has dtype {dtype}, expected F32.");
            var shape = entry.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            if (!shape.SequenceEqual(p.Shape.Select(d => (long)d)))
                throw new InvalidDataException($"{tensor} has shape [{string.Join(", ", shape)}], expected [{string.Join(", ", p.Shape)}].");
            var offsets = entry.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            if (offsets.Length != 2 || offsets[0] < 0 || offsets[1] - offsets[0] != 4L * p.Length)
                throw new InvalidDataException($"{tensor} has data_offsets [{string.Join(", ", offsets)}], expected a range of {4L * p.Length} bytes.");
            if (offsets[1] > dataLength)
                throw new InvalidDataException($"{tensor} ends at byte {offsets[1]} of the data, but the file holds only {dataLength} data bytes (truncated).");
            var values = new float[p.Length];
            MemoryMarshal.Cast<byte, float>(file.AsSpan((int)(dataStart + offsets[0]), 4 * p.Length)).CopyTo(values);
            if (!BitConverter.IsLittleEndian)
                for (int i = 0; i < values.Length; i++)
                    values[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReverseEndianness(BitConverter.SingleToInt32Bits(values[i])));
            return values;
        }
        catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{tensor} has a malformed header entry ({e.Message}).", e);
        }
    }
}

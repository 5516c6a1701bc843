using System;
using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Runtime.InteropServices;
using System.Linq;
using System.Text;
using System.Text.Encodings.Web;
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

    /// <summary>
    /// Writes <paramref name="parameters"/> in PyTorch layout; the file appears whole or not at all. Through a symbolic
    /// link, the file the link points to is replaced and the link kept.
    /// </summary>
    /// <exception cref="ArgumentException">Two parameters share a name, or an entry is null.</exception>
    /// <exception cref="IOException"><paramref name="path"/> is a folder, or the file system refused the write; the message names <paramref name="path"/>.</exception>
    public static void Save(string path, IReadOnlyList<Parameter> parameters)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(parameters);
        CheckDistinct(parameters);
        byte[] headerBytes = Header(parameters);

        string full = Target(path);
        if (Directory.Exists(full)) throw new IOException($"Cannot save to '{path}': it is a folder; give a file path.");
        string folder = Path.GetDirectoryName(full)!;
        string temp = TemporaryFile(folder);
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
        catch (Exception e) when (e is DirectoryNotFoundException or UnauthorizedAccessException || e.GetType() == typeof(IOException))
        {
            DeleteQuietly(temp);
            // The file system names the temporary file, which the caller never asked for: name theirs instead, keeping
            // the exception's type (other IOException subtypes pass through unchanged).
            throw e switch
            {
                DirectoryNotFoundException => new DirectoryNotFoundException($"Cannot save to '{path}': the folder '{folder}' does not exist.", e),
                UnauthorizedAccessException => new UnauthorizedAccessException(
                    $"Cannot save to '{path}': no permission to write in '{folder}' (Save writes a temporary file there and renames it over the target).", e),
                _ => new IOException($"Cannot save to '{path}': {e.Message}", e),
            };
        }
        catch
        {
            DeleteQuietly(temp);
            throw;
        }
    }

    /// <summary>The file Save replaces for <paramref name="path"/>: its full path, through a symbolic link the file it points to.</summary>
    internal static string Target(string path)
    {
        string full = Path.GetFullPath(path);
        return new FileInfo(full).LinkTarget is not null && File.ResolveLinkTarget(full, returnFinalTarget: true) is { } target ? target.FullName : full;
    }

    /// <summary>
    /// A new name for the temporary file Save writes in <paramref name="folder"/> before renaming it over the target: of
    /// fixed length, not derived from the target's, which a long file name would otherwise make too long.
    /// </summary>
    internal static string TemporaryFile(string folder) => Path.Combine(folder, $".convgen-{Guid.NewGuid():N}.tmp");

    private static void DeleteQuietly(string file)
    {
        try { File.Delete(file); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    // Each entry set, each name once: a file holds a tensor per name, so Save could not write a second one and Load would
    // read the same bytes into both (and report them as overlapping).
    private static void CheckDistinct(IReadOnlyList<Parameter> parameters)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < parameters.Count; i++)
        {
            var p = parameters[i] ?? throw new ArgumentException($"parameters[{i}] is null.", nameof(parameters));
            if (!names.Add(p.Name))
                throw new ArgumentException($"Two parameters are named '{p.Name}'; a safetensors file holds each name once.", nameof(parameters));
        }
    }

    // The JSON header, padded with spaces so the data starts 8-byte aligned as the reference writer does. Names are
    // escaped by the JSON writer (a quote or control character in a name must not end up raw in the header); the
    // relaxed encoder writes the other characters of the Basic Multilingual Plane as they are, as the reference writer
    // does, and the rest as \u escapes, which every JSON reader decodes to the same name. A name Load could not find
    // again is refused: one with a lone surrogate (no UTF-8 form: it would be written as U+FFFD) or "__metadata__".
    private static byte[] Header(IReadOnlyList<Parameter> parameters)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            long offset = 0;
            for (int i = 0; i < parameters.Count; i++)
            {
                var p = parameters[i];
                if (p.Name == "__metadata__")
                    throw new ArgumentException($"Parameter name '{p.Name}' cannot be stored: the format reserves it.", nameof(parameters));
                if (System.Text.Unicode.Utf8.FromUtf16(p.Name, new byte[Encoding.UTF8.GetMaxByteCount(p.Name.Length)], out _, out _, replaceInvalidSequences: false) != OperationStatus.Done)
                    throw new ArgumentException($"Parameter name '{p.Name}' cannot be stored: it holds a lone UTF-16 surrogate, which has no UTF-8 form.", nameof(parameters));
                json.WriteStartObject(p.Name);
                json.WriteString("dtype", "F32");
                json.WriteStartArray("shape");
                foreach (int d in p.Shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset += 4L * p.Length);
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndObject();
        }
        var header = new byte[(buffer.WrittenCount + 8 + 7) / 8 * 8 - 8];
        buffer.WrittenSpan.CopyTo(header);
        header.AsSpan(buffer.WrittenCount).Fill((byte)' ');
        return header;
    }

    /// <summary>
    /// Reads every parameter from <paramref name="path"/>. The file must hold exactly these names, each F32 with the
    /// same shape, their data back to back from the start of the data section to the end of the file (as the reference
    /// loader requires); anything else throws <see cref="InvalidDataException"/> naming the problem, and no parameter changes.
    /// </summary>
    /// <exception cref="ArgumentException">Two parameters share a name, or an entry is null (checked before the file is read).</exception>
    /// <exception cref="IOException"><paramref name="path"/> is a folder (<see cref="FileNotFoundException"/> when nothing is there); the message names <paramref name="path"/>.</exception>
    /// <exception cref="InvalidDataException">The file is not what the parameters need: every tensor of the wrong dtype or shape is named at once.</exception>
    public static void Load(string path, IReadOnlyList<Parameter> parameters)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(parameters);
        CheckDistinct(parameters);
        // File.ReadAllBytes on a folder reports "access denied", which sends the reader after permissions.
        if (Directory.Exists(path)) throw new IOException($"Cannot load from '{path}': it is a folder; give a file path.");
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
            try
            {
                foreach (var property in doc.RootElement.EnumerateObject())
                    if (!byName.TryAdd(property.Name, property.Value))
                        throw new InvalidDataException($"{where} has a malformed header: the name '{property.Name}' appears twice.");
            }
            catch (InvalidOperationException e) // a name that is not valid UTF-8
            {
                throw new InvalidDataException($"{where} has a malformed JSON header: {e.Message}", e);
            }
            byName.Remove("__metadata__");

            var expected = new HashSet<string>(StringComparer.Ordinal);
            foreach (var p in parameters) expected.Add(p.Name);
            var missing = parameters.Where(p => !byName.ContainsKey(p.Name)).Select(p => p.Name).ToList();
            if (missing.Count > 0)
                throw new InvalidDataException($"{where} is missing tensor(s) {string.Join(", ", missing.Select(n => $"'{n}'"))}.");
            var extra = byName.Keys.Where(k => !expected.Contains(k)).OrderBy(k => k, StringComparer.Ordinal).ToList();
            if (extra.Count > 0)
                throw new InvalidDataException($"{where} has unexpected tensor(s) {string.Join(", ", extra.Select(n => $"'{n}'"))}; {(parameters.Count == 0 ? "no parameters were given" : $"this network has {string.Join(", ", parameters.Select(p => $"'{p.Name}'"))}")}.");

            // Every tensor of the wrong dtype or shape at once (a file of another network usually has several).
            var mismatches = parameters.Select(p => Mismatch(byName[p.Name], p, where)).Where(m => m is not null).ToList();
            if (mismatches.Count > 0)
                throw new InvalidDataException($"{where}: {string.Join("; ", mismatches)}.");

            var result = new float[parameters.Count][];
            var ranges = new (long Begin, long End, string Name)[parameters.Count];
            for (int i = 0; i < parameters.Count; i++)
                result[i] = ReadTensor(file, dataStart, dataLength, byName[parameters[i].Name], parameters[i], where, out ranges[i]);
            CheckTiling(ranges, dataLength, where);
            return result;
        }
    }

    // The tensors' byte ranges must tile the data section: no overlap, no gap, nothing after the last one.
    private static void CheckTiling((long Begin, long End, string Name)[] ranges, long dataLength, string where)
    {
        long next = 0;
        string? previous = null;
        foreach (var (begin, end, name) in ranges.OrderBy(r => r.Begin).ThenBy(r => r.End))
        {
            if (begin < next)
                throw new InvalidDataException($"{where}: the data of tensors '{previous}' and '{name}' overlap (bytes {begin} to {Math.Min(next, end)}).");
            if (begin > next)
                throw new InvalidDataException($"{where}: bytes {next} to {begin} of the data belong to no tensor (before '{name}').");
            (next, previous) = (end, name);
        }
        if (next != dataLength)
            throw new InvalidDataException($"{where} has {dataLength - next} byte(s) after the last tensor's data, which ends at byte {next} of the data.");
    }

    /// <summary>What differs in an entry's dtype or shape from the parameter's, or null; a malformed entry throws.</summary>
    private static string? Mismatch(JsonElement entry, Parameter p, string where)
    {
        try
        {
            var dtype = entry.GetProperty("dtype");
            if (dtype.ValueKind != JsonValueKind.String || dtype.GetString() != "F32")
                return $"tensor '{p.Name}' has dtype {(dtype.ValueKind == JsonValueKind.String ? dtype.GetString() : dtype.GetRawText())}, expected F32";
            var shape = entry.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            return shape.SequenceEqual(p.Shape.Select(d => (long)d)) ? null
                : $"tensor '{p.Name}' has shape [{string.Join(", ", shape)}], expected [{string.Join(", ", p.Shape)}]";
        }
        catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw Malformed(where, p, e);
        }
    }

    private static InvalidDataException Malformed(string where, Parameter p, Exception e)
        => new($"{where}: tensor '{p.Name}' has a malformed header entry ({e.Message}).", e);

    private static float[] ReadTensor(byte[] file, long dataStart, long dataLength, JsonElement entry, Parameter p, string where, out (long, long, string) range)
    {
        string tensor = $"{where}: tensor '{p.Name}'";
        try
        {
            // dtype and shape were checked for every tensor first (Mismatch).
            var offsets = entry.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            long bytes = 4L * p.Length;
            // Each bound checked on its own before any arithmetic on them, so no choice of offsets can overflow.
            if (offsets.Length != 2 || offsets[0] < 0 || offsets[1] < offsets[0] || offsets[1] - offsets[0] != bytes)
                throw new InvalidDataException($"{tensor} has data_offsets [{string.Join(", ", offsets)}], expected a range of {bytes} bytes.");
            if (offsets[1] > dataLength)
                throw new InvalidDataException($"{tensor} ends at byte {offsets[1]} of the data, but the file holds only {dataLength} data bytes (truncated).");
            range = (offsets[0], offsets[1], p.Name);
            var values = new float[p.Length];
            MemoryMarshal.Cast<byte, float>(file.AsSpan(checked((int)(dataStart + offsets[0])), (int)bytes)).CopyTo(values);
            if (!BitConverter.IsLittleEndian)
                for (int i = 0; i < values.Length; i++)
                    values[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReverseEndianness(BitConverter.SingleToInt32Bits(values[i])));
            return values;
        }
        catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw Malformed(where, p, e);
        }
    }
}

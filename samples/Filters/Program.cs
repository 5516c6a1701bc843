// ConvGen's first demo: the classic hand-made image filters as fixed-weight [Conv] networks, run over Fashion-MNIST.
//
//   dotnet run --project samples/Filters -c Release [-- --synthetic] [-- --out DIR]
//
// Writes out/filters/contact-sheet.png (one row per image: the input, then its filtered versions) and one PGM per
// image and filter in out/filters/pgm/, checks the network's output against a plain scalar loop, and times Forward.

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using ConvGen;
using ConvGen.Data;
using ConvGen.Samples.Filters;

const int H = 28, W = 28, Pixels = H * W;
const int Batch = 1000;

bool forceSynthetic = false;
string outDir = Path.Combine("out", "filters");
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--synthetic": forceSynthetic = true; break;
        case "--out" when i + 1 < args.Length: outDir = args[++i]; break;
        default:
            Console.Error.WriteLine($"Unknown argument '{args[i]}'. Usage: Filters [--synthetic] [--out DIR]");
            return 2;
    }
}

// ---- The filters: weights in PyTorch's OIHW layout (out channel, in channel, row, column). ----
// Conv computes cross-correlation, as PyTorch does: out[y, x] = Σ k[i, j] · in[y + i - pad, x + j - pad].
var filters3x3 = new (string Name, bool Edge, float[] Kernel)[]
{
    ("identity",  false, [ 0,  0,  0,   0,  1,  0,   0,  0,  0]),
    ("laplacian", true,  [ 0,  1,  0,   1, -4,  1,   0,  1,  0]),
    ("sobel-x",   true,  [-1,  0,  1,  -2,  0,  2,  -1,  0,  1]),
    ("sobel-y",   true,  [-1, -2, -1,   0,  0,  0,   1,  2,  1]),
    ("sharpen",   false, [ 0, -1,  0,  -1,  5, -1,   0, -1,  0]),
    ("box-blur",  false, Enumerable.Repeat(1f / 9, 9).ToArray()),
};
float[] binomial = [1, 4, 6, 4, 1]; // outer product / 256: the 5x5 Gaussian (σ ≈ 1) of image-processing textbooks
float[] gaussian5x5 = (from a in binomial from b in binomial select a * b / 256f).ToArray();

var net3 = new Filters3x3();
net3.Parameters.Single().CopyFrom(filters3x3.SelectMany(f => f.Kernel).ToArray()); // [6, 1, 3, 3]
var net5 = new Gaussian5x5();
net5.Parameters.Single().CopyFrom(gaussian5x5); // [1, 1, 5, 5]

Console.WriteLine(Filters3x3.Summary());
Console.WriteLine(Gaussian5x5.Summary());

// ---- Input images: the Fashion-MNIST test set, or synthetic patterns when it is not installed. ----
float[] images;
string[] rowNames;
int[] sheetRows; // which images go on the contact sheet
string source;
if (forceSynthetic || !TryLoadFashionMnist(out images, out byte[] labels, out source))
{
    if (forceSynthetic) Console.WriteLine("--synthetic: using generated test patterns.");
    images = SyntheticImages.Make(Batch, H, W);
    sheetRows = Enumerable.Range(0, SyntheticImages.PatternNames.Count).ToArray();
    rowNames = sheetRows.Select(i => SyntheticImages.PatternNames[i]).ToArray();
    source = $"{Batch} synthetic {H}x{W} test patterns (seeded, generated in code)";
}
else
{
    // One image per class: the first test image with each label.
    sheetRows = Enumerable.Range(0, FashionMnist.ClassNames.Count).Select(c => Array.IndexOf(labels, (byte)c)).Where(i => i >= 0).ToArray();
    rowNames = sheetRows.Select(i => FashionMnist.ClassNames[labels[i]]).ToArray();
    images = images[..(Batch * Pixels)];
}
Console.WriteLine($"Input: {source}; batch of {Batch}.");
Console.WriteLine();

// ---- Run both networks over the whole batch. ----
var out3 = new float[Batch * Filters3x3.OutputLength];
var out5 = new float[Batch * Gaussian5x5.OutputLength];
net3.Forward(images, out3, Batch);
net5.Forward(images, out5, Batch);

// ---- Check against a direct scalar loop (the definition of a padded 2-D cross-correlation). ----
var ref3 = new float[out3.Length];
var ref5 = new float[out5.Length];
ScalarConv(images, Batch, H, W, filters3x3.SelectMany(f => f.Kernel).ToArray(), filters3x3.Length, 3, 1, ref3);
ScalarConv(images, Batch, H, W, gaussian5x5, 1, 5, 2, ref5);
float diff3 = MaxAbsDiff(out3, ref3), diff5 = MaxAbsDiff(out5, ref5);
float identityDiff = 0;
for (int n = 0; n < Batch; n++)
    identityDiff = Math.Max(identityDiff, MaxAbsDiff(out3.AsSpan(n * 6 * Pixels, Pixels), images.AsSpan(n * Pixels, Pixels)));
Console.WriteLine("Check against a scalar loop over all " + Batch + " images:");
Console.WriteLine($"  Filters3x3  (6 filters) max |diff| = {diff3:G3}");
Console.WriteLine($"  Gaussian5x5 (1 filter)  max |diff| = {diff5:G3}");
Console.WriteLine($"  identity filter vs input max |diff| = {identityDiff:G3}");
const float Tolerance = 1e-5f;
bool ok = diff3 <= Tolerance && diff5 <= Tolerance && identityDiff == 0;
Console.WriteLine(ok ? $"  OK (tolerance {Tolerance:G1}; identity exact)" : "  MISMATCH: generated kernel and scalar loop disagree");
Console.WriteLine();

// ---- Pictures: the contact sheet and one PGM per image and filter. ----
var columns = new List<(string Name, bool Edge, Func<int, float[]> Plane)>
{
    ("input", false, n => images.AsSpan(n * Pixels, Pixels).ToArray()),
};
for (int f = 0; f < filters3x3.Length; f++)
{
    int c = f;
    columns.Add((filters3x3[f].Name, filters3x3[f].Edge, n => out3.AsSpan((n * filters3x3.Length + c) * Pixels, Pixels).ToArray()));
    if (filters3x3[f].Name == "sobel-y") // gradient magnitude from the two Sobel channels, right after them
        columns.Add(("sobel-mag", true, n => SobelMagnitude(out3, n, 2, 3)));
}
columns.Add(("gauss-5x5", false, n => out5.AsSpan(n * Pixels, Pixels).ToArray()));

Directory.CreateDirectory(Path.Combine(outDir, "pgm"));
var tiles = new byte[sheetRows.Length][][];
for (int r = 0; r < sheetRows.Length; r++)
{
    tiles[r] = new byte[columns.Count][];
    for (int c = 0; c < columns.Count; c++)
    {
        tiles[r][c] = ImageFiles.ToGray(columns[c].Plane(sheetRows[r]), columns[c].Edge);
        string name = $"{r:D2}-{Slug(rowNames[r])}-{columns[c].Name}.pgm";
        ImageFiles.WritePgm(Path.Combine(outDir, "pgm", name), tiles[r][c], W, H);
    }
}
string sheetPath = Path.Combine(outDir, "contact-sheet.png");
string legend = "Columns: " + string.Join(", ", columns.Select(c => c.Name)) + ". Rows: " + string.Join(", ", rowNames) + ".";
ImageFiles.WriteContactSheet(sheetPath, tiles, W, H, scale: 3, legend);
Console.WriteLine($"Wrote {Path.GetFullPath(sheetPath)}");
Console.WriteLine($"  and {sheetRows.Length * columns.Count} PGM files in {Path.GetFullPath(Path.Combine(outDir, "pgm"))}");
Console.WriteLine("  " + legend);
Console.WriteLine("  Edge filters (laplacian, sobel-x/y, sobel-mag) show |value| scaled to each tile's maximum; the others clamp to [0, 1].");
Console.WriteLine();

// ---- Timings: the median of several runs of one batch. ----
const int Runs = 9;
long macs3 = (long)Pixels * 9 * filters3x3.Length, macs5 = (long)Pixels * 25;
var rows = new List<(string What, int Threads, double Seconds, long MacsPerImage)>();
int defaultThreads = Parallelism.MaxThreads;
foreach (int threads in defaultThreads > 1 ? new[] { defaultThreads, 1 } : new[] { 1 })
{
    Parallelism.MaxThreads = threads;
    rows.Add(("Filters3x3.Forward", threads, MedianSeconds(() => net3.Forward(images, out3, Batch), Runs), macs3));
    rows.Add(("Gaussian5x5.Forward", threads, MedianSeconds(() => net5.Forward(images, out5, Batch), Runs), macs5));
}
Parallelism.MaxThreads = defaultThreads;
var filterWeights = filters3x3.SelectMany(f => f.Kernel).ToArray();
rows.Add(("scalar loop, 6 x 3x3", 1, MedianSeconds(() => ScalarConv(images, Batch, H, W, filterWeights, 6, 3, 1, ref3), Runs), macs3));
rows.Add(("scalar loop, 5x5", 1, MedianSeconds(() => ScalarConv(images, Batch, H, W, gaussian5x5, 1, 5, 2, ref5), Runs), macs5));

Console.WriteLine($"Timings: batch of {Batch} images ({H}x{W}), median of {Runs} runs after a warm-up, {Environment.ProcessorCount} cores:");
Console.WriteLine($"  {"what",-22}{"threads",8}{"ms/batch",11}{"images/s",12}{"GFLOP/s",9}");
foreach (var (what, threads, seconds, macs) in rows)
    Console.WriteLine($"  {what,-22}{threads,8}{seconds * 1e3,11:F2}{Batch / seconds,12:N0}{2.0 * macs * Batch / seconds / 1e9,9:F2}");
Console.WriteLine("  (GFLOP/s counts 2 per multiply-add of the dense kernel, zero taps included; the scalar loop is this file's naive reference.)");

return ok ? 0 : 1;

// ---------------------------------------------------------------------------------------------------------------

static bool TryLoadFashionMnist(out float[] images, out byte[] labels, out string source)
{
    images = [];
    labels = [];
    source = "";
    try
    {
        FashionMnistFiles files = FashionMnist.Locate();
        var (pixels, count, rows, cols) = Idx.ReadImages(files.TestImages);
        labels = Idx.ReadLabels(files.TestLabels);
        if (rows != H || cols != W || count < Batch || labels.Length != count)
            throw new InvalidDataException($"expected at least {Batch} {H}x{W} images with as many labels, found {count} {rows}x{cols} images and {labels.Length} labels");
        images = pixels;
        source = $"Fashion-MNIST test set, {files.TestImages} ({count} images, first {Batch} used)";
        return true;
    }
    catch (Exception e) when (e is FileNotFoundException or InvalidDataException)
    {
        // FashionMnist.Locate's message already lists the folders searched and how to install the data set.
        Console.WriteLine("!! Fashion-MNIST is not available. " + e.Message);
        if (e is not FileNotFoundException)
            Console.WriteLine("!! To reinstall it, run scripts/setup.sh (or: apt-get install --reinstall dataset-fashion-mnist).");
        Console.WriteLine("!! Falling back to synthetic test patterns generated in code, so the demo still runs.");
        Console.WriteLine();
        return false;
    }
}

// The definition, one multiply-add at a time: batch × 1 × h × w in, batch × outChannels × h × w out (same size: pad = k/2).
static void ScalarConv(float[] input, int batch, int h, int w, float[] weights, int outChannels, int k, int pad, float[] output)
{
    for (int n = 0; n < batch; n++)
        for (int o = 0; o < outChannels; o++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    float sum = 0;
                    for (int i = 0; i < k; i++)
                        for (int j = 0; j < k; j++)
                        {
                            int iy = y + i - pad, ix = x + j - pad;
                            if (iy >= 0 && iy < h && ix >= 0 && ix < w)
                                sum += weights[(o * k + i) * k + j] * input[(n * h + iy) * w + ix];
                        }
                    output[((n * outChannels + o) * h + y) * w + x] = sum;
                }
}

static float MaxAbsDiff(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
{
    float max = 0;
    for (int i = 0; i < a.Length; i++) max = Math.Max(max, Math.Abs(a[i] - b[i]));
    return max;
}

static float[] SobelMagnitude(float[] out3, int n, int gxChannel, int gyChannel)
{
    var mag = new float[Pixels];
    for (int p = 0; p < Pixels; p++)
    {
        float gx = out3[(n * 6 + gxChannel) * Pixels + p], gy = out3[(n * 6 + gyChannel) * Pixels + p];
        mag[p] = MathF.Sqrt(gx * gx + gy * gy);
    }
    return mag;
}

static double MedianSeconds(Action run, int runs)
{
    run(); // warm-up: tiered JIT, worker threads, caches
    var seconds = new double[runs];
    for (int i = 0; i < runs; i++)
    {
        long start = Stopwatch.GetTimestamp();
        run();
        seconds[i] = Stopwatch.GetElapsedTime(start).TotalSeconds;
    }
    Array.Sort(seconds);
    return seconds[runs / 2];
}

static string Slug(string name) => new string(name.ToLowerInvariant().Select(ch => char.IsLetterOrDigit(ch) ? ch : '-').ToArray());

// ---- The networks. The generator writes Forward, Parameters, Summary() and the rest into these partial classes. ----

/// <summary>Six 3x3 filters side by side: one input channel, six output channels, "same" size through pad 1.</summary>
[Input(1, 28, 28)]
[Conv(3, 3, pad: 1, @in: 1, @out: 6, bias: false)]
public partial class Filters3x3;

/// <summary>The 5x5 Gaussian blur.</summary>
[Input(1, 28, 28)]
[Conv(5, 5, pad: 2, @in: 1, @out: 1, bias: false)]
public partial class Gaussian5x5;

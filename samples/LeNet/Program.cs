// ConvGen's training demo: LeNet-5 learns Fashion-MNIST with generated forward and backward kernels.
//
//   scripts/demo.sh [options]        (installs Fashion-MNIST when it is missing, then runs this)
//   dotnet run --project samples/LeNet -c Release -- [options]
//
// Trains ModernLeNet (ReLU, max pooling) on the 60,000 training images with Adam and a cosine learning-rate schedule,
// testing on the 10,000 test images after every epoch; then saves the weights (safetensors), reloads them into a fresh
// network, checks that it predicts exactly what the trained one does, and prints the accuracy per class.

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading;
using ConvGen;
using ConvGen.Data;
using ConvGen.Samples.LeNet;
using ConvGen.Training;

const string Usage = """
    Usage: LeNet [options]
      --classic      train ClassicLeNet (sigmoid, average pooling) instead of ModernLeNet (ReLU, max pooling)
      --epochs N     passes over the training set (default 10; 1 with --quick)
      --batch N      images per optimizer step (default 64)
      --lr X         Adam's learning rate in the first epoch, lowered along a cosine in the next (default 0.002)
      --seed N       seeds the initial weights and the shuffling (default 1)
      --threads N    ConvGen.Parallelism.MaxThreads (default: all cores)
      --quick        a smoke test: 2,048 training images, 1 epoch
      --out DIR      where the weights go (default out/lenet)
      --plain        plain lines instead of a live progress bar (the default when output is not a terminal)
    """;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;

// ---- Options ----
bool classic = false, quick = false, plain = false;
int? epochsArg = null;
int batchSize = 64, seed = 1, threads = Parallelism.MaxThreads;
double learningRate = 2e-3;
string outDir = Path.Combine("out", "lenet");
for (int i = 0; i < args.Length; i++)
{
    string arg = args[i];
    bool takesValue = arg is "--epochs" or "--batch" or "--seed" or "--threads" or "--lr" or "--out";
    string? value = takesValue && i + 1 < args.Length ? args[++i] : null;
    string? error = null;
    switch (arg)
    {
        case "--classic": classic = true; break;
        case "--quick": quick = true; break;
        case "--plain": plain = true; break;
        case "-h" or "--help": Console.WriteLine(Usage); return 0;
        case "--epochs": if (TryPositive(value, out int e)) epochsArg = e; else error = "a whole number ≥ 1"; break;
        case "--batch": if (!TryPositive(value, out batchSize)) error = "a whole number ≥ 1"; break;
        case "--threads": if (!TryPositive(value, out threads)) error = "a whole number ≥ 1"; break;
        case "--seed": if (!int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out seed)) error = "a whole number"; break;
        case "--lr":
            if (!double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out learningRate) || !(learningRate > 0) || !double.IsFinite(learningRate))
                error = "a number > 0, e.g. 0.001";
            break;
        case "--out": if (string.IsNullOrWhiteSpace(value)) error = "a folder"; else outDir = value; break;
        default: error = ""; break;
    }
    if (error is not null)
    {
        Console.Error.WriteLine(error.Length == 0 ? $"Unknown argument '{arg}'."
            : value is null ? $"{arg} needs a value: {error}." : $"{arg} needs {error}, not '{value}'.");
        Console.Error.WriteLine(Usage);
        return 2;
    }
}
int epochs = epochsArg ?? (quick ? 1 : 10);
Parallelism.MaxThreads = threads;
var view = TrainingView.Create(plain);

// ---- Data ----
long runStart = Stopwatch.GetTimestamp();
InMemoryDataset train, test;
FashionMnistFiles files;
try
{
    files = FashionMnist.Locate();
    train = InMemoryDataset.FromIdx(files.TrainImages, files.TrainLabels);
    test = InMemoryDataset.FromIdx(files.TestImages, files.TestLabels);
}
catch (Exception e) when (e is FileNotFoundException or InvalidDataException)
{
    // Locate's message lists the folders searched and how to install the data set.
    Console.Error.WriteLine(e.Message);
    if (e is InvalidDataException)
        Console.Error.WriteLine("To reinstall it: scripts/setup.sh, or apt-get install --reinstall dataset-fashion-mnist.");
    return 1;
}
// Standardise the pixels with the training set's mean and standard deviation (about 0.286 and 0.353), as
// torchvision's Normalize does: zero-centred inputs train faster (about +0.4 points after 10 epochs here). The saved
// weights expect inputs scaled the same way.
var (pixelMean, pixelStd) = Standardize(train, test);
if (quick) train = Subset(train, 2048);
double dataSeconds = Stopwatch.GetElapsedTime(runStart).TotalSeconds;

// ---- Network, optimizer, schedule ----
Func<int, INetwork> create = classic ? s => new ClassicLeNet(s) : s => new ModernLeNet(s);
string name = classic ? nameof(ClassicLeNet) : nameof(ModernLeNet);
INetwork net = create(seed);
var optimizer = new Adam(net.Parameters, learningRate);
Directory.CreateDirectory(outDir);
string weightsPath = Path.Combine(outDir, (classic ? "classic-lenet" : "lenet") + ".safetensors");

Console.WriteLine(LayerInfo.Summary(name, [1, FashionMnist.Rows, FashionMnist.Cols], net.Layers));
Console.WriteLine($"Data:      Fashion-MNIST from {files.Directory}: {train.Count:N0} training images{(quick ? " (--quick subset)" : "")}, {test.Count:N0} test images ({dataSeconds:F1} s to load)");
Console.WriteLine($"           pixels scaled to [0, 1], then standardised: (x − {pixelMean:F4}) / {pixelStd:F4}");
Console.WriteLine($"Training:  {epochs} epoch{(epochs == 1 ? "" : "s")}, batch {batchSize}, Adam (lr {learningRate:G3}, cosine schedule over the epochs), seed {seed}");
Console.WriteLine($"Threads:   {Parallelism.MaxThreads} of {Environment.ProcessorCount} cores; AVX2+FMA {(System.Runtime.Intrinsics.X86.Avx2.IsSupported && System.Runtime.Intrinsics.X86.Fma.IsSupported ? "yes" : "no (scalar kernels)")}");
Console.WriteLine();

// ---- Training ----
using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; cancel.Cancel(); };
var trainImagesPerSecond = new List<double>(); // per epoch: training only, the test pass excluded
var options = new TrainingOptions
{
    Optimizer = optimizer,
    Epochs = epochs,
    BatchSize = batchSize,
    Seed = seed,
    Schedule = new CosineAnnealingLR(learningRate, epochs),
    CheckpointPath = weightsPath, // after every epoch that ends well: an interrupted run keeps its last good epoch
    ProgressInterval = 4,
    Progress = p =>
    {
        if (p.Batch == p.Batches) trainImagesPerSecond.Add(p.ImagesPerSecond); // the trainer always reports an epoch's last batch
        view.Batch(p);
    },
    EpochCompleted = r => view.Epoch(r, trainImagesPerSecond[^1]),
};

long trainStart = Stopwatch.GetTimestamp();
IReadOnlyList<EpochResult> results;
try
{
    results = view.Run(() => new Trainer(net, options).Fit(train, test, cancel.Token));
}
catch (TrainingDivergedException e)
{
    Console.Error.WriteLine(e.Message);
    return 3;
}
catch (OperationCanceledException)
{
    Console.Error.WriteLine(File.Exists(weightsPath)
        ? $"Interrupted. '{weightsPath}' holds the weights of the last completed epoch (or of an earlier run if none completed)."
        : "Interrupted before the first epoch completed; no weights were saved.");
    return 130;
}
double trainSeconds = Stopwatch.GetElapsedTime(trainStart).TotalSeconds;
Console.WriteLine();

// ---- Save, reload into a fresh network, compare every test prediction ----
long checkStart = Stopwatch.GetTimestamp();
net.Save(weightsPath); // the trainer's checkpoint of the last epoch already is this; a program without a trainer saves like this
INetwork reloaded = create(seed + 1000); // other initial weights, so only Load can make it agree
reloaded.Load(weightsPath);
SetRecording(net, false); // inference only from here on
SetRecording(reloaded, false);
float[] logits = Logits(net, test), reloadedLogits = Logits(reloaded, test);
int classes = net.OutputLength, mismatches = 0, bitDifferences = 0;
var predicted = new int[test.Count];
for (int n = 0; n < test.Count; n++)
{
    var row = reloadedLogits.AsSpan(n * classes, classes);
    predicted[n] = SoftmaxCrossEntropy.ArgMax(row);
    if (SoftmaxCrossEntropy.ArgMax(logits.AsSpan(n * classes, classes)) != predicted[n]) mismatches++;
    for (int j = 0; j < classes; j++)
        if (BitConverter.SingleToInt32Bits(row[j]) != BitConverter.SingleToInt32Bits(logits[n * classes + j])) bitDifferences++;
}
var evaluation = Trainer.Evaluate(reloaded, test);
double checkSeconds = Stopwatch.GetElapsedTime(checkStart).TotalSeconds;

Console.WriteLine($"Saved {weightsPath} ({new FileInfo(weightsPath).Length / 1024.0:F0} KiB, {net.Parameters.Count} tensors, PyTorch names and layouts).");
Console.WriteLine($"Reloaded into a fresh {name}: {test.Count - mismatches:N0} of {test.Count:N0} test predictions identical, " +
                  $"{mismatches} mismatch{(mismatches == 1 ? "" : "es")}; {(bitDifferences == 0 ? "all logits bit-identical" : $"{bitDifferences} logits differ in some bit")}.");
Console.WriteLine();

// ---- Per-class accuracy ----
var confusion = new int[classes, classes];
for (int n = 0; n < test.Count; n++) confusion[test.Labels[n], predicted[n]]++;
Console.WriteLine($"Test accuracy per class (reloaded network, {test.Count:N0} images):");
Console.WriteLine($"  {"class",-13}{"images",7}{"correct",9}{"accuracy",10}   most often mistaken for");
for (int c = 0; c < classes; c++)
{
    int count = evaluation.ClassCounts[c], correct = confusion[c, c], worst = -1;
    for (int j = 0; j < classes; j++)
        if (j != c && (worst < 0 || confusion[c, j] > confusion[c, worst])) worst = j;
    string mistaken = worst < 0 || confusion[c, worst] == 0 ? "-"
        : $"{FashionMnist.ClassNames[worst]} ({confusion[c, worst]}, {100.0 * confusion[c, worst] / count:F1}%)";
    Console.WriteLine($"  {FashionMnist.ClassNames[c],-13}{count,7:N0}{correct,9:N0}{100 * evaluation.ClassAccuracy[c],9:F1}%   {mistaken}");
}
Console.WriteLine($"  {"all",-13}{test.Count,7:N0}{(int)Math.Round(evaluation.Accuracy * test.Count),9:N0}{100 * evaluation.Accuracy,9:F2}%   test loss {evaluation.Loss:F4}");
Console.WriteLine();

// ---- Times ----
var epochSeconds = results.Select(r => r.Seconds).ToArray();
Console.WriteLine($"Time: {Duration(Stopwatch.GetElapsedTime(runStart).TotalSeconds)} in all (loading {dataSeconds:F1} s, training {Duration(trainSeconds)}, " +
                  $"save/reload/check {checkSeconds:F1} s).");
Console.WriteLine($"Epoch time: median {Median(epochSeconds):F1} s (min {epochSeconds.Min():F1} s, max {epochSeconds.Max():F1} s), including the test pass; " +
                  $"training speed median {Median(trainImagesPerSecond.ToArray()):N0} images/s on {Parallelism.MaxThreads} thread{(Parallelism.MaxThreads == 1 ? "" : "s")}.");

bool good = mismatches == 0 && bitDifferences == 0;
if (!good) Console.WriteLine("!! The reloaded network does not reproduce the trained one: save/load lost information.");
return good ? 0 : 4;

// ---------------------------------------------------------------------------------------------------------------

static bool TryPositive(string? text, out int value)
    => int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out value) && value > 0;

static (float Mean, float Std) Standardize(InMemoryDataset train, InMemoryDataset test)
{
    double sum = 0, squares = 0;
    foreach (float v in train.Images)
    {
        sum += v;
        squares += (double)v * v;
    }
    double mean = sum / train.Images.Length, std = Math.Sqrt(squares / train.Images.Length - mean * mean);
    float m = (float)mean, scale = (float)(1 / std);
    foreach (float[] images in new[] { train.Images, test.Images })
        for (int i = 0; i < images.Length; i++) images[i] = (images[i] - m) * scale;
    return (m, (float)std);
}

static InMemoryDataset Subset(InMemoryDataset data, int count)
{
    count = Math.Min(count, data.Count);
    return new InMemoryDataset(data.Images[..(count * data.SampleLength)], data.Labels[..count], data.SampleLength);
}

// Runs the network over a whole data set, 500 images per Forward; returns the logits.
static float[] Logits(INetwork net, InMemoryDataset data)
{
    const int Batch = 500;
    var logits = new float[data.Count * net.OutputLength];
    for (int first = 0; first < data.Count; first += Batch)
    {
        int n = Math.Min(Batch, data.Count - first);
        net.Forward(data.Images.AsSpan(first * data.SampleLength, n * data.SampleLength),
                    logits.AsSpan(first * net.OutputLength, n * net.OutputLength), n);
    }
    return logits;
}

static void SetRecording(INetwork net, bool record)
{
    switch (net)
    {
        case ModernLeNet m: m.RecordForBackward = record; break;
        case ClassicLeNet c: c.RecordForBackward = record; break;
    }
}

static double Median(double[] values)
{
    if (values.Length == 0) return double.NaN;
    var sorted = values.Order().ToArray();
    int mid = sorted.Length / 2;
    return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

static string Duration(double seconds)
    => seconds < 60 ? $"{seconds:F1} s" : $"{(int)(seconds / 60)} min {seconds % 60:F0} s";

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text.Json.Nodes;
using System.Threading;
using ConvGen.Data;
using ConvGen.Training;

namespace ConvGen.Benchmarks;

/// <summary>One timed training epoch (or its extrapolation from the first batches) of one side.</summary>
/// <param name="Seconds">Wall time of the batches run.</param>
/// <param name="Batches">Batches run.</param>
/// <param name="Images">Images trained on.</param>
/// <param name="EpochSeconds">Seconds for a full epoch: measured, or extrapolated by batches.</param>
/// <param name="Loss">Mean training loss over those batches.</param>
/// <param name="Accuracy">Training accuracy over those batches.</param>
public sealed record EpochTiming(double Seconds, int Batches, int Images, double EpochSeconds, double Loss, double Accuracy);

/// <summary>Training figures at one thread count: one entry per timed epoch, in order.</summary>
public sealed record TrainingRow(int Threads, List<EpochTiming> ConvGen, List<EpochTiming> Torch, string? ConvGenError, string? TorchError);

/// <summary>Inference at one thread count and batch size.</summary>
public sealed record InferenceRow(int Threads, int Batch, Stats? ConvGen, string? ConvGenError, Stats? Torch, string? TorchError);

/// <summary>Everything part 2 measured.</summary>
public sealed class LeNetResults
{
    public string? Error { get; set; }
    public string DataDescription { get; set; } = "";
    public int TrainCount { get; set; }
    public int BatchesPerEpoch { get; set; }
    public int EpochBatches { get; set; }
    public double? ForwardAgreement { get; set; }
    public string? ForwardAgreementNote { get; set; }
    public List<InferenceRow> Inference { get; } = [];
    public List<TrainingRow> Training { get; } = [];
    public List<string> Notes { get; } = [];
    public (double Loss, double Accuracy)? ConvGenTest { get; set; }
    public (double Loss, double Accuracy)? TorchTest { get; set; }
    public int EpochsEach { get; set; }
}

/// <summary>Part 2: LeNet on Fashion-MNIST, ConvGen's Trainer against the equivalent PyTorch loop, and inference.</summary>
public static class LeNetBench
{
    public const int BatchSize = 64;
    public const float LearningRate = 0.01f;
    public const double Momentum = 0.9;
    private const int WarmupBatches = 20;

    public static LeNetResults Run(Options options, Peer? peer, Stopwatch clock)
    {
        var results = new LeNetResults();
        InMemoryDataset train, test;
        FashionMnistFiles files;
        try
        {
            files = FashionMnist.Locate();
            long start = Stopwatch.GetTimestamp();
            train = InMemoryDataset.FromIdx(files.TrainImages, files.TrainLabels);
            test = InMemoryDataset.FromIdx(files.TestImages, files.TestLabels);
            results.DataDescription = $"Fashion-MNIST from `{files.Directory}`: {train.Count:N0} training and {test.Count:N0} test images "
                + $"(ConvGen.Data: read in {Stopwatch.GetElapsedTime(start).TotalSeconds:F1} s)";
        }
        catch (Exception e) when (e is FileNotFoundException or InvalidDataException)
        {
            results.Error = e.Message;
            Console.WriteLine($"LeNet: {e.Message}");
            return results;
        }
        results.TrainCount = train.Count;
        results.BatchesPerEpoch = (train.Count + BatchSize - 1) / BatchSize;
        results.EpochBatches = options.EpochBatches > 0 ? Math.Min(options.EpochBatches, results.BatchesPerEpoch) : 0;
        var timedSet = results.EpochBatches > 0 ? Subset(train, results.EpochBatches * BatchSize) : train;

        // Both sides start from the same weights: ConvGen's initialisation, saved and loaded by the peer.
        var net = new BenchLeNet(seed: 1);
        string weights = Path.Combine(Path.GetTempPath(), $"convgen-bench-{Environment.ProcessId}.safetensors");
        string? torchError = peer is null ? "not run" : null;
        try
        {
            net.Save(weights);
            if (peer is not null)
            {
                try
                {
                    var loaded = peer.Ask(new JsonObject
                    {
                        ["op"] = "lenet_load", ["train_images"] = files.TrainImages, ["train_labels"] = files.TrainLabels,
                        ["test_images"] = files.TestImages, ["test_labels"] = files.TestLabels, ["weights"] = weights,
                    });
                    results.DataDescription += $"; the peer read the same files with numpy in {loaded["seconds"]!.GetValue<double>():F1} s";
                    results.ForwardAgreement = CompareLogits(net, test, peer, 256);
                }
                catch (PeerException e)
                {
                    torchError = e.Message;
                }
            }
        }
        finally
        {
            File.Delete(weights);
        }

        // Inference first (short), on the initial weights: the time does not depend on the values.
        Inference(net, test, options, peer, torchError, results);

        // Training: warm both sides up (JIT, oneDNN primitives, allocator), then the timed epochs.
        var optimizer = new Sgd(net.Parameters, LearningRate, momentum: Momentum);
        net.RecordForBackward = true;
        string? mineError = null;
        try
        {
            Parallelism.MaxThreads = options.TrainThreads.Max();
            new Trainer(net, new TrainingOptions { Optimizer = optimizer, BatchSize = BatchSize, Epochs = 1, Seed = 999 })
                .Fit(Subset(train, WarmupBatches * BatchSize));
        }
        catch (Exception e)
        {
            mineError = ConvBench.Describe(e);
        }
        if (peer is not null && torchError is null)
        {
            try
            {
                peer.Ask(TrainRequest(options.TrainThreads.Max(), 999, WarmupBatches * BatchSize));
            }
            catch (PeerException e)
            {
                torchError = e.Message;
            }
        }

        int epochIndex = 0;
        var rows = options.TrainThreads.Select(t => new TrainingRow(t, [], [], null, null)).ToList();
        for (int pass = 0; pass < options.Epochs; pass++)
        {
            for (int r = 0; r < rows.Count; r++)
            {
                var row = rows[r];
                int t = row.Threads;
                if (pass > 0 && !FitsBudget(rows, r, options, clock))
                {
                    results.Notes.Add($"Epoch {pass + 1} at {t} thread(s) dropped to keep the run under {options.BudgetSeconds:F0} s.");
                    continue;
                }
                epochIndex++;
                if (mineError is null)
                {
                    try
                    {
                        Parallelism.MaxThreads = t;
                        var epoch = TrainEpoch(net, optimizer, timedSet, epochIndex, options.EpochCapSeconds, results.BatchesPerEpoch);
                        row.ConvGen.Add(epoch);
                        if (epoch.Batches < (timedSet.Count + BatchSize - 1) / BatchSize)
                            results.Notes.Add($"ConvGen's epoch {pass + 1} at {t} thread(s) hit the {options.EpochCapSeconds:F0} s cap after {epoch.Batches} batches; its epoch time is extrapolated.");
                    }
                    catch (Exception e)
                    {
                        mineError = ConvBench.Describe(e);
                    }
                }
                if (peer is not null && torchError is null)
                {
                    try
                    {
                        var request = TrainRequest(t, epochIndex, results.EpochBatches > 0 ? timedSet.Count : 0);
                        request["max_seconds"] = options.EpochCapSeconds;
                        var reply = peer.Ask(request);
                        double seconds = reply["seconds"]!.GetValue<double>();
                        int batches = reply["batches"]!.GetValue<int>();
                        if (batches < (timedSet.Count + BatchSize - 1) / BatchSize)
                            results.Notes.Add($"PyTorch's epoch {pass + 1} at {t} thread(s) hit the {options.EpochCapSeconds:F0} s cap after {batches} batches; its epoch time is extrapolated.");
                        row.Torch.Add(new EpochTiming(seconds, batches, reply["images"]!.GetValue<int>(),
                            seconds * results.BatchesPerEpoch / batches, reply["loss"]!.GetValue<double>(), reply["accuracy"]!.GetValue<double>()));
                    }
                    catch (PeerException e)
                    {
                        torchError = e.Message;
                    }
                }
                Console.WriteLine($"LeNet epoch {pass + 1} {t}T: ConvGen {Last(row.ConvGen, mineError)} | PyTorch {Last(row.Torch, torchError)}");
            }
        }
        results.EpochsEach = options.Epochs;
        foreach (var row in rows)
            results.Training.Add(row with { ConvGenError = mineError, TorchError = peer is null ? null : torchError });

        // Where each side got to (not timed): a check that both really trained.
        try
        {
            var evaluation = Trainer.Evaluate(net, test);
            results.ConvGenTest = (evaluation.Loss, evaluation.Accuracy);
        }
        catch (Exception e)
        {
            results.Notes.Add($"ConvGen test evaluation failed: {ConvBench.Describe(e)}");
        }
        if (peer is not null && torchError is null)
        {
            try
            {
                var reply = peer.Ask(new JsonObject { ["op"] = "lenet_eval", ["threads"] = options.TrainThreads.Max() });
                results.TorchTest = (reply["loss"]!.GetValue<double>(), reply["accuracy"]!.GetValue<double>());
            }
            catch (PeerException e)
            {
                results.Notes.Add($"PyTorch test evaluation failed: {e.Message}");
            }
        }
        Parallelism.MaxThreads = Environment.ProcessorCount;
        return results;
    }

    /// <summary>
    /// One epoch of <see cref="Trainer.Fit"/> over <paramref name="data"/>. With a cap, a progress callback (one
    /// timestamp per batch) cancels the epoch once <paramref name="capSeconds"/> have passed, and the epoch time is
    /// extrapolated from the batches done.
    /// </summary>
    private static EpochTiming TrainEpoch(INetwork net, Optimizer optimizer, InMemoryDataset data, int seed, double capSeconds, int batchesPerEpoch)
    {
        int batches = (data.Count + BatchSize - 1) / BatchSize;
        using var cancel = new CancellationTokenSource();
        long start = 0;
        int done = 0;
        double seconds = 0, loss = double.NaN, accuracy = double.NaN;
        var trainer = new Trainer(net, new TrainingOptions
        {
            Optimizer = optimizer, BatchSize = BatchSize, Epochs = 1, Seed = seed, ProgressInterval = 1,
            Progress = p =>
            {
                seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
                (done, loss, accuracy) = (p.Batch, p.RunningLoss, p.RunningAccuracy);
                if (capSeconds > 0 && seconds >= capSeconds) cancel.Cancel();
            },
        });
        start = Stopwatch.GetTimestamp();
        try
        {
            var epoch = trainer.Fit(data, null, cancel.Token).Single();
            return new EpochTiming(epoch.Seconds, batches, data.Count, epoch.Seconds * batchesPerEpoch / batches, epoch.TrainLoss, epoch.TrainAccuracy);
        }
        catch (OperationCanceledException)
        {
            return new EpochTiming(seconds, done, done * BatchSize, seconds * batchesPerEpoch / done, loss, accuracy);
        }
    }

    private static JsonObject TrainRequest(int threads, int seed, int subset) => new()
    {
        ["op"] = "lenet_train", ["threads"] = threads, ["batch"] = BatchSize, ["lr"] = LearningRate, ["momentum"] = Momentum,
        ["seed"] = seed, ["subset"] = subset,
    };

    /// <summary>
    /// Whether another epoch pair at row <paramref name="r"/> fits: the time so far, plus this pair and one pair at every
    /// later row of this pass (estimated from each row's first pair), plus a reserve for the rest of the run.
    /// </summary>
    private static bool FitsBudget(List<TrainingRow> rows, int r, Options options, Stopwatch clock)
    {
        double PairSeconds(TrainingRow row) =>
            (row.ConvGen.Count > 0 ? row.ConvGen[0].Seconds : 0) + (row.Torch.Count > 0 ? row.Torch[0].Seconds : 0);
        double needed = rows.Skip(r).Sum(PairSeconds) + 20;
        return clock.Elapsed.TotalSeconds + needed <= options.BudgetSeconds;
    }

    private static void Inference(BenchLeNet net, InMemoryDataset test, Options options, Peer? peer, string? torchError, LeNetResults results)
    {
        var timing = options.Timing;
        net.RecordForBackward = false;
        foreach (int batch in new[] { 1, 256 })
        {
            var input = test.Images.AsSpan(0, batch * BenchLeNet.InputLength).ToArray();
            var output = new float[batch * BenchLeNet.OutputLength];
            foreach (int t in options.Threads)
            {
                var mine = new List<double>();
                var theirs = new List<double>();
                string? error = null, peerError = torchError;
                for (int round = 0; round < timing.Rounds; round++)
                {
                    if (error is null)
                    {
                        try
                        {
                            Parallelism.MaxThreads = t;
                            CallClock.Run(() => net.Forward(input, output, batch), timing.WarmupOf(round), timing.SecondsPerRound,
                                timing.MinCallsPerRound, mine);
                        }
                        catch (Exception e)
                        {
                            error = ConvBench.Describe(e);
                        }
                    }
                    if (peer is not null && peerError is null)
                    {
                        try
                        {
                            peer.AskTimes(new JsonObject
                            {
                                ["op"] = "lenet_infer", ["threads"] = t, ["batch"] = batch, ["warmup_s"] = timing.WarmupOf(round),
                                ["measure_s"] = timing.SecondsPerRound, ["min_samples"] = timing.MinCallsPerRound,
                            }, theirs);
                        }
                        catch (PeerException e)
                        {
                            peerError = e.Message;
                        }
                    }
                }
                var row = new InferenceRow(t, batch, error is null ? Stats.Of(mine) : null, error,
                    peerError is null ? Stats.Of(theirs) : null, peer is null ? null : peerError);
                results.Inference.Add(row);
                Console.WriteLine($"LeNet inference batch {batch,3} {t}T: ConvGen {LeNetBench.Ms(row.ConvGen, error)} | PyTorch {LeNetBench.Ms(row.Torch, row.TorchError)}");
            }
        }
        net.RecordForBackward = true;
    }

    /// <summary>Largest |ConvGen − PyTorch| logit on the first <paramref name="count"/> test images, relative to the largest |logit|.</summary>
    private static double CompareLogits(BenchLeNet net, InMemoryDataset test, Peer peer, int count)
    {
        var reply = peer.Ask(new JsonObject { ["op"] = "lenet_logits", ["count"] = count });
        var theirs = reply["logits"]!.AsArray().Select(v => v!.GetValue<double>()).ToArray();
        var mine = new float[count * BenchLeNet.OutputLength];
        net.RecordForBackward = false;
        net.Forward(test.Images.AsSpan(0, count * BenchLeNet.InputLength), mine, count);
        net.RecordForBackward = true;
        if (theirs.Length != mine.Length) return double.NaN;
        double worst = 0, scale = 0;
        for (int i = 0; i < mine.Length; i++)
        {
            if (!float.IsFinite(mine[i])) return double.NaN;
            worst = Math.Max(worst, Math.Abs(mine[i] - theirs[i]));
            scale = Math.Max(scale, Math.Abs(theirs[i]));
        }
        return worst / Math.Max(scale, 1e-30);
    }

    private static InMemoryDataset Subset(InMemoryDataset data, int count)
    {
        count = Math.Min(count, data.Count);
        return new InMemoryDataset(data.Images.AsSpan(0, count * data.SampleLength).ToArray(), data.Labels.AsSpan(0, count).ToArray(), data.SampleLength);
    }

    internal static string Ms(Stats? s, string? error) =>
        error is not null ? $"error ({error})" : s is null ? "—" : $"{s.Median:F3} ms";

    private static string Last(List<EpochTiming> list, string? error) =>
        error is not null ? $"error ({error})"
        : list.Count == 0 ? "—"
        : $"{list[^1].Seconds:F2} s for {list[^1].Batches} batches (epoch ≈ {list[^1].EpochSeconds:F2} s), loss {list[^1].Loss:F4}, accuracy {list[^1].Accuracy:P1}";
}

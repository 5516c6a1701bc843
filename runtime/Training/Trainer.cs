using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Threading;

namespace ConvGen.Training;

/// <summary>
/// Trains a classifier with softmax cross-entropy on an in-memory data set. Each batch:
/// <c>net.ZeroGrad(); net.Forward(x, logits); loss = SoftmaxCrossEntropy(logits, y) → ∂loss/∂logits;
/// net.Backward(∂loss/∂logits, Span.Empty); optimizer.Step()</c>.
/// </summary>
/// <remarks>
/// <para>Deterministic: the sample order of each epoch depends only on <see cref="TrainingOptions.Seed"/> and the epoch
/// (see <see cref="EpochOrder"/>), and the trainer does everything else in a fixed order (gathering a batch's samples
/// is split over threads, but each copy is the same whichever thread makes it), so two runs from
/// the same weights with the same options and the same <see cref="Parallelism.MaxThreads"/> end with bit-identical weights
/// (given a network whose Forward and Backward are themselves deterministic, as generated ones are).</para>
/// <para>The batch buffers are allocated when <see cref="Fit"/> starts: the trainer allocates nothing per batch (the
/// network and optimizer must not either). Evaluation, checkpoints and results allocate a little once per epoch.</para>
/// <para>A NaN or infinite training loss, test loss or parameter stops training with a <see cref="TrainingDivergedException"/>.
/// Checkpoints are written only after epochs that end with finite parameters and losses, so the file on disk is then
/// the last good state.</para>
/// </remarks>
public sealed class Trainer
{
    // Sized by Fit for its largest batch (EnsureBuffers), kept for the next Fit.
    private float[] _input = [], _logits = [], _logitsGradient = [];
    private byte[] _labels = [];

    /// <summary>Prepares training of <paramref name="network"/>; checks the options (Fit allocates the batch buffers).</summary>
    /// <param name="network">The network; its output is taken as logits over <see cref="INetwork.OutputLength"/> classes.</param>
    /// <param name="options">Epochs, batch size, seed, optimizer and so on.</param>
    /// <exception cref="ArgumentException">An option is out of range, or the optimizer updates a parameter that is not the network's.</exception>
    public Trainer(INetwork network, TrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(options.Optimizer, "options.Optimizer");
        if (options.Epochs < 1)
            throw new ArgumentException($"TrainingOptions.Epochs must be at least 1, was {options.Epochs}.", nameof(options));
        if (options.BatchSize < 1)
            throw new ArgumentException($"TrainingOptions.BatchSize must be at least 1, was {options.BatchSize}.", nameof(options));
        if (options.ProgressInterval < 1)
            throw new ArgumentException($"TrainingOptions.ProgressInterval must be at least 1, was {options.ProgressInterval}.", nameof(options));
        var own = new HashSet<Parameter>(network.Parameters, ReferenceEqualityComparer.Instance);
        foreach (var p in options.Optimizer.Parameters)
            if (!own.Contains(p))
                throw new ArgumentException(
                    $"The optimizer updates parameter '{p.Name}', which is not one of this network's parameters (an optimizer built for another instance?).",
                    nameof(options));
        Network = network;
        Options = options;
    }

    // Buffers for a batch of `samples`: the batch size, or the larger data set where that is smaller (a batch larger
    // than the set trains on the whole set at each step, and allocates nothing for samples that do not exist).
    private void EnsureBuffers(int samples)
    {
        long input = (long)samples * Network.InputLength, output = (long)samples * Network.OutputLength;
        if (Math.Max(input, output) > Array.MaxLength)
            throw new ArgumentException(
                $"A batch of {samples} samples × {Math.Max(Network.InputLength, Network.OutputLength)} floats = {Math.Max(input, output)} floats is more than one array can hold ({Array.MaxLength}); use a smaller TrainingOptions.BatchSize.");
        if (_labels.Length >= samples) return;
        _input = new float[input];
        _logits = new float[output];
        _logitsGradient = new float[_logits.Length];
        _labels = new byte[samples];
    }

    /// <summary>The network being trained.</summary>
    public INetwork Network { get; }

    /// <summary>The options training runs with.</summary>
    public TrainingOptions Options { get; }

    /// <summary>
    /// Trains for <see cref="TrainingOptions.Epochs"/> epochs over <paramref name="train"/>, evaluating on
    /// <paramref name="test"/> (when given) and writing a checkpoint (when configured) after each epoch.
    /// </summary>
    /// <param name="train">The training set; its sample length must be the network's input length and its labels below the output length.</param>
    /// <param name="test">An optional test set, evaluated after every epoch.</param>
    /// <param name="cancellationToken">Checked before every batch.</param>
    /// <returns>One result per epoch.</returns>
    /// <exception cref="ArgumentException">A data set does not fit the network, or <see cref="TrainingOptions.CheckpointPath"/>
    /// cannot be saved to (empty, a folder, or in a folder that does not exist or takes no new file).</exception>
    /// <exception cref="TrainingDivergedException">A loss or parameter became NaN or infinite.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public IReadOnlyList<EpochResult> Fit(InMemoryDataset train, InMemoryDataset? test = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(train);
        CheckDataset(train, nameof(train));
        if (train.Count == 0) throw new ArgumentException("The training set is empty.", nameof(train));
        if (test is not null)
        {
            CheckDataset(test, nameof(test));
            if (test.Count == 0) throw new ArgumentException("The test set is empty.", nameof(test));
        }
        string? checkpointPath = Options.CheckpointPath is null ? null : CheckCheckpointPath(Options.CheckpointPath);

        EnsureBuffers(Math.Min(Options.BatchSize, Math.Max(train.Count, test?.Count ?? 0)));
        var optimizer = Options.Optimizer;
        int batchSize = Options.BatchSize, epochs = Options.Epochs, classes = Network.OutputLength, sampleLength = Network.InputLength;
        int count = train.Count, batches = (int)((count + (long)batchSize - 1) / batchSize); // long: BatchSize may be int.MaxValue
        var order = new int[count];
        var results = new List<EpochResult>(epochs);
        string? lastCheckpoint = null;
        int? lastCheckpointEpoch = null;

        for (int epoch = 1; epoch <= epochs; epoch++)
        {
            if (Options.Schedule is not null) optimizer.LearningRate = Options.Schedule.LearningRateAt(epoch - 1);
            double learningRate = optimizer.LearningRate;
            EpochOrder(order, Options.Seed, epoch - 1);
            long start = Stopwatch.GetTimestamp();
            double lossSum = 0;
            long correctSum = 0, seen = 0;

            for (int batch = 0; batch < batches; batch++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int first = batch * batchSize, n = Math.Min(batchSize, count - first);
                Gather(train, order, first, n, batch + 1 < batches ? Math.Min(batchSize, count - first - n) : 0);
                var logits = _logits.AsSpan(0, n * classes);
                var gradient = _logitsGradient.AsSpan(0, n * classes);

                Network.ZeroGrad();
                Network.Forward(_input.AsSpan(0, n * sampleLength), logits, n);
                float loss = SoftmaxCrossEntropy.Compute(logits, _labels.AsSpan(0, n), classes, gradient, out int correct);
                if (!float.IsFinite(loss))
                    throw Diverged($"the training loss was {Describe(loss)}", epoch, batch + 1, batches, lastCheckpoint, lastCheckpointEpoch);
                Network.Backward(gradient, Span<float>.Empty, n);
                optimizer.Step();

                lossSum += (double)loss * n;
                correctSum += correct;
                seen += n;
                if (Options.Progress is { } progress && ((batch + 1) % Options.ProgressInterval == 0 || batch + 1 == batches))
                {
                    double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
                    progress(new BatchProgress(epoch, epochs, batch + 1, batches, lossSum / seen, (double)correctSum / seen,
                                               seconds > 0 ? seen / seconds : double.PositiveInfinity));
                }
            }

            foreach (var p in Network.Parameters)
            {
                int bad = FirstNonFinite(p.Values);
                if (bad >= 0)
                    throw Diverged($"parameter '{p.Name}' holds {Describe(p.Values[bad])} (packed index {bad}) after the epoch's last step",
                                   epoch, batches, batches, lastCheckpoint, lastCheckpointEpoch);
            }
            EvaluationResult? evaluation = null;
            if (test is not null)
            {
                evaluation = EvaluateCore(Network, test.Images, test.Labels, batchSize, _logits);
                if (!double.IsFinite(evaluation.Loss))
                    throw Diverged($"the test loss after the epoch was {Describe(evaluation.Loss)}", epoch, batches, batches, lastCheckpoint, lastCheckpointEpoch);
            }
            if (checkpointPath is not null)
            {
                Network.Save(checkpointPath);
                lastCheckpoint = checkpointPath;
                lastCheckpointEpoch = epoch;
            }
            var result = new EpochResult(epoch, learningRate, lossSum / seen, (double)correctSum / seen, evaluation,
                                         Stopwatch.GetElapsedTime(start).TotalSeconds);
            results.Add(result);
            Options.EpochCompleted?.Invoke(result);
        }
        return results.AsReadOnly();
    }

    /// <summary>
    /// The checkpoint's full path, checked before the first epoch rather than when the first save fails after it: a
    /// file path (not empty, not a folder) in a folder that exists and takes a new file (Save writes a temporary file
    /// there and renames it over the target).
    /// </summary>
    private static string CheckCheckpointPath(string path)
    {
        string Problem(string what) => $"TrainingOptions.CheckpointPath '{path}' {what}";
        if (path.Length == 0) throw new ArgumentException(Problem("is empty: give a file path, or null for no checkpoints."));
        string full;
        try { full = SafeTensors.Target(path); } // as Save finds it: through a symbolic link, the file it points to
        catch (Exception e) when (e is ArgumentException or NotSupportedException or IOException)
        {
            throw new ArgumentException(Problem($"is not a valid path: {e.Message}"), e);
        }
        if (Directory.Exists(full)) throw new ArgumentException(Problem("is a folder: give a file path, such as 'model.safetensors' inside it."));
        string? folder = Path.GetDirectoryName(full);
        if (folder is null || !Directory.Exists(folder)) throw new ArgumentException(Problem($"is in a folder that does not exist ('{folder}')."));
        try
        {
            using (new FileStream(SafeTensors.TemporaryFile(folder), FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose)) { }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException(Problem($"is in a folder where no file can be created ('{folder}'): {e.Message}"), e);
        }
        return full;
    }

    /// <summary>
    /// Copies samples <c>order[first .. first + n)</c> and their labels into the batch buffers, and asks for the next
    /// <paramref name="next"/> samples' lines. Split over threads in contiguous ranges of samples (of at least
    /// <see cref="GatherGrain"/>), so where the network's first steps split the batch by samples too, each core's part
    /// reads samples its own core copied (on this VM a step that reads what the other core just wrote has run up to
    /// 2-4× slower at 2 threads, by how the cores were placed at the time).
    /// </summary>
    private unsafe void Gather(InMemoryDataset set, int[] order, int first, int n, int next)
    {
        fixed (float* images = set.Images, input = _input)
        fixed (byte* labels = set.Labels, batchLabels = _labels)
        fixed (int* o = order)
        {
            var job = new GatherJob
            {
                Images = images, Input = input, Labels = labels, BatchLabels = batchLabels, Order = o,
                First = first, Count = n, Next = next, SampleLength = set.SampleLength,
            };
            Parallelism.For(n, &GatherSamples, &job, GatherGrain);
        }
    }

    // Samples per thread's part, at least: a sample gathered from memory takes about half a microsecond.
    private const int GatherGrain = 8;

    private unsafe struct GatherJob
    {
        public float* Images, Input;
        public byte* Labels, BatchLabels;
        public int* Order;
        public int First, Count, Next, SampleLength;
    }

    /// <summary>
    /// Samples [begin, end) of the batch; then this part's share of the next batch's samples is asked for while the
    /// batch trains: they are scattered over the whole set (188 MB for Fashion-MNIST), so gathering them waits on main
    /// memory row after row. Only for a batch of at most <see cref="PrefetchBytes"/>: a larger one would push the
    /// training step's own data out of the caches.
    /// </summary>
    private static unsafe void GatherSamples(void* state, int begin, int end)
    {
        var job = (GatherJob*)state;
        int length = job->SampleLength;
        for (int i = begin; i < end; i++)
        {
            int sample = job->Order[job->First + i];
            new ReadOnlySpan<float>(job->Images + (nint)sample * length, length).CopyTo(new Span<float>(job->Input + (nint)i * length, length));
            job->BatchLabels[i] = job->Labels[sample];
        }
        if (!System.Runtime.Intrinsics.X86.Sse.IsSupported || (long)job->Next * length * sizeof(float) > PrefetchBytes) return;
        int from = (int)((long)job->Next * begin / job->Count), to = (int)((long)job->Next * end / job->Count);
        for (int i = from; i < to; i++)
        {
            float* sample = job->Images + (nint)job->Order[job->First + job->Count + i] * length;
            for (int line = 0; line < length; line += 16) System.Runtime.Intrinsics.X86.Sse.Prefetch2(sample + line);
            System.Runtime.Intrinsics.X86.Sse.Prefetch2(sample + length - 1); // a sample need not start on a cache line
        }
    }

    private const long PrefetchBytes = 1 << 20;

    /// <summary>
    /// Mean cross-entropy, accuracy and per-class accuracy of <paramref name="network"/> on a labelled set (Forward
    /// only; gradients untouched). It runs <see cref="INetwork.Infer"/>: no tape is kept, and the record of the last
    /// recorded Forward stays, so a <c>Backward</c> after this call still differentiates that Forward.
    /// </summary>
    /// <param name="network">The classifier.</param>
    /// <param name="images"><c>labels.Length × InputLength</c> floats.</param>
    /// <param name="labels">One class index per sample, below <see cref="INetwork.OutputLength"/>.</param>
    /// <param name="batchSize">Samples per Forward call.</param>
    /// <returns>The evaluation.</returns>
    /// <exception cref="ArgumentException">The lengths do not fit the network, the set is empty, or a label is out of range.</exception>
    public static EvaluationResult Evaluate(INetwork network, ReadOnlySpan<float> images, ReadOnlySpan<byte> labels, int batchSize = 256)
    {
        ArgumentNullException.ThrowIfNull(network);
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), $"batchSize must be at least 1, was {batchSize}.");
        if (labels.IsEmpty) throw new ArgumentException("labels is empty: there is nothing to evaluate.", nameof(labels));
        if (images.Length != (long)labels.Length * network.InputLength)
            throw new ArgumentException(
                $"images holds {images.Length} floats, expected {(long)labels.Length * network.InputLength} = {labels.Length} labels × {network.InputLength} (the network's input length).",
                nameof(images));
        // Before any Forward, and with the sample's index in the whole set (the loss would count within a batch).
        CheckLabels(labels, network.OutputLength, "sample", nameof(labels));
        int batch = Math.Min(batchSize, labels.Length);
        return EvaluateCore(network, images, labels, batch, new float[checked(batch * network.OutputLength)]);
    }

    /// <summary>Evaluates <paramref name="network"/> on <paramref name="data"/>; see <see cref="Evaluate(INetwork, ReadOnlySpan{float}, ReadOnlySpan{byte}, int)"/>.</summary>
    /// <param name="network">The classifier.</param>
    /// <param name="data">The labelled samples.</param>
    /// <param name="batchSize">Samples per Forward call.</param>
    /// <returns>The evaluation.</returns>
    public static EvaluationResult Evaluate(INetwork network, InMemoryDataset data, int batchSize = 256)
    {
        ArgumentNullException.ThrowIfNull(data);
        return Evaluate(network, data.Images, data.Labels, batchSize);
    }

    /// <summary>
    /// The order in which epoch <paramref name="epoch"/> (0-based) visits the samples: <c>0 … n−1</c> shuffled by
    /// Fisher–Yates with a SplitMix64 generator seeded from (<paramref name="seed"/>, <paramref name="epoch"/>). The same
    /// arguments give the same permutation on every machine and .NET version, and an epoch's order does not depend on
    /// earlier epochs (so a run resumed at epoch <c>e</c> sees the same order).
    /// </summary>
    /// <param name="order">Receives a permutation of <c>0 … order.Length−1</c>.</param>
    /// <param name="seed">The run's seed.</param>
    /// <param name="epoch">The epoch, 0 for the first.</param>
    public static void EpochOrder(Span<int> order, int seed, int epoch)
    {
        for (int i = 0; i < order.Length; i++) order[i] = i;
        var random = new SplitMix64(((ulong)(uint)seed << 32) | (uint)epoch);
        for (int i = order.Length - 1; i > 0; i--)
        {
            int j = random.NextBelow(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
    }

    private void CheckDataset(InMemoryDataset data, string name)
    {
        if (data.SampleLength != Network.InputLength)
            throw new ArgumentException(
                $"The {name} set has {data.SampleLength} floats per sample, but the network's input is {Network.InputLength} floats.", name);
        CheckLabels(data.Labels, Network.OutputLength, $"{name} sample", name);
    }

    private static void CheckLabels(ReadOnlySpan<byte> labels, int classes, string what, string argument)
        => SoftmaxCrossEntropy.CheckLabels(labels, classes, what, "the network has {0} outputs", argument);

    private static EvaluationResult EvaluateCore(INetwork network, ReadOnlySpan<float> images, ReadOnlySpan<byte> labels, int batchSize, float[] output)
    {
        int classes = network.OutputLength, sampleLength = network.InputLength, count = labels.Length;
        batchSize = Math.Min(batchSize, count); // so that first + batchSize cannot overflow
        var classCorrect = new int[classes];
        var classCount = new int[classes];
        double lossSum = 0;
        long correct = 0;
        // Infer, not a recorded Forward: that would keep a tape of every tensor at the evaluation batch for the
        // instance's lifetime (several GB for a 224×224 network at 256), and would become what a later Backward of the
        // same batch size differentiates. Infer runs in the per-thread workspace and leaves the record alone, without
        // touching RecordForBackward, which other threads may be reading.
        for (int first = 0; first < count; first += batchSize)
        {
            int n = Math.Min(batchSize, count - first);
            var logits = output.AsSpan(0, n * classes);
            var batchLabels = labels.Slice(first, n);
            network.Infer(images.Slice(first * sampleLength, n * sampleLength), logits, n);
            lossSum += (double)SoftmaxCrossEntropy.Compute(logits, batchLabels, classes, Span<float>.Empty) * n;
            for (int i = 0; i < n; i++)
            {
                int label = batchLabels[i];
                classCount[label]++;
                if (SoftmaxCrossEntropy.ArgMax(logits.Slice(i * classes, classes)) == label)
                {
                    classCorrect[label]++;
                    correct++;
                }
            }
        }
        var classAccuracy = new double[classes];
        for (int c = 0; c < classes; c++) classAccuracy[c] = classCount[c] == 0 ? double.NaN : (double)classCorrect[c] / classCount[c];
        return new EvaluationResult(lossSum / count, (double)correct / count, Array.AsReadOnly(classAccuracy), Array.AsReadOnly(classCount));
    }

    private static int FirstNonFinite(float[] values)
    {
        for (int i = 0; i < values.Length; i++)
            if (!float.IsFinite(values[i])) return i;
        return -1;
    }

    private static string Describe(double value)
        => double.IsNaN(value) ? "NaN" : double.IsPositiveInfinity(value) ? "+Infinity" : double.IsNegativeInfinity(value) ? "-Infinity"
           : value.ToString("R", System.Globalization.CultureInfo.InvariantCulture);

    private TrainingDivergedException Diverged(string what, int epoch, int batch, int batches, string? checkpoint, int? checkpointEpoch)
    {
        string message = $"Training diverged in epoch {epoch} of {Options.Epochs}, batch {batch} of {batches}: {what}. ";
        if (checkpoint is not null)
            message += $"The last good checkpoint at '{checkpoint}' (written after epoch {checkpointEpoch}) is intact; " +
                       "load it with INetwork.Load to go on from there (e.g. with a lower learning rate).";
        else if (Options.CheckpointPath is null)
            message += "No checkpoint was written: TrainingOptions.CheckpointPath is not set.";
        else
            message += $"No checkpoint was written in this run (no epoch completed); '{Options.CheckpointPath}' was not touched by it.";
        return new TrainingDivergedException(message, epoch, batch, checkpoint, checkpointEpoch);
    }

    /// <summary>SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and fully specified, so shuffles never change.</summary>
    private struct SplitMix64(ulong state)
    {
        private ulong _state = state;

        public ulong Next()
        {
            ulong z = _state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }

        // Lemire's multiply-and-reject: unbiased in [0, bound).
        public int NextBelow(int bound)
        {
            ulong b = (ulong)bound;
            ulong high = Math.BigMul(Next(), b, out ulong low);
            if (low < b)
            {
                ulong threshold = (0UL - b) % b;
                while (low < threshold) high = Math.BigMul(Next(), b, out low);
            }
            return (int)high;
        }
    }
}

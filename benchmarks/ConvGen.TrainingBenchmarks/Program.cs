using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;

namespace ConvGen.TrainingBenchmarks;

/// <summary>
/// Training-side benchmark of ConvGen against the machine's FMA peak and PyTorch: generated Backward of single
/// convolutions (part 1), and LeNet-5 on Fashion-MNIST, training epochs with <see cref="Training.Trainer"/> and
/// inference (part 2). Run it with scripts/bench-training.sh; see <see cref="Options.Usage"/>.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        CultureInfo.DefaultThreadCurrentCulture = CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        Options options;
        try
        {
            options = Options.Parse(args);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine(e.Message);
            Console.Error.WriteLine(Options.Usage);
            return 2;
        }
        if (options.Help)
        {
            Console.WriteLine(Options.Usage);
            return 0;
        }
        if (!PeakFlops.Supported)
        {
            Console.Error.WriteLine("This CPU has no FMA3: the Vector256 FMA peak cannot be measured.");
            return 1;
        }

        var clock = Stopwatch.StartNew();
        var run = new RunInfo
        {
            Options = options,
            Started = DateTime.UtcNow,
            LoadBefore = Machine.LoadAverage(),
            Command = options.Command ?? "dotnet ConvGen.TrainingBenchmarks.dll " + string.Join(" ", args),
        };
        Console.WriteLine($"{Machine.CpuName()}, {Environment.ProcessorCount} logical CPUs, {Machine.Isa()}; .NET {Environment.Version}; load average {run.LoadBefore}; nice {Machine.Nice()}");
        foreach (string problem in Machine.BuildProblems()) Console.WriteLine($"WARNING: {problem}");

        int peakRuns = options.Quick ? 40 : 150;
        const double peakSeconds = 0.002;
        run.PeakRuns = peakRuns;
        run.PeakRunSeconds = peakSeconds;
        foreach (int t in options.Threads.Union(options.TrainThreads).OrderBy(t => t))
        {
            run.PeakBefore[t] = PeakFlops.Measure(t, peakRuns, peakSeconds);
            if (PeakFlops.Supported512) run.Peak512[t] = PeakFlops.Measure(t, peakRuns, peakSeconds, wide: true);
            Console.WriteLine($"FMA peak {t}T: {run.PeakBefore[t]:F1} GFLOP/s (Vector256){(PeakFlops.Supported512 ? $", {run.Peak512[t]:F1} (Vector512, informational)" : "")}");
        }

        TorchPeer? peer = null;
        run.TorchDescription = "not run (--no-torch)";
        if (options.Torch)
        {
            peer = TorchPeer.TryStart(options.Python, Path.Combine(AppContext.BaseDirectory, "torch_training_peer.py"),
                options.TorchKeepFreedMemory, out string? failure);
            run.TorchDescription = peer?.Description ?? $"not available: {failure}";
            Console.WriteLine($"PyTorch peer: {run.TorchDescription}");
        }

        using (peer)
        {
            if (!options.SkipConv)
            {
                var shapes = ConvShape.All.Where(s => options.Only is null || options.Only.Contains(s.Id)).ToList();
                run.Shapes = shapes;
                Console.WriteLine();
                run.ConvRows = ConvBackwardBench.Run(shapes, options, peer);
                run.ConvSeconds = clock.Elapsed.TotalSeconds;
            }
            if (!options.SkipLeNet)
            {
                run.LoadBeforeLeNet = Machine.LoadAverage();
                Console.WriteLine();
                double start = clock.Elapsed.TotalSeconds;
                run.LeNet = LeNetBench.Run(options, peer, clock);
                run.LeNetSeconds = clock.Elapsed.TotalSeconds - start;
            }
        }

        foreach (int t in run.PeakBefore.Keys)
        {
            run.PeakAfter[t] = PeakFlops.Measure(t, peakRuns, peakSeconds);
            if (PeakFlops.Supported512) run.Peak512[t] = Math.Max(run.Peak512[t], PeakFlops.Measure(t, peakRuns, peakSeconds, wide: true));
        }
        run.LoadAfter = Machine.LoadAverage();
        run.Seconds = clock.Elapsed.TotalSeconds;

        string report = Report.Write(run);
        string outPath = options.OutPath ?? Path.Combine(Machine.BenchmarksDirectory(), options.Quick ? "training-results-quick.md" : "training-results.md");
        Console.WriteLine();
        Console.WriteLine(report);
        File.WriteAllText(outPath, report);
        Console.WriteLine($"Written to {outPath} ({run.Seconds:F0} s)");

        bool failed = run.ConvRows.Any(r => r.ConvGenError is not null || r.Check is { Passed: false })
            || run.LeNet?.Training.Any(r => r.ConvGenError is not null) == true
            || run.LeNet?.Inference.Any(r => r.ConvGenError is not null) == true;
        return failed ? 3 : 0;
    }
}

/// <summary>Everything the report needs.</summary>
public sealed class RunInfo
{
    public required Options Options { get; init; }
    public required DateTime Started { get; init; }
    public required string LoadBefore { get; init; }
    public required string Command { get; init; }
    public string? LoadBeforeLeNet { get; set; }
    public string LoadAfter { get; set; } = "n/a";
    public double Seconds { get; set; }
    public double ConvSeconds { get; set; }
    public double LeNetSeconds { get; set; }
    public int PeakRuns { get; set; }
    public double PeakRunSeconds { get; set; }
    public Dictionary<int, double> PeakBefore { get; } = [];
    public Dictionary<int, double> PeakAfter { get; } = [];
    public Dictionary<int, double> Peak512 { get; } = [];
    public string TorchDescription { get; set; } = "";
    public List<ConvShape> Shapes { get; set; } = [];
    public List<ConvRow> ConvRows { get; set; } = [];
    public LeNetResults? LeNet { get; set; }

    /// <summary>The reference peak for "% peak": the higher of before and after (a neighbour only lowers a peak run).</summary>
    public double Peak(int threads) => Math.Max(PeakBefore.GetValueOrDefault(threads), PeakAfter.GetValueOrDefault(threads));
}

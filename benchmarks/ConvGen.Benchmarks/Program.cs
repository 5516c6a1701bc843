using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;

namespace ConvGen.Benchmarks;

/// <summary>
/// The performance benchmark of issue 5: per-layer forward, backward-data and backward-weights of single-convolution
/// networks against the machine's FMA peak, oneDNN and PyTorch (part 1), and LeNet-5 on Fashion-MNIST, training and
/// inference against PyTorch (part 2). Run it with scripts/bench.sh; see <see cref="Options.Usage"/>.
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
        if (!FmaPeak.IsSupported)
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
            Command = options.Command ?? "dotnet ConvGen.Benchmarks.dll " + string.Join(" ", args),
        };
        run.RoundTripBefore = Machine.CrossCoreRoundTripNanoseconds();
        Console.WriteLine($"{Machine.CpuName()}, {Machine.Topology()}, {Machine.Isa()}; .NET {Environment.Version}; load average {run.LoadBefore}; nice {Machine.Nice()}; cross-core round trip {run.RoundTripBefore:F0} ns");
        foreach (string problem in Machine.BuildProblems()) Console.WriteLine($"WARNING: {problem}");

        int peakRuns = options.Quick ? 40 : 150;
        const double peakSeconds = 0.002;
        run.PeakRuns = peakRuns;
        run.PeakRunSeconds = peakSeconds;
        var threadCounts = options.Threads.Union(options.TrainThreads).OrderBy(t => t).ToList();
        foreach (int t in threadCounts)
        {
            run.PeakBefore[t] = FmaPeak.Measure(t, peakRuns, peakSeconds);
            if (FmaPeak.Is512Supported) run.Peak512[t] = FmaPeak.Measure(t, peakRuns, peakSeconds, wide: true);
            Console.WriteLine($"FMA peak {t}T: {run.PeakBefore[t]:F1} GFLOP/s (Vector256){(FmaPeak.Is512Supported ? $", {run.Peak512[t]:F1} (Vector512, informational)" : "")}");
        }

        using (var peers = Peers.Start(options))
        {
            run.TorchDescription = peers.TorchNote;
            run.OneDnnDescription = peers.OneDnnNote;
            run.OneDnnWideDescription = peers.OneDnnWideNote;
            Console.WriteLine($"PyTorch peer: {peers.TorchNote}");
            Console.WriteLine($"oneDNN peer: {peers.OneDnnNote}");
            Console.WriteLine($"oneDNN peer (informational): {peers.OneDnnWideNote}");
            var shapes = ConvShape.All.Where(s => options.Only is null || options.Only.Contains(s.Id)).ToList();
            run.Shapes = options.SkipConv ? [] : shapes;
            if (!options.SkipConv)
            {
                Console.WriteLine();
                run.ConvRows = ConvBench.Run(shapes, options, peers, run.PeakBefore);
                run.ConvSeconds = clock.Elapsed.TotalSeconds;
                run.HandOffAfterConv = ConvGen.Parallelism.HandOffNanoseconds;
            }
            if (!options.SkipLeNet)
            {
                run.LoadBeforeLeNet = Machine.LoadAverage();
                run.RoundTripBeforeLeNet = Machine.CrossCoreRoundTripNanoseconds();
                Console.WriteLine();
                double start = clock.Elapsed.TotalSeconds;
                run.LeNet = LeNetBench.Run(options, peers.Torch, Stopwatch.StartNew()); // --budget counts from here
                run.LeNetSeconds = clock.Elapsed.TotalSeconds - start;
                run.HandOffAfterLeNet = ConvGen.Parallelism.HandOffNanoseconds;
            }
            run.Workspaces = WorkspacePlan.ForRun(run.Shapes, !options.SkipLeNet);
        }

        foreach (int t in run.PeakBefore.Keys)
        {
            run.PeakAfter[t] = FmaPeak.Measure(t, peakRuns, peakSeconds);
            if (FmaPeak.Is512Supported) run.Peak512[t] = Math.Max(run.Peak512[t], FmaPeak.Measure(t, peakRuns, peakSeconds, wide: true));
        }
        // "% peak" reference: the highest peak seen at this thread count (just before the shape, at the start, at the end).
        foreach (var row in run.ConvRows)
            row.Peak = Math.Max(row.PeakJustBefore, Math.Max(run.PeakBefore.GetValueOrDefault(row.Threads), run.PeakAfter.GetValueOrDefault(row.Threads)));
        run.LoadAfter = Machine.LoadAverage();
        run.RoundTripAfter = Machine.CrossCoreRoundTripNanoseconds();
        run.Seconds = clock.Elapsed.TotalSeconds;

        string report = Report.Write(run);
        string outPath = options.OutPath ?? (options.Quick
            ? Path.Combine(Machine.RepositoryRoot(), "artifacts", "performance-quick.md")
            : Path.Combine(Machine.RepositoryRoot(), "docs", "performance.md"));
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outPath))!);
        Console.WriteLine();
        Console.WriteLine(report);
        File.WriteAllText(outPath, report);
        Console.WriteLine($"Written to {outPath} ({run.Seconds:F0} s)");

        bool failed = run.ConvRows.Any(r => r.ConvGen.Values.Any(f => f.Error is not null) || r.Check is { Passed: false })
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
    public double RoundTripBefore { get; set; } = double.NaN;
    public double RoundTripBeforeLeNet { get; set; } = double.NaN;
    public double RoundTripAfter { get; set; } = double.NaN;
    public double? HandOffAfterConv { get; set; }
    public double? HandOffAfterLeNet { get; set; }
    public double Seconds { get; set; }
    public double ConvSeconds { get; set; }
    public double LeNetSeconds { get; set; }
    public int PeakRuns { get; set; }
    public double PeakRunSeconds { get; set; }
    public Dictionary<int, double> PeakBefore { get; } = [];
    public Dictionary<int, double> PeakAfter { get; } = [];
    public Dictionary<int, double> Peak512 { get; } = [];
    public string TorchDescription { get; set; } = "";
    public string OneDnnDescription { get; set; } = "";
    public string OneDnnWideDescription { get; set; } = "";
    public List<ConvShape> Shapes { get; set; } = [];
    public List<ConvRow> ConvRows { get; set; } = [];
    public LeNetResults? LeNet { get; set; }
    public List<WorkspacePlan> Workspaces { get; set; } = [];
}

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;

namespace ConvGen.Benchmarks;

/// <summary>
/// Forward-pass benchmark of single-convolution networks against the machine's FMA peak and PyTorch.
/// Usage: ConvGen.Benchmarks [--quick] [--threads 1,2] [--only a,c,h] [--no-torch] [--python PATH] [--no-check]
/// [--torch-plain-malloc] [--out FILE] [--commit TEXT]
/// </summary>
public static class Program
{
    private sealed record Row(BenchShape Shape, int Threads, Sample? ConvGen, string? ConvGenError, double CheckError,
        Sample? Torch, string? TorchError, string? TorchPath, long AllocatedPerCall);

    public static int Main(string[] args)
    {
        CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;

        bool quick = false, torch = true, check = true, torchKeepMemory = true;
        int[] threadCounts = [1, 2];
        string? only = null, outPath = null, commit = null;
        string python = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--quick": quick = true; break;
                case "--no-torch": torch = false; break;
                case "--no-check": check = false; break;
                case "--torch-plain-malloc": torchKeepMemory = false; break;
                case "--threads": threadCounts = Next().Split(',').Select(int.Parse).ToArray(); break;
                case "--only": only = Next(); break;
                case "--python": python = Next(); break;
                case "--out": outPath = Next(); break;
                case "--commit": commit = Next(); break;
                case "-h" or "--help":
                    Console.WriteLine("ConvGen.Benchmarks [--quick] [--threads 1,2] [--only a,c,h] [--no-torch] [--python PATH] [--no-check] [--torch-plain-malloc] [--out FILE] [--commit TEXT]");
                    return 0;
                default:
                    Console.Error.WriteLine($"unknown option {args[i]} (try --help)");
                    return 2;
            }
        }

        var timing = quick ? TimingOptions.Quick : TimingOptions.Full;
        var shapes = BenchShape.All.Where(s => only is null || only.Split(',').Contains(s.Id)).ToList();
        outPath ??= DefaultOutPath(quick);
        var total = Stopwatch.StartNew();

        string machine = MachineName();
        string loadBefore = LoadAverage();
        Console.WriteLine($"Machine: {machine}, {Environment.ProcessorCount} logical CPUs; {RuntimeInformation.FrameworkDescription}");
        foreach (string warning in BuildWarnings()) Console.WriteLine($"WARNING: {warning}");
        if (!FmaPeak.IsSupported)
        {
            Console.Error.WriteLine("This CPU has no FMA3: the Vector256 FMA peak cannot be measured.");
            return 1;
        }

        // Peak just before the kernels, per thread count.
        int peakRepeats = quick ? 30 : 150;
        double peakSeconds = 0.002;
        var peak = new Dictionary<int, double>();
        var peak512 = new Dictionary<int, double>();
        foreach (int t in threadCounts)
        {
            peak[t] = FmaPeak.Measure(t, peakRepeats, peakSeconds);
            Console.WriteLine($"FMA peak (12 Vector256 chains/thread), {t} thread(s): {peak[t]:F1} GFLOP/s");
        }
        if (FmaPeak.Is512Supported)
            foreach (int t in threadCounts)
            {
                peak512[t] = FmaPeak.Measure(t, peakRepeats, peakSeconds, wide: true);
                Console.WriteLine($"  (informational) Vector512 FMA peak, {t} thread(s): {peak512[t]:F1} GFLOP/s");
            }

        TorchPeer? peer = null;
        string torchNote = "not run (--no-torch)";
        if (torch)
        {
            string script = Path.Combine(AppContext.BaseDirectory, "torch_peer.py");
            peer = TorchPeer.TryStart(python, script, torchKeepMemory, out string? reason);
            torchNote = peer?.Description ?? $"not available: {reason}";
            Console.WriteLine($"PyTorch peer: {torchNote}");
        }

        var rows = new List<Row>();
        Console.WriteLine();
        using (peer)
        {
            foreach (var s in shapes)
                rows.AddRange(RunShape(s, threadCounts, timing, check, peer, peak));
        }

        // Peak again: if it moved a lot, a neighbour was busy during the run and every figure is suspect.
        var peakAfter = new Dictionary<int, double>();
        foreach (int t in threadCounts) peakAfter[t] = FmaPeak.Measure(t, peakRepeats, peakSeconds);
        foreach (int t in peak512.Keys.ToList())
            peak512[t] = Math.Max(peak512[t], FmaPeak.Measure(t, peakRepeats, peakSeconds, wide: true));
        // The reference for "% peak": the better of the two measurements. A neighbour can only lower a peak run, and
        // a depressed reference would push kernels past 100%.
        var peakRef = threadCounts.ToDictionary(t => t, t => Math.Max(peak[t], peakAfter[t]));

        string report = Report(machine, quick, peakRepeats, peakSeconds, timing, commit, torchNote, shapes, rows, peak, peakRef, peak512, peakAfter,
            total.Elapsed.TotalSeconds, loadBefore, LoadAverage());
        Console.WriteLine();
        Console.WriteLine(report);
        File.WriteAllText(outPath, report);
        Console.WriteLine($"Written to {outPath}");
        return rows.Any(r => r.ConvGenError is not null || r.CheckError > Reference.Tolerance || double.IsNaN(r.CheckError)) ? 3 : 0;
    }

    private static IEnumerable<Row> RunShape(BenchShape s, int[] threadCounts, TimingOptions timing, bool check,
        TorchPeer? peer, Dictionary<int, double> peak)
    {
        INetwork? net = null;
        string? createError = null;
        float[] input = new float[s.Batch * s.InputLength];
        float[] output = new float[s.Batch * s.OutputLength];
        var rng = new Random(1234);
        for (int i = 0; i < input.Length; i++) input[i] = (float)(rng.NextDouble() * 2 - 1);

        Reference? reference = null;
        try
        {
            net = s.Create();
            if (net.InputLength != s.InputLength || net.OutputLength != s.OutputLength)
                throw new InvalidOperationException(
                    $"generated lengths {net.InputLength}/{net.OutputLength} differ from the expected {s.InputLength}/{s.OutputLength}");
            if (check) reference = Reference.Build(s, net, input);
        }
        catch (Exception e)
        {
            createError = $"{e.GetType().Name}: {e.Message}";
        }

        foreach (int t in threadCounts)
        {
            var mineTimes = new List<double>();
            var theirTimes = new List<double>();
            string? error = createError, torchError = null, torchPath = null;
            double checkError = double.NaN;
            long allocated = -1;
            for (int round = 0; round < timing.Rounds; round++)
            {
                if (net is not null && error is null)
                {
                    try
                    {
                        Parallelism.MaxThreads = t;
                        if (round == 0) Array.Clear(output);
                        CallTimer.Measure(() => net.Forward(input, output, s.Batch), timing.WarmupFor(round),
                            timing.SecondsPerRound, timing.MinSamplesPerRound, mineTimes);
                        if (round == 0)
                        {
                            checkError = reference?.RelativeError(output) ?? 0;
                            // The contract: allocation-free once warm (all threads counted).
                            const int calls = 20;
                            long before = GC.GetTotalAllocatedBytes(precise: true);
                            for (int i = 0; i < calls; i++) net.Forward(input, output, s.Batch);
                            allocated = (GC.GetTotalAllocatedBytes(precise: true) - before) / calls;
                        }
                    }
                    catch (Exception e)
                    {
                        error = $"{e.GetType().Name}: {e.Message}";
                    }
                }
                if (peer is not null && torchError is null)
                    torchError = peer.Measure(s, t, timing.WarmupFor(round), timing.SecondsPerRound,
                        timing.MinSamplesPerRound, theirTimes, out torchPath);
            }
            Sample? mine = error is null && mineTimes.Count > 0 ? Sample.From(mineTimes) : null;
            Sample? theirs = torchError is null && theirTimes.Count > 0 ? Sample.From(theirTimes) : null;

            var row = new Row(s, t, mine, error, checkError, theirs, torchError, torchPath, allocated);
            Console.WriteLine($"({s.Id}) {s.Name,-20} {t}T  ConvGen {Ms(mine, error),-24} {Gflops(s, mine),8} GFLOP/s {Pct(s, mine, peak[t]),7}"
                + $"  check {CheckText(row, check)}  |  PyTorch {Ms(theirs, torchError)} {Gflops(s, theirs)} GFLOP/s");
            yield return row;
        }
        Parallelism.MaxThreads = Environment.ProcessorCount;
    }

    private static string Report(string machine, bool quick, int peakRepeats, double peakSeconds, TimingOptions timing, string? commit, string torchNote,
        List<BenchShape> shapes, List<Row> rows, Dictionary<int, double> peakBefore, Dictionary<int, double> peak, Dictionary<int, double> peak512,
        Dictionary<int, double> peakAfter, double seconds, string loadBefore, string loadAfter)
    {
        var sb = new StringBuilder();
        sb.AppendLine("# ConvGen forward-pass benchmark");
        sb.AppendLine();
        sb.AppendLine($"- Date: {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC{(commit is null ? "" : $", commit {commit}")}{(quick ? " — **quick run, noisy figures**" : "")}");
        sb.AppendLine($"- Machine: {machine} ({Environment.ProcessorCount} logical CPUs), {RuntimeInformation.OSDescription}");
        sb.AppendLine($"- Runtime: {RuntimeInformation.FrameworkDescription}; PyTorch peer: {torchNote}");
        foreach (string warning in BuildWarnings()) sb.AppendLine($"- **WARNING: {warning}**");
        sb.AppendLine($"- Timing: Stopwatch per call, {timing.WarmupSeconds:0.##} s warm-up, then ≥ {timing.MeasureSeconds:0.##} s and ≥ {timing.MinSamples} timed calls per figure in {timing.Rounds} round(s) alternating ConvGen and PyTorch; medians over all calls (p25–p75 in brackets). PyTorch: `nn.Conv2d(bias=True)` under `torch.no_grad()`, `torch.set_num_threads(T)`, same loop in Python, in a child process that waits while ConvGen runs and vice versa.");
        sb.AppendLine("- Work: FLOP = 2·MACs, MACs = N·Cout·OH·OW·(Cin/groups)·KH·KW (bias not counted).");
        sb.AppendLine($"- Whole run: {seconds:F0} s at nice {NiceValue()}. Load average (1/5/15 min) before: {loadBefore}; after: {loadAfter}.");
        sb.AppendLine();
        sb.AppendLine($"FP32 FMA peak, measured in-process (12 independent `Vector256` FMA chains per thread via `Fma.MultiplyAdd`), best of {peakRepeats} runs of {peakSeconds * 1000:0} ms each:");
        sb.AppendLine();
        sb.AppendLine("| Threads | Before the kernels (GFLOP/s) | After (GFLOP/s) | Reference = the higher | Vector512 peak, higher of before/after (GFLOP/s) |");
        sb.AppendLine("|---:|---:|---:|---:|---:|");
        foreach (var (t, p) in peakBefore.OrderBy(kv => kv.Key))
            sb.AppendLine($"| {t} | {p:F1} | {peakAfter[t]:F1} | {peak[t]:F1} | {(peak512.TryGetValue(t, out double w) ? w.ToString("F1") : "n/a")} |");
        sb.AppendLine();
        sb.AppendLine("\"% peak\" is relative to the Vector256 reference peak for the same thread count (a neighbour can only lower a peak run, so the higher of the two measurements is the better estimate)."
            + (peak512.Count > 0 ? " This CPU also runs 512-bit FMAs (PyTorch's oneDNN uses them), so the Vector512 peak is the machine's real ceiling; \"% V512\" is relative to it." : "")
            + " PyTorch kernel: the ATen backend one call went through (autograd profiler). Debian's torch is built with BLAS_INFO=generic,"
            + $" so its im2col+GEMM path runs on whatever libblas.so.3 is installed; here {BlasLibrary()}.");
        foreach (var (t, p) in peakBefore.OrderBy(kv => kv.Key))
            if (Math.Abs(peakAfter[t] - p) > 0.15 * Math.Max(p, peakAfter[t]))
                sb.AppendLine().AppendLine($"**Noise warning:** the {t}-thread peak moved from {p:F1} to {peakAfter[t]:F1} GFLOP/s during the run; another process was competing for the cores, so figures in this run are unreliable. "
                    + "Time-slicing also biases medians against the slower side: a call longer than the scheduler's slice is preempted more often, so a 2.5 ms call lands in the slow mode far more often than a 1.3 ms one. Compare the fastest-call table instead.");
        sb.AppendLine();
        sb.AppendLine("| | Network | Geometry | N | Output | MFLOP/call |");
        sb.AppendLine("|---|---|---|---:|---|---:|");
        foreach (var s in shapes)
            sb.AppendLine($"| {s.Id} | `{s.Name}` | {s.Geometry} | {s.Batch} | {s.OutChannels}×{s.OutHeight}×{s.OutWidth} | {s.Flops / 1e6:F1} |");
        sb.AppendLine();
        bool wide = peak512.Count > 0;
        sb.AppendLine($"| | Shape | Threads | ConvGen ms | ConvGen GFLOP/s | ConvGen % peak |{(wide ? " ConvGen % V512 |" : "")} PyTorch ms | PyTorch GFLOP/s | PyTorch % peak | PyTorch kernel | ConvGen/PyTorch speed | Check | ConvGen B/call |");
        sb.AppendLine($"|---|---|---:|---:|---:|---:|{(wide ? "---:|" : "")}---:|---:|---:|---|---:|---|---:|");
        foreach (var r in rows)
        {
            var s = r.Shape;
            string ratio = r.ConvGen is not null && r.Torch is not null ? $"{r.Torch.MedianMs / r.ConvGen.MedianMs:G3}×" : "—";
            string mineWide = wide ? $" {Pct(s, r.ConvGen, peak512[r.Threads])} |" : "";
            sb.AppendLine($"| {s.Id} | {s.Geometry}{(s.Batch > 1 ? $", N={s.Batch}" : "")} | {r.Threads} | {Ms(r.ConvGen, r.ConvGenError)} | {Gflops(s, r.ConvGen)} | {Pct(s, r.ConvGen, peak[r.Threads])} |{mineWide}"
                + $" {Ms(r.Torch, r.TorchError)} | {Gflops(s, r.Torch)} | {Pct(s, r.Torch, peak[r.Threads])} | {r.TorchPath ?? "—"} | {ratio} | {CheckText(r, true)} | {(r.AllocatedPerCall < 0 ? "—" : r.AllocatedPerCall.ToString())} |");
        }
        sb.AppendLine();
        sb.AppendLine("Fastest single call of each figure (a neighbour's load only ever slows a call, so on this shared machine these "
            + "are the steadier estimate of what the kernels can do; the medians above are the headline):");
        sb.AppendLine();
        sb.AppendLine("| | Threads | ConvGen best ms | GFLOP/s | % peak | PyTorch best ms | GFLOP/s | % peak | ConvGen/PyTorch speed |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in rows)
        {
            var s = r.Shape;
            Sample? m = r.ConvGen is null ? null : r.ConvGen with { MedianMs = r.ConvGen.MinMs };
            Sample? p = r.Torch is null ? null : r.Torch with { MedianMs = r.Torch.MinMs };
            string ratio = m is not null && p is not null ? $"{p.MedianMs / m.MedianMs:G3}×" : "—";
            sb.AppendLine($"| {s.Id} | {r.Threads} | {(m is null ? "—" : m.MedianMs.ToString("F3"))} | {Gflops(s, m)} | {Pct(s, m, peak[r.Threads])} "
                + $"| {(p is null ? "—" : p.MedianMs.ToString("F3"))} | {Gflops(s, p)} | {Pct(s, p, peak[r.Threads])} | {ratio} |");
        }
        sb.AppendLine();
        sb.AppendLine("ConvGen/PyTorch speed = PyTorch median time / ConvGen median time (> 1: ConvGen faster). "
            + $"Check: largest |ConvGen − float64 direct convolution| over the first and last sample, relative to the largest |output|; ok below {Reference.Tolerance:G1}. "
            + "B/call: bytes allocated (all threads) per warm Forward, averaged over 20 calls.");
        return sb.ToString();
    }

    private static string Ms(Sample? s, string? error) =>
        error is not null ? $"error: {error.Replace('|', '/').Replace('\n', ' ')}"
        : s is null ? "—"
        : $"{s.MedianMs:F3} [{s.P25Ms:F3}–{s.P75Ms:F3}]";

    private static string Gflops(BenchShape shape, Sample? s) => s is null ? "—" : $"{shape.Flops / (s.MedianMs * 1e6):F1}";

    private static string Pct(BenchShape shape, Sample? s, double peak) =>
        s is null ? "—" : $"{100 * shape.Flops / (s.MedianMs * 1e6) / peak:F1}%";

    private static string CheckText(Row r, bool enabled) =>
        r.ConvGen is null ? "—"
        : !enabled ? "skipped"
        : double.IsNaN(r.CheckError) ? "FAIL (non-finite output)"
        : r.CheckError <= Reference.Tolerance ? $"ok ({r.CheckError:0.0e+0})"
        : $"FAIL (rel. err {r.CheckError:0.0e+0})";

    private static string MachineName()
    {
        try
        {
            var psi = new ProcessStartInfo("lscpu") { RedirectStandardOutput = true, UseShellExecute = false };
            psi.Environment["LC_ALL"] = "C";
            using var p = Process.Start(psi);
            if (p is not null)
            {
                string text = p.StandardOutput.ReadToEnd();
                p.WaitForExit();
                foreach (string line in text.Split('\n'))
                    if (line.StartsWith("Model name:", StringComparison.Ordinal))
                        return line["Model name:".Length..].Trim();
            }
        }
        catch (System.ComponentModel.Win32Exception) { }
        try
        {
            foreach (string line in File.ReadLines("/proc/cpuinfo"))
                if (line.StartsWith("model name", StringComparison.Ordinal))
                    return line[(line.IndexOf(':') + 1)..].Trim();
        }
        catch (IOException) { }
        return RuntimeInformation.ProcessArchitecture.ToString();
    }

    private static string BlasLibrary()
    {
        const string link = "/usr/lib/x86_64-linux-gnu/libblas.so.3";
        try
        {
            var target = new FileInfo(link).ResolveLinkTarget(returnFinalTarget: true);
            string path = target?.FullName ?? link;
            string kind = path.Contains("openblas", StringComparison.OrdinalIgnoreCase) ? "OpenBLAS"
                : path.Contains("blis", StringComparison.OrdinalIgnoreCase) ? "BLIS"
                : path.Contains("mkl", StringComparison.OrdinalIgnoreCase) ? "MKL"
                : path.Contains("/blas/libblas.so", StringComparison.Ordinal) ? "the netlib reference BLAS"
                : "unknown";
            return File.Exists(path) ? $"`{link}` → `{path}` ({kind})" : $"no `{link}`";
        }
        catch (IOException)
        {
            return "libblas.so.3 not inspected";
        }
    }

    private static string NiceValue()
    {
        try
        {
            // /proc/self/stat: "pid (comm) state ..." — field 19 is the nice value; comm may contain spaces.
            string stat = File.ReadAllText("/proc/self/stat");
            string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return fields[16];
        }
        catch (IOException)
        {
            return "n/a";
        }
    }

    private static string LoadAverage()
    {
        try
        {
            return string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "n/a";
        }
    }

    /// <summary>Complaints that make the figures meaningless: unoptimised assemblies.</summary>
    private static IEnumerable<string> BuildWarnings()
    {
        foreach (var asm in new[] { typeof(Program).Assembly, typeof(INetwork).Assembly })
        {
            var d = asm.GetCustomAttribute<DebuggableAttribute>();
            if (d is not null && d.IsJITOptimizerDisabled)
                yield return $"{asm.GetName().Name} was built without optimisation (Debug); build with -c Release.";
        }
    }

    private static string DefaultOutPath(bool quick)
    {
        string name = quick ? "results-quick.md" : "results.md";
        foreach (string start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (Directory.Exists(Path.Combine(dir.FullName, "benchmarks", "ConvGen.Benchmarks")))
                    return Path.Combine(dir.FullName, "benchmarks", name);
        }
        return Path.Combine(Directory.GetCurrentDirectory(), name);
    }
}

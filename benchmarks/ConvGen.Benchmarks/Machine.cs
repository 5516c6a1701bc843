using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.InteropServices;

namespace ConvGen.Benchmarks;

/// <summary>What the report says about the machine and the process.</summary>
public static class Machine
{
    /// <summary>CPU model name from /proc/cpuinfo.</summary>
    public static string CpuName()
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/cpuinfo"))
                if (line.StartsWith("model name", StringComparison.Ordinal))
                    return line[(line.IndexOf(':') + 1)..].Trim();
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return RuntimeInformation.ProcessArchitecture.ToString();
    }

    /// <summary>Vector extensions .NET uses here.</summary>
    public static string Isa() =>
        string.Join(", ", new (bool On, string Name)[]
        {
            (System.Runtime.Intrinsics.X86.Avx2.IsSupported, "AVX2"),
            (System.Runtime.Intrinsics.X86.Fma.IsSupported, "FMA3"),
            (System.Runtime.Intrinsics.X86.Avx512F.IsSupported, "AVX-512F"),
        }.Where(f => f.On).Select(f => f.Name).DefaultIfEmpty("no AVX2/FMA"));

    /// <summary>
    /// The median time, in nanoseconds, for two threads to pass a value back and forth through a shared field (each
    /// spins until it sees the other's store): 5 rounds of 20,000 round trips. It tracks the cost of moving a cache
    /// line between the cores, which on this VM changes between periods of minutes and decides how the 2-thread
    /// figures come out (see docs/architecture.md, "Work items and the worker pool").
    /// </summary>
    public static double CrossCoreRoundTripNanoseconds()
    {
        if (Environment.ProcessorCount < 2) return double.NaN;
        var box = new PingPong();
        var other = new System.Threading.Thread(() =>
        {
            int last = 0;
            while (true)
            {
                int v;
                while ((v = System.Threading.Volatile.Read(ref box.Ping)) == last) System.Threading.Thread.SpinWait(1);
                if (v < 0) return;
                last = v;
                System.Threading.Volatile.Write(ref box.Pong, v);
            }
        }) { IsBackground = true };
        other.Start();
        const int trips = 20_000;
        var rounds = new double[5];
        int k = 0;
        for (int r = 0; r < rounds.Length; r++)
        {
            long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
            for (int i = 0; i < trips; i++)
            {
                System.Threading.Volatile.Write(ref box.Ping, ++k);
                while (System.Threading.Volatile.Read(ref box.Pong) != k) System.Threading.Thread.SpinWait(1);
            }
            rounds[r] = System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalNanoseconds / trips;
        }
        System.Threading.Volatile.Write(ref box.Ping, -1);
        other.Join();
        Array.Sort(rounds);
        return rounds[rounds.Length / 2];
    }

    // Ping and Pong two cache lines apart, so each thread writes its own line.
    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Explicit)]
    private sealed class PingPong
    {
        [System.Runtime.InteropServices.FieldOffset(0)] public int Ping;
        [System.Runtime.InteropServices.FieldOffset(128)] public int Pong;
    }

    /// <summary>The 1/5/15-minute load averages.</summary>
    public static string LoadAverage()
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

    /// <summary>This process's nice value (field 19 of /proc/self/stat).</summary>
    public static string Nice()
    {
        try
        {
            string stat = File.ReadAllText("/proc/self/stat");
            return stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[16];
        }
        catch (IOException)
        {
            return "n/a";
        }
    }

    /// <summary>Reasons the figures would mean nothing (an unoptimised build).</summary>
    public static IEnumerable<string> BuildProblems()
    {
        foreach (var assembly in new[] { typeof(Machine).Assembly, typeof(INetwork).Assembly })
            if (assembly.GetCustomAttribute<DebuggableAttribute>() is { IsJITOptimizerDisabled: true })
                yield return $"{assembly.GetName().Name} was built without optimisation (Debug); build with -c Release";
    }

    /// <summary>The repository root (the folder holding ConvGen.sln) this runs from, or the current folder.</summary>
    public static string RepositoryRoot()
    {
        foreach (string start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "ConvGen.sln")))
                    return dir.FullName;
        return Directory.GetCurrentDirectory();
    }

    /// <summary>Sockets, cores and threads per core from lscpu, e.g. "1 socket × 1 core × 2 threads".</summary>
    public static string Topology()
    {
        var fields = Lscpu();
        string Get(string key) => fields.TryGetValue(key, out string? v) ? v : "?";
        return fields.Count == 0 ? $"{Environment.ProcessorCount} logical CPUs"
            : $"CPU family {Get("CPU family")} model {Get("Model")} stepping {Get("Stepping")}, {Environment.ProcessorCount} logical CPUs = "
              + $"{Get("Socket(s)")} socket(s) × {Get("Core(s) per socket")} core(s) × {Get("Thread(s) per core")} thread(s) per core";
    }

    /// <summary>Where Debian's libblas.so.3 points (PyTorch's im2col+GEMM fallback runs on it).</summary>
    public static string BlasLibrary()
    {
        const string link = "/usr/lib/x86_64-linux-gnu/libblas.so.3";
        try
        {
            var target = new FileInfo(link).ResolveLinkTarget(returnFinalTarget: true);
            string path = target?.FullName ?? link;
            string kind = path.Contains("openblas", StringComparison.OrdinalIgnoreCase) ? "OpenBLAS"
                : path.Contains("blis", StringComparison.OrdinalIgnoreCase) ? "BLIS"
                : path.Contains("/blas/libblas.so", StringComparison.Ordinal) ? "the netlib reference BLAS"
                : "unknown";
            return File.Exists(path) ? $"`{link}` → `{path}` ({kind})" : $"no `{link}`";
        }
        catch (IOException)
        {
            return "libblas.so.3 not inspected";
        }
    }

    private static Dictionary<string, string> Lscpu()
    {
        var result = new Dictionary<string, string>();
        try
        {
            var psi = new ProcessStartInfo("lscpu") { RedirectStandardOutput = true, UseShellExecute = false };
            psi.Environment["LC_ALL"] = "C";
            using var p = Process.Start(psi);
            if (p is null) return result;
            foreach (string line in p.StandardOutput.ReadToEnd().Split('\n'))
            {
                int colon = line.IndexOf(':');
                if (colon > 0) result.TryAdd(line[..colon].Trim(), line[(colon + 1)..].Trim());
            }
            p.WaitForExit();
        }
        catch (System.ComponentModel.Win32Exception) { }
        return result;
    }
}

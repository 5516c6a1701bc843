using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.InteropServices;

namespace ConvGen.TrainingBenchmarks;

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

    /// <summary>benchmarks/ of the repository this runs from (for the default report path), or the current folder.</summary>
    public static string BenchmarksDirectory()
    {
        foreach (string start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (Directory.Exists(Path.Combine(dir.FullName, "benchmarks", "ConvGen.TrainingBenchmarks")))
                    return Path.Combine(dir.FullName, "benchmarks");
        return Directory.GetCurrentDirectory();
    }
}

using System;
using System.IO;
using System.Linq;

namespace ConvGen.Benchmarks;

/// <summary>Command-line options.</summary>
public sealed class Options
{
    public const string Usage = """
        ConvGen.Benchmarks [options]   (normally run through scripts/bench.sh)
          --quick               smoke run: short timings, 60 training batches per side extrapolated to an epoch
          --threads 1,2         thread counts (ConvGen.Parallelism.MaxThreads, torch.set_num_threads, omp_set_num_threads)
          --train-threads 1,2   thread counts of the LeNet training epochs (default: --threads)
          --only a,c,h,a32      convolution shapes to run (default: a–h and a32, b32, c32)
          --skip-conv           no per-layer figures
          --skip-lenet          no LeNet training and inference figures
          --epochs N            timed epochs per side and thread count (default 2; 1 with --quick)
          --epoch-batches N     time N batches of 64 and extrapolate to an epoch (default 0 = full epochs; 60 with --quick)
          --epoch-cap S         stop a timed epoch after S seconds and extrapolate from the batches done (default 45; 0 = never)
          --budget S            seconds the LeNet training part should stay under; extra epochs are dropped to fit (default 400)
          --no-torch            no PyTorch peer
          --python PATH         interpreter for the PyTorch peer (default /usr/bin/python3)
          --torch-plain-malloc  run the PyTorch peer with glibc's default malloc thresholds
          --no-onednn           no oneDNN peer
          --onednn PATH         the oneDNN harness binary (scripts/bench.sh builds benchmarks/onednn/onednn_peer.cpp)
          --no-onednn-wide      skip the informational oneDNN run at its default ISA (AVX-512 here)
          --no-check            skip the float64 correctness checks
          --out FILE            report file (default docs/performance.md; artifacts/performance-quick.md with --quick)
          --commit TEXT         commit id for the report
          --command TEXT        the command line to record in the report
        """;

    public bool Quick { get; private set; }
    public int[] Threads { get; private set; } = [1, 2];
    public int[]? TrainThreadsOverride { get; private set; }
    public int[] TrainThreads => TrainThreadsOverride ?? Threads;
    public string[]? Only { get; private set; }
    public bool SkipConv { get; private set; }
    public bool SkipLeNet { get; private set; }
    public int? EpochsOverride { get; private set; }
    public int Epochs => EpochsOverride ?? (Quick ? 1 : 2);
    public int? EpochBatchesOverride { get; private set; }
    public int EpochBatches => EpochBatchesOverride ?? (Quick ? 60 : 0);
    public double BudgetSeconds { get; private set; } = 400;
    public double EpochCapSeconds { get; private set; } = 45;
    public bool Torch { get; private set; } = true;
    public string Python { get; private set; } = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
    public bool TorchKeepFreedMemory { get; private set; } = true;
    public bool OneDnn { get; private set; } = true;
    public string? OneDnnPath { get; private set; }
    public bool OneDnnWide { get; private set; } = true;
    public bool Check { get; private set; } = true;
    public string? OutPath { get; private set; }
    public string? Commit { get; private set; }
    public string? Command { get; private set; }
    public bool Help { get; private set; }

    public TimingPlan Timing => Quick ? TimingPlan.Quick : TimingPlan.Full;

    /// <summary>Parses <paramref name="args"/>; throws <see cref="ArgumentException"/> on a bad one.</summary>
    public static Options Parse(string[] args)
    {
        var o = new Options();
        for (int i = 0; i < args.Length; i++)
        {
            string arg = args[i];
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{arg} needs a value");
            int[] Counts() => Value().Split(',').Select(v => int.TryParse(v, out int n) && n >= 1 ? n
                : throw new ArgumentException($"{arg}: '{v}' is not a thread count")).ToArray();
            int NonNegative() => int.TryParse(Value(), out int n) && n >= 0 ? n : throw new ArgumentException($"{arg} needs a number ≥ 0");
            switch (arg)
            {
                case "--quick": o.Quick = true; break;
                case "--threads": o.Threads = Counts(); break;
                case "--train-threads": o.TrainThreadsOverride = Counts(); break;
                case "--only": o.Only = Value().Split(','); break;
                case "--skip-conv": o.SkipConv = true; break;
                case "--skip-lenet": o.SkipLeNet = true; break;
                case "--epochs": o.EpochsOverride = Math.Max(1, NonNegative()); break;
                case "--epoch-batches": o.EpochBatchesOverride = NonNegative(); break;
                case "--budget": o.BudgetSeconds = NonNegative(); break;
                case "--epoch-cap": o.EpochCapSeconds = NonNegative(); break;
                case "--no-torch": o.Torch = false; break;
                case "--python": o.Python = Value(); break;
                case "--torch-plain-malloc": o.TorchKeepFreedMemory = false; break;
                case "--no-onednn": o.OneDnn = false; break;
                case "--onednn": o.OneDnnPath = Value(); break;
                case "--no-onednn-wide": o.OneDnnWide = false; break;
                case "--no-check": o.Check = false; break;
                case "--out": o.OutPath = Value(); break;
                case "--commit": o.Commit = Value(); break;
                case "--command": o.Command = Value(); break;
                case "-h" or "--help": o.Help = true; break;
                default: throw new ArgumentException($"unknown option {arg}");
            }
        }
        return o;
    }
}

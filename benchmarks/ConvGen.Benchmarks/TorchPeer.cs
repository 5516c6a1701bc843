using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Text.Json.Nodes;

namespace ConvGen.Benchmarks;

/// <summary>
/// The PyTorch peer as a child process (torch_peer.py) that stays alive for the whole run and times one shape per
/// request, so each PyTorch figure is measured right after the matching ConvGen figure. While one side measures the
/// other waits on a pipe, so they do not compete for the two cores.
/// </summary>
public sealed class TorchPeer : IDisposable
{
    private readonly Process _process;

    private TorchPeer(Process process, string description)
    {
        _process = process;
        Description = description;
    }

    /// <summary>e.g. <c>torch 1.13.0a0 (python 3.11.2, oneDNN available)</c>.</summary>
    public string Description { get; }

    /// <summary>Starts the peer; returns null and a reason if python or torch is unavailable.</summary>
    public static TorchPeer? TryStart(string python, string script, bool keepFreedMemory, out string? reason)
    {
        if (!File.Exists(script))
        {
            reason = $"script not found: {script}";
            return null;
        }
        var psi = new ProcessStartInfo(python)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = false,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add("-u");
        psi.ArgumentList.Add(script);
        // Thread counts are set per request with torch.set_num_threads; keep the environment from overriding them.
        psi.Environment.Remove("OMP_NUM_THREADS");
        psi.Environment.Remove("MKL_NUM_THREADS");
        // PyTorch allocates every output afresh. With glibc's defaults a multi-megabyte tensor is mmap'ed and unmapped
        // on every call, so each call page-faults its output in again; on this VM under load that alone made calls
        // 10-20x slower (oneDNN's 7x7 stem: 1.4 ms vs 20-30 ms). Keeping freed memory in the heap measures the
        // convolution rather than the page faults (PyTorch's tuning guide suggests jemalloc/tcmalloc for the same reason).
        string mallocNote = "glibc malloc defaults";
        if (keepFreedMemory)
        {
            psi.Environment.TryAdd("MALLOC_MMAP_THRESHOLD_", "33554432");
            psi.Environment.TryAdd("MALLOC_TRIM_THRESHOLD_", "4294967296");
            mallocNote = $"MALLOC_MMAP_THRESHOLD_={psi.Environment["MALLOC_MMAP_THRESHOLD_"]}, MALLOC_TRIM_THRESHOLD_={psi.Environment["MALLOC_TRIM_THRESHOLD_"]}";
        }
        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new InvalidOperationException("Process.Start returned null");
        }
        catch (Exception e)
        {
            reason = $"cannot start {python}: {e.Message}";
            return null;
        }

        string? first = process.StandardOutput.ReadLine();
        JsonNode? ready = first is null ? null : JsonNode.Parse(first);
        if (ready?["ready"]?.GetValue<bool>() != true)
        {
            reason = ready?["error"]?.GetValue<string>() ?? $"peer exited without a ready line (exit code {(process.HasExited ? process.ExitCode : -1)})";
            try { process.Kill(); } catch (InvalidOperationException) { }
            process.Dispose();
            return null;
        }
        reason = null;
        string mkldnn = ready["mkldnn"]?.GetValue<bool>() == true ? "oneDNN available" : "no oneDNN";
        return new TorchPeer(process,
            $"torch {ready["torch"]?.GetValue<string>()} (python {ready["python"]?.GetValue<string>()}, {mkldnn}, {mallocNote})");
    }

    /// <summary>
    /// Times <c>nn.Conv2d</c> of the shape on <paramref name="threads"/> threads under <c>torch.no_grad()</c>
    /// (one round: <paramref name="warmupSeconds"/> of warm-up, then single calls timed); appends the times (ms)
    /// and tells which ATen kernel ran (<paramref name="path"/>).
    /// Returns an error message, or null.
    /// </summary>
    public string? Measure(BenchShape s, int threads, double warmupSeconds, double seconds, int minSamples, List<double> times,
        out string? path)
    {
        path = null;
        var request = new JsonObject
        {
            ["name"] = s.Name, ["batch"] = s.Batch, ["in"] = s.InChannels, ["h"] = s.Height, ["w"] = s.Width,
            ["out"] = s.OutChannels, ["kernel"] = s.Kernel, ["stride"] = s.Stride, ["pad"] = s.Pad,
            ["groups"] = s.Groups, ["threads"] = threads,
            ["warmup_s"] = warmupSeconds, ["measure_s"] = seconds, ["min_samples"] = minSamples,
        };
        _process.StandardInput.WriteLine(request.ToJsonString());
        _process.StandardInput.Flush();
        string? line = _process.StandardOutput.ReadLine();
        if (line is null) return "peer process ended";
        var reply = JsonNode.Parse(line);
        if (reply?["error"] is JsonNode err) return err.GetValue<string>();
        if (reply?["times_ms"] is not JsonArray array) return $"malformed reply: {line}";
        foreach (var t in array) times.Add(t!.GetValue<double>());
        path = reply["path"]?.GetValue<string>();
        return null;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        try
        {
            _process.StandardInput.Close();
            if (!_process.WaitForExit(5000)) _process.Kill();
        }
        catch (InvalidOperationException) { }
        catch (IOException) { }
        _process.Dispose();
    }
}

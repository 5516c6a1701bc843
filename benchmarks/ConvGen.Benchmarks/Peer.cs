using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Text.Json.Nodes;

namespace ConvGen.Benchmarks;

/// <summary>
/// A peer library in a child process that stays alive for the whole run: one JSON request per stdin line, one JSON
/// reply per stdout line (torch_peer.py, and the oneDNN harness onednn_peer built from benchmarks/onednn). While the
/// peer measures, the harness blocks on the pipe, and the other way round, so the two never compete for the cores and
/// both see the same machine state.
/// </summary>
public sealed class Peer : IDisposable
{
    private readonly Process _process;

    private Peer(Process process, JsonNode ready, string description)
    {
        _process = process;
        Ready = ready;
        Description = description;
    }

    /// <summary>The peer's first line: <c>{"ready": true, …versions…}</c>.</summary>
    public JsonNode Ready { get; }

    /// <summary>Versions and settings, for the report.</summary>
    public string Description { get; set; }

    /// <summary>
    /// Starts <paramref name="file"/> with <paramref name="arguments"/>; <paramref name="environment"/> entries are set
    /// (or removed, when the value is null). Returns null and a reason when the peer cannot start or does not say ready.
    /// </summary>
    public static Peer? TryStart(string file, IEnumerable<string> arguments, IReadOnlyDictionary<string, string?> environment,
        out string? failure)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (string a in arguments) psi.ArgumentList.Add(a);
        // Thread counts are set per request; keep the environment from overriding them.
        psi.Environment.Remove("OMP_NUM_THREADS");
        psi.Environment.Remove("MKL_NUM_THREADS");
        foreach (var (key, value) in environment)
        {
            if (value is null) psi.Environment.Remove(key);
            else psi.Environment[key] = value;
        }
        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new InvalidOperationException("Process.Start returned null");
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            failure = $"cannot start {file}: {e.Message}";
            return null;
        }
        string? line = process.StandardOutput.ReadLine();
        JsonNode? ready = null;
        try { ready = line is null ? null : JsonNode.Parse(line); }
        catch (System.Text.Json.JsonException) { }
        if (ready?["ready"]?.GetValue<bool>() != true)
        {
            failure = ready?["error"]?.GetValue<string>() ?? $"no ready line from {file} (got: {line ?? "end of output"})";
            try { process.Kill(); } catch (InvalidOperationException) { }
            process.Dispose();
            return null;
        }
        failure = null;
        return new Peer(process, ready, "");
    }

    /// <summary>Sends one request; returns the reply, or throws <see cref="PeerException"/> with the peer's error.</summary>
    public JsonNode Ask(JsonObject request)
    {
        try
        {
            _process.StandardInput.WriteLine(request.ToJsonString());
            _process.StandardInput.Flush();
        }
        catch (IOException e)
        {
            throw new PeerException($"the peer process ended ({e.Message})");
        }
        string line = _process.StandardOutput.ReadLine() ?? throw new PeerException("the peer process ended");
        var reply = JsonNode.Parse(line) ?? throw new PeerException($"malformed reply: {line}");
        if (reply["error"] is JsonNode error) throw new PeerException(error.GetValue<string>());
        return reply;
    }

    /// <summary>Sends a timing request and appends the returned per-call times (ms).</summary>
    public JsonNode AskTimes(JsonObject request, List<double> times)
    {
        var reply = Ask(request);
        if (reply["times_ms"] is not JsonArray array) throw new PeerException("reply without times_ms");
        foreach (var t in array) times.Add(t!.GetValue<double>());
        return reply;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        try
        {
            _process.StandardInput.Close();
            if (!_process.WaitForExit(10_000)) _process.Kill();
        }
        catch (Exception e) when (e is InvalidOperationException or IOException) { }
        _process.Dispose();
    }
}

/// <summary>The peer reported an error (or died); the message is its own.</summary>
public sealed class PeerException(string message) : Exception(message);

/// <summary>The peers of a run, started once.</summary>
public sealed class Peers : IDisposable
{
    /// <summary>torch_peer.py (Debian's torch), or null.</summary>
    public Peer? Torch { get; private set; }

    /// <summary>oneDNN limited to AVX2 (<c>ONEDNN_MAX_CPU_ISA=AVX2</c>): the primary peer.</summary>
    public Peer? OneDnn { get; private set; }

    /// <summary>oneDNN with its default ISA (AVX-512 on this machine): informational.</summary>
    public Peer? OneDnnWide { get; private set; }

    public string TorchNote { get; private set; } = "not run";
    public string OneDnnNote { get; private set; } = "not run";
    public string OneDnnWideNote { get; private set; } = "not run";

    public static Peers Start(Options o)
    {
        var peers = new Peers();
        if (o.Torch)
        {
            var env = new Dictionary<string, string?>();
            string malloc = "glibc malloc defaults";
            if (o.TorchKeepFreedMemory)
            {
                // PyTorch allocates every result afresh; with glibc's defaults a multi-megabyte tensor is mmap'ed and
                // unmapped per call and page-faulted in again (measured here: depthwise backward 14 ms instead of 0.5 ms).
                // PyTorch's tuning guide recommends jemalloc/tcmalloc for the same reason.
                env["MALLOC_MMAP_THRESHOLD_"] = "33554432";
                env["MALLOC_TRIM_THRESHOLD_"] = "4294967296";
                malloc = "MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=4294967296";
            }
            string script = Path.Combine(AppContext.BaseDirectory, "torch_peer.py");
            peers.Torch = Peer.TryStart(o.Python, ["-u", script], env, out string? failure);
            if (peers.Torch is { } t)
            {
                var r = t.Ready;
                t.Description = $"torch {r["torch"]} (python {r["python"]}, {(r["mkldnn"]?.GetValue<bool>() == true ? "oneDNN" : "no oneDNN")}, "
                    + $"ATen CPU capability {r["capability"]}, oneDNN library {r["dnnl"]} at its default ISA; {malloc})";
            }
            peers.TorchNote = peers.Torch?.Description ?? $"not available: {failure}";
        }
        if (o.OneDnn)
        {
            if (o.OneDnnPath is null || !File.Exists(o.OneDnnPath))
            {
                peers.OneDnnNote = peers.OneDnnWideNote = $"not available: no harness binary (--onednn {o.OneDnnPath ?? "not given"}; scripts/bench.sh builds it)";
            }
            else
            {
                peers.OneDnn = StartOneDnn(o.OneDnnPath, "AVX2", out string note);
                peers.OneDnnNote = note;
                if (o.OneDnnWide)
                {
                    peers.OneDnnWide = StartOneDnn(o.OneDnnPath, null, out note);
                    peers.OneDnnWideNote = note;
                }
            }
        }
        return peers;
    }

    private static Peer? StartOneDnn(string path, string? maxIsa, out string note)
    {
        var env = new Dictionary<string, string?> { ["ONEDNN_MAX_CPU_ISA"] = maxIsa, ["DNNL_MAX_CPU_ISA"] = null };
        var peer = Peer.TryStart(path, [], env, out string? failure);
        if (peer is null)
        {
            note = $"not available: {failure}";
            return null;
        }
        var r = peer.Ready;
        peer.Description = $"oneDNN {r["onednn"]} ({r["cpu_runtime"]}), "
            + $"{(maxIsa is null ? "default ISA" : $"ONEDNN_MAX_CPU_ISA={maxIsa}")} → effective ISA {r["isa"]}";
        note = peer.Description;
        return peer;
    }

    public void Dispose()
    {
        Torch?.Dispose();
        OneDnn?.Dispose();
        OneDnnWide?.Dispose();
    }
}

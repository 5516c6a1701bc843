using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Text.Json.Nodes;

namespace ConvGen.TrainingBenchmarks;

/// <summary>
/// torch_training_peer.py as a child process, alive for the whole run: one JSON request per line, one JSON reply per
/// line. While the peer measures, the harness blocks on the pipe, and the other way round, so the two never compete
/// for the cores.
/// </summary>
public sealed class TorchPeer : IDisposable
{
    private readonly Process _process;

    private TorchPeer(Process process, string description)
    {
        _process = process;
        Description = description;
    }

    /// <summary>Versions and settings, for the report.</summary>
    public string Description { get; }

    /// <summary>
    /// Starts the peer. With <paramref name="keepFreedMemory"/>, glibc malloc keeps freed blocks up to 32 MiB in the
    /// heap instead of unmapping them: PyTorch allocates every gradient tensor afresh, and with the defaults a large
    /// one comes back from the kernel as new pages on every call (measured here: depthwise backward 14 ms instead of
    /// 0.5 ms). PyTorch's performance guide recommends jemalloc/tcmalloc for the same reason.
    /// </summary>
    public static TorchPeer? TryStart(string python, string script, bool keepFreedMemory, out string? failure)
    {
        if (!File.Exists(script))
        {
            failure = $"{script} not found";
            return null;
        }
        var psi = new ProcessStartInfo(python)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add("-u");
        psi.ArgumentList.Add(script);
        string malloc = "glibc malloc defaults";
        if (keepFreedMemory)
        {
            psi.Environment["MALLOC_MMAP_THRESHOLD_"] = "33554432";
            psi.Environment["MALLOC_TRIM_THRESHOLD_"] = "4294967296";
            malloc = "MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=4294967296";
        }
        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new InvalidOperationException("Process.Start returned null");
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            failure = $"cannot start {python}: {e.Message}";
            return null;
        }
        string? line = process.StandardOutput.ReadLine();
        JsonNode? ready = null;
        try { ready = line is null ? null : JsonNode.Parse(line); }
        catch (System.Text.Json.JsonException) { }
        if (ready?["ready"]?.GetValue<bool>() != true)
        {
            failure = ready?["error"]?.GetValue<string>() ?? $"no ready line from the peer (got: {line ?? "end of output"})";
            try { process.Kill(); } catch (InvalidOperationException) { }
            process.Dispose();
            return null;
        }
        failure = null;
        return new TorchPeer(process,
            $"torch {ready["torch"]} (python {ready["python"]}, {(ready["mkldnn"]?.GetValue<bool>() == true ? "oneDNN" : "no oneDNN")}, " +
            $"CPU capability {ready["capability"]}; {malloc})");
    }

    /// <summary>Sends one request; returns the reply, or throws <see cref="PeerException"/> with the peer's error.</summary>
    public JsonNode Ask(JsonObject request)
    {
        _process.StandardInput.WriteLine(request.ToJsonString());
        _process.StandardInput.Flush();
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

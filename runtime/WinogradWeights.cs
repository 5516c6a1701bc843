using System;
using System.ComponentModel;
using System.Runtime.Intrinsics;

namespace ConvGen;

/// <summary>
/// A 3x3 convolution's weights (or its backward-data kernel's transposed weights) transformed for the Winograd
/// F(2×2, 3×3) kernel: <c>U = G·W·Gᵀ</c>, a 4×4 matrix per
/// (output, input) channel pair, stored as <c>[ξ][output group][input][32]</c> (ξ = 4·row + column of U; groups of 32
/// output channels, the kernel's register tile). <see cref="Refresh"/>, at the start of each Forward, rebuilds the groups
/// whose weights changed since it last saw them; the buffers are allocated once.
/// </summary>
/// <remarks>
/// Refresh compares the weights with its own copy of them, bit for bit, rather than trusting a version number: whoever
/// writes <see cref="Parameter.Values"/> (an optimizer, a load, the user's own code) needs to do nothing. The comparison
/// reads the weights and the copy (2.4 MB each for 256→256, 4.7 MB per call; a transform reads 2.4 MB and writes 4 MB),
/// and a step of training changes every weight, so a Forward after it transforms them all.
/// </remarks>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed unsafe class WinogradWeights
{
    /// <summary>Output channels per group: four NCHW8c blocks, the width of the kernel's register tile.</summary>
    public const int GroupChannels = 32;

    private readonly object _owner; // the Parameter or TransposedWeights whose pinned array _source points into
    private readonly float* _source;
    private readonly float[] _transformed;
    private readonly int[] _seen; // the weights as last transformed, bit for bit
    private readonly int _inChannels, _groups;
    private bool _primed; // every group transformed at least once

    // Below this many floats (256 KiB) a refresh is over before a hand-off to another thread would pay.
    private const int ParallelFloats = 1 << 16;

    private WinogradWeights(object owner, float* source, int outChannels, int inChannels)
    {
        _owner = owner;
        _source = source;
        _inChannels = inChannels;
        _groups = outChannels / GroupChannels;
        _transformed = GC.AllocateArray<float>(16 * outChannels * inChannels, pinned: true);
        _seen = GC.AllocateArray<int>(outChannels * inChannels * 9, pinned: true);
    }

    /// <summary>
    /// For a dense 3x3 layer's forward kernel: its weights, packed by <c>ParameterLayout.ConvBlocked(O, I, 1, 3, 3)</c>
    /// as <c>[O/8][I][3·3][8]</c>. The output channels must be a multiple of <see cref="GroupChannels"/>.
    /// </summary>
    public static WinogradWeights ForConv3x3(Parameter weight, int inChannels)
    {
        int outChannels = weight.Shape.Count == 4 ? weight.Shape[0] : 0;
        if (weight.Shape.Count != 4 || weight.Shape[1] != inChannels || weight.Shape[2] != 3 || weight.Shape[3] != 3 || outChannels % GroupChannels != 0)
            throw new ArgumentException($"Winograd weights need a dense 3x3 layer with a multiple of {GroupChannels} outputs and {inChannels} inputs, but {weight.Name} has shape [{string.Join(", ", weight.Shape)}].", nameof(weight));
        return new WinogradWeights(weight, weight.Pointer, outChannels, inChannels);
    }

    /// <summary>
    /// For a dense 3x3 layer's backward-data kernel: its weights transposed and flipped (<see cref="TransposedWeights.ForConv"/>),
    /// packed the same way with the layer's inputs as <paramref name="outChannels"/>, which must be a multiple of
    /// <see cref="GroupChannels"/>.
    /// </summary>
    public static WinogradWeights ForConv3x3(TransposedWeights weights, int outChannels, int inChannels)
    {
        if (outChannels % GroupChannels != 0 || inChannels <= 0 || weights.Length != outChannels * inChannels * 9)
            throw new ArgumentException($"Winograd weights need a dense 3x3 kernel with a multiple of {GroupChannels} outputs: {outChannels} outputs × {inChannels} inputs × 9 taps, but the transposed weights hold {weights.Length} floats.", nameof(weights));
        return new WinogradWeights(weights, weights.Pointer, outChannels, inChannels);
    }

    /// <summary>The transformed weights (pinned).</summary>
    public float* Pointer => (float*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(_transformed));

    private struct Job
    {
        public float* Source, Target;
        public int* Seen;
        public int In, Groups;
        public bool Primed;
    }

    /// <summary>
    /// Brings the transformed weights up to date with the parameter's current values. Concurrent Forwards take turns:
    /// a caller must not find its weights equal to the copy while another is still transforming them.
    /// </summary>
    public void Refresh()
    {
        lock (_seen) RefreshLocked();
    }

    private void RefreshLocked()
    {
        var job = new Job
        {
            Source = _source, Target = Pointer, In = _inChannels, Groups = _groups, Primed = _primed,
            Seen = (int*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(_seen)),
        };
        if (_transformed.Length >= ParallelFloats) Parallelism.For(_groups, &RefreshGroups, &job);
        else RefreshGroups(&job, 0, _groups);
        _primed = true;
    }

    /// <summary>Output groups [begin, end): each whose packed weights (one contiguous run) differ from the copy is copied and transformed.</summary>
    private static void RefreshGroups(void* state, int begin, int end)
    {
        var job = (Job*)state;
        int run = 4 * job->In * 72; // 4 blocks × I inputs × 9 taps × 8 lanes
        for (int og = begin; og < end; og++)
        {
            var current = new ReadOnlySpan<int>((int*)job->Source + (long)og * run, run);
            var seen = new Span<int>(job->Seen + (long)og * run, run);
            if (job->Primed && current.SequenceEqual(seen)) continue;
            current.CopyTo(seen);
            // From the copy, not the weights: what is transformed is then exactly what the next compare checks against.
            Transform((float*)job->Seen, job->Target, job->In, job->Groups, og);
        }
    }

    /// <summary>
    /// Output group <paramref name="og"/> from packed weights at <paramref name="source"/>: for each of its 8-channel blocks and each input channel, the nine weight vectors
    /// (8 output channels each) become the 16 of <c>U = G·W·Gᵀ</c>, where G's rows are (1, 0, 0), ½(1, 1, 1),
    /// ½(1, −1, 1) and (0, 0, 1).
    /// </summary>
    private static void Transform(float* source, float* target, int inChannels, int groups, int og)
    {
        long xiStride = (long)groups * inChannels * GroupChannels;
        var half = Vector256.Create(0.5f);
        Span<Vector256<float>> gw = stackalloc Vector256<float>[12]; // G·W, 4 rows × 3 columns
        for (int k = 0; k < GroupChannels / 8; k++)
            for (int i = 0; i < inChannels; i++)
            {
                float* g = source + ((long)(og * 4 + k) * inChannels + i) * 72;
                float* u = target + ((long)og * inChannels + i) * GroupChannels + k * 8;
                // Rows of G·W, one per column c of W: (w0c, ½(w0c + w1c + w2c), ½(w0c − w1c + w2c), w2c).
                for (int c = 0; c < 3; c++)
                {
                    Vector256<float> w0 = Vector256.Load(g + c * 8), w1 = Vector256.Load(g + (3 + c) * 8), w2 = Vector256.Load(g + (6 + c) * 8);
                    gw[c] = w0;
                    gw[3 + c] = half * (w0 + w1 + w2);
                    gw[6 + c] = half * (w0 - w1 + w2);
                    gw[9 + c] = w2;
                }
                // Each row of G·W times Gᵀ.
                for (int r = 0; r < 4; r++)
                {
                    Vector256<float> a0 = gw[r * 3], a1 = gw[r * 3 + 1], a2 = gw[r * 3 + 2];
                    Vector256.Store(a0, u + (r * 4 + 0) * xiStride);
                    Vector256.Store(half * (a0 + a1 + a2), u + (r * 4 + 1) * xiStride);
                    Vector256.Store(half * (a0 - a1 + a2), u + (r * 4 + 2) * xiStride);
                    Vector256.Store(a2, u + (r * 4 + 3) * xiStride);
                }
            }
    }
}

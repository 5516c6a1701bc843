using System;
using System.ComponentModel;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ConvGen;

/// <summary>
/// A 3x3 convolution's weights transformed for the Winograd F(2×2, 3×3) kernel, <c>U = G·W·Gᵀ</c>, either as its
/// forward kernel reads them or (<see cref="ForConv3x3DataGrad"/>) transposed and flipped as its backward-data kernel
/// reads them. A 4×4 matrix per (output, input) channel pair of the kernel, stored as
/// <c>[ξ][output group][input][32]</c> (ξ = 4·row + column of U; groups of 32 output channels, the kernel's register
/// tile). Or (<see cref="ForConvColumns"/>, <see cref="ForConvColumnsDataGrad"/>) a k×k convolution's weights
/// transformed down the columns for the Winograd F(2, k) kernel, <c>U = G·W</c>: k + 1 kernels of one row (k = 3 or 5),
/// or for a stride-2 7x7 layer 9, F(2, 4) over its even kernel rows and F(2, 3) over its odd ones.
/// <see cref="Refresh"/>, at the start of each Forward (or Backward), redoes the parts whose weights changed since it
/// last saw them; the buffers are allocated once.
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

    private readonly Parameter _weight; // the layer's packed weights: [O/8][I][k·k][8]
    private readonly float[] _transformed;
    private readonly int[] _seen; // the weights as last transformed, bit for bit
    private readonly int _inChannels, _outChannels, _groups; // the kernel's (backward-data: the layer's transposed)
    // The source in runs that Refresh compares and transforms independently (one thread each): groups of 32 output
    // channels of the 3x3 kernel; for 3x3 backward-data and both column kinds, blocks of 8 of the layer's outputs (the
    // packing's unit).
    private readonly int _runs;
    private readonly Kind _kind;
    private bool _primed; // every run transformed at least once

    private enum Kind { Forward3x3, DataGrad3x3, Columns, ColumnsDataGrad }
    private readonly int _k; // the column kinds' kernel size, 3, 5 or (stride 2) 7
    private readonly int _points; // the column kinds' one-row kernels per column of weights: k + 1, or 9 for the stride-2 7x7

    // Below this many floats (256 KiB) a refresh is over before a hand-off to another thread would pay.
    private const int ParallelFloats = 1 << 16;

    private WinogradWeights(Parameter weight, int outChannels, int inChannels, Kind kind, int stride = 1)
    {
        _weight = weight;
        _inChannels = inChannels;
        _outChannels = outChannels;
        _kind = kind;
        if (kind is Kind.Columns or Kind.ColumnsDataGrad)
        {
            // Runs of one block of 8 of the layer's outputs (the packing's unit: [O/8][I][k·k][8], lanes past O zero).
            // Backward-data's kernel has the layer's inputs as its outputs (outChannels here) and its outputs as inputs.
            int layerOutputs = kind == Kind.Columns ? outChannels : inChannels, layerInputs = kind == Kind.Columns ? inChannels : outChannels;
            _k = weight.Shape[3];
            _points = stride == 2 ? 9 : _k + 1;
            _groups = (outChannels + 7) / 8;
            _runs = (layerOutputs + 7) / 8;
            _transformed = GC.AllocateArray<float>(_points * _groups * inChannels * _k * 8, pinned: true);
            _seen = GC.AllocateArray<int>(_runs * layerInputs * _k * _k * 8, pinned: true);
            return;
        }
        _groups = outChannels / GroupChannels;
        _runs = kind == Kind.DataGrad3x3 ? inChannels / 8 : _groups;
        _transformed = GC.AllocateArray<float>(16 * outChannels * inChannels, pinned: true);
        _seen = GC.AllocateArray<int>(outChannels * inChannels * 9, pinned: true);
    }

    /// <summary>
    /// For a dense 3x3 layer's forward kernel: its weights, packed by <c>ParameterLayout.ConvBlocked(O, I, 1, 3, 3)</c>
    /// as <c>[O/8][I][3·3][8]</c>. The output channels must be a multiple of <see cref="GroupChannels"/>.
    /// </summary>
    public static WinogradWeights ForConv3x3(Parameter weight, int inChannels)
    {
        int outChannels = Dense3x3Outputs(weight, inChannels);
        if (outChannels == 0 || outChannels % GroupChannels != 0)
            throw new ArgumentException($"Winograd weights need a dense 3x3 layer with a multiple of {GroupChannels} outputs and {inChannels} inputs, but {weight.Name} has shape {ShapeOf(weight)}.", nameof(weight));
        return new WinogradWeights(weight, outChannels, inChannels, Kind.Forward3x3);
    }

    /// <summary>
    /// For a dense 3x3 layer's backward-data kernel, a convolution from the layer's outputs to its
    /// <paramref name="inChannels"/> inputs over <c>W'[i][o][y][x] = W[o][i][2−y][2−x]</c>: transposed and flipped
    /// straight from the layer's packed weights (what <see cref="TransposedWeights.ForConv"/> would give, without that
    /// copy). The inputs must be a multiple of <see cref="GroupChannels"/>, the outputs of 8.
    /// </summary>
    public static WinogradWeights ForConv3x3DataGrad(Parameter weight, int inChannels)
    {
        int outChannels = Dense3x3Outputs(weight, inChannels);
        if (outChannels == 0 || outChannels % 8 != 0 || inChannels % GroupChannels != 0)
            throw new ArgumentException($"Winograd backward-data weights need a dense 3x3 layer with a multiple of {GroupChannels} inputs and of 8 outputs, {inChannels} inputs here, but {weight.Name} has shape {ShapeOf(weight)}.", nameof(weight));
        return new WinogradWeights(weight, inChannels, outChannels, Kind.DataGrad3x3);
    }

    /// <summary>
    /// For a dense k×k layer's column Winograd kernel (F(2, k) down the columns, k = 3 or 5 at stride 1): its weights,
    /// packed by <c>ParameterLayout.ConvBlocked(O, I, 1, k, k)</c> as <c>[O/8][I][k·k][8]</c>, become k + 1 kernels of one
    /// row <c>U[ξ] = G[ξ,ΔY]·W[·,·,ΔY,·]</c> packed as a 1×k layer's, <c>[ξ][O/8][I][k][8]</c>. A 7x7 layer of
    /// <paramref name="stride"/> 2 gets 9: F(2, 4)'s 5 over kernel rows 0, 2, 4, 6, then F(2, 3)'s 4 over rows 1, 3, 5.
    /// </summary>
    public static WinogradWeights ForConvColumns(Parameter weight, int inChannels, int stride = 1)
    {
        if (stride is not (1 or 2))
            throw new ArgumentOutOfRangeException(nameof(stride), stride, "Column Winograd weights take a stride of 1 (3x3, 5x5) or 2 (7x7).");
        int outChannels = ColumnsOutputs(weight, inChannels, "Column Winograd weights", stride);
        return new WinogradWeights(weight, outChannels, inChannels, Kind.Columns, stride);
    }

    /// <summary>
    /// For the backward-data kernel of a dense k×k layer with <paramref name="inChannels"/> inputs that runs down the
    /// columns: a convolution from the layer's outputs to its inputs over <c>W'[i][o][y][x] = W[o][i][k−1−y][k−1−x]</c>,
    /// transposed and flipped straight from the layer's packed weights into k + 1 one-row kernels <c>[ξ][I/8][O][k][8]</c>.
    /// </summary>
    public static WinogradWeights ForConvColumnsDataGrad(Parameter weight, int inChannels)
    {
        int outChannels = ColumnsOutputs(weight, inChannels, "Column Winograd backward-data weights");
        return new WinogradWeights(weight, inChannels, outChannels, Kind.ColumnsDataGrad);
    }

    /// <summary>
    /// The output channels of <paramref name="weight"/>, which must be a dense layer's with <paramref name="inChannels"/>
    /// inputs, 3x3 or 5x5 at <paramref name="stride"/> 1 and 7x7 at stride 2, packed by <c>ParameterLayout.ConvBlocked</c>
    /// (Refresh reads whole blocks of 8 outputs).
    /// </summary>
    private static int ColumnsOutputs(Parameter weight, int inChannels, string what, int stride = 1)
    {
        string kernels = stride == 1 ? "3x3 or 5x5" : "7x7";
        if (weight.Shape is not [int outChannels, int i, int kh, int kw] || i != inChannels || kh != kw || (stride == 1 ? kh is not (3 or 5) : kh != 7))
            throw new ArgumentException($"{what} need a dense {kernels} layer with {inChannels} inputs for stride {stride}, but {weight.Name} has shape {ShapeOf(weight)}.", nameof(weight));
        long packed = (long)(outChannels + 7) / 8 * 8 * inChannels * kh * kw;
        if (weight.Values.Length < packed)
            throw new ArgumentException($"{what} need {weight.Name} packed in blocks of 8 outputs ({packed} floats), but it holds {weight.Values.Length}.", nameof(weight));
        return outChannels;
    }

    /// <summary>The output channels of <paramref name="weight"/> if it is a dense 3x3 layer's with <paramref name="inChannels"/> inputs, else 0.</summary>
    private static int Dense3x3Outputs(Parameter weight, int inChannels) => weight.Shape is [int o, int i, 3, 3] && i == inChannels ? o : 0;

    private static string ShapeOf(Parameter weight) => $"[{string.Join(", ", weight.Shape)}]";

    /// <summary>The transformed weights (pinned).</summary>
    public float* Pointer => (float*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(_transformed));

    private struct Job
    {
        public float* Source, Target;
        public int* Seen;
        public int In, Out, Groups, K, Points;
        public bool Primed;
        public Kind Kind;
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
            Source = _weight.Pointer, Target = Pointer, In = _inChannels, Out = _outChannels, K = _k, Points = _points, Groups = _groups, Primed = _primed, Kind = _kind,
            Seen = (int*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(_seen)),
        };
        if (_transformed.Length >= ParallelFloats) Parallelism.For(_runs, &RefreshRuns, &job);
        else RefreshRuns(&job, 0, _runs);
        _primed = true;
    }

    /// <summary>Runs [begin, end) of the source: each that differs from the copy is copied and transformed.</summary>
    private static void RefreshRuns(void* state, int begin, int end)
    {
        var job = (Job*)state;
        // Forward: a group's 4 blocks × I inputs × 9 taps × 8 lanes. Backward-data: one block of 8 of the layer's
        // outputs (the kernel's inputs, In) over all its inputs (the kernel's outputs, 32 per group). Columns: one block
        // of 8 outputs × I inputs × k·k taps × 8 lanes.
        int run = job->Kind switch
        {
            Kind.DataGrad3x3 => job->Groups * GroupChannels * 72,
            Kind.Columns => job->In * job->K * job->K * 8,
            Kind.ColumnsDataGrad => job->Out * job->K * job->K * 8, // the kernel's outputs are the layer's inputs
            _ => 4 * job->In * 72,
        };
        for (int r = begin; r < end; r++)
        {
            var current = new ReadOnlySpan<int>((int*)job->Source + (long)r * run, run);
            var seen = new Span<int>(job->Seen + (long)r * run, run);
            if (job->Primed && current.SequenceEqual(seen)) continue;
            current.CopyTo(seen);
            // From the copy, not the weights: what is transformed is then exactly what the next compare checks against.
            if (job->Kind == Kind.DataGrad3x3) TransformTransposed((float*)job->Seen, job->Target, job->In, job->Groups, r);
            else if (job->Kind == Kind.Columns) TransformColumns((float*)job->Seen, job->Target, job->In, job->Groups, job->K, job->Points, r);
            else if (job->Kind == Kind.ColumnsDataGrad) TransformColumnsTransposed((float*)job->Seen, job->Target, job->In, job->Groups, job->Out, job->K, r);
            else Transform((float*)job->Seen, job->Target, job->In, job->Groups, r);
        }
    }

    /// <summary>
    /// Output group <paramref name="og"/> from packed weights at <paramref name="source"/>: for each of its 8-channel
    /// blocks and each input channel, the nine weight vectors (8 output channels each) become the 16 of U.
    /// </summary>
    private static void Transform(float* source, float* target, int inChannels, int groups, int og)
    {
        long xiStride = (long)groups * inChannels * GroupChannels;
        for (int k = 0; k < GroupChannels / 8; k++)
            for (int i = 0; i < inChannels; i++)
                TransformWindow(source + ((long)(og * 4 + k) * inChannels + i) * 72, target + ((long)og * inChannels + i) * GroupChannels + k * 8, xiStride);
    }

    /// <summary>
    /// Block <paramref name="ob"/> of the layer's outputs (the backward-data kernel's inputs, <paramref name="inChannels"/>
    /// of them) from the layer's packed weights <c>[O/8][I][9][8]</c>, I = 32·<paramref name="groups"/>: for each block
    /// of 8 layer inputs, each tap's 8×8 block is transposed (lanes become layer inputs, the kernel's outputs) into a
    /// window per layer output with its taps reversed (W' = W flipped), which then becomes the 16 vectors of U.
    /// </summary>
    private static void TransformTransposed(float* source, float* target, int inChannels, int groups, int ob)
    {
        int layerInputs = groups * GroupChannels;
        long xiStride = (long)layerInputs * inChannels;
        float* windows = stackalloc float[8 * 72]; // [layer output lane][flipped tap][8 layer inputs]
        for (int ib = 0; ib < layerInputs / 8; ib++)
        {
            for (int tap = 0; tap < 9; tap++)
            {
                float* block = source + ((long)ob * layerInputs + ib * 8) * 72 + tap * 8; // rows: layer inputs, 72 apart; lanes: outputs
                float* flipped = windows + (8 - tap) * 8;
                if (Avx.IsSupported) Registers.Transpose8x8(block, 72, flipped, 72);
                else
                    for (int i = 0; i < 8; i++)
                        for (int o = 0; o < 8; o++) flipped[o * 72 + i] = block[i * 72 + o];
            }
            for (int o = 0; o < 8; o++)
                TransformWindow(windows + o * 72, target + ((long)(ib / 4) * inChannels + ob * 8 + o) * GroupChannels + ib % 4 * 8, xiStride);
        }
    }

    /// <summary>
    /// Block <paramref name="ob"/> of 8 outputs from packed k×k weights <c>[O/8][I][k·k][8]</c>: for each input and kernel
    /// column, the k vectors of the column (ΔY = 0 … k − 1) become the <paramref name="points"/> of <c>U = G·W</c>: k + 1
    /// (<see cref="StoreColumn"/>), or 9 for a stride-2 7x7 (<see cref="StoreStride2Column"/>).
    /// </summary>
    private static void TransformColumns(float* source, float* target, int inChannels, int blocks, int k, int points, int ob)
    {
        long xiStride = (long)blocks * inChannels * k * 8;
        Span<Vector256<float>> column = stackalloc Vector256<float>[7];
        for (int i = 0; i < inChannels; i++)
            for (int kx = 0; kx < k; kx++)
            {
                float* w = source + ((long)ob * inChannels + i) * k * k * 8 + kx * 8;
                for (int ky = 0; ky < k; ky++) column[ky] = Vector256.Load(w + ky * k * 8);
                float* u = target + ((long)ob * inChannels + i) * k * 8 + kx * 8;
                if (points == 9) StoreStride2Column(column[..7], u, xiStride);
                else StoreColumn(column[..k], u, xiStride);
            }
    }

    /// <summary>
    /// Block <paramref name="ob"/> of 8 of the layer's outputs (the backward-data kernel's inputs, <paramref name="inChannels"/>
    /// of them) from the layer's packed weights <c>[O/8][I][k·k][8]</c>, I = <paramref name="layerInputs"/> in
    /// <paramref name="blocks"/> blocks of 8: each of the 8 outputs' columns, flipped, over 8 layer inputs at a time (the
    /// kernel's output lanes; past I, zero), becomes the k + 1 vectors of <c>U = G·W'</c>.
    /// </summary>
    private static void TransformColumnsTransposed(float* source, float* target, int inChannels, int blocks, int layerInputs, int k, int ob)
    {
        long xiStride = (long)blocks * inChannels * k * 8;
        Span<float> lanes = stackalloc float[5 * 8];
        Span<Vector256<float>> column = stackalloc Vector256<float>[5];
        for (int lane = 0; lane < 8 && ob * 8 + lane < inChannels; lane++)
            for (int ib = 0; ib < blocks; ib++)
                for (int kx = 0; kx < k; kx++)
                {
                    lanes.Clear();
                    for (int i = ib * 8; i < Math.Min(ib * 8 + 8, layerInputs); i++)
                        for (int ky = 0; ky < k; ky++)
                            lanes[ky * 8 + i - ib * 8] = source[((long)ob * layerInputs + i) * k * k * 8 + ((k - 1 - ky) * k + k - 1 - kx) * 8 + lane];
                    for (int ky = 0; ky < k; ky++) column[ky] = Vector256.Create((ReadOnlySpan<float>)lanes.Slice(ky * 8, 8));
                    StoreColumn(column[..k], target + ((long)ib * inChannels + ob * 8 + lane) * k * 8 + kx * 8, xiStride);
                }
    }

    /// <summary>
    /// The k vectors of one kernel column (ΔY = 0 … k − 1, 8 lanes each) → the k + 1 of <c>U = G·W</c> at
    /// <c>u + ξ·xiStride</c>. For k = 3, G's rows are (1, 0, 0), ½(1, 1, 1), ½(1, −1, 1) and (0, 0, 1); for k = 5,
    /// ¼(1, 0, 0, 0, 0), ⅙(1, 1, 1, 1, 1), ⅙(1, −1, 1, −1, 1), ¹⁄₂₄(1, 2, 4, 8, 16), ¹⁄₂₄(1, −2, 4, −8, 16) and
    /// (0, 0, 0, 0, 1) (the kernel's Bᵀ has the reciprocal scales, which keeps its entries small integers).
    /// </summary>
    private static void StoreColumn(ReadOnlySpan<Vector256<float>> w, float* u, long xiStride)
    {
        if (w.Length == 3)
        {
            Vector256.Store(w[0], u);
            Vector256.Store(0.5f * (w[0] + w[1] + w[2]), u + xiStride);
            Vector256.Store(0.5f * (w[0] - w[1] + w[2]), u + 2 * xiStride);
            Vector256.Store(w[2], u + 3 * xiStride);
            return;
        }
        Vector256<float> even = w[0] + w[2] + w[4], odd = w[1] + w[3]; // the points ±1
        Vector256<float> even2 = w[0] + 4 * w[2] + 16 * w[4], odd2 = 2 * w[1] + 8 * w[3]; // the points ±2
        Vector256.Store(0.25f * w[0], u);
        Vector256.Store((even + odd) / 6, u + xiStride);
        Vector256.Store((even - odd) / 6, u + 2 * xiStride);
        Vector256.Store((even2 + odd2) / 24, u + 3 * xiStride);
        Vector256.Store((even2 - odd2) / 24, u + 4 * xiStride);
        Vector256.Store(w[4], u + 5 * xiStride);
    }

    /// <summary>
    /// The 7 vectors of one column of a stride-2 7x7 kernel → the 9 of <c>U = G·W</c> at <c>u + ξ·xiStride</c>: the even
    /// rows (ΔY = 0, 2, 4, 6) by F(2, 4)'s G, whose rows are ½(1, 0, 0, 0), ½(1, 1, 1, 1), ⅙(1, −1, 1, −1),
    /// ⅙(1, 2, 4, 8) and (0, 0, 0, 1) (points 0, ±1, 2, ∞), then the odd rows (1, 3, 5) by F(2, 3)'s, as in
    /// <see cref="StoreColumn"/>.
    /// </summary>
    private static void StoreStride2Column(ReadOnlySpan<Vector256<float>> w, float* u, long xiStride)
    {
        Vector256<float> e0 = w[0], e1 = w[2], e2 = w[4], e3 = w[6];
        Vector256.Store(0.5f * e0, u);
        Vector256.Store(0.5f * (e0 + e1 + e2 + e3), u + xiStride);
        Vector256.Store((e0 - e1 + e2 - e3) / 6, u + 2 * xiStride);
        Vector256.Store((e0 + 2 * e1 + 4 * e2 + 8 * e3) / 6, u + 3 * xiStride);
        Vector256.Store(e3, u + 4 * xiStride);
        StoreColumn([w[1], w[3], w[5]], u + 5 * xiStride, xiStride);
    }

    /// <summary>
    /// The nine vectors of one 3x3 window at <paramref name="w"/> (tap = 3·row + column, 8 lanes each) → the 16 of
    /// <c>U = G·W·Gᵀ</c> at <c>u + ξ·xiStride</c>, where G's rows are (1, 0, 0), ½(1, 1, 1), ½(1, −1, 1) and (0, 0, 1).
    /// </summary>
    private static void TransformWindow(float* w, float* u, long xiStride)
    {
        var half = Vector256.Create(0.5f);
        Span<Vector256<float>> gw = stackalloc Vector256<float>[12]; // G·W, 4 rows × 3 columns
        // Rows of G·W, one per column c of W: (w0c, ½(w0c + w1c + w2c), ½(w0c − w1c + w2c), w2c).
        for (int c = 0; c < 3; c++)
        {
            Vector256<float> w0 = Vector256.Load(w + c * 8), w1 = Vector256.Load(w + (3 + c) * 8), w2 = Vector256.Load(w + (6 + c) * 8);
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

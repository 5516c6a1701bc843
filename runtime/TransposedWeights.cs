using System;
using System.ComponentModel;
using System.Runtime.Intrinsics.X86;

namespace ConvGen;

/// <summary>
/// A parameter's weights rearranged for a backward-data kernel, so that ∂loss/∂input runs through the same fast
/// forward kernels: for a convolution, weights transposed between input and output channels (per group) and flipped
/// in both spatial directions; for a Linear layer, the matrix transposed. <see cref="Refresh"/> rebuilds them from the
/// current values at the start of each Backward; all buffers are allocated once.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed unsafe class TransposedWeights
{
    private readonly Parameter _source;
    private readonly float[] _packed;
    // Dense weights (one group) are a transpose of 8×8 blocks: the source keeps 8 output channels in a vector per
    // (input channel, tap), the target 8 input channels per (output channel, flipped tap). Refresh moves whole blocks
    // through registers. Any other layout (grouped, depthwise) is a gather, _packed[_to[k]] = values[_from[k]], over
    // maps built once, so a Backward pays about one load and one store per weight.
    private readonly BlockJob? _dense;
    private readonly int[]? _tapsKeptAlive; // the pinned array _dense.Taps points into
    private readonly int[] _from, _to;

    // One dense Refresh: every pointer is to a pinned array, so it is built once; the threads that split the target
    // blocks share it. Taps[t] = the source tap (of SourceWindow) that becomes target tap t. Tile: blocks per tile of
    // both layouts (ParameterLayout.TileOffset), 1 for a convolution, ParameterLayout.LinearTileBlocks for a Linear layer.
    private struct BlockJob
    {
        public float* Source, Target;
        public int Out, In, SourceWindow, TargetWindow, Tile;
        public int* Taps;
    }

    // Below this many packed floats (256 KiB) a transpose is over before a hand-off to another thread would pay.
    private const int ParallelFloats = 1 << 16;

    private TransposedWeights(Parameter source, ParameterLayout target, int[] from, int[] to)
    {
        _source = source;
        _from = from;
        _to = to;
        _packed = GC.AllocateArray<float>(target.PackedLength, pinned: true);
    }

    private TransposedWeights(Parameter source, ParameterLayout target, int outChannels, int inChannels, int sourceWindow, int[] taps, int tile = 1)
        : this(source, target, [], [])
    {
        var pinnedTaps = GC.AllocateArray<int>(taps.Length, pinned: true);
        taps.CopyTo(pinnedTaps, 0);
        _dense = new BlockJob
        {
            Source = source.Pointer, Target = Pointer, Out = outChannels, In = inChannels, SourceWindow = sourceWindow, TargetWindow = taps.Length, Tile = tile,
            Taps = (int*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(pinnedTaps)),
        };
        _tapsKeptAlive = pinnedTaps;
    }

    /// <summary>The rearranged, packed weights (pinned).</summary>
    public float* Pointer => (float*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(_packed));

    /// <summary>Rebuilds the packed copy from the parameter's current values.</summary>
    public void Refresh()
    {
        if (_dense is { } job)
        {
            // Split by whole target tiles, as the backward-data kernel's items are (a Linear layer's 3 blocks): a tile's
            // blocks share cache lines, so a split inside one would have both cores write them.
            int tiles = (ParameterLayout.Blocks(job.In) + job.Tile - 1) / job.Tile;
            if (_packed.Length >= ParallelFloats) Parallelism.For(tiles, &TransposeTiles, &job);
            else TransposeTiles(&job, 0, tiles);
            return;
        }
        var values = _source.Values;
        var packed = _packed;
        var from = _from;
        var to = _to;
        for (int k = 0; k < from.Length; k++) packed[to[k]] = values[from[k]];
    }

    /// <summary>Target tiles [begin, end) of the <see cref="BlockJob"/> at state: their blocks, by <see cref="TransposeBlocks"/>.</summary>
    private static void TransposeTiles(void* state, int begin, int end)
    {
        var job = (BlockJob*)state;
        TransposeBlocks(state, begin * job->Tile, Math.Min(end * job->Tile, ParameterLayout.Blocks(job->In)));
    }

    /// <summary>
    /// <c>target[((ib·O + o)·T + t)·8 + i%8] = source[((o/8·I + i)·S + taps[t])·8 + o%8]</c> for the <c>T</c> target
    /// taps (with tiles of several blocks, each block's rows interleaved with its tile's others: see
    /// <see cref="ParameterLayout.TileOffset"/>): packed <c>O → I</c> weights into packed <c>I → O</c> weights, taps
    /// picked (and reversed) by the map. Lanes of partial blocks stay zero. One call does target (input-channel)
    /// blocks [begin, end) of the <see cref="BlockJob"/> at state. At batch 1 those are the blocks the same thread's part of the backward-data kernel reads (its tiles of
    /// ∂X channels; at larger batches its items go sample by sample and every thread reads every block), so each core
    /// rewrites only lines it read itself. Split by source blocks instead, each core rewrote lines the other had read
    /// in the last Backward: 256→256 3x3 at batch 1 took 117 µs at 2 threads against 79 at 1; split this way, 71 µs
    /// (medians of 3-6 alternating runs). Walking the target blocks outermost did 51 µs at 2 threads but 121 at 1.
    /// </summary>
    private static void TransposeBlocks(void* state, int begin, int end)
    {
        var job = (BlockJob*)state;
        float* source = job->Source, target = job->Target;
        int outChannels = job->Out, inChannels = job->In, sourceWindow = job->SourceWindow, targetWindow = job->TargetWindow, tile = job->Tile;
        int* taps = job->Taps;
        int outBlocks = ParameterLayout.Blocks(outChannels), inBlocks = ParameterLayout.Blocks(inChannels);
        int sourceRows = inChannels * sourceWindow, targetRows = outChannels * targetWindow;
        // Where (channel, tap) row `row` of a block starts in either layout.
        float* SourceAt(int block, int row) => source + ParameterLayout.TileOffset(block, row, sourceRows, outBlocks, tile);
        float* TargetAt(int block, int row) => target + ParameterLayout.TileOffset(block, row, targetRows, inBlocks, tile);
        for (int ob = 0; ob < outBlocks; ob++)
        {
            int outLanes = Math.Min(8, outChannels - ob * 8);
            // From one (channel, tap) row of the block to the next, and from one channel to the next: a window of rows.
            int sourceStep = ParameterLayout.TileRowStride(ob, outBlocks, tile), sourceRow = sourceWindow * sourceStep;
            for (int ib = begin; ib < end; ib++)
            {
                int inLanes = Math.Min(8, inChannels - ib * 8);
                int targetStep = ParameterLayout.TileRowStride(ib, inBlocks, tile), rowStride = targetWindow * targetStep;
                // A wide layer's weights (256→256 3x3: 2.3 MB each way) have left L2 by the time Backward refreshes
                // them, and a transpose reads its block as 8 rows a window apart, tap by tap, which the hardware
                // prefetcher does not run ahead of. Asking for the next block's source and target lines halved the
                // 256→256 refresh (0.30 → 0.14 ms at 1 thread); the target's lines alone did not help.
                // The next block is the next row's first one at the end of a row.
                int nextOb = ib + 1 < end ? ob : ob + 1, nextIb = ib + 1 < end ? ib + 1 : begin;
                if (nextOb < outBlocks && Sse.IsSupported)
                {
                    float* nextSource = SourceAt(nextOb, nextIb * 8 * sourceWindow);
                    float* nextTarget = TargetAt(nextIb, nextOb * 8 * targetWindow);
                    int nextSourceRow = sourceWindow * ParameterLayout.TileRowStride(nextOb, outBlocks, tile);
                    int nextRowStride = targetWindow * ParameterLayout.TileRowStride(nextIb, inBlocks, tile);
                    for (int line = 0; line < 8 * nextSourceRow; line += 16) Sse.Prefetch0(nextSource + line);
                    for (int line = 0; line < 8 * nextRowStride; line += 16) Sse.Prefetch0(nextTarget + line);
                }
                // The block pair's first rows; a tap moves on by whole rows within each.
                float* sourceBlock = SourceAt(ob, ib * 8 * sourceWindow), targetBlock = TargetAt(ib, ob * 8 * targetWindow);
                for (int tap = 0; tap < targetWindow; tap++)
                {
                    float* s = sourceBlock + taps[tap] * sourceStep;
                    float* t = targetBlock + tap * targetStep;
                    if (outLanes == 8 && inLanes == 8 && Avx.IsSupported)
                    {
                        Registers.Transpose8x8(s, sourceRow, t, rowStride);
                        continue;
                    }
                    for (int o = 0; o < outLanes; o++)
                        for (int i = 0; i < inLanes; i++)
                            t[o * rowStride + i] = s[i * sourceRow + o];
                }
            }
        }
    }

    /// <summary>
    /// Conv weights <c>[O][I/g][kh][kw]</c> → <c>[I][O/g][kh][kw]</c> with <c>W'[i][o'][y][x] = W[g·O/g + o'][i − g·I/g][kh−1−y][kw−1−x]</c>,
    /// packed as the forward kernel of an <c>O → I</c> convolution expects (depthwise stays depthwise).
    /// </summary>
    public static TransposedWeights ForConv(Parameter weight, int inChannels, int groups, int kh, int kw)
        => ForConvPhase(weight, inChannels, groups, kh, kw, stride: 1, rowPhase: 0, colPhase: 0);

    /// <summary>
    /// The taps of <see cref="ForConv"/>'s <c>W'</c> that one output phase of a strided layer's backward-data uses:
    /// rows <c>rowPhase + stride·j</c> and columns <c>colPhase + stride·i</c> of the flipped window, as a
    /// <c>⌈(kh − rowPhase)/stride⌉ × ⌈(kw − colPhase)/stride⌉</c> kernel.
    /// </summary>
    public static TransposedWeights ForConvPhase(Parameter weight, int inChannels, int groups, int kh, int kw, int stride, int rowPhase, int colPhase)
    {
        int outChannels = weight.Shape[0], inPerGroup = inChannels / groups, outPerGroup = outChannels / groups, window = kh * kw;
        int rows = (kh - rowPhase + stride - 1) / stride, cols = (kw - colPhase + stride - 1) / stride;
        var taps = new int[rows * cols];
        for (int j = 0; j < rows; j++)
            for (int i = 0; i < cols; i++)
                taps[j * cols + i] = window - 1 - ((rowPhase + stride * j) * kw + colPhase + stride * i);
        bool depthwise = groups > 1 && groups == inChannels && groups == outChannels;
        var target = depthwise ? ParameterLayout.Depthwise(inChannels, rows, cols) : ParameterLayout.ConvBlocked(inChannels, outChannels, groups, rows, cols);
        if (groups == 1) return new TransposedWeights(weight, target, outChannels, inChannels, window, taps);
        var from = new int[outChannels * inPerGroup * taps.Length];
        var to = new int[from.Length];
        int k = 0;
        for (int i = 0; i < inChannels; i++)
        {
            int g = i / inPerGroup, iLocal = i - g * inPerGroup;
            for (int oLocal = 0; oLocal < outPerGroup; oLocal++)
            {
                int o = g * outPerGroup + oLocal;
                for (int tap = 0; tap < taps.Length; tap++, k++)
                {
                    from[k] = weight.Layout.PackedIndex((o * inPerGroup + iLocal) * window + taps[tap]);
                    to[k] = target.PackedIndex((i * outPerGroup + oLocal) * taps.Length + tap);
                }
            }
        }
        return new TransposedWeights(weight, target, from, to);
    }

    /// <summary>
    /// Linear weights for ∂X = Wᵀ ∂Y as an <c>out → inputs</c> Linear layer, where <paramref name="inputs"/> counts the
    /// layer's inputs as its kernel reads them (the whole NCHW8c sample after a blocked Flatten).
    /// </summary>
    public static TransposedWeights ForLinear(Parameter weight, int inputs)
    {
        int outFeatures = weight.Shape[0];
        var target = ParameterLayout.Linear(inputs, outFeatures, 1, 1, blockedInput: false);
        // Rows of Wᵀ follow the kernel's input order, so the packed values are read (already in that order), not
        // PyTorch's: the dense convolution's layout with a one-tap window, in tiles of blocks.
        return new TransposedWeights(weight, target, outFeatures, inputs, 1, [0], ParameterLayout.LinearTileBlocks);
    }
}

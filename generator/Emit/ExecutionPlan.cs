using System;
using System.Collections.Generic;
using System.Linq;
using ConvGen.Generator.Model;

namespace ConvGen.Generator.Emit;

// Between the model and the text: decides where every tensor lives and in which layout, which layers fuse,
// and which kernels run in which order. Pure arithmetic on the model; the kernel emitters only print it.

/// <summary>Where a tensor lives: the caller's spans, two ping-pong activation buffers, or the padding scratch.</summary>
internal enum BufferKind { Input, Output, A, B, Scratch }

/// <summary>
/// A per-sample tensor in memory: NCHW ("planar") or NCHW8c ("blocked": 8 channels interleaved, padded with
/// zero-weight lanes), <see cref="Stride"/> floats apart from one sample to the next. Kernels reach it through the
/// frame pointer <see cref="Field"/>; <see cref="Buffer"/> is where inference places it (ping-pong buffers), while a
/// recorded (training) forward gives every tensor a region of its own.
/// </summary>
/// <remarks>
/// A <see cref="Tensor.ZeroPadded"/> view is another tensor's memory read as the interior of a larger grid whose border
/// is zero, without that grid in memory: <see cref="H"/> and <see cref="W"/> are the grid's, the strides the memory's.
/// Only a kernel that never reads the border may take one (<see cref="ConvStep.ReadsOnlyInterior"/>).
/// </remarks>
internal sealed record Tensor(string Field, BufferKind Buffer, bool Blocked, int C, int H, int W, int Stride, ZeroBorder View = default)
{
    public static int Blocks(int channels) => (channels + 7) / 8;

    public static int BlockedStride(int c, int h, int w) => Blocks(c) * 8 * h * w;

    /// <summary><paramref name="t"/> as the interior of an <paramref name="h"/> × <paramref name="w"/> grid, at (<paramref name="top"/>, <paramref name="left"/>).</summary>
    public static Tensor ZeroPadded(Tensor t, int h, int w, int top, int left)
        => t with { H = h, W = w, View = new ZeroBorder(top, h - top - t.H, left, w - left - t.W) };

    /// <summary>Whether this is a <see cref="ZeroPadded"/> view.</summary>
    public bool IsView => View != default;
    /// <summary>Rows and columns of the memory (the grid's less a view's border).</summary>
    public int StoredH => H - View.Top - View.Bottom;
    public int StoredW => W - View.Left - View.Right;
    public int RowStride => Blocked ? StoredW * 8 : StoredW;
    public int ColumnStride => Blocked ? 8 : 1;
    /// <summary>Floats from one channel (planar) or one block of 8 (blocked) to the next.</summary>
    public int PlaneStride => Blocked ? StoredH * StoredW * 8 : StoredH * StoredW;
    /// <summary>Floats from the grid's first pixel, which a view does not store, to the memory's first.</summary>
    public int ViewOffset => View.Top * RowStride + View.Left * ColumnStride;
    /// <summary>Whether the caller owns the memory (input, output and their gradients).</summary>
    public bool External => Buffer is BufferKind.Input or BufferKind.Output;

    /// <summary>C# expression for the offset of channel <paramref name="channel"/> (an int expression).</summary>
    public string ChannelOffset(string channel)
    {
        bool simple = channel.IndexOf(' ') < 0
            || (channel.StartsWith("(", StringComparison.Ordinal) && channel.EndsWith(")", StringComparison.Ordinal));
        string c = simple ? channel : $"({channel})";
        return Blocked ? $"({c} >> 3) * {PlaneStride} + ({c} & 7)" : $"{c} * {PlaneStride}";
    }

    /// <summary>
    /// Floats a Linear layer reads per sample from this tensor: the whole NCHW8c sample after a blocked Flatten
    /// (its weights are packed to match, zero on the unused lanes), else the C·H·W features.
    /// </summary>
    public int LinearInputs => Blocked ? Stride : C * H * W;

}

/// <summary>A learnable tensor of one layer.</summary>
internal sealed record ParameterPlan(int Layer, string Role, int[] Shape, string LayoutExpression, int FanIn)
{
    public string Field => $"_layer{Layer}{(Role == "weight" ? "Weight" : "Bias")}";
    /// <summary>Frame pointer to the packed values.</summary>
    public string Pointer => $"L{Layer}{(Role == "weight" ? "W" : "B")}";
    /// <summary>Frame pointer to the packed gradient.</summary>
    public string GradientPointer => $"L{Layer}d{(Role == "weight" ? "W" : "B")}";
    public string Name => $"{Layer}.{Role}";
}

/// <summary>
/// Weights repacked for a backward-data kernel (transposed and flipped), held by the network and refreshed from the
/// parameter at the start of each Backward; the kernel reads them through <see cref="ParameterPlan.Pointer"/>.
/// </summary>
/// <param name="ScalarTwinOnly">Read only by the kernel's scalar twin: a Winograd backward-data kernel's transformed
/// weights are made from the parameter itself, so with AVX2 this copy is neither allocated nor refreshed.</param>
internal sealed record RepackedWeights(ParameterPlan Source, string Pointer, string LayoutExpression, string RepackCall, bool ScalarTwinOnly = false);

/// <summary>
/// The transformed weights (<c>global::ConvGen.WinogradWeights</c>, made by <see cref="Factory"/>) that a Winograd kernel
/// of layer <see cref="Layer"/> reads through <see cref="Pointer"/>: a forward kernel's, refreshed by Forward, or a
/// backward-data kernel's (the layer's weights transposed and flipped as they are transformed), refreshed by Backward.
/// </summary>
internal sealed record WinogradPlan(string Pointer, string Factory, int Layer);

internal abstract record Step(Tensor From, Tensor To);

/// <summary>Copies a tensor into another layout, optionally into the interior of a zero-padded frame.</summary>
/// <param name="RecordedOnly">Run by a recorded Forward only: the zero-padded copy of a convolution's input that its weight
/// gradient reads, where the forward kernel itself reads a view (<see cref="ConvStep.PaddedCopy"/>).</param>
/// <param name="TileRows">For the grid a Winograd kernel reads: its rows of 2×2 tiles. The copy then runs by pairs of grid
/// rows, as the kernel reads them by rows of tiles, instead of by channel blocks.</param>
internal sealed record CopyStep(Tensor From, Tensor To, int PadTop, int PadLeft, string Purpose, bool RecordedOnly = false, int TileRows = 0) : Step(From, To)
{
    /// <summary>Whether the step that writes <see cref="Step.From"/> splits its work by rows (KernelEmitter.SplitsByRows).</summary>
    public bool AfterRowSplit { get; init; }

    /// <summary>
    /// An unpadded copy from NCHW8c to NCHW, after a step split by rows, whose rows take whole vectors: one work item per
    /// row of every block (KernelEmitter.EmitCopyRows), where other copies take one item per block. Each thread then
    /// reads the rows its own core wrote.
    /// </summary>
    public bool ByRows => AfterRowSplit && From.Blocked && !To.Blocked && !From.IsView && !To.IsView && TileRows == 0
        && PadTop == 0 && PadLeft == 0 && To.H == From.H && To.W == From.W && From.W >= 8;
}

/// <summary>Rows and columns at the edges of a convolution's input known to hold zeros (a backward-data grid's border).</summary>
internal readonly record struct ZeroBorder(int Top, int Bottom, int Left, int Right);

/// <summary>
/// A convolution, with the following activation fused into its epilogue when there is one. <see cref="Source"/> is
/// the tensor before any padded copy (<see cref="Step.From"/> is what the kernel reads).
/// </summary>
/// <param name="Zeros">The zero border of <paramref name="From"/>, whose taps the kernel skips (see <see cref="SkipsZeroRows"/>).</param>
/// <param name="PaddedCopy">Where <paramref name="From"/> is a zero-padded view: the padded copy a recorded Forward makes
/// for the weight gradient, which reads the padding.</param>
/// <param name="Winograd">For a layer the Winograd kernel runs (<see cref="WinogradFits"/>): the zero-padded NCHW8c grid
/// it reads, (H + 2) × (W + 2) of the output's size. The scalar twin reads it too.</param>
/// <param name="TransposesOutput">The register-tiled kernel writing NCHW (<paramref name="To"/> not blocked): each block
/// of 8 channels in its tile is transposed in registers into 8 channel rows as it is stored (see <see cref="TransposeFits"/>);
/// for the column Winograd kernel, each block's 8-pixel groups as its output transform stores them.</param>
/// <param name="FusedPool">The 2x2 max pool after this layer, which an unrecorded Forward runs in this kernel's epilogue
/// instead of as a step of its own (see <see cref="PoolFits"/>); a recorded Forward still runs both, as Backward reads
/// the convolution's output.</param>
/// <param name="ColumnWinograd">The kernel runs Winograd F(2, k) down the columns (see <see cref="ColumnWinogradFits"/>).</param>
internal sealed record ConvStep(LayerModel Layer, Tensor From, Tensor To, LayerKind? Activation, string WeightPointer, string? BiasPointer, Tensor Source,
    ZeroBorder Zeros = default, Tensor? PaddedCopy = null, Tensor? Winograd = null, bool TransposesOutput = false, PoolStep? FusedPool = null,
    bool ColumnWinograd = false)
    : Step(From, To)
{
    /// <summary>
    /// Whether the pool layer <paramref name="pool"/>, reading this step's output <paramref name="from"/>, can run in the
    /// epilogue of its kernel. Two kernels can: the one along the rows into
    /// NCHW8c (<see cref="RowsToBlocked"/>, LeNet's first layer), whose accumulators hold 8 neighbouring pixels of a
    /// channel, so that a 2x2 window is a pair of lanes in two rows; and the column Winograd kernel
    /// (<see cref="ColumnWinograd"/>, LeNet's second layer) into NCHW8c, whose output transform makes the two rows of a
    /// window at once, over runs of the row that start on even columns (KernelEmitter.ColumnSegments), on an even
    /// number of rows (no half pair). A max pool of 2, stride 2, unpadded, over rows of even width (every vector of the
    /// row starts on an even column); no activation or ReLU, which commutes with the max exactly, so it is applied once
    /// per pooled value (a sigmoid or tanh would commute only as far as its vector approximation is monotone). The plan
    /// keeps the pool's output out of the buffer of the kernel's input, which later rows still read (Build). LeNet at
    /// batch 256: the pool after conv1 took 7% of an unrecorded Forward; fusing the one after conv2 saved 3%
    /// (architecture.md).
    /// </summary>
    public bool PoolFits(LayerModel pool, Tensor from) => (RowsToBlocked || ColumnWinograd && To.H % 2 == 0)
        && To.Blocked && from == To && Activation is null or LayerKind.Relu
        && pool is { Kind: LayerKind.MaxPool, KernelHeight: 2, KernelWidth: 2, Stride: 2, Dilation: 1, HasPadding: false }
        && To.W % 2 == 0 && To.H >= 2;

    /// <summary>
    /// Whether the forward pass of <paramref name="l"/> runs the Winograd F(2×2, 3×3) kernel: dense 3x3, stride 1,
    /// undilated, a whole number of 2×2 output tiles, inputs in whole NCHW8c blocks and at least
    /// <see cref="WinogradMinInputs"/> of them, outputs in groups of 32 (the register tile's 4 blocks), and one row of
    /// transformed input tiles (16 · W/2 · C floats) within <see cref="WinogradRowBytes"/>.
    /// </summary>
    public static bool WinogradFits(LayerModel l) => l.Kind == LayerKind.Conv && l.Groups == 1 && l.KernelHeight == 3 && l.KernelWidth == 3
        && l.Stride == 1 && l.Dilation == 1 && l.Output.H % 2 == 0 && l.Output.W % 2 == 0 && l.Output.H > 0 && l.Output.W > 0
        && l.Input.C % 8 == 0 && l.Input.C >= WinogradMinInputs && l.Output.C % 32 == 0
        && 16L * (l.Output.W / 2) * l.Input.C * 4 <= WinogradRowBytes;

    /// <summary>
    /// Below this many input channels the transforms, which cost the same per channel whatever the depth, outweigh
    /// the 2.25× fewer multiply-adds less clearly; the layers this was measured on have 64–256.
    /// </summary>
    public const int WinogradMinInputs = 32;

    /// <summary>
    /// Whether the Winograd kernel's work items are groups of 32 output channels (each over all rows of a sample)
    /// rather than rows of tiles (each over all groups): when its transformed weights are more than
    /// <see cref="WinogradRowMajorWeightBytes"/>, which every row would read again.
    /// </summary>
    public bool WinogradGroupsOutermost => Winograd is not null && 16L * Layer.Input.C * Layer.Output.C * 4 > WinogradRowMajorWeightBytes;

    /// <summary>
    /// The most transformed weights (bytes) a Winograd kernel reads once per work item by rows: L2's size here. 256→256 at
    /// 14×14 (4 MiB) ran forward in 1.38 / 0.78 ms at 1 / 2 threads by rows, 1.29 / 0.73 by groups, and its backward-data
    /// by rows was slower than the direct kernel (2.03 / 1.34 against 1.98 / 1.03 ms), by groups 1.42 / 0.79. 128→128 at
    /// 28×28 (1 MiB) by groups: forward at 2 threads 0.72 ms against 0.62–0.63 by rows (two alternating runs).
    /// </summary>
    public const long WinogradRowMajorWeightBytes = 1 << 20;

    /// <summary>
    /// The most bytes one row of transformed input tiles (16 · W/2 · C floats) may take: by rows a work item keeps it (or
    /// the rows it takes, within the same bound, KernelEmitter.WinogradRowsPerItem) on the stack, with up to 1 KiB of
    /// padding (by groups a sample's H/2 rows go to a per-thread heap buffer). 64→64 at 56×56 (112 KiB) ran 17% slower
    /// at 2 threads with the row in a per-thread heap array instead (0.70–0.71 ms against 0.60–0.62, three alternating
    /// runs; the same at 1 thread), for reasons not found; 128 KiB leaves a thread with a 256 KiB stack room to spare
    /// (256 KiB on such a stack ended the process with a stack overflow).
    /// </summary>
    public const int WinogradRowBytes = 128 << 10;

    /// <summary>
    /// Whether the convolution <paramref name="l"/> (a layer's forward pass, or the one its backward-data runs) is
    /// Winograd's F(2, k) down the columns: each pair of output rows comes from transformed input rows V[ξ] = Bᵀ·X, each
    /// convolved with a one-row kernel U[ξ] = G·W and combined as Aᵀ·M (<see cref="ColumnPoints"/> of them). Stride 1:
    /// for 5x5, 30 one-row convolutions where the direct kernel runs 50 (1.67× fewer multiply-adds); for 3x3, 12 where
    /// it runs 18 (1.5×; 3x3 layers that F(2×2, 3×3) takes, <see cref="WinogradFits"/>, stay with it). Stride 2, 7x7
    /// (the ResNet stem): the even kernel rows read the even input rows and the odd ones the odd rows, two stride-1
    /// convolutions down the columns, F(2, 4) and F(2, 3): 9 one-row convolutions (of stride 2 along the row) where the
    /// direct kernel runs 14 (1.56×). Undilated, at least <see cref="ColumnMinInputs"/> inputs, at least two output rows
    /// (an odd number ends with a half pair), input rows (padding included) of at least one vector (the planar transform
    /// loads 8 columns at a time), at least 8 outputs (fewer, on NCHW input, run along the rows, see
    /// <see cref="RowsToBlocked"/>), the transformed rows (<paramref name="blockedInput"/>: in NCHW8c, else NCHW) and one
    /// block's rows of products for a whole output row, with their padding (KernelEmitter.XiStride), within
    /// <see cref="ColumnWinogradBytes"/> each, as they live on the stack (wider products are cut into runs of the row,
    /// KernelEmitter.ColumnSegments). A padded layer reads a zero-padded copy: the transform reads every row of the grid.
    /// </summary>
    public static bool ColumnWinogradFits(LayerModel l, bool blockedInput = true) => l.Kind == LayerKind.Conv && l.Groups == 1
        && l.KernelHeight == l.KernelWidth && ((l.Stride == 1 && l.KernelHeight is 3 or 5 && !WinogradFits(l)) || (l.Stride == 2 && l.KernelHeight == 7))
        && l.Input.C >= ColumnMinInputs(l.KernelHeight) && l.Dilation == 1 && l.Output.H >= 2 && l.Output.W > 0 && l.Output.C >= 8
        && GridWidth(l) >= 8 && ColumnPoints(l) * ((blockedInput ? Tensor.Blocks(l.Input.C) * 8L : l.Input.C) * GridWidth(l) + 16) * 4 <= ColumnWinogradBytes
        && ColumnPoints(l) * (8L * l.Output.W + 16) * 4 <= ColumnWinogradBytes;

    /// <summary>
    /// Transformed rows per pair of output rows of a column Winograd layer (<see cref="ColumnWinogradFits"/>): k + 1 at
    /// stride 1; 9 for the stride-2 7x7, 5 from its 4 even kernel rows and 4 from its 3 odd ones.
    /// </summary>
    public static int ColumnPoints(LayerModel l) => l.Stride == 2 ? 9 : l.KernelHeight + 1;

    private static long GridWidth(LayerModel l) => (long)l.Input.W + l.PadLeft + l.PadRight;

    /// <summary>
    /// The fewest input channels for which the column Winograd kernel runs a k×k layer: with fewer, its one-row
    /// convolutions (k · inputs taps each) pay too little for their stores, the transforms and the padded copy.
    /// Alternating runs, direct → column, medians at 1 and 2 threads: 3x3 at 32×32, batch 8: 3→64 0.33 → 0.31 and
    /// 0.16 → 0.18 ms; 4→64 0.41 → 0.35 and 0.205 → 0.211; 16→16 twice 0.746 → 0.607 and 0.38 → 0.32. With 8 inputs the
    /// two measured layers went opposite ways at 2 threads: 8→24 at 56×56, batch 8, 0.83 → 0.64 and 0.41 → 0.32, but
    /// TinyNet (8→16 at 14×14 after a pool, batch 64) 0.467 → 0.418 and 0.26 / 0.24 / 0.23 → 0.32 / 0.25 / 0.30, for
    /// reasons not found (perf: the caller waited on the worker for 14% of its samples against 5%), so 3x3 layers need
    /// 16. 5x5 with pad 2 at 28×28, batch 64: 1→16 0.51 → 0.50 and 0.26 → 0.25 (no difference); 2→16 0.86 → 0.79 and
    /// 0.45 → 0.39; 3→32 at 32×32, batch 8: 0.38 → 0.28 and 0.19 → 0.16. The stride-2 7x7 with pad 3, →64 at 224×224,
    /// batch 1: 3 inputs 2.35 → 1.77 and 1.21 → 0.95 ms; 2 inputs 1.57 / 1.57 / 1.49 → 1.23 / 1.13 / 1.26 and 0.76 / 0.78
    /// / 0.76 → 0.64 / 0.64 / 0.61; 1 input 0.73 / 0.73 / 0.76 → 0.67 / 0.73 / 0.63 but 0.37 / 0.38 / 0.37 → 0.39 / 0.38
    /// / 0.41 at 2 threads, so it needs 2.
    /// </summary>
    public static int ColumnMinInputs(int kernelSize) => kernelSize switch { 3 => 16, 5 => 2, 7 => 2, _ => int.MaxValue };

    /// <summary>The most bytes of the column Winograd kernel's transformed rows, and of its products, on the stack.</summary>
    public const int ColumnWinogradBytes = 64 << 10;

    /// <summary>Frame pointer to the Winograd-transformed weights of the layer whose weights are at <paramref name="weightPointer"/>.</summary>
    public static string WinogradPointer(string weightPointer) => weightPointer + "U";

    private bool Skips => Layer.Dilation == 1 && !Layer.IsDepthwise;

    /// <summary>Whether each output row runs only the kernel rows that land outside the zero border (undilated).</summary>
    public bool SkipsZeroRows => Skips && Zeros.Top + Zeros.Bottom > 0 && Layer.KernelHeight > 1;

    /// <summary>Whether the tiles at the row's ends leave out the taps that land on zero columns (undilated).</summary>
    public bool SkipsZeroColumns => Skips && Zeros.Left + Zeros.Right > 0 && Layer.KernelWidth > 1;

    /// <summary>
    /// Whether the AVX2 kernel reads no tap on the zero border of its input, so that the input may be a
    /// <see cref="Tensor.ZeroPadded"/> view instead of a padded copy: the register-tiled kernel (NCHW8c out, dense)
    /// skipping both the zero rows and the zero columns, or having none; or the planar-output kernel on NCHW input,
    /// which skips the zero rows and masks the zero columns out of its loads (<see cref="MasksZeroColumns"/>).
    /// </summary>
    public bool ReadsOnlyInterior => Skips && (SkipsZeroRows || Zeros.Top + Zeros.Bottom == 0)
        && ((To.Blocked && !RowsToBlocked) || TransposesOutput ? SkipsZeroColumns || Zeros.Left + Zeros.Right == 0 : MasksZeroColumns);

    /// <summary>The planar-output kernel reading NCHW: its loads along a row leave out the lanes on zero columns.</summary>
    public bool MasksZeroColumns => (RowsToBlocked || PlanarOutput) && !From.Blocked;

    /// <summary>
    /// Whether a layer runs the planar depthwise kernel on <paramref name="input"/>: depthwise, stride 1, reading NCHW,
    /// with output rows of at least one vector. It vectorises along x, so it needs no layout copy on either side.
    /// </summary>
    public static bool ReadsPlanar(LayerModel l, Tensor input) => l.IsDepthwise && !input.Blocked && l.Stride == 1 && l.Output.W >= 8;

    /// <summary>This step runs the planar depthwise kernel (NCHW in, NCHW out).</summary>
    public bool Planar => Layer.IsDepthwise && !From.Blocked;

    /// <summary>
    /// A dense convolution that writes NCHW, vectorised along the output rows instead of over channels: the
    /// backward-data kernel of a layer with at most <see cref="MaxPlanarOutputs"/> input channels, or a network's last
    /// layer with that few outputs on NCHW input (see <see cref="RowsFit"/>).
    /// </summary>
    public bool PlanarOutput => !Layer.IsDepthwise && !To.Blocked && !PlanarGemm && !TransposesOutput;

    /// <summary>
    /// Whether a network's last layer, <paramref name="l"/>, may run the register-tiled kernel straight into the caller's
    /// NCHW (<see cref="TransposesOutput"/>): dense or grouped (not depthwise), with no activation after it (backward
    /// would read its output in NCHW8c) and rows of at least one vector. It spares the NCHW8c tensor and the copy out of
    /// it: that copy was 3.5–4% of the 7x7 stem's forward (3→64, s2, at 224×224).
    /// </summary>
    public static bool TransposeFits(LayerModel l, LayerKind? activation) => activation is null && !l.IsDepthwise && l.Output.W >= 8;

    /// <summary>
    /// A 1x1 convolution from NCHW to NCHW: per sample a matrix product over the plane, <c>Y[o,p] = B[o] + W[o,I]·X[I,p]</c>
    /// with 8 pixels per vector, so neither side needs a layout copy (see <see cref="GemmFits"/>).
    /// </summary>
    public bool PlanarGemm => GemmFits(Layer) && !From.Blocked && !To.Blocked;

    /// <summary>A 1x1 layer that the planar product computes: stride 1, no padding, one group, a plane of at least one vector.</summary>
    public static bool GemmFits(LayerModel l) => l.KernelHeight == 1 && l.KernelWidth == 1 && l.Stride == 1 && !l.HasPadding && l.Groups == 1
        && l.Output.H * l.Output.W >= 8;

    public const int MaxPlanarOutputs = 6;

    /// <summary>
    /// A dense stride-1 convolution from NCHW to one NCHW8c block of fewer than 8 channels whose output rows fill more
    /// lanes than its channels do (LeNet's conv1: 28 = 8 + 8 + 8 + 4 pixels fill 28 of 32 lanes, 6 channels 6 of 8): it
    /// runs the planar-output kernel along the rows and transposes each 8-pixel vector into NCHW8c. Mostly a forward
    /// layer; a backward-data kernel qualifies only with 7 channels in rows of 8 (up to 6 take NCHW ∂X instead).
    /// </summary>
    public bool RowsToBlocked => RowsFit(Layer) && !From.Blocked && To.Blocked && To.C < 8 && To.W > To.C * ((To.W + 7) / 8);

    /// <summary>
    /// Whether the planar-output kernel can run <paramref name="l"/> along its output rows: dense, stride 1, undilated,
    /// more than one tap, rows of at least one vector.
    /// </summary>
    public static bool RowsFit(LayerModel l) => !l.IsDepthwise && l.Groups == 1 && l.Stride == 1 && l.Dilation == 1
        && l.KernelHeight * l.KernelWidth > 1 && l.Output.W >= 8;
}

internal sealed record LinearStep(LayerModel Layer, Tensor From, Tensor To, LayerKind? Activation, string WeightPointer, string? BiasPointer) : Step(From, To);

internal sealed record ActivationStep(LayerModel Layer, Tensor From, Tensor To) : Step(From, To);

/// <param name="RecordedOnly">Run by a recorded Forward only: an unrecorded one pools in the epilogue of the convolution
/// before it (<see cref="ConvStep.FusedPool"/>).</param>
internal sealed record PoolStep(LayerModel Layer, Tensor From, Tensor To, bool RecordedOnly = false) : Step(From, To)
{
    /// <summary>
    /// Work items in the order of the rows (each output row of every block before the next row), as the step before it
    /// splits its work (KernelEmitter.SplitsByRows), so each thread pools rows its own core wrote; otherwise by blocks.
    /// ResNet's stem (7x7 stride 2, ReLU) and 3x3 stride-2 max pool at 224×224, batch 1, 2 threads, same-process
    /// alternating medians: 1.23 / 1.23 / 1.29 ms with the pool by blocks, 1.00 / 1.00 / 1.05 by rows.
    /// </summary>
    public bool ByRows { get; init; }
}

internal sealed class ExecutionPlan
{
    public List<Step> Steps { get; } = new();

    /// <summary>Whether the step added last runs its work items down the rows (KernelEmitter.SplitsByRows).</summary>
    private bool LastSplitsByRows => Steps.Count > 0 && KernelEmitter.SplitsByRows(Steps[Steps.Count - 1]);

    public List<ParameterPlan> Parameters { get; } = new();
    /// <summary>The weights each Winograd layer reads transformed, refreshed by every Forward.</summary>
    public List<WinogradPlan> Winograd { get; } = new();
    /// <summary>Every Winograd kernel's transformed weights: the forward ones, then the backward-data ones.</summary>
    public IEnumerable<WinogradPlan> AllWinograd => Winograd.Concat(Backward.Winograd.Select(b => b.Plan));
    /// <summary>Every tensor the forward pass writes, in order (not the caller's input and output).</summary>
    public List<Tensor> Tensors { get; } = new();
    public Tensor Input { get; private set; } = null!;
    public Tensor Output { get; private set; } = null!;
    /// <summary>Floats per sample when every forward tensor keeps its own region (a recorded forward).</summary>
    public long TapeFloatsPerSample { get; private set; }
    public BackwardPlan Backward { get; private set; } = null!;
    /// <summary>The last tensor, when an unrecorded forward may place it in the caller's output (see Build).</summary>
    public Tensor? DirectOutput { get; private set; }
    /// <summary>
    /// Tensors only a recorded Forward writes (see <see cref="CopyStep.RecordedOnly"/>, and the output of a convolution
    /// whose pool an unrecorded Forward runs in its epilogue): not in the workspace.
    /// </summary>
    public HashSet<string> RecordedOnly => new(Steps.OfType<CopyStep>().Where(c => c.RecordedOnly).Select(c => c.To.Field)
        .Concat(Steps.OfType<ConvStep>().Where(c => c.FusedPool is not null).Select(c => c.To.Field)));

    /// <summary>Whether a recorded Forward runs a step an unrecorded one does not, so its kernels need to know which it is.</summary>
    public bool HasRecordedOnlySteps => Steps.Any(IsRecordedOnly);

    /// <summary>Whether <paramref name="step"/> runs only in a recorded Forward.</summary>
    public static bool IsRecordedOnly(Step step) => step is CopyStep { RecordedOnly: true } or PoolStep { RecordedOnly: true };
    private int _nextTensor = 1;
    public Dictionary<BufferKind, int> BufferFloats { get; } = new() { [BufferKind.A] = 0, [BufferKind.B] = 0, [BufferKind.Scratch] = 0 };
    public int WorkspaceFloatsPerSample => BufferFloats[BufferKind.A] + BufferFloats[BufferKind.B] + BufferFloats[BufferKind.Scratch];

    /// <summary>The most workspace bytes one pass of an unrecorded Forward uses (see <see cref="SamplesPerPass"/>).</summary>
    public const int PassBytes = 4 << 20;

    /// <summary>The most workspace bytes a batch may need and still run as one pass (see <see cref="SinglePassBatch"/>).</summary>
    public const int SinglePassBytes = 16 << 20;

    /// <summary>
    /// Samples per pass of an unrecorded Forward whose batch is larger than <see cref="SinglePassBatch"/>: it runs as
    /// passes through one workspace of at most <see cref="PassBytes"/> (or one sample), whose tensors then stay in the
    /// caches from one layer to the next instead of each layer streaming the whole batch through main memory. 64→64 3x3
    /// at 56×56, batch 32 (1.7 MB of workspace per sample), two alternating runs (each one run's median): one pass 71.1 / 71.3 ms, passes
    /// of 1 MiB 69.7 / 69.3, 4 MiB 69.3 / 68.5, 16 MiB 71.3 / 71.1.
    /// </summary>
    /// <remarks>
    /// With a Linear layer, a multiple of its kernel's 4-sample tiles (at least 4): a tile of fewer samples sums in
    /// another order, so passes that cut the batch elsewhere than the single pass does would round differently.
    /// </remarks>
    public int SamplesPerPass => Math.Max(SampleGroup, Samples(PassBytes) / SampleGroup * SampleGroup);

    /// <summary>
    /// Where a Forward or Backward may cut the batch (into passes, or into the shares of its threads) without changing a
    /// bit of any sample's result: anywhere (1), or, with a Linear layer, between its kernel's 4-sample tiles. (The
    /// element-wise kernels, which run over a range of floats across samples, give its last floats the vector loop's
    /// arithmetic, so they add no condition.)
    /// </summary>
    public int SampleGroup => Steps.Any(s => s is LinearStep) ? KernelEmitter.LinearRows : 1;

    /// <summary>
    /// The largest batch that runs as one pass: below <see cref="SinglePassBytes"/> the batch's tensors mostly stay in
    /// the caches anyway, and every pass repeats each step's hand-off to the worker threads (LeNet at batch 256, 40 KB
    /// per sample, 2 threads: 1.24 ms in one pass, 1.26 in passes of 4 MiB, 1.42 in passes of 1 MiB).
    /// </summary>
    public int SinglePassBatch => Samples(SinglePassBytes);

    private int Samples(long bytes) => (int)Math.Max(1, Math.Min(int.MaxValue, bytes / Math.Max(1L, 4L * WorkspaceFloatsPerSample)));

    public static ExecutionPlan Build(NetworkModel model)
    {
        var plan = new ExecutionPlan();
        var input = model.Input;
        var current = plan.Input = new Tensor("T0", BufferKind.Input, false, input.C, input.H, input.W, (int)input.Elements);
        var layers = model.Layers;
        for (int i = 0; i < layers.Count; i++)
        {
            var layer = layers[i];
            LayerKind? fused = i + 1 < layers.Count && IsActivation(layers[i + 1].Kind) ? layers[i + 1].Kind : null;
            switch (layer.Kind)
            {
                case LayerKind.Conv:
                    current = plan.AddConv(layer, current, fused, last: layers.Skip(i + 1).All(l => IsActivation(l.Kind)));
                    if (fused is not null) i++;
                    break;
                case LayerKind.Linear:
                    current = plan.AddLinear(layer, current, fused);
                    if (fused is not null) i++;
                    break;
                case LayerKind.Relu:
                case LayerKind.Sigmoid:
                case LayerKind.Tanh:
                {
                    // In place, except on the caller's input, which is read-only.
                    var to = plan.NewTensor(current.Buffer == BufferKind.Input ? plan.Next(current) : current.Buffer, current.Blocked, current.C, current.H, current.W, current.Stride);
                    plan.Add(new ActivationStep(layer, current, to));
                    current = to;
                    break;
                }
                case LayerKind.MaxPool:
                case LayerKind.AvgPool:
                case LayerKind.GlobalAvgPool:
                {
                    var from = plan.EnsureBlocked(current);
                    // The convolution this pool runs in the epilogue of, if any.
                    var fusing = plan.Steps[plan.Steps.Count - 1] is ConvStep conv && conv.PoolFits(layer, from) ? conv : null;
                    // A fused pool must not write the buffer the convolution reads, which later rows still read: where the
                    // next buffer is that one, it takes the convolution's own output buffer instead, which an unrecorded
                    // Forward then leaves unwritten (the output is recorded only).
                    var buffer = plan.Next(from);
                    if (fusing is not null && buffer == fusing.From.Buffer) buffer = from.Buffer;
                    var to = plan.NewBlocked(buffer, layer.Output.C, layer.Output.H, layer.Output.W);
                    var pool = new PoolStep(layer, from, to)
                    {
                        ByRows = layer.Kind != LayerKind.GlobalAvgPool && plan.LastSplitsByRows,
                    };
                    if (fusing is not null)
                    {
                        pool = pool with { RecordedOnly = true };
                        plan.Steps[plan.Steps.Count - 1] = fusing with { FusedPool = pool };
                    }
                    plan.Add(pool);
                    current = to;
                    break;
                }
                case LayerKind.Flatten:
                    break; // A relabelling: the Linear that follows packs its weights to read this layout directly.
            }
        }
        plan.Output = new Tensor("Output", BufferKind.Output, false, current.C, current.H, current.W, (int)model.Output.Elements);
        plan.Add(new CopyStep(current, plan.Output, 0, 0, "output") { AfterRowSplit = plan.LastSplitsByRows });
        plan.SizeBuffers();
        // A last tensor already in the caller's layout (NCHW, no padding: a planar depthwise layer's output) can be
        // written where the caller wants it, and the final copy skipped, when Forward keeps no tape.
        if (!current.Blocked && !current.External && current.H * current.W > 1 && current.Stride == plan.Output.Stride) plan.DirectOutput = current;
        // The recorded forward keeps a copy of the input too: backward-weights of the first layer reads it.
        // Summed in 64 bits: each tensor is within ConvGen's limit, but a deep network's sum may not fit an int.
        plan.TapeFloatsPerSample = plan.Input.Stride + plan.Tensors.Sum(t => (long)t.Stride);
        plan.Backward = BackwardPlan.Build(plan);
        return plan;
    }

    private static bool IsActivation(LayerKind kind) => kind is LayerKind.Relu or LayerKind.Sigmoid or LayerKind.Tanh;

    private Tensor NewTensor(BufferKind buffer, bool blocked, int c, int h, int w, int stride)
    {
        var t = new Tensor($"T{_nextTensor++}", buffer, blocked, c, h, w, stride);
        Tensors.Add(t);
        return t;
    }

    private Tensor NewBlocked(BufferKind buffer, int c, int h, int w) => NewTensor(buffer, true, c, h, w, Tensor.BlockedStride(c, h, w));

    private BufferKind Next(Tensor current) => current.Buffer == BufferKind.A ? BufferKind.B : BufferKind.A;

    private void Add(Step step) => Steps.Add(step);

    /// <summary>Each workspace buffer as large as the largest tensor an unrecorded Forward places in it.</summary>
    private void SizeBuffers()
    {
        var recordedOnly = RecordedOnly; // these live in the record only
        foreach (var step in Steps)
            foreach (var t in new[] { step.From, step.To })
                if (!recordedOnly.Contains(t.Field) && BufferFloats.TryGetValue(t.Buffer, out int size)) BufferFloats[t.Buffer] = Math.Max(size, t.Stride);
    }

    private Tensor EnsureBlocked(Tensor current)
    {
        if (current.Blocked) return current;
        var to = NewBlocked(Next(current), current.C, current.H, current.W);
        Add(new CopyStep(current, to, 0, 0, "NCHW → NCHW8c"));
        return to;
    }

    /// <param name="last">No layer but activations follows: the output goes to the caller, in NCHW.</param>
    private Tensor AddConv(LayerModel layer, Tensor current, LayerKind? activation, bool last)
    {
        var view = current;
        Tensor? paddedCopy = null;
        var zeros = default(ZeroBorder);
        int kh = layer.KernelHeight, kw = layer.KernelWidth;
        // A last 1x1 layer on NCHW (the network's input, a planar depthwise layer's output) writes the caller's NCHW
        // itself: the blocked kernel would need a layout copy after it (3.2 MB for 256 channels at 56×56). So does a
        // last layer with few output channels that the planar-output kernel runs: NCHW8c would cost it a transpose
        // per 8-pixel vector and the copy back another.
        bool planar = ConvStep.ReadsPlanar(layer, current)
            || last && !current.Blocked && (ConvStep.GemmFits(layer) || ConvStep.RowsFit(layer) && layer.Output.C <= ConvStep.MaxPlanarOutputs);
        bool winogradLayer = !planar && ConvStep.WinogradFits(layer);
        bool columns = !planar && ConvStep.ColumnWinogradFits(layer, blockedInput: current.Blocked && !layer.HasPadding); // a padded layer reads an NCHW copy
        // The column kernel stores transposed from its output transform, 8 pixels at a time: whole blocks and whole vectors.
        bool transposes = last && !planar && !winogradLayer && ConvStep.TransposeFits(layer, activation)
            && (!columns || layer.Output.C % 8 == 0 && layer.Output.W % 8 == 0);
        if (ConvStep.ReadsPlanar(layer, current))
        {
            // A depthwise layer on NCHW (the network's input) runs along the rows of each channel plane: no copy into
            // NCHW8c before it and none back after it, borders handled in the kernel. Its output stays NCHW.
        }
        else if (layer.IsDepthwise)
        {
            // The depthwise kernel loads 8 channels of one pixel as a vector, so it reads NCHW8c.
            if (layer.HasPadding || !current.Blocked)
            {
                view = NewBlocked(BufferKind.Scratch, current.C, current.H + layer.PadTop + layer.PadBottom, current.W + layer.PadLeft + layer.PadRight);
                Add(new CopyStep(current, view, layer.PadTop, layer.PadLeft, layer.HasPadding ? "zero-padded NCHW8c copy" : "NCHW → NCHW8c"));
            }
        }
        else if (layer.HasPadding && winogradLayer)
        {
            // The Winograd grid below is the zero-padded input (in NCHW8c): the weight gradient reads it as its padded
            // copy, so a recorded Forward pads the input once, and its tape holds one padded input, not two.
            zeros = new ZeroBorder(layer.PadTop, layer.PadBottom, layer.PadLeft, layer.PadRight);
        }
        else if (layer.HasPadding)
        {
            int h = current.H + layer.PadTop + layer.PadBottom, w = current.W + layer.PadLeft + layer.PadRight;
            zeros = new ZeroBorder(layer.PadTop, layer.PadBottom, layer.PadLeft, layer.PadRight);
            // Where the kernel leaves out every tap on the padding, it reads the input where it lies, through a view of
            // the padded grid. Its weight gradient does read the padding: a recorded Forward still makes the padded
            // copy, while the input is in the caches (in Backward it would be read from memory again).
            // Otherwise padding once up front leaves the kernel with no borders: every tap of every pixel is in bounds.
            var padded = Tensor.ZeroPadded(current, h, w, layer.PadTop, layer.PadLeft);
            var output = new Tensor("", Next(current), !planar && !transposes, layer.Output.C, layer.Output.H, layer.Output.W, 0);
            bool inPlace = !columns && new ConvStep(layer, padded, output, activation, "", null, current, zeros, TransposesOutput: transposes).ReadsOnlyInterior;
            var copy = NewTensor(BufferKind.Scratch, false, current.C, h, w, current.C * h * w);
            Add(new CopyStep(current, copy, layer.PadTop, layer.PadLeft, inPlace ? $"layer {layer.Index}: zero-padded copy of its input for the weight gradient" : "zero-padded copy",
                RecordedOnly: inPlace));
            view = inPlace ? padded : copy;
            paddedCopy = inPlace ? copy : null;
        }

        int inPerGroup = layer.Input.C / layer.Groups;
        var weight = new ParameterPlan(layer.Index, "weight", new[] { layer.Output.C, inPerGroup, kh, kw },
            layer.IsDepthwise
                ? $"global::ConvGen.ParameterLayout.Depthwise({layer.Output.C}, {kh}, {kw})"
                : $"global::ConvGen.ParameterLayout.ConvBlocked({layer.Output.C}, {layer.Input.C}, {layer.Groups}, {kh}, {kw})",
            inPerGroup * kh * kw);
        var bias = layer.Bias ? new ParameterPlan(layer.Index, "bias", new[] { layer.Output.C }, $"global::ConvGen.ParameterLayout.Vector({layer.Output.C})", weight.FanIn) : null;
        Parameters.Add(weight);
        if (bias is not null) Parameters.Add(bias);

        // The Winograd kernel reads whole 4×4 input patches, so it takes a zero-padded NCHW8c grid (an unpadded blocked
        // input already is one). Unpadded, the weight gradient reads the input where it is.
        Tensor? winograd = null;
        if (winogradLayer)
        {
            winograd = current;
            if (layer.HasPadding || !current.Blocked)
            {
                winograd = NewBlocked(BufferKind.Scratch, current.C, layer.Output.H + 2, layer.Output.W + 2);
                Add(new CopyStep(current, winograd, layer.PadTop, layer.PadLeft, $"layer {layer.Index}: zero-padded NCHW8c grid for the Winograd kernel",
                    TileRows: layer.Output.H / 2));
            }
            if (layer.HasPadding) view = winograd;
            Winograd.Add(new WinogradPlan(ConvStep.WinogradPointer(weight.Pointer),
                $"global::ConvGen.WinogradWeights.ForConv3x3({weight.Field}, inChannels: {layer.Input.C})", layer.Index));
        }
        if (columns)
            Winograd.Add(new WinogradPlan(ConvStep.WinogradPointer(weight.Pointer),
                $"global::ConvGen.WinogradWeights.ForConvColumns({weight.Field}, inChannels: {layer.Input.C}{(layer.Stride == 2 ? ", stride: 2" : "")})", layer.Index));

        var to = planar || transposes
            ? NewTensor(Next(current), false, layer.Output.C, layer.Output.H, layer.Output.W, layer.Output.C * layer.Output.H * layer.Output.W)
            : NewBlocked(Next(current), layer.Output.C, layer.Output.H, layer.Output.W);
        Add(new ConvStep(layer, view, to, activation, weight.Pointer, bias?.Pointer, current, zeros, paddedCopy, winograd, transposes, ColumnWinograd: columns));
        return to;
    }

    private Tensor AddLinear(LayerModel layer, Tensor current, LayerKind? activation)
    {
        var weight = new ParameterPlan(layer.Index, "weight", new[] { layer.Output.C, layer.Input.C },
            $"global::ConvGen.ParameterLayout.Linear({layer.Output.C}, {current.C}, {current.H}, {current.W}, blockedInput: {(current.Blocked ? "true" : "false")})",
            layer.Input.C);
        var bias = layer.Bias ? new ParameterPlan(layer.Index, "bias", new[] { layer.Output.C }, $"global::ConvGen.ParameterLayout.Vector({layer.Output.C})", weight.FanIn) : null;
        Parameters.Add(weight);
        if (bias is not null) Parameters.Add(bias);
        // Outputs are stored in whole vectors of 8: the stride rounds up, the extra lanes hold zero-weight results.
        var to = NewTensor(Next(current), false, layer.Output.C, 1, 1, Tensor.Blocks(layer.Output.C) * 8);
        Add(new LinearStep(layer, current, to, activation, weight.Pointer, bias?.Pointer));
        return to;
    }
}

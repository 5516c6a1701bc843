using System;
using System.Collections.Generic;
using System.Linq;
using ConvGen.Generator.Model;

namespace ConvGen.Generator.Emit;

// The backward pass, planned from the forward plan in reverse. Every forward tensor has a gradient tensor of the same
// layout; activations work in place on it. Backward-data of a convolution or Linear layer is expressed as a forward
// layer of the same kind (output and input channels swapped, weights transposed and flipped), so it runs on the same
// register-tiled kernels: a convolution's output gradient is placed on a zero grid (d·(k−1) − pad of border) and
// then convolved with stride 1, or read in place through a zero-padded view of that grid where the kernel skips every
// border tap; a strided layer runs one such convolution per output phase. A layer with few input
// channels and whole blocks of outputs instead sums over its outputs in the vector lanes, on ∂Z and the forward's
// weights as they are, strided or not (LaneSumDataGradStep). A planar depthwise layer's gradients stay on NCHW, like
// its forward kernel. ∂loss/∂input is written by the step that produces it where that step writes a new tensor in the
// input's layout (not, say, an activation working in place on the input's gradient).

internal abstract record BackwardStep(bool InputOnly);

/// <summary>The caller's ∂loss/∂output (NCHW) into a flat internal tensor, the floats past its features zeroed.</summary>
internal sealed record GradientInStep(Tensor From, Tensor To) : BackwardStep(false);

/// <summary><c>∂X = ∂Y ⊙ f'(Y)</c> in place, from the activation's output.</summary>
internal sealed record ActivationGradStep(LayerKind Kind, int Layer, Tensor Output, Tensor Gradient, bool InputOnly) : BackwardStep(InputOnly);

/// <summary><c>∂B[o] += Σ ∂Z[n,o,…]</c>.</summary>
internal sealed record BiasGradStep(int Layer, Tensor Gradient, string Pointer) : BackwardStep(false);

/// <summary>
/// <c>∂W[o,i,ky,kx] += Σ ∂Z[n,o,y,x] · X[n,i,s·y+d·ky,s·x+d·kx]</c> over the padded input view, with the bias gradient
/// summed in the same pass over ∂Z when <paramref name="BiasPointer"/> is set (a planar depthwise layer: NCHW
/// <paramref name="Input"/>, borders handled in the kernel; or a dense layer summed in chunks, <see cref="Chunked"/>).
/// </summary>
/// <param name="Zeros">The zero border of <paramref name="Input"/> (a padded copy's), whose rows the dense kernel skips.</param>
internal sealed record ConvWeightGradStep(LayerModel Layer, Tensor Input, Tensor Gradient, string Pointer, string? MaskPointer, string? BiasPointer = null,
    ZeroBorder Zeros = default) : BackwardStep(false)
{
    /// <summary>
    /// Floats at which a dense layer's packed weights stop being summed in chunks: 64 KiB, so that the
    /// <see cref="WeightGradChunks"/> partial sums stay small beside the work of one chunk (LeNet's 5x5 layers: 200 and
    /// 2,400 floats), while a 64→64 3x3 layer (36,864) keeps one sum per block of weights.
    /// </summary>
    public const int MaxChunkedFloats = 16384;

    /// <summary>
    /// Chunks of the batch's ∂Z rows a chunked weight gradient is summed in, each into partial sums of its own, added in
    /// chunk order at the end: the split, and so the sum, is the same on any number of threads.
    /// </summary>
    public const int WeightGradChunks = 8;

    /// <summary>
    /// Whether the dense kernel sums in <see cref="WeightGradChunks"/> chunks of ∂Z rows (any sample, any rows of it),
    /// each chunk running every work item: threads then split the batch instead of the few blocks of a small weight
    /// (LeNet's conv1: 5 items, so 3 on one thread of 2), and each reads only the ∂Z and X rows of its own chunks, which
    /// the layers around it wrote on the same core. With items as the split, every thread read every sample, so at
    /// 2 threads half of each step's data came from the other core's cache (see <see cref="SumsInChunks"/>).
    /// </summary>
    public bool Chunked { get; init; }

    /// <summary>
    /// Whether a dense layer's weight gradient (over <paramref name="input"/> and an NCHW8c ∂Z shaped like
    /// <paramref name="gradient"/>) is summed in chunks: a weight of at most <see cref="MaxChunkedFloats"/> packed floats
    /// whose work items read no more than a pass per sample. LeNet's conv1 and conv2 at batch 64 (1 and 2 threads): 0.24
    /// and 0.30 ms both ways at 1 thread; 0.30 → 0.125 and 0.21 → 0.16 ms at 2. Not the ResNet stem, whose item reads a
    /// 1.4 MB sample in row passes: its blocks are split as the layout copy of ∂Z before it split them, and in chunks
    /// of rows its 2-thread weight gradient went from 1.18–1.35 to 1.40–1.69 ms.
    /// </summary>
    public static bool SumsInChunks(LayerModel l, Tensor input, Tensor gradient)
        => PackedWeightFloats(l) <= MaxChunkedFloats && KernelEmitter.RowsPerPass(new ConvWeightGradStep(l, input, gradient, "", null)) is null;

    /// <summary>Where this step's partial sums start in the network's partial-sum array (chunked steps).</summary>
    public int PartialOffset { get; init; }

    /// <summary>
    /// Whether the weight gradient runs as Winograd F(3×3, 2×2) (KernelEmitter.EmitWinogradWeightGrad): for a layer
    /// whose forward kernel is Winograd and reads its input as a zero-padded NCHW8c grid two rows and columns larger
    /// than ∂Z (<see cref="Input"/>), and whose weight is not summed in chunks. 16 multiply-adds per 2×2 tile of ∂Z and channel pair
    /// where the direct kernel does 36.
    /// </summary>
    public bool Winograd { get; init; }

    /// <summary>
    /// Floats of one M[o / 32][i][ξ][o % 32] of a Winograd weight gradient (16 per weight of a 3x3 kernel's 9), each
    /// group of 32 outputs followed by its gap (<see cref="WinogradGroupFloats"/>): from a large enough batch it keeps
    /// one per half of the batch (<see cref="WinogradHalves"/>).
    /// </summary>
    public long WinogradSumFloats => Layer.Output.C / 32 * WinogradGroupFloats;

    /// <summary>
    /// Floats from one group's sums M[h] to the next's: its 16·I·32 and <see cref="WinogradGroupGapFloats"/> that no
    /// kernel touches.
    /// </summary>
    public long WinogradGroupFloats => 16L * 32 * Layer.Input.C + WinogradGroupGapFloats;

    /// <summary>
    /// The unused floats after each group's sums, 128 KiB. Two threads write the sums of different groups, each
    /// walking its groups' input channels upward 2 KiB apart; with the groups back to back, the thread that wrote
    /// the lower groups slowed the other (64→64 at 56×56, batch 1, 2 threads, timed inside the kernel: the upper
    /// group's part 0.720 ms against 0.655 for the lower, and still the slower with the threads' parts swapped; on
    /// one thread both 0.58). Our reading: the lower thread's hardware prefetch runs past its last group into the
    /// next one's first lines, which the other core then takes back; walking the lower group downward instead
    /// removed the loss too. A gap serves either direction and any thread count that splits at group boundaries
    /// (not threads that split one group's rows of ξ, whose 2 KiB rows they share). Smaller gaps helped less
    /// (64 KiB hardly at all on 128→128 at 28×28); 128 KiB helped both layers, and 96 to 256 KiB helped 128→128
    /// alike (architecture.md).
    /// </summary>
    public const int WinogradGroupGapFloats = 32 << 10;

    /// <summary>
    /// The sums M a Winograd weight gradient keeps from a large enough batch (KernelEmitter.WinogradGradHalvesFrom):
    /// one per half of the batch, ⌈N/2⌉ samples each (an odd batch's middle sample split by rows of tiles), added by
    /// its output transform. Each thread of two then transforms only its own half of X and ∂Z.
    /// </summary>
    public const int WinogradHalves = 2;

    /// <summary>The packed weight floats: <c>[O/8][span][kh][kw][8]</c>, as ParameterLayout.ConvBlocked packs them.</summary>
    public static int PackedWeightFloats(LayerModel l)
        => Tensor.Blocks(l.Output.C) * 8 * ConvTiling.BlockSpan(l.Output.C, l.Input.C, l.Groups) * l.KernelHeight * l.KernelWidth;

    /// <summary>The packed bias floats (whole vectors), 0 without a bias.</summary>
    public int PackedBiasFloats => BiasPointer is null ? 0 : Tensor.Blocks(Layer.Output.C) * 8;

    /// <summary>Floats of one chunk's partial sums: the packed weight, then the packed bias.</summary>
    public int ChunkFloats => PackedWeightFloats(Layer) + PackedBiasFloats;

    /// <summary>
    /// Floats from one chunk's partial sums to the next: whole cache lines (the array starts on one), so that chunks that
    /// two threads write never share a line.
    /// </summary>
    public int ChunkStride => (ChunkFloats + 15) & ~15;

    public bool Planar => Layer.IsDepthwise && !Input.Blocked;

    /// <summary>A planar product's weight gradient (NCHW X and ∂Z, see <see cref="ConvStep.PlanarGemm"/>): pixels in the lanes.</summary>
    public bool PlanarProduct => !Input.Blocked && !Gradient.Blocked && ConvStep.GemmFits(Layer);
}

/// <summary><c>∂W[o,i] += Σₙ ∂Y[n,o] · X[n,i]</c>.</summary>
internal sealed record LinearWeightGradStep(LayerModel Layer, Tensor Input, int Inputs, Tensor Gradient, string Pointer, string? MaskPointer) : BackwardStep(false);

/// <summary>
/// Places ∂Z[y,x] at <c>(s·y + top, s·x + left)</c> of a zeroed grid (values falling outside are dropped); or, as an
/// <paramref name="Interleave"/>, one output phase of a strided layer's ∂X into its pixels, leaving the others as they are.
/// With <paramref name="Odd"/> (stride 2, NCHW, even width), two phases of one row parity at once: From holds the even
/// columns and Odd the odd ones, so every row of that parity is written whole.
/// </summary>
internal sealed record SpreadStep(int Layer, Tensor From, Tensor To, int Stride, int Top, int Left, bool InputOnly, bool Interleave = false, Tensor? Odd = null) : BackwardStep(InputOnly);

/// <summary>A forward kernel run on gradients: backward-data of a convolution or Linear layer.</summary>
internal sealed record DataGradStep(Step Kernel, RepackedWeights Weights, bool InputOnly) : BackwardStep(InputOnly);

/// <summary>
/// ∂X of a dense undilated layer with few input channels, summed over the output channels in the lanes:
/// <c>∂X[n,i,y,x] = Σ_o Σ_tap W[o,i,tap] · ∂Z[n,o,(y+p−ΔY)/s,(x+p−ΔX)/s]</c> (over the taps where s divides evenly:
/// a tile takes every s-th pixel of a row, so a tap reaches all its pixels or none) with o running along the 8 lanes
/// of the NCHW8c ∂Z vectors and the forward's packed weights (8 output channels per vector, as they are), the lanes
/// added up once per pixel at the end. Every multiply-add is a real one: taps that fall off ∂Z's edges are left out per
/// pixel and per row instead of reading a zero grid, and no lane is empty. The transposed kernel instead puts the few
/// input channels in the lanes (LeNet's conv2: 6 of 8) or runs along ∂X's rows over a zero-bordered NCHW copy of ∂Z
/// (14-pixel rows in 16 lanes, 5 of 7 column taps real): 62% of its multiply-adds count at best.
/// </summary>
/// <param name="Gradient">∂Z, NCHW8c with whole blocks (no lane of a vector without its channel).</param>
/// <param name="Output">∂X: NCHW8c, one block, the lanes past its channels written zero; or NCHW (the network's input,
/// whose gradient the caller receives), each lane of a pixel's sum stored into its channel's plane.</param>
internal sealed record LaneSumDataGradStep(LayerModel Layer, Tensor Gradient, Tensor Output, string WeightPointer, bool InputOnly) : BackwardStep(InputOnly)
{
    /// <summary>Input channels at most: a tile holds them all, for 12 / C pixels (at least 2, so 10–12 FMA chains).</summary>
    public const int MaxInputs = 6;

    /// <summary>
    /// Whether the kernel fits: dense, undilated; ∂Z blocked with whole blocks; ∂X with at most
    /// <see cref="MaxInputs"/> channels; and at least 128 multiply-adds per ∂X value (o × taps / stride²), so the
    /// horizontal sum (about 9 instructions per pixel, and C scalar stores into NCHW) stays small beside them.
    /// </summary>
    public static bool Fits(LayerModel l, Tensor gz, Tensor source)
        => l.Groups == 1 && l.Dilation == 1 && gz.Blocked && gz.C % 8 == 0 && source.C <= MaxInputs
            && gz.C * l.KernelHeight * l.KernelWidth >= 128 * l.Stride * l.Stride;

    /// <summary>∂X pixels per tile: C × pixels accumulators, 12 at most; with a stride s, every s-th pixel of a row.</summary>
    public int Pixels => 12 / Output.C;
}

/// <summary>Routes ∂Y back through a pooling window: to the first maximum, or evenly over the window.</summary>
/// <param name="Relu">The derivative of the ReLU whose output the pool read (<paramref name="Input"/>) is applied too, in
/// place of a separate pass over ∂X (see <see cref="Tiles"/>).</param>
internal sealed record PoolGradStep(LayerModel Layer, Tensor Input, Tensor Output, Tensor GradY, Tensor GradX, bool InputOnly, bool Relu = false) : BackwardStep(InputOnly)
{
    /// <summary>The windows tile the input (stride = window, no padding): each input pixel gets exactly one store.</summary>
    public bool Tiles => Layer.Kind != LayerKind.GlobalAvgPool && Layer.Stride == Layer.KernelHeight && !Layer.HasPadding
        && KernelEmitter.UnrollsWindow(Layer.KernelHeight);
}

/// <summary>A layout copy of a gradient (towards the caller's ∂loss/∂input).</summary>
internal sealed record CopyGradStep(CopyStep Copy, bool InputOnly) : BackwardStep(InputOnly);

internal sealed class BackwardPlan
{
    public List<BackwardStep> Steps { get; } = new();
    /// <summary>Gradient tensors and spread grids, each with its own region of the gradient workspace.</summary>
    public List<Tensor> Tensors { get; } = new();
    public List<RepackedWeights> Repacked { get; } = new();
    /// <summary>Backward-data kernels' Winograd-transformed weights, and whether only ∂loss/∂input needs them.</summary>
    public List<(WinogradPlan Plan, bool InputOnly)> Winograd { get; } = new();
    public List<(ParameterPlan Weight, string Pointer)> Masks { get; } = new();
    public Tensor OutputGradient { get; private set; } = null!;
    public Tensor InputGradient { get; private set; } = null!;
    /// <summary>
    /// The gradient of the last tensor, when Backward may read the caller's ∂loss/∂output in its place (see Build).
    /// </summary>
    public Tensor? DirectOutputGradient { get; private set; }
    public long FloatsPerSample => Tensors.Sum(t => (long)t.Stride);
    /// <summary>
    /// Whether a step reads forward tensor <paramref name="field"/> from the tape (a weight gradient its input, an
    /// activation or pooling its output or input); the others read gradients and weights only.
    /// </summary>
    public bool Reads(string field) => Steps.Any(step => step switch
    {
        ConvWeightGradStep s => s.Input.Field == field,
        LinearWeightGradStep s => s.Input.Field == field,
        ActivationGradStep s => s.Output.Field == field,
        PoolGradStep s => s.Input.Field == field || s.Output.Field == field,
        _ => false,
    });

    /// <summary>Floats of the partial sums of the chunked weight gradients (<see cref="ConvWeightGradStep.Chunked"/>), held by the network.</summary>
    public int PartialSumFloats { get; private set; }

    /// <summary>
    /// Floats of the sums the Winograd weight gradients (<see cref="ConvWeightGradStep.Winograd"/>) accumulate, held by
    /// the network: the largest one's, for both halves of the batch, since each is used up before the next step starts.
    /// </summary>
    public long WinogradSumFloats => ConvWeightGradStep.WinogradHalves * Steps.OfType<ConvWeightGradStep>().Where(s => s.Winograd).Select(s => s.WinogradSumFloats).DefaultIfEmpty().Max();

    private int _next;

    private Tensor New(bool blocked, int c, int h, int w, int stride)
    {
        var t = new Tensor($"G{_next++}", BufferKind.Scratch, blocked, c, h, w, stride);
        Tensors.Add(t);
        return t;
    }

    private Tensor Like(Tensor t) => New(t.Blocked, t.C, t.H, t.W, t.Stride);

    private string _inputField = "";

    /// <summary>
    /// A new gradient for forward tensor <paramref name="t"/>, in its layout: for the network's input, the caller's
    /// ∂loss/∂input itself, so the step that produces it writes it there instead of into a tensor copied out after.
    /// </summary>
    private Tensor NewGradientOf(Tensor t) => t.Field == _inputField ? InputGradient : Like(t);

    public static BackwardPlan Build(ExecutionPlan forward)
    {
        var plan = new BackwardPlan();
        var steps = forward.Steps;
        var output = (CopyStep)steps[steps.Count - 1];

        // A gradient is needed for the parameters only downstream of the first layer that has any; upstream of it,
        // gradients serve ∂loss/∂input alone and run only when the caller asks for it.
        var forParameters = new HashSet<string>();
        bool seenParameters = false;
        foreach (var step in steps)
        {
            if (step is ConvStep or LinearStep) seenParameters = true;
            if (seenParameters) forParameters.Add(step.To.Field);
        }
        bool InputOnly(Tensor t) => !forParameters.Contains(t.Field);
        var views = new HashSet<string>(steps.OfType<ConvStep>().Where(c => c.From.Field != c.Source.Field).Select(c => c.From.Field));

        plan.OutputGradient = output.To with { Field = "OutputGradient" };
        plan.InputGradient = forward.Input with { Field = "InputGradient" };
        plan._inputField = forward.Input.Field;
        var grad = new Dictionary<string, Tensor>();
        // The step before the output copy: the one that made the output (null when the copy is the only step).
        var producer = steps.Count >= 2 ? steps[steps.Count - 2] : null;
        // A last layer that stored its register tile transposed into the caller's NCHW (ConvStep.TransposesOutput) has
        // the gradients of any blocked layer: ∂loss/∂output goes into NCHW8c, as if that layer's output were blocked.
        var from = output.From;
        var last = producer is ConvStep { TransposesOutput: true }
            ? plan.New(true, from.C, from.H, from.W, Tensor.BlockedStride(from.C, from.H, from.W))
            : plan.Like(from);
        // By the layout copy (8×8 register transposes into NCHW8c, whose lanes past the last channel it zeroes too);
        // a flat tensor (a Linear output, which may have floats past its features to zero) takes one step per sample.
        plan.Steps.Add(last.Blocked || (last.H * last.W > 1 && last.Stride == last.C * last.H * last.W)
            ? new CopyGradStep(new CopyStep(plan.OutputGradient, last, 0, 0, "∂loss/∂output into the internal layout"), false)
            : new GradientInStep(plan.OutputGradient, last));
        grad[output.From.Field] = last;
        // A last tensor in the caller's layout (NCHW, no padding: a planar depthwise layer's output) whose gradient the
        // steps only read (no activation works in place on it) may be read from the caller's ∂loss/∂output directly.
        if (plan.Steps[0] is CopyGradStep && !last.Blocked && last.Stride == plan.OutputGradient.Stride
            && producer is ConvStep { Activation: null })
            plan.DirectOutputGradient = last;

        for (int i = steps.Count - 2; i >= 0; i--)
        {
            switch (steps[i])
            {
                case CopyStep { RecordedOnly: true }:
                    break; // the weight gradient's padded copy of an input that the forward kernel read as a view
                case CopyStep copy when views.Contains(copy.To.Field):
                    break; // the convolution's backward-data writes ∂ of the unpadded source directly
                case CopyStep copy:
                {
                    if (!grad.TryGetValue(copy.To.Field, out var gy)) break;
                    var gx = plan.NewGradientOf(copy.From);
                    plan.Steps.Add(new CopyGradStep(new CopyStep(gy, gx, 0, 0, "gradient back to NCHW"), InputOnly(copy.From)));
                    grad[copy.From.Field] = gx;
                    break;
                }
                case ActivationStep a:
                {
                    var gy = grad[a.To.Field];
                    plan.Steps.Add(new ActivationGradStep(a.Layer.Kind, a.Layer.Index, a.To, gy, InputOnly(a.From)));
                    grad[a.From.Field] = gy;
                    break;
                }
                case PoolStep p:
                {
                    var gx = plan.New(true, p.From.C, p.From.H, p.From.W, p.From.Stride);
                    plan.Steps.Add(new PoolGradStep(p.Layer, p.From, p.To, grad[p.To.Field], gx, InputOnly(p.From)));
                    grad[p.From.Field] = gx;
                    break;
                }
                case ConvStep c:
                    plan.AddConv(forward, c, grad, InputOnly(c.Source));
                    break;
                case LinearStep l:
                    plan.AddLinear(forward, l, grad, InputOnly(l.From));
                    break;
            }
        }
        if (grad.TryGetValue(forward.Input.Field, out var inputGradient) && inputGradient != plan.InputGradient)
            plan.Steps.Add(new CopyGradStep(new CopyStep(inputGradient, plan.InputGradient, 0, 0, "∂loss/∂input to the caller") { AfterRowSplit = plan.LastSplitsByRows }, true));
        return plan;
    }

    /// <summary>Whether the step added last is a backward-data kernel whose work items run down the rows (KernelEmitter.SplitsByRows).</summary>
    private bool LastSplitsByRows => Steps.Count > 0 && Steps[Steps.Count - 1] is DataGradStep d && KernelEmitter.SplitsByRows(d.Kernel);

    /// <summary>
    /// A gradient in the layout and stride of its forward tensor, converting when the kernel that produced it writes
    /// another (an activation upstream works element-wise on both together).
    /// </summary>
    private Tensor InLayoutOf(Tensor forward, Tensor gradient, bool inputOnly)
    {
        if (gradient.Blocked == forward.Blocked && gradient.Stride == forward.Stride) return gradient;
        var converted = NewGradientOf(forward);
        Steps.Add(new CopyGradStep(new CopyStep(gradient, converted, 0, 0, "gradient into its tensor's layout") { AfterRowSplit = LastSplitsByRows }, inputOnly));
        return converted;
    }

    /// <summary>
    /// The gradient steps of a Conv or Linear epilogue, last first: through the fused activation (in place on ∂Y), then
    /// the bias, unless the weight-gradient kernel sums it (<paramref name="biasInWeightGrad"/>). Returns ∂Z and the
    /// layer's weight and bias.
    /// </summary>
    private (Tensor Gradient, ParameterPlan Weight, ParameterPlan? Bias) AddEpilogueGradients(ExecutionPlan forward, LayerModel l, LayerKind? activation, Tensor output,
        Dictionary<string, Tensor> grad, bool biasInWeightGrad = false)
    {
        var gz = grad[output.Field];
        // Conv + ReLU + max pool (LeNet, VGG): the pool's backward, which stores every pixel of ∂Y once and reads the
        // ReLU's output anyway, also applies ReLU's derivative; a separate pass would read and write ∂Y again.
        int lastStep = Steps.Count - 1;
        if (activation == LayerKind.Relu && lastStep >= 0 && Steps[lastStep] is PoolGradStep { Tiles: true, Relu: false } pool
            && pool.Layer.Kind == LayerKind.MaxPool && pool.GradX == gz && pool.Input == output)
            Steps[lastStep] = pool with { Relu = true };
        else if (activation is { } act) Steps.Add(new ActivationGradStep(act, l.Index + 1, output, gz, false));
        var bias = l.Bias ? Parameter(forward, l.Index, "bias") : null;
        if (bias is not null && !biasInWeightGrad) Steps.Add(new BiasGradStep(l.Index, gz, bias.GradientPointer));
        return (gz, Parameter(forward, l.Index, "weight"), bias);
    }

    private ParameterPlan Parameter(ExecutionPlan forward, int layer, string role)
        => forward.Parameters.Single(p => p.Layer == layer && p.Role == role);

    private void AddConv(ExecutionPlan forward, ConvStep c, Dictionary<string, Tensor> grad, bool inputOnly)
    {
        var l = c.Layer;
        // A small dense weight is summed in chunks of ∂Z rows, with its bias from the same rows (see ConvWeightGradStep.Chunked).
        bool chunked = !c.Planar && !c.PlanarGemm && !l.IsDepthwise
            && ConvWeightGradStep.SumsInChunks(l, c.PaddedCopy ?? c.From, grad[c.To.Field] with { Blocked = true });
        var (gz, weight, bias) = AddEpilogueGradients(forward, l, c.Activation, c.To, grad, biasInWeightGrad: c.Planar || chunked);
        var source = c.Source;
        if (c.Planar)
        {
            // Like its forward kernel, a planar depthwise layer's gradients run along the rows of each NCHW plane: no
            // layout copies of X or ∂Z, and the bias gradient summed from the ∂Z vectors the weight gradient loads.
            Steps.Add(new ConvWeightGradStep(l, c.From, gz, weight.GradientPointer, null, bias?.GradientPointer));
            if (AddPlanarDataGrad(l, gz, source, weight, grad, inputOnly)) return;
            // ∂X rows narrower than a vector: the blocked depthwise kernel below, on an NCHW8c copy of ∂Z.
            var gz8 = New(true, gz.C, gz.H, gz.W, Tensor.BlockedStride(gz.C, gz.H, gz.W));
            Steps.Add(new CopyGradStep(new CopyStep(gz, gz8, 0, 0, "∂Z into NCHW8c for the blocked depthwise backward-data"), inputOnly));
            gz = gz8;
        }
        else
        {
            // A last layer that wrote the caller's NCHW (ConvStep.PlanarOutput): its weight gradient loads 8 output
            // channels of a pixel as one vector, so it reads an NCHW8c copy of ∂Z (backward-data takes ∂Z as it is).
            var weightGz = gz;
            if (!gz.Blocked && !c.PlanarGemm)
            {
                weightGz = New(true, gz.C, gz.H, gz.W, Tensor.BlockedStride(gz.C, gz.H, gz.W));
                Steps.Add(new CopyGradStep(new CopyStep(gz, weightGz, 0, 0, $"layer {l.Index}: ∂Z into NCHW8c for the weight gradient"), false));
            }
            string? mask = null;
            if (l.Groups > 1 && !l.IsDepthwise)
            {
                // Blocks that straddle groups hold structural zeros; their gradient must stay zero too.
                mask = $"L{l.Index}M";
                Masks.Add((weight, mask));
            }
            // Over the padded copy, recorded where the forward kernel read a view (this kernel reads the padding).
            var input = c.PaddedCopy ?? c.From;
            var weightGrad = new ConvWeightGradStep(l, input, weightGz, weight.GradientPointer, mask, chunked ? bias?.GradientPointer : null, c.Zeros)
            {
                Chunked = chunked,
                PartialOffset = PartialSumFloats,
                // Where the input it reads is the Winograd forward kernel's grid (X zero-padded, in NCHW8c; not an
                // unpadded NCHW input, which the forward copies into a grid of its own).
                Winograd = !chunked && input == c.Winograd && weightGz.Blocked,
            };
            if (chunked) PartialSumFloats += ConvWeightGradStep.WeightGradChunks * weightGrad.ChunkStride;
            Steps.Add(weightGrad);
        }

        if (c.PlanarGemm)
        {
            // ∂X = Wᵀ·∂Z is a planar product itself, over the transposed weights: NCHW ∂Z in, NCHW ∂X out, no grid.
            var planar = NewGradientOf(source);
            var transposed = TransposedConv(l, gz.C, gz.H, gz.W, source, 1, 1);
            AddTransposedConv(transposed, gz, planar, weight, TransposedPointer(l), TransposedFactory(weight, l, source.C), inputOnly);
            grad[source.Field] = planar;
            return;
        }

        if (LaneSumDataGradStep.Fits(l, gz, source))
        {
            var sums = NewGradientOf(source);
            Steps.Add(new LaneSumDataGradStep(l, gz, sums, weight.Pointer, inputOnly));
            grad[source.Field] = sums;
            return;
        }

        // Otherwise a layer with few input channels (LeNet's first: its ∂Z, 6 channels, is a partial block) gets ∂X
        // from the planar kernel, 8 pixels per vector: in NCHW8c its 1–6 channels would leave most lanes empty.
        var gx = PlanarDataGrad(l, source)
            ? (source.Blocked ? New(false, source.C, source.H, source.W, source.C * source.H * source.W) : NewGradientOf(source))
            : New(true, source.C, source.H, source.W, Tensor.BlockedStride(source.C, source.H, source.W));
        if (!AddStridedDataGrad(l, gz, gx, weight, inputOnly))
        {
            int kh = l.KernelHeight, kw = l.KernelWidth, d = l.Dilation;
            int h = source.H + d * (kh - 1), w = source.W + d * (kw - 1);
            int top = d * (kh - 1) - l.PadTop, left = d * (kw - 1) - l.PadLeft;
            var transposed = TransposedConv(l, l.Output.C, h, w, source, kh, kw, d);
            // Stride 1 with ∂Z whole inside the grid (no crop): the grid is ∂Z's zero-padded frame.
            bool framed = l.Stride == 1 && top >= 0 && left >= 0 && top + gz.H <= h && left + gz.W <= w;
            if (!AddWinogradDataGrad(l, transposed, gz, gx, weight, h, w, top, left, framed, inputOnly))
            {
                // Where the kernel reads no tap on the grid's zero border, it reads ∂Z in place through a view of the
                // grid: no copy of ∂Z onto it (a pass over ∂Z that, at 2 threads, writes what the other core has just read).
                // Not Winograd down the columns (ConvStep.ColumnWinogradFits): its transform reads every row of the grid.
                // (The transposed convolution keeps the layer's dilation and groups, so the fit checks those; every one is stride 1.)
                bool columns = l.Stride == 1 && gx.Blocked && ConvStep.ColumnWinogradFits(transposed);
                var view = framed && !columns ? Tensor.ZeroPadded(gz, h, w, top, left) : null;
                var grid = view is not null && new ConvStep(transposed, view, gx, null, "", null, view, view.View).ReadsOnlyInterior
                    ? view
                    : Grid(l, gz, h, w, l.Stride, top, left, gx.Blocked, inputOnly);
                AddTransposedConv(transposed, grid, gx, weight, TransposedPointer(l), TransposedFactory(weight, l, source.C), inputOnly,
                    l.Stride == 1 ? Zeros(grid, gz, top, left) : default, columns: columns);
            }
        }
        grad[source.Field] = InLayoutOf(source, gx, inputOnly);
    }

    /// <summary>
    /// Whether a dense layer's backward-data runs the planar kernel (<see cref="ConvStep.PlanarOutput"/>): at most
    /// <see cref="ConvStep.MaxPlanarOutputs"/> input channels, and rows of at least one vector in every output phase.
    /// </summary>
    private static bool PlanarDataGrad(LayerModel l, Tensor source)
        => l.Groups == 1 && source.C <= ConvStep.MaxPlanarOutputs && source.W >= 8 * l.Stride;

    private static string TransposedPointer(LayerModel l) => $"L{l.Index}WT";

    /// <summary>
    /// The stride-1 convolution, without bias, that a backward-data kernel runs for layer <paramref name="l"/>: from
    /// <paramref name="channels"/> gradient channels on an <paramref name="h"/> × <paramref name="w"/> plane (∂Z, or its
    /// grid) to <paramref name="output"/>'s shape, with the layer's groups.
    /// </summary>
    private static LayerModel TransposedConv(LayerModel l, int channels, int h, int w, Tensor output, int kh, int kw, int dilation = 1)
        => new(LayerKind.Conv, l.Index, new TensorShape(channels, h, w, false), new TensorShape(output.C, output.H, output.W, false),
            KernelHeight: kh, KernelWidth: kw, Stride: 1, Dilation: dilation, Groups: l.Groups, Bias: false);

    /// <summary>The flipped, transposed weights of a stride-1 backward-data kernel.</summary>
    private static string TransposedFactory(ParameterPlan weight, LayerModel l, int inChannels)
        => $"global::ConvGen.TransposedWeights.ForConv({weight.Field}, inChannels: {inChannels}, groups: {l.Groups}, kh: {l.KernelHeight}, kw: {l.KernelWidth})";

    /// <summary>
    /// Backward-data of a planar depthwise layer (stride 1) as the planar kernel itself, over ∂Z with the flipped window
    /// and the complementary padding <c>d·(k − 1) − p</c> on each side: NCHW ∂Z in, NCHW ∂X out, no grid. Returns false
    /// (nothing added) where ∂X rows are narrower than a vector.
    /// </summary>
    private bool AddPlanarDataGrad(LayerModel l, Tensor gz, Tensor source, ParameterPlan weight, Dictionary<string, Tensor> grad, bool inputOnly)
    {
        int kh = l.KernelHeight, kw = l.KernelWidth, d = l.Dilation;
        var transposed = TransposedConv(l, gz.C, gz.H, gz.W, source, kh, kw, d) with
        {
            PadTop = d * (kh - 1) - l.PadTop, PadBottom = d * (kh - 1) - l.PadBottom, PadLeft = d * (kw - 1) - l.PadLeft, PadRight = d * (kw - 1) - l.PadRight,
        };
        if (!ConvStep.ReadsPlanar(transposed, gz)) return false;
        var gx = NewGradientOf(source);
        AddTransposedConv(transposed, gz, gx, weight, TransposedPointer(l), TransposedFactory(weight, l, source.C), inputOnly);
        grad[source.Field] = gx;
        return true;
    }

    /// <summary>
    /// Backward-data of a strided, undilated, dense or grouped convolution as s² stride-1 convolutions, one per output
    /// phase <c>(py, px)</c>: ∂X[s·y+py, s·x+px] reads only the taps whose rows are ≡ top − py and columns ≡ left − px
    /// (mod s) of the flipped window, over ∂Z itself. Spreading ∂Z onto a grid with s − 1 zeros between values would
    /// have the kernel multiply zeros in (s² − 1)/s² of its FMAs. Phases whose grids start at the same place share one.
    /// Returns false (nothing added) where a phase would have no taps or no pixels.
    /// </summary>
    private bool AddStridedDataGrad(LayerModel l, Tensor gz, Tensor gx, ParameterPlan weight, bool inputOnly)
    {
        int s = l.Stride, kh = l.KernelHeight, kw = l.KernelWidth;
        if (s == 1 || l.Dilation != 1 || l.IsDepthwise || kh < s || kw < s || gx.H < s || gx.W < s) return false;
        int top = kh - 1 - l.PadTop, left = kw - 1 - l.PadLeft;
        static int Mod(int a, int m) => (a % m + m) % m;
        var phases = new List<Phase>();
        for (int py = 0; py < s; py++)
            for (int px = 0; px < s; px++)
            {
                // First tap of the phase in the flipped window, the phase's taps (every s-th from there), its pixels,
                // and where ∂Z starts on its grid: ∂X[s·y+py] reads ∂Z[y + (py + ty − top)/s + j] for its j-th tap row.
                int ty = Mod(top - py, s), tx = Mod(left - px, s);
                int rows = (kh - ty + s - 1) / s, cols = (kw - tx + s - 1) / s;
                int h = (gx.H - py + s - 1) / s, w = (gx.W - px + s - 1) / s;
                phases.Add(new Phase(py, px, ty, tx, rows, cols, h, w, -(py + ty - top) / s, -(px + tx - left) / s));
            }
        // A grid may be larger than a phase reads, except for a one-tap phase: the 1x1 kernel runs over whole planes.
        static (int, int, int, int) GridKey(Phase p) => p.Rows * p.Cols == 1 ? (p.GridTop, p.GridLeft, p.H, p.W) : (p.GridTop, p.GridLeft, 0, 0);
        var grids = new Dictionary<(int, int, int, int), Tensor>();
        foreach (var g in phases.GroupBy(GridKey))
        {
            int h = g.Max(p => p.H + p.Rows - 1), w = g.Max(p => p.W + p.Cols - 1);
            grids[g.Key] = Grid(l, gz, h, w, 1, g.Key.Item1, g.Key.Item2, gx.Blocked, inputOnly);
        }
        // NCHW phases of a stride-2 layer whose width is even have equal widths in each row parity: the second phase of
        // a parity writes its rows whole with the first (two vector stores per 16 pixels), not every other pixel.
        bool pairs = s == 2 && !gx.Blocked && gx.W % 2 == 0 && gx.W / 2 >= 8;
        Tensor? even = null;
        foreach (var p in phases)
        {
            var grid = grids[GridKey(p)];
            var phase = gx.Blocked ? New(true, gx.C, p.H, p.W, Tensor.BlockedStride(gx.C, p.H, p.W)) : New(false, gx.C, p.H, p.W, gx.C * p.H * p.W);
            var transposed = TransposedConv(l, gz.C, grid.H, grid.W, phase, p.Rows, p.Cols);
            AddTransposedConv(transposed, grid, phase, weight, $"L{l.Index}WT{p.Py}{p.Px}",
                $"global::ConvGen.TransposedWeights.ForConvPhase({weight.Field}, inChannels: {gx.C}, groups: {l.Groups}, kh: {kh}, kw: {kw}, stride: {s}, rowPhase: {p.Ty}, colPhase: {p.Tx})", inputOnly,
                Zeros(grid, gz, p.GridTop, p.GridLeft));
            if (!pairs) Steps.Add(new SpreadStep(l.Index, phase, gx, s, p.Py, p.Px, inputOnly, Interleave: true));
            else if (p.Px == 0) even = phase;
            else Steps.Add(new SpreadStep(l.Index, even!, gx, s, p.Py, 0, inputOnly, Interleave: true, Odd: phase));
        }
        return true;
    }

    /// <summary>
    /// One output phase of a strided backward-data: pixels <c>(s·y + Py, s·x + Px)</c> of ∂X, the <c>Rows × Cols</c> taps
    /// of the flipped window from <c>(Ty, Tx)</c> in steps of s, an <c>H × W</c> result, ∂Z at (GridTop, GridLeft) of its grid.
    /// </summary>
    private readonly record struct Phase(int Py, int Px, int Ty, int Tx, int Rows, int Cols, int H, int W, int GridTop, int GridLeft);

    /// <summary>
    /// ∂Z on an <paramref name="h"/> × <paramref name="w"/> backward-data grid at <c>(stride·y + top, stride·x + left)</c>.
    /// Where that grid would be ∂Z unchanged (stride 1, no border: a 1x1 layer without padding, the one-tap phase of a
    /// 3x3 stride-2 layer) and the kernel that reads it takes NCHW8c (<paramref name="blockedKernel"/>: one writing
    /// NCHW8c), it is ∂Z itself; else a new grid, NCHW8c for a depthwise layer and NCHW otherwise.
    /// </summary>
    private Tensor Grid(LayerModel l, Tensor gz, int h, int w, int stride, int top, int left, bool blockedKernel, bool inputOnly)
    {
        if (stride == 1 && top == 0 && left == 0 && h == gz.H && w == gz.W && gz.Blocked && blockedKernel) return gz;
        var grid = l.IsDepthwise ? New(true, gz.C, h, w, Tensor.BlockedStride(gz.C, h, w)) : New(false, gz.C, h, w, gz.C * h * w);
        if (stride == 1 && !grid.Blocked && top >= 0 && left >= 0 && top + gz.H <= grid.H && left + gz.W <= grid.W)
        {
            // Nothing to spread or drop: ∂Z lands whole inside the grid, so the layout copy's 8×8 register transposes
            // place it.
            Steps.Add(new CopyGradStep(new CopyStep(gz, grid, top, left, $"layer {l.Index}: ∂Z onto the backward-data grid"), inputOnly));
        }
        else Steps.Add(new SpreadStep(l.Index, gz, grid, stride, top, left, inputOnly));
        return grid;
    }

    /// <summary>The rows and columns around ∂Z on a grid where it starts at (<paramref name="top"/>, <paramref name="left"/>) (stride 1): all zero.</summary>
    private static ZeroBorder Zeros(Tensor grid, Tensor gz, int top, int left)
        => new(Math.Max(0, top), Math.Max(0, grid.H - top - gz.H), Math.Max(0, left), Math.Max(0, grid.W - left - gz.W));

    /// <summary>A forward convolution kernel run over transposed weights: <paramref name="grid"/> → <paramref name="output"/>.</summary>
    /// <param name="winograd">Run it as the Winograd kernel (<paramref name="grid"/> is then a zero-padded NCHW8c grid).</param>
    /// <param name="columns">Run it as the Winograd kernel down the columns (<paramref name="grid"/> then a grid in memory).</param>
    private void AddTransposedConv(LayerModel transposed, Tensor grid, Tensor output, ParameterPlan weight, string pointer, string factory, bool inputOnly,
        ZeroBorder zeros = default, bool winograd = false, bool columns = false)
    {
        var repacked = new RepackedWeights(weight, pointer, "", factory, ScalarTwinOnly: winograd || columns);
        Repacked.Add(repacked);
        Steps.Add(new DataGradStep(new ConvStep(transposed, grid, output, null, pointer, null, grid, zeros, Winograd: winograd ? grid : null, ColumnWinograd: columns),
            repacked, inputOnly));
        string? transform = winograd ? "ForConv3x3DataGrad" : columns ? "ForConvColumnsDataGrad" : null;
        if (transform is not null)
            Winograd.Add((new WinogradPlan(ConvStep.WinogradPointer(pointer),
                $"global::ConvGen.WinogradWeights.{transform}({weight.Field}, inChannels: {transposed.Output.C})", transposed.Index), inputOnly));
    }

    /// <summary>
    /// Backward-data of a stride-1 3x3 layer whose flipped, transposed kernel the Winograd kernel runs
    /// (<see cref="ConvStep.WinogradFits"/>): ∂Z copied onto a zero-padded NCHW8c grid by pairs of rows (∂Z itself where
    /// it already is one), then the Winograd kernel over the transformed transposed weights. Returns false (nothing
    /// added) where it does not fit: <paramref name="framed"/> (stride 1, ∂Z whole inside the grid) is required.
    /// </summary>
    private bool AddWinogradDataGrad(LayerModel l, LayerModel transposed, Tensor gz, Tensor gx, ParameterPlan weight, int h, int w, int top, int left,
        bool framed, bool inputOnly)
    {
        if (!framed || !ConvStep.WinogradFits(transposed) || !gz.Blocked || !gx.Blocked) return false;
        var grid = top == 0 && left == 0 && h == gz.H && w == gz.W ? gz : New(true, gz.C, h, w, Tensor.BlockedStride(gz.C, h, w));
        if (grid != gz)
            Steps.Add(new CopyGradStep(new CopyStep(gz, grid, top, left, $"layer {l.Index}: ∂Z onto the zero-padded NCHW8c grid of the Winograd backward-data kernel",
                TileRows: transposed.Output.H / 2), inputOnly));
        AddTransposedConv(transposed, grid, gx, weight, TransposedPointer(l), TransposedFactory(weight, l, gx.C), inputOnly, winograd: true);
        return true;
    }

    private void AddLinear(ExecutionPlan forward, LinearStep s, Dictionary<string, Tensor> grad, bool inputOnly)
    {
        var l = s.Layer;
        var (gy, weight, _) = AddEpilogueGradients(forward, l, s.Activation, s.To, grad);
        int inputs = s.From.LinearInputs;
        // After a blocked Flatten the inputs include the unused lanes of the last channel block. They hold whatever the
        // layer before computed for a channel that does not exist (sigmoid(0) = 0.5, say): their weights must stay zero,
        // so their gradient is masked out.
        string? mask = null;
        if (s.From.Blocked && s.From.C % 8 != 0)
        {
            mask = $"L{l.Index}M";
            Masks.Add((weight, mask));
        }
        Steps.Add(new LinearWeightGradStep(l, s.From, inputs, gy, weight.GradientPointer, mask));

        // ∂X as a Linear layer out → inputs over Wᵀ; its output is stored in whole vectors of 8.
        var gx = New(s.From.Blocked, s.From.C, s.From.H, s.From.W, Tensor.Blocks(inputs) * 8);
        var flatView = gx with { Blocked = false, C = inputs, H = 1, W = 1 };
        var transposed = new LayerModel(LayerKind.Linear, l.Index,
            new TensorShape(l.Output.C, 1, 1, true), new TensorShape(inputs, 1, 1, true), Bias: false);
        string pointer = $"L{l.Index}WT";
        var repacked = new RepackedWeights(weight, pointer, "", $"global::ConvGen.TransposedWeights.ForLinear({weight.Field}, inputs: {inputs})");
        Repacked.Add(repacked);
        Steps.Add(new DataGradStep(new LinearStep(transposed, gy, flatView, null, pointer, null), repacked, inputOnly));
        grad[s.From.Field] = InLayoutOf(s.From, gx, inputOnly);
    }
}

using System;
using System.Collections.Generic;
using System.Linq;
using ConvGen.Generator.Model;
using static ConvGen.Generator.Emit.CodeWriter;

namespace ConvGen.Generator.Emit;

/// <summary>
/// Writes one kernel per step of the plan. Each kernel is a static method over a range of independent work items
/// (so <c>Parallelism.For</c> can split it) with every shape baked in as a literal. Convolutions and Linear layers get
/// an AVX2/FMA register-tiled kernel and a scalar twin over the same packed layouts, chosen once at run time.
/// </summary>
internal sealed partial class KernelEmitter(CodeWriter w, ExecutionPlan plan)
{
    private const string Hot = "[MethodImpl(MethodImplOptions.AggressiveOptimization)]";

    /// <summary>Vector registers a kernel may keep live: AVX2's 16 (AVX-512's extra 16 are not assumed).</summary>
    private const int VectorRegisters = 16;

    public void EmitAll()
    {
        EmitActivationHelpers();
        for (int i = 0; i < plan.Steps.Count; i++)
        {
            string name = $"Step{i}";
            switch (plan.Steps[i])
            {
                case CopyStep s: EmitCopy(name, s); break;
                case ConvStep s when s.PlanarGemm: EmitPlanarGemm(name, s); break;
                case ConvStep s when s.Planar: EmitDepthwisePlanar(name, s); break;
                case ConvStep s when s.Layer.IsDepthwise: EmitDepthwise(name, s); break;
                case ConvStep s: EmitConv(name, s); break;
                case LinearStep s: EmitLinear(name, s); break;
                case ActivationStep s: EmitActivation(name, s); break;
                case PoolStep s when s.Layer.Kind == LayerKind.GlobalAvgPool: EmitGlobalAvgPool(name, s); break;
                case PoolStep s: EmitPool(name, s); break;
            }
        }
    }

    /// <summary>How many work items a step splits into (a C# expression of <c>batch</c>).</summary>
    public static string WorkItems(Step step) => Split(step).Count;

    /// <summary>
    /// The arguments after the kernel in the step's <c>Parallelism.For</c> call: its state, and the estimated work of
    /// one item, from which the runtime decides how many threads the step is worth.
    /// </summary>
    public static string ForArguments(Step step, string state) => state + WorkArgument(StepItemNanoseconds(step));

    /// <summary>The estimated work per sample of a recorded or an unrecorded Forward, in whole nanoseconds (at least 1).</summary>
    public static long ForwardSampleNanoseconds(ExecutionPlan plan, bool recorded)
        => WholeNanoseconds(plan.Steps.Where(s => recorded || !ExecutionPlan.IsRecordedOnly(s)).Sum(SampleNanoseconds));

    /// <summary>An estimate rounded to whole nanoseconds, at least 1 (so that a run of tiny steps still counts as work).</summary>
    private static long WholeNanoseconds(double nanoseconds) => Math.Max(1, (long)Math.Round(nanoseconds));

    /// <summary>Work items of the fused conv + max pool of <paramref name="conv"/> (<see cref="ConvStep.FusedPool"/>): its pooled rows.</summary>
    public static string PooledWorkItems(ConvStep conv) => $"batch * {conv.FusedPool!.To.H}";

    /// <summary>
    /// As <see cref="ForArguments"/>, for the fused conv + max pool, whose items are two convolution rows each (the
    /// column Winograd kernel's own items already are).
    /// </summary>
    public static string PooledForArguments(ConvStep conv, string state) => state + WorkArgument((conv.ColumnWinograd ? 1 : 2) * StepItemNanoseconds(conv));

    /// <summary>The estimated work of one item of a forward step (or of a backward step built on one), in nanoseconds.</summary>
    private static double StepItemNanoseconds(Step step) => SampleNanoseconds(step) / Split(step).PerSample;

    /// <summary>
    /// The <c>itemNanoseconds</c> argument of a <c>Parallelism.For</c> call, optionally times a C# expression (the
    /// batch, for steps whose items each sum over it): whole nanoseconds from 100 up, three decimals below.
    /// </summary>
    private static string WorkArgument(double nanoseconds, string? times = null)
    {
        string value = nanoseconds >= 100 ? N((long)Math.Round(nanoseconds)) : Math.Max(nanoseconds, 0.001).ToString("0.###", System.Globalization.CultureInfo.InvariantCulture);
        return $", itemNanoseconds: {value}{(times is null ? "" : $" * {times}")}";
    }

    /// <summary>The work-item count of a step (a C# expression of <c>batch</c>) and its items per sample.</summary>
    private static (string Count, double PerSample) Split(Step step)
    {
        static (string, double) BatchTimes(int items) => ($"batch * {items}", items);
        return step switch
        {
            ConvStep s when s.WinogradGroupsOutermost => BatchTimes(s.To.C / 32),
            ConvStep s when s.Winograd is not null => BatchTimes(s.To.H / 2 / WinogradRowsPerItem(s)),
            ConvStep s when s.ColumnWinograd => BatchTimes((s.To.H + 1) / 2),
            ConvStep s when s.Planar => BatchTimes(s.To.C * ((s.To.H + PlanarRows(s) - 1) / PlanarRows(s))),
            ConvStep s when s.PlanarGemm => BatchTimes(GemmItems(s)),
            ConvStep s when s.PlanarOutput || s.RowsToBlocked => BatchTimes(s.To.H),
            ConvStep s when s.Layer.IsDepthwise => BatchTimes(Tensor.Blocks(s.To.C) * s.To.H),
            ConvStep s => BatchTimes(ConvTiling.For(s).TileCount * ConvTiling.Rows(s).Y.H),
            LinearStep s => ($"(batch + {LinearRows - 1}) / {LinearRows} * {LinearTileCount(s)}", (double)LinearTileCount(s) / LinearRows),
            ActivationStep s => ($"(int)(((long)batch * {s.From.Stride} + {ActivationChunk - 1}) / {ActivationChunk})", (double)s.From.Stride / ActivationChunk),
            PoolStep s when s.Layer.Kind == LayerKind.GlobalAvgPool => BatchTimes(Tensor.Blocks(s.To.C)),
            PoolStep s => BatchTimes(Tensor.Blocks(s.To.C) * s.To.H),
            CopyStep { TileRows: > 0 } s => BatchTimes(s.TileRows),
            CopyStep { ByRows: true } s => BatchTimes(s.To.H),
            CopyStep s => BatchTimes(s.To.Blocked || s.From.Blocked ? Tensor.Blocks(s.To.C) : s.To.C),
            _ => throw new InvalidOperationException(step.GetType().Name),
        };
    }

    /// <summary>
    /// Whether a step's work items run down the rows of each sample, every channel at once (see <see cref="Split"/>): the
    /// items one thread takes then cover a band of rows, which a layout copy after it takes too (CopyStep.ByRows).
    /// </summary>
    public static bool SplitsByRows(Step step) => step switch
    {
        ConvStep s when s.WinogradGroupsOutermost || s.Planar || s.PlanarGemm || s.Layer.IsDepthwise => false,
        ConvStep s when s.Winograd is not null || s.ColumnWinograd || s.PlanarOutput || s.RowsToBlocked => true,
        ConvStep s => ConvTiling.For(s) is { TileCount: 1 } or { TilesFastest: true },
        PoolStep s => s.ByRows,
        _ => false,
    };

    /// <summary>
    /// A step's work per sample, in nanoseconds, as the runtime's thread split takes it (Parallelism.For's
    /// itemNanoseconds): multiply-adds at 40 per ns (80 GFLOP/s), anything else at 4 floats per ns. An estimate from
    /// the shapes only; the runtime compares it with the hand-off it measures.
    /// </summary>
    private static double SampleNanoseconds(Step step) => step switch
    {
        // Winograd: 16 multiply-adds per 2×2 tile and channel pair where the direct kernel does 36.
        ConvStep { Winograd: not null } s => 16.0 * s.To.C * (s.To.H / 2) * (s.To.W / 2) * s.From.C / 40,
        // Down the columns: ColumnPoints one-row 1×k convolutions per pair of output rows where the direct kernel does 2·k.
        ConvStep { ColumnWinograd: true } s => (double)ConvStep.ColumnPoints(s.Layer) * s.Layer.KernelWidth * s.To.C * ((s.To.H + 1) / 2) * s.To.W * s.From.C / 40,
        ConvStep s => (double)s.To.C * s.To.H * s.To.W * (s.From.C / s.Layer.Groups) * s.Layer.KernelHeight * s.Layer.KernelWidth / 40,
        LinearStep s => (double)s.Layer.Output.C * s.Layer.Input.C / 40,
        _ => Math.Max((double)step.From.C * step.From.H * step.From.W, (double)step.To.C * step.To.H * step.To.W) / 4,
    };

    /// <summary>A few words for the call site of a step's kernel.</summary>
    public static string Describe(Step step) => step switch
    {
        ConvStep s => $"layer {s.Layer.Index}: {(s.Layer.IsDepthwise ? "depthwise " : "")}Conv {s.Layer.KernelHeight}x{s.Layer.KernelWidth}, {s.Layer.Input.C}→{s.Layer.Output.C}{(s.Activation is null ? "" : $" + {s.Activation}")}",
        LinearStep s => $"layer {s.Layer.Index}: Linear {s.Layer.Input.C}→{s.Layer.Output.C}{(s.Activation is null ? "" : $" + {s.Activation}")}",
        ActivationStep s => $"layer {s.Layer.Index}: {s.Layer.Kind}",
        PoolStep s => $"layer {s.Layer.Index}: {s.Layer.Kind}",
        CopyStep s => s.Purpose,
        _ => step.GetType().Name,
    };

    /// <summary>A few words for the call site of a backward kernel.</summary>
    public static string Describe(BackwardStep step) => step switch
    {
        GradientInStep => "∂loss/∂output into the internal layout",
        ActivationGradStep s => $"∂ through layer {s.Layer} ({s.Kind})",
        BiasGradStep s => $"∂ layer {s.Layer} bias",
        ConvWeightGradStep { Winograd: true } s => $"∂ layer {s.Layer.Index} weight, Winograd F(3×3, 2×2)",
        ConvWeightGradStep { Chunked: true } s => $"∂ layer {s.Layer.Index} weight{(s.BiasPointer is null ? "" : " and bias")}, in {ConvWeightGradStep.WeightGradChunks} chunks of ∂Z rows",
        ConvWeightGradStep s => $"∂ layer {s.Layer.Index} weight",
        LinearWeightGradStep s => $"∂ layer {s.Layer.Index} weight",
        SpreadStep { Odd: not null } s => $"∂ layer {s.Layer} input: phases ({s.Top}, 0) and ({s.Top}, 1) into their rows",
        SpreadStep { Interleave: true } s => $"∂ layer {s.Layer} input: phase ({s.Top}, {s.Left}) into its pixels",
        SpreadStep s => $"∂ layer {s.Layer} input: output gradient onto the backward-data grid",
        DataGradStep s => $"∂ layer {((s.Kernel as ConvStep)?.Layer ?? ((LinearStep)s.Kernel).Layer).Index} input: {(s.Kernel is ConvStep { Winograd: not null } ? "Winograd" : "forward")} kernel over transposed weights",
        LaneSumDataGradStep s => $"∂ layer {s.Layer.Index} input: summed over output channels in the lanes",
        PoolGradStep s => $"∂ through layer {s.Layer.Index} ({s.Layer.Kind})",
        CopyGradStep s => s.Copy.Purpose,
        _ => step.GetType().Name,
    };

    private static string Buffer(Tensor t) => $"f->{t.Field}";

    private static string Sample(Tensor t, string n = "n") => $"{Buffer(t)} + (nint){(n.IndexOf(' ') < 0 ? n : $"({n})")} * {t.Stride}";

    /// <summary>The kernel's entry point: its AVX2 body where the CPU has AVX2 and FMA, else its scalar twin.</summary>
    private void EmitDispatcher(string name)
    {
        w.Line(Hot);
        w.Line($"private static void {name}(void* state, int begin, int end) {{ if (s_useAvx2) {name}Avx(state, begin, end); else {name}Scalar(state, begin, end); }}");
        w.Line();
    }

    /// <param name="skipLocalsInit">The body's stackalloc buffers are written before they are read: no zeroing.</param>
    private void Open(string name, string formula, string why, string? skipLocalsInit = null)
    {
        w.Line($"// {formula}");
        w.Line($"// {why}");
        if (skipLocalsInit is not null) w.Line($"[SkipLocalsInit] // {skipLocalsInit}");
        w.Line(Hot);
        w.Open($"private static void {name}(void* state, int begin, int end)");
        w.Line("var f = (Frame*)state;");
    }

    // ---------------------------------------------------------------- activations

    private void EmitActivationHelpers()
    {
        w.Line("[MethodImpl(MethodImplOptions.AggressiveInlining)]");
        w.Line("private static Vector256<float> Sigmoid(Vector256<float> v) => Vector256<float>.One / (Vector256<float>.One + Vector256.Exp(-v));");
        w.Line("[MethodImpl(MethodImplOptions.AggressiveInlining)]");
        w.Line("private static Vector256<float> Tanh(Vector256<float> v) => Vector256<float>.One - Vector256.Create(2f) / (Vector256.Exp(v + v) + Vector256<float>.One);");
        w.Line("[MethodImpl(MethodImplOptions.AggressiveInlining)]");
        w.Line("private static float Sigmoid(float v) => 1f / (1f + MathF.Exp(-v));");
        w.Line();
    }

    private static string Apply(LayerKind? activation, string v, bool vector) => activation switch
    {
        LayerKind.Relu => vector ? $"Vector256.Max({v}, Vector256<float>.Zero)" : $"MathF.Max({v}, 0f)",
        LayerKind.Sigmoid => $"Sigmoid({v})",
        LayerKind.Tanh => vector ? $"Tanh({v})" : $"MathF.Tanh({v})",
        _ => v,
    };

    private static string Formula(LayerKind kind) => kind switch
    {
        LayerKind.Relu => "max(x, 0)",
        LayerKind.Sigmoid => "1 / (1 + e^-x)",
        LayerKind.Tanh => "tanh(x)",
        _ => "x",
    };

    private const int ActivationChunk = 4096;

    private void EmitActivation(string name, ActivationStep s)
    {
        Open(name, $"Y[i] = {Formula(s.Layer.Kind)}   (layer {s.Layer.Index}, {s.From.Stride} floats per sample)",
            "Element-wise over the whole batch in chunks; the layout does not matter.");
        w.Line($"long total = (long)f->Batch * {s.From.Stride};");
        w.Line($"float* x = {Buffer(s.From)};");
        w.Line($"float* y = {Buffer(s.To)};");
        w.Open("for (int chunk = begin; chunk < end; chunk++)");
        w.Line($"long i = (long)chunk * {ActivationChunk}, stop = Math.Min(i + {ActivationChunk}, total);");
        w.Line($"for (; i + 8 <= stop; i += 8) Vector256.Store({Apply(s.Layer.Kind, "Vector256.Load(x + i)", true)}, y + i);");
        w.Line("if (i == stop) continue;");
        w.Line("// The last floats through the same vector arithmetic: a scalar tail would round differently (MathF against");
        w.Line("// Vector256's functions), and where a range ends depends on how the batch was cut among threads and passes.");
        w.Line("Vector256<float> tail = default;");
        w.Line("float* t = (float*)&tail;");
        w.Line("int rest = (int)(stop - i);");
        w.Line("for (int k = 0; k < rest; k++) t[k] = x[i + k];");
        w.Line($"tail = {Apply(s.Layer.Kind, "tail", true)};");
        w.Line("for (int k = 0; k < rest; k++) y[i + k] = t[k];");
        w.Close();
        w.Close();
        w.Line();
    }

    // ---------------------------------------------------------------- layout copies

    private void EmitCopy(string name, CopyStep s)
    {
        if (s.TileRows > 0)
        {
            EmitWinogradGrid(name, s);
            return;
        }
        if (s.ByRows)
        {
            EmitCopyRows(name, s);
            return;
        }
        var from = s.From;
        var to = s.To;
        bool padded = s.PadTop > 0 || s.PadLeft > 0 || to.H != from.H || to.W != from.W;
        string target = to.Blocked ? "NCHW8c" : "NCHW";
        Open(name, $"Y[n,c,h+{s.PadTop},w+{s.PadLeft}] = X[n,c,h,w]   ({from.C}×{from.H}×{from.W} {(from.Blocked ? "NCHW8c" : "NCHW")} → {to.C}×{to.H}×{to.W} {target}: {s.Purpose})",
            padded ? "The border is zeroed, so the next kernel reads every tap in bounds." : "A pure change of layout.");
        // Between layouts, one item is a block of 8 channels, moved as 8×8 tiles (8 channels × 8 pixels) transposed
        // in registers: whole-vector loads and stores instead of one strided float at a time.
        bool transpose = to.Blocked != from.Blocked;
        bool byBlock = to.Blocked || from.Blocked;
        bool vector = transpose && from.W >= 8;
        int unit = byBlock ? Tensor.Blocks(to.C) : to.C;
        int dstStart = (s.PadTop * to.W + s.PadLeft) * to.ColumnStride;
        w.Open("for (int item = begin; item < end; item++)");
        w.Line($"int n = item / {unit}, unit = item % {unit};");
        w.Line($"float* x = {Sample(from)};");
        w.Line($"float* y = {Sample(to)} + (nint)unit * {(byBlock && !to.Blocked ? $"{8 * to.PlaneStride}" : N(to.PlaneStride))};");
        if (to.Blocked && from.Blocked)
        {
            w.Line($"float* src = x + (nint)unit * {from.PlaneStride};");
            w.Line($"float* dst = y + {dstStart};");
            if (from.C % 8 == 0)
            {
                // Same full blocks on both sides: each row of a block is W·8 contiguous floats.
                if (padded) w.Line($"new Span<float>(y, {to.PlaneStride}).Clear();");
                w.Line($"for (int h = 0; h < {from.H}; h++)");
                w.Line($"    new ReadOnlySpan<float>(src + h * {from.RowStride}, {from.RowStride}).CopyTo(new Span<float>(dst + h * {to.RowStride}, {from.RowStride}));");
            }
            else
            {
                // Channel by channel: the lanes past the last channel may hold a value (sigmoid(0), say) and must read as zero.
                w.Line($"new Span<float>(y, {to.PlaneStride}).Clear();");
                w.Line($"for (int c = 0; c < Math.Min({from.C} - unit * 8, 8); c++)");
                w.Line($"    for (int h = 0; h < {from.H}; h++)");
                w.Line($"        for (int w = 0; w < {from.W}; w++) dst[h * {to.RowStride} + w * 8 + c] = src[h * {from.RowStride} + w * 8 + c];");
            }
        }
        else if (to.Blocked)
        {
            w.Line($"int channels = Math.Min({from.C} - unit * 8, 8);");
            w.Line($"float* src = x + (nint)unit * {8 * from.PlaneStride};");
            w.Line($"float* dst = y + {dstStart};");
            if (vector)
            {
                w.Open("if (s_useAvx2)");
                if (padded) EmitClearBorder(s);
                EachRowBy8(from, $"global::ConvGen.Registers.ToBlocked8(src + h * {from.RowStride} + {{0}}, {from.PlaneStride}, channels, dst + h * {to.RowStride} + {{0}} * 8);");
                w.Close();
                w.Open("else");
            }
            // Whole block plane cleared first: the border and the lanes past the last channel must read as zero.
            w.Line($"new Span<float>(y, {to.PlaneStride}).Clear();");
            w.Line("for (int c = 0; c < channels; c++)");
            w.Line($"    for (int h = 0; h < {from.H}; h++)");
            w.Line($"        for (int w = 0; w < {from.W}; w++) dst[h * {to.RowStride} + w * 8 + c] = src[c * {from.PlaneStride} + h * {from.RowStride} + w];");
            if (vector) w.Close();
        }
        else if (from.Blocked)
        {
            w.Line($"int channels = Math.Min({from.C} - unit * 8, 8);");
            w.Line($"float* src = x + (nint)unit * {from.PlaneStride};");
            w.Line($"float* dst = y + {dstStart};");
            if (vector)
            {
                w.Open("if (s_useAvx2)");
                if (padded) EmitClearBorder(s);
                EachRowBy8(from, $"global::ConvGen.Registers.FromBlocked8(src + h * {from.RowStride} + {{0}} * 8, dst + h * {to.RowStride} + {{0}}, {to.PlaneStride}, channels);");
                w.Close();
                w.Open("else");
                if (padded) w.Line($"new Span<float>(y, channels * {to.PlaneStride}).Clear();");
            }
            else if (padded) w.Line($"new Span<float>(y, channels * {to.PlaneStride}).Clear();");
            w.Line("for (int c = 0; c < channels; c++)");
            w.Line($"    for (int h = 0; h < {from.H}; h++)");
            w.Line($"        for (int w = 0; w < {from.W}; w++) dst[c * {to.PlaneStride} + h * {to.RowStride} + w] = src[h * {from.RowStride} + w * 8 + c];");
            if (vector) w.Close();
        }
        else
        {
            if (padded) w.Line($"new Span<float>(y, {to.PlaneStride}).Clear();");
            w.Line($"float* src = x + {from.ChannelOffset("unit")};");
            w.Line($"float* dst = y + {dstStart};");
            w.Line($"for (int h = 0; h < {from.H}; h++)");
            w.Line($"    new ReadOnlySpan<float>(src + h * {from.RowStride}, {from.W}).CopyTo(new Span<float>(dst + h * {to.RowStride}, {from.W}));");
        }
        w.Close();
        w.Close();
        w.Line();
    }

    /// <summary>
    /// <see cref="CopyStep.ByRows"/>: NCHW8c to NCHW by rows, each item one row of every block, moved as 8×8 tiles
    /// transposed in registers. A split by blocks after a kernel split by rows had each thread read half its rows from
    /// the other core's cache.
    /// </summary>
    private void EmitCopyRows(string name, CopyStep s)
    {
        Tensor from = s.From, to = s.To;
        int blocks = Tensor.Blocks(to.C);
        Open(name, $"Y[n,c,h,w] = X[n,c,h,w]   ({from.C}×{from.H}×{from.W} NCHW8c → {to.C}×{to.H}×{to.W} NCHW: {s.Purpose})",
            "A pure change of layout, one row of every block per item: the rows each thread wrote in the step before.");
        w.Open("for (int item = begin; item < end; item++)");
        w.Line($"int n = item / {from.H}, h = item % {from.H};");
        w.Line($"float* x = {Sample(from)} + h * {from.RowStride};");
        w.Line($"float* y = {Sample(to)} + h * {to.RowStride};");
        w.Open($"for (int unit = 0; unit < {blocks}; unit++)");
        w.Line($"int channels = {(to.C % 8 == 0 ? "8" : $"Math.Min({to.C} - unit * 8, 8)")};");
        w.Line($"float* src = x + (nint)unit * {from.PlaneStride};");
        w.Line($"float* dst = y + (nint)unit * {8 * to.PlaneStride};");
        w.Open("if (s_useAvx2)");
        RowBy8(from, $"global::ConvGen.Registers.FromBlocked8(src + {{0}} * 8, dst + {{0}}, {to.PlaneStride}, channels);");
        w.Close();
        w.Line("else");
        w.Line("    for (int c = 0; c < channels; c++)");
        w.Line($"        for (int w = 0; w < {from.W}; w++) dst[c * {to.PlaneStride} + w] = src[w * 8 + c];");
        w.Close();
        w.Close();
        w.Close();
        w.Line();
    }

    /// <summary>
    /// One call of <paramref name="call"/> per 8 pixels of each row ({0} = first column); a width that 8 does not divide
    /// ends with a tile that overlaps the one before (it rewrites the same values), so there is no scalar tail.
    /// </summary>
    private void EachRowBy8(Tensor from, string call)
    {
        w.Open($"for (int h = 0; h < {from.H}; h++)");
        RowBy8(from, call);
        w.Close();
    }

    /// <summary>The calls of <see cref="EachRowBy8"/> for one row.</summary>
    private void RowBy8(Tensor from, string call)
    {
        int full = from.W / 8 * 8;
        if (full == 8) w.Line(string.Format(call, "0"));
        else w.Line($"for (int x0 = 0; x0 < {full}; x0 += 8) {string.Format(call, "x0")}");
        if (full < from.W) w.Line(string.Format(call, N(from.W - 8)));
    }

    /// <summary>
    /// Zeroes only the padding of the item's target planes, before the rows are written: the top rows with the first
    /// row's left columns, the gap from each row's right columns to the next row's left ones (contiguous in NCHW and in
    /// an NCHW8c block alike), and the last row's right columns with the bottom rows. A gap of at most 8 floats gets one
    /// vector store of zeros, which may also cover the first values of the next row; the rows written after overwrite
    /// them. An NCHW8c item is one block plane, an NCHW item its <c>channels</c> planes. (The stem's backward-data grid,
    /// 64 × 115 × 115 in NCHW: clearing whole planes first wrote its 3.4 MB twice.)
    /// </summary>
    private void EmitClearBorder(CopyStep s)
    {
        var to = s.To;
        int column = to.ColumnStride, last = s.PadTop + s.From.H - 1;
        int first = s.PadTop * to.RowStride + s.PadLeft * column, rowEnd = (s.PadLeft + s.From.W) * column;
        int gap = (to.W - s.From.W) * column, tail = to.PlaneStride - (last * to.RowStride + rowEnd);
        string plane = to.Blocked ? "y" : "plane";
        if (!to.Blocked)
        {
            w.Open("for (int c = 0; c < channels; c++)");
            w.Line($"float* plane = y + c * {to.PlaneStride};");
        }
        if (first > 0) w.Line($"new Span<float>({plane}, {first}).Clear();");
        if (gap > 0 && s.From.H > 1)
        {
            string at = $"{plane} + h * {to.RowStride} + {rowEnd}";
            string clear = gap <= 8 ? $"Avx.Store({at}, Vector256<float>.Zero);" : $"new Span<float>({at}, {gap}).Clear();";
            w.Line($"for (int h = {s.PadTop}; h < {last}; h++) {clear}");
        }
        if (tail > 0) w.Line($"new Span<float>({plane} + {last * to.RowStride + rowEnd}, {tail}).Clear();");
        if (!to.Blocked) w.Close();
    }

    // ---------------------------------------------------------------- pooling

    private void EmitPool(string name, PoolStep s)
    {
        var l = s.Layer;
        bool max = l.Kind == LayerKind.MaxPool;
        int k = l.KernelHeight, st = l.Stride, p = l.PadTop;
        var from = s.From;
        var to = s.To;
        string op = max ? "max" : $"(1/{(long)k * k}) Σ";
        Open(name, $"Y[n,c,y,x] = {op}_{{ΔY,ΔX<{k}}} X[n,c,{st}·y+ΔY-{p},{st}·x+ΔX-{p}]   (layer {l.Index}, NCHW8c, 8 channels per vector)",
            p == 0 && UnrollsWindow(k) ? "Floor mode without padding keeps every window inside the input: the window is unrolled."
                   : "Windows are clamped to the input per row and column (padding never wins a max and counts as zero in the average).");
        int blocks = Tensor.Blocks(to.C);
        w.Open("for (int item = begin; item < end; item++)");
        w.Line(s.ByRows ? $"int cb = item % {blocks}, oy = item / {blocks} % {to.H}, n = item / {to.H * blocks}; // by rows, as the step before"
            : $"int oy = item % {to.H}, cb = item / {to.H} % {blocks}, n = item / {to.H * blocks};");
        w.Line($"float* x = {Sample(from)} + (nint)cb * {from.PlaneStride};");
        w.Line($"float* y = {Sample(to)} + (nint)cb * {to.PlaneStride} + oy * {to.RowStride};");
        string combine(string a, string b) => max ? $"Vector256.Max({a}, {b})" : $"{a} + {b}";
        string finish(string a) => max ? a : $"{a} * Vector256.Create({InverseArea(k)})";
        if (p == 0 && UnrollsWindow(k))
        {
            w.Line($"float* row = x + oy * {st * from.RowStride};");
            w.Open($"for (int ox = 0; ox < {to.W}; ox++)");
            w.Line($"float* window = row + ox * {st * 8};");
            w.Line("Vector256<float> acc = Vector256.Load(window);");
            for (int dy = 0; dy < k; dy++)
                for (int dx = 0; dx < k; dx++)
                    if (dy + dx > 0) w.Line($"acc = {combine("acc", $"Vector256.Load(window + {dy * from.RowStride + dx * 8})")};");
            w.Line($"Vector256.Store({finish("acc")}, y + ox * 8);");
            w.Close();
        }
        else
        {
            w.Line($"int y0 = oy * {st} - {p}, yBegin = Math.Max(y0, 0), yEnd = Math.Min(y0 + {k}, {from.H});");
            w.Open($"for (int ox = 0; ox < {to.W}; ox++)");
            w.Line($"int x0 = ox * {st} - {p}, xBegin = Math.Max(x0, 0), xEnd = Math.Min(x0 + {k}, {from.W});");
            w.Line($"Vector256<float> acc = {(max ? "Vector256.Create(float.NegativeInfinity)" : "Vector256<float>.Zero")};");
            w.Line("for (int iy = yBegin; iy < yEnd; iy++)");
            w.Line($"    for (int ix = xBegin; ix < xEnd; ix++) acc = {combine("acc", $"Vector256.Load(x + iy * {from.RowStride} + ix * 8)")};");
            w.Line($"Vector256.Store({finish("acc")}, y + ox * 8);");
            w.Close();
        }
        w.Close();
        w.Close();
        w.Line();
    }

    /// <summary>
    /// Pooling windows of at most this many taps are written out tap by tap (LeNet's 2x2, VGG's 2x2, ResNet's 3x3 and
    /// 7x7 all are); a larger one runs as loops, so a huge window cannot blow up the generated file.
    /// </summary>
    internal const int MaxUnrolledWindow = 64;

    /// <summary>Whether a k×k window is written out tap by tap (<see cref="MaxUnrolledWindow"/>; k² in 64 bits, as k can be huge).</summary>
    internal static bool UnrollsWindow(int k) => (long)k * k <= MaxUnrolledWindow;

    /// <summary>1/k² as a float literal, in the same float arithmetic for every window (k² is exact up to 4096²).</summary>
    internal static string InverseArea(int k) => F(1f / ((float)k * k));

    private void EmitGlobalAvgPool(string name, PoolStep s)
    {
        var from = s.From;
        int pixels = from.H * from.W, blocks = Tensor.Blocks(from.C);
        Open(name, $"Y[n,c] = (1/{pixels}) Σ_{{y,x}} X[n,c,y,x]   (layer {s.Layer.Index}, NCHW8c)",
            "Four partial sums break the add dependency chain.");
        w.Open("for (int item = begin; item < end; item++)");
        w.Line($"int cb = item % {blocks}, n = item / {blocks};");
        w.Line($"float* x = {Sample(from)} + (nint)cb * {from.PlaneStride};");
        w.Line("Vector256<float> s0 = Vector256<float>.Zero, s1 = s0, s2 = s0, s3 = s0;");
        w.Line("int i = 0;");
        w.Open($"for (; i + 4 <= {pixels}; i += 4)");
        for (int u = 0; u < 4; u++) w.Line($"s{u} += Vector256.Load(x + (i + {u}) * 8);");
        w.Close();
        w.Line($"for (; i < {pixels}; i++) s0 += Vector256.Load(x + i * 8);");
        w.Line($"Vector256.Store((s0 + s1 + (s2 + s3)) * Vector256.Create({F(1f / pixels)}), {Sample(s.To)} + cb * 8);");
        w.Close();
        w.Close();
        w.Line();
    }
}

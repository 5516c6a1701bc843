using System;
using System.Collections.Generic;
using System.Linq;
using ConvGen.Generator.Model;
using static ConvGen.Generator.Emit.CodeWriter;

namespace ConvGen.Generator.Emit;

// Backward kernels. Every work item owns the memory it writes (a gradient plane, a block of weight gradient), so
// results do not depend on how items are spread over threads, and sums run in a fixed order.
internal sealed partial class KernelEmitter
{
    public void EmitBackward()
    {
        var steps = plan.Backward.Steps;
        for (int i = 0; i < steps.Count; i++)
        {
            string name = $"Back{i}";
            switch (steps[i])
            {
                case GradientInStep s: EmitGradientIn(name, s); break;
                case ActivationGradStep s: EmitActivationGrad(name, s); break;
                case BiasGradStep s: EmitBiasGrad(name, s); break;
                case ConvWeightGradStep s when s.Planar: EmitPlanarDepthwiseWeightGrad(name, s); break;
                case ConvWeightGradStep s when s.PlanarProduct: EmitPlanarProductWeightGrad(name, s); break;
                case ConvWeightGradStep s when s.Layer.IsDepthwise: EmitDepthwiseWeightGrad(name, s); break;
                case ConvWeightGradStep { Winograd: true } s: EmitWinogradWeightGrad(name, s); break;
                case ConvWeightGradStep { Chunked: true } s:
                    EmitConvWeightGrad($"{name}Tile", s);
                    EmitWeightGradChunks(name, s);
                    break;
                case ConvWeightGradStep s: EmitConvWeightGrad(name, s); break;
                case LinearWeightGradStep s: EmitLinearWeightGrad(name, s); break;
                case SpreadStep s: EmitSpread(name, s); break;
                case LaneSumDataGradStep s: EmitLaneSumDataGrad(name, s); break;
                case DataGradStep { Kernel: ConvStep c } when c.Planar: EmitDepthwisePlanar(name, c); break;
                case DataGradStep { Kernel: ConvStep c } when c.PlanarGemm: EmitPlanarGemm(name, c); break;
                case DataGradStep { Kernel: ConvStep c } when c.PlanarOutput: EmitPlanarOutputConv(name, c); break;
                case DataGradStep { Kernel: ConvStep c } when c.Layer.IsDepthwise: EmitDepthwise(name, c); break;
                case DataGradStep { Kernel: ConvStep c }: EmitConv(name, c); break;
                case DataGradStep { Kernel: LinearStep l }: EmitLinear(name, l); break;
                case PoolGradStep s: EmitPoolGrad(name, s); break;
                case CopyGradStep s: EmitCopy(name, s.Copy); break;
            }
        }
    }

    private const int WeightGradInputs = 64;

    /// <summary>How many work items a backward step splits into (a C# expression of <c>batch</c>).</summary>
    public static string WorkItems(BackwardStep step) => step switch
    {
        DataGradStep s => WorkItems(s.Kernel),
        CopyGradStep s => WorkItems(s.Copy),
        GradientInStep => "batch",
        ActivationGradStep s => $"(int)(((long)batch * {s.Gradient.Stride} + {ActivationChunk - 1}) / {ActivationChunk})",
        ConvWeightGradStep { Winograd: true } s => WinogradGradItems(s),
        _ => BackwardSplit(step) switch
        {
            (int items, _, _) => N(items),
            var (_, perSample, _) => $"batch * {N((int)perSample)}",
        },
    };

    /// <summary>
    /// The work argument of a backward step's <c>Parallelism.For</c> call, estimated like the forward steps' (see
    /// <see cref="SampleNanoseconds"/>). Steps with a fixed number of items (a bias, a Linear layer's weight gradient)
    /// do more work per item the larger the batch, so theirs is a C# expression of <c>batch</c>: LeNet's Linear biases
    /// and its 84→10 weight gradient, 0.1–2 µs at batch 64, took 2–5 µs each when split over 2 threads.
    /// </summary>
    public static string BackwardWork(BackwardStep step)
    {
        switch (step)
        {
            case DataGradStep s: return WorkArgument(StepItemNanoseconds(s.Kernel));
            case CopyGradStep s: return WorkArgument(StepItemNanoseconds(s.Copy));
        }
        var (items, perSample, nanoseconds) = BackwardSplit(step);
        return items is int fixedItems ? WorkArgument(nanoseconds / fixedItems, "batch") : WorkArgument(nanoseconds / perSample);
    }

    /// <summary>
    /// Whether a backward step computes each sample's gradients from that sample alone, so that a share of the batch can
    /// run it apart from the rest: all but the parameter gradients, which sum over the batch.
    /// </summary>
    public static bool PerSample(BackwardStep step) => step is not (BiasGradStep or ConvWeightGradStep or LinearWeightGradStep);

    /// <summary>The maximal runs <c>[First, End)</c> of consecutive per-sample backward steps (<see cref="PerSample"/>).</summary>
    public static List<(int First, int End)> PerSampleRuns(BackwardPlan back)
    {
        var runs = new List<(int First, int End)>();
        for (int first = 0; first < back.Steps.Count; first++)
        {
            if (!PerSample(back.Steps[first])) continue;
            int end = first + 1;
            while (end < back.Steps.Count && PerSample(back.Steps[end])) end++;
            runs.Add((first, end));
            first = end; // step `end` is not per-sample: the loop goes on after it
        }
        return runs;
    }

    /// <summary>
    /// Whether a run of per-sample steps holds input-only steps among others, which it then skips one by one when the
    /// caller wants no ∂loss/∂input (a run of input-only steps alone is skipped whole).
    /// </summary>
    public static bool MixesInputOnly(BackwardPlan back, (int First, int End) run)
    {
        var steps = back.Steps.Skip(run.First).Take(run.End - run.First).ToList();
        return steps.Any(s => s.InputOnly) && !steps.All(s => s.InputOnly);
    }

    /// <summary>The <c>Parallelism.For</c> call that runs backward step <paramref name="index"/> over the frame at <paramref name="frame"/> (a pointer expression).</summary>
    public static string BackwardCall(BackwardPlan back, int index, string frame)
        => $"global::ConvGen.Parallelism.For({WorkItems(back.Steps[index])}, &Back{index}, {frame}{BackwardWork(back.Steps[index])});";

    /// <summary>The estimated work per sample of a run of per-sample backward steps, in whole nanoseconds (at least 1).</summary>
    public static long PerSampleNanoseconds(IEnumerable<BackwardStep> steps) => WholeNanoseconds(steps.Sum(step => step switch
    {
        DataGradStep s => SampleNanoseconds(s.Kernel),
        CopyGradStep s => SampleNanoseconds(s.Copy),
        _ => BackwardSplit(step).Nanoseconds,
    }));

    /// <summary>
    /// A backward step's work items (the count when it does not depend on the batch, else null and the items per
    /// sample) and its estimated work per sample in nanoseconds: multiply-adds at 40 per ns, anything else at 4 floats
    /// per ns (as <see cref="SampleNanoseconds"/> estimates the forward steps).
    /// </summary>
    private static (int? Items, double PerSample, double Nanoseconds) BackwardSplit(BackwardStep step)
    {
        static double Floats(Tensor t) => (double)t.C * t.H * t.W / 4;
        static double Products(LayerModel l, Tensor gz) => (double)gz.C * gz.H * gz.W * (l.Input.C / l.Groups) * l.KernelHeight * l.KernelWidth / 40;
        return step switch
        {
            GradientInStep s => (null, 1, Floats(s.To)),
            ActivationGradStep s => (null, (double)s.Gradient.Stride / ActivationChunk, (double)s.Gradient.Stride / 4),
            BiasGradStep s => (Tensor.Blocks(s.Gradient.C), 0, Floats(s.Gradient)),
            ConvWeightGradStep s when s.Planar => (s.Layer.Output.C * PlanarGradTile.For(s.Layer).Items, 0, Products(s.Layer, s.Gradient)),
            ConvWeightGradStep s when s.PlanarProduct => (Ceiling(s.Gradient.C, GemmRows) * Ceiling(s.Input.C, ProductInputs), 0, Products(s.Layer, s.Gradient)),
            ConvWeightGradStep s when s.Layer.IsDepthwise => (Tensor.Blocks(s.Layer.Output.C) * s.Layer.KernelHeight / DepthwiseGradRows(s.Layer), 0, Products(s.Layer, s.Gradient)),
            ConvWeightGradStep { Winograd: true } s => (WinogradGradItemsPerSum(s), 0, Products(s.Layer, s.Gradient) * 16 / 36),
            ConvWeightGradStep { Chunked: true } s => (ConvWeightGradStep.WeightGradChunks, 0, Products(s.Layer, s.Gradient)),
            ConvWeightGradStep s => (WeightGradTile.For(s).Items, 0, Products(s.Layer, s.Gradient)),
            LinearWeightGradStep s => (Ceiling(Tensor.Blocks(s.Layer.Output.C), LinearGradGroup(s)) * Ceiling(s.Inputs, WeightGradInputs), 0, (double)s.Layer.Output.C * s.Inputs / 40),
            SpreadStep s => (null, s.To.Blocked ? Tensor.Blocks(s.To.C) : s.To.C, Floats(s.To)),
            LaneSumDataGradStep s => (null, s.Output.H, (double)s.Output.C * s.Output.H * s.Output.W * s.Gradient.C * s.Layer.KernelHeight * s.Layer.KernelWidth / (40.0 * s.Layer.Stride * s.Layer.Stride)),
            PoolGradStep s => (null, Tensor.Blocks(s.GradX.C), Floats(s.GradX)),
            _ => throw new InvalidOperationException(step.GetType().Name),
        };
    }

    private void EmitGradientIn(string name, GradientInStep s)
    {
        var to = s.To;
        Open(name, $"∂Y[n,c,h,w] (internal {(to.Blocked ? "NCHW8c" : "layout")}) = ∂loss/∂output[n,c,h,w] (NCHW)",
            "The whole sample is cleared first so padding lanes carry zero gradient into the weight gradients.");
        w.Open("for (int n = begin; n < end; n++)");
        w.Line($"float* g = {Sample(to)};");
        w.Line($"new Span<float>(g, {to.Stride}).Clear();");
        w.Line($"float* src = {Sample(s.From)};");
        w.Line($"for (int c = 0; c < {to.C}; c++)");
        w.Line($"    for (int p = 0; p < {to.H * to.W}; p++)");
        w.Line(to.Blocked
            ? $"        g[((c >> 3) * {to.H * to.W} + p) * 8 + (c & 7)] = src[c * {to.H * to.W} + p];"
            : $"        g[c * {to.H * to.W} + p] = src[c * {to.H * to.W} + p];");
        w.Close();
        w.Close();
        w.Line();
    }

    private void EmitActivationGrad(string name, ActivationGradStep s)
    {
        string derivative = s.Kind switch
        {
            LayerKind.Relu => "∂X = ∂Y · [Y > 0]",
            LayerKind.Sigmoid => "∂X = ∂Y · Y · (1 − Y)",
            _ => "∂X = ∂Y · (1 − Y²)",
        };
        Open(name, $"{derivative}   (layer {s.Layer}, in place on ∂Y)", "The derivative is taken from the activation's saved output.");
        w.Line($"long total = (long)f->Batch * {s.Gradient.Stride};");
        w.Line($"float* y = {Buffer(s.Output)};");
        w.Line($"float* g = {Buffer(s.Gradient)};");
        w.Open("for (int chunk = begin; chunk < end; chunk++)");
        w.Line($"long i = (long)chunk * {ActivationChunk}, stop = Math.Min(i + {ActivationChunk}, total);");
        w.Open("for (; i + 8 <= stop; i += 8)");
        w.Line("Vector256<float> yv = Vector256.Load(y + i), gv = Vector256.Load(g + i);");
        w.Line(s.Kind switch
        {
            LayerKind.Relu => "Vector256.Store(Vector256.ConditionalSelect(Vector256.GreaterThan(yv, Vector256<float>.Zero), gv, Vector256<float>.Zero), g + i);",
            LayerKind.Sigmoid => "Vector256.Store(gv * yv * (Vector256<float>.One - yv), g + i);",
            _ => "Vector256.Store(gv * (Vector256<float>.One - yv * yv), g + i);",
        });
        w.Close();
        w.Line(s.Kind switch
        {
            LayerKind.Relu => "for (; i < stop; i++) g[i] = y[i] > 0f ? g[i] : 0f;",
            LayerKind.Sigmoid => "for (; i < stop; i++) g[i] = g[i] * y[i] * (1f - y[i]); // in the vector loop's order, as a cut of the batch may move where the tail falls",
            _ => "for (; i < stop; i++) g[i] *= 1f - y[i] * y[i];",
        });
        w.Close();
        w.Close();
        w.Line();
    }

    private void EmitBiasGrad(string name, BiasGradStep s)
    {
        var g = s.Gradient;
        if (!g.Blocked && g.H * g.W > 1)
        {
            EmitPlanarBiasGrad(name, s);
            return;
        }
        int pixels = g.Blocked ? g.H * g.W : 1, plane = g.Blocked ? g.PlaneStride : 8;
        Open(name, $"∂B[o] += Σ_{{n{(g.Blocked ? ",y,x" : "")}}} ∂Z[n,o{(g.Blocked ? ",y,x" : "")}]   (layer {s.Layer})",
            "One block of 8 outputs per work item; two partial sums.");
        w.Open("for (int cb = begin; cb < end; cb++)");
        DeclareSums(2);
        w.Open("for (int n = 0; n < f->Batch; n++)");
        w.Line($"float* g = {Sample(g)} + cb * {plane};");
        SumVectors("g", pixels, 2);
        w.Close();
        w.Line($"float* db = f->{s.Pointer} + cb * 8;");
        w.Line($"Vector256.Store(Vector256.Load(db) + {SumOfSums(2)}, db);");
        w.Close();
        w.Close();
        w.Line();
    }

    /// <summary>Declares the partial sums <c>s0</c> … <c>s{chains-1}</c> of <see cref="SumVectors"/>, all zero.</summary>
    private void DeclareSums(int chains)
        => w.Line("Vector256<float> s0 = Vector256<float>.Zero" + string.Concat(Enumerable.Range(1, chains - 1).Select(k => $", s{k} = s0")) + ";");

    /// <summary>The partial sums of <see cref="SumVectors"/> added up in pairs, in parentheses: <c>((s0 + s1) + (s2 + s3))</c>.</summary>
    private static string SumOfSums(int chains) => PairwiseSum(Range(chains, k => $"s{k}").ToList());

    /// <summary>
    /// Adds the <paramref name="count"/> vectors at <paramref name="pointer"/> (8 floats apart) into <c>s0</c> …
    /// <c>s{chains-1}</c> in turn: independent chains of additions, so an addition waits for the one
    /// <paramref name="chains"/> vectors back rather than for the one before it.
    /// </summary>
    private void SumVectors(string pointer, int count, int chains)
    {
        w.Line("int p = 0;");
        string Add(int k) => $"s{k} += Vector256.Load({pointer} + p * 8{(k > 0 ? $" + {8 * k}" : "")});";
        w.Line($"for (; p + {chains} <= {count}; p += {chains}) {{ {string.Join(" ", Enumerable.Range(0, chains).Select(Add))} }}");
        for (int k = 0; k < count % chains; k++) w.Line(Add(k));
    }

    /// <summary>
    /// For a dense convolution's weight gradient, the samples its kernel sums per pass (the network's Backward runs the
    /// batch in passes, each over [N0, N1)); null for every other step, which takes the whole batch at once.
    /// </summary>
    /// <remarks>
    /// Each work item reads the ∂Z planes of its output blocks and the X planes of its input channels for every sample,
    /// and the items that follow it read the same ∂Z planes. Over a whole batch of 32 those planes no longer fit in L2,
    /// and each item streamed them again from memory. A pass holds as many samples as keep one item's planes within
    /// 512 KiB (1 for 64→64 3x3 at 56×56, 6 for 128→128 at 28×28, 25 for 256→256 at 14×14, 2 for 64→256 1x1 at
    /// 56×56, with today's tiles); at batch 32 those weight gradients went from 78 to 69 ms, 83 to 71, 75 to 72 and 54
    /// to 40 (1 thread, medians of 3 alternating runs on a busy machine, with the tiles of the time). Passes kept
    /// within 128 or 48 KiB instead changed nothing measurable: 128→128 at batch 32, 1 thread, 68.7 / 67.6 ms with
    /// 512 KiB, 67.4 / 67.8 with 128, 67.3 / 67.5 with 48 (alternating runs after a noisy first round); 64→64 70.0 / 70.2
    /// against 69.1 / 69.7 (128 KiB), 256→256 70.1 / 66.9 against 66.0 / 66.1.
    /// </remarks>
    public static int? SamplesPerPass(BackwardStep step)
    {
        if (step is not ConvWeightGradStep s || s.Planar || s.PlanarProduct || s.Layer.IsDepthwise) return null;
        if (s.Winograd) return WinogradGradSamplesPerPass(s);
        return (int)Math.Max(1, Math.Min(int.MaxValue, PassBytes / ItemBytesPerSample(s)));
    }

    /// <summary>Bytes of ∂Z and X planes one work item of a dense weight gradient reads per sample.</summary>
    private static long ItemBytesPerSample(ConvWeightGradStep s)
    {
        var t = WeightGradTile.For(s);
        return 4L * (t.Outputs * (long)s.Gradient.PlaneStride + (s.Input.Blocked ? 1 : t.Inputs) * (long)s.Input.PlaneStride);
    }

    /// <summary>
    /// The rows of ∂Z a pass of one sample covers, where even one sample's planes exceed a pass (null: every row at
    /// once). Each pass over [Y0, Y1) then keeps an item's rows of ∂Z and X within 512 KiB, so that the items after it,
    /// which read the same rows, find them in L2. The 7x7 stem (2 blocks × 112×112 of ∂Z and three 230×230 input
    /// planes, 1.4 MB per item): passes of 40 rows.
    /// </summary>
    public static int? RowsPerPass(BackwardStep step)
    {
        if (SamplesPerPass(step) != 1 || step is ConvWeightGradStep { Winograd: true }) return null;
        var s = (ConvWeightGradStep)step;
        long bytes = ItemBytesPerSample(s);
        if (bytes <= PassBytes) return null;
        long perRow = bytes / s.Gradient.H;
        int rows = (int)Math.Max(1, PassBytes / perRow);
        return rows < s.Gradient.H ? rows : null;
    }

    private const long PassBytes = 512 * 1024;

    /// <summary>Whether a dense weight-gradient kernel sums only rows [Y0, Y1) of each sample: row passes, or chunks that start or end inside a sample.</summary>
    private static bool RowsOfPass(ConvWeightGradStep s) => s.Chunked || RowsPerPass(s) is not null;

    /// <summary>Whether the network's frame carries a pass's rows [Y0, Y1).</summary>
    public static bool UsesRowRange(BackwardStep step) => step is ConvWeightGradStep s && SamplesPerPass(s) is not null && RowsOfPass(s);

    /// <summary>
    /// A chunked weight gradient (<see cref="ConvWeightGradStep.Chunked"/>): work item k sums chunk k of the batch's
    /// N·H rows of ∂Z into partial sums of its own, pass by pass through the tile kernel, and the bias from the same ∂Z
    /// rows while they are in cache; <c>…Add</c> then adds the chunks to the gradients in chunk order.
    /// </summary>
    private void EmitWeightGradChunks(string name, ConvWeightGradStep s)
    {
        var l = s.Layer;
        var g = s.Gradient;
        int chunks = ConvWeightGradStep.WeightGradChunks, height = g.H, weights = ConvWeightGradStep.PackedWeightFloats(l), biases = s.PackedBiasFloats;
        int samples = SamplesPerPass(s)!.Value;
        string chunkSums = $"f->Partials + {(s.PartialOffset == 0 ? "" : $"{N(s.PartialOffset)} + ")}chunk * {N(s.ChunkStride)}";
        string terms = s.BiasPointer is null ? $"the terms of {name}Tile" : $"({name}Tile's terms, ∂Z[n,o,y,x])";
        Open(name, $"P[k] = Σ_{{(n,y) ∈ chunk k}} Σ_x {terms}   (layer {l.Index}: ∂W{(s.BiasPointer is null ? "" : " and ∂B")} in {chunks} chunks of the batch's rows of ∂Z)",
            $"One chunk per work item, each into its own partial sums P[k] (zeroed here), which {name}Add adds in chunk order: the same sums on any number of threads.");
        w.Line("Frame pass = *f; // the tile kernel's frame, pointed at the chunk's sums and rows");
        w.Line($"long rows = (long)f->Batch * {height};");
        w.Open("for (int chunk = begin; chunk < end; chunk++)");
        w.Line($"float* sums = {chunkSums};");
        w.Line($"new Span<float>(sums, {N(s.ChunkFloats)}).Clear();");
        w.Line($"pass.{s.Pointer} = sums;");
        w.Line($"long row = rows * chunk / {chunks}, stop = rows * (chunk + 1) / {chunks};");
        w.Open("while (row < stop)");
        // A pass: whole samples (as many as SamplesPerPass allows), or the rows of one sample the chunk holds.
        w.Line($"int n = (int)(row / {height}), y = (int)(row - (long)n * {height});");
        w.Line($"int whole = y == 0 ? (int)Math.Min((stop - row) / {height}, {samples}) : 0;");
        w.Line("pass.N0 = n;");
        w.Line("pass.N1 = n + Math.Max(whole, 1);");
        w.Line("pass.Y0 = y;");
        w.Line($"pass.Y1 = whole > 0 ? {height} : (int)Math.Min({height}, y + (stop - row));");
        w.Line($"{name}Tile(&pass, 0, {N(WeightGradTile.For(s).Items)});");
        if (s.BiasPointer is not null)
        {
            w.Open($"for (int cb = 0; cb < {Tensor.Blocks(g.C)}; cb++)");
            DeclareSums(2);
            w.Open("for (int m = pass.N0; m < pass.N1; m++)");
            w.Open("for (int oy = pass.Y0; oy < pass.Y1; oy++)");
            w.Line($"float* gr = {Sample(g, "m")} + cb * {g.PlaneStride} + oy * {g.RowStride};");
            SumVectors("gr", g.W, 2);
            w.Close();
            w.Close();
            w.Line($"float* db = sums + {N(weights)} + cb * 8;");
            w.Line($"Vector256.Store(Vector256.Load(db) + {SumOfSums(2)}, db);");
            w.Close();
        }
        w.Line($"row = (long)(pass.N1 - 1) * {height} + pass.Y1;");
        w.Close();
        w.Close();
        w.Close();
        w.Line();

        w.Line($"// ∂W{(s.BiasPointer is null ? "" : ", ∂B")} += P[0] + P[1] + … + P[{chunks - 1}]   (layer {l.Index}, in chunk order)");
        w.Line(Hot);
        w.Open($"private static void {name}Add(Frame* f)");
        w.Open($"for (int chunk = 0; chunk < {chunks}; chunk++)");
        w.Line($"float* sums = {chunkSums};");
        w.Line($"for (int k = 0; k < {N(weights)}; k += 8) Vector256.Store(Vector256.Load(f->{s.Pointer} + k) + Vector256.Load(sums + k), f->{s.Pointer} + k);");
        if (s.BiasPointer is not null)
            w.Line($"for (int k = 0; k < {N(biases)}; k += 8) Vector256.Store(Vector256.Load(f->{s.BiasPointer} + k) + Vector256.Load(sums + {N(weights)} + k), f->{s.BiasPointer} + k);");
        w.Close();
        w.Close();
        w.Line();
    }

    /// <summary>
    /// The register tile of a convolution's weight-gradient kernel: each work item keeps <c>Outputs × Inputs × Rows ×
    /// Columns</c> gradient vectors (8 output channels each) in registers and reduces them over every pixel of a pass's
    /// samples (<see cref="SamplesPerPass"/>). One pixel then costs <c>Outputs</c> gradient loads and <c>Inputs × Rows ×
    /// Columns</c> broadcasts for <c>Accumulators</c> FMAs: with only KW accumulators (3 for a 3x3 kernel, 1 for 1x1)
    /// the FMA latency, not the FMA units, would set the pace. The tile keeps the most independent chains up to 12
    /// (<see cref="Chains"/>). Where whole kernel rows leave fewer (7x7 with one block: 7), they may be cut into
    /// <c>ColumnTiles</c> ranges of at most <c>Columns</c> taps, so more output blocks and input channels fit beside
    /// them (the ResNet stem: 2 blocks × 3 input channels × 2 taps in three ranges, then × 1 tap with the odd-pixel
    /// set: 12 chains in every range).
    /// </summary>
    internal readonly record struct WeightGradTile(int Outputs, int Inputs, int Rows, int Span, int OutputBlocks, int KernelHeight, int KernelWidth, int Columns)
    {
        public const int MaxAccumulators = 12;

        public int Accumulators => Outputs * Inputs * Rows * Columns;
        public bool Unrolled => Accumulators <= MaxAccumulators;
        public int ColumnTiles => (KernelWidth + Columns - 1) / Columns;
        public int Items => OutputBlocks / Outputs * (Span / Inputs) * (KernelHeight / Rows) * ColumnTiles;

        /// <summary>First tap and width of column range <paramref name="tile"/> (the last may be narrower).</summary>
        public (int First, int Width) ColumnRange(int tile) => ColumnChunk(tile, Columns, KernelWidth);

        public static WeightGradTile For(ConvWeightGradStep s)
        {
            var l = s.Layer;
            int blocks = Tensor.Blocks(l.Output.C), span = ConvTiling.BlockSpan(l.Output.C, l.Input.C, l.Groups);
            int kh = l.KernelHeight, kw = l.KernelWidth;
            var best = new WeightGradTile(1, 1, 1, span, blocks, kh, kw, kw);
            // Grouped layers keep one block and one input channel per tile: each output block reads its own input range.
            if (kw > MaxAccumulators || l.Groups != 1) return best;
            // Whole kernel rows, then ranges of every narrower width.
            for (int columns = kw; columns >= 1; columns--)
                foreach (var t in Candidates(s, span, blocks, columns))
                    if (Preferred(t, best, s.Input.Blocked)) best = t;
            return best;
        }

        // More independent FMA chains; with as many, whole rows over column ranges (a range tile is taken only where it
        // has more chains than every whole-row tile), then the order of Better.
        private static bool Preferred(WeightGradTile t, WeightGradTile best, bool blocked)
        {
            if (t.Chains != best.Chains) return t.Chains > best.Chains;
            return (t.Columns == t.KernelWidth) == (best.Columns == best.KernelWidth) && Better(t, best, blocked);
        }

        /// <summary>Every tile of ranges <paramref name="columns"/> taps wide that fits the registers and divides the layer evenly.</summary>
        private static IEnumerable<WeightGradTile> Candidates(ConvWeightGradStep s, int span, int blocks, int columns)
        {
            int kh = s.Layer.KernelHeight, kw = s.Layer.KernelWidth;
            for (int o = 1; o <= 4; o++)
                for (int i = 1; i <= 8; i++)
                    for (int r = 1; r <= kh; r++)
                    {
                        // Input channels of one tile sit in one block of 8 (blocked input) so their offsets are constants.
                        if (blocks % o != 0 || span % i != 0 || kh % r != 0 || (s.Input.Blocked && 8 % i != 0)) continue;
                        var t = new WeightGradTile(o, i, r, span, blocks, kh, kw, columns);
                        if (t.Accumulators <= MaxAccumulators) yield return t;
                    }
        }

        // More accumulators; then a higher estimated rate; then fewer cache lines per FMA; then fewer loads.
        private static bool Better(WeightGradTile t, WeightGradTile best, bool blocked)
        {
            if (t.Accumulators != best.Accumulators) return t.Accumulators > best.Accumulators;
            if (t.Rate != best.Rate) return t.Rate > best.Rate;
            if (t.Lines(blocked) != best.Lines(blocked)) return t.Lines(blocked) < best.Lines(blocked);
            return t.Loads < best.Loads;
        }

        /// <summary>Cache lines per pixel per FMA (×1000): ∂Z half a line per block, X half a line per 8-channel block row (blocked) or 1/16 per channel row (planar).</summary>
        private int Lines(bool blocked) => (int)(1000 * (Outputs * 0.5 + Rows * (blocked ? 0.5 * ((Inputs + 7) / 8) : Inputs / 16.0)) / Accumulators);

        /// <summary>Loads per pixel: gradient vectors plus input broadcasts.</summary>
        private int Loads => Outputs + Inputs * Rows * Columns;

        /// <summary>
        /// Estimated fraction of the FMA peak: per pixel, the FMAs, the loads (2 of each per cycle) or the 4-cycle
        /// latency of each accumulator's chain, whichever takes longest.
        /// </summary>
        private double Rate => (double)Accumulators / Math.Max(Math.Max(Accumulators, Loads), 8);

        /// <summary>Accumulator sets for a range of <paramref name="columns"/> taps: two (even and odd pixels) when one would leave FMA latency uncovered.</summary>
        public int SetsFor(int columns) => Outputs * Inputs * Rows * columns * 2 <= MaxAccumulators ? 2 : 1;

        /// <summary>Independent FMA chains in the column range that has the fewest: its accumulators, twice with the odd-pixel set.</summary>
        private int Chains => Math.Min(ChainsOf(Columns), ChainsOf(ColumnRange(ColumnTiles - 1).Width));

        private int ChainsOf(int columns) => Outputs * Inputs * Rows * columns * SetsFor(columns);
    }

    private const int ProductInputs = 3;

    /// <summary>
    /// <c>Registers.LaneSums</c> of <paramref name="count"/> accumulators (zeros for the rest of the 8): lane j of the
    /// result is the sum of the j-th accumulator's lanes.
    /// </summary>
    private static string LaneSums(int count, Func<int, string> accumulator)
        => $"global::ConvGen.Registers.LaneSums({string.Join(", ", Range(8, j => j < count ? accumulator(j) : "Vector256<float>.Zero"))})";

    private static int Ceiling(int a, int b) => (a + b - 1) / b;

    /// <summary>
    /// <see cref="ConvWeightGradStep.PlanarProduct"/>: <c>∂W[o,i] += Σ_{n,p} ∂Z[n,o,p]·X[n,i,p]</c> over NCHW planes. A work
    /// item owns 4 output × 3 input channels: 12 accumulators, each 8 pixels wide, fed per 8 pixels by 4 ∂Z and 3 X
    /// loads, and summed across their lanes once at the end (<c>Registers.LaneSums</c>) into the 4 consecutive lanes of
    /// the packed gradient that its output channels occupy. Items run output-group by output-group, so the ∂Z rows of
    /// one group stay in cache while its input groups pass. A plane that 8 does not divide ends with a vector that
    /// overlaps the one before, its repeated pixels masked to zero in the ∂Z vectors.
    /// </summary>
    private void EmitPlanarProductWeightGrad(string name, ConvWeightGradStep s)
    {
        Tensor x = s.Input, g = s.Gradient;
        int plane = g.H * g.W, outputs = g.C, inputs = x.C, full = plane / 8 * 8;
        int inputGroups = Ceiling(inputs, ProductInputs), restO = outputs % GemmRows, restI = inputs % ProductInputs;
        string formula = $"∂W[o,i] += Σ_{{n,p}} ∂Z[n,o,p] · X[n,i,p]   (layer {s.Layer.Index}, NCHW planes)";
        w.Line($"// {formula}");
        EmitDispatcher(name);
        void OpenItems(string method, string why)
        {
            Open(method, formula, why);
            w.Open("for (int item = begin; item < end; item++)");
            w.Line($"int o0 = item / {inputGroups} * {GemmRows}, i0 = item % {inputGroups} * {ProductInputs};");
        }

        OpenItems($"{name}Avx", $"Each work item owns {GemmRows} output × {ProductInputs} input channels (fewer at the ends): 8-pixel partial sums in 12 registers, added across their lanes at the end.");
        // Packed [O/8][I][8]: output channel o0 … of input channel i0 sits at lane o0 & 7 of row (o0 >> 3)·I + i0.
        string call(int o, int i) => $"{name}Tile{o}x{i}(f, o0, i0, f->{s.Pointer} + ((o0 >> 3) * {inputs} + i0) * 8 + (o0 & 7));";
        // A layer with fewer than 4 outputs or 3 inputs has only the smaller tiles.
        string inner(int o) => restI == 0 ? call(o, ProductInputs)
            : inputs < ProductInputs ? call(o, restI)
            : $"if (i0 + {ProductInputs} <= {inputs}) {call(o, ProductInputs)} else {call(o, restI)}";
        if (restO == 0) w.Line(inner(GemmRows));
        else if (outputs < GemmRows) w.Line(inner(restO));
        else
        {
            w.Line($"if (o0 + {GemmRows} <= {outputs}) {inner(GemmRows)}");
            w.Line($"else {inner(restO)}");
        }
        w.Close();
        w.Close();
        w.Line();

        var shapes = new List<(int, int)> { (GemmRows, ProductInputs) };
        if (restI > 0) shapes.Add((GemmRows, restI));
        if (restO > 0) shapes.Add((restO, ProductInputs));
        if (restO > 0 && restI > 0) shapes.Add((restO, restI));
        foreach (var (rows, ins) in shapes.Where(t => t.Item1 <= outputs && t.Item2 <= inputs))
        {
            w.Line($"// {rows}×{ins} tile: acc[o][i] += ∂Z[o][8 pixels] · X[i][8 pixels]; per 8 pixels {rows} + {ins} loads for {rows * ins} FMAs.");
            w.Line(Hot);
            w.Open($"private static void {name}Tile{rows}x{ins}(Frame* f, int o0, int i0, float* dw)");
            for (int o = 0; o < rows; o++)
                w.Line($"Vector256<float> {string.Join(", ", Range(ins, i => $"a{o}_{i} = {(o == 0 && i == 0 ? "Vector256<float>.Zero" : "a0_0")}"))};");
            w.Open("for (int n = 0; n < f->Batch; n++)");
            w.Line($"float* gz = {Sample(g)} + o0 * {plane};");
            w.Line($"float* xs = {Sample(x)} + i0 * {plane};");
            void Pixels(string p, string? mask)
            {
                for (int i = 0; i < ins; i++) w.Line($"Vector256<float> x{i} = Avx.LoadVector256({Plus("xs", i * plane)} + {p});");
                for (int o = 0; o < rows; o++)
                {
                    string load = $"Avx.LoadVector256({Plus("gz", o * plane)} + {p})";
                    w.Line($"Vector256<float> g{o} = {(mask is null ? load : $"Avx.And({load}, {mask})")};");
                    for (int i = 0; i < ins; i++) w.Line($"a{o}_{i} = Fma.MultiplyAdd(g{o}, x{i}, a{o}_{i});");
                }
            }
            w.Open($"for (int p = 0; p < {full}; p += 8)");
            Pixels("p", null);
            w.Close();
            if (full < plane)
            {
                // The last 8 pixels overlap the ones before: lanes already counted are zeroed in the ∂Z vectors.
                w.Line("{");
                int seen = 8 - (plane - full);
                w.Line($"Vector256<float> tail = Vector256.Create({string.Join(", ", Range(8, j => j < seen ? "0" : "-1"))}).AsSingle();");
                Pixels(N(plane - 8), "tail");
                w.Close();
            }
            w.Close();
            for (int i = 0; i < ins; i++)
            {
                string sums = LaneSums(rows, o => $"a{o}_{i}");
                // Lanes 0 … rows − 1 of the sums are this input channel's gradients for output channels o0 … (one block).
                string d = Plus("dw", i * 8);
                if (rows == GemmRows) w.Line($"Vector128.Store(Vector128.Load({d}) + {sums}.GetLower(), {d});");
                else
                {
                    w.Line($"{(i == 0 ? "Vector256<float> " : "")}s = {sums};");
                    for (int o = 0; o < rows; o++) w.Line($"dw[{i * 8 + o}] += s.GetElement({o});");
                }
            }
            w.Close();
            w.Line();
        }

        OpenItems($"{name}Scalar", "Scalar twin of the AVX2 kernel for CPUs without AVX2/FMA: same work items.");
        w.Open($"for (int o = o0; o < Math.Min(o0 + {GemmRows}, {outputs}); o++)");
        w.Open($"for (int i = i0; i < Math.Min(i0 + {ProductInputs}, {inputs}); i++)");
        w.Line("float acc = 0f;");
        w.Open("for (int n = 0; n < f->Batch; n++)");
        w.Line($"float* gz = {Sample(g)} + o * {plane};");
        w.Line($"float* xs = {Sample(x)} + i * {plane};");
        w.Line($"for (int p = 0; p < {plane}; p++) acc += gz[p] * xs[p];");
        w.Close();
        w.Line($"f->{s.Pointer}[((o >> 3) * {inputs} + i) * 8 + (o & 7)] += acc;");
        w.Close();
        w.Close();
        w.Close();
        w.Close();
        w.Line();
    }

    private void EmitConvWeightGrad(string name, ConvWeightGradStep s)
    {
        var l = s.Layer;
        var x = s.Input;
        var g = s.Gradient;
        var t = WeightGradTile.For(s);
        int kh = l.KernelHeight, kw = l.KernelWidth, span = t.Span;
        int inputTiles = span / t.Inputs, rowTiles = kh / t.Rows, columnTiles = t.ColumnTiles;
        Open(name, $"∂W[o,i,ΔY,ΔX] += Σ_{{n,y,x}} ∂Z[n,o,y,x] · X[n,i,{l.Stride}·y+{l.Dilation}·ΔY,{l.Stride}·x+{l.Dilation}·ΔX]   (layer {l.Index}, X zero-padded)",
            (t.Unrolled
                ? $"Each work item owns {t.Outputs * 8} outputs × {t.Inputs} input channel(s) × {t.Rows} kernel row(s) × {(columnTiles == 1 ? kw : $"up to {t.Columns} of the {kw} columns")}: {t.Accumulators} accumulators in registers, reduced over every pixel"
                : "Each work item owns one kernel row of one input channel for 8 outputs (a loop over the row), reduced over every pixel")
            + (RowsOfPass(s) ? " of rows [Y0, Y1) of the pass's samples [N0, N1)." : " of the pass's samples [N0, N1)."));
        w.Open("for (int item = begin; item < end; item++)");
        // Column ranges vary fastest, then kernel rows, then input channels: consecutive items re-read the same
        // gradient planes.
        static string Div(string v, int k) => k == 1 ? v : $"{v} / {k}";
        string unit = columnTiles == 1 ? "item" : "tile";
        if (columnTiles > 1) w.Line($"int column = item % {columnTiles}, tile = item / {columnTiles};");
        w.Line($"int ky0 = {(rowTiles == 1 ? "0" : Times($"{unit} % {rowTiles}", t.Rows))}, " +
               $"r0 = {(inputTiles == 1 ? "0" : Times($"{Div(unit, rowTiles)} % {inputTiles}", t.Inputs))}, " +
               $"ob0 = {Times(Div(unit, rowTiles * inputTiles), t.Outputs)};");
        w.Line($"int ic0 = {(l.Groups == 1 ? "r0" : $"Math.Min(ob0 * 8 / {l.Output.C / l.Groups} * {l.Input.C / l.Groups}, {l.Input.C - span}) + r0")};");

        // Output rows whose input rows, for every kernel row of the tile, lie in the padded copy's zero border add
        // nothing: each item runs only [oy0, oy1).
        string oyBegin = "0", oyEnd = N(g.H);
        if (s.Zeros.Top + s.Zeros.Bottom > 0)
        {
            int st = l.Stride, d = l.Dilation;
            // First input row of the tile's last kernel row at oy = 0, and of its first: ceil and floor divisions by
            // the stride (C#'s division truncates, but a negative quotient only ever lands below the clamps).
            string last = Times(t.Rows == 1 ? "ky0" : $"(ky0 + {t.Rows - 1})", d), first = Times("ky0", d);
            string Over(string v) => st == 1 ? v : $"({v}) / {st}";
            w.Line($"int oy0 = Math.Max(0, {Over($"{s.Zeros.Top + st - 1} - {last}")}), " +
                   $"oy1 = Math.Min({g.H}, {Over($"{x.H - s.Zeros.Bottom - 1} - {first}")} + 1);");
            (oyBegin, oyEnd) = ("oy0", "oy1");
        }

        // The column ranges of full width share one body, which starts at tap column × Columns; a narrower last range
        // has its own.
        int full = kw / t.Columns;
        bool narrower = full < columnTiles;
        if (narrower) w.Open(full == 1 ? "if (column == 0)" : $"if (column < {full})");
        Body(full > 1 ? null : 0, t.Columns);
        if (narrower)
        {
            w.Close();
            w.Open("else");
            Body(full * t.Columns, kw - full * t.Columns);
            w.Close();
        }
        w.Close();
        w.Close();
        w.Line();

        // The column range of cols taps from tap kx0 (null: from tap column × cols, shared by the ranges of that width)
        // of the tile: its accumulators, the pixel loop and the stores.
        void Body(int? kx0, int cols)
        {
            int sets = t.SetsFor(cols);
            // Accumulator names and the input offset each one broadcasts from (relative to the pixel's first tap of the range).
            var acc = new List<(string Name, int Ob, int I, int Y, int K)>();
            for (int ob = 0; ob < t.Outputs; ob++)
                for (int i = 0; i < t.Inputs; i++)
                    for (int y = 0; y < t.Rows; y++)
                        for (int k = 0; k < cols; k++)
                            acc.Add(($"a{acc.Count}", ob, i, y, k));
            string From(int floats) => kx0 is not int first ? $" + column * {cols * floats}" : first == 0 ? "" : $" + {first * floats}";
            int InputOffset(int i, int y, int k) =>
                (x.Blocked ? i : i * x.PlaneStride) + y * l.Dilation * x.RowStride + k * l.Dilation * x.ColumnStride;

            if (t.Unrolled) w.Line($"Vector256<float> {string.Join(", ", acc.ConvertAll(a => $"{a.Name} = Vector256<float>.Zero"))};");
            else w.Line($"Span<Vector256<float>> acc = stackalloc Vector256<float>[{kw}];");
            if (sets == 2) w.Line($"Vector256<float> {string.Join(", ", acc.ConvertAll(a => $"b{a.Name} = Vector256<float>.Zero"))};");
            w.Open("for (int n = f->N0; n < f->N1; n++)");
            w.Line($"float* gz = {Sample(g)} + ob0 * {g.PlaneStride};");
            w.Line($"float* xs = {Sample(x)} + {x.ChannelOffset("ic0")} + ky0 * {l.Dilation * x.RowStride}{From(l.Dilation * x.ColumnStride)};");
            w.Open(!RowsOfPass(s) ? $"for (int oy = {oyBegin}; oy < {oyEnd}; oy++)"
                : $"for (int oy = Math.Max({oyBegin}, f->Y0), oyEnd = Math.Min({oyEnd}, f->Y1); oy < oyEnd; oy++)");
            w.Line($"float* gr = gz + oy * {g.RowStride};");
            w.Line($"float* xr = xs + oy * {l.Stride * x.RowStride};");
            // The contributions of pixels ox, ox + 1, … (one per prefix: the accumulator set "a…", or "ba…" for the odd
            // pixels of a split tile). An input value that several of them read is broadcast once: with stride 1 a pair
            // needs kw + 1 broadcasts per kernel row instead of 2·kw.
            void Pixels(string ox, params string[] prefixes)
            {
                int step = l.Stride * x.ColumnStride;
                w.Line($"float* xp = xr + {Times(ox, step)};");
                string Gradient(int p, int ob) => $"Vector256.Load(gr + {(ob == 0 ? "" : $"{ob * g.PlaneStride} + ")}{(p == 0 ? ox : $"({ox} + {p})")} * 8)";
                var offsets = new List<int>();
                for (int i = 0; i < t.Inputs; i++)
                    for (int y = 0; y < t.Rows; y++)
                        for (int k = 0; k < cols; k++)
                            for (int p = 0; p < prefixes.Length; p++)
                            {
                                int offset = p * step + InputOffset(i, y, k);
                                if (!offsets.Contains(offset)) offsets.Add(offset);
                            }
                // Three orders of the same FMAs, the first whose live registers fit AVX2's 16 (a tile that does not
                // fit is spilled by the JIT inside the pixel loop: the 64→64 3x3 weight gradient, 4 blocks × 3 taps,
                // ran 2.1× slower with AVX-512's extra registers turned off):
                //  1. every gradient vector held, one broadcast at a time (each broadcast shared by the pixels);
                //  2. every broadcast held, the gradient vectors passing through one register (4 blocks × 3 taps:
                //     12 + 3 + 1 instead of 12 + 4 + 1);
                //  3. the pixels one after the other, each as in 1 (a shared input value is broadcast again).
                int accumulators = acc.Count * prefixes.Length;
                bool gradientsFit = accumulators + t.Outputs * prefixes.Length + 1 <= VectorRegisters;
                bool broadcastsFit = accumulators + offsets.Count + 1 <= VectorRegisters;
                if (gradientsFit || !broadcastsFit && prefixes.Length == 1)
                    GradientsHeld(Enumerable.Range(0, prefixes.Length).ToList()); // order 1 (a lone pixel that fits neither: spilled)
                else if (broadcastsFit)
                {
                    foreach (int offset in offsets) w.Line($"Vector256<float> x{offset} = Vector256.Create(xp[{offset}]);");
                    for (int ob = 0; ob < t.Outputs; ob++)
                        for (int p = 0; p < prefixes.Length; p++)
                        {
                            w.Line($"{(ob == 0 && p == 0 ? "Vector256<float> " : "")}gv = {Gradient(p, ob)};");
                            foreach (var a in acc)
                                if (a.Ob == ob)
                                    w.Line($"{prefixes[p]}{a.Name} = Vector256.FusedMultiplyAdd(gv, x{p * step + InputOffset(a.I, a.Y, a.K)}, {prefixes[p]}{a.Name});");
                        }
                }
                else
                {
                    for (int p = 0; p < prefixes.Length; p++)
                    {
                        w.Line("{");
                        GradientsHeld(new List<int> { p });
                        w.Close();
                    }
                }

                void GradientsHeld(List<int> pixels)
                {
                    foreach (int p in pixels)
                        for (int ob = 0; ob < t.Outputs; ob++)
                            w.Line($"Vector256<float> g{p}_{ob} = {Gradient(p, ob)};");
                    var broadcast = new HashSet<int>();
                    for (int i = 0; i < t.Inputs; i++)
                        for (int y = 0; y < t.Rows; y++)
                            for (int k = 0; k < cols; k++)
                                foreach (int p in pixels)
                                {
                                    // One broadcast feeds every output block of the tile.
                                    int offset = p * step + InputOffset(i, y, k);
                                    if (broadcast.Add(offset)) w.Line($"Vector256<float> x{offset} = Vector256.Create(xp[{offset}]);");
                                    foreach (var a in acc)
                                        if (a.I == i && a.Y == y && a.K == k)
                                            w.Line($"{prefixes[p]}{a.Name} = Vector256.FusedMultiplyAdd(g{p}_{a.Ob}, x{offset}, {prefixes[p]}{a.Name});");
                                }
                }
            }
            if (!t.Unrolled)
            {
                w.Open($"for (int ox = 0; ox < {g.W}; ox++)");
                w.Line($"float* xp = xr + ox * {l.Stride * x.ColumnStride};");
                w.Line("Vector256<float> gv = Vector256.Load(gr + ox * 8);");
                w.Line($"for (int k = 0; k < {kw}; k++) acc[k] = Vector256.FusedMultiplyAdd(gv, Vector256.Create(xp[k * {l.Dilation * x.ColumnStride}]), acc[k]);");
                w.Close();
            }
            else
                EmitPixelLoop(g.W, sets == 2, (ox, prefix) => Pixels(ox, prefix), ox => Pixels(ox, "", "b"));
            w.Close();
            w.Close();
            // Packed layout [O/8][span][kh][kw][8]: every accumulator has a constant offset from the tile's first row.
            w.Line($"float* dw = f->{s.Pointer} + ((ob0 * {span} + r0) * {kh} + ky0) * {kw * 8}{From(8)};");
            if (s.MaskPointer is not null) w.Line($"float* mask = f->{s.MaskPointer} + ((ob0 * {span} + r0) * {kh} + ky0) * {kw * 8}{From(8)};");
            if (t.Unrolled)
            {
                foreach (var a in acc)
                {
                    int off = (((a.Ob * span + a.I) * kh + a.Y) * kw + a.K) * 8;
                    string sum = sets == 2 ? $"({a.Name} + b{a.Name})" : a.Name;
                    string value = s.MaskPointer is null ? sum : $"{sum} * Vector256.Load(mask + {off})";
                    w.Line($"Vector256.Store(Vector256.Load(dw + {off}) + {value}, dw + {off});");
                }
            }
            else
            {
                string value = s.MaskPointer is null ? "acc[k]" : "acc[k] * Vector256.Load(mask + k * 8)";
                w.Line($"for (int k = 0; k < {kw}; k++) Vector256.Store(Vector256.Load(dw + k * 8) + {value}, dw + k * 8);");
            }
        }
    }

    /// <summary>
    /// The loop over one row of output pixels in a weight-gradient kernel; <paramref name="pixel"/> writes one pixel's
    /// FMAs given its column expression and the prefix of the accumulator set. With <paramref name="split"/> (too few
    /// accumulators to cover the FMA latency) even pixels go to the set "a…" and odd ones to "ba…", added at the end;
    /// a last odd pixel goes to "a…". Each pixel gets its own block, so their temporaries can share names; or, given
    /// <paramref name="pair"/>, the even and odd pixel at a column are written together by it.
    /// </summary>
    private void EmitPixelLoop(int width, bool split, Action<string, string> pixel, Action<string>? pair = null)
    {
        if (!split)
        {
            w.Open($"for (int ox = 0; ox < {width}; ox++)");
            pixel("ox", "");
            w.Close();
            return;
        }
        w.Open($"for (int ox = 0; ox < {width / 2 * 2}; ox += 2)");
        if (pair is not null) pair("ox");
        else
        {
            w.Line("{");
            pixel("ox", "");
            w.Close();
            w.Line("{");
            pixel("(ox + 1)", "b");
            w.Close();
        }
        w.Close();
        if (width % 2 == 1)
        {
            w.Line("{");
            pixel(N(width - 1), "");
            w.Close();
        }
    }

    /// <summary>Column range <paramref name="index"/> of a kernel row <paramref name="total"/> taps wide cut into ranges of <paramref name="size"/>: its first tap and width.</summary>
    private static (int First, int Width) ColumnChunk(int index, int size, int total) => (index * size, Math.Min(size, total - index * size));

    /// <summary>
    /// The code of each of <paramref name="count"/> column ranges, chosen at run time by <paramref name="selector"/>
    /// (an if/else chain; just the code when there is one range).
    /// </summary>
    private void EachColumnChunk(string selector, int count, Action<int> body)
    {
        if (count == 1)
        {
            body(0);
            return;
        }
        for (int chunk = 0; chunk < count; chunk++)
        {
            w.Open(chunk == 0 ? $"if ({selector} == 0)" : chunk < count - 1 ? $"else if ({selector} == {chunk})" : "else");
            body(chunk);
            w.Close();
        }
    }

    /// <summary>
    /// Kernel rows per work item of a depthwise weight gradient: as many as divide the kernel height with at most 12
    /// accumulators (all three rows of a 3x3 kernel: 9 independent FMA chains instead of 3).
    /// </summary>
    private static int DepthwiseGradRows(LayerModel l)
    {
        int rows = 1;
        if (l.KernelWidth > WeightGradTile.MaxAccumulators) return rows; // the row itself is a loop
        for (int r = 1; r <= l.KernelHeight; r++)
            if (l.KernelHeight % r == 0 && r * l.KernelWidth <= WeightGradTile.MaxAccumulators) rows = r;
        return rows;
    }

    private void EmitDepthwiseWeightGrad(string name, ConvWeightGradStep s)
    {
        var l = s.Layer;
        var x = s.Input;
        var g = s.Gradient;
        int kh = l.KernelHeight, kw = l.KernelWidth;
        bool unrolled = kw <= WeightGradTile.MaxAccumulators;
        int rows = DepthwiseGradRows(l), rowTiles = kh / rows;
        // A tile of 6 or fewer accumulators adds a second set for the odd pixels, as the dense kernel does.
        bool split = unrolled && rows * kw * 2 <= WeightGradTile.MaxAccumulators;
        Open(name, $"∂W[c,ΔY,ΔX] += Σ_{{n,y,x}} ∂Z[n,c,y,x] · X[n,c,{l.Stride}·y+{l.Dilation}·ΔY,{l.Stride}·x+{l.Dilation}·ΔX]   (layer {l.Index}, depthwise, NCHW8c)",
            unrolled
                ? $"Each work item owns {rows} kernel row(s) of one channel block: {rows * kw}{(split ? " × 2" : "")} accumulators, lane-wise products, no broadcasts."
                : "Each work item owns one kernel row of one channel block; lane-wise products, no broadcasts.");
        w.Open("for (int item = begin; item < end; item++)");
        w.Line(rowTiles == 1 ? "int ky0 = 0, cb = item;" : $"int ky0 = item % {rowTiles} * {rows}, cb = item / {rowTiles};");
        var names = new List<string>();
        for (int y = 0; y < rows; y++)
            for (int k = 0; k < kw; k++)
                names.Add($"a{y}_{k}");
        if (unrolled) w.Line($"Vector256<float> {string.Join(", ", names.ConvertAll(a => $"{a} = Vector256<float>.Zero"))};");
        else w.Line($"Span<Vector256<float>> acc = stackalloc Vector256<float>[{kw}];");
        if (split) w.Line($"Vector256<float> {string.Join(", ", names.ConvertAll(a => $"b{a} = Vector256<float>.Zero"))};");
        w.Open("for (int n = 0; n < f->Batch; n++)");
        w.Line($"float* gz = {Sample(g)} + cb * {g.PlaneStride};");
        w.Line($"float* xs = {Sample(x)} + cb * {x.PlaneStride} + ky0 * {l.Dilation * x.RowStride};");
        w.Open($"for (int oy = 0; oy < {g.H}; oy++)");
        void Pixel(string ox, string prefix)
        {
            w.Line($"Vector256<float> gv = Vector256.Load(gz + oy * {g.RowStride} + {ox} * 8);");
            w.Line($"float* xp = xs + oy * {l.Stride * x.RowStride} + {ox} * {l.Stride * 8};");
            for (int y = 0; y < rows; y++)
                for (int k = 0; k < kw; k++)
                    w.Line($"{prefix}a{y}_{k} = Vector256.FusedMultiplyAdd(gv, Vector256.Load(xp + {y * l.Dilation * x.RowStride + k * l.Dilation * 8}), {prefix}a{y}_{k});");
        }
        if (!unrolled)
        {
            w.Open($"for (int ox = 0; ox < {g.W}; ox++)");
            w.Line($"Vector256<float> gv = Vector256.Load(gz + oy * {g.RowStride} + ox * 8);");
            w.Line($"float* xp = xs + oy * {l.Stride * x.RowStride} + ox * {l.Stride * 8};");
            w.Line($"for (int k = 0; k < {kw}; k++) acc[k] = Vector256.FusedMultiplyAdd(gv, Vector256.Load(xp + k * {l.Dilation * 8}), acc[k]);");
            w.Close();
        }
        else
            EmitPixelLoop(g.W, split, Pixel);
        w.Close();
        w.Close();
        w.Line($"float* dw = f->{s.Pointer} + (cb * {kh} + ky0) * {kw * 8};");
        if (unrolled)
            for (int y = 0; y < rows; y++)
                for (int k = 0; k < kw; k++)
                {
                    int off = (y * kw + k) * 8;
                    string sum = split ? $"(a{y}_{k} + ba{y}_{k})" : $"a{y}_{k}";
                    w.Line($"Vector256.Store(Vector256.Load(dw + {off}) + {sum}, dw + {off});");
                }
        else
            w.Line($"for (int k = 0; k < {kw}; k++) Vector256.Store(Vector256.Load(dw + k * 8) + acc[k], dw + k * 8);");
        w.Close();
        w.Close();
        w.Line();
    }

    /// <summary>
    /// The taps one work item of a planar depthwise weight gradient owns in registers: <c>Rows</c> whole kernel rows
    /// (kernels up to 12 wide), or one row cut into <c>Chunks</c> column ranges of at most 12 taps (wider kernels).
    /// </summary>
    private readonly record struct PlanarGradTile(int Rows, int Chunks, int ChunkWidth, int KernelHeight, int KernelWidth)
    {
        public int Items => KernelHeight / Rows * Chunks;

        public static PlanarGradTile For(LayerModel l)
        {
            int kw = l.KernelWidth, chunks = (kw + WeightGradTile.MaxAccumulators - 1) / WeightGradTile.MaxAccumulators;
            return new PlanarGradTile(DepthwiseGradRows(l), chunks, (kw + chunks - 1) / chunks, l.KernelHeight, kw);
        }

        /// <summary>First column and width of column range <paramref name="chunk"/>.</summary>
        public (int First, int Width) Columns(int chunk) => ColumnChunk(chunk, ChunkWidth, KernelWidth);
    }

    /// <summary>
    /// Weight (and bias) gradient of a planar depthwise layer, on NCHW like its forward kernel. Each work item owns some
    /// taps of one channel, one vector accumulator each, and walks the channel's planes two ∂Z rows at a time: every
    /// input vector it loads feeds the taps of both rows that read it. Rows outside the plane point at a row of zeros and
    /// columns outside it are masked off, so the loops have no branches; the bias sum adds the ∂Z vectors already loaded.
    /// </summary>
    private void EmitPlanarDepthwiseWeightGrad(string name, ConvWeightGradStep s)
    {
        var l = s.Layer;
        var x = s.Input;
        var g = s.Gradient;
        int kh = l.KernelHeight, kw = l.KernelWidth, d = l.Dilation;
        var tile = PlanarGradTile.For(l);
        int outRows = g.H >= 2 ? 2 : 1, perChannel = tile.Items, zeros = Math.Max(x.W, g.W);
        string formula = $"∂W[c,ΔY,ΔX] += Σ_{{n,y,x}} ∂Z[n,c,y,x] · X[n,c,y+{d}·ΔY-{l.PadTop},x+{d}·ΔX-{l.PadLeft}]"
            + (s.BiasPointer is null ? "" : ", ∂B[c] += Σ_{n,y,x} ∂Z[n,c,y,x]") + $"   (layer {l.Index}, depthwise, NCHW)";
        w.Line($"// {formula}");
        w.Line($"// Each work item owns {(tile.Chunks > 1 ? $"up to {tile.ChunkWidth} taps of one kernel row" : $"{tile.Rows} kernel row(s)")} of one channel, {outRows} ∂Z row(s) at a time; outside the plane it reads zeros.");
        w.Line($"private static readonly float[] {name}Zeros = GC.AllocateArray<float>({zeros}, pinned: true); // never written: rows outside the plane");
        EmitDispatcher(name);

        // The ∂Z vectors along a row: the last one overlaps the one before when 8 does not divide the width, and loads
        // only its new lanes so no pixel counts twice.
        var starts = RowVectors(g.W);
        int vectors = starts.Count;
        string GradientMask(int v) => v * 8 == starts[v] ? "all" : new string('0', v * 8 - starts[v]) + new string('1', 8 - (v * 8 - starts[v]));

        Open($"{name}Avx", formula, "AVX2: one vector accumulator per tap, 8 pixels of a row per vector.");
        w.Line($"float* zero = (float*)Unsafe.AsPointer(ref global::System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference({name}Zeros));");
        w.Open("for (int item = begin; item < end; item++)");
        if (perChannel == 1) w.Line("int c = item;");
        else
        {
            w.Line($"int c = item / {perChannel}, tile = item % {perChannel};");
            w.Line($"int ky0 = tile / {tile.Chunks} * {tile.Rows};");
        }
        EachColumnChunk($"tile % {tile.Chunks}", tile.Chunks, Body);
        w.Close();
        w.Close();
        w.Line();

        void Body(int chunk)
        {
            var (kx0, cols) = tile.Columns(chunk);
            var accumulators = new List<string>();
            for (int r = 0; r < tile.Rows; r++)
                for (int k = 0; k < cols; k++)
                    accumulators.Add($"a{r}_{k}");
            if (s.BiasPointer is not null) accumulators.Add("sb");
            w.Line($"Vector256<float> {string.Join(", ", accumulators.ConvertAll(a => a == accumulators[0] ? $"{a} = Vector256<float>.Zero" : $"{a} = {accumulators[0]}"))};");
            w.Open("for (int n = 0; n < f->Batch; n++)");
            w.Line($"float* xs = {Sample(x)} + (nint)c * {x.PlaneStride};");
            w.Line($"float* gs = {Sample(g)} + (nint)c * {g.PlaneStride};");
            w.Open($"for (int oy = 0; oy < {g.H}; oy += {outRows})");
            w.Line($"float* g0 = gs + oy * {g.RowStride};");
            // The item walks both planes row by row, once per sample: the rows PrefetchRows + the kernel's reach (kh·d)
            // below this pair, past the planes' ends too, where a prefetch does not fault and finds the next plane's
            // (the next sample's, or after the last sample the next item's).
            w.Line($"float* gAhead = g0 + {(PrefetchRows + kh * d) * g.RowStride}, xAhead = xs + ({Plus("oy", PrefetchRows + kh * d - l.PadTop)}) * {x.RowStride};");
            for (int r = 0; r < outRows; r++)
            {
                w.Line(PrefetchRow(Plus("gAhead", r * g.RowStride), g.W));
                w.Line(PrefetchRow(Plus("xAhead", r * x.RowStride), x.W));
            }
            if (outRows == 2) w.Line(g.H % 2 == 0 ? $"float* g1 = g0 + {g.RowStride};" : $"float* g1 = oy + 1 < {g.H} ? g0 + {g.RowStride} : zero;");
            // Input row oy + j (before padding) feeds ∂Z row r through kernel row ky0 + ky where j = r + d·ky.
            var inputRows = new SortedDictionary<int, List<(int Row, int Ky)>>();
            for (int r = 0; r < outRows; r++)
                for (int ky = 0; ky < tile.Rows; ky++)
                {
                    int j = r + d * ky;
                    if (!inputRows.TryGetValue(j, out var users)) inputRows[j] = users = new List<(int, int)>();
                    users.Add((r, ky));
                }
            foreach (int j in inputRows.Keys)
            {
                string iy = Plus(perChannel == 1 ? "oy" : d == 1 ? "oy + ky0" : $"oy + ky0 * {d}", j - l.PadTop);
                w.Line($"int iy{j} = {iy};");
                w.Line($"float* r{j} = (uint)iy{j} < {x.H}u ? xs + iy{j} * {x.RowStride} : zero;");
            }
            w.Line($"Vector256<float> {string.Join(", ", Range(outRows, r => $"g{r}v"))}, v;");

            // A vector is interior when none of its loads needs a mask; those run in a loop, the rest are unrolled.
            bool Interior(int v)
            {
                if (GradientMask(v) != "all") return false;
                for (int k = 0; k < cols; k++)
                    if (LaneMask(starts[v] + (kx0 + k) * d - l.PadLeft, x.W) != "all") return false;
                return true;
            }
            int lo = 0;
            while (lo < vectors && !Interior(lo)) lo++;
            int hi = lo;
            while (hi < vectors && Interior(hi)) hi++;
            for (int v = 0; v < lo; v++) Vector(N(starts[v]), v);
            if (hi > lo)
            {
                w.Open($"for (int sx = {starts[lo]}; sx < {starts[hi - 1] + 8}; sx += 8)");
                Vector("sx", null);
                w.Close();
            }
            for (int v = hi; v < vectors; v++) Vector(N(starts[v]), v);

            void Vector(string sx, int? v)
            {
                w.Line($"// pixels {(v is null ? "sx" : sx)}..+7");
                string gradientMask = v is int gv ? GradientMask(gv) : "all";
                for (int r = 0; r < outRows; r++) w.Line($"g{r}v = {Load($"g{r}", sx, 0, gradientMask)};");
                if (s.BiasPointer is not null) w.Line($"sb += {string.Join(" + ", Range(outRows, r => $"g{r}v"))};");
                foreach (var kv in inputRows)
                    for (int k = 0; k < cols; k++)
                    {
                        int offset = (kx0 + k) * d - l.PadLeft;
                        string mask = v is int iv ? LaneMask(starts[iv] + offset, x.W) : "all";
                        if (mask == "none") continue;
                        w.Line($"v = {Load($"r{kv.Key}", sx, offset, mask)};");
                        foreach (var (r, ky) in kv.Value) w.Line($"a{ky}_{k} = Fma.MultiplyAdd(v, g{r}v, a{ky}_{k});");
                    }
            }
            w.Close();
            w.Close();
            w.Line($"float* dw = f->{s.Pointer} + (c >> 3) * {kh * kw * 8} + (c & 7);");
            for (int r = 0; r < tile.Rows; r++)
                for (int k = 0; k < cols; k++)
                    w.Line(perChannel == 1 ? $"dw[{(r * kw + kx0 + k) * 8}] += Vector256.Sum(a{r}_{k});" : $"dw[(ky0 + {r}) * {kw * 8} + {(kx0 + k) * 8}] += Vector256.Sum(a{r}_{k});");
            if (s.BiasPointer is not null)
                w.Line(perChannel == 1 ? $"f->{s.BiasPointer}[c] += Vector256.Sum(sb);" : $"if (tile == 0) f->{s.BiasPointer}[c] += Vector256.Sum(sb);");
        }

        Open($"{name}Scalar", formula, "Scalar twin of the AVX2 kernel for CPUs without AVX2/FMA: same work items.");
        w.Open("for (int item = begin; item < end; item++)");
        w.Line(perChannel == 1 ? "int c = item, tile = 0;" : $"int c = item / {perChannel}, tile = item % {perChannel};");
        w.Line($"int ky0 = tile / {tile.Chunks} * {tile.Rows}, kx0 = tile % {tile.Chunks} * {tile.ChunkWidth};");
        w.Line($"float* dw = f->{s.Pointer} + (c >> 3) * {kh * kw * 8} + (c & 7);");
        w.Open($"for (int ky = ky0; ky < ky0 + {tile.Rows}; ky++)");
        w.Open($"for (int kx = kx0; kx < Math.Min(kx0 + {tile.ChunkWidth}, {kw}); kx++)");
        w.Line("float sum = 0f;");
        w.Open("for (int n = 0; n < f->Batch; n++)");
        w.Line($"float* xs = {Sample(x)} + (nint)c * {x.PlaneStride};");
        w.Line($"float* gs = {Sample(g)} + (nint)c * {g.PlaneStride};");
        w.Open($"for (int oy = 0; oy < {g.H}; oy++)");
        w.Line($"int iy = oy + ky * {d} - {l.PadTop};");
        w.Line($"if ((uint)iy >= {x.H}u) continue;");
        w.Open($"for (int ox = 0; ox < {g.W}; ox++)");
        w.Line($"int ix = ox + kx * {d} - {l.PadLeft};");
        w.Line($"if ((uint)ix < {x.W}u) sum += gs[oy * {g.RowStride} + ox] * xs[iy * {x.RowStride} + ix];");
        w.Close();
        w.Close();
        w.Close();
        w.Line("dw[(ky * " + kw + " + kx) * 8] += sum;");
        w.Close();
        w.Close();
        if (s.BiasPointer is not null)
        {
            w.Open("if (tile == 0)");
            w.Line("float sum = 0f;");
            w.Line("for (int n = 0; n < f->Batch; n++)");
            w.Line($"    for (int p = 0; p < {g.H * g.W}; p++) sum += ({Sample(g)} + (nint)c * {g.PlaneStride})[p];");
            w.Line($"f->{s.BiasPointer}[c] += sum;");
            w.Close();
        }
        w.Close();
        w.Close();
        w.Line();
    }

    private void EmitLinearWeightGrad(string name, LinearWeightGradStep s)
    {
        var l = s.Layer;
        int chunks = Ceiling(s.Inputs, WeightGradInputs), blocks = Tensor.Blocks(l.Output.C), group = LinearGradGroup(s), rest = blocks % group;
        Open(name, $"∂W[o,i] += Σ_n ∂Y[n,o] · X[n,i]   (layer {l.Index}: {s.Inputs} inputs as the kernel reads them)",
            $"Each work item owns {group * 8} outputs × {WeightGradInputs} inputs, {LinearGradInputs} inputs at a time (then 1) in {group * LinearGradInputs} independent sums.");
        w.Open("for (int item = begin; item < end; item++)");
        w.Line($"int chunk = item % {chunks}, ob = item / {chunks}{(group == 1 ? "" : $" * {group}")};");
        w.Line($"int first = chunk * {WeightGradInputs}, stop = Math.Min(first + {WeightGradInputs}, {s.Inputs});");
        w.Line($"float* dw = f->{s.Pointer} + ob * {s.Inputs * 8};");
        if (s.MaskPointer is not null) w.Line($"float* mask = f->{s.MaskPointer} + ob * {s.Inputs * 8};");
        // Read once here: in the sample loop the JIT loads them from the frame again on every sample (with the earlier
        // tile of one block × 12 inputs, 3 loads beside its 13: LeNet's 400→120 gradient took 75 µs, 63 without them).
        w.Line($"float* gy = {Buffer(s.Gradient)} + ob * 8, xs = {Buffer(s.Input)};");
        w.Line("int batch = f->Batch;");
        if (rest == 0) Tile(group);
        else
        {
            w.Open($"if (ob + {group} <= {blocks})");
            Tile(group);
            w.Close();
            w.Open("else");
            Tile(rest);
            w.Close();
        }
        w.Close();
        w.Close();
        w.Line();

        // The item's `count` blocks × `width` inputs per pass over the batch: per sample `count` ∂Y vectors and `width`
        // broadcasts for count·width FMAs (3 × 4: 7 loads for 12; one block × 12 inputs took 13).
        void Tile(int count)
        {
            w.Line("int i = first;");
            foreach (int width in new[] { LinearGradInputs, 1 })
            {
                w.Open($"for (; i + {width} <= stop; i += {width})");
                var sums = new List<string>();
                for (int b = 0; b < count; b++)
                    for (int k = 0; k < width; k++) sums.Add($"a{b}{k}");
                w.Line($"Vector256<float> {string.Join(", ", sums.Select((a, j) => j == 0 ? $"{a} = Vector256<float>.Zero" : $"{a} = a00"))};");
                w.Line("float* g = gy, x = xs + i;");
                w.Open($"for (int n = 0; n < batch; n++, g += {s.Gradient.Stride}, x += {s.Input.Stride})");
                for (int b = 0; b < count; b++) w.Line($"Vector256<float> g{b} = Vector256.Load(g{(b == 0 ? "" : $" + {b * 8}")});");
                for (int k = 0; k < width; k++)
                {
                    w.Line($"{(k == 0 ? "Vector256<float> " : "")}xv = Vector256.Create(x[{k}]);");
                    for (int b = 0; b < count; b++) w.Line($"a{b}{k} = Vector256.FusedMultiplyAdd(g{b}, xv, a{b}{k});");
                }
                w.Close();
                // The weights' tiles are this item's blocks (LinearGradGroup), each input's vectors side by side.
                for (int b = 0; b < count; b++)
                    for (int k = 0; k < width; k++)
                    {
                        string offset = $"{(b == 0 ? "" : $"{b * 8} + ")}(i + {k}) * {count * 8}";
                        string sum = s.MaskPointer is null ? $"a{b}{k}" : $"a{b}{k} * Vector256.Load(mask + {offset})";
                        w.Line($"Vector256.Store(Vector256.Load(dw + {offset}) + {sum}, dw + {offset});");
                    }
                w.Close();
            }
        }
    }

    private const int LinearGradInputs = 4;

    /// <summary>
    /// Output blocks per work item of a Linear weight gradient (the last item of a layer may hold fewer): one tile of
    /// the packed weights (<see cref="LinearBlocks"/>), whose vectors for an input lie side by side.
    /// </summary>
    private static int LinearGradGroup(LinearWeightGradStep s) => Math.Min(Tensor.Blocks(s.Layer.Output.C), LinearBlocks);

    /// <summary>
    /// <see cref="LaneSumDataGradStep"/>: each work item is one row of ∂X. A tile holds C input channels × P pixels
    /// (C·P ≤ 12) in accumulators whose lanes are 8 output channels; per tap it loads P ∂Z vectors and C weight vectors
    /// for C·P FMAs, holding whichever are fewer. Kernel rows that land off ∂Z are skipped per row (ky0, ky1), columns
    /// per pixel: tiles are laid out at generation time, each with its own taps, and runs of tiles that read every
    /// column share one method in a loop.
    /// </summary>
    private void EmitLaneSumDataGrad(string name, LaneSumDataGradStep s)
    {
        var l = s.Layer;
        Tensor z = s.Gradient, x = s.Output;
        int kh = l.KernelHeight, kw = l.KernelWidth, top = l.PadTop, left = l.PadLeft, st = l.Stride, inputs = x.C, most = s.Pixels;
        int window = kh * kw * 8; // floats from one input channel's weights to the next (the forward's packing)
        string Back(string v, int pad, string tap)
        {
            string at = pad == 0 ? $"{v}-{tap}" : $"{v}+{pad}-{tap}";
            return st == 1 ? at : $"({at})/{st}";
        }
        string formula = $"∂X[n,i,y,x] = W[O,i,ΔY,ΔX] · ∂Z[n,O,{Back("y", top, "ΔY")},{Back("x", left, "ΔX")}]";
        w.Line($"// {formula}{(st == 1 ? "" : $", over the taps whose division by {st} is exact")}");
        w.Line($"// layer {l.Index}: ∂Z {z.C}×{z.H}×{z.W} NCHW8c → ∂X {inputs}×{x.H}×{x.W} {(x.Blocked ? "NCHW8c" : "NCHW")}; o runs in the lanes (the forward's packed weights as they are) and is summed across them once per pixel; tiles of {inputs} input channel(s) × up to {most} pixels; taps off ∂Z's edges{(st == 1 ? "" : " or between its samples")} are left out");
        EmitDispatcher(name);

        // ∂X row oy reads ∂Z row (oy + top − ky) / s with kernel row ky, where that divides evenly and lands on ∂Z: rows
        // ky0, ky0 + s, … below ky1 (with a stride, ky0 is moved up to the first that divides evenly).
        string rows = $"int ky0 = Math.Max(0, {Minus("oy", st * (z.H - 1) - top)}), ky1 = Math.Min({kh}, oy + {top + 1});"
            + (st == 1 ? "" : $" ky0 += (oy + {top} - ky0) % {st};");
        bool Reads(int ox, int kx) => ox + left - kx >= 0 && (ox + left - kx) % st == 0 && (ox + left - kx) / st < z.W;
        string Step(string v) => st == 1 ? $"{v}++" : $"{v} += {st}";
        static string Minus(string v, int k) => k >= 0 ? $"{v} - {k}" : $"{v} + {-k}";
        string Column(string x0) => st == 1 ? x0 : $"{x0} / {st}";

        // A tile's pixels are x0 + φ + p·s for p < P: one column phase φ, so every tap reaches all of them or none
        // (and consecutive ∂Z columns); spans of P·s columns left to right, one tile per phase. Consecutive spans of the
        // same phase, size and taps become one loop over a shared method.
        int span = most * st;
        var runs = new List<(int Phase, int First, int Last, int Pixels, string Taps)>();
        for (int phase = 0; phase < st; phase++)
            for (int x0 = 0; x0 + phase < x.W; x0 += span)
            {
                int pixels = Math.Min(most, (x.W - x0 - phase + st - 1) / st);
                string taps = string.Join("|", Range(pixels, p => string.Concat(Range(kw, kx => Reads(x0 + phase + p * st, kx) ? "1" : "0"))));
                if (runs.Count > 0 && runs[runs.Count - 1] is var r && r.Phase == phase && r.Pixels == pixels && r.Taps == taps) runs[runs.Count - 1] = r with { Last = x0 };
                else runs.Add((phase, x0, x0, pixels, taps));
            }
        var methods = runs.Select(r => (r.Phase, r.Pixels, r.Taps)).Distinct().ToList();

        Open($"{name}Avx", formula, "Each work item is one row of ∂X.");
        w.Open("for (int item = begin; item < end; item++)");
        w.Line($"int oy = item % {x.H}, n = item / {x.H};");
        w.Line(rows);
        // Without a stride z points at the row kernel row 0 reads, with one at the row kernel row ky0 reads (row 0 may
        // read none); rows past ∂Z are never loaded.
        string zRow = st == 1 ? (top == 0 ? "oy" : $"(oy + {top})") : $"({(top == 0 ? "oy" : $"oy + {top}")} - ky0) / {st}";
        w.Line($"float* z = {Sample(z)} + {zRow} * {z.RowStride};");
        w.Line($"float* x = {Sample(x)} + oy * {x.RowStride};");
        foreach (var r in runs)
        {
            string tile = $"{name}Tile{methods.IndexOf((r.Phase, r.Pixels, r.Taps))}";
            string pixel = r.Phase == 0 ? "x0" : $"(x0 + {r.Phase})";
            if (r.First == r.Last) w.Line($"{tile}({Plus("z", r.First / st * 8)}, f->{s.WeightPointer}, {Plus("x", (r.First + r.Phase) * x.ColumnStride)}, ky0, ky1);");
            else w.Line($"for (int x0 = {r.First}; x0 <= {r.Last}; x0 += {span}) {tile}(z + {Column("x0")} * 8, f->{s.WeightPointer}, x + {pixel}{(x.Blocked ? " * 8" : "")}, ky0, ky1);");
        }
        w.Close();
        w.Close();
        w.Line();

        for (int m = 0; m < methods.Count; m++)
        {
            var (phase, pixels, taps) = methods[m];
            var reads = taps.Split('|');
            bool Valid(int p, int kx) => reads[p][kx] == '1';
            bool weightsHeld = inputs <= pixels;
            // With a stride a tap reaches only some of the tile's pixels; a tile may even reach none (it stores zeros).
            int mostLive = Enumerable.Range(0, kw).Max(kx => Enumerable.Range(0, pixels).Count(p => Valid(p, kx)));
            string read = st == 1 ? "pixel p − tap" : $"(pixel {(phase == 0 ? "" : $"{phase} + ")}{st}·p + {left} − tap) / {st}";
            w.Line($"// {inputs}×{pixels} tile: acc[i][p] += W[8 o, i, tap] · ∂Z[8 o, {read}]; per tap up to {mostLive} ∂Z loads and {inputs} weight loads for up to {inputs * mostLive} FMAs.");
            w.Line(Hot);
            w.Open($"private static void {name}Tile{m}(float* z, float* w, float* x, int ky0, int ky1)");
            for (int i = 0; i < inputs; i++)
                w.Line($"Vector256<float> {string.Join(", ", Range(pixels, p => $"a{i}_{p} = {(i == 0 && p == 0 ? "Vector256<float>.Zero" : "a0_0")}"))};");
            if (mostLive > 0)
            {
                w.Line($"Vector256<float> {string.Join(", ", Range(weightsHeld ? inputs : mostLive, h => $"t{h}"))}, u;");
                w.Open($"for (int ob = 0; ob < {z.C / 8}; ob++)");
                w.Open($"for (int ky = ky0; ky < ky1; {Step("ky")})");
                // z points at the tile's first column in ∂Z's row for kernel row 0 (with a stride: ky0); tap kx of the
                // tile's pixel p reads column (φ + left − kx) / s + p from there, kernel row ky the row ky (with a
                // stride: (ky − ky0) / s) above.
                w.Line($"float* r = z + ob * {z.PlaneStride} - {(st == 1 ? "ky" : $"(ky - ky0) / {st}")} * {z.RowStride};");
                w.Line($"float* k = w + ob * {inputs * window} + ky * {kw * 8};");
                for (int kx = 0; kx < kw; kx++)
                {
                    var live = Enumerable.Range(0, pixels).Where(p => Valid(p, kx)).ToList();
                    if (live.Count == 0) continue;
                    if (weightsHeld)
                    {
                        for (int i = 0; i < inputs; i++) w.Line($"t{i} = Avx.LoadVector256({Plus("k", i * window + kx * 8)});");
                        foreach (int p in live)
                        {
                            w.Line($"u = Avx.LoadVector256({Plus("r", ((phase + left - kx) / st + p) * 8)});");
                            for (int i = 0; i < inputs; i++) w.Line($"a{i}_{p} = Fma.MultiplyAdd(t{i}, u, a{i}_{p});");
                        }
                    }
                    else
                    {
                        for (int h = 0; h < live.Count; h++) w.Line($"t{h} = Avx.LoadVector256({Plus("r", ((phase + left - kx) / st + live[h]) * 8)});");
                        for (int i = 0; i < inputs; i++)
                        {
                            w.Line($"u = Avx.LoadVector256({Plus("k", i * window + kx * 8)});");
                            for (int h = 0; h < live.Count; h++) w.Line($"a{i}_{live[h]} = Fma.MultiplyAdd(u, t{h}, a{i}_{live[h]});");
                        }
                    }
                }
                w.Close();
                w.Close();
            }
            // Lane i of pixel p's vector: the sum of a{i}_p's lanes; the lanes past the channels sum zeros. NCHW takes
            // each lane into its channel's plane.
            if (!x.Blocked) w.Line("Vector256<float> s;");
            for (int p = 0; p < pixels; p++)
            {
                string sums = LaneSums(inputs, i => $"a{i}_{p}");
                if (x.Blocked) w.Line($"Avx.Store({Plus("x", p * st * 8)}, {sums});");
                else
                {
                    w.Line($"s = {sums};");
                    for (int i = 0; i < inputs; i++) w.Line($"x[{i * x.PlaneStride + p * st}] = s.GetElement({i});");
                }
            }
            w.Close();
            w.Line();
        }

        Open($"{name}Scalar", formula, "Scalar twin of the AVX2 kernel for CPUs without AVX2/FMA: same work items, same weights.");
        w.Open("for (int item = begin; item < end; item++)");
        w.Line($"int oy = item % {x.H}, n = item / {x.H};");
        w.Line($"float* z = {Sample(z)};");
        w.Line($"float* x = {Sample(x)} + oy * {x.RowStride};");
        w.Line($"float* w = f->{s.WeightPointer};");
        w.Line(rows);
        w.Open($"for (int ox = 0; ox < {x.W}; ox++)");
        w.Line($"int kx0 = Math.Max(0, {Minus("ox", st * (z.W - 1) - left)}), kx1 = Math.Min({kw}, ox + {left + 1});"
            + (st == 1 ? "" : $" kx0 += (ox + {left} - kx0) % {st};"));
        w.Open($"for (int i = 0; i < {(x.Blocked ? 8 : inputs)}; i++)");
        w.Line("float acc = 0f;");
        string indent = x.Blocked ? "    " : "";
        if (x.Blocked) w.Line($"if (i < {inputs})");
        w.Line($"{indent}for (int o = 0; o < {z.C}; o++)");
        w.Line($"{indent}    for (int ky = ky0; ky < ky1; {Step("ky")})");
        w.Line($"{indent}        for (int kx = kx0; kx < kx1; {Step("kx")})");
        w.Line($"{indent}            acc += w[((o >> 3) * {inputs} + i) * {window} + (ky * {kw} + kx) * 8 + (o & 7)] * z[(o >> 3) * {z.PlaneStride} + {Column($"({(top == 0 ? "oy" : $"oy + {top}")} - ky)")} * {z.RowStride} + {Column($"({(left == 0 ? "ox" : $"ox + {left}")} - kx)")} * 8 + (o & 7)];");
        w.Line(x.Blocked ? "x[ox * 8 + i] = acc; // the lanes past the channels get 0" : $"x[i * {x.PlaneStride} + ox] = acc;");
        w.Close();
        w.Close();
        w.Close();
        w.Close();
        w.Line();
    }

    private const int PlanarSumChains = 4;

    /// <summary>
    /// ∂B of an NCHW ∂Z (a planar product's): each work item sums the planes of a block of 8 channels, one channel at a
    /// time, 8 pixels per vector in four chains of additions (the pixels past the last whole vector one by one), the
    /// vectors added across their lanes once at the end.
    /// </summary>
    /// <remarks>
    /// A plane is long (3,136 pixels in benchmark e): with one chain each addition waited for the one before it. With
    /// four, e's bias gradient went from 4.4% to 3.6% of its backward-weights profile; the rest is reading ∂Z.
    /// </remarks>
    private void EmitPlanarBiasGrad(string name, BiasGradStep s)
    {
        var g = s.Gradient;
        int plane = g.H * g.W, full = plane / 8 * 8;
        Open(name, $"∂B[o] += Σ_{{n,p}} ∂Z[n,o,p]   (layer {s.Layer}, NCHW planes)", "One block of 8 outputs per work item: 8-pixel partial sums in four chains, added across their lanes at the end.");
        w.Open("for (int cb = begin; cb < end; cb++)");
        w.Line($"int count = Math.Min(8, {g.C} - cb * 8);");
        w.Open("for (int c = 0; c < count; c++)");
        DeclareSums(PlanarSumChains);
        if (full < plane) w.Line("float rest = 0f;");
        w.Open("for (int n = 0; n < f->Batch; n++)");
        w.Line($"float* g = {Sample(g)} + (cb * 8 + c) * {plane};");
        SumVectors("g", full / 8, PlanarSumChains);
        if (full < plane) w.Line($"for (int q = {full}; q < {plane}; q++) rest += g[q];");
        w.Close();
        // The sum's own parentheses are the call's: Vector256.Sum((s0 + s1) + (s2 + s3)).
        w.Line($"f->{s.Pointer}[cb * 8 + c] += Vector256.Sum{SumOfSums(PlanarSumChains)}{(full < plane ? " + rest" : "")};");
        w.Close();
        w.Close();
        w.Close();
        w.Line();
    }

    private void EmitSpread(string name, SpreadStep s)
    {
        if (s.Odd is { } odd)
        {
            EmitPhasePair(name, s, odd);
            return;
        }
        var from = s.From;
        var to = s.To;
        // Only the rows and columns that land inside the grid are copied: computed here, not tested per element.
        int yBegin = Math.Max(0, (-s.Top + s.Stride - 1) / s.Stride), yEnd = Math.Min(from.H, (to.H - 1 - s.Top) / s.Stride + 1);
        int xBegin = Math.Max(0, (-s.Left + s.Stride - 1) / s.Stride), xEnd = Math.Min(from.W, (to.W - 1 - s.Left) / s.Stride + 1);
        if (s.Top > to.H - 1) yEnd = 0;
        if (s.Left > to.W - 1) xEnd = 0;
        if (s.Interleave)
            Open(name, $"∂X[n,c,{s.Stride}·y{Signed(s.Top)},{s.Stride}·x{Signed(s.Left)}] = P[n,c,y,x]   (layer {s.Layer}: one output phase of the strided backward-data)",
                "The phases together write every pixel of ∂X once, so none clears it.");
        else
            Open(name, $"G[n,c,{s.Stride}·y{Signed(s.Top)},{s.Stride}·x{Signed(s.Left)}] = ∂Z[n,c,y,x], zero elsewhere   (layer {s.Layer}: backward-data input grid)",
                "Rows and columns that fall outside the grid touched only padding in the forward pass and are dropped.");
        int unit = to.Blocked ? Tensor.Blocks(to.C) : to.C;
        w.Open("for (int item = begin; item < end; item++)");
        w.Line($"int n = item / {unit}, unit = item % {unit};");
        w.Line($"float* y = {Sample(to)} + (nint)unit * {to.PlaneStride};");
        if (!s.Interleave) w.Line($"new Span<float>(y, {to.PlaneStride}).Clear();");
        if (yEnd > yBegin && xEnd > xBegin)
        {
            w.Line(to.Blocked ? $"float* x = {Sample(from)} + (nint)unit * {from.PlaneStride};" : $"float* x = {Sample(from)} + {from.ChannelOffset("unit")};");
            w.Line($"for (int iy = {yBegin}; iy < {yEnd}; iy++)");
            w.Line($"    for (int ix = {xBegin}; ix < {xEnd}; ix++)");
            w.Line(to.Blocked
                ? $"        Vector256.Store(Vector256.Load(x + iy * {from.RowStride} + ix * 8), y + ((iy * {s.Stride} + {s.Top}) * {to.W} + ix * {s.Stride} + {s.Left}) * 8);"
                : $"        y[(iy * {s.Stride} + {s.Top}) * {to.W} + ix * {s.Stride} + {s.Left}] = x[iy * {from.RowStride} + ix * {from.ColumnStride}];");
        }
        w.Close();
        w.Close();
        w.Line();
    }

    /// <summary>
    /// Rows <c>2·y + top</c> of an NCHW ∂X from the two phases of that row parity: 8 even and 8 odd pixels interleave in
    /// registers into 16 neighbours (<c>Registers.Interleave8</c>). A phase row that 8 does not divide ends with a
    /// vector that overlaps the one before and rewrites the same pixels.
    /// </summary>
    private void EmitPhasePair(string name, SpreadStep s, Tensor odd)
    {
        var even = s.From;
        var to = s.To;
        int w2 = even.W;
        Open(name, $"∂X[n,c,2·y{Signed(s.Top)},2·x] = P[n,c,y,x], ∂X[n,c,2·y{Signed(s.Top)},2·x+1] = Q[n,c,y,x]   (layer {s.Layer}: two output phases of the strided backward-data)",
            "The phases together write every pixel of ∂X once, so none clears it.");
        w.Open("for (int item = begin; item < end; item++)");
        w.Line($"int n = item / {to.C}, unit = item % {to.C};");
        w.Line($"float* y = {Sample(to)} + (nint)unit * {to.PlaneStride};");
        w.Line($"float* p = {Sample(even)} + {even.ChannelOffset("unit")};");
        w.Line($"float* q = {Sample(odd)} + {odd.ChannelOffset("unit")};");
        w.Open("if (s_useAvx2)");
        EachRowBy8(even, $"global::ConvGen.Registers.Interleave8(p + h * {w2} + {{0}}, q + h * {w2} + {{0}}, y + (h * 2 + {s.Top}) * {to.W} + 2 * {{0}});");
        w.Close();
        w.Open("else");
        w.Line($"for (int iy = 0; iy < {even.H}; iy++)");
        w.Line($"    for (int ix = 0; ix < {w2}; ix++)");
        w.Line($"    {{ y[(iy * 2 + {s.Top}) * {to.W} + ix * 2] = p[iy * {w2} + ix]; y[(iy * 2 + {s.Top}) * {to.W} + ix * 2 + 1] = q[iy * {w2} + ix]; }}");
        w.Close();
        w.Close();
        w.Close();
        w.Line();
    }

    /// <summary>
    /// Pool backward when the windows tile the input (stride = window, no padding), LeNet's 2x2 pools for instance:
    /// every input pixel belongs to at most one window, so each window's gradient is stored, not added, with the taps
    /// unrolled and the max pool's winner chosen by vector masks instead of a per-lane scatter.
    /// </summary>
    private void EmitTilingPoolGrad(string name, PoolGradStep s, bool max)
    {
        var l = s.Layer;
        var x = s.Input;
        var y = s.Output;
        int k = l.KernelHeight, blocks = Tensor.Blocks(s.GradX.C);
        bool leftovers = y.H * k < x.H || y.W * k < x.W;
        string relu = s.Relu ? " · [X > 0]" : "";
        Open(name, max
                ? $"∂X[n,c,{k}·y+ΔY,{k}·x+ΔX] = ∂Y[n,c,y,x]{relu} at the first maximum of the {k}x{k} window in scan order (PyTorch's tie rule), 0 elsewhere   (layer {l.Index}{(s.Relu ? $", with the ReLU of layer {l.Index - 1} that X is the output of" : "")})"
                : $"∂X[n,c,{k}·y+ΔY,{k}·x+ΔX] = ∂Y[n,c,y,x] / {(long)k * k}   (layer {l.Index})",
            "The windows tile the input: one store per input pixel" + (leftovers ? "; the rows and columns no window covers are cleared first." : "."));
        w.Open("for (int item = begin; item < end; item++)");
        w.Line($"int cb = item % {blocks}, n = item / {blocks};");
        w.Line($"float* x = {Sample(x)} + (nint)cb * {x.PlaneStride};");
        w.Line($"float* g = {Sample(s.GradY)} + (nint)cb * {s.GradY.PlaneStride};");
        w.Line($"float* dx = {Sample(s.GradX)} + (nint)cb * {s.GradX.PlaneStride};");
        if (leftovers) w.Line($"new Span<float>(dx, {s.GradX.PlaneStride}).Clear();");
        if (!max) w.Line($"Vector256<float> scale = Vector256.Create({InverseArea(k)});");
        w.Open($"for (int oy = 0; oy < {y.H}; oy++)");
        w.Open($"for (int ox = 0; ox < {y.W}; ox++)");
        w.Line($"nint at = (oy * {k * x.W} + ox * {k}) * 8;");
        w.Line($"Vector256<float> gv = Vector256.Load(g + (oy * {y.W} + ox) * 8){(max ? "" : " * scale")};");
        var taps = new List<int>();
        for (int dy = 0; dy < k; dy++)
            for (int dxo = 0; dxo < k; dxo++)
                taps.Add((dy * x.W + dxo) * 8);
        if (max)
        {
            for (int t = 0; t < taps.Count; t++) w.Line($"Vector256<float> v{t} = Vector256.Load(x + at + {taps[t]});");
            // The same comparisons as the forward pass: NaN never wins, ties keep the earlier tap.
            w.Line("Vector256<float> best = Vector256.Create(float.NegativeInfinity);");
            for (int t = 0; t < taps.Count; t++) w.Line($"best = Vector256.ConditionalSelect(Vector256.GreaterThan(v{t}, best), v{t}, best);");
            w.Line("Vector256<float> open = Vector256<float>.AllBitsSet;");
            for (int t = 0; t < taps.Count; t++)
                w.Line($"Vector256<float> hit{t} = Vector256.Equals(v{t}, best) & open; open = Vector256.AndNot(open, hit{t});");
            // A window of NaNs has no maximum; its gradient goes to the first tap, as in the general kernel.
            w.Line("hit0 |= open;");
            // Only the winning tap receives ∂Y, and it holds the maximum, so ReLU's [X > 0] there is [best > 0] (false
            // for a window of NaNs too, as the separate pass would give).
            if (s.Relu) w.Line("gv &= Vector256.GreaterThan(best, Vector256<float>.Zero);");
            for (int t = 0; t < taps.Count; t++) w.Line($"Vector256.Store(gv & hit{t}, dx + at + {taps[t]});");
        }
        else
        {
            for (int t = 0; t < taps.Count; t++) w.Line($"Vector256.Store(gv, dx + at + {taps[t]});");
        }
        w.Close();
        w.Close();
        w.Close();
        w.Close();
        w.Line();
    }

    private static string Signed(int v) => v >= 0 ? $"+{v}" : v.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private void EmitPoolGrad(string name, PoolGradStep s)
    {
        var l = s.Layer;
        var x = s.Input;
        var y = s.Output;
        var gy = s.GradY;
        var gx = s.GradX;
        int blocks = Tensor.Blocks(gx.C);
        if (l.Kind == LayerKind.GlobalAvgPool)
        {
            int pixels = x.H * x.W;
            Open(name, $"∂X[n,c,y,x] = ∂Y[n,c] / {pixels}   (layer {l.Index})", "Each work item owns one channel block of one sample.");
            w.Open("for (int item = begin; item < end; item++)");
            w.Line($"int cb = item % {blocks}, n = item / {blocks};");
            w.Line($"Vector256<float> g = Vector256.Load({Sample(gy)} + cb * 8) * Vector256.Create({F(1f / pixels)});");
            w.Line($"float* dx = {Sample(gx)} + cb * {gx.PlaneStride};");
            w.Line($"for (int p = 0; p < {pixels}; p++) Vector256.Store(g, dx + p * 8);");
            w.Close();
            w.Close();
            w.Line();
            return;
        }
        bool max = l.Kind == LayerKind.MaxPool;
        int k = l.KernelHeight, st = l.Stride, p = l.PadTop;
        if (s.Tiles)
        {
            EmitTilingPoolGrad(name, s, max);
            return;
        }
        Open(name, max
                ? $"∂X[n,c,argmax] += ∂Y[n,c,y,x], argmax = first maximum of the {k}x{k} window in scan order (PyTorch's tie rule)   (layer {l.Index})"
                : $"∂X[n,c,{st}·y+ΔY-{p},{st}·x+ΔX-{p}] += ∂Y[n,c,y,x] / {(long)k * k}   (layer {l.Index}; padding absorbs its share)",
            "Each work item owns one channel block of one sample, so overlapping windows add up without races.");
        w.Open("for (int item = begin; item < end; item++)");
        w.Line($"int cb = item % {blocks}, n = item / {blocks};");
        w.Line($"float* x = {Sample(x)} + (nint)cb * {x.PlaneStride};");
        w.Line($"float* g = {Sample(gy)} + (nint)cb * {gy.PlaneStride};");
        w.Line($"float* dx = {Sample(gx)} + (nint)cb * {gx.PlaneStride};");
        w.Line($"new Span<float>(dx, {gx.PlaneStride}).Clear();");
        w.Open($"for (int oy = 0; oy < {y.H}; oy++)");
        w.Line($"int y0 = oy * {st} - {p}, yBegin = Math.Max(y0, 0), yEnd = Math.Min(y0 + {k}, {x.H});");
        w.Open($"for (int ox = 0; ox < {y.W}; ox++)");
        w.Line($"int x0 = ox * {st} - {p}, xBegin = Math.Max(x0, 0), xEnd = Math.Min(x0 + {k}, {x.W});");
        w.Line($"Vector256<float> gv = Vector256.Load(g + (oy * {y.W} + ox) * 8);");
        if (max)
        {
            // The winner's offset in the plane as an int: a float holds it exactly only below 2^24 (4104² pixels × 8).
            w.Line("Vector256<float> best = Vector256.Create(float.NegativeInfinity);");
            w.Line($"Vector256<int> at = Vector256.Create((yBegin * {x.W} + xBegin) * 8);");
            w.Open("for (int iy = yBegin; iy < yEnd; iy++)");
            w.Open("for (int ix = xBegin; ix < xEnd; ix++)");
            w.Line($"Vector256<float> v = Vector256.Load(x + (iy * {x.W} + ix) * 8);");
            w.Line("Vector256<float> better = Vector256.GreaterThan(v, best);");
            w.Line("best = Vector256.ConditionalSelect(better, v, best);");
            w.Line($"at = Vector256.ConditionalSelect(better.AsInt32(), Vector256.Create((iy * {x.W} + ix) * 8), at);");
            w.Close();
            w.Close();
            w.Line("for (int lane = 0; lane < 8; lane++) dx[at.GetElement(lane) + lane] += gv.GetElement(lane);");
        }
        else
        {
            w.Line($"gv *= Vector256.Create({InverseArea(k)});");
            w.Line("for (int iy = yBegin; iy < yEnd; iy++)");
            w.Line("    for (int ix = xBegin; ix < xEnd; ix++)");
            w.Line($"        Vector256.Store(Vector256.Load(dx + (iy * {x.W} + ix) * 8) + gv, dx + (iy * {x.W} + ix) * 8);");
        }
        w.Close();
        w.Close();
        w.Close();
        w.Close();
        w.Line();
    }
}

using System;
using System.Collections.Generic;
using System.Linq;
using ConvGen.Generator.Model;
using static ConvGen.Generator.Emit.CodeWriter;

namespace ConvGen.Generator.Emit;

// Winograd F(2, k) down the columns of a k×k layer, k = 3 or 5 at stride 1 (ConvStep.ColumnWinograd): each work item
// is one pair of output rows of one sample. The k + 1 input rows under the pair become k + 1 rows V[ξ] = Bᵀ[ξ,j]·X[2t+j]
// (same layout as what the kernel reads), each is convolved along x with the 1×k kernel U[ξ] = G[ξ,ΔY]·W[·,·,ΔY,·] by
// the direct kernel's register tile, and the two output rows are Aᵀ·M plus the bias. A stride-2 7x7 layer is two such
// convolutions summed: its even kernel rows over the even input rows by F(2, 4), its odd ones over the odd rows by
// F(2, 3), 9 transformed rows from input rows 4t … 4t + 8 and 9 one-row 1×7 convolutions of stride 2 along x. The
// runtime's WinogradWeights.ForConvColumns keeps U.
// F(2, 5): α = 6 points (0, ±1, ±2, ∞), the rows of Bᵀ scaled to small integers (the scale moved into G):
//   Bᵀ = [4 0 −5 0 1 0; 0 4 4 −1 −1 0; 0 −4 4 1 −1 0; 0 −2 −1 2 1 0; 0 2 −1 −2 1 0; 0 4 0 −5 0 1],
//   G = [¼ 0 0 0 0; ⅙(1 1 1 1 1); ⅙(1 −1 1 −1 1); ¹⁄₂₄(1 2 4 8 16); ¹⁄₂₄(1 −2 4 −8 16); 0 0 0 0 1],
//   Aᵀ = [1 1 1 1 1 0; 0 1 −1 2 −2 1].
// F(2, 3): α = 4 points (0, ±1, ∞), as in the 3x3 kernel's F(2×2, 3×3) along one axis:
//   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1],  G = [1 0 0; ½(1 1 1); ½(1 −1 1); 0 0 1],  Aᵀ = [1 1 1 0; 0 1 −1 −1].
// F(2, 4): α = 5 points (0, ±1, 2, ∞), for the stride-2 7x7's even rows:
//   Bᵀ = [2 −1 −2 1 0; 0 2 1 −1 0; 0 −2 3 −1 0; 0 −1 0 1 0; 0 2 −1 −2 1],
//   G = [½ 0 0 0; ½(1 1 1 1); ⅙(1 −1 1 −1); ⅙(1 2 4 8); 0 0 0 1],  Aᵀ = [1 1 1 1 0; 0 1 −1 2 1].
internal sealed partial class KernelEmitter
{
    /// <summary>
    /// The one-row convolution each ξ runs: the layer with a 1×k kernel from a row of V (the layout and width of the
    /// input's grid, padding included, one row) into a row of M (NCHW8c, one row <paramref name="width"/> pixels wide),
    /// unpadded, no bias, no activation, the layer's stride along the row; its register tiles are the direct kernel's.
    /// </summary>
    private static ConvStep ColumnRowStep(ConvStep s, int width)
    {
        var l = s.Layer;
        var row = l with
        {
            KernelHeight = 1, Input = l.Input with { H = 1, W = s.From.W }, Output = l.Output with { H = 1 }, Bias = false,
            PadTop = 0, PadBottom = 0, PadLeft = 0, PadRight = 0, Same = false,
        };
        var v = new Tensor("", BufferKind.Scratch, s.From.Blocked, l.Input.C, 1, s.From.W, 0);
        var m = new Tensor("", BufferKind.Scratch, true, l.Output.C, 1, width, 0);
        return new ConvStep(row, v, m, null, s.WeightPointer, null, v);
    }

    /// <summary>
    /// The output row cut into runs of whole register tiles (each a list of (start, pixels)) whose products, one tile's
    /// blocks × ColumnPoints rows, fit in <see cref="ConvStep.ColumnWinogradBytes"/>: the stem's 4 blocks × 112 pixels
    /// × 9 rows would take 126.6 KiB; stored transposed, it is cut at pixels 48 and 96 (54.6 KiB at most). A kernel
    /// that stores transposed (<see cref="ConvStep.TransposesOutput"/>, 8 pixels at a time) cuts only where 8 divides the
    /// start, one that pools (<see cref="ConvStep.FusedPool"/>, 2 pixels at a time) where 2 does. Rows of a few outputs
    /// stay whole. Where no cut fits (ColumnWinogradFits rules that out: one block's whole row fits, and a tile holds at
    /// most 4 blocks of at most 12 pixels), the finest cut is returned.
    /// </summary>
    private static List<List<(int Start, int Pixels)>> ColumnSegments(ConvStep s, ConvTiling t)
    {
        var tiles = RowTiles(s.To.W, t.Pixels);
        int points = ConvStep.ColumnPoints(s.Layer);
        for (int count = 1; ; count++)
        {
            int target = (s.To.W + count - 1) / count;
            var segments = new List<List<(int Start, int Pixels)>> { new() };
            foreach (var tile in tiles)
            {
                var current = segments[segments.Count - 1];
                if (current.Count > 0 && tile.Start + tile.Pixels - current[0].Start > target && tile.Start % CutEvery(s) == 0)
                    segments.Add(current = new());
                current.Add(tile);
            }
            int widest = segments.Max(g => g.Sum(p => p.Pixels));
            // count = W cuts wherever a cut is allowed: nothing finer exists.
            if (points * XiStride((long)t.Blocks * 8 * widest) * 4 <= ConvStep.ColumnWinogradBytes || count >= s.To.W) return segments;
        }
    }

    /// <summary>
    /// Where the output row's runs may start (<see cref="ColumnSegments"/>): on any pixel, unless the output transform
    /// takes several at a time.
    /// </summary>
    private static int CutEvery(ConvStep s) => s.TransposesOutput ? 8 : s.FusedPool is not null ? 2 : 1;

    private void EmitColumnWinograd(string name, ConvStep s)
    {
        var l = s.Layer;
        var t = ConvTiling.For(ColumnRowStep(s, l.Output.W));
        var segments = ColumnSegments(s, t);
        int width = segments.Max(g => g.Sum(p => p.Pixels));
        var row = ColumnRowStep(s, width);
        int weightBlock = t.Span * l.KernelWidth * 8;
        var (x, y) = (s.From, s.To);
        int vStride = (int)XiStride(row.From.PlaneStride * (long)(row.From.Blocked ? Tensor.Blocks(l.Input.C) : l.Input.C));
        int mStride = (int)XiStride((long)t.Blocks * row.To.PlaneStride);
        int uStride = Tensor.Blocks(l.Output.C) * weightBlock;
        int points = ConvStep.ColumnPoints(l), stride = l.Stride;
        string formula = stride == 1
            ? $"Y[n,o,2t+k,x] = {(l.Bias ? "B[o] + " : "")}Aᵀ[k,ξ] · U[ξ,o,I,ΔX] · V[n,ξ,t,I,x+ΔX],  V[n,ξ,t,i,x] = Bᵀ[ξ,j] · X[n,i,2t+j,x],  U[ξ,o,i,ΔX] = G[ξ,ΔY] · W[o,i,ΔY,ΔX]"
            : $"Y[n,o,2t+k,x] = {(l.Bias ? "B[o] + " : "")}Aᵀ[k,ξ] · U[ξ,o,I,ΔX] · V[n,ξ,t,I,2x+ΔX],  V[n,ξ,t,i,x] = Bᵀ[ξ,j] · X[n,i,4t+2j+φ(ξ),x],  U[ξ,o,i,ΔX] = G[ξ,ΔY] · W[o,i,2ΔY+φ(ξ),ΔX]";

        w.Line($"// {formula}");
        w.Line(stride == 1
            ? $"// {Describe(s)}; Winograd F(2, {l.KernelHeight}) down the columns, tile {t.Blocks}×8 channels × {t.Pixels} pixels over each transformed row"
            : $"// {Describe(s)}; stride 2: Winograd F(2, 4) + F(2, 3) down the columns, of the even input rows (φ = 0, ξ < 5) and the odd ones (φ = 1), tile {t.Blocks}×8 channels × {t.Pixels} pixels over each transformed row");
        EmitDispatcher(name);

        // An odd number of output rows ends with a half pair: the last row alone, whose transform leaves out the input
        // rows past the grid (only the second row of the pair reads them).
        int pairs = (y.H + 1) / 2;
        bool half = y.H % 2 == 1;
        var variants = new List<(int Blocks, int Pixels)>();
        // The item loop, which the fused pool's variant (ConvStep.FusedPool: an even height, so no half pair) shares: it
        // pools each pair of rows into one row of the pool's output.
        void EmitItems(string method, PoolStep? pool)
        {
            string stack = $"its {points} transformed input rows and {points} rows of products (one tile's channels{(segments.Count > 1 ? $", {segments.Count} runs of the row" : "")}) stay on the stack";
            Open(method, formula, pool is null
                ? $"Each work item is one pair of output rows of one sample{(half ? " (the last, one row)" : "")}: {stack}."
                : $"Each work item is one pair of output rows of one sample, which its output transform pools into one row: {stack}.",
                skipLocalsInit: "every float of V and M that is read was written first");
            w.Line($"float* v = stackalloc float[{points * vStride}]; // V[ξ], {vStride} floats apart");
            w.Line($"float* m = stackalloc float[{points * mStride}]; // M[ξ] = U[ξ] ∗ V[ξ] for one tile's blocks, NCHW8c rows of {width} pixels, {mStride} floats apart");
            w.Open("for (int item = begin; item < end; item++)");
            w.Line($"int t = item % {pairs}, n = item / {pairs};");
            string rows = $"{Sample(x)} + t * {2 * stride * x.RowStride}"; // the pair's first input row
            if (half)
            {
                w.Line($"bool both = t < {pairs - 1};");
                w.Line($"if (both) {name}Input({rows}, v);");
                w.Line($"else {name}InputHalf({rows}, v);");
            }
            else w.Line($"{name}Input({rows}, v);");
            w.Line(pool is null ? $"float* y = {Sample(y)} + t * {2 * y.RowStride}, u;" : $"float* y = {Sample(pool.To)} + t * {pool.To.RowStride}, u;");
            for (int tile = 0; tile < t.TileCount; tile++)
            {
                int blocks = tile == t.TileCount - 1 ? t.LastBlocks : t.Blocks;
                foreach (var segment in segments)
                {
                    int runStart = segment[0].Start;
                    w.Line($"u = f->{ConvStep.WinogradPointer(s.WeightPointer)}{(tile == 0 ? "" : $" + {tile * t.Blocks * weightBlock}")};");
                    w.Open($"for (int xi = 0; xi < {points}; xi++, u += {uStride})");
                    w.Line($"float* vx = v + xi * {vStride}, mx = m + xi * {mStride};");
                    // The run's tiles, those of one width as a loop (RowTiles puts the wider ones first).
                    foreach (var run in segment.GroupBy(p => p.Pixels))
                    {
                        int first = run.First().Start, pixels = run.Key, count = run.Count();
                        string tileMethod = $"{name}Tile{blocks}x{pixels}";
                        variants.Add((blocks, pixels));
                        if (count == 1)
                            w.Line($"{tileMethod}({Plus("vx", first * stride * row.From.ColumnStride)}, u, null, {Plus("mx", (first - runStart) * 8)}, 0);");
                        else
                            w.Line($"for (int ox = {first}; ox < {first + count * pixels}; ox += {pixels}) {tileMethod}(vx + {Times("ox", stride * row.From.ColumnStride)}, u, null, {Plus("mx", -runStart * 8)} + ox * 8, 0);");
                    }
                    w.Close();
                    string bias = s.BiasPointer is null ? "null" : Plus($"f->{s.BiasPointer}", tile * t.Blocks * 8);
                    w.Line(pool is null
                        ? $"{name}Output(m, {bias}, {Plus("y", tile * t.Blocks * OutputBlockStride(s, y) + runStart * OutputPixelStride(s))}, {blocks}, {segment.Sum(p => p.Pixels)}{(half ? ", both" : "")});"
                        : $"{name}OutputPooled(m, {bias}, {Plus("y", tile * t.Blocks * pool.To.PlaneStride + runStart / 2 * 8)}, {blocks}, {segment.Sum(p => p.Pixels)});");
                }
            }
            w.Close();
            w.Close();
            w.Line();
        }
        EmitItems($"{name}Avx", null);
        if (s.FusedPool is { } fused)
        {
            EmitPooledDispatcher(name, s, fused);
            EmitItems($"{name}PooledAvx", fused);
        }

        EmitColumnInput(name, s, vStride, halfPair: false);
        if (half) EmitColumnInput(name, s, vStride, halfPair: true);
        foreach (var (blocks, pixels) in variants.Distinct())
            EmitConvTile($"{name}Tile{blocks}x{pixels}", row, t, blocks, pixels, weightBlock, null, false, 8);
        EmitColumnOutput(name, s, mStride, row.To.PlaneStride);
        if (s.FusedPool is not null) EmitColumnOutputPooled(name, s, mStride, row.To.PlaneStride);
        var direct = ConvTiling.For(s);
        EmitConvScalar($"{name}Scalar", s, direct, direct.Span * l.KernelHeight * l.KernelWidth * 8, rowPairs: true);
        if (s.FusedPool is not null) EmitColumnPooledScalar($"{name}PooledScalar", s, direct, direct.Span * l.KernelHeight * l.KernelWidth * 8);
    }

    /// <summary>
    /// V[ξ] = Bᵀ[ξ,j]·X[2t+j] (stride 2: the rows 4t + 2j + φ) for the input rows at <c>x</c>, one vector of 8 (channels
    /// of a pixel in NCHW8c, pixels of a channel row in NCHW) at a time; a planar row whose width 8 does not divide ends
    /// on a vector that overlaps the one before it. The <paramref name="halfPair"/> variant (…InputHalf) is for the last
    /// item of an odd number of output rows: it takes the input rows that only the pair's second row reads (past the
    /// grid) as zero, which leaves the first row's V, and so its products, exact.
    /// </summary>
    private void EmitColumnInput(string name, ConvStep s, int vStride, bool halfPair)
    {
        var x = s.From;
        var l = s.Layer;
        int rows = ConvStep.ColumnPoints(l); // input rows per pair: k + 1, or 9 (4t … 4t + 8) for the stride-2 7x7
        // Stride 1: row k (of 0 … k) only feeds output row 2t + 1; stride 2: rows 7 and 8 (the last odd and even).
        int skipped = l.Stride == 2 ? 2 : 1;
        string suffix = halfPair ? "Half" : "";
        if (halfPair)
            w.Line($"// The half pair at the end: V[ξ] as {name}Input makes it, with input rows {(skipped == 2 ? $"{rows - 2} and {rows - 1}" : $"{rows - 1}")} (past the grid, read only for the second output row) as zero.");
        else
            w.Line($"// V[ξ] = Bᵀ[ξ,j] · X[{(l.Stride == 2 ? "4t+2j+φ(ξ)" : "2t+j")}]: the {rows} input rows under a pair of output rows, one vector at a time.");
        w.Line(Hot);
        w.Open($"private static void {name}Input{suffix}(float* x, float* v)");
        if (x.Blocked)
        {
            // Each block's row is W·8 contiguous floats in the input and in V.
            int blocks = Tensor.Blocks(l.Input.C), row = x.StoredW * 8;
            if (blocks > 1) w.Open($"for (int cb = 0; cb < {blocks}; cb++, x += {x.PlaneStride}, v += {row})");
            w.Line($"for (int p = 0; p < {row}; p += 8) {name}Column{suffix}(x + p, v + p);");
            if (blocks > 1) w.Close();
        }
        else
        {
            var starts = Enumerable.Range(0, (x.StoredW + 7) / 8).Select(k => Math.Min(8 * k, x.StoredW - 8)).ToList();
            w.Open($"for (int c = 0; c < {l.Input.C}; c++)");
            w.Line($"float* xc = x + c * {x.PlaneStride};");
            w.Line($"float* vc = v + c * {x.StoredW};");
            foreach (int p in starts) w.Line($"{name}Column{suffix}({Plus("xc", p)}, {Plus("vc", p)});");
            w.Close();
        }
        w.Close();
        w.Line();
        w.Line("[MethodImpl(MethodImplOptions.AggressiveInlining)]");
        w.Open($"private static void {name}Column{suffix}(float* x, float* v)");
        w.Line($"Vector256<float> {string.Join(", ", Range(rows, j => $"d{j} = {(halfPair && j >= rows - skipped ? "Vector256<float>.Zero" : $"Avx.LoadVector256({Plus("x", j * x.RowStride)})")}"))};");
        if (rows == 9)
        {
            // F(2, 4) down the even rows e_j = d_2j into V[0..4], F(2, 3) down the odd rows o_j = d_2j+1 into V[5..8].
            w.Line("Vector256<float> two = Vector256.Create(2f), a = d6 - d2, b = d4 - d6; // e₃ − e₁, e₂ − e₃");
            w.Line("Avx.Store(v, Fma.MultiplyAdd(two, d0 - d4, a)); // 2e₀ − e₁ − 2e₂ + e₃");
            w.Line($"Avx.Store(v + {vStride}, Fma.MultiplyAdd(two, d2, b)); // 2e₁ + e₂ − e₃");
            w.Line($"Avx.Store(v + {2 * vStride}, Fma.MultiplyAdd(two, d4 - d2, b)); // −2e₁ + 3e₂ − e₃");
            w.Line($"Avx.Store(v + {3 * vStride}, a);");
            w.Line($"Avx.Store(v + {4 * vStride}, Fma.MultiplyAdd(two, d2 - d6, d8 - d4)); // 2e₁ − e₂ − 2e₃ + e₄");
            w.Line($"Avx.Store(v + {5 * vStride}, d1 - d5);");
            w.Line($"Avx.Store(v + {6 * vStride}, d3 + d5);");
            w.Line($"Avx.Store(v + {7 * vStride}, d5 - d3);");
            w.Line($"Avx.Store(v + {8 * vStride}, d3 - d7);");
        }
        else if (rows == 4)
        {
            // F(2, 3): additions only.
            w.Line("Avx.Store(v, d0 - d2);");
            w.Line($"Avx.Store(v + {vStride}, d1 + d2);");
            w.Line($"Avx.Store(v + {2 * vStride}, d2 - d1);");
            w.Line($"Avx.Store(v + {3 * vStride}, d1 - d3);");
        }
        else
        {
            w.Line("Vector256<float> four = Vector256.Create(4f), five = Vector256.Create(5f), two = Vector256.Create(2f);");
            w.Line("Vector256<float> a = Fma.MultiplySubtract(four, d1, d3), b = Fma.MultiplySubtract(four, d2, d4); // 4d₁ − d₃, 4d₂ − d₄");
            w.Line("Vector256<float> c = d3 - d1, e = d4 - d2;");
            w.Line($"Avx.Store(v, Fma.MultiplyAddNegated(five, d2, Fma.MultiplyAdd(four, d0, d4))); // 4d₀ − 5d₂ + d₄");
            w.Line($"Avx.Store(v + {vStride}, a + b);");
            w.Line($"Avx.Store(v + {2 * vStride}, b - a);");
            w.Line($"Avx.Store(v + {3 * vStride}, Fma.MultiplyAdd(two, c, e)); // −2d₁ − d₂ + 2d₃ + d₄");
            w.Line($"Avx.Store(v + {4 * vStride}, Fma.MultiplyAddNegated(two, c, e));");
            w.Line($"Avx.Store(v + {5 * vStride}, Fma.MultiplyAddNegated(five, d3, Fma.MultiplyAdd(four, d1, d5))); // 4d₁ − 5d₃ + d₅");
        }
        w.Close();
        w.Line();
    }

    /// <summary>
    /// The two output rows from M, activated, for <c>blocks</c> blocks of one tile over a run of <c>width</c> pixels
    /// (rows of M <paramref name="mRow"/> floats apart): for 5x5, Y[2t] = B + M₀ + M₁ + M₂ + M₃ + M₄ and
    /// Y[2t+1] = B + M₁ − M₂ + 2(M₃ − M₄) + M₅; for 3x3, Y[2t] = B + M₀ + M₁ + M₂ and Y[2t+1] = B + M₁ − M₂ − M₃; for the
    /// stride-2 7x7, F(2, 4)'s Y[2t] = M₀ + M₁ + M₂ + M₃, Y[2t+1] = M₁ − M₂ + 2M₃ + M₄ plus F(2, 3)'s over M₅…M₈.
    /// </summary>
    private void EmitColumnOutput(string name, ConvStep s, int mStride, int mRow)
    {
        var y = s.To;
        int points = ConvStep.ColumnPoints(s.Layer);
        w.Line($"// Y[2t+k] = {(s.Layer.Bias ? "B + " : "")}Aᵀ[k,ξ] · M[ξ]{(s.Activation is null ? "" : $", then {s.Activation}")}: rows 2t and 2t + 1 of each block.");
        w.Line(Hot);
        bool half = y.H % 2 == 1;
        w.Open($"private static void {name}Output(float* m, float* b, float* y, int blocks, int width{(half ? ", bool both" : "")})");
        if (s.TransposesOutput)
        {
            EmitColumnOutputTransposed(name, s, mStride, mRow, half);
            return;
        }
        OpenColumnOutputBlocks(s, mRow, y.PlaneStride);
        w.Open("for (int p = 0; p < width * 8; p += 8)");
        w.Line($"Vector256<float> {string.Join(", ", LoadColumnRows(points, mStride, 0, "p"))};");
        w.Line("Vector256<float> sum = m1 + m2, diff = m1 - m2;");
        var (even, odd) = ColumnOutputRows(points);
        w.Line($"Avx.Store(yo + p, {Apply(s.Activation, even, true)});");
        w.Line($"{(half ? "if (both) " : "")}Avx.Store(yo + {y.RowStride} + p, {Apply(s.Activation, odd, true)});");
        w.Close();
        w.Close();
        w.Close();
        w.Line();
    }

    /// <summary>
    /// Opens the output transforms' loop over a tile's blocks: each block's bias (and the constant 2 where Aᵀ has it),
    /// its rows of M (<paramref name="mRow"/> floats apart) and its output (<paramref name="yBlock"/> floats apart).
    /// </summary>
    private void OpenColumnOutputBlocks(ConvStep s, int mRow, int yBlock)
    {
        w.Open("for (int ob = 0; ob < blocks; ob++)");
        w.Line($"Vector256<float> bias = {(s.BiasPointer is null ? "Vector256<float>.Zero" : "Avx.LoadVector256(b + ob * 8)")}{(ConvStep.ColumnPoints(s.Layer) == 4 ? "" : ", two = Vector256.Create(2f)")};");
        w.Line($"float* mo = m + ob * {mRow};");
        w.Line($"float* yo = y + ob * {yBlock};");
    }

    /// <summary>
    /// The loads of M's rows m0… at one vector of a block (<c>mo</c>, rows <paramref name="mStride"/> floats apart),
    /// <paramref name="offset"/> floats past <paramref name="at"/>, for <see cref="ColumnOutputRows"/>.
    /// </summary>
    private static IEnumerable<string> LoadColumnRows(int points, int mStride, int offset, string at)
        => Range(points, k => $"m{k} = Avx.LoadVector256({Plus("mo", k * mStride + offset)} + {at})");

    /// <summary>Aᵀ·M + B for output rows 2t and 2t + 1, over the loaded rows m0… (and sum = m1 + m2, diff = m1 − m2).</summary>
    private static (string Even, string Odd) ColumnOutputRows(int points) => points switch
    {
        4 => ("bias + m0 + sum", "bias + diff - m3"),
        6 => ("bias + m0 + sum + (m3 + m4)", "Fma.MultiplyAdd(two, m3 - m4, bias + diff + m5)"),
        _ => ("bias + m0 + sum + m3 + (m5 + m6 + m7)", "Fma.MultiplyAdd(two, m3, bias + diff + m4) + (m6 - m7 - m8)"),
    };

    /// <summary>
    /// The output transform of a last layer that writes the caller's NCHW (<see cref="ConvStep.TransposesOutput"/>, no
    /// activation, whole blocks, rows of whole vectors): per block and 8 pixels, each output row's 8 pixel vectors are
    /// transposed in registers into 8 channel rows of 8 pixels and stored, one row after the other, which spares the
    /// NCHW8c tensor and the copy out of it. The runs of the row start where 8 divides (KernelEmitter.ColumnSegments).
    /// </summary>
    private void EmitColumnOutputTransposed(string name, ConvStep s, int mStride, int mRow, bool half)
    {
        var y = s.To;
        int points = ConvStep.ColumnPoints(s.Layer);
        w.Open("for (int ob = 0; ob < blocks; ob++)");
        w.Line($"Vector256<float> bias = {(s.BiasPointer is null ? "Vector256<float>.Zero" : "Avx.LoadVector256(b + ob * 8)")};");
        w.Line($"Vector256<float> {string.Join(", ", Range(8, r => $"r{r}"))};");
        w.Open("for (int p = 0; p < width; p += 8)");
        w.Line($"float* mo = m + ob * {mRow} + p * 8;");
        w.Line($"float* yo = y + ob * {8 * y.PlaneStride} + p;");
        foreach (var (row, rowName) in new[] { (0, "Even"), (1, "Odd") })
        {
            if (row == 1 && half) w.Open("if (both)");
            w.Line(string.Join(" ", Range(8, j => $"r{j} = {name}{rowName}({Plus("mo", j * 8)}, bias);")));
            w.Line($"global::ConvGen.Registers.Transpose8x8({string.Join(", ", Range(8, r => $"ref r{r}"))});");
            for (int c = 0; c < 8; c++) w.Line($"Avx.Store({Plus("yo", c * y.PlaneStride + row * y.RowStride)}, r{c});");
            if (row == 1 && half) w.Close();
        }
        w.Close();
        w.Close();
        w.Close();
        w.Line();
        var rows = ColumnOutputRows(points);
        foreach (var (rowName, combination) in new[] { ("Even", rows.Even), ("Odd", rows.Odd) })
        {
            w.Line("[MethodImpl(MethodImplOptions.AggressiveInlining)]");
            w.Open($"private static Vector256<float> {name}{rowName}(float* m, Vector256<float> bias)");
            w.Line($"Vector256<float> {string.Join(", ", Range(points, k => $"m{k} = Avx.LoadVector256({Plus("m", k * mStride)})"))};");
            w.Line($"Vector256<float> sum = m1 + m2, diff = m1 - m2{(points == 4 ? "" : ", two = Vector256.Create(2f)")};");
            w.Line($"return {combination};");
            w.Close();
            w.Line();
        }
    }

    /// <summary>
    /// The fused pool's output transform (<see cref="ConvStep.FusedPool"/>): for each block and pair of pixels, the
    /// four values of its 2x2 window, rows 2t and 2t + 1 of each column as {name}Output computes them, their max, then
    /// the activation (ReLU commutes with the max exactly), into one row of the pool's output; the run starts on an
    /// even pixel.
    /// </summary>
    private void EmitColumnOutputPooled(string name, ConvStep s, int mStride, int mRow)
    {
        var p = s.FusedPool!.To;
        int points = ConvStep.ColumnPoints(s.Layer);
        var (even, odd) = ColumnOutputRows(points);
        w.Line($"// P[t] = max over the 2x2 windows of Y[2t+k] = {(s.Layer.Bias ? "B + " : "")}Aᵀ[k,ξ] · M[ξ]{(s.Activation is null ? "" : $", then {s.Activation}")}: one pooled row of each block.");
        w.Line(Hot);
        w.Open($"private static void {name}OutputPooled(float* m, float* b, float* y, int blocks, int width)");
        OpenColumnOutputBlocks(s, mRow, p.PlaneStride);
        w.Open("for (int q = 0; q < width * 8; q += 16)");
        w.Line($"Vector256<float> {string.Join(", ", LoadColumnRows(points, mStride, 0, "q"))}; // the window's left column");
        w.Line($"Vector256<float> sum = m1 + m2, diff = m1 - m2, left = Vector256.Max({even}, {odd});");
        w.Line($"{string.Join(" ", LoadColumnRows(points, mStride, 8, "q").Select(load => load + ";"))} // its right column");
        w.Line("sum = m1 + m2; diff = m1 - m2;");
        w.Line($"Avx.Store(yo + q / 2, {Apply(s.Activation, $"Vector256.Max(left, Vector256.Max({even}, {odd}))", true)});");
        w.Close();
        w.Close();
        w.Close();
        w.Line();
    }

    /// <summary>
    /// The scalar twin of the fused column kernel and pool: each pooled value the max of its four convolution values,
    /// each summed as the recorded kernel's twin sums it (EmitScalarWindowSum), then the activation.
    /// </summary>
    private void EmitColumnPooledScalar(string name, ConvStep s, ConvTiling t, int weightBlock)
    {
        var l = s.Layer;
        var (x, _) = ConvTiling.Rows(s);
        var p = s.FusedPool!.To;
        Open(name, ConvFormula(l), "Scalar twin of the fused AVX2 kernel for CPUs without AVX2/FMA: same work items, computed directly from the packed weights.");
        w.Open("for (int item = begin; item < end; item++)");
        w.Line($"int py = item % {p.H}, n = item / {p.H};");
        w.Open($"for (int ob = 0; ob < {Tensor.Blocks(l.Output.C)}; ob++)");
        w.Line($"int ic0 = {FirstInput(l, t).Replace("tile", "ob")};");
        w.Line($"float* w = f->{s.WeightPointer} + ob * {weightBlock};");
        w.Line($"float* y = {Sample(p)} + (nint)ob * {p.PlaneStride} + py * {p.RowStride};");
        w.Line($"for (int px = 0; px < {p.W}; px++)");
        w.Open("for (int lane = 0; lane < 8; lane++)");
        w.Line("float max = float.NegativeInfinity;");
        w.Open("for (int oy = 2 * py; oy < 2 * py + 2; oy++)");
        w.Line($"float* x = {Sample(x)} + oy * {l.Stride * x.RowStride}{MinusViewOffset(x)};");
        w.Open("for (int ox = 2 * px; ox < 2 * px + 2; ox++)");
        EmitScalarWindowSum(s, t, x);
        w.Line("max = MathF.Max(max, acc);");
        w.Close();
        w.Close();
        w.Line($"y[px * 8 + lane] = {Apply(s.Activation, "max", false)};");
        w.Close();
        w.Close();
        w.Close();
        w.Close();
        w.Line();
    }
}

using System;
using System.Collections.Generic;
using System.Linq;
using ConvGen.Generator.Model;
using static ConvGen.Generator.Emit.CodeWriter;

namespace ConvGen.Generator.Emit;

// Winograd F(2, k) down the columns of a k×k layer, k = 3 or 5 (ConvStep.ColumnWinograd): each work item is one pair
// of output rows of one sample. The k + 1 input rows under the pair become k + 1 rows V[ξ] = Bᵀ[ξ,j]·X[2t+j] (same
// layout as what the kernel reads), each is convolved along x with the 1×k kernel U[ξ] = G[ξ,ΔY]·W[·,·,ΔY,·] by the
// direct kernel's register tile, and the two output rows are Aᵀ·M plus the bias. The runtime's
// WinogradWeights.ForConvColumns keeps U.
// F(2, 5): α = 6 points (0, ±1, ±2, ∞), the rows of Bᵀ scaled to small integers (the scale moved into G):
//   Bᵀ = [4 0 −5 0 1 0; 0 4 4 −1 −1 0; 0 −4 4 1 −1 0; 0 −2 −1 2 1 0; 0 2 −1 −2 1 0; 0 4 0 −5 0 1],
//   G = [¼ 0 0 0 0; ⅙(1 1 1 1 1); ⅙(1 −1 1 −1 1); ¹⁄₂₄(1 2 4 8 16); ¹⁄₂₄(1 −2 4 −8 16); 0 0 0 0 1],
//   Aᵀ = [1 1 1 1 1 0; 0 1 −1 2 −2 1].
// F(2, 3): α = 4 points (0, ±1, ∞), as in the 3x3 kernel's F(2×2, 3×3) along one axis:
//   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1],  G = [1 0 0; ½(1 1 1); ½(1 −1 1); 0 0 1],  Aᵀ = [1 1 1 0; 0 1 −1 −1].
internal sealed partial class KernelEmitter
{
    /// <summary>Transformed rows per pair of output rows: α = k + 1.</summary>
    private static int ColumnPoints(ConvStep s) => s.Layer.KernelHeight + 1;

    /// <summary>
    /// The one-row convolution each ξ runs: the layer with a 1×k kernel from a row of V (the layout and width of the
    /// input's grid, padding included, one row) into a row of M (NCHW8c, one row), unpadded, no bias, no activation;
    /// its register tiles are the direct kernel's.
    /// </summary>
    private static ConvStep ColumnRowStep(ConvStep s)
    {
        var l = s.Layer;
        var row = l with
        {
            KernelHeight = 1, Input = l.Input with { H = 1, W = s.From.W }, Output = l.Output with { H = 1 }, Bias = false,
            PadTop = 0, PadBottom = 0, PadLeft = 0, PadRight = 0, Same = false,
        };
        var v = new Tensor("", BufferKind.Scratch, s.From.Blocked, l.Input.C, 1, s.From.W, 0);
        var m = new Tensor("", BufferKind.Scratch, true, l.Output.C, 1, l.Output.W, 0);
        return new ConvStep(row, v, m, null, s.WeightPointer, null, v);
    }

    private void EmitColumnWinograd(string name, ConvStep s)
    {
        var l = s.Layer;
        var row = ColumnRowStep(s);
        var t = ConvTiling.For(row);
        int weightBlock = t.Span * l.KernelWidth * 8;
        var (x, y) = (s.From, s.To);
        int vStride = (int)XiStride(row.From.PlaneStride * (long)(row.From.Blocked ? Tensor.Blocks(l.Input.C) : l.Input.C));
        int mStride = (int)XiStride(row.To.PlaneStride * (long)Tensor.Blocks(l.Output.C));
        int uStride = Tensor.Blocks(l.Output.C) * weightBlock;
        int points = ColumnPoints(s);
        string formula = $"Y[n,o,2t+k,x] = {(l.Bias ? "B[o] + " : "")}Aᵀ[k,ξ] · U[ξ,o,I,ΔX] · V[n,ξ,t,I,x+ΔX],  V[n,ξ,t,i,x] = Bᵀ[ξ,j] · X[n,i,2t+j,x],  U[ξ,o,i,ΔX] = G[ξ,ΔY] · W[o,i,ΔY,ΔX]";

        w.Line($"// {formula}");
        w.Line($"// {Describe(s)}; Winograd F(2, {l.KernelHeight}) down the columns, tile {t.Blocks}×8 channels × {t.Pixels} pixels over each transformed row");
        EmitDispatcher(name);

        Open($"{name}Avx", formula, $"Each work item is one pair of output rows of one sample: its {points} transformed input rows and {points} rows of products stay on the stack.",
            skipLocalsInit: "every float of V and M that is read was written first");
        w.Line($"float* v = stackalloc float[{points * vStride}]; // V[ξ], {vStride} floats apart");
        w.Line($"float* m = stackalloc float[{points * mStride}]; // M[ξ] = U[ξ] ∗ V[ξ], NCHW8c, {mStride} floats apart");
        w.Open("for (int item = begin; item < end; item++)");
        w.Line($"int t = item % {y.H / 2}, n = item / {y.H / 2};");
        w.Line($"{name}Input({Sample(x)} + t * {2 * x.RowStride}, v);");
        w.Line($"float* u = f->{ConvStep.WinogradPointer(s.WeightPointer)};");
        var variants = new List<(int Blocks, int Pixels)>();
        w.Open($"for (int xi = 0; xi < {points}; xi++, u += {uStride})");
        w.Line($"float* vx = v + xi * {vStride}, mx = m + xi * {mStride};");
        for (int tile = 0; tile < t.TileCount; tile++)
        {
            int blocks = tile == t.TileCount - 1 ? t.LastBlocks : t.Blocks;
            string ws = Plus("u", tile * t.Blocks * weightBlock);
            int mTile = tile * t.Blocks * row.To.PlaneStride;
            // The row's tiles, a run of one width as a loop (RowTiles puts the wider ones first).
            foreach (var run in RowTiles(y.W, t.Pixels).GroupBy(p => p.Pixels))
            {
                int first = run.First().Start, pixels = run.Key, count = run.Count();
                string tileMethod = $"{name}Tile{blocks}x{pixels}";
                variants.Add((blocks, pixels));
                if (count == 1)
                    w.Line($"{tileMethod}({Plus("vx", first * row.From.ColumnStride)}, {ws}, null, {Plus("mx", mTile + first * 8)}, 0);");
                else
                    w.Line($"for (int ox = {first}; ox < {first + count * pixels}; ox += {pixels}) {tileMethod}(vx + {Times("ox", row.From.ColumnStride)}, {ws}, null, {Plus("mx", mTile)} + ox * 8, 0);");
            }
        }
        w.Close();
        w.Line($"{name}Output(m, {(s.BiasPointer is null ? "null" : $"f->{s.BiasPointer}")}, {Sample(y)} + t * {2 * y.RowStride});");
        w.Close();
        w.Close();
        w.Line();

        EmitColumnInput(name, s, vStride);
        foreach (var (blocks, pixels) in variants.Distinct())
            EmitConvTile($"{name}Tile{blocks}x{pixels}", row, t, blocks, pixels, weightBlock, null, false, 8);
        EmitColumnOutput(name, s, mStride);
        var direct = ConvTiling.For(s);
        EmitConvScalar($"{name}Scalar", s, direct, direct.Span * l.KernelHeight * l.KernelWidth * 8, rowPairs: true);
    }

    /// <summary>
    /// V[ξ] = Bᵀ[ξ,j]·X[2t+j] for the k + 1 input rows at <c>x</c>, one vector of 8 (channels of a pixel in NCHW8c, pixels
    /// of a channel row in NCHW) at a time; a planar row whose width 8 does not divide ends on a vector that overlaps the
    /// one before it.
    /// </summary>
    private void EmitColumnInput(string name, ConvStep s, int vStride)
    {
        var x = s.From;
        var l = s.Layer;
        int points = ColumnPoints(s);
        w.Line($"// V[ξ] = Bᵀ[ξ,j] · X[2t+j]: the {points} input rows under a pair of output rows, one vector at a time.");
        w.Line(Hot);
        w.Open($"private static void {name}Input(float* x, float* v)");
        if (x.Blocked)
        {
            // Each block's row is W·8 contiguous floats in the input and in V.
            int blocks = Tensor.Blocks(l.Input.C), row = x.StoredW * 8;
            if (blocks > 1) w.Open($"for (int cb = 0; cb < {blocks}; cb++, x += {x.PlaneStride}, v += {row})");
            w.Line($"for (int p = 0; p < {row}; p += 8) {name}Column(x + p, v + p);");
            if (blocks > 1) w.Close();
        }
        else
        {
            var starts = Enumerable.Range(0, (x.StoredW + 7) / 8).Select(k => Math.Min(8 * k, x.StoredW - 8)).ToList();
            w.Open($"for (int c = 0; c < {l.Input.C}; c++)");
            w.Line($"float* xc = x + c * {x.PlaneStride};");
            w.Line($"float* vc = v + c * {x.StoredW};");
            foreach (int p in starts) w.Line($"{name}Column({Plus("xc", p)}, {Plus("vc", p)});");
            w.Close();
        }
        w.Close();
        w.Line();
        w.Line("[MethodImpl(MethodImplOptions.AggressiveInlining)]");
        w.Open($"private static void {name}Column(float* x, float* v)");
        w.Line($"Vector256<float> {string.Join(", ", Range(points, j => $"d{j} = Avx.LoadVector256({Plus("x", j * x.RowStride)})"))};");
        if (points == 4)
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
    /// The two output rows from M, activated: for 5x5, Y[2t] = B + M₀ + M₁ + M₂ + M₃ + M₄ and
    /// Y[2t+1] = B + M₁ − M₂ + 2(M₃ − M₄) + M₅; for 3x3, Y[2t] = B + M₀ + M₁ + M₂ and Y[2t+1] = B + M₁ − M₂ − M₃.
    /// </summary>
    private void EmitColumnOutput(string name, ConvStep s, int mStride)
    {
        var y = s.To;
        int ow = s.Layer.Output.W;
        w.Line($"// Y[2t+k] = {(s.Layer.Bias ? "B + " : "")}Aᵀ[k,ξ] · M[ξ]{(s.Activation is null ? "" : $", then {s.Activation}")}: rows 2t and 2t + 1 of every block.");
        w.Line(Hot);
        w.Open($"private static void {name}Output(float* m, float* b, float* y)");
        w.Open($"for (int ob = 0; ob < {Tensor.Blocks(s.Layer.Output.C)}; ob++)");
        bool five = ColumnPoints(s) == 6;
        w.Line($"Vector256<float> bias = {(s.BiasPointer is null ? "Vector256<float>.Zero" : "Avx.LoadVector256(b + ob * 8)")}{(five ? ", two = Vector256.Create(2f)" : "")};");
        w.Line($"float* mo = m + ob * {ow * 8};");
        w.Line($"float* yo = y + ob * {y.PlaneStride};");
        w.Open($"for (int p = 0; p < {ow * 8}; p += 8)");
        w.Line($"Vector256<float> {string.Join(", ", Range(ColumnPoints(s), k => $"m{k} = Avx.LoadVector256({Plus("mo", k * mStride)} + p)"))};");
        w.Line("Vector256<float> sum = m1 + m2, diff = m1 - m2;");
        w.Line($"Avx.Store(yo + p, {Apply(s.Activation, five ? "bias + m0 + sum + (m3 + m4)" : "bias + m0 + sum", true)});");
        w.Line($"Avx.Store(yo + {y.RowStride} + p, {Apply(s.Activation, five ? "Fma.MultiplyAdd(two, m3 - m4, bias + diff + m5)" : "bias + diff - m3", true)});");
        w.Close();
        w.Close();
        w.Close();
        w.Line();
    }
}

using System.Collections.Generic;
using System.Linq;
using static ConvGen.Generator.Emit.CodeWriter;

namespace ConvGen.Generator.Emit;

internal sealed partial class KernelEmitter
{
    // Linear is a GEMM: a tile of 3 output blocks (24 features) × 4 samples = 12 accumulators; per input feature,
    // 3 weight vectors and 4 broadcasts. The batch is only known at run time, so each row count 1-4 gets a tile.
    // The weights are packed in tiles of the same 3 blocks (the runtime's ParameterLayout.LinearTileBlocks), each
    // input's 3 vectors side by side, so a tile reads them as one stream.
    internal const int LinearRows = 4;
    private const int LinearBlocks = 3;

    // A tile of fewer than 8 accumulators (a batch of 1 to 3, or a layer's last 1-2 output blocks) would wait on the
    // FMA latency (4 cycles, 2 per cycle: 8 chains to fill the units) rather than the units: such a tile keeps up to 4
    // partial sums per accumulator, over the inputs i mod parts, at most 12 vectors in all.
    private static int LinearPartialSums(int blocks, int rows) =>
        blocks * rows >= 8 ? 1 : System.Math.Min(4, LinearBlocks * LinearRows / (blocks * rows));

    private static string PairwiseSum(List<string> terms) => terms.Count == 1 ? terms[0]
        : $"({PairwiseSum(terms.GetRange(0, terms.Count / 2))} + {PairwiseSum(terms.GetRange(terms.Count / 2, terms.Count - terms.Count / 2))})";

    private static int LinearTileCount(LinearStep s) => (Tensor.Blocks(s.To.C) + LinearBlocks - 1) / LinearBlocks;

    private void EmitLinear(string name, LinearStep s)
    {
        var l = s.Layer;
        int inputs = s.From.LinearInputs, tiles = LinearTileCount(s), outBlocks = Tensor.Blocks(s.To.C);
        int last = outBlocks - (tiles - 1) * LinearBlocks;
        string formula = $"Y[n,o] = {(l.Bias ? "B[o] + " : "")}W[o,I] · X[n,I]   (layer {l.Index}: {l.Input.C} → {l.Output.C}{(s.Activation is null ? "" : $", {s.Activation} fused")})";
        string inputNote = s.From.Blocked ? $"X read in place from NCHW8c ({s.From.C}×{s.From.H}×{s.From.W}); the weights were packed to match" : "X as features";
        w.Line($"// {formula}");
        w.Line($"// {inputNote}; tile {LinearBlocks}×8 outputs × {LinearRows} samples");
        EmitDispatcher(name);

        Open($"{name}Avx", formula, "Each work item is one tile of output blocks for up to 4 samples.");
        w.Open("for (int item = begin; item < end; item++)");
        w.Line($"int tile = item % {tiles}, n0 = item / {tiles} * {LinearRows}, rows = Math.Min({LinearRows}, f->Batch - n0);");
        w.Line($"float* x = {Sample(s.From, "n0")};");
        w.Line($"float* w = f->{s.WeightPointer} + tile * {LinearBlocks * inputs * 8};");
        w.Line(s.BiasPointer is null ? "float* b = null;" : $"float* b = f->{s.BiasPointer} + tile * {LinearBlocks * 8};");
        w.Line($"float* y = {Sample(s.To, "n0")} + tile * {LinearBlocks * 8};");
        var variants = new List<(int, int)>();
        void Dispatch(int blocks)
        {
            w.Open("switch (rows)");
            for (int r = LinearRows; r >= 1; r--)
            {
                w.Line($"{(r == 1 ? "default" : $"case {r}")}: {name}Tile{blocks}x{r}(x, w, b, y); break;");
                variants.Add((blocks, r));
            }
            w.Close();
        }
        if (tiles == 1)
        {
            Dispatch(last);
        }
        else if (last != LinearBlocks)
        {
            w.Open($"if (tile == {tiles - 1})");
            Dispatch(last);
            w.Close();
            w.Open("else");
            Dispatch(LinearBlocks);
            w.Close();
        }
        else
        {
            Dispatch(LinearBlocks);
        }
        w.Close();
        w.Close();
        w.Line();

        foreach (var (blocks, rows) in variants)
        {
            int parts = LinearPartialSums(blocks, rows), body = inputs - inputs % parts;
            string Acc(int k, int q, int p) => p == 0 ? $"a{k}_{q}" : $"a{k}_{q}p{p}";
            w.Line($"// {blocks}×{rows} tile: acc[block][sample] += W[block][i] · broadcast(X[sample][i]) over {inputs} inputs" +
                   (parts == 1 ? "." : $", as {parts} partial sums over i mod {parts} (added at the end) so {blocks * rows * parts} FMA chains are in flight."));
            w.Line(Hot);
            w.Open($"private static void {name}Tile{blocks}x{rows}(float* x, float* w, float* b, float* y)");
            for (int k = 0; k < blocks; k++)
            {
                string init = s.BiasPointer is null ? "Vector256<float>.Zero" : $"Avx.LoadVector256(b + {k * 8})";
                w.Line($"Vector256<float> {string.Join(", ", Range(rows, q => $"a{k}_{q} = {(q == 0 ? init : $"a{k}_0")}"))};");
            }
            for (int p = 1; p < parts; p++)
                w.Line($"Vector256<float> {string.Join(", ", Range(blocks * rows, j => $"{Acc(j / rows, j % rows, p)} = Vector256<float>.Zero"))};");
            // One step of the reduction: input i + p into partial sum p.
            void Reduce(int p)
            {
                for (int k = 0; k < blocks; k++) w.Line($"Vector256<float> w{k}_{p} = Avx.LoadVector256(w + {(p * blocks + k) * 8} + i * {blocks * 8});");
                for (int q = 0; q < rows; q++)
                {
                    w.Line($"Vector256<float> v{q}_{p} = Vector256.Create(x[{q * s.From.Stride + p} + i]);");
                    for (int k = 0; k < blocks; k++) w.Line($"{Acc(k, q, p)} = Fma.MultiplyAdd(w{k}_{p}, v{q}_{p}, {Acc(k, q, p)});");
                }
            }
            w.Open($"for (int i = 0; i < {body}; i += {parts})");
            for (int p = 0; p < parts; p++) Reduce(p);
            w.Close();
            if (body < inputs)
            {
                w.Open($"for (int i = {body}; i < {inputs}; i++)");
                Reduce(0);
                w.Close();
            }
            if (parts > 1)
                for (int k = 0; k < blocks; k++)
                    for (int q = 0; q < rows; q++)
                        w.Line($"{Acc(k, q, 0)} = {PairwiseSum(Range(parts, p => Acc(k, q, p)).ToList())};");
            for (int k = 0; k < blocks; k++)
                for (int q = 0; q < rows; q++)
                    w.Line($"Avx.Store(y + {q * s.To.Stride + k * 8}, {Apply(s.Activation, $"a{k}_{q}", true)});");
            w.Close();
            w.Line();
        }

        Open($"{name}Scalar", formula, "Scalar twin of the AVX2 kernel for CPUs without AVX2/FMA.");
        w.Open("for (int item = begin; item < end; item++)");
        w.Line($"int tile = item % {tiles}, n0 = item / {tiles} * {LinearRows}, rows = Math.Min({LinearRows}, f->Batch - n0);");
        w.Line("for (int q = 0; q < rows; q++)");
        w.Open($"for (int ob = tile * {LinearBlocks}; ob < Math.Min(tile * {LinearBlocks} + {LinearBlocks}, {outBlocks}); ob++)");
        w.Line($"float* x = {Sample(s.From, "n0 + q")};");
        // Block ob is the (ob - first)-th of its tile's `blocks`, whose vectors for one input lie side by side.
        w.Line($"int first = tile * {LinearBlocks}, blocks = Math.Min({LinearBlocks}, {outBlocks} - first);");
        w.Line($"float* w = f->{s.WeightPointer} + first * {inputs * 8} + (ob - first) * 8;");
        w.Open("for (int lane = 0; lane < 8; lane++)");
        w.Line(s.BiasPointer is null ? "float acc = 0f;" : $"float acc = f->{s.BiasPointer}[ob * 8 + lane];");
        w.Line($"for (int i = 0; i < {inputs}; i++) acc += w[i * blocks * 8 + lane] * x[i];");
        w.Line($"({Sample(s.To, "n0 + q")})[ob * 8 + lane] = {Apply(s.Activation, "acc", false)};");
        w.Close();
        w.Close();
        w.Close();
        w.Close();
        w.Line();
    }
}

using System;
using System.Collections.Generic;
using System.Linq;
using static ConvGen.Generator.Emit.CodeWriter;

namespace ConvGen.Generator.Emit;

// The Winograd F(2×2, 3×3) kernel (ConvStep.WinogradFits), forward and, over transposed weights, backward-data; EmitConv
// and EmitCopy hand it its steps. Per 2×2 output tile and channel pair it multiplies 16 transformed values where the
// direct kernel multiplies 36 taps:
//   V = Bᵀ·X·B   (the tile's 4×4 input patch; Bᵀ rows (1, 0, −1, 0), (0, 1, 1, 0), (0, −1, 1, 0), (0, 1, 0, −1))
//   U = G·W·Gᵀ   (runtime WinogradWeights, refreshed by Forward, and by Backward for backward-data)
//   Y = Aᵀ·(Σ_I U ⊙ V)·A + B   (Aᵀ rows (1, 1, 1, 0), (0, 1, −1, −1))
// The sum over input channels is 16 matrix products, one per ξ (position in the 4×4), run with the same 4 blocks × 3
// pixels register tile as the direct kernel, input channels in place of taps.
internal sealed partial class KernelEmitter
{
    private const int WinogradBlocks = 4;

    /// <summary>
    /// A row of tiles cut into register tiles of 3 (the direct kernel's 4×3), with one or two of 2 where 3 does not
    /// divide it (a 1-tile register tile would leave the FMA latency uncovered); a lone tile stays alone.
    /// </summary>
    private static List<(int First, int End, int Tiles)> WinogradRuns(int tiles)
    {
        if (tiles == 1) return [(0, 1, 1)];
        int twos = tiles % 3 == 0 ? 0 : tiles % 3 == 2 ? 1 : 2, threes = (tiles - 2 * twos) / 3;
        var runs = new List<(int, int, int)>();
        if (threes > 0) runs.Add((0, 3 * threes, 3));
        if (twos > 0) runs.Add((3 * threes, tiles, 2));
        return runs;
    }

    /// <summary>
    /// Rows of tiles in one work item of a Winograd kernel by rows: the products then take the item's tiles as one run
    /// across its rows, so fewer of them go 2 at a time, and a 2-tile register tile costs about 1.3× a 3-tile one per
    /// tile (64→64 at 32×32: 16 tiles per row, 3·4 + 2 + 2; two rows, 32 tiles, 3·10 + 2). Up to 4 rows, the fewest
    /// 2-tile register tiles per row, with the rows dividing the sample's into an even number of items, and the item's
    /// transformed input, on the stack as one row's always was, within
    /// <see cref="ConvStep.WinogradRowBytes"/> (so a thread with a 256 KiB stack still runs it); by groups, every row of
    /// the sample.
    /// </summary>
    internal static int WinogradRowsPerItem(ConvStep s)
    {
        int rows = s.To.H / 2, tiles = s.To.W / 2;
        if (s.WinogradGroupsOutermost) return rows;
        static double TwosPerRow(int rowCount, int tiles) => (double)WinogradRuns(rowCount * tiles).Where(run => run.Tiles == 2).Sum(run => (run.End - run.First) / 2) / rowCount;
        long rowBytes = 16L * tiles * s.Layer.Input.C * 4;
        int best = 1;
        // An even number of items per sample, so that at batch 1 two threads get the same rows (3 items split 2 + 1, and
        // split 1 + 2, as they were then, 32→64 at 18×28 went from 80 to 96–117 µs at 2 threads); and at least 2 tiles per row, so that no register tile (3
        // tiles at most) spans more than two rows, as WinogradRowSegments assumes.
        for (int r = 2; r <= 4; r++)
            if (tiles >= 2 && rows % r == 0 && rows / r % 2 == 0 && r * rowBytes <= ConvStep.WinogradRowBytes && TwosPerRow(r, tiles) < TwosPerRow(best, tiles))
                best = r;
        return best;
    }

    /// <summary>
    /// The distance between the 16 ξ of a transformed buffer (V, or M by groups) holding <paramref name="floats"/> each:
    /// that, plus a cache line where it is a multiple of 128 bytes, so that the 16 spread over L1's sets. By rows, one
    /// row of 64→64 at 32×32 put V's ξ exactly 4 KiB apart (16 tiles × 64 inputs), all in the same sets of the 12-way L1.
    /// Alternating runs, medians, forward at batch 1, 1 thread: 128→128 at 28×28 (V 7 KiB apart) from 1.24 to 1.12 ms,
    /// 256→256 at 14×14 by groups (V 49 KiB, M 6 KiB apart) from 1.26 to 1.15 ms.
    /// </summary>
    private static long XiStride(long floats) => floats % 32 == 0 ? floats + 16 : floats;

    /// <summary>
    /// The register tiles of an item's runs (over its rows of <paramref name="tiles"/> tiles each) as the kernel by rows
    /// calls them: consecutive tiles of one size within one row as a loop; one that crosses into the next row alone,
    /// with Split its tiles in the first row (rows of at least 2 tiles: a register tile spans two rows at most).
    /// </summary>
    private static List<(int First, int End, int Tiles, int Row, int Split)> WinogradRowSegments(List<(int First, int End, int Tiles)> runs, int tiles)
    {
        var segments = new List<(int First, int End, int Tiles, int Row, int Split)>();
        foreach (var (first, end, count) in runs)
            for (int t = first; t < end; t += count)
            {
                int row = t / tiles, split = (t + count - 1) / tiles == row ? 0 : (row + 1) * tiles - t;
                int n = segments.Count;
                if (split == 0 && n > 0 && segments[n - 1] is { Split: 0 } last && last.Tiles == count && last.Row == row && last.End == t)
                    segments[n - 1] = last with { End = t + count };
                else segments.Add((t, t + count, count, row, split));
            }
        return segments;
    }

    /// <summary>
    /// The per-thread buffer of transformed tiles (the by-groups Winograd kernels' input tiles and products, the Winograd
    /// weight gradients' blocks of tiles), declared once per class: the kernels run one after another, so they share
    /// it, grown to the largest.
    /// </summary>
    private bool _winogradBufferDeclared;

    private void DeclareWinogradBuffer()
    {
        if (_winogradBufferDeclared) return;
        w.Line("// The Winograd kernels' transformed tiles, per thread (see the kernels that use it).");
        w.Line("[ThreadStatic] private static float[]? t_winogradTiles;");
        w.Line();
        _winogradBufferDeclared = true;
    }

    private void EmitWinograd(string name, ConvStep s)
    {
        if (s.WinogradGroupsOutermost) DeclareWinogradBuffer();
        var l = s.Layer;
        var grid = s.Winograd!;
        var y = s.To;
        int inputs = l.Input.C, outputs = l.Output.C, groups = outputs / 32;
        int rows = y.H / 2, tiles = y.W / 2, itemRows = WinogradRowsPerItem(s), itemTiles = itemRows * tiles;
        long xiU = (long)outputs * inputs, xiV = (long)tiles * inputs, sampleTiles = (long)rows * tiles;
        string u = $"f->{ConvStep.WinogradPointer(s.WeightPointer)}";
        // The products take an item's tiles (V laid out [ξ][t][i] over its rows: by groups the sample's, by rows
        // WinogradRowsPerItem's) as one run across rows, so a narrow layer's tiles go 3 at a time rather than 2 (4 tiles
        // per row: 2 + 2 a row, 16 per sample: 3·4 + 2 + 2); by groups the output transforms a row at a time, by rows
        // each register tile's (split where it crosses into the next row).
        var runs = WinogradRuns(tiles);
        var productRuns = WinogradRuns(itemTiles);
        var segments = WinogradRowSegments(productRuns, tiles);
        long xiInput = XiStride((long)itemTiles * inputs); // ξ apart in V as the input transform writes it
        long xiSums = XiStride(sampleTiles * 32); // by groups, ξ apart in M
        // By rows, an item's first row of tiles and its sample (the AVX2 kernel and its scalar twin split alike).
        string firstRow = itemRows == 1 ? $"int ty = item % {rows}, n = item / {rows};" : $"int ty = item % {rows / itemRows} * {itemRows}, n = item / {rows / itemRows};";
        string formula = ConvFormula(l);

        w.Line($"// {formula}");
        w.Line($"// {Describe(s)}; Winograd F(2×2, 3×3): per 2×2 output tile Y = Aᵀ·(Σ_I U ⊙ V)·A + B, U = G·W·Gᵀ, V = Bᵀ·X·B of its 4×4 input patch");
        EmitDispatcher(name);

        // By groups: one call (or two) per register tile of a run: a run of one tile with constant offsets, else a loop
        // over tx. at(pointer, floats per tile) is the pointer at the tile. (By rows, WinogradRowSegments.)
        void EachRun(List<(int First, int End, int Tiles)> cut, Func<int, Func<string, int, string>, string> calls)
        {
            foreach (var (first, end, count) in cut)
            {
                bool loop = end - first > count;
                string body = calls(count, (p, k) => loop ? $"{p} + tx * {k}" : first == 0 ? p : $"{p} + {first * k}");
                w.Line(!loop ? body : body.IndexOf("; ", StringComparison.Ordinal) > 0
                    ? $"for (int tx = {first}; tx < {end}; tx += {count}) {{ {body} }}"
                    : $"for (int tx = {first}; tx < {end}; tx += {count}) {body}");
            }
        }
        string bias = s.BiasPointer is null ? "float* b = null;" : $"float* b = f->{s.BiasPointer} + og * 32;";
        string output = $"float* y = {Sample(y)} + (nint)og * {WinogradBlocks * y.PlaneStride} + ty * {2 * y.RowStride};";
        w.Line($"// {formula}");
        if (!s.WinogradGroupsOutermost)
        {
            w.Line(itemRows == 1
                ? $"// Each work item is output rows 2·ty and 2·ty + 1 of one sample, all {outputs} channels: its row of transformed input"
                : $"// Each work item is output rows 2·ty … 2·ty + {2 * itemRows - 1} ({itemRows} rows of tiles) of one sample, all {outputs} channels: their transformed input");
            w.Line($"// tiles serve{(itemRows == 1 ? "s" : "")} every output group from this thread's cache (a row transformed on one core and read on the other ran");
            w.Line($"// the 64→64 layer at 56×56 slower at 2 threads than at 1){(itemRows == 1 ? "." : $"; the products run across the rows, so fewer register tiles hold 2 tiles.")}");
        }
        else
        {
            w.Line($"// Each work item is one group of 32 output channels of one sample, all rows, one ξ at a time: the {inputs * 32 * 4 / 1024} KiB of");
            w.Line($"// transformed weights of one ξ and group stay in L1 or L2 while every tile passes, where by rows all {16L * inputs * outputs * 4 / 1024} KiB would be read");
            w.Line("// again for every row. The sample's transformed input (made once per sample in each thread's part) and the products go");
            w.Line("// to the thread's buffer.");
        }
        w.Line("[SkipLocalsInit]");
        w.Line(Hot);
        w.Open($"private static void {name}Avx(void* state, int begin, int end)");
        w.Line("var f = (Frame*)state;");
        if (!s.WinogradGroupsOutermost)
        {
            string held = itemRows == 1 ? "V[ξ][tile][i] of one row of tiles" : $"V[ξ][t][i] of {itemRows} rows of tiles, t = row·{tiles} + tile";
            w.Line($"float* v = stackalloc float[{N(16 * xiInput)}]; // {held} (ξ {N(xiInput)} floats apart; at most ConvStep.WinogradRowBytes, and a cache line per ξ)");
            w.Line($"float* m = stackalloc float[{16 * productRuns.Max(r => r.Tiles) * 32}]; // M[ξ][tile][o] of one register tile: Σ_i V·U");
            w.Open("for (int item = begin; item < end; item++)");
            w.Line(firstRow);
            w.Line(itemRows == 1 ? $"{name}Input({Sample(grid)} + ty * {2 * grid.RowStride}, v);"
                : $"for (int r = 0; r < {itemRows}; r++) {name}Input({Sample(grid)} + (ty + r) * {2 * grid.RowStride}, v + r * {N(xiV)});");
            w.Open($"for (int og = 0; og < {groups}; og++)");
            w.Line($"float* u = {u} + og * {inputs * 32};");
            w.Line(bias);
            w.Line(output);
            foreach (var (first, end, count, row, split) in segments)
            {
                string yRow = row == 0 ? "y" : $"y + {row * 2 * y.RowStride}";
                if (split > 0)
                {
                    w.Line($"{name}Products{count}(u, {Plus("v", first * inputs)}, m); {name}Output{count}At{split}(m, b, {Plus("y", row * 2 * y.RowStride + (first - row * tiles) * 16)}, y + {(row + 1) * 2 * y.RowStride}); // across rows {row} and {row + 1}");
                    continue;
                }
                if (end - first == count)
                {
                    w.Line($"{name}Products{count}(u, {Plus("v", first * inputs)}, m); {name}Output{count}(m, b, {Plus("y", row * 2 * y.RowStride + (first - row * tiles) * 16)});");
                    continue;
                }
                string column = row == 0 ? "tx" : $"(tx - {row * tiles})";
                w.Line($"for (int tx = {first}; tx < {end}; tx += {count}) {{ {name}Products{count}(u, v + tx * {inputs}, m); {name}Output{count}(m, b, {yRow} + {column} * 16); }}");
            }
            w.Close();
            w.Close();
            w.Close();
        }
        else
        {
            long sampleFloats = 16 * xiInput;
            w.Line($"float[] tiles = global::ConvGen.Workspace.Ensure(ref t_winogradTiles, {N(sampleFloats + 16 * xiSums + 16)}); // V[ξ][t][i], then M[ξ][t][o], of one sample (t = ty·{tiles} + tile), from a 64-byte boundary");
            w.Open("fixed (float* pinned = tiles)");
            w.Line("float* vs = (float*)(((nint)pinned + 63) & ~(nint)63);");
            w.Line($"float* ms = vs + {N(sampleFloats)};");
            w.Line("int sample = -1;");
            w.Open("for (int item = begin; item < end; item++)");
            w.Line($"int og = item % {groups}, n = item / {groups};");
            w.Open("if (n != sample)");
            w.Line($"for (int ty = 0; ty < {rows}; ty++) {name}Input({Sample(grid)} + ty * {2 * grid.RowStride}, vs + ty * {N(xiV)});");
            w.Line("sample = n;");
            w.Close();
            w.Open("for (int xi = 0; xi < 16; xi++)");
            w.Line($"float* u = {u} + xi * {N(xiU)} + og * {inputs * 32};");
            w.Line($"float* v = vs + xi * {N(xiInput)};");
            w.Line($"float* m = ms + xi * {N(xiSums)};");
            EachRun(productRuns, (count, at) => $"{name}Products{count}(u, {at("v", inputs)}, {at("m", 32)});");
            w.Close();
            w.Line(bias);
            w.Open($"for (int ty = 0; ty < {rows}; ty++)");
            w.Line(output);
            w.Line($"float* m = ms + ty * {tiles * 32};");
            EachRun(runs, (count, at) => $"{name}Output{count}({at("m", 32)}, b, {at("y", 16)});");
            w.Close();
            w.Close();
            w.Close();
            w.Close();
        }
        w.Line();

        // Input transform.
        w.Line($"// V[ξ][tile][i] = (Bᵀ·X·B)[ξ] for the 4×4 patch at rows 2·ty … 2·ty + 3, columns 2·tile … 2·tile + 3 of the zero-padded grid (ξ {N(xiInput)} floats apart); 8 channels per vector.");
        w.Line(Hot);
        w.Open($"private static void {name}Input(float* x, float* v)");
        w.Open($"for (int ib = 0; ib < {inputs / 8}; ib++)");
        w.Open($"for (int tile = 0; tile < {tiles}; tile++)");
        w.Line($"float* d = x + ib * {grid.PlaneStride} + tile * 16;");
        w.Line("float* o = v + tile * " + inputs + " + ib * 8;");
        w.Line("Vector256<float> d0, d1, d2, d3;");
        // Bᵀ·X column by column into t{row}{column}, then each row of that times B.
        for (int c = 0; c < 4; c++)
        {
            w.Line($"d0 = Avx.LoadVector256(d + {c * 8}); d1 = Avx.LoadVector256(d + {grid.RowStride + c * 8}); d2 = Avx.LoadVector256(d + {2 * grid.RowStride + c * 8}); d3 = Avx.LoadVector256(d + {3 * grid.RowStride + c * 8});");
            w.Line($"Vector256<float> t0{c} = d0 - d2, t1{c} = d1 + d2, t2{c} = d2 - d1, t3{c} = d1 - d3;");
        }
        for (int r = 0; r < 4; r++)
            w.Line($"Avx.Store(o + {(r * 4 + 0) * xiInput}, t{r}0 - t{r}2); Avx.Store(o + {(r * 4 + 1) * xiInput}, t{r}1 + t{r}2); Avx.Store(o + {(r * 4 + 2) * xiInput}, t{r}2 - t{r}1); Avx.Store(o + {(r * 4 + 3) * xiInput}, t{r}1 - t{r}3);");
        w.Close();
        w.Close();
        w.Close();
        w.Line();

        // The products of one register tile: for all 16 ξ by rows, for the caller's ξ by groups; the output transforms
        // of a row's register tiles (by rows also of those split across rows).
        bool byGroups = s.WinogradGroupsOutermost;
        var outputKernels = byGroups ? runs.Select(r => (Tiles: r.Tiles, Split: 0)).Distinct().ToList() : segments.Select(g => (g.Tiles, g.Split)).Distinct().ToList();
        foreach (int count in productRuns.Select(r => r.Tiles).Concat(outputKernels.Select(o => o.Tiles)).Distinct())
        {
            if (productRuns.Any(r => r.Tiles == count)) EmitProducts(count, byGroups);
            foreach (var kernel in outputKernels.Where(o => o.Tiles == count).OrderBy(o => o.Split)) EmitOutput(count, byGroups, kernel.Split);
        }

        void EmitProducts(int count, bool byGroups)
        {
            w.Line(byGroups
                ? $"// M[t][o] = Σ_i V[t][i] · U[i][o] at one ξ for {count} tile(s) × 32 output channels: acc[block][tile] += U[block] · broadcast(V[tile]), {inputs} deep."
                : $"// M[ξ][t][o] = Σ_i V[ξ][t][i] · U[ξ][i][o] for {count} tile(s) × 32 output channels, ξ = 0 … 15: acc[block][tile] += U[block] · broadcast(V[tile]), {inputs} deep.");
            w.Line(Hot);
            w.Open($"private static void {name}Products{count}(float* u, float* v, float* m)");
            if (!byGroups) w.Open($"for (int xi = 0; xi < 16; xi++, u += {N(xiU)}, v += {N(xiInput)}, m += {count * 32})");
            for (int k = 0; k < WinogradBlocks; k++)
                w.Line($"Vector256<float> {string.Join(", ", Range(count, t => $"a{k}_{t} = Vector256<float>.Zero"))};");
            w.Line($"Vector256<float> w0, {string.Join(", ", Range(count, t => $"v{t}"))};");
            w.Open($"for (int i = 0; i < {inputs}; i++)");
            w.Line(string.Join(" ", Range(count, t => $"v{t} = Avx.BroadcastScalarToVector256(v + {(t == 0 ? "" : $"{t * inputs} + ")}i);")));
            for (int k = 0; k < WinogradBlocks; k++)
                w.Line($"w0 = Avx.LoadVector256(u + i * 32{(k == 0 ? "" : $" + {k * 8}")}); " + string.Join(" ", Range(count, t => $"a{k}_{t} = Fma.MultiplyAdd(w0, v{t}, a{k}_{t});")));
            w.Close();
            for (int t = 0; t < count; t++)
                w.Line(string.Join(" ", Range(WinogradBlocks, k => $"Avx.Store(m + {t * 32 + k * 8}, a{k}_{t});")));
            if (!byGroups) w.Close();
            w.Close();
            w.Line();
        }

        void EmitOutput(int count, bool byGroups, int split)
        {
            // The output transform, bias and activation; M's ξ apart by one register tile, or by groups the sample's tiles.
            long xiM = byGroups ? xiSums : count * 32;
            string Act(string v) => Apply(s.Activation, v, true);
            w.Line(split == 0
                ? $"// Y = Aᵀ·M·A + B[o], then the activation, for {count} tile(s) × 4 blocks: rows 2·ty and 2·ty + 1, columns 2·tile and 2·tile + 1."
                : $"// As {name}Output{count}, for a register tile whose first {split} tile(s) end one row of tiles (at y) and the rest start the next (at y2).");
            w.Line(Hot);
            w.Open($"private static void {name}Output{count}{(split == 0 ? "" : $"At{split}")}(float* m, float* b, float* y{(split == 0 ? "" : ", float* y2")})");
            w.Open($"for (int t = 0; t < {count}; t++)");
            w.Open($"for (int k = 0; k < {WinogradBlocks}; k++)");
            w.Line("float* p = m + t * 32 + k * 8;");
            w.Line(split == 0 ? $"float* q = y + k * {y.PlaneStride} + t * 16;" : $"float* q = (t < {split} ? y + t * 16 : y2 + (t - {split}) * 16) + k * {y.PlaneStride};");
            w.Line(s.BiasPointer is null ? "Vector256<float> bias = Vector256<float>.Zero;" : "Vector256<float> bias = Avx.LoadVector256(b + k * 8);");
            string L(int xi) => $"Avx.LoadVector256(p + {xi * xiM})";
            // Aᵀ·M: row 0 = M0 + M1 + M2, row 1 = M1 − M2 − M3 (rows of M, one column c at a time).
            for (int c = 0; c < 4; c++)
                w.Line($"Vector256<float> r0{c} = {L(c)} + {L(4 + c)} + {L(8 + c)}, r1{c} = {L(4 + c)} - {L(8 + c)} - {L(12 + c)};");
            w.Line($"Avx.Store(q, {Act("bias + r00 + r01 + r02")}); Avx.Store(q + 8, {Act("bias + r01 - r02 - r03")});");
            w.Line($"Avx.Store(q + {y.RowStride}, {Act("bias + r10 + r11 + r12")}); Avx.Store(q + {y.RowStride + 8}, {Act("bias + r11 - r12 - r13")});");
            w.Close();
            w.Close();
            w.Close();
            w.Line();
        }

        // Scalar twin: the direct sum over the same grid and work items.
        w.Line($"// {formula}");
        w.Line("// Scalar twin for CPUs without AVX2/FMA: the direct sum over the same zero-padded grid and work items.");
        w.Line(Hot);
        w.Open($"private static void {name}Scalar(void* state, int begin, int end)");
        w.Line("var f = (Frame*)state;");
        w.Open("for (int item = begin; item < end; item++)");
        if (s.WinogradGroupsOutermost)
        {
            w.Line($"int og = item % {groups}, n = item / {groups};");
            w.Line($"float* x = {Sample(grid)};");
            w.Line($"float* y = {Sample(y)};");
            w.Open($"for (int oy = 0; oy < {y.H}; oy++)");
            w.Open("for (int o = og * 32; o < og * 32 + 32; o++)");
        }
        else
        {
            w.Line(firstRow);
            w.Line($"float* x = {Sample(grid)};");
            w.Line($"float* y = {Sample(y)};");
            w.Open($"for (int oy = 2 * ty; oy < 2 * ty + {2 * itemRows}; oy++)");
            w.Open($"for (int o = 0; o < {outputs}; o++)");
        }
        w.Open($"for (int ox = 0; ox < {y.W}; ox++)");
        w.Line($"float acc = {(s.BiasPointer is null ? "0f" : $"f->{s.BiasPointer}[o]")};");
        w.Line($"float* wo = f->{s.WeightPointer} + (o >> 3) * {inputs * 72} + (o & 7);");
        w.Line($"for (int i = 0; i < {inputs}; i++)");
        w.Line("    for (int ky = 0; ky < 3; ky++)");
        w.Line("        for (int kx = 0; kx < 3; kx++)");
        w.Line($"            acc += wo[(i * 9 + ky * 3 + kx) * 8] * x[(i >> 3) * {grid.PlaneStride} + (oy + ky) * {grid.RowStride} + (ox + kx) * 8 + (i & 7)];");
        w.Line($"y[(o >> 3) * {y.PlaneStride} + oy * {y.RowStride} + ox * 8 + (o & 7)] = {Apply(s.Activation, "acc", false)};");
        w.Close();
        w.Close();
        w.Close();
        w.Close();
        w.Close();
        w.Line();
    }

    /// <summary>
    /// The zero-padded NCHW8c grid a Winograd kernel reads, written by pairs of grid rows: work item ty writes rows
    /// 2·ty + 1 and 2·ty + 2 (the first and last also the border rows), and the kernel's row of tiles ty reads rows 2·ty … 2·ty + 3,
    /// so each thread reads what it wrote but for two rows per part; split by channel blocks, as EmitCopy splits, half
    /// would come from the other core's cache. Measured at 2 threads: no difference for 64→64 at 56×56 or 256→256 at
    /// 14×14, 128→128 at 28×28 0.61–0.66 ms against 0.64–0.67 (4 alternating runs).
    /// </summary>
    private void EmitWinogradGrid(string name, CopyStep s)
    {
        var from = s.From;
        var to = s.To;
        int rows = s.TileRows, right = to.W - s.PadLeft - from.W;
        Open(name, $"Y[n,c,h+{s.PadTop},w+{s.PadLeft}] = X[n,c,h,w]   ({from.C}×{from.H}×{from.W} {(from.Blocked ? "NCHW8c" : "NCHW")} → {to.C}×{to.H}×{to.W} NCHW8c: {s.Purpose})",
            "By pairs of grid rows, as the Winograd kernel's work items read them; the border is zeroed.");
        w.Open("for (int item = begin; item < end; item++)");
        w.Line($"int ty = item % {rows}, n = item / {rows};");
        w.Line($"float* x = {Sample(from)};");
        w.Line($"float* y = {Sample(to)};");
        w.Line($"int first = ty == 0 ? 0 : 2 * ty + 1, last = ty == {rows - 1} ? {to.H} : 2 * ty + 3;");
        w.Open($"for (int ib = 0; ib < {to.C / 8}; ib++)");
        w.Open("for (int r = first; r < last; r++)");
        w.Line($"float* dst = y + ib * {to.PlaneStride} + r * {to.RowStride};");
        w.Line($"int h = r - {s.PadTop};");
        w.Open($"if ((uint)h >= {from.H})");
        w.Line($"new Span<float>(dst, {to.RowStride}).Clear();");
        w.Line("continue;");
        w.Close();
        if (s.PadLeft > 0) w.Line($"new Span<float>(dst, {s.PadLeft * 8}).Clear();");
        if (right > 0) w.Line($"new Span<float>(dst + {(s.PadLeft + from.W) * 8}, {right * 8}).Clear();");
        if (s.PadLeft > 0) w.Line($"dst += {s.PadLeft * 8};");
        if (from.Blocked)
        {
            w.Line($"new ReadOnlySpan<float>(x + ib * {from.PlaneStride} + h * {from.RowStride}, {from.RowStride}).CopyTo(new Span<float>(dst, {from.RowStride}));");
        }
        else
        {
            w.Line($"float* src = x + ib * {8 * from.PlaneStride} + h * {from.RowStride};");
            if (from.W >= 8)
            {
                w.Open("if (s_useAvx2)");
                w.Line($"for (int c0 = 0; c0 < {from.W / 8 * 8}; c0 += 8) global::ConvGen.Registers.ToBlocked8(src + c0, {from.PlaneStride}, 8, dst + c0 * 8);");
                if (from.W % 8 != 0) w.Line($"global::ConvGen.Registers.ToBlocked8(src + {from.W - 8}, {from.PlaneStride}, 8, dst + {(from.W - 8) * 8}); // the last 8 columns, overlapping");
                w.Close();
                w.Open("else");
            }
            w.Line("for (int c = 0; c < 8; c++)");
            w.Line($"    for (int w = 0; w < {from.W}; w++) dst[w * 8 + c] = src[c * {from.PlaneStride} + w];");
            if (from.W >= 8) w.Close();
        }
        w.Close();
        w.Close();
        w.Close();
        w.Close();
        w.Line();
    }
}

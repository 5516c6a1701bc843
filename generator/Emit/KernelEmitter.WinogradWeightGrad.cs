using System;
using System.Linq;
using static ConvGen.Generator.Emit.CodeWriter;

namespace ConvGen.Generator.Emit;

// The weight gradient of a Winograd layer (ConvWeightGradStep.Winograd) as Winograd F(3×3, 2×2). For one channel pair
// ∂W is the correlation of the zero-padded X with ∂Z, and each 2×2 tile of ∂Z adds the correlation of its 4×4 patch of
// X with it: the forward algorithm F(2×2, 3×3) with the roles of its output and its filter exchanged, so
//   Z = A·∂Z·Aᵀ   (the 2×2 tile; A's rows (1, 0), (1, 1), (1, −1), (0, −1): the forward kernel's Aᵀ, transposed)
//   V = Bᵀ·X·B    (the tile's 4×4 patch, as the forward kernel transforms it)
//   ∂W += Gᵀ·(Σ_{n,t} Z ⊙ V)·G   (Gᵀ's rows (1, ½, ½, 0), (0, ½, −½, 0), (0, ½, ½, 1): the weight transform, transposed)
// The sum over samples and tiles is 16 matrix products M[ξ] += Z[ξ]ᵀ·V[ξ] (O × I, ξ the position in the 4×4), 16
// multiply-adds per tile and channel pair where the direct kernel does 36; the output transform runs once per
// Backward, after the last pass.
internal sealed partial class KernelEmitter
{
    /// <summary>
    /// Tiles a Winograd weight-gradient work item transforms at a time (whole rows of tiles, at least one): the
    /// block's V and Z for a row of ξ (4 · 32 · (I + O) floats, 64 KiB for 64→64; V for all 16 ξ where that fits in
    /// <see cref="WinogradGradAllRowsBytes"/>) stay in L2 while the products read them. Prototype, 1 thread, batch 1:
    /// blocks of 28 and 56 tiles within 5% of each other on 64→64 at 56×56, 128→128 at 28×28 and 256→256 at 14×14;
    /// transforming whole samples first (V and Z of 64→64 at 56×56: 6.4 MB) took as long as the products.
    /// </summary>
    private const int WinogradGradBlockTiles = 32;

    /// <summary>
    /// The most bytes of V a block may take for all 16 ξ at once (the InputAll kernel, for a range holding every row of
    /// ξ), a quarter of L2: 116 KB for 64→64 at 56×56 and 230 KB for 128→128 at 28×28; 256→256 at 14×14 (460 KB), where
    /// all 16 at once measured within the noise of one row at a time, keeps the smaller per-thread buffer.
    /// </summary>
    private const long WinogradGradAllRowsBytes = 256 << 10;

    /// <summary>Rows of tiles in one block of a Winograd weight gradient (see <see cref="WinogradGradBlockTiles"/>).</summary>
    private static int WinogradGradBlockRows(ConvWeightGradStep s)
        => Math.Max(1, Math.Min(s.Gradient.H / 2, WinogradGradBlockTiles / (s.Gradient.W / 2)));

    /// <summary>
    /// Samples per pass of a Winograd weight gradient: as many as keep a pass's X and ∂Z within 1 MiB, so the work
    /// items, each of which reads X and its groups' part of ∂Z, find them in the caches (one sample of 64→64 at 56×56
    /// is 1.7 MB).
    /// </summary>
    private static int WinogradGradSamplesPerPass(ConvWeightGradStep s)
        => (int)Math.Max(1, (1L << 20) / (4L * (s.Input.Stride + s.Gradient.Stride)));

    /// <summary>
    /// The smallest batch whose Winograd weight gradient sums each half of the batch into its own M (see
    /// <see cref="ConvWeightGradStep.WinogradHalves"/>): at least 2, and enough that the batch holds
    /// <see cref="WinogradGradHalvesPixels"/> pixels of ∂Z per output channel. What the halves save on two threads is
    /// one thread's transforms of X (and the reads of the other core's writes), which grow with N·H·W·I; what they cost
    /// is the second M, 16·I·O floats that the output transform reads and adds once per call.
    /// </summary>
    private static int WinogradGradHalvesFrom(ConvWeightGradStep s)
    {
        long pixels = (long)s.Gradient.H * s.Gradient.W, needed = (long)WinogradGradHalvesPixels * s.Layer.Output.C;
        return (int)Math.Max(2, (needed + pixels - 1) / pixels);
    }

    /// <summary>
    /// Pixels of ∂Z per output channel a batch needs for halves (<see cref="WinogradGradHalvesFrom"/>). Halves against
    /// one M, 2 / 1 threads, new over old (alternating calls in one process, medians of 7 rounds, load average 2–3.5):
    /// 64→64 at 56×56 (49 pixels per output per sample) 0.945 / 1.013 at batch 2, 0.894 / 0.994 at 8, 0.927 / 1.000 at
    /// 32; 128→128 at 28×28 (6.1) 0.967 / 1.010 at 2, 0.967 / 0.982 at 8, 0.860 / 0.999 at 32; 256→256 at 14×14 (0.77)
    /// 1.125 / 1.061 at 2, 1.065 / 1.029 at 8, 0.990 / 1.021 at 32.
    /// </summary>
    private const int WinogradGradHalvesPixels = 32;

    /// <summary>
    /// The work items of a Winograd weight gradient (a C# expression of <c>batch</c>): 4·O/32 per sum M, (group of 32
    /// outputs, row of ξ) pairs, for one M, or for each half of the batch from <see cref="WinogradGradHalvesFrom"/>.
    /// </summary>
    public static string WinogradGradItems(ConvWeightGradStep s)
    {
        int items = WinogradGradItemsPerSum(s);
        return $"({WinogradGradHalves(s, "batch")} ? {ConvWeightGradStep.WinogradHalves * items} : {items})";
    }

    /// <summary>
    /// The samples a Winograd weight gradient's passes run over (a C# expression of <c>batch</c>): the batch, or from
    /// <see cref="WinogradGradHalvesFrom"/> the samples of each half, whose items one call runs together.
    /// </summary>
    public static string WinogradGradPassSamples(ConvWeightGradStep s) => $"({WinogradGradHalves(s, "batch")} ? (batch + 1) / 2 : batch)";

    /// <summary>The C# condition that a Winograd weight gradient of the batch <paramref name="batch"/> (an expression) sums in halves.</summary>
    private static string WinogradGradHalves(ConvWeightGradStep s, string batch) => $"{batch} >= {WinogradGradHalvesFrom(s)}";

    /// <summary>The work items of one sum M of a Winograd weight gradient: (group of 32 outputs, row of ξ) pairs.</summary>
    public static int WinogradGradItemsPerSum(ConvWeightGradStep s) => 4 * s.Layer.Output.C / 32;

    /// <summary>
    /// The output transform's work items (blocks of 8 outputs) and their estimated nanoseconds each: 34 ns per 4
    /// weights of 8 outputs, as measured when its items were input channels.
    /// </summary>
    public static (int Items, string Work) WinogradGradOutput(ConvWeightGradStep s)
        => (s.Layer.Output.C / 8, WorkArgument(34.0 * s.Layer.Input.C * 2));

    private void EmitWinogradWeightGrad(string name, ConvWeightGradStep s)
    {
        DeclareWinogradBuffer();
        var l = s.Layer;
        var x = s.Input;
        var g = s.Gradient;
        int inputs = l.Input.C, outputs = l.Output.C, rows = g.H / 2, tiles = g.W / 2;
        int blockRows = WinogradGradBlockRows(s), blockTiles = blockRows * tiles;
        // One ξ of the block's V and Z apart, off multiples of 128 bytes as in the forward kernels (XiStride; here a row
        // of ξ at a time is read, 4 ξ, and no difference was measurable on a–c through this machine's noise).
        long xiV = XiStride((long)blockTiles * inputs), xiZ = XiStride((long)blockTiles * outputs);
        bool allRows = 16 * xiV * 4 <= WinogradGradAllRowsBytes;
        long vFloats = (allRows ? 16 : 4) * xiV;
        // M[h][i][ξ][o], o within group h of 32 outputs: a group's sums are contiguous, so the parts of two threads share no
        // cache line (the array starts at one), and a gap follows each (ConvWeightGradStep.WinogradGroupGapFloats). As
        // M[i][ξ][o], the two threads writing alternate groups of each 512-byte row, 128→128 at 28×28 took 1.06× the time
        // at 2 threads that items by rows of ξ alone had taken.
        const int iStride = 16 * 32;
        long groupStride = s.WinogradGroupFloats;
        int items = WinogradGradItemsPerSum(s);
        long sumFloats = s.WinogradSumFloats;
        string formula = $"∂W[o,i,ΔY,ΔX] += Σ_{{n,y,x}} ∂Z[n,o,y,x] · X[n,i,y+ΔY,x+ΔX]   (layer {l.Index}, X zero-padded)";

        w.Line($"// {formula}");
        w.Line($"// Winograd F(3×3, 2×2): ∂W = Gᵀ·M·G ({name}Out, after the last pass), M = Σ_{{n,t}} Z ⊙ V, Z = A·∂Z·Aᵀ of each 2×2 tile t of ∂Z, V = Bᵀ·X·B of its 4×4 patch.");
        int halvesFrom = WinogradGradHalvesFrom(s);
        w.Line($"// Work item 4h + r of a sum M owns row r of the 4×4 ξ for the 32 outputs of group h, M[h][i][4r … 4r + 3][·]. Below batch {halvesFrom}");
        w.Line($"// one M sums the batch; from batch {halvesFrom} each half of the batch sums into its own, items {items}k + 4h + r for half k, and");
        w.Line($"// {name}Out adds the two. The halves hold ⌈N/2⌉ samples each, half 0 from the first and half 1 from the last: of an odd batch's");
        w.Line(rows / 2 > 0 ? $"// middle sample, the last of both, half 0 takes the rows of tiles [0, {rows / 2}) and half 1 the rest. An item sums the pass's samples"
            : "// middle sample, the last of both, half 1 takes its one row of tiles and half 0 none. An item sums the pass's samples");
        w.Line($"// [N0, N1) of its half in blocks of {blockRows} row(s) of tiles.");
        w.Line(allRows ? "// Per block, a range transforms V for each row r among its items of a half once, or for all 16 ξ at once where it holds every"
            : "// Per block, a range transforms V for each row r among its items of a half once,");
        w.Line($"// {(allRows ? "row, " : "")}and row r of Z for its groups only (two rows of each patch, one or both rows of each tile), into this thread's buffer,");
        w.Line("// then adds their products. On two threads, with halves each thread transforms only its own half of X and ∂Z, which");
        w.Line("// its items of the steps before wrote (rather than both threads all of X); with one M, where the thread count divides");
        w.Line("// the groups, each reads the part of ∂Z that its items of the steps before wrote (by blocks of 8 outputs), and writes");
        w.Line("// the part of M that its items of the output transform read. Every sum runs in the same order on any thread count.");
        w.Line(Hot);
        w.Open($"private static void {name}(void* state, int begin, int end)");
        w.Line("var f = (Frame*)state;");
        w.Line($"float[] buffer = global::ConvGen.Workspace.Ensure(ref t_winogradTiles, {N(vFloats + 4 * xiZ + 16)}); // V[ξ][t][i], then Z[c][t][o] for ξ = 4r + c, from a 64-byte boundary");
        w.Line($"bool halves = {WinogradGradHalves(s, "f->Batch")};");
        w.Line("int middle = halves && (f->Batch & 1) != 0 ? f->Batch >> 1 : -1; // an odd batch's middle sample, split by rows of tiles");
        w.Open("fixed (float* pinned = buffer)");
        w.Line("float* v = (float*)(((nint)pinned + 63) & ~(nint)63);");
        w.Line($"float* z = v + {N(vFloats)};");
        w.Open($"for (int k = begin / {items}; k * {items} < end; k++)");
        w.Line($"int lo = Math.Max(begin - k * {items}, 0), hi = Math.Min(end - k * {items}, {items}); // the range's items of half k");
        if (allRows) w.Line("bool allRows = hi - lo >= 4; // items of every row of ξ: V transformed for all 16 ξ at once, each patch row loaded once");
        w.Line($"float* sums = f->WinogradSums + k * {N(sumFloats)};");
        w.Open("for (int j = f->N0; j < f->N1; j++)");
        w.Line("int n = k == 0 ? j : f->Batch - 1 - j; // half 1 from the last sample, so that the middle one is the last of both halves, in one pass");
        w.Line($"int ty0 = {(rows / 2 > 0 ? $"n == middle && k == 1 ? {rows / 2} : " : "")}0, ty1 = n == middle && k == 0 ? {rows / 2} : {rows};");
        w.Open($"for (int ty = ty0; ty < ty1; ty += {blockRows})");
        w.Line(blockRows == 1 ? "const int count = 1;" : $"int count = Math.Min({blockRows}, ty1 - ty);");
        w.Line($"float* x = {Sample(x)} + ty * {2 * x.RowStride};");
        w.Line($"float* g = {Sample(g)} + ty * {2 * g.RowStride};");
        if (allRows) w.Line($"if (allRows) {name}InputAll(x, v, count);");
        w.Open("for (int r = 0; r < 4; r++)");
        w.Line("int og0 = (lo - r + 3) >> 2, og1 = (hi - r + 3) >> 2; // the groups h with lo ≤ 4h + r < hi");
        w.Line("if (og0 >= og1) continue;");
        // Row r's V: its quarter of the 16 ξ where all are transformed at once, else the buffer's start.
        string vr = allRows ? "vr" : "v";
        w.Line($"float* m = sums + r * {4 * 32}{(allRows ? $", vr = v + r * {N(4 * xiV)}" : "")};");
        w.Open("switch (r)");
        for (int r = 0; r < 4; r++)
            w.Line($"case {r}: {(allRows ? "if (!allRows) " : "")}{name}Input{r}(x, {vr}, count); {name}Gradient{r}(g, z, count, og0, og1); break;");
        w.Close();
        w.Line($"{name}Products(z, {vr}, m, count * {tiles}, og0, og1, j == 0 && ty == ty0); // the first block of a Backward starts the sums");
        w.Close();
        w.Close();
        w.Close();
        w.Close();
        w.Close();
        w.Close();
        w.Line();

        // Row r of V = Bᵀ·X·B: Bᵀ's row r picks two rows of the patch; B then combines that row's four columns. One kernel
        // per row of ξ, and one for all four, which loads each patch row once and writes row r 4r ξ further on.
        string[] inputRows = ["d0 - d2", "d1 + d2", "d2 - d1", "d1 - d3"];
        void EmitInput(string method, string comment, int[] rowsOfXi)
        {
            bool all = rowsOfXi.Length == 4;
            w.Line(comment);
            w.Line(Hot);
            w.Open($"private static void {method}(float* x, float* v, int tileRows)");
            w.Open($"for (int ib = 0; ib < {inputs / 8}; ib++)");
            w.Open("for (int ty = 0; ty < tileRows; ty++)");
            w.Open($"for (int tx = 0; tx < {tiles}; tx++)");
            w.Line($"float* d = x + ib * {x.PlaneStride} + ty * {2 * x.RowStride} + tx * 16;");
            w.Line($"float* o = v + (ty * {tiles} + tx) * {inputs} + ib * 8;");
            string Load(int k, int c) => $"Vector256.Load({Plus("d", k * x.RowStride + c * 8)})";
            if (all)
                for (int k = 0; k < 4; k++)
                    w.Line($"Vector256<float> {string.Join(", ", Range(4, c => $"d{k}{c} = {Load(k, c)}"))};");
            foreach (int r in rowsOfXi)
            {
                string Combined(int c) => Enumerable.Range(0, 4).Aggregate(inputRows[r], (e, k) => e.Replace($"d{k}", all ? $"d{k}{c}" : Load(k, c)));
                w.Line(string.Join(" ", Range(4, c => $"{(r == rowsOfXi[0] ? "Vector256<float> " : "")}e{c} = {Combined(c)};")));
                long at = all ? 4 * r * xiV : 0;
                w.Line($"Vector256.Store(e0 - e2, {(at == 0 ? "o" : $"o + {at}")}); Vector256.Store(e1 + e2, o + {at + xiV}); Vector256.Store(e2 - e1, o + {at + 2 * xiV}); Vector256.Store(e1 - e3, o + {at + 3 * xiV});");
            }
            w.Close();
            w.Close();
            w.Close();
            w.Close();
            w.Line();
        }
        for (int r = 0; r < 4; r++)
            EmitInput($"{name}Input{r}", $"// V[4·{r} + c][t][i] = ({inputRows[r]})·B, column c, where dk is row k of tile t's 4×4 patch; 8 input channels per vector.", [r]);
        if (allRows) EmitInput($"{name}InputAll", "// V[ξ][t][i] = (Bᵀ·X·B)[ξ] of tile t's 4×4 patch, all 16 ξ: each row of ξ as the Input kernels above, from one load of each patch row.", [0, 1, 2, 3]);

        // Row r of Z = A·∂Z·Aᵀ: A's row r combines the tile's two rows; Aᵀ then its two columns.
        string[] gradientRows = ["g0", "g0 + g1", "g0 - g1", "-g1"];
        for (int r = 0; r < 4; r++)
        {
            w.Line($"// Z[4·{r} + c][t][o] = {(gradientRows[r].Length == 2 ? gradientRows[r] : $"({gradientRows[r]})")}·Aᵀ, column c, where gk is row k of tile t of ∂Z, for the outputs of groups [og0, og1); 8 per vector.");
            w.Line(Hot);
            w.Open($"private static void {name}Gradient{r}(float* g, float* z, int tileRows, int og0, int og1)");
            w.Open("for (int ob = og0 * 4; ob < og1 * 4; ob++)");
            w.Open("for (int ty = 0; ty < tileRows; ty++)");
            w.Open($"for (int tx = 0; tx < {tiles}; tx++)");
            w.Line($"float* p = g + ob * {g.PlaneStride} + ty * {2 * g.RowStride} + tx * 16;");
            w.Line($"float* o = z + (ty * {tiles} + tx) * {outputs} + ob * 8;");
            string Row(int k, int c) => $"Vector256.Load({Plus("p", k * g.RowStride + c * 8)})";
            string Combined(int c) => gradientRows[r].Replace("g0", Row(0, c)).Replace("g1", Row(1, c));
            w.Line($"Vector256<float> a0 = {Combined(0)}, a1 = {Combined(1)};");
            w.Line($"Vector256.Store(a0, o); Vector256.Store(a0 + a1, o + {xiZ}); Vector256.Store(a0 - a1, o + {2 * xiZ}); Vector256.Store(-a1, o + {3 * xiZ});");
            w.Close();
            w.Close();
            w.Close();
            w.Close();
            w.Line();
        }

        // The products: for each of the item's 4 ξ and each group of 32 outputs, register tiles of 3 (or 2) inputs.
        var runs = WinogradRuns(inputs);
        w.Line($"// M[h][i][4r + c][·] += Σ_t Z[c][t][32h + ·] · V[c][t][i] over a block's tiles, c = 0 … 3, h in [og0, og1): register tiles of 32 outputs × {string.Join(" or ", runs.Select(run => run.Tiles).Distinct())} inputs.");
        w.Line(Hot);
        w.Open($"private static void {name}Products(float* z, float* v, float* m, int count, int og0, int og1, bool first)");
        w.Open($"for (int c = 0; c < 4; c++, z += {N(xiZ)}, v += {N(xiV)}, m += 32)");
        w.Open("for (int og = og0; og < og1; og++)");
        foreach (var (first, end, count) in runs)
        {
            string Call(string i) => $"{name}Tile{count}(z + og * 32, v + {i}, m + og * {N(groupStride)} + {i} * {iStride}, count, first);";
            w.Line(end - first == count ? Call(N(first)) : $"for (int i = {first}; i < {end}; i += {count}) {Call("i")}");
        }
        w.Close();
        w.Close();
        w.Close();
        w.Line();

        foreach (int count in runs.Select(run => run.Tiles).Distinct())
        {
            w.Line($"// acc[block][j] += Z[t][block] · broadcast(V[t][j]) for 4 blocks of 8 outputs × {count} inputs, over the block's tiles, from M (or from zero");
            w.Line($"// for the first block of a Backward: no pass clears M, whose lines the output transform last read); M[h][i] is {iStride} floats apart.");
            w.Line(Hot);
            w.Open($"private static void {name}Tile{count}(float* z, float* v, float* m, int tiles, bool first)");
            for (int k = 0; k < WinogradBlocks; k++)
                w.Line($"Vector256<float> {string.Join(", ", Range(count, j => $"a{k}_{j} = Vector256<float>.Zero"))};");
            w.Open("if (!first)");
            for (int k = 0; k < WinogradBlocks; k++)
                w.Line(string.Join(" ", Range(count, j => $"a{k}_{j} = Vector256.Load({Plus("m", j * iStride + k * 8)});")));
            w.Close();
            w.Open($"for (int t = 0; t < tiles; t++, z += {outputs}, v += {inputs})");
            w.Line($"Vector256<float> {string.Join(", ", Range(count, j => $"v{j} = Vector256.Create(v[{j}])"))};");
            for (int k = 0; k < WinogradBlocks; k++)
                w.Line($"{(k == 0 ? "Vector256<float> " : "")}w0 = Vector256.Load(z{(k == 0 ? "" : $" + {k * 8}")}); " + string.Join(" ", Range(count, j => $"a{k}_{j} = Vector256.FusedMultiplyAdd(w0, v{j}, a{k}_{j});")));
            w.Close();
            for (int j = 0; j < count; j++)
                w.Line(string.Join(" ", Range(WinogradBlocks, k => $"Vector256.Store(a{k}_{j}, m + {j * iStride + k * 8});")));
            w.Close();
            w.Line();
        }

        // The output transform, once the sums are complete.
        w.Line($"// ∂W[o,i,u,v] += (Gᵀ·M[o / 32][i][·][o % 32]·G)[u,v]   (layer {l.Index}: the sums of every pass, transformed back to the 3×3 window)");
        w.Line("// Each work item is one block of 8 outputs, all inputs, as the sums' items own them: with halves it first adds the second half's");
        w.Line("// M to the first's; the rows of Gᵀ, (1, ½, ½, 0), (0, ½, −½, 0) and (0, ½, ½, 1), then combine M's rows, then its columns.");
        w.Line(Hot);
        w.Open($"private static void {name}Out(void* state, int begin, int end)");
        w.Line("var f = (Frame*)state;");
        w.Line("var half = Vector256.Create(0.5f);");
        w.Line($"bool halves = {WinogradGradHalves(s, "f->Batch")};");
        w.Open("for (int ob = begin; ob < end; ob++)");
        w.Open($"for (int i = 0; i < {inputs}; i++)");
        w.Line($"float* p = f->WinogradSums + (ob >> 2) * {N(groupStride)} + i * {iStride} + (ob & 3) * 8;");
        w.Line($"float* q = f->{s.Pointer} + (ob * {inputs} + i) * 72;");
        w.Line($"if (halves) for (int xi = 0; xi < 16; xi++) Vector256.Store(Vector256.Load(p + xi * 32) + Vector256.Load(p + {N(sumFloats)} + xi * 32), p + xi * 32); // half 1's sums into half 0's");
        for (int c = 0; c < 4; c++)
        {
            w.Line($"Vector256<float> m0{c} = Vector256.Load({Plus("p", c * 32)}), m1{c} = Vector256.Load(p + {(4 + c) * 32}), m2{c} = Vector256.Load(p + {(8 + c) * 32}), m3{c} = Vector256.Load(p + {(12 + c) * 32});");
            w.Line($"Vector256<float> h{c} = half * (m1{c} + m2{c}), r0{c} = m0{c} + h{c}, r1{c} = half * (m1{c} - m2{c}), r2{c} = h{c} + m3{c};");
        }
        for (int u = 0; u < 3; u++)
        {
            w.Line($"Vector256<float> k{u} = half * (r{u}1 + r{u}2);");
            w.Line($"Vector256.Store(Vector256.Load({Plus("q", u * 24)}) + (r{u}0 + k{u}), {Plus("q", u * 24)}); Vector256.Store(Vector256.Load(q + {u * 24 + 8}) + half * (r{u}1 - r{u}2), q + {u * 24 + 8}); Vector256.Store(Vector256.Load(q + {u * 24 + 16}) + (k{u} + r{u}3), q + {u * 24 + 16});");
        }
        w.Close();
        w.Close();
        w.Close();
        w.Line();
    }
}

using System;
using System.Collections.Generic;
using System.Linq;
using ConvGen.Generator.Model;
using static ConvGen.Generator.Emit.CodeWriter;

namespace ConvGen.Generator.Emit;

/// <summary>
/// The register tile of one convolution: <see cref="Blocks"/> output-channel blocks of 8 × <see cref="Pixels"/> output
/// pixels of one row = at most 12 accumulators. With at least as many pixels as blocks, a tap holds one register per
/// block for the weights and one broadcast (2×6: 12 + 2 + 1); with more blocks than pixels, one register per pixel for
/// the broadcasts and one for the weights (4×3: 12 + 3 + 1). Either fits AVX2's 16 registers.
/// </summary>
/// <param name="TilesFastest">The work order: the tiles of one output row follow each other (see <see cref="For"/>).</param>
internal sealed record ConvTiling(int Blocks, int Pixels, int TileCount, int LastBlocks, int Span, int Unroll, bool UnrollRows, bool TilesFastest)
{
    private const long InputCacheBytes = 1 << 20, WeightCacheBytes = 256 << 10;

    public static ConvTiling For(ConvStep s)
    {
        var l = s.Layer;
        int outBlocks = Tensor.Blocks(l.Output.C);
        int blocks = BlocksPerTile(l, s.TransposesOutput);
        int pixels = Math.Min(12 / blocks, Rows(s).Y.W);
        int tiles = (outBlocks + blocks - 1) / blocks;
        int last = outBlocks - (tiles - 1) * blocks;
        int span = BlockSpan(l.Output.C, l.Input.C, l.Groups);
        int taps = l.KernelHeight * l.KernelWidth;
        bool unrollRows = taps <= 25;
        int unrolledTaps = unrollRows ? taps : l.KernelWidth;
        // Unroll whole input channels while the body stays near 32 taps: a 1x1 layer gets 8 channels per iteration,
        // a first layer with 1-3 channels loses its channel loop entirely.
        int unroll = 1;
        foreach (int u in new[] { 8, 4, 3, 2 })
            if (span % u == 0 && u * unrolledTaps <= 32) { unroll = u; break; }
        // Work items go row by row within a tile, so a tile's weights stay in cache while its rows pass. When the input
        // is what does not fit (a sample over 1 MiB) and all the weights do (at most 256 KiB), the tiles of a row go
        // one after another instead, so each input row is read once rather than once per tile: the 1x1 backward-data
        // of a 256-channel gradient plane read it four times over, and at 2 threads ran no faster than at 1.
        long inputBytes = (long)s.From.Stride * 4, weightBytes = (long)tiles * blocks * span * taps * 8 * 4;
        bool tilesFastest = tiles > 1 && inputBytes > InputCacheBytes && weightBytes <= WeightCacheBytes;
        return new ConvTiling(blocks, pixels, tiles, last, span, unroll, unrollRows, tilesFastest);
    }

    /// <summary>
    /// Output-channel blocks per tile: 4, 3 or 2 share each broadcast input value between more accumulators (4×3, 3×4
    /// or 2×6); grouped layers read a different input range per block, so their tiles hold one block (1×12).
    /// 4×3 loads 7 vectors per 12 FMAs where 2×6 loads 8, reads the input once per 4 blocks rather than per 2, and
    /// cuts a 14-pixel row into 3+3+3+3+2 rather than 5+5+4: 256→256 3x3 at 14×14 ran 5% faster forward and 3% in
    /// backward-data, 64→256 1x1 5% faster forward; 64- and 128-channel 3x3 layers and the 7x7 stem were unchanged.
    /// A tile that stores transposed (<see cref="ConvStep.TransposesOutput"/>) takes 2×6 where it can: one 8×8 transpose
    /// per 6 pixels rather than per 3. With 4×3 the stem's tiles took about 2% more time than the blocked ones.
    /// </summary>
    private static int BlocksPerTile(LayerModel l, bool transposes)
    {
        int outBlocks = Tensor.Blocks(l.Output.C);
        return l.Groups > 1 ? 1 : transposes && outBlocks % 2 == 0 ? 2 : outBlocks % 4 == 0 ? 4 : outBlocks % 3 == 0 ? 3 : outBlocks >= 2 ? 2 : 1;
    }

    /// <summary>
    /// The input and output as the kernel walks them. A 1x1, stride-1, unpadded layer is a GEMM over pixels: its
    /// H×W pixels are contiguous in both tensors, so they are re-cut into rows of a length that the pixel tile divides
    /// (addresses are unchanged), instead of paying a partial tile at the end of every short image row.
    /// </summary>
    public static (Tensor X, Tensor Y) Rows(ConvStep s)
    {
        var l = s.Layer;
        if (l.KernelHeight != 1 || l.KernelWidth != 1 || l.Stride != 1 || l.HasPadding || l.IsDepthwise)
            return (s.From, s.To);
        int pixels = l.Output.H * l.Output.W;
        int tile = 12 / BlocksPerTile(l, s.TransposesOutput), best = l.Output.W;
        long bestCalls = (long)l.Output.H * ((l.Output.W + tile - 1) / tile);
        for (int row = 1; row <= Math.Min(pixels, 192); row++)
        {
            if (pixels % row != 0) continue;
            long calls = (long)(pixels / row) * ((row + tile - 1) / tile);
            if (calls < bestCalls || (calls == bestCalls && row > best)) { best = row; bestCalls = calls; }
        }
        return (s.From with { H = pixels / best, W = best }, s.To with { H = pixels / best, W = best });
    }

    /// <summary>Mirror of <c>ParameterLayout.ConvBlockSpan</c> in the runtime: both must agree on the packing.</summary>
    public static int BlockSpan(int outChannels, int inChannels, int groups)
    {
        int inPerGroup = inChannels / groups, outPerGroup = outChannels / groups, span = 0;
        for (int b = 0; b < Tensor.Blocks(outChannels); b++)
        {
            int last = Math.Min(b * 8 + 7, outChannels - 1);
            span = Math.Max(span, (last / outPerGroup + 1) * inPerGroup - b * 8 / outPerGroup * inPerGroup);
        }
        return span;
    }
}

internal sealed partial class KernelEmitter
{
    private static string ConvFormula(LayerModel l)
    {
        string group = l.Groups == 1 ? "I" : $"g(o)·{l.Input.C / l.Groups}+I";
        string s = l.Stride == 1 ? "" : $"{l.Stride}·";
        string d = l.Dilation == 1 ? "" : $"{l.Dilation}·";
        string py = l.PadTop == 0 ? "" : $"-{l.PadTop}";
        string px = l.PadLeft == 0 ? "" : $"-{l.PadLeft}";
        string bias = l.Bias ? "B[o] + " : "";
        return $"Y[n,o,y,x] = {bias}W[o,I,ΔY,ΔX] · X[n,{group},{s}y+{d}ΔY{py},{s}x+{d}ΔX{px}]";
    }

    private static string Describe(ConvStep s)
    {
        var l = s.Layer;
        string act = s.Activation is null ? "" : $" + {s.Activation} (layer {l.Index + 1}) fused";
        return $"layer {l.Index}: {l.Input.C}×{l.Input.H}×{l.Input.W} → {l.Output.C}×{l.Output.H}×{l.Output.W}, {l.KernelHeight}x{l.KernelWidth}{act}";
    }

    /// <summary>
    /// The kernel rows [ky0, ky1) of output row <c>oy</c> that land on rows of <paramref name="x"/> outside its zero
    /// border (<see cref="ConvStep.SkipsZeroRows"/>): input row <c>s·oy + ky</c> lies in [top, H − bottom).
    /// </summary>
    private static string KernelRows(ConvStep s, Tensor x, string oy = "oy", string suffix = "")
    {
        string row = Times(oy, s.Layer.Stride);
        return $"int ky0{suffix} = Math.Max(0, {s.Zeros.Top} - {row}), ky1{suffix} = Math.Min({s.Layer.KernelHeight}, {x.H - s.Zeros.Bottom} - {row});";
    }

    /// <summary>
    /// The kernel rows [ky0, ky1) of the planar-output kernel's output row <paramref name="oy"/>: those off the zero
    /// border (<see cref="KernelRows"/>) where it skips them, else all.
    /// </summary>
    private static string PlanarKernelRows(ConvStep s, string oy = "oy", string suffix = "")
        => s.SkipsZeroRows ? KernelRows(s, s.From, oy, suffix) : $"int ky0{suffix} = 0, ky1{suffix} = {s.Layer.KernelHeight};";

    /// <summary>" - offset" from a zero-padded view's grid origin back to the stored data (nothing for a plain tensor).</summary>
    private static string MinusViewOffset(Tensor x) => x.IsView ? $" - {x.ViewOffset}" : "";

    private static string Times(string v, int k) => k == 1 ? v : $"{v} * {k}";

    /// <summary>First input channel of the tile's block (a C# expression of <c>tile</c>); see ParameterLayout.ConvBlockFirstInput.</summary>
    private static string FirstInput(LayerModel l, ConvTiling t)
    {
        if (l.Groups == 1) return "0";
        int inPerGroup = l.Input.C / l.Groups, outPerGroup = l.Output.C / l.Groups;
        return $"Math.Min(tile * 8 / {outPerGroup} * {inPerGroup}, {l.Input.C - t.Span})";
    }

    /// <summary>Output row, tile and sample of a work item, in the tiling's work order.</summary>
    private static string ItemIndices(ConvTiling t, Tensor y)
        => y.H == 1 ? $"int oy = 0, tile = item % {t.TileCount}, n = item / {t.TileCount};"
            : t.TilesFastest ? $"int tile = item % {t.TileCount}, oy = item / {t.TileCount} % {y.H}, n = item / {y.H * t.TileCount};"
            : $"int oy = item % {y.H}, tile = item / {y.H} % {t.TileCount}, n = item / {y.H * t.TileCount};";

    private void EmitConv(string name, ConvStep s)
    {
        if (s.Winograd is not null)
        {
            EmitWinograd(name, s);
            return;
        }
        if (s.ColumnWinograd)
        {
            EmitColumnWinograd(name, s);
            return;
        }
        if (s.RowsToBlocked || s.PlanarOutput)
        {
            EmitPlanarOutputConv(name, s);
            return;
        }
        var l = s.Layer;
        var t = ConvTiling.For(s);
        var (x, y) = ConvTiling.Rows(s);
        int taps = l.KernelHeight * l.KernelWidth;
        int weightBlock = t.Span * taps * 8;
        int pixelStride = OutputPixelStride(s), blockStride = OutputBlockStride(s, y);

        w.Line($"// {ConvFormula(l)}");
        w.Line($"// {Describe(s)}; tile {t.Blocks}×8 channels × {t.Pixels} pixels{(s.TransposesOutput ? ", stored transposed into NCHW" : "")}");
        EmitDispatcher(name);

        Open($"{name}Avx", ConvFormula(l), $"Row by row: each work item is one output row of one tile of {t.Blocks} channel block(s).");
        w.Open("for (int item = begin; item < end; item++)");
        w.Line(ItemIndices(t, y));
        w.Line($"float* x = {Sample(x)} + oy * {l.Stride * x.RowStride}{(x.IsView ? $" - {x.ViewOffset}; // a view: the grid's zero border is not in memory, and no tap reads it" : ";")}");
        w.Line($"float* w = f->{s.WeightPointer} + tile * {t.Blocks * weightBlock};");
        w.Line(s.BiasPointer is null ? "float* b = null;" : $"float* b = f->{s.BiasPointer} + tile * {t.Blocks * 8};");
        w.Line($"float* y = {Sample(y)} + (nint)tile * {t.Blocks * blockStride} + oy * {y.RowStride};");
        w.Line($"int ic0 = {FirstInput(l, t)};");
        string rows = "";
        if (s.SkipsZeroRows)
        {
            // Only the kernel rows that land on ∂Z: near the top and bottom of the grid the others read its zero border.
            w.Line(KernelRows(s, x));
            rows = ", ky0, ky1";
        }
        var variants = new List<(int Blocks, int Pixels, int? At, bool Masked, int LastChannels)>();
        // A tile whose taps reach into the zero columns of the input gets a variant of its own, with those taps left out.
        bool AtBorder(int start, int pixels)
            => s.SkipsZeroColumns && (l.Stride * start < s.Zeros.Left || l.Stride * (start + pixels - 1) + l.KernelWidth - 1 >= x.W - s.Zeros.Right);
        // So does a tile whose transposed stores would run past the end of the row (see EmitTransposedStores).
        bool Masked(int start, int pixels) => s.TransposesOutput && start + (pixels - 1) / 8 * 8 + 8 > y.W;
        // And, storing transposed, a tile whose last block holds fewer than 8 channels (its other rows are not stored).
        string Variant(int blocks, int pixels, int? at, bool masked, int lastChannels)
            => $"{name}Tile{blocks}x{pixels}{(at is { } a ? $"At{a}" : "")}{(masked ? "Masked" : "")}{(lastChannels < 8 ? $"Last{lastChannels}" : "")}";
        void Row(int blocks, int lastChannels)
        {
            int step = l.Stride * x.ColumnStride;
            var tiles = RowTiles(y.W, t.Pixels);
            string Arguments(int first) => first == 0 ? $"x, w, b, y, ic0{rows}" : $"x + {first * step}, w, b, y + {first * pixelStride}, ic0{rows}";
            for (int k = 0; k < tiles.Count;)
            {
                var (first, pixels) = tiles[k];
                bool masked = Masked(first, pixels);
                if (AtBorder(first, pixels) || masked)
                {
                    int? at = AtBorder(first, pixels) ? first : null;
                    w.Line($"{Variant(blocks, pixels, at, masked, lastChannels)}({Arguments(first)});");
                    variants.Add((blocks, pixels, at, masked, lastChannels));
                    k++;
                    continue;
                }
                // A run of interior tiles of one width: one call, or a loop.
                int end = k;
                while (end < tiles.Count && tiles[end].Pixels == pixels && !AtBorder(tiles[end].Start, pixels) && !Masked(tiles[end].Start, pixels)) end++;
                string tile = Variant(blocks, pixels, null, false, lastChannels);
                if (end - k == 1) w.Line($"{tile}({Arguments(first)});");
                else w.Line($"for (int ox = {first}; ox < {first + (end - k) * pixels}; ox += {pixels}) {tile}(x + ox{(step == 1 ? "" : $" * {step}")}, w, b, y + {Times("ox", pixelStride)}, ic0{rows});");
                variants.Add((blocks, pixels, null, false, lastChannels));
                k = end;
            }
        }
        int lastBlockChannels = OutputChannelsInLastBlock(s);
        if (t.LastBlocks != t.Blocks || lastBlockChannels < 8)
        {
            w.Open($"if (tile == {t.TileCount - 1})");
            Row(t.LastBlocks, lastBlockChannels);
            w.Close();
            w.Open("else");
            Row(t.Blocks, 8);
            w.Close();
        }
        else
        {
            Row(t.Blocks, 8);
        }
        w.Close();
        w.Close();
        w.Line();

        foreach (var (blocks, pixels, at, masked, lastChannels) in variants.Distinct())
            EmitConvTile(Variant(blocks, pixels, at, masked, lastChannels), s, t, blocks, pixels, weightBlock, at, masked, lastChannels);
        EmitConvScalar($"{name}Scalar", s, t, weightBlock);
    }

    /// <summary>
    /// A row of <paramref name="width"/> pixels cut into tiles of at most <paramref name="most"/>, as equal in width as
    /// that allows (14 = 7 + 7, not 12 + 2): a narrow last tile has too few accumulators to hide the FMA latency and
    /// would run at a fraction of the rate. Wider tiles first.
    /// </summary>
    private static List<(int Start, int Pixels)> RowTiles(int width, int most)
    {
        int count = (width + most - 1) / most, narrow = width / count, wide = narrow + 1;
        int wideCount = width - narrow * count, start = 0;
        var tiles = new List<(int Start, int Pixels)>();
        foreach (var (pixels, n) in new[] { (wide, wideCount), (narrow, count - wideCount) })
            for (int i = 0; i < n; i++, start += pixels) tiles.Add((start, pixels));
        return tiles;
    }

    /// <param name="at">For a tile at the row's ends (<see cref="ConvStep.SkipsZeroColumns"/>): its first output column,
    /// so that the taps reading the zero columns are left out.</param>
    /// <param name="masked">A tile near the end of the row whose transposed stores are masked to its own pixels.</param>
    /// <param name="lastChannels">Channels in the tile's last block, whose rows the transposed stores write.</param>
    private void EmitConvTile(string name, ConvStep s, ConvTiling t, int blocks, int pixels, int weightBlock, int? at, bool masked, int lastChannels)
    {
        var l = s.Layer;
        var (x, y) = ConvTiling.Rows(s);
        int kh = l.KernelHeight, kw = l.KernelWidth, taps = kh * kw;
        Func<int, bool>? Reads(int kx) => at is { } first
            ? p => l.Stride * (first + p) + kx >= s.Zeros.Left && l.Stride * (first + p) + kx < x.W - s.Zeros.Right
            : null;
        w.Line($"// {blocks}×{pixels} tile: acc[block][pixel] += W[block][tap] · broadcast(X[pixel][tap]); "
            + (blocks > pixels ? "broadcasts in registers, one weight load per block." : "weights in registers, one broadcast per input value."));
        if (at is { } column) w.Line($"// At output column {column}: the taps on the input's zero columns are left out.");
        if (masked) w.Line("// Near the row's end: the transposed stores are masked to the tile's own pixels.");
        if (lastChannels < 8) w.Line($"// The last block holds {lastChannels} channel(s): only their rows are stored.");
        w.Line(Hot);
        bool skip = s.SkipsZeroRows;
        w.Open($"private static void {name}(float* x, float* w, float* b, float* y, int ic0{(skip ? ", int ky0, int ky1" : "")})");
        for (int k = 0; k < blocks; k++)
        {
            string init = s.BiasPointer is null ? "Vector256<float>.Zero" : $"Avx.LoadVector256(b + {k * 8})";
            w.Line($"Vector256<float> {string.Join(", ", Range(pixels, p => $"a{k}_{p} = {(p == 0 ? init : $"a{k}_0")}"))};");
        }
        // A strided layer's tile at the row's end may hold pixels whose every tap lands on the padding: no broadcast.
        var read = Enumerable.Range(0, pixels).Where(p => Enumerable.Range(0, kw).Any(kx => Reads(kx)?.Invoke(p) ?? true)).ToList();
        if (read.Count > 0)
            w.Line(blocks > pixels
                ? $"Vector256<float> w0, {string.Join(", ", read.Select(p => $"v{p}"))};"
                : $"Vector256<float> {string.Join(", ", Range(blocks, k => $"w{k}"))}, v;");
        bool loop = t.Unroll < t.Span;
        if (loop) w.Open($"for (int r = 0; r < {t.Span}; r += {t.Unroll})");
        for (int u = 0; u < t.Unroll; u++)
        {
            string r = loop ? (u == 0 ? "r" : $"(r + {u})") : N(u);
            string channel = l.Groups == 1 ? r : $"ic0 + {r}";
            w.Line($"float* x{u} = x + {x.ChannelOffset(channel)};");
            w.Line($"float* w{u}p = w + {r} * {taps * 8};");
            if (!t.UnrollRows)
            {
                w.Open(skip ? "for (int ky = ky0; ky < ky1; ky++)" : $"for (int ky = 0; ky < {kh}; ky++)");
                w.Line($"float* xr = x{u} + ky * {l.Dilation * x.RowStride};");
                w.Line($"float* wr = w{u}p + ky * {kw * 8};");
                for (int kx = 0; kx < kw; kx++) EmitTap(blocks, pixels, "xr", "wr", kx * l.Dilation * x.ColumnStride, kx * 8, l.Stride * x.ColumnStride, weightBlock, Reads(kx));
                w.Close();
            }
            else
            {
                for (int ky = 0; ky < kh; ky++)
                {
                    if (skip) w.Open($"if (ky0 <= {ky} && {ky} < ky1)");
                    for (int kx = 0; kx < kw; kx++)
                        EmitTap(blocks, pixels, $"x{u}", $"w{u}p", ky * l.Dilation * x.RowStride + kx * l.Dilation * x.ColumnStride, (ky * kw + kx) * 8, l.Stride * x.ColumnStride, weightBlock, Reads(kx));
                    if (skip) w.Close();
                }
            }
        }
        if (loop) w.Close();
        if (s.TransposesOutput) EmitTransposedStores(s, y, blocks, pixels, masked, lastChannels);
        else
            for (int k = 0; k < blocks; k++)
                for (int p = 0; p < pixels; p++)
                    w.Line($"Avx.Store(y + {k * y.PlaneStride + p * 8}, {Apply(s.Activation, $"a{k}_{p}", true)});");
        w.Close();
        w.Line();
    }

    /// <summary>Floats from one output pixel of a row to the next as the register tile stores them (NCHW8c: 8; NCHW: 1).</summary>
    private static int OutputPixelStride(ConvStep s) => s.TransposesOutput ? 1 : 8;

    /// <summary>Channels in the last block of 8 that a kernel storing transposed writes (8 when they are whole).</summary>
    private static int OutputChannelsInLastBlock(ConvStep s) => s.TransposesOutput ? s.Layer.Output.C - (Tensor.Blocks(s.Layer.Output.C) - 1) * 8 : 8;

    /// <summary>Floats from one block of 8 output channels to the next.</summary>
    private static int OutputBlockStride(ConvStep s, Tensor y) => s.TransposesOutput ? 8 * y.PlaneStride : y.PlaneStride;

    /// <summary>
    /// The tile's stores into NCHW (<see cref="ConvStep.TransposesOutput"/>): per block, up to 8 pixel vectors are
    /// transposed into 8 channel rows and each row is stored as one vector. A tile of fewer than 8 pixels fills its
    /// remaining lanes with its last pixel: they land on the next tile's pixels, which that tile, called after this one
    /// in the same work item, overwrites. Where that would run past the end of the row (into another work item's row),
    /// the tile is <paramref name="masked"/> and stores its own pixels only. Of its last block it stores the first
    /// <paramref name="lastChannels"/> channel rows.
    /// </summary>
    private void EmitTransposedStores(ConvStep s, Tensor y, int blocks, int pixels, bool masked, int lastChannels)
    {
        w.Line($"Vector256<float> {string.Join(", ", Range(8, r => $"r{r}"))};");
        for (int k = 0; k < blocks; k++)
            for (int c0 = 0; c0 < pixels; c0 += 8)
            {
                int n = Math.Min(8, pixels - c0);
                w.Line(string.Join(" ", Range(8, r => $"r{r} = {(r < n ? Apply(s.Activation, $"a{k}_{c0 + r}", true) : $"r{n - 1}")};")));
                w.Line($"global::ConvGen.Registers.Transpose8x8({string.Join(", ", Range(8, r => $"ref r{r}"))});");
                string mask = masked && n < 8 ? $"Vector256.Create({string.Join(", ", Range(8, j => j < n ? "-1" : "0"))}).AsSingle()" : "";
                for (int c = 0; c < (k == blocks - 1 ? lastChannels : 8); c++)
                {
                    string at = Plus("y", k * OutputBlockStride(s, y) + c * y.PlaneStride + c0);
                    w.Line(mask.Length == 0 ? $"Avx.Store({at}, r{c});" : $"Avx.MaskStore({at}, {mask}, r{c});");
                }
            }
    }

    /// <param name="reads">Which pixels this tap reads (all when null); a tap that reads none emits nothing.</param>
    private void EmitTap(int blocks, int pixels, string xs, string ws, int xOffset, int wOffset, int pixelStride, int blockStride, Func<int, bool>? reads = null)
    {
        var used = Enumerable.Range(0, pixels).Where(p => reads?.Invoke(p) ?? true).ToList();
        if (used.Count == 0) return;
        if (blocks > pixels)
        {
            // Broadcasts held, weights streamed through one register. BroadcastScalarToVector256 rather than
            // Vector256.Create(x[i]): the JIT CSEs the scalar loads that the next tap repeats (x[p + 1] is the next
            // tap's x[p]), keeps them live across the tap and, with only AVX2's 16 registers, spills the tile.
            foreach (int p in used) w.Line($"v{p} = Avx.BroadcastScalarToVector256({xs} + {xOffset + p * pixelStride});");
            for (int k = 0; k < blocks; k++)
            {
                w.Line($"w0 = Avx.LoadVector256({ws} + {wOffset + k * blockStride});");
                foreach (int p in used) w.Line($"a{k}_{p} = Fma.MultiplyAdd(w0, v{p}, a{k}_{p});");
            }
            return;
        }
        for (int k = 0; k < blocks; k++) w.Line($"w{k} = Avx.LoadVector256({ws} + {wOffset + k * blockStride});");
        foreach (int p in used)
        {
            w.Line($"v = Vector256.Create({xs}[{xOffset + p * pixelStride}]);");
            for (int k = 0; k < blocks; k++) w.Line($"a{k}_{p} = Fma.MultiplyAdd(w{k}, v, a{k}_{p});");
        }
    }

    /// <param name="rowPairs">The AVX2 kernel's work items are pairs of output rows of a sample, all channels (the
    /// column Winograd kernel's); the twin computes them directly, from the untransformed weights.</param>
    private void EmitConvScalar(string name, ConvStep s, ConvTiling t, int weightBlock, bool rowPairs = false)
    {
        var l = s.Layer;
        var (x, y) = ConvTiling.Rows(s);
        int kh = l.KernelHeight, kw = l.KernelWidth, outBlocks = Tensor.Blocks(l.Output.C);
        Open(name, ConvFormula(l), rowPairs
            ? "Scalar twin of the AVX2 kernel for CPUs without AVX2/FMA: same work items, computed directly from the packed weights."
            : "Scalar twin of the AVX2 kernel for CPUs without AVX2/FMA: same work items, same packed weights.");
        w.Open("for (int item = begin; item < end; item++)");
        if (rowPairs)
        {
            int pairs = (y.H + 1) / 2; // an odd height ends with a half pair
            string pairEnd = $"item % {pairs} * 2 + 2";
            w.Line($"int n = item / {pairs};");
            w.Open($"for (int oy = item % {pairs} * 2; oy < {(y.H % 2 == 0 ? pairEnd : $"Math.Min({pairEnd}, {y.H})")}; oy++)");
        }
        else w.Line(ItemIndices(t, y));
        w.Line($"float* x = {Sample(x)} + oy * {l.Stride * x.RowStride}{MinusViewOffset(x)};");
        w.Open(rowPairs ? $"for (int ob = 0; ob < {outBlocks}; ob++)" : $"for (int ob = tile * {t.Blocks}; ob < Math.Min(tile * {t.Blocks} + {t.Blocks}, {outBlocks}); ob++)");
        w.Line($"int ic0 = {FirstInput(l, t).Replace("tile", "ob")};");
        w.Line($"float* w = f->{s.WeightPointer} + ob * {weightBlock};");
        w.Line($"float* y = {Sample(y)} + (nint)ob * {OutputBlockStride(s, y)} + oy * {y.RowStride};");
        w.Line($"for (int ox = 0; ox < {y.W}; ox++)");
        w.Open(OutputChannelsInLastBlock(s) < 8 ? $"for (int lane = 0; lane < Math.Min(8, {l.Output.C} - ob * 8); lane++)" : "for (int lane = 0; lane < 8; lane++)");
        EmitScalarWindowSum(s, t, x);
        w.Line($"y[{(s.TransposesOutput ? $"lane * {y.PlaneStride} + ox" : "ox * 8 + lane")}] = {Apply(s.Activation, "acc", false)};");
        w.Close();
        w.Close();
        w.Close();
        if (rowPairs) w.Close();
        w.Close();
        w.Line();
    }

    /// <summary>
    /// The scalar twins' sum for output (ob·8 + lane, oy, ox) into <c>acc</c>, from <c>x</c> at input row oy·stride,
    /// the packed weights <c>w</c> of block ob and its first input channel <c>ic0</c>: the taps in the same order on
    /// every path, so a fused pool's twin and the recorded one take the same values.
    /// </summary>
    private void EmitScalarWindowSum(ConvStep s, ConvTiling t, Tensor x)
    {
        var l = s.Layer;
        int kh = l.KernelHeight, kw = l.KernelWidth;
        w.Line(s.BiasPointer is null ? "float acc = 0f;" : $"float acc = f->{s.BiasPointer}[ob * 8 + lane];");
        w.Open($"for (int r = 0; r < {t.Span}; r++)");
        w.Line($"float* xc = x + {x.ChannelOffset("ic0 + r")} + ox * {l.Stride * x.ColumnStride};");
        w.Line($"for (int ky = 0; ky < {kh}; ky++)");
        w.Line($"    for (int kx = 0; kx < {kw}; kx++)");
        // A view's border is not in memory: its taps are left out (they read zeros).
        if (x.IsView) w.Line($"        if ((uint)({Times("oy", l.Stride)} + ky - {x.View.Top}) < {x.StoredH} && (uint)({Times("ox", l.Stride)} + kx - {x.View.Left}) < {x.StoredW})");
        w.Line($"        {(x.IsView ? "    " : "")}acc += w[((r * {kh} + ky) * {kw} + kx) * 8 + lane] * xc[ky * {l.Dilation * x.RowStride} + kx * {l.Dilation * x.ColumnStride}];");
        w.Close();
    }

    // ---------------------------------------------------------------- depthwise

    private const int DepthwisePixels = 8;

    private void EmitDepthwise(string name, ConvStep s)
    {
        var l = s.Layer;
        var x = s.From;
        var y = s.To;
        int kh = l.KernelHeight, kw = l.KernelWidth, blocks = Tensor.Blocks(y.C);
        string formula = $"Y[n,c,y,x] = {(l.Bias ? "B[c] + " : "")}W[c,ΔY,ΔX] · X[n,c,{l.Stride}·y+{l.Dilation}·ΔY-{l.PadTop},{l.Stride}·x+{l.Dilation}·ΔX-{l.PadLeft}]";
        w.Line($"// {formula}");
        w.Line($"// depthwise {Describe(s)}: 8 channels per vector, no broadcasts; input and weights both NCHW8c");
        EmitDispatcher(name);

        Open($"{name}Avx", formula, $"Each work item is one output row of one channel block, in tiles of {DepthwisePixels} pixels.");
        w.Open("for (int item = begin; item < end; item++)");
        w.Line($"int oy = item % {y.H}, cb = item / {y.H} % {blocks}, n = item / {y.H * blocks};");
        w.Line($"float* x = {Sample(x)} + (nint)cb * {x.PlaneStride} + oy * {l.Stride * x.RowStride};");
        w.Line($"float* w = f->{s.WeightPointer} + cb * {kh * kw * 8};");
        w.Line(s.BiasPointer is null ? "float* b = null;" : $"float* b = f->{s.BiasPointer} + cb * 8;");
        w.Line($"float* y = {Sample(y)} + (nint)cb * {y.PlaneStride} + oy * {y.RowStride};");
        int full = y.W / DepthwisePixels * DepthwisePixels, rest = y.W - full;
        var variants = new List<int>();
        if (full > 0)
        {
            w.Line($"for (int ox = 0; ox < {full}; ox += {DepthwisePixels}) {name}Tile{DepthwisePixels}(x + ox * {l.Stride * 8}, w, b, y + ox * 8);");
            variants.Add(DepthwisePixels);
        }
        if (rest > 0)
        {
            w.Line($"{name}Tile{rest}(x + {full * l.Stride * 8}, w, b, y + {full * 8});");
            variants.Add(rest);
        }
        w.Close();
        w.Close();
        w.Line();

        foreach (int pixels in variants)
        {
            w.Line($"// {pixels} pixels: acc[pixel] += W[tap] ⊙ X[pixel][tap], lane-wise over 8 channels.");
            w.Line(Hot);
            w.Open($"private static void {name}Tile{pixels}(float* x, float* w, float* b, float* y)");
            string init = s.BiasPointer is null ? "Vector256<float>.Zero" : "Avx.LoadVector256(b)";
            w.Line($"Vector256<float> {string.Join(", ", Range(pixels, p => $"a{p} = {(p == 0 ? init : "a0")}"))};");
            w.Line("Vector256<float> k;");
            for (int ky = 0; ky < kh; ky++)
                for (int kx = 0; kx < kw; kx++)
                {
                    w.Line($"k = Avx.LoadVector256(w + {(ky * kw + kx) * 8});");
                    for (int p = 0; p < pixels; p++)
                        w.Line($"a{p} = Fma.MultiplyAdd(Avx.LoadVector256(x + {ky * l.Dilation * x.RowStride + (p * l.Stride + kx * l.Dilation) * 8}), k, a{p});");
                }
            for (int p = 0; p < pixels; p++) w.Line($"Avx.Store(y + {p * 8}, {Apply(s.Activation, $"a{p}", true)});");
            w.Close();
            w.Line();
        }

        Open($"{name}Scalar", formula, "Scalar twin of the AVX2 kernel for CPUs without AVX2/FMA.");
        w.Open("for (int item = begin; item < end; item++)");
        w.Line($"int oy = item % {y.H}, cb = item / {y.H} % {blocks}, n = item / {y.H * blocks};");
        w.Line($"float* x = {Sample(x)} + (nint)cb * {x.PlaneStride} + oy * {l.Stride * x.RowStride};");
        w.Line($"float* w = f->{s.WeightPointer} + cb * {kh * kw * 8};");
        w.Line($"float* y = {Sample(y)} + (nint)cb * {y.PlaneStride} + oy * {y.RowStride};");
        w.Line($"for (int ox = 0; ox < {y.W}; ox++)");
        w.Open("for (int lane = 0; lane < 8; lane++)");
        w.Line(s.BiasPointer is null ? "float acc = 0f;" : $"float acc = f->{s.BiasPointer}[cb * 8 + lane];");
        w.Line($"for (int ky = 0; ky < {kh}; ky++)");
        w.Line($"    for (int kx = 0; kx < {kw}; kx++)");
        w.Line($"        acc += w[(ky * {kw} + kx) * 8 + lane] * x[ky * {l.Dilation * x.RowStride} + (ox * {l.Stride} + kx * {l.Dilation}) * 8 + lane];");
        w.Line($"y[ox * 8 + lane] = {Apply(s.Activation, "acc", false)};");
        w.Close();
        w.Close();
        w.Close();
        w.Line();
    }

    /// <summary>
    /// Whether the planar depthwise kernel streams down a band of rows (undilated, 3 kernel rows): each input row is
    /// loaded once per tap column and feeds the three output rows that read it, whose accumulators pass from one
    /// kernel row's role to the next as the band advances (<see cref="EmitStreamingTile"/>).
    /// </summary>
    public static bool PlanarStreams(ConvStep s) => s.Layer.Dilation == 1 && s.Layer.KernelHeight == 3;

    /// <summary>
    /// How far ahead, in input rows, a streaming depthwise band's first strip prefetches (<see cref="EmitStreamingTile"/>);
    /// the planar depthwise weight gradient prefetches this many rows beyond its kernel's reach.
    /// h forward (32 planes of 112×112, 3.2 MB in and out) at 1 thread, in a hand-edited copy of the generated kernel:
    /// 65.1–65.6 µs against 68.9–69.6 without, the same at 2, 4, 8 and 16 rows; also prefetching the output rows it
    /// will write, 68.6. Generated, against the binary before: 63.6–64.1 against 67.3–67.5.
    /// </summary>
    private const int PrefetchRows = 4;

    /// <summary>
    /// Output rows per work item of the planar depthwise kernel. Streaming: a band whose input rows take at most
    /// 16 KiB, so they stay in L1 while the band's strips of vectors pass over them one after another, cut as evenly as
    /// the height allows (112 rows of 448 bytes: 4 bands of 28). Otherwise three when they share input rows
    /// (undilated, at least two kernel rows), so each loaded input vector feeds up to three: three rows × 4 vectors
    /// loads 0.81 vectors per FMA where two rows × 5 loaded 0.87, and ran 2–27% faster (architecture.md).
    /// </summary>
    public static int PlanarRows(ConvStep s)
    {
        if (PlanarStreams(s))
        {
            int most = Math.Max(3, (16 << 10) / (4 * s.From.RowStride) - 2), bands = (s.To.H + most - 1) / most;
            return (s.To.H + bands - 1) / bands;
        }
        return s.Layer.Dilation == 1 && s.Layer.KernelHeight >= 2 ? Math.Min(3, s.To.H) : 1;
    }

    /// <summary>
    /// Depthwise, stride 1, on NCHW: each work item is a band of output rows of one channel (<see cref="PlanarRows"/>), 8 output pixels per vector.
    /// The weights are broadcast (one per tap) and the input is read with unaligned loads at the tap's offset, so all
    /// 8 lanes are useful for any channel count and no layout copy is needed on either side. Taps that would read
    /// outside the row use masked loads (masked lanes read nothing and count as zero); rows outside the plane are skipped.
    /// </summary>
    private void EmitDepthwisePlanar(string name, ConvStep s)
    {
        var l = s.Layer;
        var x = s.From;
        var y = s.To;
        int kh = l.KernelHeight, kw = l.KernelWidth, d = l.Dilation, rows = PlanarRows(s), items = (y.H + rows - 1) / rows;
        // The backward-data of a layer padded beyond its reach runs this kernel with negative padding (a crop).
        string formula = $"Y[n,c,y,x] = {(l.Bias ? "B[c] + " : "")}W[c,ΔY,ΔX] · X[n,c,y+{d}·ΔY{Signed(-l.PadTop)},x+{d}·ΔX{Signed(-l.PadLeft)}]";
        w.Line($"// {formula}");
        w.Line($"// depthwise {Describe(s)}: NCHW in and out, 8 pixels of a row per vector, one broadcast weight per tap");
        EmitDispatcher(name);

        // Vectors of the output row (a width that 8 does not divide ends with a vector that overlaps the one before and
        // rewrites the same values), split evenly into tiles of at most 12 accumulators over the rows of the item.
        bool streams = PlanarStreams(s);
        var bodies = new Dictionary<string, string>();
        var tiles = new List<(string Method, List<int> Starts, int Rows, bool Prefetches)>();
        List<(string Method, int Offset)> Calls(int tileRows)
        {
            var calls = new List<(string Method, int Offset)>();
            foreach (var mine in EvenRuns(RowVectors(y.W), 12 / (streams ? kh : tileRows)))
            {
                // A band's first strip of a streaming kernel brings its input rows in (see EmitStreamingTile).
                bool prefetches = streams && mine[0] == 0;
                // A tile's code depends only on its rows, the offsets of its vectors from the first, the masked taps, and
                // whether it prefetches.
                var key = new System.Text.StringBuilder().Append(tileRows).Append(prefetches ? "P|" : "|");
                foreach (int x0 in mine)
                {
                    key.Append(x0 - mine[0]).Append(':');
                    for (int kx = 0; kx < kw; kx++) key.Append(LaneMask(x0 + kx * d - l.PadLeft, x.W)).Append(',');
                    key.Append(';');
                }
                if (!bodies.TryGetValue(key.ToString(), out string? method))
                {
                    method = $"{name}Tile{bodies.Count}";
                    bodies.Add(key.ToString(), method);
                    tiles.Add((method, mine, tileRows, prefetches));
                }
                calls.Add((method, mine[0]));
            }
            return calls;
        }
        void Row(int tileRows)
        {
            foreach (var (method, offset) in Calls(tileRows))
                w.Line(streams
                    ? $"{method}({Plus("x", offset - l.PadLeft)}, w, b, {Plus("y", offset)}, oy, Math.Min(oy + {rows}, {y.H}));"
                    : $"{method}({Plus("x", offset - l.PadLeft)}, w, b, {Plus("y", offset)}, oy);");
        }

        Open($"{name}Avx", formula, $"Each work item is {(rows == 1 ? "one output row" : $"{rows} output rows{(y.H % rows == 0 ? "" : $" (the last {y.H % rows})")}")} of one channel.");
        w.Open("for (int item = begin; item < end; item++)");
        w.Line($"int oy = item % {items} * {rows}, c = item / {items} % {y.C}, n = item / {items * y.C};");
        w.Line($"float* x = {Sample(x)} + (nint)c * {x.PlaneStride};");
        w.Line($"float* w = f->{s.WeightPointer} + (c >> 3) * {kh * kw * 8} + (c & 7);");
        w.Line(s.BiasPointer is null ? "float b = 0f;" : $"float b = f->{s.BiasPointer}[c];");
        w.Line($"float* y = {Sample(y)} + (nint)c * {y.PlaneStride} + oy * {y.RowStride};");
        if (y.H % rows != 0 && !streams)
        {
            w.Open($"if (oy == {y.H - y.H % rows})");
            Row(y.H % rows);
            w.Close();
            w.Open("else");
            Row(rows);
            w.Close();
        }
        else
        {
            Row(rows);
        }
        w.Close();
        w.Close();
        w.Line();

        foreach (var (method, starts, tileRows, prefetches) in tiles)
        {
            if (streams) EmitStreamingTile(method, s, starts, prefetches);
            else EmitPlanarTile(method, s, starts, tileRows);
        }

        Open($"{name}Scalar", formula, "Scalar twin of the AVX2 kernel for CPUs without AVX2/FMA: same work items.");
        w.Open("for (int item = begin; item < end; item++)");
        w.Line($"int oy0 = item % {items} * {rows}, c = item / {items} % {y.C}, n = item / {items * y.C};");
        w.Line($"float* x = {Sample(x)} + (nint)c * {x.PlaneStride};");
        w.Line($"float* w = f->{s.WeightPointer} + (c >> 3) * {kh * kw * 8} + (c & 7);");
        w.Open($"for (int oy = oy0; oy < Math.Min(oy0 + {rows}, {y.H}); oy++)");
        w.Line($"float* y = {Sample(y)} + (nint)c * {y.PlaneStride} + oy * {y.RowStride};");
        w.Open($"for (int ox = 0; ox < {y.W}; ox++)");
        w.Line(s.BiasPointer is null ? "float acc = 0f;" : $"float acc = f->{s.BiasPointer}[c];");
        w.Open($"for (int ky = 0; ky < {kh}; ky++)");
        w.Line($"int iy = {Plus($"oy + ky * {d}", -l.PadTop)};");
        w.Line($"if ((uint)iy >= {x.H}u) continue;");
        w.Open($"for (int kx = 0; kx < {kw}; kx++)");
        w.Line($"int ix = {Plus($"ox + kx * {d}", -l.PadLeft)};");
        w.Line($"if ((uint)ix < {x.W}u) acc += w[(ky * {kw} + kx) * 8] * x[iy * {x.RowStride} + ix];");
        w.Close();
        w.Close();
        w.Line($"y[ox] = {Apply(s.Activation, "acc", false)};");
        w.Close();
        w.Close();
        w.Close();
        w.Close();
        w.Line();
    }

    /// <summary>
    /// The register tile of the planar-output kernel: all O output channels × V vectors of 8 pixels, with as many
    /// accumulators as fit in AVX2's 16 registers beside the values each tap reuses (min(O, V) of them) and one
    /// temporary. The 3-channel stem's 3 × 4 tile uses all 16 without a spill (checked with DOTNET_EnableAVX512=0) and
    /// ran its phases 4% faster than 3 × 3.
    /// </summary>
    private static int PlanarOutputVectors(int outputs, int rowVectors)
    {
        int vectors = 1;
        for (int v = 1; v <= rowVectors; v++)
            if (outputs * v <= 12 && outputs * v + Math.Min(outputs, v) + 1 <= VectorRegisters) vectors = v;
        return vectors;
    }

    /// <summary>
    /// A dense stride-1 convolution vectorised along the output row, for layers whose 1–6 output channels would fill
    /// few lanes of an NCHW8c vector: the backward-data kernel of a layer with few input channels (NCHW out), a network's
    /// last layer with few output channels (NCHW out, the caller's), and a forward layer with few output channels
    /// followed by more layers (<see cref="ConvStep.RowsToBlocked"/>: each 8-pixel vector transposed into 8 NCHW8c
    /// pixels). Forward layers add the bias and activation in the epilogue. A tile holds all O output channels × V row
    /// vectors; per tap it loads V input vectors and broadcasts O weights for O·V FMAs. A padded copy's zero border lets
    /// every load read whole vectors; through a zero-padded view of NCHW input (<see cref="ConvStep.MasksZeroColumns"/>)
    /// the loads that reach the zero columns are masked to the lanes in memory instead, and the kernel rows on the zero
    /// rows skipped. A row that 8 does not divide ends with a vector that overlaps the one before and rewrites the same
    /// values.
    /// </summary>
    private void EmitPlanarOutputConv(string name, ConvStep s)
    {
        var l = s.Layer;
        var x = s.From;
        var y = s.To;
        int kh = l.KernelHeight, outputs = y.C;
        int most = PlanarOutputVectors(outputs, (y.W + 7) / 8);
        bool blocked = y.Blocked;
        int pixel = blocked ? 8 : 1; // floats from one output pixel to the next
        w.Line($"// {ConvFormula(l)}");
        w.Line($"// {Describe(s)}: NCHW in, {(blocked ? "NCHW8c" : "NCHW")} out, {outputs} output channel(s) × up to {most} vectors of 8 pixels per tile, one broadcast weight per output channel and tap");
        EmitDispatcher(name);

        string rows = PlanarKernelRows(s);
        string viewOffset = MinusViewOffset(x);
        var tiles = PlanarOutputTiles(s, most);
        string weights = $"f->{s.WeightPointer}{(s.BiasPointer is null ? "" : $", f->{s.BiasPointer}")}";
        Open($"{name}Avx", ConvFormula(l), "Each work item is one output row, all output channels.");
        w.Open("for (int item = begin; item < end; item++)");
        w.Line($"int oy = item % {y.H}, n = item / {y.H};");
        w.Line($"float* x = {Sample(x)} + oy * {x.RowStride}{viewOffset};");
        w.Line($"float* y = {Sample(y)} + oy * {y.RowStride};");
        w.Line(rows);
        foreach (var (mine, method) in tiles.Calls)
            w.Line($"{name}Tile{method}({Plus("x", mine[0])}, {weights}, {Plus("y", mine[0] * pixel)}, ky0, ky1);");
        w.Close();
        w.Close();
        w.Line();
        for (int t = 0; t < tiles.Methods.Count; t++) EmitPlanarOutputTile($"{name}Tile{t}", s, tiles.Methods[t], pooled: false);

        if (s.FusedPool is { } pool)
        {
            var p = pool.To;
            EmitPooledDispatcher(name, s, pool);
            var pair = RowPairTiles(s, tiles.Calls.ConvertAll(c => c.Vectors));
            // Through a view that skips zero rows, the two convolution rows of a pooled row near the top or the bottom
            // take different kernel rows: those items run row by row; without skipping, every item runs on the pair.
            bool rowByRow = pair is null || s.SkipsZeroRows;
            Open($"{name}PooledAvx", ConvFormula(l), pair is null
                ? "Each work item is one pooled row: each tile runs on the two convolution rows under it, the first leaving its horizontal maxima in half."
                : $"Each work item is one pooled row. Its two convolution rows, {2 * y.W} pixels, run as {2 * y.W / 8} whole vectors (one across the two rows), the pixel-pair maxima left in pairs, then the max of the rows{(rowByRow ? "; where the rows take different kernel rows, each tile runs on one row at a time, the first leaving its horizontal maxima in half" : "")}.");
            if (pair is not null) w.Line($"float* pairs = stackalloc float[{outputs * y.W}];");
            if (rowByRow) w.Line($"float* half = stackalloc float[{outputs * PooledVectors(tiles.Methods.Max(m => m.Count)) * 8}];");
            w.Open("for (int item = begin; item < end; item++)");
            w.Line($"int py = item % {p.H}, n = item / {p.H};");
            w.Line($"float* y = {Sample(p)} + py * {p.RowStride};");
            w.Line("int oy = 2 * py;");
            w.Line($"float* x = {Sample(x)} + oy * {x.RowStride}{viewOffset};");
            w.Line(rows);
            if (rowByRow) w.Line(PlanarKernelRows(s, "(oy + 1)", "B"));
            if (pair is not null)
            {
                if (rowByRow) w.Open("if (ky0 == ky0B && ky1 == ky1B)");
                foreach (var (first, mine, method) in pair.Value.Calls)
                {
                    string channelWeights = $"{Plus($"f->{s.WeightPointer}", first)}{(s.BiasPointer is null ? "" : $", {Plus($"f->{s.BiasPointer}", first)}")}";
                    w.Line($"{name}PairTile{method}({Plus("x", mine[0])}, {channelWeights}, {Plus("pairs", first * y.W + mine[0] / 2)}, ky0, ky1);");
                }
                EmitRowPairMaxima(s);
                if (rowByRow)
                {
                    w.Line("continue;");
                    w.Close();
                }
            }
            if (rowByRow)
                foreach (var (mine, method) in tiles.Calls)
                {
                    w.Line($"{name}PooledTile{method}({Plus("x", mine[0])}, {weights}, {Plus("y", mine[0] / 2 * 8)}, ky0, ky1, half, false);");
                    w.Line($"{name}PooledTile{method}({Plus("x", mine[0] + x.RowStride)}, {weights}, {Plus("y", mine[0] / 2 * 8)}, ky0B, ky1B, half, true);");
                }
            w.Close();
            w.Close();
            w.Line();
            if (pair is not null)
                for (int t = 0; t < pair.Value.Methods.Count; t++)
                    EmitPlanarOutputTile($"{name}PairTile{t}", s, pair.Value.Methods[t].Vectors, pooled: true, pair.Value.Methods[t].Channels);
            if (rowByRow)
                for (int t = 0; t < tiles.Methods.Count; t++) EmitPlanarOutputTile($"{name}PooledTile{t}", s, tiles.Methods[t], pooled: true);
            EmitPooledScalar($"{name}PooledScalar", s, pool);
        }

        if (blocked)
        {
            var tiling = ConvTiling.For(s);
            EmitConvScalar($"{name}Scalar", s, tiling, tiling.Span * kh * l.KernelWidth * 8);
            return;
        }

        Open($"{name}Scalar", ConvFormula(l), "Scalar twin of the AVX2 kernel for CPUs without AVX2/FMA: same work items.");
        w.Open("for (int item = begin; item < end; item++)");
        w.Line($"int oy = item % {y.H}, n = item / {y.H};");
        w.Line($"float* x = {Sample(x)} + oy * {x.RowStride}{viewOffset};");
        w.Line($"float* y = {Sample(y)} + oy * {y.RowStride};");
        w.Line($"float* w = f->{s.WeightPointer};");
        w.Line(rows);
        w.Open($"for (int o = 0; o < {outputs}; o++)");
        w.Open($"for (int ox = 0; ox < {y.W}; ox++)");
        EmitScalarOutputPixel(s);
        w.Line($"y[o * {y.PlaneStride} + ox] = {Apply(s.Activation, "acc", false)};");
        w.Close();
        w.Close();
        w.Close();
        w.Close();
        w.Line();
    }

    /// <summary>
    /// A row of the planar-output kernel cut into register tiles (<see cref="EvenRuns"/> of its vectors): each tile's
    /// vectors, with the method that runs it. Tiles with the same vector offsets share a method, unless their loads are
    /// masked differently.
    /// </summary>
    private static (List<(List<int> Vectors, int Method)> Calls, List<List<int>> Methods) PlanarOutputTiles(ConvStep s, int most)
    {
        var keys = new List<string>();
        var methods = new List<List<int>>();
        var calls = new List<(List<int>, int)>();
        foreach (var mine in EvenRuns(RowVectors(s.To.W), most))
        {
            var masks = mine.SelectMany(v => Enumerable.Range(0, s.Layer.KernelWidth).Select(kx => MaskAt(s.From, v + kx * s.Layer.Dilation))).ToList();
            calls.Add((mine, MethodOf(keys, methods, TileKey(mine, masks.Any(m => m != "all")), mine)));
        }
        return (calls, methods);
    }

    /// <summary>
    /// The register tiles of the fused conv + pool on a pooled row's two convolution rows as one run of 2W pixels
    /// (<see cref="EmitPlanarOutputConv"/>), or null where that does not fit or is not expected to pay. A row of
    /// W = 8k + 4 pixels ends in half a vector, which the row-by-row tiles compute twice (the last vector overlaps the
    /// one before: 12.5% of LeNet conv1's FMAs), while 2W pixels are whole vectors, one of them across the two rows. A
    /// load may cross from one row into the next only where the input's rows follow each other in memory (its row stride
    /// is W: the same-padded view of NCHW input, or NCHW input under a kernel one column wide), its lanes past either end
    /// of a row masked off. Each tile holds a group of output channels × a run of vectors; the grouping is the one with
    /// the least <see cref="TileSlots"/>, and row pairs are taken only where those, with <see cref="RowPairSlots"/> for
    /// the extra pass through memory, come to less than the row tiles' for both rows. LeNet's 6 channels × 7 vectors run
    /// as 3 × 4 and 3 × 3 (42 slots a tap, against 48 for two rows of 6 × 2 tiles, and 44 for 6 × 2, 6 × 2, 6 × 2 and
    /// 6 × 1); in rows of 44 the saving (4 columns in 48) no longer covers the extra pass. <paramref name="rowTiles"/>:
    /// the row-by-row kernel's tiles (<see cref="PlanarOutputTiles"/>), each a run of a row's vectors.
    /// </summary>
    private static (List<(int First, List<int> Vectors, int Method)> Calls, List<(int Channels, List<int> Vectors)> Methods)? RowPairTiles(ConvStep s, List<List<int>> rowTiles)
    {
        var x = s.From;
        var y = s.To;
        if (s.FusedPool is null || y.W % 8 != 4 || y.W < 16 || x.Blocked || x.RowStride != y.W || 4L * y.C * y.W > RowPairBytes) return null;
        var vectors = Enumerable.Range(0, 2 * y.W / 8).Select(v => v * 8).ToList();
        var channels = Enumerable.Range(0, y.C).ToList();
        List<(List<int> Group, List<int> Run)>? best = null;
        int bestSlots = int.MaxValue;
        for (int most = y.C; most >= 1; most--)
        {
            var tiles = EvenRuns(channels, most)
                .SelectMany(g => EvenRuns(vectors, PlanarOutputVectors(g.Count, vectors.Count)).Select(r => (g, r))).ToList();
            int slots = tiles.Sum(t => TileSlots(t.g.Count, t.r.Count));
            if (slots < bestSlots) (best, bestSlots) = (tiles, slots);
        }
        int taps = s.Layer.KernelHeight * s.Layer.KernelWidth * x.C;
        if (bestSlots * taps + RowPairSlots * y.C * vectors.Count >= 2 * rowTiles.Sum(r => TileSlots(y.C, r.Count)) * taps) return null;
        // Each output is summed in the order of the recorded Forward's row tiles, so the two agree bit for bit, as long
        // as neither splits its sum into a second set of accumulators.
        if (rowTiles.Any(r => SecondSet(y.C, r.Count, x.C)) || best!.Any(t => SecondSet(t.Group.Count, t.Run.Count, x.C))) return null;
        // Tiles share a method where they differ only in where they start and none of their loads is masked.
        var keys = new List<string>();
        var methods = new List<(int, List<int>)>();
        var calls = new List<(int, List<int>, int)>();
        foreach (var (group, run) in best!)
        {
            bool masked = run.Any(v => Enumerable.Range(0, s.Layer.KernelWidth).Any(kx => RowPairMaskAt(x, y.W, v, kx * s.Layer.Dilation) != "all"));
            calls.Add((group[0], run, MethodOf(keys, methods, $"{group.Count}:{TileKey(run, masked)}", (group.Count, run))));
        }
        return (calls, methods);
    }

    /// <summary>The index of the tile method for <paramref name="key"/>, adding <paramref name="method"/> under it the first time.</summary>
    private static int MethodOf<T>(List<string> keys, List<T> methods, string key, T method)
    {
        int at = keys.IndexOf(key);
        if (at >= 0) return at;
        keys.Add(key);
        methods.Add(method);
        return keys.Count - 1;
    }

    /// <summary>
    /// What makes two planar-output tiles one method: the offsets of their vectors from the first, and where any load
    /// is masked, the position too (the masks are written into the method).
    /// </summary>
    private static string TileKey(List<int> vectors, bool masked)
        => string.Join(",", vectors.ConvertAll(v => v - vectors[0])) + (masked ? $"@{vectors[0]}" : "");

    /// <summary>
    /// A planar-output tile's cost per tap in FMA slots (2 a cycle here): its <paramref name="channels"/> ×
    /// <paramref name="vectors"/> FMAs, or its loads where they are more (the vectors and the weight broadcasts, 2 a
    /// cycle too), and at least 8: the 4 cycles of an FMA's latency, before the next tap's FMA into the same
    /// accumulator can start.
    /// </summary>
    private static int TileSlots(int channels, int vectors) => Math.Max(channels * vectors, Math.Max(channels + vectors, 8));

    /// <summary>
    /// The row pairs' extra pass through memory (each pair of vectors' maxima put in order, stored and loaded again
    /// for the max of the rows) in FMA slots per output channel and vector. In a perf profile of LeNet at batch 256 an
    /// item's FMAs take 42 slots × 25 taps = 1,050, and the pass about 10% of the item: some 105 slots for its
    /// 6 channels × 7 vectors.
    /// </summary>
    private const double RowPairSlots = 2.5;

    /// <summary>The row pairs' stack buffer of pixel-pair maxima (C × W floats) at most, as the other kernels' buffers.</summary>
    private const int RowPairBytes = 64 * 1024;

    /// <summary>
    /// The lanes of a load at position <paramref name="start"/> of a run of rows <paramref name="width"/> pixels wide,
    /// shifted by <paramref name="tap"/> columns, that are in memory (see <see cref="RowPairTiles"/>): each lane's column
    /// is its pixel's column in its own row, so a load across two rows masks off the lanes past the end of the first and
    /// before the start of the second.
    /// </summary>
    private static string RowPairMaskAt(Tensor x, int width, int start, int tap)
        => Lanes(j => (start + j) % width + tap - x.View.Left is var c && c >= 0 && c < x.StoredW);

    /// <summary>
    /// The lanes of a load at column <paramref name="column"/> of <paramref name="x"/>'s grid that are in memory: through a
    /// zero-padded view, the lanes on the grid's zero columns are not, and are masked out (a load with none left is left
    /// out, with its FMAs).
    /// </summary>
    private static string MaskAt(Tensor x, int column) => x.IsView ? LaneMask(column - x.View.Left, x.StoredW) : "all";

    /// <summary>
    /// Whether a planar-output tile of <paramref name="outputs"/> × <paramref name="vectors"/> accumulators runs them
    /// twice, the second set taking the odd input channels: fewer than 8 leave FMA latency uncovered.
    /// </summary>
    private static bool SecondSet(int outputs, int vectors, int inputs) => outputs * vectors * 2 <= 12 && inputs >= 2;

    /// <summary>Pooled vectors of a tile of <paramref name="vectors"/> row vectors: one per pair, the last maybe alone.</summary>
    private static int PooledVectors(int vectors) => (vectors + 1) / 2;

    /// <summary>
    /// One register tile of the planar-output kernel (see <see cref="EmitPlanarOutputConv"/>): all output channels (or
    /// <paramref name="pairChannels"/> of them) × the row vectors <paramref name="mine"/>. <paramref name="pooled"/>:
    /// the tile of the fused conv + 2x2 max pool, called for the two rows under a pooled row; the first leaves the
    /// maxima of its pixel pairs in <c>half</c>, the second takes the max with them, applies the activation and stores
    /// the pooled pixels. <paramref name="pairChannels"/>: a
    /// tile of <see cref="RowPairTiles"/>, that many output channels × vectors of the two rows as one run, which leaves
    /// the maxima of its pixel pairs in <c>pairs</c> (<see cref="EmitRowPairMaxima"/> takes the max of the rows).
    /// </summary>
    private void EmitPlanarOutputTile(string method, ConvStep s, List<int> mine, bool pooled, int pairChannels = 0)
    {
        var x = s.From;
        var y = s.To;
        bool pair = pairChannels > 0;
        int kh = s.Layer.KernelHeight, kw = s.Layer.KernelWidth, d = s.Layer.Dilation, outputs = pair ? pairChannels : y.C, inputs = x.C;
        bool bias = s.BiasPointer is not null;
        int vectors = mine.Count;
        bool weightsFirst = outputs <= vectors;
        var sets = SecondSet(outputs, vectors, inputs) ? new[] { "a", "c" } : new[] { "a" };
        string MaskOf(int v, int kx) => pair ? RowPairMaskAt(x, y.W, mine[v], kx * d) : MaskAt(x, mine[v] + kx * d);
        string then = pair ? " Then the max of each pair of neighbouring pixels." : pooled ? " Then the max of each pair of neighbouring pixels, and of the two rows." : "";
        w.Line($"// {outputs}×{vectors} tile{(sets.Length > 1 ? ", twice (even and odd input channels)" : "")}: acc[o][v] += W[o,i,tap] · X[i][pixels of v + tap offset]; per tap {vectors} input loads and {outputs} broadcasts for {outputs * vectors} FMAs.{then}");
        w.Line(Hot);
        string output = pair ? "float* pairs" : "float* y";
        w.Open($"private static void {method}(float* x, float* w, {(bias ? "float* b, " : "")}{output}, int ky0, int ky1{(pooled && !pair ? ", float* half, bool second" : "")})");
        // The first set starts at the bias (one broadcast per output channel, copied to its other vectors), the
        // second at zero; without a bias every accumulator copies a zeroed a0_0.
        string Init(string set, int o, int v) =>
            bias && set == "a" ? (v == 0 ? $"Vector256.Create(b[{o}])" : $"a{o}_0")
            : set == "a" && o == 0 && v == 0 || bias ? "Vector256<float>.Zero" : "a0_0";
        foreach (string set in sets)
            for (int o = 0; o < outputs; o++)
                w.Line($"Vector256<float> {string.Join(", ", Range(vectors, v => $"{set}{o}_{v} = {Init(set, o, v)}"))};");
        w.Line($"Vector256<float> {string.Join(", ", Range(Math.Min(outputs, vectors), i => $"t{i}"))}, u;");
        void Taps(string r, string k, string set)
        {
            for (int kx = 0; kx < kw; kx++)
            {
                var live = Enumerable.Range(0, vectors).Where(v => MaskOf(v, kx) != "none").ToList();
                if (live.Count == 0) continue;
                string LoadAt(int v) => Load(r, "0", mine[v] - mine[0] + kx * d, MaskOf(v, kx));
                if (weightsFirst)
                {
                    // Broadcasts held, each input vector loaded once and used by every output channel.
                    for (int o = 0; o < outputs; o++) w.Line($"t{o} = Vector256.Create({k}[{kx * 8 + o}]);");
                    foreach (int v in live)
                    {
                        w.Line($"u = {LoadAt(v)};");
                        for (int o = 0; o < outputs; o++) w.Line($"{set}{o}_{v} = Fma.MultiplyAdd(u, t{o}, {set}{o}_{v});");
                    }
                }
                else
                {
                    // Input vectors held, each weight broadcast once and used for every vector.
                    foreach (int v in live) w.Line($"t{v} = {LoadAt(v)};");
                    for (int o = 0; o < outputs; o++)
                    {
                        w.Line($"u = Vector256.Create({k}[{kx * 8 + o}]);");
                        foreach (int v in live) w.Line($"{set}{o}_{v} = Fma.MultiplyAdd(t{v}, u, {set}{o}_{v});");
                    }
                }
            }
        }
        int evenInputs = sets.Length == 1 ? 0 : inputs / 2 * 2; // the inputs taken two at a time, one per set
        if (evenInputs > 0)
        {
            w.Open($"for (int i = 0; i < {evenInputs}; i += 2)");
            w.Open("for (int ky = ky0; ky < ky1; ky++)");
            w.Line($"float* r = x + i * {x.PlaneStride} + ky * {d * x.RowStride}, r1 = r + {x.PlaneStride};");
            w.Line($"float* k = w + (i * {kh} + ky) * {kw * 8}, k1 = k + {kh * kw * 8};");
            Taps("r", "k", "a");
            Taps("r1", "k1", "c");
            w.Close();
            w.Close();
        }
        if (evenInputs < inputs)
        {
            w.Open($"for (int i = {evenInputs}; i < {inputs}; i++)");
            w.Open("for (int ky = ky0; ky < ky1; ky++)");
            w.Line($"float* r = x + i * {x.PlaneStride} + ky * {d * x.RowStride};");
            w.Line($"float* k = w + (i * {kh} + ky) * {kw * 8};");
            Taps("r", "k", "a");
            w.Close();
            w.Close();
        }
        string Sum(int o, int v) => sets.Length > 1 ? $"a{o}_{v} + c{o}_{v}" : $"a{o}_{v}";
        if (pooled)
        {
            if (sets.Length > 1)
                for (int o = 0; o < outputs; o++)
                    for (int v = 0; v < vectors; v++) w.Line($"a{o}_{v} += c{o}_{v};");
            if (pair) EmitPairMaxima(outputs, mine, y.W);
            else EmitPooledEpilogue(s, mine);
        }
        else if (y.Blocked)
        {
            // Channels × 8 pixels → 8 pixels × channels (p0..p7); the lanes past the last channel get what the blocked
            // kernel leaves there (the activation of a zero bias and no input).
            w.Line($"Vector256<float> pad = {Apply(s.Activation, "Vector256<float>.Zero", true)}, {string.Join(", ", Range(8, o => $"p{o}"))};");
            for (int v = 0; v < vectors; v++)
            {
                for (int o = 0; o < 8; o++) w.Line($"p{o} = {(o < outputs ? Apply(s.Activation, Sum(o, v), true) : "pad")};");
                w.Line($"global::ConvGen.Registers.Transpose8x8({string.Join(", ", Range(8, o => $"ref p{o}"))});");
                for (int p = 0; p < 8; p++) w.Line($"Avx.Store({Plus("y", (mine[v] - mine[0] + p) * 8)}, p{p});");
            }
        }
        else
        {
            for (int o = 0; o < outputs; o++)
                for (int v = 0; v < vectors; v++)
                    w.Line($"Avx.Store({Plus("y", o * y.PlaneStride + mine[v] - mine[0])}, {Apply(s.Activation, Sum(o, v), true)});");
        }
        w.Close();
        w.Line();
    }

    /// <summary>
    /// The epilogue of a pooled tile (the accumulators summed into the a set). Two vectors of 8 pixels (l, r) become one of 4 + 4 pixel-pair maxima: shuffling
    /// the even and the odd lanes of each 128-bit half apart gives [l0 l2 r0 r2 | l4 l6 r4 r6] and [l1 l3 r1 r3 | l5 l7 r5 r7],
    /// whose max holds pooled columns l/2 + (0, 1), r/2 + (0, 1), l/2 + (2, 3), r/2 + (2, 3); a vector without a partner
    /// pairs with itself. The first row parks these in <c>half</c>; the second takes their max, then the activation
    /// (ReLU commutes with the max), and transposes channels × pooled pixels into NCHW8c pixels, storing each pooled
    /// column once.
    /// </summary>
    private void EmitPooledEpilogue(ConvStep s, List<int> mine)
    {
        int outputs = s.To.C, vectors = mine.Count, pooledVectors = PooledVectors(vectors);
        for (int o = 0; o < outputs; o++)
            for (int j = 0; j < pooledVectors; j++)
            {
                string h = PairMaxima($"a{o}_{2 * j}", $"a{o}_{Math.Min(2 * j + 1, vectors - 1)}");
                w.Line($"Vector256<float> h{o}_{j} = {h};");
            }
        string Half(int o, int j) => Plus("half", (j * outputs + o) * 8);
        w.Open("if (!second)");
        for (int o = 0; o < outputs; o++)
            for (int j = 0; j < pooledVectors; j++) w.Line($"Avx.Store({Half(o, j)}, h{o}_{j});");
        w.Line("return;");
        w.Close();
        DeclarePooledColumns(s);
        var stored = new HashSet<int>();
        for (int j = 0; j < pooledVectors; j++)
        {
            int l = mine[2 * j] / 2, r = mine[Math.Min(2 * j + 1, vectors - 1)] / 2, first = mine[0] / 2;
            int[] columns = { l, l + 1, r, r + 1, l + 2, l + 3, r + 2, r + 3 };
            EmitPooledColumns(s, o => $"Vector256.Max(h{o}_{j}, Avx.LoadVector256({Half(o, j)}))", columns.Select(c => c - first).ToList(), stored);
        }
    }

    /// <summary>
    /// The maxima of the pixel pairs of two vectors of 8 pixels (l, r): [l0 l2 r0 r2 | l4 l6 r4 r6] (the even lanes of
    /// each 128-bit half) against [l1 l3 r1 r3 | l5 l7 r5 r7] (the odd).
    /// </summary>
    private static string PairMaxima(string l, string r) => $"Vector256.Max(Avx.Shuffle({l}, {r}, 0x88), Avx.Shuffle({l}, {r}, 0xDD))";

    /// <summary>The registers of <see cref="EmitPooledColumns"/>: p0..p7, and the activation of 0 for the lanes past the last channel.</summary>
    private void DeclarePooledColumns(ConvStep s)
        => w.Line($"Vector256<float> pad = {Apply(s.Activation, "Vector256<float>.Zero", true)}, {string.Join(", ", Range(8, o => $"p{o}"))};");

    /// <summary>
    /// p0..p7, a vector of 8 pooled columns for each of 8 channels: the activation of <paramref name="maximum"/> for each
    /// output channel (pad past the last), transposed into 8 NCHW8c pixels, each stored at its column of <c>y</c>
    /// unless an earlier vector stored it (<paramref name="stored"/>).
    /// </summary>
    private void EmitPooledColumns(ConvStep s, Func<int, string> maximum, List<int> columns, HashSet<int> stored)
    {
        for (int o = 0; o < 8; o++)
            w.Line($"p{o} = {(o < s.To.C ? Apply(s.Activation, maximum(o), true) : "pad")};");
        w.Line($"global::ConvGen.Registers.Transpose8x8({string.Join(", ", Range(8, o => $"ref p{o}"))});");
        for (int k = 0; k < 8; k++)
            if (stored.Add(columns[k])) w.Line($"Avx.Store({Plus("y", columns[k] * 8)}, p{k});");
    }

    /// <summary>
    /// The epilogue of a row-pair tile (<see cref="RowPairTiles"/>): two vectors of 8 pixels (l, r) become one of their
    /// 8 pixel-pair maxima, as in <see cref="EmitPooledEpilogue"/>, then put in order ([l0 l2 r0 r2 | l4 l6 r4 r6] →
    /// [l0 l2 l4 l6 | r0 r2 r4 r6]) and stored at their pairs' positions in the run of the two rows, each output channel's
    /// <paramref name="width"/> pairs apart; a vector without a partner stores its 4.
    /// </summary>
    private void EmitPairMaxima(int outputs, List<int> mine, int width)
    {
        for (int o = 0; o < outputs; o++)
            for (int j = 0; j < PooledVectors(mine.Count); j++)
            {
                int l = 2 * j, r = Math.Min(2 * j + 1, mine.Count - 1);
                string h = PairMaxima($"a{o}_{l}", $"a{o}_{r}");
                string at = Plus("pairs", o * width + (mine[l] - mine[0]) / 2);
                string ordered = $"Avx2.Permute4x64({h}.AsDouble(), 0xD8).AsSingle()";
                w.Line(l == r ? $"Vector128.Store({ordered}.GetLower(), {at});" : $"Avx.Store({at}, {ordered});");
            }
    }

    /// <summary>
    /// After the row-pair tiles of a pooled row: for each output channel, the max of the first row's pixel-pair
    /// maxima and the second's (<paramref name="s"/>'s W/2 pairs further on), the activation, and channels × pooled
    /// columns transposed into NCHW8c pixels.
    /// </summary>
    private void EmitRowPairMaxima(ConvStep s)
    {
        int width = s.To.W, pooled = width / 2;
        DeclarePooledColumns(s);
        var stored = new HashSet<int>();
        foreach (int column in RowVectors(pooled))
            EmitPooledColumns(s, o => $"Vector256.Max(Avx.LoadVector256({Plus("pairs", o * width + column)}), Avx.LoadVector256({Plus("pairs", o * width + pooled + column)}))",
                Enumerable.Range(column, 8).ToList(), stored);
    }

    /// <summary>
    /// The planar-output kernel's scalar twin for one output value: <c>acc</c> = bias + the taps of output channel <c>o</c>
    /// at (<c>ox</c>, the row of <c>x</c>), over kernel rows [<c>ky0</c>, <c>ky1</c>).
    /// </summary>
    private void EmitScalarOutputPixel(ConvStep s)
    {
        var l = s.Layer;
        var x = s.From;
        int kh = l.KernelHeight, kw = l.KernelWidth, d = l.Dilation;
        w.Line(s.BiasPointer is not null ? $"float acc = f->{s.BiasPointer}[o];" : "float acc = 0f;");
        w.Line($"for (int i = 0; i < {x.C}; i++)");
        w.Line("    for (int ky = ky0; ky < ky1; ky++)");
        w.Line($"        for (int kx = 0; kx < {kw}; kx++)");
        // A view's zero columns are not in memory: their taps are left out (its zero rows, by ky0 and ky1).
        if (x.IsView) w.Line($"            if ((uint)(ox + kx * {d} - {x.View.Left}) < {x.StoredW})");
        w.Line($"            {(x.IsView ? "    " : "")}acc += w[((i * {kh} + ky) * {kw} + kx) * 8 + o] * x[i * {x.PlaneStride} + ky * {d * x.RowStride} + ox + kx * {d}];");
    }

    /// <summary>The entry of a fused conv + 2x2 max pool (<see cref="ConvStep.FusedPool"/>), which an unrecorded Forward calls.</summary>
    private void EmitPooledDispatcher(string name, ConvStep s, PoolStep pool)
    {
        w.Line($"// {ConvFormula(s.Layer)}, then P[n,o,y,x] = max_{{ΔY,ΔX<2}} Y[n,o,2·y+ΔY,2·x+ΔX]   (layer {pool.Layer.Index})");
        w.Line("// An unrecorded Forward's conv and pool in one: the max is taken in registers, the activation once per pooled value.");
        EmitDispatcher($"{name}Pooled");
    }

    /// <summary>The scalar twin of the fused conv + 2x2 max pool: every pooled value from its four convolution values.</summary>
    private void EmitPooledScalar(string name, ConvStep s, PoolStep pool)
    {
        var l = s.Layer;
        var x = s.From;
        var p = pool.To;
        int outputs = s.To.C;
        Open(name, ConvFormula(l), "Scalar twin of the fused AVX2 kernel for CPUs without AVX2/FMA: same work items.");
        w.Line($"float* w = f->{s.WeightPointer};");
        w.Open("for (int item = begin; item < end; item++)");
        w.Line($"int py = item % {p.H}, n = item / {p.H};");
        w.Line($"float* y = {Sample(p)} + py * {p.RowStride};");
        w.Open($"for (int px = 0; px < {p.W}; px++)");
        w.Line($"for (int o = {outputs}; o < 8; o++) y[px * 8 + o] = 0f; // what the AVX2 kernel leaves past the last channel (ReLU or none of 0)");
        w.Open($"for (int o = 0; o < {outputs}; o++)");
        w.Line("float max = float.NegativeInfinity;");
        w.Open("for (int oy = 2 * py; oy < 2 * py + 2; oy++)");
        w.Line($"float* x = {Sample(x)} + oy * {x.RowStride}{MinusViewOffset(x)};");
        w.Line(PlanarKernelRows(s));
        w.Open("for (int ox = 2 * px; ox < 2 * px + 2; ox++)");
        EmitScalarOutputPixel(s);
        w.Line("max = MathF.Max(max, acc);");
        w.Close();
        w.Close();
        w.Line($"y[px * 8 + o] = {Apply(s.Activation, "max", false)};");
        w.Close();
        w.Close();
        w.Close();
        w.Close();
        w.Line();
    }

    private const int GemmRows = 4, GemmVectors = 3;

    // Input channels per pass over a panel's tiles. The panel's rows lie a whole plane apart (12,544 B at 56×56, 256 B
    // modulo 4 KB, so rows 16 apart share L1 sets), and 256 of them did not stay in L1 while 16 tiles read them in
    // turn: 256→64 at 56×56 ran at 85% of peak where 64→256 ran at 97%. The partial sums stay in the output between passes.
    private const int GemmChunk = 64;

    /// <summary>
    /// The planar product's panels: runs of up to <see cref="GemmVectors"/> 8-pixel vectors along the flattened plane,
    /// all but the last at <c>24·k</c>; the last may be shorter or end on a vector overlapping the one before.
    /// </summary>
    private static (int Full, List<int>? Tail) GemmPanels(int pixels)
    {
        var vectors = RowVectors(pixels);
        // A last vector that overlaps the one before is never part of a full panel: its run is a shape of its own.
        bool overlaps = vectors[vectors.Count - 1] != (vectors.Count - 1) * 8;
        int full = (vectors.Count - (overlaps ? 1 : 0)) / GemmVectors, rest = vectors.Count - full * GemmVectors;
        return (full, rest == 0 ? null : vectors.GetRange(full * GemmVectors, rest));
    }

    /// <summary>
    /// The planar product's passes over its input channels (see <see cref="GemmChunk"/>): as few as passes of at most
    /// 64 allow, each of an even count (two channels per loop iteration) but the last.
    /// </summary>
    private static (int Passes, int Chunk) GemmPasses(int inputs)
    {
        int passes = (inputs + GemmChunk - 1) / GemmChunk;
        return (passes, 2 * ((inputs + 2 * passes - 1) / (2 * passes)));
    }

    /// <summary>
    /// The planar product's panels, and whether its tail runs in the last full panel's work item: in passes the partial
    /// sums live in the output, and a lone last vector overlapping that panel's pixels, run by another thread at the
    /// same time, would read them midway (a race that a 128→256 layer at 7×7 lost at 3 threads).
    /// </summary>
    private static (int Full, List<int>? Tail, bool TailWithLastPanel) GemmWork(ConvStep s)
    {
        var (full, tail) = GemmPanels(s.To.H * s.To.W);
        bool overlapping = tail is { Count: 1 } && tail[0] % 8 != 0;
        return (full, tail, overlapping && full > 0 && GemmPasses(s.From.C).Passes > 1);
    }

    /// <summary>Work items of a planar product per sample: one panel of the plane, all output channels.</summary>
    public static int GemmItems(ConvStep s)
    {
        var (full, tail, withLast) = GemmWork(s);
        return full + (tail is null || withLast ? 0 : 1);
    }

    /// <summary>
    /// <see cref="ConvStep.PlanarGemm"/>: a 1x1 layer from NCHW to NCHW as <c>Y[o,p] = B[o] + W[o,I]·X[I,p]</c> over
    /// each sample's flattened plane. A work item is one panel of 3 vectors (24 pixels), which the tiles of every
    /// output channel read again from L1; a tile holds 4 output channels × 3 vectors and per input channel loads 3 input
    /// vectors and broadcasts 4 weights for 12 FMAs. The weights are read in the blocked packing every dense layer uses
    /// (4 consecutive output channels lie in one block of 8), and each row of the result is stored straight into NCHW.
    /// More than 64 input channels go in passes over the panel's tiles (see <see cref="GemmChunk"/>).
    /// </summary>
    private void EmitPlanarGemm(string name, ConvStep s)
    {
        var l = s.Layer;
        Tensor x = s.From, y = s.To;
        int plane = y.H * y.W, inputs = x.C, outputs = y.C, rest = outputs % GemmRows;
        bool bias = s.BiasPointer is not null;
        var (full, tail, tailWithLast) = GemmWork(s);
        int items = GemmItems(s);
        var (passes, chunk) = GemmPasses(inputs);
        bool chunked = passes > 1, activation = s.Activation is not null;
        w.Line($"// Y[n,o,p] = {(bias ? "B[o] + " : "")}W[o,I] · X[n,I,p]   (p = y·{y.W} + x)");
        w.Line($"// {Describe(s)}: NCHW in and out, a matrix product per sample; tile {GemmRows} output channels × {GemmVectors} vectors of 8 pixels");
        EmitDispatcher(name);

        var shapes = new List<(int Rows, List<int> Offsets)>();
        int Shape(int rows, List<int> vectors)
        {
            var offsets = vectors.ConvertAll(v => v - vectors[0]);
            int at = shapes.FindIndex(t => t.Rows == rows && t.Offsets.SequenceEqual(offsets));
            if (at >= 0) return at;
            shapes.Add((rows, offsets));
            return shapes.Count - 1;
        }
        void Calls(string p0, List<int> vectors, bool prefetchNext = false)
        {
            string b = bias ? ", f->" + s.BiasPointer : "";
            // A pass's channels [i0, i0 + count): its rows of the panel and its weights; the first pass starts from
            // the bias, the last applies the activation.
            string xi = chunked ? "x + i0 * " + plane : "x", wi = chunked ? "w + i0 * 8" : "w";
            string pass = chunked ? $", count, i0 == 0{(activation ? $", i0 + {chunk} >= {inputs}" : "")}" : "";
            if (chunked)
            {
                w.Open($"for (int i0 = 0; i0 < {inputs}; i0 += {chunk})");
                w.Line($"int count = Math.Min({chunk}, {inputs} - i0);");
            }
            if (chunked && prefetchNext)
            {
                // The pass's rows of the next panel, while the tiles run on this one: 64 or more rows a plane apart are
                // more streams than the hardware prefetchers follow (see GemmChunk). Two lines of each: the whole 96-byte
                // row where it spans two (every row at 56×56, whose rows start 32-byte aligned), the first two where it
                // spans three. 256→64 at 56×56 (64→256's backward-data), alternating calls of its Backward with ∂x
                // against no prefetch, in runs minutes apart: 0.971–1.004 of the time at 1 thread, 0.969–0.996 at 2,
                // 0.967 at batch 32; 64→256's forward, in one pass, 0.99 (left without).
                w.Line($"float* next = {xi} + {p0} + {GemmVectors * 8};");
                w.Line($"for (int c = 0; c < count; c++) {{ Sse.Prefetch0(next + c * {plane}); Sse.Prefetch0(next + c * {plane} + 16); }}");
            }
            if (outputs >= GemmRows)
                // Group og's 4 output channels: lanes 4·(og & 1) … of block og >> 1.
                w.Line($"for (int og = 0; og < {outputs / GemmRows}; og++) {name}Tile{Shape(GemmRows, vectors)}({xi} + {p0}, {wi} + (og >> 1) * {inputs * 8} + (og & 1) * 4{(bias ? $"{b} + og * 4" : "")}, y + og * {GemmRows * plane} + {p0}{pass});");
            if (rest > 0)
            {
                int o0 = outputs - rest;
                w.Line($"{name}Tile{Shape(rest, vectors)}({xi} + {p0}, {Plus(wi, o0 / 8 * inputs * 8 + o0 % 8)}{(bias ? $"{b} + {o0}" : "")}, {Plus("y", o0 * plane)} + {p0}{pass});");
            }
            if (chunked) w.Close();
        }

        // Both twins: a work item is a panel of one sample, its planes and the weights.
        string formula = $"Y[n,o,p] = {(bias ? "B[o] + " : "")}W[o,I] · X[n,I,p]";
        void OpenItems(string method, string why)
        {
            Open(method, formula, why);
            w.Open("for (int item = begin; item < end; item++)");
            w.Line($"int panel = item % {items}, n = item / {items};");
            w.Line($"float* x = {Sample(x)};");
            w.Line($"float* y = {Sample(y)};");
            w.Line($"float* w = f->{s.WeightPointer};");
        }

        OpenItems($"{name}Avx", "Each work item is one panel of the plane, all output channels.");
        var fullVectors = Enumerable.Range(0, GemmVectors).Select(v => v * 8).ToList();
        if (tail is null) Calls($"panel * {GemmVectors * 8}", fullVectors, prefetchNext: true);
        else if (tailWithLast)
        {
            Calls($"panel * {GemmVectors * 8}", fullVectors, prefetchNext: true);
            w.Open($"if (panel == {full - 1})");
            w.Line("// The last vector overlaps this panel: after its passes, in the same work item (see GemmWork).");
            Calls(N(tail[0]), tail);
            w.Close();
        }
        else
        {
            if (full > 0)
            {
                w.Open($"if (panel < {full})");
                Calls($"panel * {GemmVectors * 8}", fullVectors, prefetchNext: true);
                w.Close();
                w.Open("else");
            }
            Calls(N(tail[0]), tail);
            if (full > 0) w.Close();
        }
        w.Close();
        w.Close();
        w.Line();

        for (int t = 0; t < shapes.Count; t++)
        {
            var (rows, offsets) = shapes[t];
            int vectors = offsets.Count;
            w.Line($"// {rows}×{vectors} tile: acc[o][v] += W[o,i] · X[i][pixels of v]; per input channel {vectors} vector loads and {rows} broadcasts for {rows * vectors} FMAs."
                + (chunked ? " One pass of count input channels: the partial sums of the passes before are read from y." : ""));
            w.Line(Hot);
            w.Open($"private static void {name}Tile{t}(float* x, float* w, {(bias ? "float* b, " : "")}float* y{(chunked ? $", int count, bool first{(activation ? ", bool last" : "")}" : "")})");
            string Y(int o, int v) => Plus("y", o * plane + offsets[v]);
            if (chunked)
            {
                w.Line($"Vector256<float> {string.Join(", ", Range(rows * vectors, j => $"a{j / vectors}_{j % vectors}"))};");
                w.Open("if (first)");
            }
            for (int o = 0; o < rows; o++)
            {
                var inits = Range(vectors, v => $"a{o}_{v} = {(v > 0 ? $"a{o}_0" : bias ? $"Vector256.Create(b[{o}])" : o > 0 ? "a0_0" : "Vector256<float>.Zero")}");
                w.Line(chunked ? string.Join(" ", inits.Select(i => i + ";")) : $"Vector256<float> {string.Join(", ", inits)};");
            }
            if (chunked)
            {
                w.Close();
                w.Open("else");
                for (int o = 0; o < rows; o++)
                    w.Line(string.Join(" ", Range(vectors, v => $"a{o}_{v} = Avx.LoadVector256({Y(o, v)});")));
                w.Close();
            }
            w.Line($"Vector256<float> {string.Join(", ", Range(vectors, v => $"t{v}"))}, u;");
            // One input channel: its row of the panel at r + row, its weights at k + weights (8 output channels apart).
            void Body(string r, int row, string k, int weights)
            {
                for (int v = 0; v < vectors; v++) w.Line($"t{v} = Avx.LoadVector256({Plus(r, row + offsets[v])});");
                for (int o = 0; o < rows; o++)
                {
                    w.Line($"u = Vector256.Create({k}[{weights + o}]);");
                    for (int v = 0; v < vectors; v++) w.Line($"a{o}_{v} = Fma.MultiplyAdd(t{v}, u, a{o}_{v});");
                }
            }
            // Two input channels per iteration: the loop's own instructions come once per 24 FMAs.
            if (chunked || inputs >= 2)
            {
                w.Open($"for (int i = 0; i < {(chunked ? "(count & ~1)" : N(inputs / 2 * 2))}; i += 2)");
                w.Line($"float* r = x + i * {plane}, k = w + i * 8;");
                Body("r", 0, "k", 0);
                Body("r", plane, "k", 8);
                w.Close();
            }
            if (chunked)
            {
                // Only the last pass can be odd (the others hold an even count).
                w.Open("if ((count & 1) != 0)");
                w.Line($"float* r = x + (count - 1) * {plane}, k = w + (count - 1) * 8;");
                Body("r", 0, "k", 0);
                w.Close();
            }
            else if (inputs % 2 == 1) Body("x", (inputs - 1) * plane, "w", (inputs - 1) * 8);
            if (chunked && activation)
            {
                // Partial sums go back as they are; the activation applies once, to the whole sum.
                w.Open("if (!last)");
                for (int o = 0; o < rows; o++)
                    w.Line(string.Join(" ", Range(vectors, v => $"Avx.Store({Y(o, v)}, a{o}_{v});")));
                w.Line("return;");
                w.Close();
            }
            for (int o = 0; o < rows; o++)
                for (int v = 0; v < vectors; v++)
                    w.Line($"Avx.Store({Y(o, v)}, {Apply(s.Activation, $"a{o}_{v}", true)});");
            w.Close();
            w.Line();
        }

        OpenItems($"{name}Scalar", "Scalar twin of the AVX2 kernel for CPUs without AVX2/FMA: same work items, same weights.");
        string p1 = tailWithLast ? $"panel == {full - 1} ? {plane} : p0 + {GemmVectors * 8}" : $"Math.Min(p0 + {GemmVectors * 8}, {plane})";
        w.Line($"int p0 = {(tail is null || tailWithLast ? $"panel * {GemmVectors * 8}" : full == 0 ? N(tail[0]) : $"panel < {full} ? panel * {GemmVectors * 8} : {tail[0]}")}, p1 = {p1};");
        w.Open($"for (int o = 0; o < {outputs}; o++)");
        w.Open("for (int p = p0; p < p1; p++)");
        w.Line($"float acc = {(bias ? $"f->{s.BiasPointer}[o]" : "0f")};");
        w.Line($"for (int i = 0; i < {inputs}; i++) acc += w[((o >> 3) * {inputs} + i) * 8 + (o & 7)] * x[i * {plane} + p];");
        w.Line($"y[o * {plane} + p] = {Apply(s.Activation, "acc", false)};");
        w.Close();
        w.Close();
        w.Close();
        w.Close();
        w.Line();
    }

    /// <summary>
    /// First columns of the 8-pixel vectors along a row <paramref name="width"/> wide (at least 8): a width that 8 does
    /// not divide ends with a vector that overlaps the one before.
    /// </summary>
    private static List<int> RowVectors(int width)
    {
        var starts = new List<int>();
        for (int v = 0; v < (width + 7) / 8; v++) starts.Add(Math.Min(v * 8, width - 8));
        return starts;
    }

    /// <summary><paramref name="items"/> cut into the fewest runs of at most <paramref name="most"/>, as equal as possible (14 = 5 + 5 + 4).</summary>
    private static List<List<int>> EvenRuns(List<int> items, int most)
    {
        int count = (items.Count + most - 1) / most, first = 0;
        var runs = new List<List<int>>();
        for (int t = 0; t < count; t++)
        {
            int size = items.Count / count + (t < items.Count % count ? 1 : 0);
            runs.Add(items.GetRange(first, size));
            first += size;
        }
        return runs;
    }

    /// <summary><c>p + offset</c>, <c>p - offset</c> or <c>p</c>.</summary>
    private static string Plus(string p, int offset) => offset == 0 ? p : offset > 0 ? $"{p} + {offset}" : $"{p} - {-offset}";

    /// <summary>
    /// Which of the 8 lanes of a load starting at input column <paramref name="start"/> fall inside a row of
    /// <paramref name="width"/>: "all", "none", or the lane pattern as 0/1 digits.
    /// </summary>
    private static string LaneMask(int start, int width) => Lanes(j => start + j >= 0 && start + j < width);

    /// <summary>The lanes j of 8 for which <paramref name="inside"/> holds: "all", "none", or the pattern as 0/1 digits.</summary>
    private static string Lanes(Func<int, bool> inside)
    {
        var lanes = Enumerable.Range(0, 8).Select(inside).ToList();
        return lanes.All(ok => ok) ? "all" : lanes.All(ok => !ok) ? "none" : new string(lanes.Select(ok => ok ? '1' : '0').ToArray());
    }

    /// <summary>An 8-float load at <c>p + x + offset</c>, masked to the lanes of <paramref name="mask"/> (see <see cref="LaneMask"/>).</summary>
    private static string Load(string p, string x, int offset, string mask)
    {
        string at = Plus(x == "0" ? p : $"{p} + {x}", offset);
        return mask == "all"
            ? $"Avx.LoadVector256({at})"
            : $"Avx.MaskLoad({at}, Vector256.Create({string.Join(", ", Range(8, i => mask[i] == '1' ? "-1" : "0"))}).AsSingle())";
    }

    private void EmitPlanarTile(string method, ConvStep s, List<int> starts, int rows)
    {
        var l = s.Layer;
        var x = s.From;
        int kh = l.KernelHeight, kw = l.KernelWidth, d = l.Dilation, count = starts.Count;
        w.Line($"// {rows}×{count} tile of 8-pixel vectors: acc[row][p] += W[tap] · X[input row][pixels of p + tap offset], each loaded input vector feeding every output row that reads it; x points at input column ({Plus("first pixel", -l.PadLeft)}).");
        w.Line(Hot);
        w.Open($"private static void {method}(float* x, float* w, float b, float* y, int oy)");
        for (int r = 0; r < rows; r++)
            w.Line($"Vector256<float> {string.Join(", ", Range(count, p => $"a{r}_{p} = {(r == 0 && p == 0 ? "Vector256.Create(b)" : "a0_0")}"))};");
        w.Line($"Vector256<float> {string.Join(", ", Range(rows, r => $"k{r}"))}{(rows > 1 ? ", v" : "")};");
        // Input row oy + j feeds output row r through kernel row ky where r + d·ky = j.
        for (int j = 0; j < rows + d * (kh - 1); j++)
        {
            var users = new List<(int Row, int Ky)>();
            for (int r = 0; r < rows; r++)
                if ((j - r) % d == 0 && (j - r) / d is int ky && ky >= 0 && ky < kh && j >= r) users.Add((r, ky));
            if (users.Count == 0) continue;
            int dy = j - l.PadTop;
            string iy = Plus("oy", dy);
            // Rows above or below the plane are padding: their taps are dropped, not read.
            w.Open($"if ((uint){(dy == 0 ? iy : $"({iy})")} < {x.H}u)");
            w.Line($"float* r = x + {(dy == 0 ? iy : $"({iy})")} * {x.RowStride};");
            for (int kx = 0; kx < kw; kx++)
            {
                var loads = new List<(int P, string Load)>();
                for (int p = 0; p < count; p++)
                {
                    int column = starts[p] + kx * d - l.PadLeft, offset = starts[p] - starts[0] + kx * d;
                    string mask = LaneMask(column, x.W);
                    if (mask == "none") continue;
                    loads.Add((p, Load("r", "0", offset, mask)));
                }
                if (loads.Count == 0) continue;
                foreach (var (r, ky) in users) w.Line($"k{r} = Vector256.Create(w[{(ky * kw + kx) * 8}]);");
                foreach (var (p, load) in loads)
                {
                    if (users.Count == 1)
                    {
                        w.Line($"a{users[0].Row}_{p} = Fma.MultiplyAdd({load}, k{users[0].Row}, a{users[0].Row}_{p});");
                        continue;
                    }
                    w.Line($"v = {load};");
                    foreach (var (r, _) in users) w.Line($"a{r}_{p} = Fma.MultiplyAdd(v, k{r}, a{r}_{p});");
                }
            }
            w.Close();
        }
        for (int r = 0; r < rows; r++)
            for (int p = 0; p < count; p++)
                w.Line($"Avx.Store({Plus("y", r * s.To.RowStride + starts[p] - starts[0])}, {Apply(s.Activation, $"a{r}_{p}", true)});");
        w.Close();
        w.Line();
    }

    /// <summary>
    /// The streaming tile of the planar depthwise kernel (<see cref="PlanarStreams"/>): a strip of vectors of output
    /// rows [oy0, oy1) of one channel. Input row i feeds output row i + p through kernel row 0, row i + p − 1 through
    /// kernel row 1 and row i + p − 2 through kernel row 2 (p the top padding); zᵏʸ_v holds the output row that takes
    /// kernel row ky next. After each input row, z²'s row has all its taps and is stored; z¹ becomes z², z⁰ becomes z¹,
    /// and z⁰ restarts from the bias. Each output value gets its taps in the order of the row-by-row kernel (kernel
    /// rows, then columns, ascending): the same bits. The weights of a tap column are broadcast once per input row.
    /// The band's first strip (<paramref name="prefetches"/>) is the first to read each of its input rows, which come
    /// from L3 or memory on a plane larger than L2: it asks for the whole row <see cref="PrefetchRows"/> ahead, so the
    /// lines arrive while it computes; the band's other strips find them in L1.
    /// </summary>
    private void EmitStreamingTile(string method, ConvStep s, List<int> starts, bool prefetches)
    {
        var l = s.Layer;
        var x = s.From;
        int kw = l.KernelWidth, count = starts.Count, top = l.PadTop;
        w.Line($"// 3 kernel rows × {count} vectors, streaming down rows [oy0, oy1): each input row loaded once per tap column feeds the 3 output rows that read it; x points at input column ({Plus("first pixel", -l.PadLeft)})" +
               (prefetches ? $"; prefetches input row i + {PrefetchRows}, all of it, for the band's other strips." : "."));
        w.Line(Hot);
        w.Open($"private static void {method}(float* x, float* w, float b, float* y, int oy0, int oy1)");
        w.Line("Vector256<float> bias = Vector256.Create(b), v, k0, k1, k2;");
        for (int ky = 0; ky < 3; ky++)
            w.Line($"Vector256<float> {string.Join(", ", Range(count, p => ky == 0 ? $"z{ky}_{p}" : $"z{ky}_{p} = bias"))};");
        w.Open($"for (int i = {Plus("oy0", -top)}; i < {Plus("oy1", 2 - top)}; i++)");
        w.Line($"{string.Join(" ", Range(count, p => $"z0_{p} = bias;"))}");
        // Rows above or below the plane are padding: their taps are dropped, not read.
        w.Open($"if ((uint)i < {x.H}u)");
        w.Line($"float* r = x + i * {x.RowStride};");
        if (prefetches)
        {
            // Past the plane's last row too: a prefetch does not fault, and there it fetches the next band's or
            // channel's first rows.
            w.Line($"float* ahead = {Plus("r", l.PadLeft + PrefetchRows * x.RowStride)};");
            w.Line(PrefetchRow("ahead", x.W));
        }
        for (int kx = 0; kx < kw; kx++)
        {
            // Broadcast from memory each row, not hoisted: 12 accumulators + 3 weights + the input take AVX2's 16
            // registers, where 9 weights held for the band spilled (h forward 109–127 µs against 77 with AVX-512 off).
            for (int ky = 0; ky < 3; ky++) w.Line($"k{ky} = Avx.BroadcastScalarToVector256(w + {(ky * kw + kx) * 8});");
            for (int p = 0; p < count; p++)
            {
                int column = starts[p] + kx - l.PadLeft, offset = starts[p] - starts[0] + kx;
                string mask = LaneMask(column, x.W);
                if (mask == "none") continue;
                w.Line($"v = {Load("r", "0", offset, mask)};");
                for (int ky = 0; ky < 3; ky++) w.Line($"z{ky}_{p} = Fma.MultiplyAdd(v, k{ky}, z{ky}_{p});");
            }
        }
        w.Close();
        w.Open($"if ({Plus("i", top - 2)} >= oy0)");
        w.Line($"float* o = y + ({Plus("i", top - 2)} - oy0) * {s.To.RowStride};");
        for (int p = 0; p < count; p++)
            w.Line($"Avx.Store({Plus("o", starts[p] - starts[0])}, {Apply(s.Activation, $"z2_{p}", true)});");
        w.Close();
        w.Line($"{string.Join(" ", Range(count, p => $"z2_{p} = z1_{p};"))} {string.Join(" ", Range(count, p => $"z1_{p} = z0_{p};"))}");
        w.Close();
        w.Close();
        w.Line();
    }

    /// <summary>Prefetches into L1 every 64-byte line of the <paramref name="width"/> floats at <paramref name="row"/>, which may start mid-line.</summary>
    private static string PrefetchRow(string row, int width)
    {
        var offsets = new List<int>();
        for (int c = 0; c < width; c += 16) offsets.Add(c);
        if ((width - 1) / 16 * 16 != width - 1) offsets.Add(width - 1);
        return string.Join(" ", offsets.Select(c => $"Sse.Prefetch0({Plus(row, c)});"));
    }

    private static IEnumerable<string> Range(int count, Func<int, string> item)
    {
        for (int i = 0; i < count; i++) yield return item(i);
    }
}

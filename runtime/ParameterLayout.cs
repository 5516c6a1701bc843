using System;

namespace ConvGen;

/// <summary>
/// How a parameter's PyTorch-layout values map onto the packed array the generated kernels read.
/// The generator picks one per parameter; packing writes zeros into every padding slot, so kernels can run
/// whole 8-lane vectors over them without masks.
/// </summary>
public abstract class ParameterLayout
{
    // The layouts are the generator's contract with the runtime, built by the factories below only.
    private protected ParameterLayout() { }

    /// <summary>Values in PyTorch layout.</summary>
    public abstract int Length { get; }

    /// <summary>Floats in the packed array (≥ <see cref="Length"/>).</summary>
    public abstract int PackedLength { get; }

    /// <summary>Packed index of the value at PyTorch index <paramref name="index"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="index"/> is outside <c>[0, Length)</c>.</exception>
    public int PackedIndex(int index) => (uint)index < (uint)Length ? Map(index)
        : throw new ArgumentOutOfRangeException(nameof(index), $"index must be in [0, {Length}), was {index}.");

    /// <summary>Packed index of PyTorch index <paramref name="index"/>, already known to be in <c>[0, Length)</c>.</summary>
    protected abstract int Map(int index);

    /// <summary>PyTorch layout → packed; padding slots become zero.</summary>
    public void Pack(ReadOnlySpan<float> source, Span<float> packed)
    {
        CheckLength(source.Length, Length, nameof(source));
        CheckLength(packed.Length, PackedLength, nameof(packed));
        packed[..PackedLength].Clear();
        for (int i = 0; i < Length; i++) packed[Map(i)] = source[i];
    }

    /// <summary>Packed → PyTorch layout.</summary>
    public void Unpack(ReadOnlySpan<float> packed, Span<float> destination)
    {
        CheckLength(packed.Length, PackedLength, nameof(packed));
        CheckLength(destination.Length, Length, nameof(destination));
        for (int i = 0; i < Length; i++) destination[i] = packed[Map(i)];
    }

    private static void CheckLength(int given, int needed, string name)
    {
        if (given < needed)
            throw new ArgumentException($"{name} holds {given} floats, fewer than the {needed} this layout needs.", name);
    }

    /// <summary>1 in every packed slot that holds a value, 0 in every padding slot (pinned, for generated kernels).</summary>
    public float[] SlotMask()
    {
        var mask = GC.AllocateArray<float>(PackedLength, pinned: true);
        for (int i = 0; i < Length; i++) mask[Map(i)] = 1f;
        return mask;
    }

    /// <summary>A vector of <paramref name="length"/> values stored as is, padded to whole vectors of 8.</summary>
    public static ParameterLayout Vector(int length) => new VectorLayout(AtLeast(length, 0, nameof(length)));

    /// <summary>
    /// Conv weights <c>[O][I/g][kh][kw]</c> packed as <c>[O/8][R][kh][kw][8]</c>: for each block of 8 output channels,
    /// the <c>R</c> input channels starting at the first one its lanes use, then the window, then the 8 output lanes.
    /// Lanes whose group does not use an input channel hold zero.
    /// </summary>
    public static ParameterLayout ConvBlocked(int outChannels, int inChannels, int groups, int kh, int kw)
    {
        CheckGroups(AtLeast(outChannels, 1, nameof(outChannels)), AtLeast(inChannels, 1, nameof(inChannels)), AtLeast(groups, 1, nameof(groups)));
        return new ConvBlockedLayout(outChannels, inChannels, groups, AtLeast(kh, 1, nameof(kh)), AtLeast(kw, 1, nameof(kw)));
    }

    /// <summary>Depthwise weights <c>[C][1][kh][kw]</c> packed as <c>[C/8][kh][kw][8]</c>.</summary>
    public static ParameterLayout Depthwise(int channels, int kh, int kw)
        => new DepthwiseLayout(AtLeast(channels, 1, nameof(channels)), AtLeast(kh, 1, nameof(kh)), AtLeast(kw, 1, nameof(kw)));

    /// <summary>
    /// Linear weights <c>[out][in]</c> packed as tiles of <see cref="LinearTileBlocks"/> blocks of 8 outputs,
    /// <c>[out/24][inPacked][3][8]</c> (the last tile holds the 1–3 blocks left), where input feature <c>f</c>
    /// (PyTorch's flatten order of a C×H×W tensor) sits at the internal offset of that element in the layer's input:
    /// NCHW8c when <paramref name="blockedInput"/>, else plain.
    /// </summary>
    /// <remarks>
    /// The kernel's register tile covers one tile of blocks, and reads its weights as one stream: per input, its
    /// blocks' vectors side by side. Three streams, one per block ([out/8][inPacked][8]), took 1.45 µs for a 400→120
    /// layer at batch 1 against 1.0 as one.
    /// </remarks>
    public static ParameterLayout Linear(int outFeatures, int channels, int height, int width, bool blockedInput)
        => new LinearLayout(AtLeast(outFeatures, 1, nameof(outFeatures)), AtLeast(channels, 1, nameof(channels)),
                            AtLeast(height, 1, nameof(height)), AtLeast(width, 1, nameof(width)), blockedInput);

    // The factories' checks: a layout with a size below its minimum, or groups that do not divide the channels, would
    // divide by zero or map values onto each other.
    private static int AtLeast(int value, int least, string name)
        => value >= least ? value : throw new ArgumentOutOfRangeException(name, $"{name} must be at least {least}, was {value}.");

    private static void CheckGroups(int outChannels, int inChannels, int groups)
    {
        if (inChannels % groups != 0 || outChannels % groups != 0)
            throw new ArgumentException($"groups ({groups}) must divide both inChannels ({inChannels}) and outChannels ({outChannels}).", nameof(groups));
    }

    /// <summary>Whole vectors of 8 needed for <paramref name="n"/> values.</summary>
    public static int Blocks(int n) => (n + 7) / 8;

    /// <summary>Blocks of 8 outputs per tile of a Linear layout: the generated kernel's register tile (3 blocks × 4 samples).</summary>
    public const int LinearTileBlocks = 3;

    /// <summary>
    /// Packed offset of row <paramref name="row"/> (of <paramref name="rows"/>) of block <paramref name="block"/> (of
    /// <paramref name="blocks"/>) in a layout of tiles of <paramref name="tile"/> blocks, each tile row-major with its
    /// blocks' vectors side by side; the block's next row is <see cref="TileRowStride"/> floats on. A tile of 1 is
    /// plain <c>[block][row][8]</c>.
    /// </summary>
    internal static int TileOffset(int block, int row, int rows, int blocks, int tile)
    {
        int first = block / tile * tile;
        return (first * rows + block - first) * 8 + row * TileRowStride(block, blocks, tile);
    }

    /// <summary>Floats from one row of <paramref name="block"/> to the next in a layout of tiles (<see cref="TileOffset"/>).</summary>
    internal static int TileRowStride(int block, int blocks, int tile) => Math.Min(tile, blocks - block / tile * tile) * 8;

    private sealed class VectorLayout(int length) : ParameterLayout
    {
        public override int Length => length;
        public override int PackedLength => Blocks(length) * 8;
        protected override int Map(int index) => index;
    }

    private sealed class ConvBlockedLayout : ParameterLayout
    {
        private readonly int _out, _inPerGroup, _outPerGroup, _window;
        private readonly int[] _firstInput;

        public ConvBlockedLayout(int outChannels, int inChannels, int groups, int kh, int kw)
        {
            _out = outChannels;
            _inPerGroup = inChannels / groups;
            _outPerGroup = outChannels / groups;
            _window = kh * kw;
            Span = ConvBlockSpan(outChannels, inChannels, groups);
            _firstInput = new int[Blocks(outChannels)];
            for (int b = 0; b < _firstInput.Length; b++) _firstInput[b] = ConvBlockFirstInput(b, inChannels, outChannels, groups);
        }

        /// <summary>R: input channels one output block reads (all of them when groups = 1).</summary>
        public int Span { get; }

        public override int Length => _out * _inPerGroup * _window;
        public override int PackedLength => Blocks(_out) * Span * _window * 8;

        protected override int Map(int index)
        {
            int tap = index % _window;
            int i = index / _window % _inPerGroup;
            int o = index / (_window * _inPerGroup);
            int block = o / 8;
            int inChannel = o / _outPerGroup * _inPerGroup + i;
            int r = inChannel - _firstInput[block];
            return ((block * Span + r) * _window + tap) * 8 + o % 8;
        }
    }

    /// <summary>
    /// First input channel read by output block <paramref name="block"/>: the first channel of its first lane's group,
    /// moved down where needed so that the block's <see cref="ConvBlockSpan"/> channels stay inside the input.
    /// </summary>
    public static int ConvBlockFirstInput(int block, int inChannels, int outChannels, int groups)
    {
        int inPerGroup = inChannels / groups, outPerGroup = outChannels / groups;
        return Math.Min(block * 8 / outPerGroup * inPerGroup, inChannels - ConvBlockSpan(outChannels, inChannels, groups));
    }

    /// <summary>Input channels one output block of 8 reads: the largest over the blocks (all channels when groups = 1).</summary>
    public static int ConvBlockSpan(int outChannels, int inChannels, int groups)
    {
        int inPerGroup = inChannels / groups, outPerGroup = outChannels / groups, span = 0;
        for (int b = 0; b < Blocks(outChannels); b++)
        {
            int last = Math.Min(b * 8 + 7, outChannels - 1);
            span = Math.Max(span, (last / outPerGroup + 1) * inPerGroup - b * 8 / outPerGroup * inPerGroup);
        }
        return span;
    }

    private sealed class DepthwiseLayout(int channels, int kh, int kw) : ParameterLayout
    {
        public override int Length => channels * kh * kw;
        public override int PackedLength => Blocks(channels) * kh * kw * 8;

        protected override int Map(int index)
        {
            int window = kh * kw, c = index / window;
            return (c / 8 * window + index % window) * 8 + c % 8;
        }
    }

    private sealed class LinearLayout(int outFeatures, int channels, int height, int width, bool blocked) : ParameterLayout
    {
        private readonly int _in = channels * height * width;
        private readonly int _inPacked = blocked ? Blocks(channels) * 8 * height * width : channels * height * width;

        public override int Length => outFeatures * _in;
        public override int PackedLength => Blocks(outFeatures) * _inPacked * 8;

        protected override int Map(int index)
        {
            int o = index / _in, f = index % _in;
            int internalF = f;
            if (blocked)
            {
                int plane = height * width, c = f / plane, pixel = f % plane;
                internalF = (c / 8 * plane + pixel) * 8 + c % 8;
            }
            return TileOffset(o / 8, internalF, _inPacked, Blocks(outFeatures), LinearTileBlocks) + o % 8;
        }
    }
}

using System;
using System.ComponentModel;

namespace ConvGen;

/// <summary>
/// A parameter's weights rearranged for a backward-data kernel, so that ∂loss/∂input runs through the same fast
/// forward kernels: for a convolution, weights transposed between input and output channels (per group) and flipped
/// in both spatial directions; for a Linear layer, the matrix transposed. <see cref="Refresh"/> rebuilds them from the
/// current values at the start of each Backward; all buffers are allocated once.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed unsafe class TransposedWeights
{
    private readonly Parameter _source;
    private readonly float[] _packed;
    // Refresh is a gather: _packed[_to[k]] = source.Values[_from[k]]. The maps are built once, so a Backward pays about
    // one load and one store per weight instead of two layout index computations.
    private readonly int[] _from, _to;

    private TransposedWeights(Parameter source, ParameterLayout target, int[] from, int[] to)
    {
        _source = source;
        _from = from;
        _to = to;
        _packed = GC.AllocateArray<float>(target.PackedLength, pinned: true);
    }

    /// <summary>The rearranged, packed weights (pinned).</summary>
    public float* Pointer => (float*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(_packed));

    /// <summary>Rebuilds the packed copy from the parameter's current values.</summary>
    public void Refresh()
    {
        var values = _source.Values;
        var packed = _packed;
        var from = _from;
        var to = _to;
        for (int k = 0; k < from.Length; k++) packed[to[k]] = values[from[k]];
    }

    /// <summary>
    /// Conv weights <c>[O][I/g][kh][kw]</c> → <c>[I][O/g][kh][kw]</c> with <c>W'[i][o'][y][x] = W[g·O/g + o'][i − g·I/g][kh−1−y][kw−1−x]</c>,
    /// packed as the forward kernel of an <c>O → I</c> convolution expects (depthwise stays depthwise).
    /// </summary>
    public static TransposedWeights ForConv(Parameter weight, int inChannels, int groups, int kh, int kw)
    {
        int outChannels = weight.Shape[0], inPerGroup = inChannels / groups, outPerGroup = outChannels / groups, window = kh * kw;
        bool depthwise = groups > 1 && groups == inChannels && groups == outChannels;
        var target = depthwise ? ParameterLayout.Depthwise(inChannels, kh, kw) : ParameterLayout.ConvBlocked(inChannels, outChannels, groups, kh, kw);
        var from = new int[weight.Length];
        var to = new int[weight.Length];
        int k = 0;
        for (int i = 0; i < inChannels; i++)
        {
            int g = i / inPerGroup, iLocal = i - g * inPerGroup;
            for (int oLocal = 0; oLocal < outPerGroup; oLocal++)
            {
                int o = g * outPerGroup + oLocal;
                for (int tap = 0; tap < window; tap++, k++)
                {
                    from[k] = weight.Layout.PackedIndex((o * inPerGroup + iLocal) * window + (window - 1 - tap));
                    to[k] = target.PackedIndex((i * outPerGroup + oLocal) * window + tap);
                }
            }
        }
        return new TransposedWeights(weight, target, from, to);
    }

    /// <summary>
    /// Linear weights for ∂X = Wᵀ ∂Y as an <c>out → inputs</c> Linear layer, where <paramref name="inputs"/> counts the
    /// layer's inputs as its kernel reads them (the whole NCHW8c sample after a blocked Flatten).
    /// </summary>
    public static TransposedWeights ForLinear(Parameter weight, int inputs)
    {
        int outFeatures = weight.Shape[0];
        var target = ParameterLayout.Linear(inputs, outFeatures, 1, 1, blockedInput: false);
        // Rows of Wᵀ follow the kernel's input order, so read the packed values (already in that order), not PyTorch's:
        // packed[(o/8)·inputs + i][o%8] = W[o][i].
        var from = new int[inputs * outFeatures];
        var to = new int[inputs * outFeatures];
        int k = 0;
        for (int i = 0; i < inputs; i++)
            for (int o = 0; o < outFeatures; o++, k++)
            {
                from[k] = ((o >> 3) * inputs + i) * 8 + (o & 7);
                to[k] = target.PackedIndex(i * outFeatures + o);
            }
        return new TransposedWeights(weight, target, from, to);
    }
}

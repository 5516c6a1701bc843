using System;
using Xunit;

namespace ConvGen.Tests.Backward;

/// <summary>2x2 windows that tile the input: the kernel with unrolled taps and vector masks.</summary>
[Input(1, 4, 6)]
[MaxPool(2)]
public partial class TilingMaxPool;

/// <summary>3x3 windows with stride 2 overlap: the general kernel, which adds where windows share a pixel.</summary>
[Input(1, 5, 5)]
[MaxPool(3, stride: 2)]
public partial class OverlappingMaxPool;

/// <summary>
/// Max-pool gradients where the maximum is not unique: PyTorch sends the whole gradient to the first maximum of the
/// window in scan order, never splits it. Expected values are written out by hand from that rule, not computed by the
/// code under test.
/// </summary>
[Trait("Category", "Correctness")]
public sealed class PoolTieTests
{
    [Fact]
    public void TilingWindowsRouteTheGradientToTheFirstMaximum()
    {
        float[] x =
        [
            1, 1,   5, 2,   0, 0,
            1, 1,   5, 5,   -1, -1,
            -3, -7, 1, 4,   -1, 2,
            -3, -2, 4, 3,   2, 2,
        ];
        float[] g = [10, 20, 30, 40, 50, 60];
        // Window by window, in scan order: {1,1,1,1} → first pixel; {5,2,5,5} → the first 5; {0,0,-1,-1} → the
        // first 0; {-3,-7,-3,-2} → -2; {1,4,4,3} → the first 4; {-1,2,2,2} → the first 2.
        float[] expected = [10, 0, 20, 0, 30, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 50, 0, 60, 0, 40, 0, 0, 0, 0];
        AssertInputGradient(new TilingMaxPool(0), x, g, expected);
    }

    [Fact]
    public void OverlappingWindowsAddTheirGradientsAtASharedMaximum()
    {
        float[] x =
        [
            0, 0, 0, 0, 0,
            0, 1, 0, 1, 0,
            0, 0, 9, 0, 0,
            0, 1, 0, 1, 0,
            0, 0, 0, 0, 0,
        ];
        float[] g = [1, 2, 3, 4];
        // All four 3x3 windows (stride 2) contain the centre 9.
        var expected = new float[25];
        expected[12] = 10;
        AssertInputGradient(new OverlappingMaxPool(0), x, g, expected);
    }

    private static void AssertInputGradient(INetwork net, float[] x, float[] g, float[] expected)
    {
        var y = new float[g.Length];
        var dx = new float[x.Length];
        net.Forward(x, y, 1);
        net.Backward(g, dx, 1);
        Assert.Equal(expected, dx);
    }
}

using Xunit;

namespace ConvGen.Tests.Reference;

/// <summary>
/// What the gradient check counts as near a kink (and so leaves to finite differences): values within the window of a
/// ReLU's zero or of a max-pool window's runner-up, but not exact zeros or exact ties, which float32 meets too.
/// </summary>
[Trait("Category", "Correctness")]
public sealed class NearKinkTests
{
    [Fact]
    public void ReluCountsInputsWithinTheWindowOfZeroButNotZeroItself()
    {
        double[] x = [0.0, 5e-6, -5e-6, 2e-5, -1.0, 1e-5];
        Assert.Equal(3, new RefActivation(RefActivationKind.Relu).NearKinks(x, 1, new RefShape(1, 2, 3), window: 1e-5));
        Assert.Equal(0, new RefActivation(RefActivationKind.Tanh).NearKinks(x, 1, new RefShape(1, 2, 3), window: 1e-5));
    }

    [Fact]
    public void MaxPoolCountsNearTiesButNotExactTies()
    {
        // Three 2×2 windows side by side: a near tie (1 and 1 + 5e-6), an exact tie of two zeros, a clear maximum.
        double[] x = [1.0, -3.0, 0.0, 0.0, 2.0, 0.5,
                      1.0 + 5e-6, -2.0, -1.0, -1.0, 0.0, 0.1];
        var pool = new RefPool2d(isMax: true, size: 2, stride: 2, pad: 0);
        Assert.Equal(1, pool.NearKinks(x, 1, new RefShape(1, 2, 6), window: 1e-5));
        // The gradient goes to each window's first maximum: the near-tied 1 + 5e-6, the first zero, the 2.
        var dx = pool.Backward(x, [10.0, 20.0, 30.0], 1, new RefShape(1, 2, 6));
        Assert.Equal([0, 0, 20, 0, 30, 0, 10, 0, 0, 0, 0, 0], dx);
    }
}

using ConvGen;

namespace ConvGen.Tests.Networks;

// Networks compiled the way users compile them: through the analyzer reference in ConvGen.Tests.csproj.

/// <summary>LeNet-5 as in the PyTorch tutorials (padded first conv): 1×28×28 → 10.</summary>
[Input(1, 28, 28)]
[Conv(5, 5, 1, 6, pad: 2)]
[Relu]
[MaxPool(2)]
[Conv(5, 5, 6, 16)]
[Relu]
[MaxPool(2)]
[Flatten]
[Linear(400, 120)]
[Relu]
[Linear(120, 84)]
[Relu]
[Linear(84, 10)]
public partial class LeNet
{
}

/// <summary>A bit of everything, big enough that Forward splits work over threads: 3×32×32 → 10.</summary>
[Input(3, 32, 32)]
[Conv(3, 3, 3, 32, pad: 1)]
[Relu]
[Conv(3, 3, 32, 32, stride: 2, groups: 32, bias: false, Same = true)]
[Conv(1, 1, 32, 48)]
[Tanh]
[MaxPool(3, stride: 2, pad: 1)]
[Conv(3, 3, 48, 40, dilation: 2, pad: 2)]
[Sigmoid]
[AvgPool(2, pad: 1)]
[GlobalAvgPool]
[Flatten]
[Linear(40, 10, bias: false)]
public partial class MixedNet
{
}

/// <summary>
/// One depthwise layer on the caller's NCHW input: the planar kernel, whose output an unrecorded Forward writes straight
/// into the caller's output. Input and output have the same length, so a caller can pass one buffer as both.
/// </summary>
[Input(8, 12, 12)]
[Conv(3, 3, 8, 8, pad: 1, groups: 8)]
public partial class DepthwiseNet
{
}

/// <summary>
/// One dense layer whose kernel reads the caller's NCHW input where it lies, through a zero-padded view. Input and
/// output have the same length, like <see cref="DepthwiseNet"/>'s, so a caller can pass one buffer as both.
/// </summary>
[Input(8, 12, 12)]
[Conv(3, 3, 8, 8, pad: 1), Relu]
public partial class SameShapeConvNet
{
}

/// <summary>
/// A 1x1 layer on NCHW with 128 inputs at 7×7: the planar product in two passes of 64 input channels over panels of
/// 24 pixels, whose plane of 49 ends on a vector overlapping the one before (pixels 41-48): that vector runs in the
/// last panel's work item. 256 outputs make a batch of 1 enough work to split over threads.
/// </summary>
[Input(128, 7, 7)]
[Conv(1, 1, 128, 256), Relu]
public partial class WidePointwiseNet
{
}

/// <summary>
/// A network with over 4 MiB of unrecorded workspace per sample (a conv output, a pool output; the first convolution
/// reads its input through a zero-padded view, the second, Winograd down the columns, a zero-padded copy), so that an
/// unrecorded Forward of more than <c>SinglePassBatch</c> (2) samples runs in passes of <c>SamplesPerPass</c> (1).
/// </summary>
[Input(4, 256, 256)]
[Conv(3, 3, 4, 16, pad: 1), Relu, MaxPool(2)]
[Conv(3, 3, 16, 8, pad: 1)]
public partial class WideNet
{
}

/// <summary>
/// 0.7 MB of unrecorded workspace per sample and a Linear layer: an unrecorded Forward of more than 23 samples runs in
/// passes of 4 (not the 5 that the workspace alone allows), whole tiles of the Linear kernel's 4 samples, so it rounds
/// as the recorded one does.
/// </summary>
[Input(4, 144, 144)]
[Conv(3, 3, 4, 8, pad: 1), Relu, MaxPool(4)]
[Flatten, Linear(10368, 10), Sigmoid]
public partial class WideLinearNet
{
}

/// <summary>
/// Two layers the Winograd F(2×2, 3×3) kernel runs (3x3, stride 1, 32 inputs, 32 and 64 outputs, even output sizes):
/// the first on the network's NCHW input through a zero-padded NCHW8c grid, the second on NCHW8c without padding.
/// </summary>
[Input(32, 6, 8)]
[Conv(3, 3, 32, 32, pad: 1), Relu]
[Conv(3, 3, 32, 64)]
public partial class WinogradNet
{
}

/// <summary>
/// A Winograd layer whose row of transformed input tiles is the most <c>ConvStep.WinogradFits</c> allows: 16 · 64 tiles ·
/// 32 channels = 128 KiB.
/// </summary>
[Input(32, 2, 128)]
[Conv(3, 3, 32, 32, pad: 1)]
public partial class WinogradWideRowNet
{
}

/// <summary>
/// 4,096 channels per pixel of a one-channel 8×8 input: a recorded Forward of a few thousand samples needs a tape
/// past the largest array while its input and output stay a few MB.
/// </summary>
[Input(1, 8, 8)]
[Conv(1, 1, 1, 4096), Relu]
[Conv(1, 1, 4096, 1)]
public partial class ExpandingNet;

/// <summary>
/// A Tanh step of its own on 25 floats per sample, so that a cut of the batch at an odd sample falls inside a vector of
/// 8: the last floats of a range must come out as the vector arithmetic computes them.
/// </summary>
[Input(1, 5, 5)]
[Tanh]
[Conv(3, 3, 1, 8)]
public partial class TanhFirstNet
{
}

/// <summary>The same with a Sigmoid, whose gradient step has a tail of its own.</summary>
[Input(1, 5, 5)]
[Sigmoid]
[Conv(3, 3, 1, 8)]
public partial class SigmoidFirstNet
{
}

/// <summary>
/// No parameters: one run of per-sample backward steps reads ∂loss/∂output and writes ∂loss/∂input, which a caller may
/// pass as overlapping buffers.
/// </summary>
[Input(8, 8, 8)]
[MaxPool(2)]
public partial class PoolOnlyNet
{
}

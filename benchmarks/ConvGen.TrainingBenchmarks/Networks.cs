using ConvGen;

namespace ConvGen.TrainingBenchmarks;

// The networks whose Backward is timed. Each convolution benchmark is a network holding one [Conv] (with bias, as
// nn.Conv2d by default), so a Backward call is that layer's backward-weights, backward-bias and, when asked,
// backward-data, plus the generated conversions between NCHW and the kernels' blocked layout at the network's edges.
// ConvShapes.cs repeats the geometry to count the work and to describe each shape to the PyTorch peer.

/// <summary>(a) 64→64, 3x3, pad 1, 56×56 (ResNet conv2_x).</summary>
[Input(64, 56, 56)]
[Conv(3, 3, @in: 64, @out: 64, pad: 1)]
public partial class Back3x3C64S56;

/// <summary>(b) 128→128, 3x3, pad 1, 28×28 (ResNet conv3_x).</summary>
[Input(128, 28, 28)]
[Conv(3, 3, @in: 128, @out: 128, pad: 1)]
public partial class Back3x3C128S28;

/// <summary>(c) 256→256, 3x3, pad 1, 14×14 (ResNet conv4_x).</summary>
[Input(256, 14, 14)]
[Conv(3, 3, @in: 256, @out: 256, pad: 1)]
public partial class Back3x3C256S14;

/// <summary>(d) 3→64, 7x7, stride 2, pad 3, 224×224 → 112×112 (ResNet stem).</summary>
/// <remarks>(224 + 6 − 7) mod 2 = 1: the one row and column left unread are padding, so CG0012 stays silent.</remarks>
[Input(3, 224, 224)]
[Conv(7, 7, @in: 3, @out: 64, stride: 2, pad: 3)]
public partial class BackStem7x7;

/// <summary>(e) 64→256, 1x1, 56×56 (bottleneck expansion).</summary>
[Input(64, 56, 56)]
[Conv(1, 1, @in: 64, @out: 256)]
public partial class Back1x1C64To256S56;

/// <summary>(f) LeNet conv1: 1→6, 5x5, pad 2, 28×28 (timed at batch 64).</summary>
[Input(1, 28, 28)]
[Conv(5, 5, @in: 1, @out: 6, pad: 2)]
public partial class BackLeNetConv1;

/// <summary>(g) LeNet conv2: 6→16, 5x5, 14×14 → 10×10 (timed at batch 64).</summary>
[Input(6, 14, 14)]
[Conv(5, 5, @in: 6, @out: 16)]
public partial class BackLeNetConv2;

/// <summary>(h) Depthwise 3x3, 32 channels (groups 32), pad 1, 112×112 (MobileNet).</summary>
[Input(32, 112, 112)]
[Conv(3, 3, @in: 32, @out: 32, pad: 1, groups: 32)]
public partial class BackDepthwise3x3C32S112;

/// <summary>
/// LeNet-5 as trained today (ReLU, max pooling; conv1 padded so 28×28 inputs give 16×5×5 = 400 features), the same
/// layers as the torch.nn.Sequential in torch_training_peer.py, so parameter names and shapes match its state dict.
/// </summary>
[Input(1, 28, 28)]
[Conv(5, 5, @in: 1, @out: 6, pad: 2), Relu, MaxPool(2)]
[Conv(5, 5, @in: 6, @out: 16), Relu, MaxPool(2)]
[Flatten, Linear(400, 120), Relu, Linear(120, 84), Relu, Linear(84, 10)]
public partial class BenchLeNet;

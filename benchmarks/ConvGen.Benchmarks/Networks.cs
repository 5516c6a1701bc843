using ConvGen;

namespace ConvGen.Benchmarks;

// One annotated network per benchmarked geometry, each a single [Conv] so a Forward or Backward call is that
// convolution alone (bias included, as nn.Conv2d's default) plus the NCHW ↔ NCHW8c conversions at the network's
// edges. Shapes.cs gives each shape its batch size (batch is a run-time argument: a32 runs Conv3x3_64_56 at batch 32).

/// <summary>(a) ResNet-18/34 conv2_x: 64→64, 3x3, pad 1, 56×56.</summary>
[Input(64, 56, 56)]
[Conv(3, 3, @in: 64, @out: 64, pad: 1)]
public partial class Conv3x3_64_56;

/// <summary>(b) ResNet conv3_x: 128→128, 3x3, pad 1, 28×28.</summary>
[Input(128, 28, 28)]
[Conv(3, 3, @in: 128, @out: 128, pad: 1)]
public partial class Conv3x3_128_28;

/// <summary>(c) ResNet conv4_x: 256→256, 3x3, pad 1, 14×14.</summary>
[Input(256, 14, 14)]
[Conv(3, 3, @in: 256, @out: 256, pad: 1)]
public partial class Conv3x3_256_14;

/// <summary>(d) ResNet stem: 3→64, 7x7, stride 2, pad 3, 224×224 → 112×112.</summary>
/// <remarks>(224 + 6 − 7) mod 2 = 1: the one row and column left unread are padding, so CG0012 stays silent.</remarks>
[Input(3, 224, 224)]
[Conv(7, 7, @in: 3, @out: 64, stride: 2, pad: 3)]
public partial class Conv7x7_3_64_224;

/// <summary>(e) Bottleneck expansion: 64→256, 1x1, 56×56.</summary>
[Input(64, 56, 56)]
[Conv(1, 1, @in: 64, @out: 256)]
public partial class Conv1x1_64_256_56;

/// <summary>(f) LeNet-5 conv1: 1→6, 5x5, pad 2, 28×28 (run at batch 64).</summary>
[Input(1, 28, 28)]
[Conv(5, 5, @in: 1, @out: 6, pad: 2)]
public partial class LeNetConv1;

/// <summary>(g) LeNet-5 conv2: 6→16, 5x5, 14×14 → 10×10 (run at batch 64).</summary>
[Input(6, 14, 14)]
[Conv(5, 5, @in: 6, @out: 16)]
public partial class LeNetConv2;

/// <summary>(h) MobileNet-style depthwise: 32 channels, 3x3, pad 1, groups 32, 112×112.</summary>
[Input(32, 112, 112)]
[Conv(3, 3, @in: 32, @out: 32, pad: 1, groups: 32)]
public partial class Depthwise3x3_32_112;

/// <summary>
/// LeNet-5 as trained today (ReLU, max pooling; conv1 padded so 28×28 inputs give 16×5×5 = 400 features), the same
/// layers as the torch.nn.Sequential in torch_peer.py, so parameter names and shapes match its state dict.
/// </summary>
[Input(1, 28, 28)]
[Conv(5, 5, @in: 1, @out: 6, pad: 2), Relu, MaxPool(2)]
[Conv(5, 5, @in: 6, @out: 16), Relu, MaxPool(2)]
[Flatten, Linear(400, 120), Relu, Linear(120, 84), Relu, Linear(84, 10)]
public partial class BenchLeNet;

using ConvGen;

namespace ConvGen.Tests.Peer;

// The networks tests/peer/make_peer.py builds in PyTorch, layer for layer and in the same order, so that the
// nn.Sequential state-dict keys ("0.weight", "3.bias", ...) match our parameter names. Keep the two files in step.

/// <summary>LeNet-5 on 1×28×28: padded 5x5 convs, 2x2 max pools, three linear layers.</summary>
[Input(1, 28, 28)]
[Conv(5, 5, pad: 2, @in: 1, @out: 6), Relu, MaxPool(2)]          // 0-2: 6×14×14
[Conv(5, 5, @in: 6, @out: 16), Relu, MaxPool(2)]                 // 3-5: 16×5×5
[Flatten]                                                        // 6: 400
[Linear(400, 120), Relu]                                         // 7-8
[Linear(120, 84), Relu]                                          // 9-10
[Linear(84, 10)]                                                 // 11
public partial class PeerLeNet;

// Like AlexNet itself, the stem and the overlapping pools round sizes down and skip a row or two (CG0012, intended).
#pragma warning disable CG0012
/// <summary>A small AlexNet-style stack on 3×101×101: an 11x11 stride-4 stem, overlapping 3/2 max pools.</summary>
[Input(3, 101, 101)]
[Conv(11, 11, @in: 3, @out: 24, stride: 4, pad: 2), Relu]        // 0-1: 24×24×24
[MaxPool(3, stride: 2)]                                          // 2: 24×11×11
[Conv(5, 5, @in: 24, @out: 32, pad: 2), Relu]                    // 3-4: 32×11×11
[MaxPool(3, stride: 2)]                                          // 5: 32×5×5
[Conv(3, 3, @in: 32, @out: 48, pad: 1), Relu]                    // 6-7: 48×5×5
[Conv(3, 3, @in: 48, @out: 32, pad: 1), Relu]                    // 8-9: 32×5×5
[MaxPool(3, stride: 2)]                                          // 10: 32×2×2
[Flatten]                                                        // 11: 128
[Linear(128, 64), Relu]                                          // 12-13
[Linear(64, 10)]                                                 // 14
public partial class PeerAlexNet;

/// <summary>
/// Everything else: dilation, stride with groups, depthwise, 1x1, padded average pool, an even-kernel TensorFlow "same"
/// conv (asymmetric padding), an overlapping stride-1 max pool, global average pooling and all three activations.
/// </summary>
[Input(4, 23, 19)]
[Conv(3, 3, @in: 4, @out: 12, pad: 2, dilation: 2), Tanh]        // 0-1: 12×23×19
[Conv(3, 3, @in: 12, @out: 16, stride: 2, groups: 4), Sigmoid]   // 2-3: 16×11×9
[Conv(3, 3, @in: 16, @out: 16, pad: 1, groups: 16), Relu]        // 4-5: 16×11×9 (depthwise)
[Conv(1, 1, @in: 16, @out: 20)]                                  // 6: 20×11×9
[AvgPool(3, stride: 2, pad: 1)]                                  // 7: 20×6×5
[Conv(2, 2, @in: 20, @out: 8, Same = true)]                      // 8: 8×6×5 (pads 0 top/left, 1 bottom/right)
[MaxPool(2, stride: 1)]                                          // 9: 8×5×4
[GlobalAvgPool, Flatten]                                         // 10-11: 8
[Linear(8, 5)]                                                   // 12
public partial class PeerMixed;

/// <summary>
/// Three 3x3 layers that run as Winograd F(2×2, 3×3), forward and backward-data: on the NCHW input with padding, unpadded,
/// padded. The last two (weights over 16,384 packed floats) also run their weight gradient as Winograd F(3×3, 2×2).
/// </summary>
[Input(32, 8, 10)]
[Conv(3, 3, @in: 32, @out: 32, pad: 1), Relu]                    // 0-1: 32×8×10
[Conv(3, 3, @in: 32, @out: 64), Relu]                            // 2-3: 64×6×8
[Conv(3, 3, @in: 64, @out: 64, pad: 1)]                          // 4: 64×6×8
[GlobalAvgPool, Flatten]                                         // 5-6: 64
[Linear(64, 10)]                                                 // 7
public partial class PeerWinograd;

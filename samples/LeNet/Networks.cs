using ConvGen;

namespace ConvGen.Samples.LeNet;

/// <summary>
/// LeNet-5 as it is trained today (the PyTorch tutorials' version): ReLU and max pooling, the first convolution padded
/// so that 28×28 Fashion-MNIST images come out of the two conv/pool stages as 16×5×5 = 400 features, as LeNet's 32×32
/// inputs did. 61,706 parameters.
/// </summary>
[Input(1, 28, 28)]
[Conv(5, 5, pad: 2, @in: 1, @out: 6), Relu, MaxPool(2)]
[Conv(5, 5, @in: 6, @out: 16), Relu, MaxPool(2)]
[Flatten, Linear(400, 120), Relu, Linear(120, 84), Relu, Linear(84, 10)]
public partial class ModernLeNet;

/// <summary>
/// The same shapes with LeCun's 1998 nonlinearities: sigmoid after every layer but the last, average pooling
/// ("subsampling") instead of max pooling. Trains with the same settings, more slowly.
/// </summary>
[Input(1, 28, 28)]
[Conv(5, 5, pad: 2, @in: 1, @out: 6), Sigmoid, AvgPool(2)]
[Conv(5, 5, @in: 6, @out: 16), Sigmoid, AvgPool(2)]
[Flatten, Linear(400, 120), Sigmoid, Linear(120, 84), Sigmoid, Linear(84, 10)]
public partial class ClassicLeNet;

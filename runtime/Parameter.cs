using System;
using System.Collections.Generic;

namespace ConvGen;

/// <summary>
/// A learnable tensor. Its values live in the network's internal (packed) layout, which the kernels read directly;
/// <see cref="CopyTo"/> and <see cref="CopyFrom"/> convert to and from PyTorch's layout (OIHW, <c>[out, in]</c>, <c>[n]</c>).
/// </summary>
public sealed class Parameter
{
    private readonly ParameterLayout _layout;

    /// <summary>Creates a parameter with zeroed packed storage.</summary>
    /// <exception cref="ArgumentException">A negative dimension, or a shape whose size is not the layout's.</exception>
    public Parameter(string name, int[] shape, ParameterLayout layout)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(layout);
        Name = name;
        // A copy: the caller's array could change after the checks, and Save writes this shape.
        shape = (int[])shape.Clone();
        _shapeArray = shape;
        Shape = Array.AsReadOnly(shape);
        if (Array.Exists(shape, d => d < 0))
            throw new ArgumentException($"Parameter '{name}': shape [{string.Join(", ", shape)}] has a negative dimension.", nameof(shape));
        // Saturates above int.MaxValue (no overflow whatever the dimensions); a zero dimension makes the size 0.
        long length = Array.IndexOf(shape, 0) >= 0 ? 0 : 1;
        foreach (int d in shape) length = length > int.MaxValue ? length : length * d;
        if (length != layout.Length)
            throw new ArgumentException($"Parameter '{name}': shape [{string.Join(", ", shape)}] has {(length > int.MaxValue ? "more than int.MaxValue" : length)} values but the layout holds {layout.Length}.", nameof(shape));
        Length = (int)length;
        _layout = layout;
        // Pinned, so generated kernels can keep a raw pointer to the values for the parameter's lifetime.
        Values = GC.AllocateArray<float>(layout.PackedLength, pinned: true);
        Gradient = GC.AllocateArray<float>(layout.PackedLength, pinned: true);
    }

    private readonly int[] _shapeArray;

    /// <summary>The state-dict key of the equivalent <c>torch.nn.Sequential</c>, e.g. <c>"0.weight"</c>.</summary>
    public string Name { get; }

    /// <summary>Shape in PyTorch layout.</summary>
    public IReadOnlyList<int> Shape { get; }

    /// <summary>Number of values in PyTorch layout.</summary>
    public int Length { get; }

    /// <summary>The packed values as the kernels read them (internal layout; padding lanes are zero).</summary>
    public float[] Values { get; }

    /// <summary>
    /// The accumulated gradient in the same packed layout as <see cref="Values"/> (padding slots stay zero), so optimizers
    /// update the packed values element by element. <c>Backward</c> adds to it; <see cref="ZeroGradient"/> clears it.
    /// </summary>
    public float[] Gradient { get; }

    /// <summary>Sets the accumulated gradient to zero.</summary>
    public void ZeroGradient() => Array.Clear(Gradient);

    /// <summary>Writes the accumulated gradient to <paramref name="destination"/> in PyTorch layout.</summary>
    public void CopyGradientTo(Span<float> destination)
    {
        CheckLength(destination.Length, nameof(destination));
        _layout.Unpack(Gradient, destination[..Length]);
    }

    /// <summary>Address of <see cref="Gradient"/>[0] (the array is pinned); for generated kernels.</summary>
    [System.ComponentModel.EditorBrowsable(System.ComponentModel.EditorBrowsableState.Never)]
    public unsafe float* GradientPointer => (float*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(Gradient));

    /// <summary>The packing, for kernels and tools that convert layouts.</summary>
    public ParameterLayout Layout => _layout;

    /// <summary>Address of <see cref="Values"/>[0] (the array is pinned); for generated kernels.</summary>
    [System.ComponentModel.EditorBrowsable(System.ComponentModel.EditorBrowsableState.Never)]
    public unsafe float* Pointer => (float*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(Values));

    /// <summary>Writes the values to <paramref name="destination"/> in PyTorch layout.</summary>
    public void CopyTo(Span<float> destination)
    {
        CheckLength(destination.Length, nameof(destination));
        _layout.Unpack(Values, destination[..Length]);
    }

    /// <summary>Reads the values from <paramref name="source"/> in PyTorch layout.</summary>
    public void CopyFrom(ReadOnlySpan<float> source)
    {
        CheckLength(source.Length, nameof(source));
        _layout.Pack(source[..Length], Values);
    }

    internal int[] ShapeArray => _shapeArray;

    private void CheckLength(int given, string argument)
    {
        if (given != Length)
            throw new ArgumentException(
                $"Parameter '{Name}' [{string.Join(", ", _shapeArray)}] has {Length} values, but the span holds {given}.", argument);
    }
}

using System;
using System.IO;
using ConvGen.Data;

namespace ConvGen.Training;

/// <summary>
/// Labelled samples held in memory: <see cref="Count"/> samples of <see cref="SampleLength"/> floats each, one after
/// another (an NCHW batch of the whole set), and one class label per sample.
/// </summary>
public sealed class InMemoryDataset
{
    /// <summary>Wraps the arrays (not copied).</summary>
    /// <param name="images"><c>labels.Length × sampleLength</c> floats.</param>
    /// <param name="labels">One class index per sample.</param>
    /// <param name="sampleLength">Floats per sample (the network's <see cref="INetwork.InputLength"/>).</param>
    /// <exception cref="ArgumentException">The lengths do not fit together; the message names expected and actual lengths.</exception>
    public InMemoryDataset(float[] images, byte[] labels, int sampleLength)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(labels);
        if (sampleLength < 1)
            throw new ArgumentOutOfRangeException(nameof(sampleLength), $"sampleLength must be at least 1, was {sampleLength}.");
        if (images.Length != (long)labels.Length * sampleLength)
            throw new ArgumentException(
                $"images holds {images.Length} floats, expected {(long)labels.Length * sampleLength} = {labels.Length} labels × {sampleLength} floats per sample.",
                nameof(images));
        Images = images;
        Labels = labels;
        SampleLength = sampleLength;
    }

    /// <summary>Reads an IDX image file and its label file (see <see cref="Idx"/>); pixels are scaled to [0, 1].</summary>
    /// <param name="imagesPath">An IDX3 unsigned-byte image file, raw or gzip-compressed.</param>
    /// <param name="labelsPath">The matching IDX1 label file.</param>
    /// <returns>The samples, each <c>rows × cols</c> floats.</returns>
    /// <exception cref="ArgumentException">The files hold different numbers of samples.</exception>
    /// <exception cref="InvalidDataException">A file is not a valid IDX file of its kind, or its images have no pixels.</exception>
    public static InMemoryDataset FromIdx(string imagesPath, string labelsPath)
    {
        var (pixels, count, rows, cols) = Idx.ReadImages(imagesPath);
        if ((long)rows * cols == 0)
            throw new InvalidDataException($"IDX file '{imagesPath}' holds images of {rows}x{cols} pixels: a sample needs at least one.");
        byte[] labels = Idx.ReadLabels(labelsPath);
        if (labels.Length != count)
            throw new ArgumentException($"'{imagesPath}' holds {count} images but '{labelsPath}' holds {labels.Length} labels.", nameof(labelsPath));
        return new InMemoryDataset(pixels, labels, rows * cols);
    }

    /// <summary>All samples, one after another.</summary>
    public float[] Images { get; }

    /// <summary>One class index per sample.</summary>
    public byte[] Labels { get; }

    /// <summary>Floats per sample.</summary>
    public int SampleLength { get; }

    /// <summary>Number of samples.</summary>
    public int Count => Labels.Length;

    /// <summary>The floats of sample <paramref name="index"/>.</summary>
    /// <param name="index">In <c>[0, Count)</c>.</param>
    /// <returns>A view of <see cref="Images"/>.</returns>
    public ReadOnlySpan<float> Sample(int index) => (uint)index < (uint)Count
        ? Images.AsSpan((int)((long)index * SampleLength), SampleLength)
        : throw new ArgumentOutOfRangeException(nameof(index), $"index must be in [0, {Count}), was {index}.");
}

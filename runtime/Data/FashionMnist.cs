using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;

namespace ConvGen.Data;

/// <summary>The four files of a Fashion-MNIST copy (each raw or gzip-compressed IDX; read them with <see cref="Idx"/>).</summary>
/// <param name="Directory">The folder they were found in.</param>
/// <param name="TrainImages">60,000 training images, 28×28 (IDX3).</param>
/// <param name="TrainLabels">60,000 training labels (IDX1).</param>
/// <param name="TestImages">10,000 test images, 28×28 (IDX3).</param>
/// <param name="TestLabels">10,000 test labels (IDX1).</param>
public sealed record FashionMnistFiles(string Directory, string TrainImages, string TrainLabels, string TestImages, string TestLabels);

/// <summary>
/// Finds Fashion-MNIST (Zalando's 28×28 grayscale clothing images, 10 classes) on this machine. Debian's
/// <c>dataset-fashion-mnist</c> package installs it in <see cref="DebianDirectory"/>; the environment variable
/// <see cref="EnvironmentVariable"/> can name another folder holding the same four files.
/// </summary>
public static class FashionMnist
{
    /// <summary>Environment variable naming a folder with the four files; searched before <see cref="DebianDirectory"/>.</summary>
    public const string EnvironmentVariable = "CONVGEN_FASHION_MNIST";

    /// <summary>Where Debian's <c>dataset-fashion-mnist</c> package puts the files.</summary>
    public const string DebianDirectory = "/usr/share/datasets/fashion-mnist";

    /// <summary>What to do when the data set is missing; part of the message of <see cref="Locate()"/>'s exception.</summary>
    public const string InstallHint = "run scripts/setup.sh (or: apt-get install dataset-fashion-mnist), or set " +
                                      EnvironmentVariable + " to a folder holding the four Fashion-MNIST IDX files";

    /// <summary>Image size: every image is <c>Rows × Cols</c> = 28×28, one channel.</summary>
    public const int Rows = 28, Cols = 28;

    /// <summary>The class names, indexed by label (0 = T-shirt/top … 9 = Ankle boot).</summary>
    public static IReadOnlyList<string> ClassNames { get; } = Array.AsReadOnly(new[]
    {
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    });

    /// <summary>
    /// Finds the data set: first in the folder named by <see cref="EnvironmentVariable"/> (when set), then in
    /// <see cref="DebianDirectory"/>.
    /// </summary>
    /// <returns>The paths of the four files in the first folder that holds all of them.</returns>
    /// <exception cref="FileNotFoundException">No searched folder holds all four files; the message lists what was
    /// searched and says how to install the data set.</exception>
    public static FashionMnistFiles Locate() => Locate(SearchDirectories());

    /// <summary>The folders <see cref="Locate()"/> searches, in order.</summary>
    public static IReadOnlyList<string> SearchDirectories()
    {
        var list = new List<string>();
        string? fromEnvironment = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(fromEnvironment)) list.Add(fromEnvironment);
        list.Add(DebianDirectory);
        return list;
    }

    /// <summary>
    /// Finds the data set in the first of <paramref name="directories"/> that holds all four files. Each file may be
    /// gzip-compressed as distributed (<c>t10k-images-idx3-ubyte.gz</c>) or already unpacked (<c>t10k-images-idx3-ubyte</c>);
    /// the compressed name is preferred when both exist.
    /// </summary>
    /// <param name="directories">Folders to search, in order.</param>
    /// <returns>The paths of the four files.</returns>
    /// <exception cref="FileNotFoundException">No folder holds all four files.</exception>
    /// <exception cref="ArgumentException">An entry of <paramref name="directories"/> is null.</exception>
    public static FashionMnistFiles Locate(IEnumerable<string> directories)
    {
        ArgumentNullException.ThrowIfNull(directories);
        var folders = new List<string>(directories);
        int missing = folders.IndexOf(null!);
        if (missing >= 0) throw new ArgumentException($"directories holds a null folder (entry {missing}).", nameof(directories));
        var searched = new List<string>();
        foreach (string directory in folders)
        {
            string? trainImages = Find(directory, "train-images-idx3-ubyte");
            string? trainLabels = Find(directory, "train-labels-idx1-ubyte");
            string? testImages = Find(directory, "t10k-images-idx3-ubyte");
            string? testLabels = Find(directory, "t10k-labels-idx1-ubyte");
            if (trainImages is not null && trainLabels is not null && testImages is not null && testLabels is not null)
                return new FashionMnistFiles(directory, trainImages, trainLabels, testImages, testLabels);
            searched.Add(!System.IO.Directory.Exists(directory) ? $"{directory} (no such folder)"
                : $"{directory} (missing {string.Join(", ", Missing(trainImages, trainLabels, testImages, testLabels))})");
        }
        throw new FileNotFoundException(
            $"Fashion-MNIST not found. Searched: {(searched.Count == 0 ? "nothing" : string.Join("; ", searched))}. To install it, {InstallHint}.");
    }

    private static string? Find(string directory, string baseName)
    {
        string gz = Path.Combine(directory, baseName + ".gz");
        if (File.Exists(gz)) return gz;
        string raw = Path.Combine(directory, baseName);
        return File.Exists(raw) ? raw : null;
    }

    private static IEnumerable<string> Missing(string? trainImages, string? trainLabels, string? testImages, string? testLabels)
    {
        var all = new (string? Path, string Name)[]
        {
            (trainImages, "train-images-idx3-ubyte[.gz]"), (trainLabels, "train-labels-idx1-ubyte[.gz]"),
            (testImages, "t10k-images-idx3-ubyte[.gz]"), (testLabels, "t10k-labels-idx1-ubyte[.gz]"),
        };
        return all.Where(f => f.Path is null).Select(f => f.Name);
    }
}

using System;
using System.Collections.Generic;

namespace ConvGen.Samples.Filters;

/// <summary>
/// Stand-in input when Fashion-MNIST is not installed: simple shapes with clear edges, flat areas and fine texture,
/// so every filter has something to show. Deterministic (fixed seed).
/// </summary>
public static class SyntheticImages
{
    /// <summary>The patterns, in the order image <c>i</c> cycles through them (<c>i % count</c>).</summary>
    public static IReadOnlyList<string> PatternNames { get; } =
        ["disk", "square", "ring", "cross", "triangle", "stripes", "checkerboard", "gradient", "blob", "noise"];

    /// <summary><paramref name="count"/> images of <paramref name="h"/>×<paramref name="w"/>, values in [0, 1], NCHW.</summary>
    public static float[] Make(int count, int h, int w)
    {
        var images = new float[count * h * w];
        var random = new Random(12345);
        for (int n = 0; n < count; n++)
        {
            // Jitter position and size after the first cycle, so the batch is not ten images repeated.
            bool jitter = n >= PatternNames.Count;
            float cy = (h - 1) / 2f + (jitter ? random.Next(-3, 4) : 0);
            float cx = (w - 1) / 2f + (jitter ? random.Next(-3, 4) : 0);
            float size = Math.Min(h, w) * (jitter ? 0.25f + 0.1f * random.NextSingle() : 0.3f);
            Span<float> image = images.AsSpan(n * h * w, h * w);
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    float dy = y - cy, dx = x - cx, r = MathF.Sqrt(dx * dx + dy * dy);
                    image[y * w + x] = (n % PatternNames.Count) switch
                    {
                        0 => r <= size ? 1f : 0f,
                        1 => Math.Abs(dx) <= size && Math.Abs(dy) <= size ? 0.8f : 0.1f,
                        2 => Math.Abs(r - size) <= 2f ? 1f : 0f,
                        3 => Math.Abs(dx) <= 2f || Math.Abs(dy) <= 2f ? 0.9f : 0.2f,
                        4 => dy <= size && dy >= -size && Math.Abs(dx) <= (dy + size) / 2 ? 1f : 0f,
                        5 => (x + y) / 4 % 2 == 0 ? 0.85f : 0.15f,
                        6 => (x / 7 + y / 7) % 2 == 0 ? 1f : 0f,
                        7 => (float)x / (w - 1),
                        8 => MathF.Exp(-r * r / (2 * size * size / 4)),
                        _ => random.NextSingle(),
                    };
                }
        }
        return images;
    }
}

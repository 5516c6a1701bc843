using System;

namespace ConvGen;

/// <summary>PyTorch's default initialisation for Conv2d and Linear, made deterministic by a seed.</summary>
public static class ParameterInit
{
    /// <summary>
    /// <c>kaiming_uniform_(a=√5)</c> for the weight and <c>uniform(±1/√fan_in)</c> for the bias: both reduce to
    /// <c>U(-1/√fan_in, 1/√fan_in)</c>, where <c>fan_in</c> = input channels per group × kernel area (or input features).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="fanIn"/> is below 1 (1/√0 would fill the parameter with infinities).</exception>
    public static void Uniform(Parameter parameter, int fanIn, Random random)
    {
        ArgumentNullException.ThrowIfNull(parameter);
        ArgumentNullException.ThrowIfNull(random);
        if (fanIn < 1) throw new ArgumentOutOfRangeException(nameof(fanIn), $"fanIn must be at least 1, was {fanIn}.");
        float bound = 1f / MathF.Sqrt(fanIn);
        var values = new float[parameter.Length];
        for (int i = 0; i < values.Length; i++) values[i] = (float)(random.NextDouble() * 2 - 1) * bound;
        parameter.CopyFrom(values);
    }
}

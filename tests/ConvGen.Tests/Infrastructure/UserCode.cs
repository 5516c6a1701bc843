namespace ConvGen.Tests.Infrastructure;

/// <summary>Source a user writes against a generated network, for tests that compile it beside one.</summary>
public static class UserCode
{
    /// <summary>
    /// Code that touches every public member of network <paramref name="className"/> in namespace
    /// <paramref name="ns"/>: construct, run, train a step, save and load, read every constant and table.
    /// </summary>
    public static string TouchingEveryMember(string className, string ns) => Template
        .Replace("NET", className, System.StringComparison.Ordinal)
        .Replace("NAMESPACE", ns, System.StringComparison.Ordinal);

    private const string Template = """
        using System;
        using ConvGen;
        namespace NAMESPACE;
        public static class App
        {
            public static double Run(string path)
            {
                var net = new NET(seed: 1);
                var other = new NET();
                var input = new float[2 * NET.InputLength];
                var output = new float[2 * NET.OutputLength];
                net.RecordForBackward = !other.RecordForBackward;
                net.Forward(input, output, 2);
                net.Backward(output, Span<float>.Empty, 2);
                ((INetwork)net).ZeroGrad();
                double sum = 0;
                foreach (Parameter p in net.Parameters) sum += p.Length + p.Gradient[0];
                net.Save(path);
                net.Load(path);
                INetwork any = net;
                Console.WriteLine(NET.Summary() + NET.LayerTable.Count + NET.OutputShape[0] + any.Layers.Count + any.OutputShape.Count);
                const long perSample = NET.WorkspaceFloatsPerSample + NET.RecordedFloatsPerSample + NET.GradientFloatsPerSample;
                return sum + perSample + any.InputLength + any.OutputLength;
            }
        }
        """;
}

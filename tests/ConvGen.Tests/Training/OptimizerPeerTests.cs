using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using ConvGen.Training;
using Xunit;
using Xunit.Abstractions;

namespace ConvGen.Tests.Training;

/// <summary>
/// Optimizer trajectories, learning-rate schedules and losses against PyTorch 1.13, from the data of
/// <c>tests/peer/make_optim_peer.py</c> (manifest <c>optim.json</c>). The parameter is a <see cref="Parameter"/> with
/// <see cref="ParameterLayout.Vector"/> of 1,003 values packed into 1,008 floats: the 5 padding slots must stay exactly
/// 0. Trajectories must be bit-identical to PyTorch's at every step (docs/training.md promises it); the learning rate
/// is passed as the double PyTorch was given. With AVX2 off the optimizers take their scalar loops: the same bits.
/// </summary>
[Trait("Category", "Correctness")]
public sealed class OptimizerPeerTests(ITestOutputHelper output)
{
    private const double Relative = 1e-6;

    private static JsonElement Manifest()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(PeerData.File("optim.json")));
        return doc.RootElement.Clone();
    }

    // The case names are listed here (not read from the manifest) so that missing data fails the tests rather than
    // silently discovering none; OptimizerCasesMatchTheManifest checks that the list and the manifest agree.
    private static readonly string[] CaseNames =
    [
        "sgd", "sgd_momentum", "sgd_nesterov", "sgd_dampening", "adam", "adam_betas", "adamw", "adamw_strong_decay",
        "adamw_steplr", "sgd_nesterov_steplr",
    ];

    public static TheoryData<string> Cases() => new(CaseNames);

    [Fact]
    public void OptimizerCasesMatchTheManifest()
    {
        var names = Manifest().GetProperty("cases").EnumerateArray().Select(c => c.GetProperty("name").GetString()).ToList();
        Assert.Equal(CaseNames.OrderBy(n => n), names.OrderBy(n => n));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void TrajectoryMatchesPyTorch(string name)
    {
        var manifest = Manifest();
        int length = manifest.GetProperty("length").GetInt32(), steps = manifest.GetProperty("steps").GetInt32();
        var spec = manifest.GetProperty("cases").EnumerateArray().Single(c => c.GetProperty("name").GetString() == name);
        float[] init = PeerData.ReadFloats(PeerData.File(manifest.GetProperty("init").GetString()!));
        float[] grads = PeerData.ReadFloats(PeerData.File(manifest.GetProperty("grads").GetString()!));
        float[] expected = PeerData.ReadFloats(PeerData.File(spec.GetProperty("file").GetString()!));
        Assert.Equal(length, init.Length);
        Assert.Equal(steps * length, grads.Length);
        Assert.Equal(steps * length, expected.Length);

        var parameter = new Parameter("p", [length], ParameterLayout.Vector(length));
        Assert.True(parameter.Values.Length > length, "the test needs padding slots");
        parameter.CopyFrom(init);
        var optimizer = Create(spec, parameter);
        LearningRateSchedule? schedule = spec.GetProperty("step_lr").ValueKind == JsonValueKind.Object
            ? new StepLR(spec.GetProperty("lr").GetDouble(), spec.GetProperty("step_lr").GetProperty("step_size").GetInt32(),
                         spec.GetProperty("step_lr").GetProperty("gamma").GetDouble())
            : null;
        var torchLr = spec.GetProperty("lr_per_step").EnumerateArray().Select(e => e.GetDouble()).ToArray();

        var actual = new float[length];
        double worst = 0;
        int different = 0;
        string? first = null;
        for (int s = 0; s < steps; s++)
        {
            if (schedule is not null) optimizer.LearningRate = schedule.LearningRateAt(s);
            Assert.True(Math.Abs(optimizer.LearningRate - torchLr[s]) <= 1e-7 * torchLr[s],
                        $"{name} step {s + 1}: learning rate {optimizer.LearningRate}, PyTorch used {torchLr[s]}");
            optimizer.ZeroGrad();
            // Gradients arrive in PyTorch layout; packing them leaves 0 in the padding slots, as Backward does.
            parameter.Layout.Pack(grads.AsSpan(s * length, length), parameter.Gradient);
            optimizer.Step();

            parameter.CopyTo(actual);
            for (int i = 0; i < length; i++)
            {
                float e = expected[s * length + i], a = actual[i];
                if (BitConverter.SingleToInt32Bits(a) == BitConverter.SingleToInt32Bits(e)) continue;
                different++;
                worst = Math.Max(worst, Math.Abs((double)a - e) / Math.Abs(e));
                first ??= string.Create(CultureInfo.InvariantCulture, $"after step {s + 1}, value {i} is {a:R}, PyTorch has {e:R}");
            }
            for (int i = length; i < parameter.Values.Length; i++)
                Assert.True(parameter.Values[i] == 0, $"{name}: padding slot {i} became {parameter.Values[i]} after step {s + 1}");
        }
        Assert.Equal(steps, optimizer.StepCount);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{name}: {steps} steps × {length} values, {different} differ from PyTorch's bits (worst relative difference {worst:G3})"));
        Assert.True(different == 0, string.Create(CultureInfo.InvariantCulture,
            $"{name}: {different} of {steps * length} values differ from PyTorch's (worst relative difference {worst:G3}); first: {first}"));
    }

    private static Optimizer Create(JsonElement spec, Parameter parameter)
    {
        double lr = spec.GetProperty("lr").GetDouble();
        double wd = spec.GetProperty("weight_decay").GetDouble();
        var betas = spec.GetProperty("betas").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        double eps = spec.GetProperty("eps").GetDouble();
        return spec.GetProperty("optimizer").GetString() switch
        {
            "sgd" => new Sgd([parameter], lr, momentum: spec.GetProperty("momentum").GetDouble(), dampening: spec.GetProperty("dampening").GetDouble(),
                             weightDecay: wd, nesterov: spec.GetProperty("nesterov").GetBoolean()),
            "adam" => new Adam([parameter], lr, betas[0], betas[1], eps, wd),
            "adamw" => new AdamW([parameter], lr, betas[0], betas[1], eps, wd),
            var other => throw new InvalidDataException($"unknown optimizer '{other}' in optim.json"),
        };
    }

    [Fact]
    public void SchedulesMatchPyTorch()
    {
        foreach (var spec in Manifest().GetProperty("schedules").EnumerateArray())
        {
            string name = spec.GetProperty("name").GetString()!;
            double baseLr = spec.GetProperty("base_lr").GetDouble();
            LearningRateSchedule schedule = spec.GetProperty("kind").GetString() switch
            {
                "step" => new StepLR(baseLr, spec.GetProperty("step_size").GetInt32(), spec.GetProperty("gamma").GetDouble()),
                "cosine" => new CosineAnnealingLR(baseLr, spec.GetProperty("t_max").GetInt32(), spec.GetProperty("eta_min").GetDouble()),
                var other => throw new InvalidDataException($"unknown schedule '{other}' in optim.json"),
            };
            var lrs = spec.GetProperty("lr").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            double worst = 0;
            for (int epoch = 0; epoch < lrs.Length; epoch++)
            {
                double e = lrs[epoch], a = schedule.LearningRateAt(epoch);
                double difference = Math.Abs(a - e);
                Assert.True(difference <= Relative * Math.Abs(e) + 1e-12, string.Create(CultureInfo.InvariantCulture,
                    $"{name}: epoch {epoch}: {a:R}, PyTorch {e:R}"));
                if (e != 0) worst = Math.Max(worst, difference / Math.Abs(e));
            }
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{name}: {lrs.Length} epochs, worst relative difference from PyTorch {worst:G3}"));
        }
    }

    [Fact]
    public void LossesMatchPyTorch()
    {
        var losses = Manifest().GetProperty("losses");
        static float[] Floats(JsonElement e) => e.EnumerateArray().Select(v => (float)v.GetDouble()).ToArray();

        var ce = losses.EnumerateArray().Single(c => c.GetProperty("name").GetString() == "cross_entropy");
        float[] logits = Floats(ce.GetProperty("logits")), expectedGradient = Floats(ce.GetProperty("grad"));
        int[] labels = ce.GetProperty("labels").EnumerateArray().Select(v => v.GetInt32()).ToArray();
        int classes = ce.GetProperty("classes").GetInt32();
        var gradient = new float[logits.Length];
        float loss = SoftmaxCrossEntropy.Compute(logits, labels, classes, gradient);
        double expectedLoss = ce.GetProperty("loss").GetDouble();
        Assert.True(Math.Abs(loss - expectedLoss) <= Relative * Math.Abs(expectedLoss), $"cross-entropy {loss:R}, PyTorch {expectedLoss:R}");
        double worstGradient = 0;
        for (int i = 0; i < gradient.Length; i++)
        {
            double difference = Math.Abs(gradient[i] - expectedGradient[i]);
            Assert.True(difference <= Relative * Math.Abs(expectedGradient[i]) + 1e-9,
                        $"cross-entropy gradient[{i}] {gradient[i]:R}, PyTorch {expectedGradient[i]:R}");
            worstGradient = Math.Max(worstGradient, difference);
        }
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"cross_entropy: loss {loss:R} vs {expectedLoss:R} (relative {Math.Abs(loss - expectedLoss) / expectedLoss:G3}), worst |Δgrad| {worstGradient:G3}"));

        var mse = losses.EnumerateArray().Single(c => c.GetProperty("name").GetString() == "mse");
        float[] prediction = Floats(mse.GetProperty("prediction")), target = Floats(mse.GetProperty("target"));
        expectedGradient = Floats(mse.GetProperty("grad"));
        gradient = new float[prediction.Length];
        loss = MeanSquaredError.Compute(prediction, target, gradient);
        expectedLoss = mse.GetProperty("loss").GetDouble();
        Assert.True(Math.Abs(loss - expectedLoss) <= Relative * Math.Abs(expectedLoss), $"MSE {loss:R}, PyTorch {expectedLoss:R}");
        worstGradient = 0;
        for (int i = 0; i < gradient.Length; i++)
        {
            double difference = Math.Abs(gradient[i] - expectedGradient[i]);
            Assert.True(difference <= Relative * Math.Abs(expectedGradient[i]) + 1e-9,
                        $"MSE gradient[{i}] {gradient[i]:R}, PyTorch {expectedGradient[i]:R}");
            worstGradient = Math.Max(worstGradient, difference);
        }
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"mse: loss {loss:R} vs {expectedLoss:R} (relative {Math.Abs(loss - expectedLoss) / expectedLoss:G3}), worst |Δgrad| {worstGradient:G3}"));
    }
}

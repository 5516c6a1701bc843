using System;
using System.Numerics;

namespace ConvGen.Training;

/// <summary>
/// Softmax followed by cross-entropy against class labels, averaged over the batch: PyTorch's
/// <c>F.cross_entropy(logits, labels)</c> (reduction <c>"mean"</c>). Works on raw logits, row after row
/// (<c>batch × classes</c>, the layout of a network's output), with a numerically stable log-sum-exp:
/// each sample's loss is <c>log Σⱼ exp(xⱼ − m) − (x_label − m)</c> with <c>m</c> the row's largest logit, summed in double.
/// </summary>
/// <remarks>
/// The gradient with respect to the logits is <c>(softmax(x) − onehot(label)) / batch</c>, the gradient of the mean,
/// so optimizer learning rates mean what they mean in PyTorch. Nothing is allocated per call.
/// A prediction is correct when the row's first largest logit (as <c>torch.argmax</c> picks it) is the label.
/// Non-finite logits give a non-finite loss; callers that train should check <see cref="float.IsFinite"/>.
/// </remarks>
public static class SoftmaxCrossEntropy
{
    /// <summary>Mean loss over the batch; writes ∂loss/∂logits to <paramref name="logitsGradient"/>.</summary>
    /// <param name="logits"><c>batch × classes</c> raw scores, one row per sample.</param>
    /// <param name="labels">One class index per sample, in <c>[0, classes)</c>; its length is the batch size.</param>
    /// <param name="classes">Scores per sample (the network's output length).</param>
    /// <param name="logitsGradient">Receives ∂loss/∂logits (<c>batch × classes</c> floats), or empty to skip the gradient.</param>
    /// <returns>The mean cross-entropy.</returns>
    /// <exception cref="ArgumentException">A length does not match (the message names the expected and actual lengths) or a label is out of range.</exception>
    public static float Compute(ReadOnlySpan<float> logits, ReadOnlySpan<byte> labels, int classes, Span<float> logitsGradient)
        => Core(logits, labels, classes, logitsGradient, out _);

    /// <summary>Mean loss over the batch; writes ∂loss/∂logits to <paramref name="logitsGradient"/> and counts correct predictions.</summary>
    /// <param name="logits"><c>batch × classes</c> raw scores, one row per sample.</param>
    /// <param name="labels">One class index per sample, in <c>[0, classes)</c>; its length is the batch size.</param>
    /// <param name="classes">Scores per sample (the network's output length).</param>
    /// <param name="logitsGradient">Receives ∂loss/∂logits (<c>batch × classes</c> floats), or empty to skip the gradient.</param>
    /// <param name="correct">Samples whose largest logit is at their label.</param>
    /// <returns>The mean cross-entropy.</returns>
    /// <exception cref="ArgumentException">A length does not match (the message names the expected and actual lengths) or a label is out of range.</exception>
    public static float Compute(ReadOnlySpan<float> logits, ReadOnlySpan<byte> labels, int classes, Span<float> logitsGradient, out int correct)
        => Core(logits, labels, classes, logitsGradient, out correct);

    /// <summary>Mean loss over the batch; writes ∂loss/∂logits to <paramref name="logitsGradient"/>.</summary>
    /// <param name="logits"><c>batch × classes</c> raw scores, one row per sample.</param>
    /// <param name="labels">One class index per sample, in <c>[0, classes)</c>; its length is the batch size.</param>
    /// <param name="classes">Scores per sample (the network's output length).</param>
    /// <param name="logitsGradient">Receives ∂loss/∂logits (<c>batch × classes</c> floats), or empty to skip the gradient.</param>
    /// <returns>The mean cross-entropy.</returns>
    /// <exception cref="ArgumentException">A length does not match (the message names the expected and actual lengths) or a label is out of range.</exception>
    public static float Compute(ReadOnlySpan<float> logits, ReadOnlySpan<int> labels, int classes, Span<float> logitsGradient)
        => Core(logits, labels, classes, logitsGradient, out _);

    /// <summary>Mean loss over the batch; writes ∂loss/∂logits to <paramref name="logitsGradient"/> and counts correct predictions.</summary>
    /// <param name="logits"><c>batch × classes</c> raw scores, one row per sample.</param>
    /// <param name="labels">One class index per sample, in <c>[0, classes)</c>; its length is the batch size.</param>
    /// <param name="classes">Scores per sample (the network's output length).</param>
    /// <param name="logitsGradient">Receives ∂loss/∂logits (<c>batch × classes</c> floats), or empty to skip the gradient.</param>
    /// <param name="correct">Samples whose largest logit is at their label.</param>
    /// <returns>The mean cross-entropy.</returns>
    /// <exception cref="ArgumentException">A length does not match (the message names the expected and actual lengths) or a label is out of range.</exception>
    public static float Compute(ReadOnlySpan<float> logits, ReadOnlySpan<int> labels, int classes, Span<float> logitsGradient, out int correct)
        => Core(logits, labels, classes, logitsGradient, out correct);

    /// <summary>Counts the samples whose first largest logit is at their label, without computing the loss.</summary>
    /// <param name="logits"><c>labels.Length × classes</c> raw scores.</param>
    /// <param name="labels">One class index per sample.</param>
    /// <param name="classes">Scores per sample.</param>
    /// <returns>The number of correct predictions.</returns>
    /// <exception cref="ArgumentException">The lengths do not match, or a label is outside <c>[0, classes)</c>.</exception>
    public static int CountCorrect(ReadOnlySpan<float> logits, ReadOnlySpan<byte> labels, int classes)
    {
        CheckShape(logits, labels.Length, classes, Span<float>.Empty);
        CheckLabels(labels, classes, "sample", ClassCount, "labels");
        int correct = 0;
        for (int n = 0; n < labels.Length; n++)
            if (ArgMax(logits.Slice(n * classes, classes)) == labels[n]) correct++;
        return correct;
    }

    /// <summary>Index of the first largest value of <paramref name="row"/> (NaNs are skipped unless all values are NaN, then 0).</summary>
    /// <param name="row">One sample's scores; must not be empty.</param>
    /// <returns>The predicted class.</returns>
    public static int ArgMax(ReadOnlySpan<float> row)
    {
        if (row.IsEmpty) throw new ArgumentException("ArgMax of an empty row is undefined.", nameof(row));
        int best = 0;
        float max = row[0];
        for (int j = 1; j < row.Length; j++)
        {
            float x = row[j];
            if (x > max || (float.IsNaN(max) && !float.IsNaN(x))) { max = x; best = j; }
        }
        return best;
    }

    private static float Core<TLabel>(ReadOnlySpan<float> logits, ReadOnlySpan<TLabel> labels, int classes, Span<float> gradient, out int correct)
        where TLabel : IBinaryInteger<TLabel>
    {
        int batch = labels.Length;
        CheckShape(logits, batch, classes, gradient);
        CheckLabels(labels, classes, "sample", ClassCount, "labels");
        bool withGradient = !gradient.IsEmpty;
        double invBatch = 1.0 / batch, total = 0;
        correct = 0;
        for (int n = 0; n < batch; n++)
        {
            int label = int.CreateTruncating(labels[n]);
            var row = logits.Slice(n * classes, classes);
            int predicted = ArgMax(row);
            if (predicted == label) correct++;
            // The largest logit as the shift keeps every exp ≤ 1. As in PyTorch, a NaN or +∞ logit makes the loss NaN,
            // a −∞ one adds exp(−∞) = 0 (a finite loss, or +∞ when it is the label's).
            double max = row[predicted];
            double sum = 0;
            for (int j = 0; j < classes; j++) sum += Math.Exp(row[j] - max);
            total += Math.Log(sum) - (row[label] - max);
            if (withGradient)
            {
                var g = gradient.Slice(n * classes, classes);
                for (int j = 0; j < classes; j++)
                    g[j] = (float)((Math.Exp(row[j] - max) / sum - (j == label ? 1.0 : 0.0)) * invBatch);
            }
        }
        return (float)(total * invBatch);
    }

    private const string ClassCount = "{0} classes";

    // Every label before any row is computed, so that a bad one leaves the caller's gradient as it was; the trainer
    // checks whole data sets with it too. `what` names a sample ("sample", "train sample"), `count` says how many
    // classes there are ({0}: the number), built only for the message.
    internal static void CheckLabels<TLabel>(ReadOnlySpan<TLabel> labels, int classes, string what, string count, string argument)
        where TLabel : IBinaryInteger<TLabel>
    {
        for (int n = 0; n < labels.Length; n++)
            if (!(TLabel.IsPositive(labels[n]) || TLabel.IsZero(labels[n])) || int.CreateSaturating(labels[n]) >= classes)
                throw new ArgumentException(
                    $"Label {labels[n]} of {what} {n} is outside 0..{classes - 1} ({string.Format(System.Globalization.CultureInfo.InvariantCulture, count, classes)}).", argument);
    }

    private static void CheckShape(ReadOnlySpan<float> logits, int batch, int classes, Span<float> gradient)
    {
        if (classes < 1)
            throw new ArgumentOutOfRangeException(nameof(classes), $"classes must be at least 1, was {classes}.");
        if (batch == 0)
            throw new ArgumentException("labels is empty: the mean loss over a batch of 0 samples is undefined.", "labels");
        long expected = (long)batch * classes;
        string labels = batch == 1 ? "label" : "labels";
        if (logits.Length != expected)
        {
            // Usually the labels are the wrong count, not the logits: say how many samples the logits hold.
            string held = logits.Length % classes == 0 ? $" = {logits.Length / classes} samples × {classes} classes" : $", not a whole number of samples of {classes} classes";
            throw new ArgumentException(
                $"logits holds {logits.Length} floats{held}, but labels holds {batch} {labels}: expected {expected} = {batch} {labels} × {classes} classes.", nameof(logits));
        }
        if (!gradient.IsEmpty && gradient.Length != expected)
            throw new ArgumentException(
                $"logitsGradient holds {gradient.Length} floats, expected {expected} = {batch} {labels} × {classes} classes (or empty to skip the gradient).",
                "logitsGradient");
    }
}

/// <summary>
/// Squared error averaged over all elements: PyTorch's <c>nn.MSELoss()</c> (reduction <c>"mean"</c>), i.e.
/// <c>Σ (prediction − target)² / N</c> with <c>N</c> the number of floats (batch × features, not batch alone).
/// The gradient with respect to the prediction is <c>2 (prediction − target) / N</c>. Nothing is allocated per call.
/// </summary>
public static class MeanSquaredError
{
    /// <summary>The mean squared error, summed in double; writes ∂loss/∂prediction to <paramref name="predictionGradient"/>.</summary>
    /// <param name="prediction">The network's output, any number of floats.</param>
    /// <param name="target">The wanted output, as many floats.</param>
    /// <param name="predictionGradient">Receives ∂loss/∂prediction (as many floats), or empty to skip the gradient.</param>
    /// <returns>The mean of the squared differences.</returns>
    /// <exception cref="ArgumentException">The lengths differ (the message names both) or the prediction is empty.</exception>
    public static float Compute(ReadOnlySpan<float> prediction, ReadOnlySpan<float> target, Span<float> predictionGradient)
    {
        int n = prediction.Length;
        if (n == 0)
            throw new ArgumentException("prediction is empty: the mean over 0 elements is undefined.", nameof(prediction));
        if (target.Length != n)
            throw new ArgumentException($"target holds {target.Length} floats, expected {n} (the length of prediction).", nameof(target));
        bool withGradient = !predictionGradient.IsEmpty;
        if (withGradient && predictionGradient.Length != n)
            throw new ArgumentException(
                $"predictionGradient holds {predictionGradient.Length} floats, expected {n} (the length of prediction) or empty to skip the gradient.",
                nameof(predictionGradient));
        double sum = 0, scale = 2.0 / n;
        for (int i = 0; i < n; i++)
        {
            double d = (double)prediction[i] - target[i];
            sum += d * d;
            if (withGradient) predictionGradient[i] = (float)(scale * d);
        }
        return (float)(sum / n);
    }
}

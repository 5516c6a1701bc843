using System;
using ConvGen.Training;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace ConvGen.Samples.LeNet;

/// <summary>
/// Shows training as it goes: a live Spectre.Console progress bar on a terminal, plain lines otherwise (CI logs,
/// output redirected to a file). Both print the same table, one row per epoch.
/// </summary>
internal abstract class TrainingView
{
    /// <summary>A live view when standard output is an interactive ANSI terminal and <paramref name="forcePlain"/> is false.</summary>
    public static TrainingView Create(bool forcePlain)
    {
        var capabilities = AnsiConsole.Profile.Capabilities;
        bool live = !forcePlain && !Console.IsOutputRedirected && capabilities.Interactive && capabilities.Ansi;
        return live ? new LiveView() : new PlainView();
    }

    /// <summary>Prints the table header, then runs the training in <paramref name="body"/> (on this thread).</summary>
    public abstract T Run<T>(Func<T> body);

    /// <summary>The trainer's progress callback (on the training thread).</summary>
    public abstract void Batch(BatchProgress progress);

    /// <summary>The trainer's end-of-epoch callback; <paramref name="imagesPerSecond"/> is the epoch's training speed.</summary>
    public abstract void Epoch(EpochResult result, double imagesPerSecond);

    // 79 columns: a row fits an 80-column terminal without wrapping.
    protected const string Header = " epoch        lr  train loss  train acc   test loss  test acc    img/s  seconds";

    protected static string Row(EpochResult r, int epochs, double imagesPerSecond)
        => FormattableString.Invariant(
            $"{$"{r.Epoch}/{epochs}",6}{r.LearningRate,10:0.00e+00}{r.TrainLoss,12:F4}{100 * r.TrainAccuracy,10:F2}%{r.TestLoss ?? double.NaN,12:F4}{100 * (r.TestAccuracy ?? double.NaN),9:F2}%{imagesPerSecond,9:N0}{r.Seconds,9:F1}");

    private sealed class PlainView : TrainingView
    {
        private int _epochs, _epoch, _quarter;

        public override T Run<T>(Func<T> body)
        {
            Console.WriteLine(Header);
            return body();
        }

        // A line at 25, 50 and 75% of each epoch, so that a log shows the run is alive.
        public override void Batch(BatchProgress p)
        {
            _epochs = p.Epochs;
            if (p.Epoch != _epoch) (_epoch, _quarter) = (p.Epoch, 0);
            int quarter = 4 * p.Batch / p.Batches;
            if (quarter <= _quarter || p.Batch == p.Batches) return;
            _quarter = quarter;
            Console.WriteLine(FormattableString.Invariant(
                $"  {p.Epoch}/{p.Epochs} {25 * quarter,3}%: batch {p.Batch}/{p.Batches}, loss {p.RunningLoss:F4}, accuracy {100 * p.RunningAccuracy:F2}%, {p.ImagesPerSecond:N0} images/s"));
        }

        public override void Epoch(EpochResult result, double imagesPerSecond)
            => Console.WriteLine(Row(result, _epochs, imagesPerSecond));
    }

    private sealed class LiveView : TrainingView
    {
        private ProgressContext? _context;
        private ProgressTask? _task;
        private int _epochs;

        public override T Run<T>(Func<T> body)
        {
            Console.WriteLine(Header);
            // "epoch 10/10 ━━━━━━━━━━━━━━━━  45% loss 0.3123  acc 88.4%  12,345 img/s 00:00:03": the bar takes what the
            // terminal has left over (at least 10 columns), so the line never wraps.
            int barWidth = Math.Clamp(AnsiConsole.Profile.Width - 66, 10, 40);
            return AnsiConsole.Progress()
                .AutoClear(true)
                .HideCompleted(true)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn { Width = barWidth }, new PercentageColumn(), new MetricsColumn(),
                         new RemainingTimeColumn())
                .Start(context =>
                {
                    _context = context;
                    return body();
                });
        }

        public override void Batch(BatchProgress p)
        {
            _epochs = p.Epochs;
            // One unit per batch and one for the test pass that follows the last batch.
            _task ??= _context!.AddTask(FormattableString.Invariant($"epoch {p.Epoch}/{p.Epochs}"), autoStart: true, maxValue: p.Batches + 1);
            _task.State.Update<double>(MetricsColumn.Loss, _ => p.RunningLoss);
            _task.State.Update<double>(MetricsColumn.Accuracy, _ => p.RunningAccuracy);
            _task.State.Update<double>(MetricsColumn.Speed, _ => p.ImagesPerSecond);
            _task.Value = p.Batch;
            if (p.Batch == p.Batches) _task.State.Update<bool>(MetricsColumn.Testing, _ => true);
        }

        public override void Epoch(EpochResult result, double imagesPerSecond)
        {
            if (_task is not null)
            {
                _task.Value = _task.MaxValue;
                _task.StopTask();
                _task = null;
            }
            AnsiConsole.WriteLine(Row(result, _epochs, imagesPerSecond)); // drawn above the live bar
        }
    }

    /// <summary>The running training loss, accuracy and speed of the epoch a task stands for.</summary>
    private sealed class MetricsColumn : ProgressColumn
    {
        public const string Loss = "loss", Accuracy = "accuracy", Speed = "speed", Testing = "testing";

        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime)
        {
            if (task.State.Get<bool>(Testing)) return new Markup("evaluating on the test set…");
            double loss = task.State.Get<double>(Loss), accuracy = task.State.Get<double>(Accuracy), speed = task.State.Get<double>(Speed);
            return new Markup(FormattableString.Invariant(
                $"loss [bold]{loss:F4}[/]  acc [bold]{100 * accuracy:F1}%[/]  [grey]{speed,6:N0} img/s[/]"));
        }
    }
}

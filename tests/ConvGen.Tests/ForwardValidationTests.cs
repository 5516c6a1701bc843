using System;
using System.Globalization;
using ConvGen.Tests.Networks;
using Xunit;

namespace ConvGen.Tests;

/// <summary>Forward checks its arguments once, up front, and says what it expected and what it got.</summary>
public sealed class ForwardValidationTests
{
    private static readonly LeNet Net = new(seed: 1);

    private static string S(long value) => value.ToString(CultureInfo.InvariantCulture);

    [Theory]
    [InlineData(1, -1)]
    [InlineData(1, +1)]
    [InlineData(3, -784)]
    [InlineData(2, +784)]
    [InlineData(1, -784)]
    public void WrongInputLengthThrows(int batch, int delta)
    {
        int expected = batch * LeNet.InputLength, actual = expected + delta;
        var e = Assert.Throws<ArgumentException>(() => Net.Forward(new float[actual], new float[batch * LeNet.OutputLength], batch));
        Assert.Equal("input", e.ParamName);
        Assert.Contains(S(expected), e.Message, StringComparison.Ordinal);
        Assert.Contains(S(actual), e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1, -1)]
    [InlineData(1, +1)]
    [InlineData(4, -10)]
    [InlineData(2, +7)]
    public void WrongOutputLengthThrows(int batch, int delta)
    {
        int expected = batch * LeNet.OutputLength, actual = expected + delta;
        var e = Assert.Throws<ArgumentException>(() => Net.Forward(new float[batch * LeNet.InputLength], new float[actual], batch));
        Assert.Equal("output", e.ParamName);
        Assert.Contains(S(expected), e.Message, StringComparison.Ordinal);
        Assert.Contains(S(actual), e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(int.MinValue)]
    public void NonPositiveBatchThrows(int batch)
    {
        var e = Assert.Throws<ArgumentException>(() => Net.Forward(new float[LeNet.InputLength], new float[LeNet.OutputLength], batch));
        Assert.Equal("batch", e.ParamName);
        Assert.Contains(S(batch), e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void EmptySpansWithZeroBatchThrow()
        => Assert.Throws<ArgumentException>(() => Net.Forward([], [], 0));

    [Fact]
    public void HugeBatchDoesNotOverflowTheLengthCheck()
    {
        // batch × InputLength overflows int: the check must still fail cleanly rather than wrap around.
        int batch = int.MaxValue / LeNet.InputLength + 1;
        var e = Assert.Throws<ArgumentException>(() => Net.Forward(new float[LeNet.InputLength], new float[LeNet.OutputLength], batch));
        Assert.Equal("input", e.ParamName);
    }

    /// <summary>
    /// A recorded Forward whose tape would pass the largest array throws naming the batch, and the record of the
    /// Forward before it still stands: its Backward gives the same gradients as one run right after it.
    /// </summary>
    [Fact]
    public void ARecordedForwardTooLargeForOneArrayKeepsTheLastRecord()
    {
        int huge = (int)(Array.MaxLength / ExpandingNet.RecordedFloatsPerSample) + 1;
        var x = Infrastructure.NetworkCheck.RandomInput(new Random(3), 2 * ExpandingNet.InputLength);
        var g = Infrastructure.NetworkCheck.RandomInput(new Random(4), 2 * ExpandingNet.OutputLength);
        var y = new float[2 * ExpandingNet.OutputLength];
        var expected = new ExpandingNet(seed: 1);
        expected.Forward(x, y, 2);
        expected.Backward(g, Span<float>.Empty, 2);

        var net = new ExpandingNet(seed: 1);
        net.Forward(x, y, 2);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() =>
            net.Forward(new float[(long)huge * ExpandingNet.InputLength], new float[(long)huge * ExpandingNet.OutputLength], huge));
        Assert.Equal("batch", e.ParamName);
        Assert.Contains("use a smaller batch", e.Message);
        net.Backward(g, Span<float>.Empty, 2);
        Infrastructure.NetworkCheck.AssertSameGradients(expected, net);
    }

    /// <summary>
    /// The same for an unrecorded call whose one-pass workspace is too large (its output overlaps its input, so it
    /// cannot run in passes): it throws before it discards the record.
    /// </summary>
    [Fact]
    public void AnUnrecordedForwardTooLargeForOneArrayKeepsTheLastRecord()
    {
        int huge = (int)(Array.MaxLength / ExpandingNet.WorkspaceFloatsPerSample) + 1;
        var x = Infrastructure.NetworkCheck.RandomInput(new Random(3), 2 * ExpandingNet.InputLength);
        var g = Infrastructure.NetworkCheck.RandomInput(new Random(4), 2 * ExpandingNet.OutputLength);
        var net = new ExpandingNet(seed: 1);
        net.Forward(x, new float[2 * ExpandingNet.OutputLength], 2);
        net.RecordForBackward = false;
        var inPlace = new float[(long)huge * Math.Max(ExpandingNet.InputLength, ExpandingNet.OutputLength)];
        var e = Assert.Throws<ArgumentOutOfRangeException>(() =>
            net.Forward(inPlace.AsSpan(0, huge * ExpandingNet.InputLength), inPlace.AsSpan(0, huge * ExpandingNet.OutputLength), huge));
        Assert.Equal("batch", e.ParamName);
        net.Backward(g, Span<float>.Empty, 2); // the record of the first call still stands
    }

    /// <summary>
    /// Infer runs unrecorded and leaves the record alone, so it may run between a Forward and its Backward; an
    /// unrecorded Forward (RecordForBackward false) discards the record instead, and the Backward after it throws.
    /// Both compute what a recorded Forward does, bit for bit.
    /// </summary>
    [Fact]
    public void InferLeavesTheRecordAndAnUnrecordedForwardDiscardsIt()
    {
        var x = Infrastructure.NetworkCheck.RandomInput(new Random(5), 2 * LeNet.InputLength);
        var other = Infrastructure.NetworkCheck.RandomInput(new Random(6), 2 * LeNet.InputLength);
        var g = Infrastructure.NetworkCheck.RandomInput(new Random(7), 2 * LeNet.OutputLength);
        var expected = new LeNet(seed: 1);
        var recordedOther = new float[2 * LeNet.OutputLength];
        expected.Forward(other, recordedOther, 2);
        expected.Forward(x, new float[2 * LeNet.OutputLength], 2);
        expected.Backward(g, Span<float>.Empty, 2);

        var net = new LeNet(seed: 1);
        net.Forward(x, new float[2 * LeNet.OutputLength], 2);
        var inferred = new float[2 * LeNet.OutputLength];
        net.Infer(other, inferred, 2);
        Assert.Equal(recordedOther, inferred);
        Assert.True(net.RecordForBackward);
        net.Backward(g, Span<float>.Empty, 2);
        Infrastructure.NetworkCheck.AssertSameGradients(expected, net);

        net.RecordForBackward = false;
        var unrecorded = new float[2 * LeNet.OutputLength];
        net.Forward(other, unrecorded, 2);
        Assert.Equal(recordedOther, unrecorded);
        net.RecordForBackward = true;
        var stale = Assert.Throws<InvalidOperationException>(() => net.Backward(g, Span<float>.Empty, 2));
        Assert.Contains("there is none", stale.Message);
    }

    [Fact]
    public void FailedCallLeavesOutputUntouched()
    {
        var output = new float[LeNet.OutputLength + 1];
        output.AsSpan().Fill(42f);
        Assert.Throws<ArgumentException>(() => Net.Forward(new float[LeNet.InputLength], output, 1));
        Assert.All(output, v => Assert.Equal(42f, v));
    }
}

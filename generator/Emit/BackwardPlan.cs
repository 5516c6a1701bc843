using System.Collections.Generic;
using System.Linq;
using ConvGen.Generator.Model;

namespace ConvGen.Generator.Emit;

// The backward pass, planned from the forward plan in reverse. Every forward tensor has a gradient tensor of the same
// layout; activations work in place on it. Backward-data of a convolution or Linear layer is expressed as a forward
// layer of the same kind (output and input channels swapped, weights transposed and flipped), so it runs on the same
// register-tiled kernels: a convolution's output gradient is first spread onto a zero grid (stride − 1 zeros between
// values, d·(k−1) − pad of border) and then convolved with stride 1.

internal abstract record BackwardStep(bool InputOnly);

/// <summary>The caller's ∂loss/∂output (NCHW) into the internal layout, padding lanes zeroed.</summary>
internal sealed record GradientInStep(Tensor From, Tensor To) : BackwardStep(false);

/// <summary><c>∂X = ∂Y ⊙ f'(Y)</c> in place, from the activation's output.</summary>
internal sealed record ActivationGradStep(LayerKind Kind, int Layer, Tensor Output, Tensor Gradient, bool InputOnly) : BackwardStep(InputOnly);

/// <summary><c>∂B[o] += Σ ∂Z[n,o,…]</c>.</summary>
internal sealed record BiasGradStep(int Layer, Tensor Gradient, string Pointer) : BackwardStep(false);

/// <summary><c>∂W[o,i,ky,kx] += Σ ∂Z[n,o,y,x] · X[n,i,s·y+d·ky,s·x+d·kx]</c> over the padded input view.</summary>
internal sealed record ConvWeightGradStep(LayerModel Layer, Tensor Input, Tensor Gradient, string Pointer, string? MaskPointer) : BackwardStep(false);

/// <summary><c>∂W[o,i] += Σₙ ∂Y[n,o] · X[n,i]</c>.</summary>
internal sealed record LinearWeightGradStep(LayerModel Layer, Tensor Input, int Inputs, Tensor Gradient, string Pointer, string? MaskPointer) : BackwardStep(false);

/// <summary>Places ∂Z[y,x] at <c>(s·y + top, s·x + left)</c> of a zeroed grid (values falling outside are dropped).</summary>
internal sealed record SpreadStep(int Layer, Tensor From, Tensor To, int Stride, int Top, int Left, bool InputOnly) : BackwardStep(InputOnly);

/// <summary>A forward kernel run on gradients: backward-data of a convolution or Linear layer.</summary>
internal sealed record DataGradStep(Step Kernel, RepackedWeights Weights, bool InputOnly) : BackwardStep(InputOnly);

/// <summary>Routes ∂Y back through a pooling window: to the first maximum, or evenly over the window.</summary>
internal sealed record PoolGradStep(LayerModel Layer, Tensor Input, Tensor Output, Tensor GradY, Tensor GradX, bool InputOnly) : BackwardStep(InputOnly);

/// <summary>A layout copy of a gradient (towards the caller's ∂loss/∂input).</summary>
internal sealed record CopyGradStep(CopyStep Copy, bool InputOnly) : BackwardStep(InputOnly);

internal sealed class BackwardPlan
{
    public List<BackwardStep> Steps { get; } = new();
    /// <summary>Gradient tensors and spread grids, each with its own region of the gradient workspace.</summary>
    public List<Tensor> Tensors { get; } = new();
    public List<RepackedWeights> Repacked { get; } = new();
    public List<(ParameterPlan Weight, string Pointer)> Masks { get; } = new();
    public Tensor OutputGradient { get; private set; } = null!;
    public Tensor InputGradient { get; private set; } = null!;
    public long FloatsPerSample => Tensors.Sum(t => (long)t.Stride);

    private int _next;

    private Tensor New(bool blocked, int c, int h, int w, int stride)
    {
        var t = new Tensor($"G{_next++}", BufferKind.Scratch, blocked, c, h, w, stride);
        Tensors.Add(t);
        return t;
    }

    private Tensor Like(Tensor t) => New(t.Blocked, t.C, t.H, t.W, t.Stride);

    public static BackwardPlan Build(ExecutionPlan forward)
    {
        var plan = new BackwardPlan();
        var steps = forward.Steps;
        var output = (CopyStep)steps[steps.Count - 1];

        // A gradient is needed for the parameters only downstream of the first layer that has any; upstream of it,
        // gradients serve ∂loss/∂input alone and run only when the caller asks for it.
        var forParameters = new HashSet<string>();
        bool seenParameters = false;
        foreach (var step in steps)
        {
            if (step is ConvStep or LinearStep) seenParameters = true;
            if (seenParameters) forParameters.Add(step.To.Field);
        }
        bool InputOnly(Tensor t) => !forParameters.Contains(t.Field);
        var views = new HashSet<string>(steps.OfType<ConvStep>().Where(c => c.From != c.Source).Select(c => c.From.Field));

        plan.OutputGradient = output.To with { Field = "OutputGradient" };
        plan.InputGradient = forward.Input with { Field = "InputGradient" };
        var grad = new Dictionary<string, Tensor>();
        var last = plan.Like(output.From);
        plan.Steps.Add(new GradientInStep(plan.OutputGradient, last));
        grad[output.From.Field] = last;

        for (int i = steps.Count - 2; i >= 0; i--)
        {
            switch (steps[i])
            {
                case CopyStep copy when views.Contains(copy.To.Field):
                    break; // the convolution's backward-data writes ∂ of the unpadded source directly
                case CopyStep copy:
                {
                    if (!grad.TryGetValue(copy.To.Field, out var gy)) break;
                    var gx = plan.Like(copy.From);
                    plan.Steps.Add(new CopyGradStep(new CopyStep(gy, gx, 0, 0, "gradient back to NCHW"), InputOnly(copy.From)));
                    grad[copy.From.Field] = gx;
                    break;
                }
                case ActivationStep a:
                {
                    var gy = grad[a.To.Field];
                    plan.Steps.Add(new ActivationGradStep(a.Layer.Kind, a.Layer.Index, a.To, gy, InputOnly(a.From)));
                    grad[a.From.Field] = gy;
                    break;
                }
                case PoolStep p:
                {
                    var gx = plan.New(true, p.From.C, p.From.H, p.From.W, p.From.Stride);
                    plan.Steps.Add(new PoolGradStep(p.Layer, p.From, p.To, grad[p.To.Field], gx, InputOnly(p.From)));
                    grad[p.From.Field] = gx;
                    break;
                }
                case ConvStep c:
                    plan.AddConv(forward, c, grad, InputOnly(c.Source));
                    break;
                case LinearStep l:
                    plan.AddLinear(forward, l, grad, InputOnly(l.From));
                    break;
            }
        }
        if (grad.TryGetValue(forward.Input.Field, out var inputGradient))
            plan.Steps.Add(new CopyGradStep(new CopyStep(inputGradient, plan.InputGradient, 0, 0, "∂loss/∂input to the caller"), true));
        return plan;
    }

    /// <summary>
    /// A gradient in the layout and stride of its forward tensor, converting when the kernel that produced it writes
    /// another (an activation upstream works element-wise on both together).
    /// </summary>
    private Tensor InLayoutOf(Tensor forward, Tensor gradient, bool inputOnly)
    {
        if (gradient.Blocked == forward.Blocked && gradient.Stride == forward.Stride) return gradient;
        var converted = Like(forward);
        Steps.Add(new CopyGradStep(new CopyStep(gradient, converted, 0, 0, "gradient into its tensor's layout"), inputOnly));
        return converted;
    }

    /// <summary>
    /// The gradient steps of a Conv or Linear epilogue, last first: through the fused activation (in place on ∂Y), then
    /// the bias. Returns ∂Z and the layer's weight.
    /// </summary>
    private (Tensor Gradient, ParameterPlan Weight) AddEpilogueGradients(ExecutionPlan forward, LayerModel l, LayerKind? activation, Tensor output, Dictionary<string, Tensor> grad, bool blocked = false)
    {
        var gz = grad[output.Field];
        if (activation is { } act) Steps.Add(new ActivationGradStep(act, l.Index + 1, output, gz, false));
        if (blocked && !gz.Blocked)
        {
            // The bias, weight and data gradients of a planar depthwise layer run on NCHW8c.
            var gz8 = New(true, gz.C, gz.H, gz.W, Tensor.BlockedStride(gz.C, gz.H, gz.W));
            Steps.Add(new CopyGradStep(new CopyStep(gz, gz8, 0, 0, "∂Z into NCHW8c for the depthwise gradients"), false));
            gz = gz8;
        }
        if (l.Bias) Steps.Add(new BiasGradStep(l.Index, gz, Parameter(forward, l.Index, "bias").GradientPointer));
        return (gz, Parameter(forward, l.Index, "weight"));
    }

    private ParameterPlan Parameter(ExecutionPlan forward, int layer, string role)
        => forward.Parameters.Single(p => p.Layer == layer && p.Role == role);

    private void AddConv(ExecutionPlan forward, ConvStep c, Dictionary<string, Tensor> grad, bool inputOnly)
    {
        var l = c.Layer;
        var (gz, weight) = AddEpilogueGradients(forward, l, c.Activation, c.To, grad, blocked: c.Planar);
        var input = c.From;
        if (c.Planar)
        {
            // The forward kernel read NCHW in place; the weight-gradient kernel wants the zero-padded NCHW8c view.
            int paddedH = input.H + l.PadTop + l.PadBottom, paddedW = input.W + l.PadLeft + l.PadRight;
            input = New(true, input.C, paddedH, paddedW, Tensor.BlockedStride(input.C, paddedH, paddedW));
            Steps.Add(new CopyGradStep(new CopyStep(c.From, input, l.PadTop, l.PadLeft, "zero-padded NCHW8c copy of X for the weight gradient"), false));
        }
        string? mask = null;
        if (l.Groups > 1 && !l.IsDepthwise)
        {
            // Blocks that straddle groups hold structural zeros; their gradient must stay zero too.
            mask = $"L{l.Index}M";
            Masks.Add((weight, mask));
        }
        Steps.Add(new ConvWeightGradStep(l, input, gz, weight.GradientPointer, mask));

        var source = c.Source;
        int kh = l.KernelHeight, kw = l.KernelWidth, d = l.Dilation;
        int h = source.H + d * (kh - 1), w = source.W + d * (kw - 1);
        var grid = l.IsDepthwise ? New(true, l.Output.C, h, w, Tensor.BlockedStride(l.Output.C, h, w)) : New(false, l.Output.C, h, w, l.Output.C * h * w);
        int top = d * (kh - 1) - l.PadTop, left = d * (kw - 1) - l.PadLeft;
        if (l.Stride == 1 && !grid.Blocked && top >= 0 && left >= 0 && top + gz.H <= h && left + gz.W <= w)
        {
            // Nothing to spread or drop: ∂Z lands whole inside the grid, so the layout copy's 8×8 register transposes
            // place it (a 1x1 layer without padding has no border at all).
            Steps.Add(new CopyGradStep(new CopyStep(gz, grid, top, left, $"layer {l.Index}: ∂Z onto the backward-data grid"), inputOnly));
        }
        else Steps.Add(new SpreadStep(l.Index, gz, grid, l.Stride, top, left, inputOnly));

        var gx = New(true, source.C, source.H, source.W, Tensor.BlockedStride(source.C, source.H, source.W));
        var transposed = new LayerModel(LayerKind.Conv, l.Index,
            new TensorShape(l.Output.C, h, w, false), new TensorShape(source.C, source.H, source.W, false),
            KernelHeight: kh, KernelWidth: kw, Stride: 1, Dilation: d, Groups: l.Groups, Bias: false);
        string pointer = $"L{l.Index}WT";
        var repacked = new RepackedWeights(weight, pointer, "",
            $"global::ConvGen.TransposedWeights.ForConv({weight.Field}, inChannels: {source.C}, groups: {l.Groups}, kh: {kh}, kw: {kw})");
        Repacked.Add(repacked);
        Steps.Add(new DataGradStep(new ConvStep(transposed, grid, gx, null, pointer, null, grid), repacked, inputOnly));
        grad[source.Field] = InLayoutOf(source, gx, inputOnly);
    }

    private void AddLinear(ExecutionPlan forward, LinearStep s, Dictionary<string, Tensor> grad, bool inputOnly)
    {
        var l = s.Layer;
        var (gy, weight) = AddEpilogueGradients(forward, l, s.Activation, s.To, grad);
        int inputs = s.From.LinearInputs;
        // After a blocked Flatten the inputs include the unused lanes of the last channel block. They hold whatever the
        // layer before computed for a channel that does not exist (sigmoid(0) = 0.5, say): their weights must stay zero,
        // so their gradient is masked out.
        string? mask = null;
        if (s.From.Blocked && s.From.C % 8 != 0)
        {
            mask = $"L{l.Index}M";
            Masks.Add((weight, mask));
        }
        Steps.Add(new LinearWeightGradStep(l, s.From, inputs, gy, weight.GradientPointer, mask));

        // ∂X as a Linear layer out → inputs over Wᵀ; its output is stored in whole vectors of 8.
        var gx = New(s.From.Blocked, s.From.C, s.From.H, s.From.W, Tensor.Blocks(inputs) * 8);
        var flatView = gx with { Blocked = false, C = inputs, H = 1, W = 1 };
        var transposed = new LayerModel(LayerKind.Linear, l.Index,
            new TensorShape(l.Output.C, 1, 1, true), new TensorShape(inputs, 1, 1, true), Bias: false);
        string pointer = $"L{l.Index}WT";
        var repacked = new RepackedWeights(weight, pointer, "", $"global::ConvGen.TransposedWeights.ForLinear({weight.Field}, inputs: {inputs})");
        Repacked.Add(repacked);
        Steps.Add(new DataGradStep(new LinearStep(transposed, gy, flatView, null, pointer, null), repacked, inputOnly));
        grad[s.From.Field] = InLayoutOf(s.From, gx, inputOnly);
    }
}

using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using ConvGen.Generator.Model;

namespace ConvGen.Generator;

// Stage 2: NetworkSpec → shapes. Walks the layers with PyTorch's formulas, resolves defaults ("same" padding,
// pooling stride) and reports every mistake at the argument that causes it. A network with any error gets no model,
// only a stub (same public members, bodies that throw) when its class can take one.
public sealed partial class NetworkGenerator
{
    internal static class Validator
    {
        /// <summary>Largest tensor or parameter, in floats, that ConvGen accepts (2^28: 1 GiB of float32).</summary>
        public const long MaxElements = 1L << 28;

        public static ValidationResult Validate(NetworkSpec spec, bool allowUnsafe)
        {
            var diagnostics = new List<DiagnosticInfo>(spec.ParseDiagnostics);
            if (diagnostics.RemoveAll(d => d.Id == Diagnostics.AttributeBindingFailed) > 0)
                return Result(null); // the compiler has reported it already
            if (!allowUnsafe && spec.ParseDiagnostics.Count == 0)
                diagnostics.Add(Diag(Diagnostics.UnsafeRequired, SourceSite.Class, spec.ClassName));

            var current = new TensorShape(spec.InputChannels, spec.InputHeight, spec.InputWidth, Flat: false);
            string producer = "[Input]";
            string? flattenedFrom = null;
            bool sound = true;
            foreach (var (name, value) in new[] { ("channels", spec.InputChannels), ("height", spec.InputHeight), ("width", spec.InputWidth) })
            {
                if (value < 1)
                {
                    diagnostics.Add(Diag(Diagnostics.InvalidArgument, spec.InputSite with { Argument = name },
                        "[Input]", $"{name} must be at least 1, but is {value}"));
                    sound = false;
                }
            }
            if (sound) sound &= CheckSize(current, "[Input]", "the input", spec.InputSite, diagnostics);

            var layers = new List<LayerModel>();
            foreach (var layer in spec.Layers)
            {
                if (!sound) break; // Shapes after the first error would only repeat it.
                var model = Infer(layer, current, producer, flattenedFrom, diagnostics);
                if (model is null) { sound = false; break; }
                string self = Describe(layer);
                if (!CheckSize(model.Output, self, "the output", layer.Site, diagnostics)
                    || !CheckCount(model.ParameterCount, model.ParameterCount, self, "the parameters", layer.Site, diagnostics))
                {
                    sound = false;
                    break;
                }
                layers.Add(model);
                // After a Flatten, messages show where the feature count comes from: C×H×W = N.
                if (layer.Kind == LayerKind.Flatten && !current.Flat) flattenedFrom = current.ToString();
                else if (layer.Kind is not (LayerKind.Relu or LayerKind.Sigmoid or LayerKind.Tanh or LayerKind.Flatten)) flattenedFrom = null;
                current = model.Output;
                producer = $"{self}";
            }

            bool hasErrors = diagnostics.Any(d => Diagnostics.IsError(d.Id));
            var network = !sound || hasErrors ? null
                : new NetworkModel(spec.Namespace, spec.ClassName, spec.Accessibility,
                    new TensorShape(spec.InputChannels, spec.InputHeight, spec.InputWidth, false), layers.ToEquatableArray());
            return Result(network);

            ValidationResult Result(NetworkModel? model)
                => new(model, model is null ? Stub(spec, diagnostics) : null, new TypeDiagnostics(spec.MetadataName, diagnostics.ToEquatableArray()));
        }

        /// <summary>
        /// The stand-in for a network with errors, unless the class itself cannot be extended (CG0001, CG0002) or the
        /// project's C# cannot compile it (CG0013): a generated part would then add errors of its own (missing 'partial',
        /// a class part for a struct, a file-scoped namespace in C# 9, ...).
        /// </summary>
        private static StubModel? Stub(NetworkSpec spec, List<DiagnosticInfo> diagnostics)
        {
            if (spec.ParseDiagnostics.Any(d => d.Id == Diagnostics.NotPartial.Id || d.Id == Diagnostics.UnsupportedType.Id || d.Id == Diagnostics.LanguageVersionTooLow.Id)) return null;
            var errors = diagnostics.Where(d => Diagnostics.IsError(d.Id)).Select(d => d.Id + ": " + Message(d));
            return new StubModel(spec.Namespace, spec.ClassName, spec.Accessibility, errors.ToEquatableArray());
        }

        /// <summary>The diagnostic's message as the compiler prints it (invariant culture).</summary>
        private static string Message(DiagnosticInfo d)
        {
            string format = Diagnostics.ById(d.Id)!.MessageFormat.ToString(CultureInfo.InvariantCulture);
            try
            {
                return string.Format(CultureInfo.InvariantCulture, format, d.MessageArgs.Items.Cast<object>().ToArray());
            }
            catch (FormatException)
            {
                // A descriptor and its arguments out of step must not crash the generator (CS8785): the raw parts will do.
                return format + " (" + string.Join(", ", d.MessageArgs) + ")";
            }
        }

        public static string Describe(LayerSpec layer) => $"layer {layer.Index} ({layer.Kind})";

        private static LayerModel? Infer(LayerSpec layer, TensorShape input, string producer, string? flattenedFrom, List<DiagnosticInfo> diagnostics)
        {
            string self = Describe(layer);
            int before = diagnostics.Count;
            void Invalid(string argument, string message) => diagnostics.Add(Diag(Diagnostics.InvalidArgument, layer.SiteOf(argument), self, message));
            void AtLeast(string argument, int value, int minimum)
            {
                if (value < minimum) Invalid(argument, $"{argument} must be at least {minimum}, but is {value}");
            }
            bool NeedsSpatial()
            {
                if (!input.Flat) return true;
                diagnostics.Add(Diag(Diagnostics.WrongInputKind, layer.Site, self, "a C×H×W", producer,
                    $"{input.C} flat features", "; spatial layers must come before [Flatten]"));
                return false;
            }

            switch (layer.Kind)
            {
                case LayerKind.Relu:
                case LayerKind.Sigmoid:
                case LayerKind.Tanh:
                    return new LayerModel(layer.Kind, layer.Index, input, input);

                case LayerKind.Flatten:
                    return new LayerModel(layer.Kind, layer.Index, input, new TensorShape(checked((int)Math.Min(input.Elements, int.MaxValue)), 1, 1, true));

                case LayerKind.GlobalAvgPool:
                    if (!NeedsSpatial()) return null;
                    return new LayerModel(layer.Kind, layer.Index, input, input with { H = 1, W = 1 }, KernelHeight: input.H, KernelWidth: input.W);

                case LayerKind.Linear:
                    AtLeast("in", layer.In, 1);
                    AtLeast("out", layer.Out, 1);
                    if (diagnostics.Count > before) return null;
                    if (!input.Flat)
                    {
                        diagnostics.Add(Diag(Diagnostics.WrongInputKind, layer.Site, self, "a flat", producer,
                            input.ToString(), $"; insert [Flatten] before it (giving {input.C}×{input.H}×{input.W} = {input.Elements} features)"));
                        return null;
                    }
                    if (layer.In != input.C)
                    {
                        diagnostics.Add(Diag(Diagnostics.LinearInputMismatch, layer.SiteOf("in"), self, layer.In.ToString(CultureInfo.InvariantCulture),
                            producer, flattenedFrom is null ? input.C.ToString(CultureInfo.InvariantCulture) : $"{flattenedFrom} = {input.C}")
                            with { FixValue = input.C.ToString(CultureInfo.InvariantCulture) });
                        return null;
                    }
                    return new LayerModel(layer.Kind, layer.Index, input, new TensorShape(layer.Out, 1, 1, true), Bias: layer.Bias);

                case LayerKind.MaxPool:
                case LayerKind.AvgPool:
                {
                    int size = layer.KernelHeight, stride = layer.Stride == 0 ? size : layer.Stride;
                    AtLeast("size", size, 1);
                    if (layer.Stride < 0) Invalid("stride", $"stride must be at least 1 (or 0 for the window size), but is {layer.Stride}");
                    if (layer.Pad < 0) Invalid("pad", $"pad must not be negative, but is {layer.Pad}");
                    else if (size >= 1 && layer.Pad > size / 2)
                        Invalid("pad", $"pad = {layer.Pad} is more than half the window ({size}/2 = {size / 2}), which PyTorch rejects");
                    if (diagnostics.Count > before || !NeedsSpatial()) return null;
                    int oh = OutputSize(input.H, size, stride, layer.Pad, layer.Pad, 1);
                    int ow = OutputSize(input.W, size, stride, layer.Pad, layer.Pad, 1);
                    if (!CheckCollapse(layer, self, input, oh, ow, size, size, stride, 2 * layer.Pad, 2 * layer.Pad, 1, diagnostics)) return null;
                    CheckTiling(layer, self, input, size, size, stride, (2 * layer.Pad, layer.Pad), (2 * layer.Pad, layer.Pad), 1, diagnostics);
                    return new LayerModel(layer.Kind, layer.Index, input, new TensorShape(input.C, oh, ow, false),
                        KernelHeight: size, KernelWidth: size, Stride: stride,
                        PadTop: layer.Pad, PadBottom: layer.Pad, PadLeft: layer.Pad, PadRight: layer.Pad);
                }

                case LayerKind.Conv:
                {
                    AtLeast("kh", layer.KernelHeight, 1);
                    AtLeast("kw", layer.KernelWidth, 1);
                    AtLeast("in", layer.In, 1);
                    AtLeast("out", layer.Out, 1);
                    AtLeast("stride", layer.Stride, 1);
                    AtLeast("dilation", layer.Dilation, 1);
                    AtLeast("groups", layer.Groups, 1);
                    if (layer.Pad < 0) Invalid("pad", $"pad must not be negative, but is {layer.Pad}");
                    if (layer.Same && layer.Pad != 0) Invalid("pad", $"pad = {layer.Pad} conflicts with Same = true, which computes the padding itself");
                    if (diagnostics.Count > before || !NeedsSpatial()) return null;
                    if (layer.In % layer.Groups != 0 || layer.Out % layer.Groups != 0)
                    {
                        string depthwise = layer.Groups == layer.In
                            ? $" (a depthwise layer, groups = in, needs out = multiplier × in: {layer.Out} is not a multiple of {layer.In})"
                            : "";
                        diagnostics.Add(Diag(Diagnostics.GroupsMismatch, layer.SiteOf("groups"), self,
                            layer.Groups.ToString(CultureInfo.InvariantCulture), layer.In.ToString(CultureInfo.InvariantCulture), layer.Out.ToString(CultureInfo.InvariantCulture), depthwise));
                        return null;
                    }
                    if (layer.In != input.C)
                    {
                        diagnostics.Add(Diag(Diagnostics.ChannelMismatch, layer.SiteOf("in"), self,
                            layer.In.ToString(CultureInfo.InvariantCulture), producer, input.ToString())
                            with { FixValue = input.C.ToString(CultureInfo.InvariantCulture) });
                        return null;
                    }
                    long extentH = (long)layer.Dilation * (layer.KernelHeight - 1) + 1;
                    long extentW = (long)layer.Dilation * (layer.KernelWidth - 1) + 1;
                    int top = layer.Pad, bottom = layer.Pad, left = layer.Pad, right = layer.Pad;
                    if (layer.Same)
                    {
                        (top, bottom) = SamePadding(input.H, layer.Stride, extentH);
                        (left, right) = SamePadding(input.W, layer.Stride, extentW);
                    }
                    int oh = OutputSize(input.H, layer.KernelHeight, layer.Stride, top, bottom, layer.Dilation);
                    int ow = OutputSize(input.W, layer.KernelWidth, layer.Stride, left, right, layer.Dilation);
                    if (!CheckCollapse(layer, self, input, oh, ow, layer.KernelHeight, layer.KernelWidth, layer.Stride, top + bottom, left + right, layer.Dilation, diagnostics))
                        return null;
                    // "Same" padding reaches the end of the input unless the window is shorter than the stride (the
                    // padding cannot go below 0): a 1x1 at stride 2 on 28 rows never reads row 27, which this reports.
                    CheckTiling(layer, self, input, layer.KernelHeight, layer.KernelWidth, layer.Stride, (top + bottom, bottom), (left + right, right), layer.Dilation, diagnostics);
                    // The zero-padded copy the kernel reads must fit as well.
                    if (!CheckPadded(input, top, bottom, left, right, self, layer.SiteOf("pad"), diagnostics)) return null;
                    return new LayerModel(layer.Kind, layer.Index, input, new TensorShape(layer.Out, oh, ow, false),
                        KernelHeight: layer.KernelHeight, KernelWidth: layer.KernelWidth, Stride: layer.Stride, Dilation: layer.Dilation,
                        Groups: layer.Groups, Bias: layer.Bias, PadTop: top, PadBottom: bottom, PadLeft: left, PadRight: right, Same: layer.Same);
                }
            }
            return null;
        }

        /// <summary>PyTorch: <c>floor((H + pads − d(k−1) − 1) / s) + 1</c>, in 64 bits and clamped so huge inputs cannot wrap.</summary>
        public static int OutputSize(int size, int kernel, int stride, int padBefore, int padAfter, int dilation)
        {
            long span = (long)size + padBefore + padAfter - (long)dilation * (kernel - 1) - 1;
            if (span < 0) return 0;
            return (int)Math.Min(span / stride + 1, int.MaxValue);
        }

        /// <summary>TensorFlow "same": output <c>ceil(H/s)</c>; the smaller half of the padding goes before.</summary>
        private static (int Before, int After) SamePadding(int size, int stride, long extent)
        {
            long output = ((long)size + stride - 1) / stride;
            long total = Math.Max((output - 1) * stride + extent - size, 0);
            total = Math.Min(total, int.MaxValue / 2);
            return ((int)(total / 2), (int)(total - total / 2));
        }

        private static bool CheckCollapse(LayerSpec layer, string self, TensorShape input, int oh, int ow, int kh, int kw, int stride, int padH, int padW, int dilation, List<DiagnosticInfo> diagnostics)
        {
            if (oh >= 1 && ow >= 1) return true;
            bool height = oh < 1;
            int size = height ? input.H : input.W, k = height ? kh : kw, pads = height ? padH : padW;
            string kernel = dilation == 1 ? k.ToString(CultureInfo.InvariantCulture) : $"({dilation}·({k}−1)+1)";
            double value = Math.Floor(((double)size + pads - ((long)dilation * (k - 1) + 1)) / stride) + 1;
            string formula = $"({size} − {kernel} + {pads}) / {stride} + 1 = {value.ToString(CultureInfo.InvariantCulture)}";
            diagnostics.Add(Diag(Diagnostics.SizeCollapses, layer.SiteOf(layer.Kind == LayerKind.Conv ? (height ? "kh" : "kw") : "size"), self,
                height ? "height" : "width", value.ToString(CultureInfo.InvariantCulture), formula, size.ToString(CultureInfo.InvariantCulture)));
            return false;
        }

        /// <summary>
        /// Warns when the last windows stop short of the input's end, so real rows or columns are silently dropped
        /// (rows left over inside the trailing padding are harmless and not reported).
        /// </summary>
        private static void CheckTiling(LayerSpec layer, string self, TensorShape input, int kh, int kw, int stride,
            (int Total, int After) padH, (int Total, int After) padW, int dilation, List<DiagnosticInfo> diagnostics)
        {
            foreach (var (size, k, (pads, after), what) in new[] { (input.H, kh, padH, "row"), (input.W, kw, padW, "column") })
            {
                long extent = (long)dilation * (k - 1) + 1;
                long left = ((long)size + pads - extent) % stride;
                long dropped = left - after;
                if (dropped <= 0) continue;
                string kernel = dilation == 1 ? k.ToString(CultureInfo.InvariantCulture) : $"({dilation}·({k}−1)+1)";
                diagnostics.Add(Diag(Diagnostics.WindowDoesNotTile, layer.SiteOf("stride"), self,
                    dropped.ToString(CultureInfo.InvariantCulture), what, size.ToString(CultureInfo.InvariantCulture),
                    pads.ToString(CultureInfo.InvariantCulture), kernel, stride.ToString(CultureInfo.InvariantCulture),
                    left.ToString(CultureInfo.InvariantCulture), after.ToString(CultureInfo.InvariantCulture)));
                return; // one warning per layer is enough to point at it
            }
        }

        /// <summary>The zero-padded copy of the input a convolution's kernels read must fit ConvGen's limit.</summary>
        private static bool CheckPadded(TensorShape input, int top, int bottom, int left, int right, string self, SourceSite location, List<DiagnosticInfo> diagnostics)
            => CheckSize(new TensorShape(input.C, (int)Math.Min((long)input.H + top + bottom, int.MaxValue), (int)Math.Min((long)input.W + left + right, int.MaxValue), false),
                self, "its zero-padded input", location, diagnostics);

        /// <summary>Floats a tensor takes inside the network: channels are stored in blocks of 8.</summary>
        private static long Stored(TensorShape shape) => shape.Flat ? shape.Elements : Saturating.Multiply((shape.C + 7L) / 8 * 8, shape.H, shape.W);

        private static bool CheckSize(TensorShape shape, string self, string what, SourceSite location, List<DiagnosticInfo> diagnostics)
            => CheckCount(shape.Elements, Stored(shape), self, what, location, diagnostics);

        private static bool CheckCount(long values, long stored, string self, string what, SourceSite location, List<DiagnosticInfo> diagnostics)
        {
            if (stored <= MaxElements) return true;
            string Count(long n) => n == long.MaxValue ? "more than 9.2·10^18" : n.ToString("N0", CultureInfo.InvariantCulture);
            diagnostics.Add(Diag(Diagnostics.TooLarge, location, self, what, Count(values),
                stored == values ? "" : $" ({Count(stored)} as stored in channel blocks of 8)",
                MaxElements.ToString("N0", CultureInfo.InvariantCulture)));
            return false;
        }

        private static DiagnosticInfo Diag(Microsoft.CodeAnalysis.DiagnosticDescriptor descriptor, SourceSite location, params string[] args)
            => new(descriptor.Id, location, args.ToEquatableArray());
    }
}

using System.Globalization;
using System.Text;

namespace ConvGen.Generator.Emit;

/// <summary>Builds indented C# text line by line; braces open and close indentation.</summary>
internal sealed class CodeWriter
{
    private readonly StringBuilder _text = new();
    private int _indent;

    public CodeWriter Line(string line = "")
    {
        if (line.Length == 0) { _text.Append('\n'); return this; }
        if (line.StartsWith("}", System.StringComparison.Ordinal)) _indent--;
        _text.Append(' ', _indent * 4).Append(line).Append('\n');
        if (line.EndsWith("{", System.StringComparison.Ordinal)) _indent++;
        return this;
    }

    /// <summary>Opens a block: <c>header</c> then <c>{</c>.</summary>
    public CodeWriter Open(string header) => Line(header).Line("{");

    public CodeWriter Close(string suffix = "") => Line("}" + suffix);

    public override string ToString() => _text.ToString();

    /// <summary>An invariant-culture integer literal.</summary>
    public static string N(long value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>A round-tripping float literal with its <c>f</c> suffix.</summary>
    public static string F(float value)
    {
        string s = value.ToString("R", CultureInfo.InvariantCulture);
        if (s.IndexOf('.') < 0 && s.IndexOf('E') < 0) s += ".0";
        return s + "f";
    }
}

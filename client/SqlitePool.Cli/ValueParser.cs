using System.Globalization;
using System.Text.RegularExpressions;

namespace SqlitePool.Cli;

/// <summary>Parses parameter values from the command line: integer, real, <c>null</c>, <c>x'hex'</c> blob, else text.</summary>
internal static partial class ValueParser
{
    public static object? Parse(string text)
    {
        if (text is "null" or "NULL")
        {
            return null;
        }

        if (BlobPattern().Match(text) is { Success: true } blob)
        {
            var hex = blob.Groups[1].Value;
            return hex.Length % 2 == 0 && hex.All(char.IsAsciiHexDigit)
                ? Convert.FromHexString(hex)
                : throw new UsageException($"'{text}' is not a blob: x'...' needs an even number of hex digits.");
        }

        if (IntegerPattern().IsMatch(text) && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var integer))
        {
            return integer;
        }

        if (RealPattern().IsMatch(text) && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var real))
        {
            return real;
        }

        return text;
    }

    /// <summary>Parses <c>NAME=VALUE</c>; the name may carry its <c>$</c>, <c>:</c> or <c>@</c> prefix.</summary>
    public static KeyValuePair<string, object?> ParseNamed(string text)
    {
        var equals = text.IndexOf('=', StringComparison.Ordinal);
        if (equals <= 0)
        {
            throw new UsageException($"--param '{text}' is not NAME=VALUE.");
        }

        return new(text[..equals], Parse(text[(equals + 1)..]));
    }

    public static Statement Statement(string sql, IEnumerable<string> positional, IEnumerable<string> named)
    {
        var values = positional.Select(Parse).ToArray();
        var namedValues = named.Select(ParseNamed).ToList();
        return namedValues.Count == 0
            ? new Statement(sql, values)
            : new Statement(sql, namedValues) { Parameters = values };
    }

    [GeneratedRegex(@"^[xX]'(.*)'$", RegexOptions.Singleline)]
    private static partial Regex BlobPattern();

    [GeneratedRegex(@"^[-+]?[0-9]+$")]
    private static partial Regex IntegerPattern();

    [GeneratedRegex(@"^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$")]
    private static partial Regex RealPattern();
}

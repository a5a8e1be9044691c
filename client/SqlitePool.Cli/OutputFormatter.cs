using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace SqlitePool.Cli;

/// <summary>Writes results as JSON, tables or CSV. In JSON a real always carries a decimal point or an
/// exponent (<c>2.0</c>), so integers and reals stay distinct.</summary>
internal static class OutputFormatter
{
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static string ExecuteJson(ExecuteResult result) => Json(w =>
    {
        w.WriteStartObject();
        w.WriteNumber("changes", result.Changes);
        w.WriteNumber("lastInsertRowId", result.LastInsertRowId);
        w.WriteNumber("txid", result.TransactionId);
        w.WriteEndObject();
    });

    public static string RestoreJson(BackupRestoreResult result) => Json(w =>
    {
        w.WriteStartObject();
        w.WriteString("source", result.Source);
        w.WriteString("destination", result.Destination);
        w.WriteNumber("txid", result.TransactionId);
        w.WriteString("committedAt", result.CommittedAt.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
        w.WriteNumber("objectsRead", result.ObjectsRead);
        w.WriteNumber("bytes", result.Bytes);
        w.WriteEndObject();
    });

    public static string BackupJson(BackupResult result) => Json(w =>
    {
        w.WriteStartObject();
        w.WriteString("source", result.Source);
        w.WriteString("destination", result.Destination);
        w.WriteNumber("bytes", result.Bytes);
        w.WriteEndObject();
    });

    /// <summary>An array of objects keyed by column name.</summary>
    public static string RowsJson(QueryResult result) => Json(w =>
    {
        w.WriteStartArray();
        for (var r = 0; r < result.RowCount; r++)
        {
            w.WriteStartObject();
            for (var c = 0; c < result.Columns.Length; c++)
            {
                w.WritePropertyName(result.Columns[c]);
                WriteValue(w, result[r, c]);
            }

            w.WriteEndObject();
        }

        w.WriteEndArray();
    });

    /// <summary><c>{"columns":[...],"rows":[[...],...]}</c> on one line.</summary>
    public static string ColumnsRowsJson(QueryResult result) => Json(w =>
    {
        w.WriteStartObject();
        w.WriteStartArray("columns");
        foreach (var column in result.Columns)
        {
            w.WriteStringValue(column);
        }

        w.WriteEndArray();
        w.WriteStartArray("rows");
        for (var r = 0; r < result.RowCount; r++)
        {
            w.WriteStartArray();
            for (var c = 0; c < result.Columns.Length; c++)
            {
                WriteValue(w, result[r, c]);
            }

            w.WriteEndArray();
        }

        w.WriteEndArray();
        w.WriteEndObject();
    });

    public static string ErrorJson(string message, int code) => Json(w =>
    {
        w.WriteStartObject();
        w.WriteString("error", message);
        w.WriteNumber("code", code);
        w.WriteEndObject();
    });

    public static string Table(QueryResult result)
    {
        var cells = new string[result.RowCount + 1][];
        cells[0] = result.Columns;
        for (var r = 0; r < result.RowCount; r++)
        {
            cells[r + 1] = [.. Enumerable.Range(0, result.Columns.Length).Select(c => Text(result[r, c], blobAsHex: true))];
        }

        var widths = Enumerable.Range(0, result.Columns.Length).Select(c => cells.Max(row => row[c].Length)).ToArray();
        var text = new StringBuilder();
        for (var r = 0; r < cells.Length; r++)
        {
            text.AppendJoin(" | ", cells[r].Select((cell, c) => cell.PadRight(widths[c]))).Append('\n');
            if (r == 0)
            {
                text.AppendJoin("-+-", widths.Select(w => new string('-', w))).Append('\n');
            }
        }

        return text.Append(CultureInfo.InvariantCulture, $"({result.RowCount} row{(result.RowCount == 1 ? "" : "s")})").ToString();
    }

    public static string Csv(QueryResult result)
    {
        var text = new StringBuilder();
        text.AppendJoin(',', result.Columns.Select(CsvField)).Append('\n');
        for (var r = 0; r < result.RowCount; r++)
        {
            text.AppendJoin(',', Enumerable.Range(0, result.Columns.Length).Select(c => result[r, c] is null ? "" : CsvField(Text(result[r, c], blobAsHex: false)))).Append('\n');
        }

        return text.ToString().TrimEnd('\n');
    }

    public static string Real(double value) => value switch
    {
        double.PositiveInfinity => "1e999",
        double.NegativeInfinity => "-1e999",
        _ when double.IsNaN(value) => "null",
        _ => value.ToString("R", CultureInfo.InvariantCulture) is var text && text.AsSpan().IndexOfAny(".eE") < 0 ? text + ".0" : text,
    };

    public static string Json(Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            write(writer);
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    public static void WriteValue(Utf8JsonWriter writer, object? value)
    {
        switch (value)
        {
            case null:
                writer.WriteNullValue();
                break;
            case long l:
                writer.WriteNumberValue(l);
                break;
            case double d:
                writer.WriteRawValue(Real(d), skipInputValidation: true);
                break;
            case byte[] b:
                writer.WriteStringValue(Convert.ToBase64String(b));
                break;
            default:
                writer.WriteStringValue(Convert.ToString(value, CultureInfo.InvariantCulture));
                break;
        }
    }

    private static string Text(object? value, bool blobAsHex) => value switch
    {
        null => "NULL",
        double d => Real(d),
        byte[] b => blobAsHex ? $"x'{Convert.ToHexString(b)}'" : Convert.ToBase64String(b),
        _ => Convert.ToString(value, CultureInfo.InvariantCulture) ?? "",
    };

    private static string CsvField(string text) =>
        text.AsSpan().IndexOfAny(",\"\r\n") >= 0 ? $"\"{text.Replace("\"", "\"\"", StringComparison.Ordinal)}\"" : text;
}

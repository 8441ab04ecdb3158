using System.IO.Compression;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace AspireCache.Verification;

/// <summary>
/// One line of a history file written by <see cref="HistoryRecorder.Dump"/>: the operation at
/// <paramref name="Index"/> (invoke order), whether it was discarded (definitely not applied, so the checker never
/// sees it), and the HTTP response its write got when one was traced.
/// </summary>
public sealed record HistoryLine(
    [property: JsonPropertyName("index")] int Index,
    [property: JsonPropertyName("discarded")] bool Discarded,
    [property: JsonPropertyName("op")] Operation Op,
    [property: JsonPropertyName("response")] string? Response);

/// <summary>
/// Reads and writes recorded histories: JSON lines of <see cref="HistoryLine"/>, optionally gzip-compressed
/// (<c>.gz</c>), the format of <c>verify/findings/*.jsonl.gz</c>.
/// </summary>
public static class HistoryFile
{
    /// <summary>Writes <paramref name="lines"/> to <paramref name="writer"/>, one JSON object a line.</summary>
    public static void Write(TextWriter writer, IEnumerable<HistoryLine> lines)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(lines);
        foreach (var line in lines)
        {
            writer.WriteLine(JsonSerializer.Serialize(line));
        }
    }

    /// <summary>Every line of the history at <paramref name="path"/> (gzip when it ends in <c>.gz</c>), discarded ones included.</summary>
    public static List<HistoryLine> ReadLines(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var file = File.OpenRead(path);
        using Stream stream = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? new GZipStream(file, CompressionMode.Decompress) : file;
        using var reader = new StreamReader(stream);
        return ReadLines(reader, path);
    }

    /// <summary>Every line read from <paramref name="reader"/>; <paramref name="source"/> names it in errors.</summary>
    public static List<HistoryLine> ReadLines(TextReader reader, string source = "history")
    {
        ArgumentNullException.ThrowIfNull(reader);
        var lines = new List<HistoryLine>();
        var number = 0;
        while (reader.ReadLine() is { } text)
        {
            number++;
            if (string.IsNullOrWhiteSpace(text))
            {
                continue;
            }

            HistoryLine? line;
            try
            {
                line = JsonSerializer.Deserialize<HistoryLine>(text);
            }
            catch (JsonException ex)
            {
                throw new InvalidDataException($"{source}, line {number}: {ex.Message}", ex);
            }

            lines.Add(line?.Op is not null ? line : throw new InvalidDataException($"{source}, line {number}: no operation."));
        }

        return lines;
    }

    /// <summary>
    /// The history the checker is given, as <see cref="HistoryRecorder.Snapshot"/> gave it when the file was written:
    /// every operation that was not discarded, in invoke order.
    /// </summary>
    public static List<Operation> Read(string path) =>
        ReadLines(path).OrderBy(l => l.Index).Where(l => !l.Discarded).Select(l => l.Op).ToList();
}

using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using AspireCache.Node.StateMachine;

namespace AspireCache.Node.Watch;

/// <summary>
/// One key's change as a stream event. Its Server-Sent Events frame (<c>event:</c> and <c>data:</c>
/// lines, UTF-8) is encoded once, on first use, and shared by every stream that sends it; a stream
/// only appends the terminating <c>id:</c> line (on the last event of a revision it sends) or an
/// empty line.
/// </summary>
public sealed class WatchEvent
{
    private byte[]? _withValue;
    private byte[]? _withoutValue;

    public WatchEvent(Change change)
    {
        Type = change.Type;
        Key = change.Key;
        Revision = change.Revision;
        Entry = change.Entry;
        Writer = change.Writer;
        EstimatedBytes = 160 + (3L * Key.Length) + (3L * (Writer?.Length ?? 0)) + ((Entry?.Value.Length ?? 0) * 7L / 3);
    }

    public ChangeType Type { get; }

    public string Key { get; }

    public long Revision { get; }

    /// <summary>The value written, for a put; <c>null</c> for removals.</summary>
    public CacheEntry? Entry { get; }

    /// <summary>The credential that made the change (a client write with auth on), or <c>null</c>.</summary>
    public string? Writer { get; }

    /// <summary>What keeping this event costs, encoded frames included (for the history's byte bound).</summary>
    public long EstimatedBytes { get; }

    public static string TypeName(ChangeType type) => type switch
    {
        ChangeType.Put => "put",
        ChangeType.Delete => "delete",
        ChangeType.Expire => "expire",
        _ => "evict",
    };

    /// <summary>The frame without its terminating line: <c>event: put\ndata: {...}\n</c>.</summary>
    public ReadOnlySpan<byte> Frame(bool withValue)
    {
        if (!withValue || Entry is null)
        {
            return _withoutValue ??= Encode(false);
        }

        return _withValue ??= Encode(true);
    }

    private byte[] Encode(bool withValue)
    {
        var buffer = new ArrayBufferWriter<byte>(128 + (withValue ? (Entry!.Value.Length * 4 / 3) : 0));
        buffer.Write("event: "u8);
        buffer.Write(Type switch
        {
            ChangeType.Put => "put"u8,
            ChangeType.Delete => "delete"u8,
            ChangeType.Expire => "expire"u8,
            _ => "evict"u8,
        });
        buffer.Write("\ndata: "u8);
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = false, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            json.WriteString("type", TypeName(Type));
            json.WriteString("key", Key);
            json.WriteNumber("revision", Revision);
            if (Entry is { } entry)
            {
                if (withValue)
                {
                    json.WriteBase64String("value", entry.Value.Span);
                }

                json.WriteNumber("size", entry.Value.Length);
                if (entry.ExpiresUnixMs != 0)
                {
                    json.WriteString("expiresAt", DateTimeOffset.FromUnixTimeMilliseconds(entry.ExpiresUnixMs));
                }
            }

            if (Writer is { } writer)
            {
                json.WriteString("writer", writer);
            }

            json.WriteEndObject();
        }

        buffer.Write("\n"u8);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Writes <c>id: {revision}\n\n</c> (ends an event and marks a resume point).</summary>
    public static void WriteIdTerminator(IBufferWriter<byte> output, long revision)
    {
        var span = output.GetSpan(32);
        "id: "u8.CopyTo(span);
        revision.TryFormat(span[4..], out var digits, provider: CultureInfo.InvariantCulture);
        span[4 + digits] = (byte)'\n';
        span[5 + digits] = (byte)'\n';
        output.Advance(6 + digits);
    }
}

/// <summary>
/// The events of one applied log entry, in revision order (whole revisions only: a revision never
/// spans two entries). The unit of history and of fan-out: a stream is handed the chunk once,
/// whatever number of its events match.
/// </summary>
public sealed class EventChunk(long sequence, WatchEvent[] events)
{
    public long Sequence { get; } = sequence;

    public WatchEvent[] Events { get; } = events;

    public long FirstRevision => Events[0].Revision;

    public long LastRevision => Events[^1].Revision;

    public long Bytes { get; } = events.Sum(e => e.EstimatedBytes) + 64;

    /// <summary>When apply produced it (<see cref="System.Diagnostics.Stopwatch"/> ticks): the start of apply-to-socket lag.</summary>
    public long AppliedTimestamp { get; } = System.Diagnostics.Stopwatch.GetTimestamp();
}

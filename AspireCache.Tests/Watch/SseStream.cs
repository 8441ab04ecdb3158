using System.Net.Http.Headers;
using System.Text.Json;

namespace AspireCache.Tests.Watch;

/// <summary>One Server-Sent Event as received: its <c>event:</c>, <c>id:</c> (if any) and <c>data:</c>.</summary>
public sealed record SseEvent(string Type, string? Id, string Data)
{
    public JsonElement Json => JsonDocument.Parse(Data).RootElement;

    public string Key => Json.GetProperty("key").GetString()!;

    public long Revision => Json.GetProperty("revision").GetInt64();

    public byte[]? Value => Json.TryGetProperty("value", out var v) ? v.GetBytesFromBase64() : null;

    public override string ToString() => $"{Type} id={Id} {Data}";
}

/// <summary>A watch stream read the way an EventSource reads it (comments skipped, events split on blank lines).</summary>
public sealed class SseStream : IAsyncDisposable
{
    private readonly HttpResponseMessage _response;
    private readonly StreamReader _reader;

    private SseStream(HttpResponseMessage response, StreamReader reader)
    {
        _response = response;
        _reader = reader;
    }

    public HttpResponseMessage Response => _response;

    public string StreamId => _response.Headers.GetValues("X-AspireCache-Watch-Id").Single();

    /// <summary>The last <c>id:</c> received (what a browser sends back as Last-Event-ID).</summary>
    public string? LastEventId { get; private set; }

    public static async Task<SseStream> OpenAsync(HttpClient client, string pathAndQuery, string? lastEventId = null, CancellationToken token = default)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, pathAndQuery);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        if (lastEventId is not null)
        {
            request.Headers.Add("Last-Event-ID", lastEventId);
        }

        var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, token);
        if (!response.IsSuccessStatusCode)
        {
            var body = await response.Content.ReadAsStringAsync(token);
            response.Dispose();
            throw new HttpRequestException($"watch answered {(int)response.StatusCode}: {body}", null, response.StatusCode);
        }

        var stream = await response.Content.ReadAsStreamAsync(token);
        return new SseStream(response, new StreamReader(stream));
    }

    /// <summary>The next event, or <c>null</c> when the stream ended.</summary>
    public async Task<SseEvent?> NextAsync(CancellationToken token)
    {
        string? type = null, id = null, data = null;
        while (true)
        {
            var line = await _reader.ReadLineAsync(token);
            if (line is null)
            {
                return null;
            }

            if (line.Length == 0)
            {
                if (data is null && type is null)
                {
                    continue;
                }

                if (id is not null)
                {
                    LastEventId = id;
                }

                return new SseEvent(type ?? "message", id, data ?? "");
            }

            if (line[0] == ':')
            {
                continue;
            }

            var colon = line.IndexOf(':');
            var field = colon < 0 ? line : line[..colon];
            var value = colon < 0 ? "" : line[(colon + 1)..].TrimStart(' ');
            switch (field)
            {
                case "event": type = value; break;
                case "id": id = value; break;
                case "data": data = data is null ? value : data + "\n" + value; break;
            }
        }
    }

    /// <summary>Reads until <paramref name="until"/> holds for an event (returned with everything before it).</summary>
    public async Task<List<SseEvent>> ReadUntilAsync(Func<SseEvent, bool> until, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var events = new List<SseEvent>();
        while (true)
        {
            var next = await NextAsync(cts.Token) ?? throw new EndOfStreamException($"stream ended after {events.Count} events: {string.Join(" | ", events.TakeLast(5))}");
            events.Add(next);
            if (until(next))
            {
                return events;
            }
        }
    }

    public ValueTask DisposeAsync()
    {
        _reader.Dispose();
        _response.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>Polls a condition until it holds or the deadline passes (fails the test then).</summary>
public static class Poll
{
    public static Task UntilAsync(Func<bool> condition, TimeSpan timeout) => UntilAsync(condition, timeout, static () => "condition not met in time");

    /// <summary>As above; <paramref name="failure"/> says what was not met, read when the deadline passes.</summary>
    public static async Task UntilAsync(Func<bool> condition, TimeSpan timeout, Func<string> failure)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, DateTime.UtcNow < deadline ? null : failure());
            await Task.Delay(10);
        }
    }
}

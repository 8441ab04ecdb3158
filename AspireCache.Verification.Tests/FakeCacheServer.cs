using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using AspireCache.Contracts;

namespace AspireCache.Verification.Tests;

/// <summary>What the fake does with one call (all attempts of one Idempotency-Key, or one read).</summary>
public enum FakeFault
{
    /// <summary>Answers normally.</summary>
    None,

    /// <summary>Every attempt: 503 no-leader, nothing applied (the client ends with UnavailableException).</summary>
    Refuse,

    /// <summary>Applies at the first attempt, then every attempt answers 503 timeout (the client: OutcomeUnknownException).</summary>
    ApplyThenTimeout,

    /// <summary>Applies nothing, every attempt answers 503 timeout (outcome unknown to the client; it never happened).</summary>
    TimeoutWithoutApplying,

    /// <summary>Applies at the first attempt, then every attempt's connection breaks mid-answer.</summary>
    ApplyThenReset,

    /// <summary>A lying server: applies, then claims 503 no-leader (not applied). Only for the test that the checker catches it.</summary>
    ApplyThenClaimNotApplied,
}

/// <summary>
/// An in-memory AspireCache HTTP API for the recorder's tests: linearizable (one lock), with the node's idempotency
/// rules (same key and request: the recorded answer again with <c>Idempotent-Replayed: true</c>; another request: 422)
/// and scripted faults per call (<see cref="FaultFor"/>), so a history's true effects are known.
/// </summary>
internal sealed class FakeCacheServer : HttpMessageHandler
{
    public static readonly Uri BaseAddress = new("http://fake.cache/");

    private readonly Lock _gate = new();
    private readonly Dictionary<string, (string Value, long Version)> _state = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (string Fingerprint, Answer Answer)> _idempotency = new(StringComparer.Ordinal);
    private readonly Dictionary<string, FakeFault> _faultByKey = new(StringComparer.Ordinal);
    private long _revision;

    /// <summary>Chooses the fault of a call from its first request (a write's fault then holds for every attempt under its Idempotency-Key). Null: no faults at all.</summary>
    public Func<HttpRequestMessage, FakeFault>? FaultFor { get; set; }

    /// <summary>Every request received: method, path, Idempotency-Key, conditions and body.</summary>
    public ConcurrentQueue<Seen> Requests { get; } = new();

    public sealed record Seen(string Method, string Path, string? IdempotencyKey, string? IfMatch, string? IfNoneMatch, string Body);

    private readonly record struct Answer(HttpStatusCode Status, long? ETag, string? Body, string? ProblemType);

    public HttpClient Client() => new(this, disposeHandler: false) { BaseAddress = BaseAddress };

    /// <summary>The current value of <paramref name="key"/> (null: absent).</summary>
    public string? ValueOf(string key)
    {
        lock (_gate)
        {
            return _state.TryGetValue(key, out var entry) ? entry.Value : null;
        }
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var body = request.Content is null ? "" : await request.Content.ReadAsStringAsync(cancellationToken);
        var path = request.RequestUri!.IsAbsoluteUri ? request.RequestUri.AbsolutePath : request.RequestUri.OriginalString.Split('?')[0];
        var idempotencyKey = Header(request, CacheHeaders.IdempotencyKey);
        var ifMatch = Header(request, "If-Match");
        var ifNoneMatch = Header(request, "If-None-Match");
        Requests.Enqueue(new Seen(request.Method.Method, path, idempotencyKey, ifMatch, ifNoneMatch, body));

        var isWrite = request.Method != HttpMethod.Get;
        FakeFault fault;
        lock (_gate)
        {
            if (FaultFor is not { } faultFor)
            {
                fault = FakeFault.None; // faults off: even a call that had one now gets through
            }
            else if (isWrite && idempotencyKey is not null)
            {
                if (!_faultByKey.TryGetValue(idempotencyKey, out fault))
                {
                    _faultByKey[idempotencyKey] = fault = faultFor(request);
                }
            }
            else
            {
                fault = faultFor(request);
            }
        }

        if (fault is FakeFault.Refuse or FakeFault.TimeoutWithoutApplying)
        {
            return Problem(HttpStatusCode.ServiceUnavailable, fault == FakeFault.Refuse ? "no-leader" : "timeout");
        }

        if (!isWrite)
        {
            return Read(Uri.UnescapeDataString(path[(CachePaths.Keys.Length + 1)..]));
        }

        Answer answer;
        bool replayed;
        lock (_gate)
        {
            var fingerprint = string.Join('\n', request.Method.Method, path, ifMatch, ifNoneMatch, body);
            if (idempotencyKey is not null && _idempotency.TryGetValue(idempotencyKey, out var recorded))
            {
                if (recorded.Fingerprint != fingerprint)
                {
                    return Problem(HttpStatusCode.UnprocessableEntity, "idempotency-key-reused");
                }

                (answer, replayed) = (recorded.Answer, true);
            }
            else
            {
                answer = Apply(request.Method, path, ifMatch, ifNoneMatch, body);
                replayed = false;
                if (idempotencyKey is not null)
                {
                    _idempotency[idempotencyKey] = (fingerprint, answer);
                }
            }
        }

        return fault switch
        {
            FakeFault.ApplyThenTimeout => Problem(HttpStatusCode.ServiceUnavailable, "timeout"),
            FakeFault.ApplyThenClaimNotApplied => Problem(HttpStatusCode.ServiceUnavailable, "no-leader"),
            FakeFault.ApplyThenReset => throw new HttpRequestException(HttpRequestError.ResponseEnded, "The response ended prematurely (fake reset)."),
            _ => ToResponse(answer, replayed),
        };
    }

    private HttpResponseMessage Read(string key)
    {
        lock (_gate)
        {
            if (!_state.TryGetValue(key, out var entry))
            {
                return Problem(HttpStatusCode.NotFound, "key-not-found");
            }

            var response = new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(entry.Value) };
            response.Headers.ETag = new EntityTagHeaderValue("\"" + entry.Version.ToString(CultureInfo.InvariantCulture) + "\"");
            return response;
        }
    }

    /// <summary>Applies a write under the lock: its answer (412/404 change nothing).</summary>
    private Answer Apply(HttpMethod method, string path, string? ifMatch, string? ifNoneMatch, string body)
    {
        if (method == HttpMethod.Post && path == CachePaths.Batch)
        {
            var batch = JsonSerializer.Deserialize<BatchRequest>(body, new JsonSerializerOptions(JsonSerializerDefaults.Web))!;
            var revision = ++_revision;
            foreach (var (key, value) in batch.Set ?? [])
            {
                _state[key] = (Encoding.UTF8.GetString(Convert.FromBase64String(value)), revision);
            }

            foreach (var key in batch.Delete ?? [])
            {
                _state.Remove(key);
            }

            return new Answer(HttpStatusCode.OK, null, $"{{\"version\":{revision},\"set\":{batch.Set?.Count ?? 0},\"deleted\":{batch.Delete?.Count ?? 0}}}", null);
        }

        var k = Uri.UnescapeDataString(path[(CachePaths.Keys.Length + 1)..]);
        var exists = _state.TryGetValue(k, out var current);
        if (method == HttpMethod.Delete)
        {
            if (!exists)
            {
                return new Answer(HttpStatusCode.NotFound, null, null, "key-not-found");
            }

            _state.Remove(k);
            return new Answer(HttpStatusCode.NoContent, ++_revision, null, null);
        }

        if ((ifMatch is not null && (!exists || ifMatch.Trim('"') != current.Version.ToString(CultureInfo.InvariantCulture)))
            || (ifNoneMatch == "*" && exists))
        {
            return new Answer(HttpStatusCode.PreconditionFailed, exists ? current.Version : null, null, "precondition-failed");
        }

        var version = ++_revision;
        _state[k] = (body, version);
        return new Answer(exists ? HttpStatusCode.OK : HttpStatusCode.Created, version, $"{{\"key\":\"{k}\",\"version\":{version},\"created\":{(!exists).ToString().ToLowerInvariant()}}}", null);
    }

    private static HttpResponseMessage ToResponse(Answer answer, bool replayed)
    {
        var response = answer.ProblemType is not null
            ? Problem(answer.Status, answer.ProblemType)
            : new HttpResponseMessage(answer.Status) { Content = answer.Body is null ? null : new StringContent(answer.Body, Encoding.UTF8, "application/json") };
        if (answer.ETag is { } etag)
        {
            response.Headers.ETag = new EntityTagHeaderValue("\"" + etag.ToString(CultureInfo.InvariantCulture) + "\"");
        }

        if (replayed)
        {
            response.Headers.TryAddWithoutValidation(CacheHeaders.Replayed, "true");
        }

        return response;
    }

    private static HttpResponseMessage Problem(HttpStatusCode status, string type) => new(status)
    {
        Content = new StringContent($"{{\"type\":\"{ProblemTypes.Base}{type}\",\"title\":\"{type}\",\"status\":{(int)status}}}", Encoding.UTF8, "application/problem+json"),
    };

    private static string? Header(HttpRequestMessage request, string name) =>
        request.Headers.TryGetValues(name, out var values) ? string.Join(",", values) : null;
}

using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using AspireCache.Contracts;

namespace AspireCache.Verification;

/// <summary>
/// A mutation whose outcome is unknown, as <see cref="RecordingClient"/> sent it: enough to send the identical request
/// again under the same <see cref="IdempotencyKey"/> (AspireCache.Client sends it on every attempt of the call and
/// hands it out in <c>OutcomeUnknownException.IdempotencyKey</c>).
/// </summary>
/// <param name="Kind">Write, CompareAndSet, Delete or Batch.</param>
/// <param name="Key">The key (empty for a batch).</param>
/// <param name="Value">The value written (Write, CompareAndSet).</param>
/// <param name="ExpectedVersion">CompareAndSet: the version required; null = the key must be absent.</param>
/// <param name="BatchSet">Batch: keys to set.</param>
/// <param name="BatchDelete">Batch: keys to delete.</param>
/// <param name="IdempotencyKey">The key every attempt carried.</param>
public sealed record PendingMutation(
    OpKind Kind,
    string Key,
    string? Value,
    long? ExpectedVersion,
    IReadOnlyDictionary<string, string>? BatchSet,
    IReadOnlyList<string>? BatchDelete,
    string IdempotencyKey)
{
    public static PendingMutation Write(string key, string value) => new(OpKind.Write, key, value, null, null, null, "");

    public static PendingMutation CompareAndSet(string key, long? expectedVersion, string value) => new(OpKind.CompareAndSet, key, value, expectedVersion, null, null, "");

    public static PendingMutation Delete(string key) => new(OpKind.Delete, key, null, null, null, null, "");

    public static PendingMutation Batch(IReadOnlyDictionary<string, string>? set, IReadOnlyList<string>? delete) =>
        new(OpKind.Batch, string.Empty, null, null, set is null ? null : new Dictionary<string, string>(set, StringComparer.Ordinal), delete?.ToArray(), "");

    /// <summary>
    /// The HTTP request AspireCache.Client sent for this mutation: the same method, path, body and conditions
    /// (the node fingerprints the decoded command, so header order and content type do not matter), plus the key.
    /// </summary>
    public HttpRequestMessage ToRequest()
    {
        HttpRequestMessage request;
        switch (Kind)
        {
            case OpKind.Write:
            case OpKind.CompareAndSet:
                request = new HttpRequestMessage(HttpMethod.Put, KeyPath(Key)) { Content = new ByteArrayContent(Encoding.UTF8.GetBytes(Value ?? "")) };
                request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
                if (Kind == OpKind.CompareAndSet)
                {
                    if (ExpectedVersion is { } version)
                    {
                        request.Headers.TryAddWithoutValidation("If-Match", "\"" + version.ToString(CultureInfo.InvariantCulture) + "\"");
                    }
                    else
                    {
                        request.Headers.TryAddWithoutValidation("If-None-Match", "*");
                    }
                }

                break;

            case OpKind.Delete:
                request = new HttpRequestMessage(HttpMethod.Delete, KeyPath(Key));
                break;

            case OpKind.Batch:
                var body = new BatchRequest
                {
                    Set = BatchSet?.ToDictionary(p => p.Key, p => Convert.ToBase64String(Encoding.UTF8.GetBytes(p.Value)), StringComparer.Ordinal),
                    Delete = BatchDelete?.ToList(),
                };
                request = new HttpRequestMessage(HttpMethod.Post, CachePaths.Batch)
                {
                    Content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(body, BatchJson)),
                };
                request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                break;

            default:
                throw new InvalidOperationException($"A {Kind} is not a mutation.");
        }

        request.Headers.TryAddWithoutValidation(CacheHeaders.IdempotencyKey, IdempotencyKey);
        return request;
    }

    private static readonly JsonSerializerOptions BatchJson = new(JsonSerializerDefaults.Web) { DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull };

    /// <summary><c>/cache/</c> + the key, each segment escaped (as AspireCache.Client builds it).</summary>
    private static string KeyPath(string key) => CachePaths.Keys + "/" + string.Join('/', key.Split('/').Select(Uri.EscapeDataString));
}

/// <summary>
/// Learns the outcome of mutations whose response was lost (<c>OutcomeUnknownException</c>: timeout, reset,
/// 503 "outcome unknown") the way a client of an exactly-once API does: once the faults are over, the identical request
/// is sent again under the same <c>Idempotency-Key</c>.
/// <list type="bullet">
/// <item>Replayed (<c>Idempotent-Replayed: true</c>): the original took effect, with the recorded result, somewhere
/// between its invoke and now: the history gets that result.</item>
/// <item>Not replayed: the original never took effect, and never will (the retry is committed in the current term,
/// so any surviving entry of the original would have been applied before it and replayed). The original leaves the
/// history; the retry, which did take effect now, enters it.</item>
/// </list>
/// This is raw HTTP on purpose: it must reuse the key of a call that already ended and see whether the answer is a
/// replay, both of which AspireCache.Client keeps to itself (it replays transparently). Each unknown outcome costs the
/// linearizability search an operation that may take effect anywhere after its call; resolving them also checks
/// exactly-once across crashes: a replay must report the same effect the history allows.
/// </summary>
public sealed class OutcomeResolver
{
    private readonly ConcurrentQueue<(OperationHandle Handle, PendingMutation Mutation)> _pending = new();

    /// <summary>Remembers an unknown outcome and the request to send again.</summary>
    public void Add(OperationHandle handle, PendingMutation mutation)
    {
        ArgumentNullException.ThrowIfNull(handle);
        ArgumentNullException.ThrowIfNull(mutation);
        if (string.IsNullOrEmpty(mutation.IdempotencyKey))
        {
            throw new ArgumentException("Only a mutation sent with an Idempotency-Key can be resolved.", nameof(mutation));
        }

        _pending.Enqueue((handle, mutation));
    }

    /// <summary>Unknown outcomes not resolved yet.</summary>
    public int Pending => _pending.Count;

    /// <summary>
    /// Resolves every remembered outcome through <paramref name="client"/> (normally the router: it finds the leader),
    /// sending each request until a definitive answer (2xx, 404, 412, 422) or <paramref name="perOperation"/> (30 s) passes.
    /// </summary>
    public async Task<(int Replayed, int AppliedNow, int Unresolved)> ResolveAsync(HttpClient client, HistoryRecorder history, CancellationToken token, TimeSpan? perOperation = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(history);
        var (replayed, appliedNow, unresolved) = (0, 0, 0);
        while (_pending.TryDequeue(out var item))
        {
            var retry = history.BeginRetry(item.Handle);
            using var response = await SendUntilDefinitiveAsync(client, item.Mutation, perOperation ?? TimeSpan.FromSeconds(30), token).ConfigureAwait(false);
            if (response is null)
            {
                history.Discard(retry);
                unresolved++;
                continue;
            }

            if (response.StatusCode == HttpStatusCode.UnprocessableEntity)
            {
                throw new InvalidOperationException($"The idempotent retry of operation {item.Handle.Index} was refused as a different request: {await response.Content.ReadAsStringAsync(token).ConfigureAwait(false)}");
            }

            var result = ResultOf(item.Handle.Kind, response);
            if (response.Headers.Contains(CacheHeaders.Replayed))
            {
                history.Resolve(item.Handle, result);
                history.Discard(retry);
                replayed++;
            }
            else
            {
                history.Withdraw(item.Handle);
                history.Complete(retry, result);
                appliedNow++;
            }
        }

        return (replayed, appliedNow, unresolved);
    }

    private static async Task<HttpResponseMessage?> SendUntilDefinitiveAsync(HttpClient client, PendingMutation mutation, TimeSpan budget, CancellationToken token)
    {
        var deadline = DateTime.UtcNow + budget;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var request = mutation.ToRequest();
                var response = await client.SendAsync(request, token).ConfigureAwait(false);
                if (response.IsSuccessStatusCode || response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.PreconditionFailed or HttpStatusCode.UnprocessableEntity)
                {
                    return response;
                }

                response.Dispose();
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !token.IsCancellationRequested)
            {
            }

            await Task.Delay(100, token).ConfigureAwait(false);
        }

        return null;
    }

    private static OpResult ResultOf(OpKind kind, HttpResponseMessage response)
    {
        var version = response.Headers.ETag is { } tag && long.TryParse(tag.Tag.Trim('"'), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : (long?)null;
        return kind switch
        {
            OpKind.Write => OpResult.Written(version),
            OpKind.CompareAndSet => OpResult.CompareAndSetDone(response.IsSuccessStatusCode, version),
            OpKind.Delete => OpResult.Deleted(response.IsSuccessStatusCode, version),
            OpKind.Batch => OpResult.BatchApplied(version ?? BatchVersion(response)),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Only mutations have unknown outcomes to resolve."),
        };
    }

    /// <summary>A batch answers its revision in the body (<c>{"version":N,...}</c>), not in an ETag.</summary>
    private static long? BatchVersion(HttpResponseMessage response)
    {
        try
        {
            using var document = JsonDocument.Parse(response.Content.ReadAsStream());
            return document.RootElement.TryGetProperty("version", out var v) && v.TryGetInt64(out var n) ? n : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

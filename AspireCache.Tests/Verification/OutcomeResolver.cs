using System.Collections.Concurrent;
using System.Net;
using AspireCache.Node.Api;
using AspireCache.Verification;

namespace AspireCache.Tests.Verification;

/// <summary>
/// Learns the outcome of mutations whose response was lost (timeout, reset, 503 "outcome unknown"), the way a client
/// of an exactly-once API does: every mutation carries its own <c>Idempotency-Key</c>, and once the faults are over
/// the identical request is sent again under that key.
/// <list type="bullet">
/// <item>Replayed (<c>Idempotent-Replayed: true</c>): the original took effect, with the recorded result, somewhere
/// between its invoke and now: the history gets that result.</item>
/// <item>Not replayed: the original never took effect, and never will (the retry is committed in the current term,
/// so any surviving entry of the original would have been applied before it and replayed). The original leaves the
/// history; the retry, which did take effect now, enters it.</item>
/// </list>
/// Each unknown outcome costs the linearizability search an operation that may take effect anywhere after its call;
/// a few dozen of them made a CI-sized search exhaust its budget. Resolving them also checks exactly-once across
/// crashes: a replay must report the same effect the history allows.
/// </summary>
internal sealed class OutcomeResolver
{
    private readonly ConcurrentQueue<(OperationHandle Handle, Func<HttpRequestMessage> Request)> _pending = new();

    /// <summary>Remembers an unknown outcome and how to send its request again (same body, conditions and key).</summary>
    public void Add(OperationHandle handle, Func<HttpRequestMessage> request) => _pending.Enqueue((handle, request));

    public int Pending => _pending.Count;

    /// <summary>Resolves every remembered outcome through <paramref name="client"/> (the router: it finds the leader).</summary>
    public async Task<(int Replayed, int AppliedNow, int Unresolved)> ResolveAsync(HttpClient client, HistoryRecorder history, CancellationToken token)
    {
        var (replayed, appliedNow, unresolved) = (0, 0, 0);
        while (_pending.TryDequeue(out var item))
        {
            var retry = history.BeginRetry(item.Handle);
            var response = await SendUntilDefinitiveAsync(client, item.Request, token);
            if (response is null)
            {
                history.Discard(retry);
                unresolved++;
                continue;
            }

            if (response.StatusCode == HttpStatusCode.UnprocessableEntity)
            {
                throw new InvalidOperationException($"The idempotent retry of operation {item.Handle.Index} was refused as a different request: {await response.Content.ReadAsStringAsync(token)}");
            }

            var result = ResultOf(item.Handle.Kind, response);
            if (response.Headers.Contains(CacheApi.ReplayedHeader))
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

    private static async Task<HttpResponseMessage?> SendUntilDefinitiveAsync(HttpClient client, Func<HttpRequestMessage> request, CancellationToken token)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                var response = await client.SendAsync(request(), token);
                if (response.IsSuccessStatusCode || response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.PreconditionFailed or HttpStatusCode.UnprocessableEntity)
                {
                    return response;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !token.IsCancellationRequested)
            {
            }

            await Task.Delay(100, token);
        }

        return null;
    }

    private static OpResult ResultOf(OpKind kind, HttpResponseMessage response)
    {
        var version = ConsistencyUnderFaultsTests.VersionOf(response);
        return kind switch
        {
            OpKind.Write => OpResult.Written(version),
            OpKind.CompareAndSet => OpResult.CompareAndSetDone(response.IsSuccessStatusCode, version),
            OpKind.Delete => OpResult.Deleted(response.IsSuccessStatusCode, version),
            OpKind.Batch => OpResult.BatchApplied(version),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Only mutations have unknown outcomes to resolve."),
        };
    }
}

using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using AspireCache.Contracts;

namespace AspireCache.Client;

/// <summary>
/// The client's write coalescing, as the router does it for everyone behind it: while one write of
/// this client is in flight to the router (or, in direct mode, to the leader), the single-key PUTs and
/// DELETEs that arrive meanwhile wait and then go together as one <c>POST /cluster/write-batch</c>
/// (<see cref="WriteBatchWire"/>): one HTTP exchange for all of them instead of one each, and the
/// leader's group commit puts them into one log entry. The router passes a client's batch to the
/// leader as it is. The first write to an idle target goes at once as its own request, so a client
/// that writes one key at a time sees no change.
/// <para><b>Not atomic, and nothing changes for a caller.</b> Each write keeps its own conditions
/// (<c>If-Match</c>, <c>If-None-Match</c>), TTL, pin and <c>Idempotency-Key</c>, and gets what its own
/// request would have been answered (the leader runs each through the PUT/DELETE handler). Writes
/// that are concurrent have no order between them anyway; a caller that awaits one write before the
/// next keeps its order.</para>
/// <para><b>Nothing lost, nothing applied twice.</b> A write the node skipped (outside the credential's
/// prefixes), a batch refused or failed as a whole, a full queue: that write goes on as its own request
/// with the ordinary retries and errors and the same <c>Idempotency-Key</c>, so a batch that was applied
/// but whose answer was lost is not applied again. A batch that may have reached the leader marks its
/// writes "maybe applied" (a failure is then <see cref="OutcomeUnknownException"/>, never "not applied").</para>
/// <para>A router that does not know the route (404, 405: older than the client) turns coalescing off
/// for the client's lifetime.</para>
/// <para>One request in flight per target, as for reads: the batches are then largest and each is one
/// log entry (bench cluster, 64 writers sharing a client: one in flight 3,720–5,136 writes/s, two
/// 3,141–4,414, three 3,120–3,373).</para>
/// <para>Bounded: one group per target (the router, or the leader's URL), at most
/// <see cref="MaxQueuedPerGroup"/> writes waiting per group, <see cref="MaxBatchWrites"/> writes and
/// <see cref="MaxBatchValueBytes"/> of values per batch; a value over <see cref="MaxValueBytes"/> goes alone.</para>
/// </summary>
/// <param name="http">The client's HttpClient (its BaseAddress is the router).</param>
/// <param name="prepare">The client's own request preparation: the node's URL for a relative path (direct mode), the credential.</param>
internal sealed class WriteCoalescer(Func<HttpClient> http, Func<HttpRequestMessage, Uri?, HttpRequestMessage> prepare)
{
    /// <summary>Writes per batch (the node takes up to 1,000).</summary>
    public const int MaxBatchWrites = 256;

    /// <summary>Bytes of values per batch; a write that would pass it waits for the next one.</summary>
    public const int MaxBatchValueBytes = 1024 * 1024;

    /// <summary>A larger value goes as its own request (its transfer would hold up every write behind it).</summary>
    public const int MaxValueBytes = 64 * 1024;

    /// <summary>Writes waiting per target (four batches); beyond it a write goes on its own.</summary>
    public const int MaxQueuedPerGroup = 4 * MaxBatchWrites;

    /// <summary>
    /// A batch that has not answered within this is abandoned and its writes go on alone, with the same
    /// Idempotency-Key (a write of it that was applied is answered from the leader's record), well
    /// inside a call's deadline (10 s by default).
    /// </summary>
    internal static readonly TimeSpan BatchTimeout = TimeSpan.FromSeconds(3);

    private static readonly MediaTypeHeaderValue RequestMediaType = new(WriteBatchWire.RequestMediaType);

    private readonly ConcurrentDictionary<Uri, Group> _groups = new();
    private readonly Group _router = new(null);
    private volatile bool _unsupported;

    /// <summary>Whether a router without the batch route turned coalescing off (for tests).</summary>
    internal bool Unsupported => _unsupported;

    /// <summary>Writes waiting in all groups (for tests).</summary>
    internal int Queued
    {
        get
        {
            var queued = 0;
            foreach (var group in _groups.Values.Append(_router))
            {
                lock (group)
                {
                    queued += group.Queue.Count;
                }
            }

            return queued;
        }
    }

    /// <summary>
    /// How a write proceeds. <see cref="Answer"/>: the node's answer to it, as its own request would have
    /// been answered. Otherwise its own request; with <see cref="Slot"/> it is the group's request in
    /// flight and must <see cref="Release"/> it when its first attempt is over; <see cref="MaybeApplied"/>:
    /// it travelled in a batch that failed on the way, and may have been applied.
    /// </summary>
    public readonly record struct Entry(HttpResponseMessage? Answer, Group? Slot, bool MaybeApplied, int BatchSize)
    {
        /// <summary>The caller gave up (cancelled, past its deadline) while the write waited: not sent unless <see cref="MaybeApplied"/>.</summary>
        public bool Abandoned { get; init; }
    }

    /// <summary>Whether a write may travel in a batch: a key the batch carries as its PUT path would (see <see cref="ReadCoalescer.CanCoalesce"/>), a value that is not large.</summary>
    internal static bool CanCoalesce(string key, int valueBytes) =>
        valueBytes <= MaxValueBytes && !CachePaths.IsReservedKey(key) && ReadCoalescer.CanCoalesce(key);

    /// <summary>Joins the next batch to <paramref name="node"/> (null: the router), or is told to send its own request.</summary>
    public async Task<Entry> EnterAsync(Uri? node, WriteBatchWire.Write write, CancellationToken token)
    {
        if (_unsupported || !CanCoalesce(write.Key, write.Body.Length) || !WriteBatchWire.Fits(write))
        {
            return default;
        }

        var group = node is null ? _router : _groups.GetOrAdd(node, static n => new Group(n));
        Pending pending;
        lock (group)
        {
            if (!group.Busy)
            {
                group.Busy = true;
                return new Entry(null, group, false, 0);
            }

            if (group.Queue.Count >= MaxQueuedPerGroup)
            {
                return default;
            }

            pending = new Pending(write);
            group.Queue.Add(pending);
        }

        try
        {
            return await pending.Task.WaitAsync(token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // Cancelled or past its deadline: still queued, it leaves the queue and is never sent (its
            // value may be the caller's buffer, handed back once the call is over); already taken, the
            // batch carries a copy and it may be applied.
            bool removed;
            lock (group)
            {
                removed = group.Queue.Remove(pending);
            }

            return new Entry(null, null, MaybeApplied: !removed, 0) { Abandoned = true };
        }
    }

    /// <summary>The group's request in flight is over: send what has queued meanwhile, or mark the group idle.</summary>
    public void Release(Group group)
    {
        List<Pending> batch;
        byte[] body;
        lock (group)
        {
            if (group.Queue.Count == 0)
            {
                group.Busy = false;
                return;
            }

            var take = 0;
            long bytes = 0;
            while (take < group.Queue.Count && take < MaxBatchWrites && (take == 0 || bytes + group.Queue[take].Write.Body.Length <= MaxBatchValueBytes))
            {
                bytes += group.Queue[take].Write.Body.Length;
                take++;
            }

            batch = group.Queue.GetRange(0, take);
            group.Queue.RemoveRange(0, take);

            // Encoded while no caller can leave the queue: a write is either still queued (its caller may
            // take it out) or copied into this body (its caller's buffer is no longer read).
            var writes = new WriteBatchWire.Write[batch.Count];
            for (var i = 0; i < writes.Length; i++)
            {
                writes[i] = batch[i].Write;
            }

            body = WriteBatchWire.EncodeRequest(writes);
        }

        _ = SendAsync(group, batch, body); // the group stays busy; SendAsync releases it when its answer is in
    }

    private async Task SendAsync(Group group, List<Pending> batch, byte[] body)
    {
        // The batch belongs to none of its writes: no span of one of them (whichever released the group) is its parent.
        Activity.Current = null;
        AspireCacheClientTelemetry.WriteBatchWrites.Record(batch.Count);
        Entry[]? answers = null;
        SendTrackingContent? content = null;
        var refused = false;
        try
        {
            using var timeout = new CancellationTokenSource(BatchTimeout);
            content = new SendTrackingContent(new ByteArrayContent(body));
            using var request = prepare(new HttpRequestMessage(HttpMethod.Post, WriteBatchWire.Path) { Content = content }, group.Node);
            content.Headers.ContentType = RequestMediaType;
            // What the router's rate limiter charges: one permit per write (without it, as many as a batch may carry).
            request.Headers.TryAddWithoutValidation(CacheHeaders.BatchWrites, batch.Count.ToString(CultureInfo.InvariantCulture));

            using var response = await http().SendAsync(request, HttpCompletionOption.ResponseContentRead, timeout.Token).ConfigureAwait(false);
            if (response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.MethodNotAllowed && group.Node is null)
            {
                _unsupported = true; // a router without the route: every write goes alone from now on
            }

            if (response.StatusCode != HttpStatusCode.OK || response.Content.Headers.ContentType?.MediaType != WriteBatchWire.ResponseMediaType)
            {
                // Refused as a whole (4xx, or no leader to send it to: nothing was proposed), or failed on the way (the leader may have it).
                refused = (int)response.StatusCode < 500
                    || (await Problem.ReadAsync(response, timeout.Token).ConfigureAwait(false)).Type is ProblemTypes.NoLeader or ProblemTypes.NoNode;
                return;
            }

            var answerBody = await response.Content.ReadAsByteArrayAsync(timeout.Token).ConfigureAwait(false);
            var decoded = new WriteBatchWire.Answer[batch.Count];
            if (!WriteBatchWire.TryDecodeResponse(answerBody, batch.Count, decoded))
            {
                return;
            }

            var entries = new Entry[batch.Count];
            for (var i = 0; i < batch.Count; i++)
            {
                entries[i] = AnswerOf(decoded[i], group, batch.Count);
            }

            answers = entries;
        }
        catch (Exception)
        {
            // unreachable, timed out, cut, disposed, anything: every write goes on alone (with the ordinary retries and errors)
        }
        finally
        {
            // A batch whose body never started to go out, or that was refused whole, changed nothing.
            var maybeApplied = !refused && content is { Started: true };
            for (var i = 0; i < batch.Count; i++)
            {
                batch[i].TrySetResult(answers is not null ? answers[i] : new Entry(null, null, maybeApplied, batch.Count));
            }

            Release(group);
        }
    }

    /// <summary>
    /// How one write's part of the batch answer proceeds. Skipped (not attempted): alone, for the node's
    /// exact answer. Through the router, "not the leader" (421) and "unavailable" (503) go alone through the
    /// router too, which retries them at the leader it knows (as it does for its own batches): the node's
    /// 421 names a URL the client may not reach. Anything else is the write's own answer.
    /// </summary>
    private static Entry AnswerOf(WriteBatchWire.Answer answer, Group group, int batchSize)
    {
        if (answer.Status == WriteBatchWire.Skipped)
        {
            return default;
        }

        if (group.Node is null && answer.Status is 421 or 503)
        {
            // Proposed and not confirmed (leadership lost, timeout): it may still be applied.
            return new Entry(null, null, ProblemTypes.SaysOutcomeUnknown(System.Text.Encoding.UTF8.GetString(answer.Body.Span)), batchSize);
        }

        return new Entry(ToResponse(answer), null, false, batchSize); // its answer says what was done
    }

    /// <summary>One write's part of the batch answer, as the response its own request would have had.</summary>
    private static HttpResponseMessage ToResponse(WriteBatchWire.Answer answer)
    {
        var response = new HttpResponseMessage((HttpStatusCode)answer.Status) { Content = new ReadOnlyMemoryContent(answer.Body) };
        foreach (var (name, value) in answer.Headers)
        {
            if (!response.Headers.TryAddWithoutValidation(name, value))
            {
                response.Content.Headers.TryAddWithoutValidation(name, value); // Content-Type and the other content headers
            }
        }

        return response;
    }

    /// <summary>The writes queued for one target, and whether a request of theirs is in flight.</summary>
    internal sealed class Group(Uri? node)
    {
        /// <summary>The leader (direct mode), or null: the router (the HttpClient's BaseAddress).</summary>
        public Uri? Node { get; } = node;

        /// <summary>Whether a request of the group (a write alone or a batch) is in flight.</summary>
        public bool Busy { get; set; }

        public List<Pending> Queue { get; } = [];
    }

    internal sealed class Pending(WriteBatchWire.Write write) : TaskCompletionSource<Entry>(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        public WriteBatchWire.Write Write { get; } = write;
    }
}

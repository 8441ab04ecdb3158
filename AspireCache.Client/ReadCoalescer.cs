using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using AspireCache.Contracts;

namespace AspireCache.Client;

/// <summary>
/// The client's read coalescing, as the router does it for everyone behind it: while one read of
/// this client is in flight to a node (direct mode) or to the router, the reads for the same target
/// and consistency that arrive meanwhile wait and then go together as one <c>POST /cluster/read-batch</c>:
/// one HTTP exchange (and one read index) for all of them instead of one each; the router passes a
/// batch to the node its GETs would go to. The first read to an idle target goes at once as its own
/// GET, so a client that reads one key at a time sees no change.
/// <para><b>Still linearizable.</b> A batch leaves after every read in it began, and the node takes
/// its read index after the batch arrived, so each read sees every write acknowledged before it
/// began; each key gets what its own GET would have (value, version, expiry, absence).</para>
/// <para><b>Nothing lost on failure.</b> A key the node skipped (outside the credential's prefixes,
/// past the answer's byte budget), a refused or failed batch, or a full queue: that read goes on as
/// its own GET with the ordinary retries and errors. A caller's deadline or cancellation ends its
/// wait at once, as for its own GET.</para>
/// <para>A router that does not know the route (404, 405: older than the client) turns coalescing off
/// for the client's lifetime.</para>
/// <para>A read waits for the request in flight to its target: behind a slow GET (a large value) or a
/// batch that waits (an election; abandoned after <see cref="BatchTimeout"/>) it waits too, as behind the
/// router's own coalescing.</para>
/// <para>Bounded: one group per target URL and consistency (the router, or the few node URLs), at most
/// <see cref="MaxQueuedPerGroup"/> reads waiting per group, <see cref="MaxBatchKeys"/> per batch.</para>
/// </summary>
/// <param name="http">The client's HttpClient (its BaseAddress is the router).</param>
/// <param name="prepare">The client's own request preparation: the node's URL for a relative path (direct mode), the credential.</param>
internal sealed class ReadCoalescer(Func<HttpClient> http, Func<HttpRequestMessage, Uri?, HttpRequestMessage> prepare)
{
    /// <summary>Keys per batch (the node takes up to 1,000).</summary>
    public const int MaxBatchKeys = 256;

    /// <summary>Reads waiting per target and consistency (four batches); beyond it a read goes on its own.</summary>
    public const int MaxQueuedPerGroup = 4 * MaxBatchKeys;

    /// <summary>
    /// A batch that has not answered within this is abandoned and its reads go on alone, well inside a
    /// call's deadline (10 s by default): a batch normally answers in milliseconds, and one that waits
    /// (an election) holds up the reads queued behind it.
    /// </summary>
    internal static readonly TimeSpan BatchTimeout = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Whether a read of <paramref name="key"/> may travel in a batch: its GET path reads the same key
    /// (no <c>.</c> or <c>..</c> segment, which the GET's URI would resolve away) and it fits the wire.
    /// </summary>
    internal static bool CanCoalesce(string key)
    {
        if (key.Length > 16_000)
        {
            return false; // over the wire's 65,535 UTF-8 bytes, possibly, and over any node's key limit anyway: its GET gets the 400
        }

        foreach (var segment in key.AsSpan().Split('/'))
        {
            if (key.AsSpan()[segment] is "." or "..")
            {
                return false;
            }
        }

        return true;
    }

    private static readonly MediaTypeHeaderValue RequestMediaType = new(ReadBatchWire.RequestMediaType);
    private const string StalePath = ReadBatchWire.Path + "?consistent=false";

    private readonly ConcurrentDictionary<(Uri? Node, bool Stale), Group> _groups = new();
    private volatile bool _unsupported;

    /// <summary>Whether a router without the batch route turned coalescing off (for tests).</summary>
    internal bool Unsupported => _unsupported;

    /// <summary>Reads waiting in all groups (for tests).</summary>
    internal int Queued
    {
        get
        {
            var queued = 0;
            foreach (var group in _groups.Values)
            {
                lock (group)
                {
                    queued += group.Queue.Count;
                }
            }

            return queued;
        }
    }

    /// <summary>How a read proceeds: <see cref="Answered"/> (done), or its own GET; with <see cref="Slot"/> it is the group's request in flight, and must <see cref="Release"/> it when its GET is over.</summary>
    public readonly record struct Entry(bool Answered, CacheItem? Item, long? Revision, Group? Slot, int BatchSize);

    /// <summary>Joins the next batch to <paramref name="node"/> (null: the router), or is told to send its own GET.</summary>
    public async Task<Entry> EnterAsync(Uri? node, bool stale, string key, CancellationToken token)
    {
        if (_unsupported || !CanCoalesce(key))
        {
            return default;
        }

        var group = _groups.GetOrAdd((node, stale), static k => new Group(k.Node, k.Stale));
        Pending pending;
        lock (group)
        {
            if (!group.Busy)
            {
                group.Busy = true;
                return new Entry(false, null, null, group, 0);
            }

            if (group.Queue.Count >= MaxQueuedPerGroup)
            {
                return default;
            }

            pending = new Pending(key);
            group.Queue.Add(pending);
        }

        // Cancelled or past its deadline: the caller's wait ends now (the batch still carries the key; its answer is dropped).
        var answer = await pending.Task.WaitAsync(token).ConfigureAwait(false);
        return answer ?? default;
    }

    /// <summary>The group's request in flight is over: send what has queued meanwhile, or mark the group idle.</summary>
    public void Release(Group group)
    {
        List<Pending> batch;
        lock (group)
        {
            if (group.Queue.Count == 0)
            {
                group.Busy = false;
                return;
            }

            var take = Math.Min(group.Queue.Count, MaxBatchKeys);
            batch = group.Queue.GetRange(0, take);
            group.Queue.RemoveRange(0, take);
        }

        _ = SendAsync(group, batch); // the group stays busy; SendAsync releases it when its answer is in
    }

    private async Task SendAsync(Group group, List<Pending> batch)
    {
        // The batch belongs to none of its reads: no span of one of them (whichever released the group) is its parent.
        Activity.Current = null;
        AspireCacheClientTelemetry.ReadBatchKeys.Record(batch.Count);
        Entry[]? answers = null;
        try
        {
            var keys = new string[batch.Count];
            for (var i = 0; i < keys.Length; i++)
            {
                keys[i] = batch[i].Key;
            }

            // Counted from before the batch left: an expiry is never later than the node's (as for a GET).
            var sent = DateTimeOffset.UtcNow;
            using var timeout = new CancellationTokenSource(BatchTimeout);
            using var request = prepare(
                new HttpRequestMessage(HttpMethod.Post, group.Stale ? StalePath : ReadBatchWire.Path) { Content = new ByteArrayContent(ReadBatchWire.EncodeRequest(keys)) },
                group.Node);
            request.Content!.Headers.ContentType = RequestMediaType;

            using var response = await http().SendAsync(request, HttpCompletionOption.ResponseContentRead, timeout.Token).ConfigureAwait(false);
            if (response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.MethodNotAllowed && group.Node is null)
            {
                _unsupported = true; // a router without the route: every read goes as a GET from now on
            }

            if (response.StatusCode != HttpStatusCode.OK || response.Content.Headers.ContentType?.MediaType != ReadBatchWire.ResponseMediaType)
            {
                return; // refused or failed as a whole: every read goes on alone
            }

            var body = await response.Content.ReadAsByteArrayAsync(timeout.Token).ConfigureAwait(false);
            var items = new ReadBatchWire.Item[batch.Count];
            if (!ReadBatchWire.TryDecodeResponse(body, batch.Count, out var now, items))
            {
                return;
            }

            var revision = AspireCacheClient.RevisionOf(response);
            answers = new Entry[batch.Count];
            for (var i = 0; i < batch.Count; i++)
            {
                var item = items[i];
                answers[i] = item.Status switch
                {
                    ReadBatchWire.Found => new Entry(true, new CacheItem(batch[i].Key, item.Value.ToArray(), item.Version, item.ExpiresUnixMs == 0 ? null : sent.AddMilliseconds(Math.Max(0, item.ExpiresUnixMs - now))), revision, null, batch.Count),
                    ReadBatchWire.NotFound => new Entry(true, null, revision, null, batch.Count),
                    _ => default, // skipped: its own GET gets the node's exact answer
                };
            }
        }
        catch (Exception)
        {
            // unreachable, timed out, cut, disposed, anything: every read goes on alone (with the ordinary retries and errors)
        }
        finally
        {
            for (var i = 0; i < batch.Count; i++)
            {
                batch[i].TrySetResult(answers?[i] is { Answered: true } a ? a : null);
            }

            Release(group);
        }
    }

    /// <summary>The reads queued for one node and consistency, and whether a request of theirs is in flight.</summary>
    internal sealed class Group(Uri? node, bool stale)
    {
        /// <summary>The node (direct mode), or null: the router (the HttpClient's BaseAddress).</summary>
        public Uri? Node { get; } = node;

        public bool Stale { get; } = stale;

        public bool Busy { get; set; }

        public List<Pending> Queue { get; } = [];
    }

    internal sealed class Pending(string key) : TaskCompletionSource<Entry?>(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        public string Key { get; } = key;
    }
}

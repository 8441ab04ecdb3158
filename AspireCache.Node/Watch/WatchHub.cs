using System.Diagnostics;
using AspireCache.Node.StateMachine;
using Microsoft.Extensions.Options;

namespace AspireCache.Node.Watch;

/// <summary>The outcome of opening a stream.</summary>
public enum RegisterOutcome
{
    Registered,

    /// <summary>The resume point is older than the history: the gap cannot be filled here (410).</summary>
    Gone,

    /// <summary>The node serves <see cref="WatchOptions.MaxWatchers"/> streams already (503).</summary>
    Full,

    /// <summary>The node is stopping: its streams were closed and no new one opens (503).</summary>
    Stopping,

    /// <summary>The credential holds <see cref="WatchOptions.MaxWatchersPerCredential"/> streams on this node already (429).</summary>
    CredentialFull,
}

/// <summary>
/// Watch history and fan-out, hung on the state machine's change feed (<see cref="IChangeFeed"/>).
/// <list type="number">
/// <item>Apply appends each entry's changes to the bounded <see cref="EventHistory"/> and signals
/// the dispatcher: O(changes), no watcher is looked at, nothing waits.</item>
/// <item>The dispatcher hands each new chunk to the watchers it concerns, found through an index by
/// exact key and by prefix (one lookup per distinct prefix length, not a scan of watchers), once per
/// watcher per chunk. A watcher whose buffer is full is closed (slow consumer).</item>
/// <item>Registering takes the dispatch lock: the backlog after the resume point up to what was
/// dispatched is queued first, then the watcher joins the index — no gap, no duplicate.</item>
/// </list>
/// Each stream's own request loop writes what it was handed (see <c>WatchApi</c>).
/// </summary>
public sealed class WatchHub : IChangeFeed, IDisposable
{
    private readonly WatchOptions _options;
    private readonly WatchTelemetry _telemetry;
    private readonly Lock _historyLock = new(); // apply and readers of the history: short
    private readonly Lock _dispatchLock = new(); // fan-out, registration, the index
    private readonly EventHistory _history;
    private readonly Dictionary<string, Watcher> _watchers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HashSet<Watcher>> _byPrefix = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HashSet<Watcher>> _byKey = new(StringComparer.Ordinal);
    private readonly Dictionary<int, int> _prefixLengthCounts = [];

    // Open streams per credential name ("" without authentication): an entry per credential with a
    // stream open here, removed with its last stream, so at most as many as configured credentials.
    private readonly Dictionary<string, int> _perCredential = new(StringComparer.Ordinal);
    private readonly List<(long Revision, TaskCompletionSource Waiter)> _dispatchWaiters = [];
    private readonly SemaphoreSlim _pending = new(0);
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _dispatcher;
    private readonly List<EventChunk> _batch = [];
    private readonly List<Watcher> _overflowed = [];
    private int[] _prefixLengths = [];
    private long _dispatchedSequence;
    private long _dispatchedRevision;
    private long _streams;
    private readonly string _nodeId;

    public WatchHub(IOptions<WatchOptions> options, WatchTelemetry telemetry, string nodeId = "node")
    {
        _nodeId = nodeId;
        _options = options.Value;
        _telemetry = telemetry;
        _history = new EventHistory(_options.HistoryMaxEvents, _options.HistoryMaxBytes);
        _telemetry.Observe(this);
        _dispatcher = Task.Factory.StartNew(DispatchLoopAsync, TaskCreationOptions.LongRunning).Unwrap();
        _ticker = Task.Run(TickAsync);
    }

    private readonly Task _ticker;
    private readonly List<Watcher> _tick = [];

    /// <summary>One timer for every stream: wakes those silent for their progress interval (10 checks a second).</summary>
    private async Task TickAsync()
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token))
            {
                _tick.Clear();
                lock (_dispatchLock)
                {
                    _tick.AddRange(_watchers.Values);
                }

                var now = Stopwatch.GetTimestamp();
                foreach (var watcher in _tick)
                {
                    watcher.CheckIdle(now);
                }

                _tick.Clear();
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public WatchOptions Options => _options;

    public int Count
    {
        get
        {
            lock (_dispatchLock)
            {
                return _watchers.Count;
            }
        }
    }

    /// <summary>Credentials with a stream open on this node (the per-credential table's size).</summary>
    public int Credentials
    {
        get
        {
            lock (_dispatchLock)
            {
                return _perCredential.Count;
            }
        }
    }

    /// <summary>Streams open on this node under <paramref name="credential"/> (null: without authentication).</summary>
    public int CountOf(string? credential)
    {
        lock (_dispatchLock)
        {
            return _perCredential.GetValueOrDefault(credential ?? "");
        }
    }

    /// <summary>Newest revision in the history (the state's revision as of the last applied entry).</summary>
    public long HeadRevision
    {
        get
        {
            lock (_historyLock)
            {
                return _history.HeadRevision;
            }
        }
    }

    public long OldestAcceptedRevision
    {
        get
        {
            lock (_historyLock)
            {
                return _history.OldestAcceptedRevision;
            }
        }
    }

    /// <summary>Every watcher was handed every chunk up to this revision.</summary>
    public long DispatchedRevision => Volatile.Read(ref _dispatchedRevision);

    internal (long Events, long Bytes) HistorySize
    {
        get
        {
            lock (_historyLock)
            {
                return (_history.Events, _history.Bytes);
            }
        }
    }

    void IChangeFeed.Applied(IReadOnlyList<Change> changes, long revision)
    {
        WatchEvent[]? events = null;
        if (changes.Count > 0)
        {
            events = new WatchEvent[changes.Count];
            for (var i = 0; i < events.Length; i++)
            {
                events[i] = new WatchEvent(changes[i]);
            }
        }

        lock (_historyLock)
        {
            if (events is not null)
            {
                _history.Append(events);
            }

            // The head is the entry's last revision, also past its last change (a batch that only deleted absent keys
            // takes a revision and changes nothing): a list answered after the entry names it, and a watch from there
            // must not be refused as "ahead" (found by review, session 32).
            _history.AdvanceTo(revision);
        }

        _pending.Release();
    }

    void IChangeFeed.Reset(long revision)
    {
        List<Watcher> closed;
        lock (_dispatchLock)
        {
            lock (_historyLock)
            {
                _history.Reset(revision);
                _dispatchedSequence = _history.HeadSequence;
            }

            Volatile.Write(ref _dispatchedRevision, revision);
            closed = [.. _watchers.Values];
            foreach (var watcher in closed)
            {
                RemoveLocked(watcher);
            }

            CompleteDispatchWaitersLocked();
        }

        foreach (var watcher in closed)
        {
            watcher.Close(CloseReason.SnapshotInstalled);
            _telemetry.Closed(CloseReason.SnapshotInstalled);
        }
    }

    /// <summary>
    /// Opens a stream that will be handed every matching change with a revision above
    /// <paramref name="afterRevision"/>, atomically with what was already dispatched.
    /// </summary>
    /// <param name="credential">The name of the credential opening it (null without authentication): counted against <see cref="WatchOptions.MaxWatchersPerCredential"/>.</param>
    public RegisterOutcome Register(string[] prefixes, string[] keys, bool values, long afterRevision, out Watcher? watcher, TimeSpan? progressInterval = null, string? credential = null)
    {
        var owner = credential ?? "";
        watcher = null;
        lock (_dispatchLock)
        {
            if (_closedFor is not null)
            {
                // A client reconnecting on its kept-alive connection while the node shuts down must
                // not get a stream that would hold the shutdown open.
                return RegisterOutcome.Stopping;
            }

            if (_watchers.Count >= _options.MaxWatchers)
            {
                return RegisterOutcome.Full;
            }

            var held = _perCredential.GetValueOrDefault(owner);
            if (held >= _options.MaxWatchersPerCredential)
            {
                return RegisterOutcome.CredentialFull;
            }

            // The id names the node first, so a router can send requests about the stream to it.
            var id = $"{_nodeId}.{Environment.ProcessId:x}-{++_streams:x}";
            var created = new Watcher(id, prefixes, keys, values, afterRevision, _options.WatcherBufferEvents, _options.WatcherBufferBytes)
            {
                LastSequence = _dispatchedSequence,
                ProgressIntervalTicks = (long)((progressInterval ?? _options.ProgressInterval).TotalSeconds * Stopwatch.Frequency),
                Credential = owner,
            };

            lock (_historyLock)
            {
                if (afterRevision < _history.OldestAcceptedRevision)
                {
                    return RegisterOutcome.Gone;
                }

                // The backlog: everything already dispatched above the resume point. Later chunks
                // reach the watcher through the index once it is in it (below).
                for (var i = _history.FirstAbove(afterRevision); i < _history.Chunks; i++)
                {
                    var chunk = _history[i];
                    if (chunk.Sequence > _dispatchedSequence)
                    {
                        break;
                    }

                    created.EnqueueBacklog(chunk);
                }
            }

            _watchers.Add(id, created);
            _perCredential[owner] = held + 1;
            foreach (var prefix in prefixes)
            {
                Add(_byPrefix, prefix, created);
                _prefixLengthCounts[prefix.Length] = _prefixLengthCounts.GetValueOrDefault(prefix.Length) + 1;
            }

            foreach (var key in keys)
            {
                Add(_byKey, key, created);
            }

            RebuildPrefixLengths();
            watcher = created;
        }

        _telemetry.Opened();
        return RegisterOutcome.Registered;
    }

    public void Unregister(Watcher watcher)
    {
        lock (_dispatchLock)
        {
            if (!RemoveLocked(watcher))
            {
                return;
            }
        }

        _telemetry.Unregistered();
    }

    public bool TryGet(string id, out Watcher watcher)
    {
        lock (_dispatchLock)
        {
            return _watchers.TryGetValue(id, out watcher!);
        }
    }

    /// <summary>Completes once every chunk up to <paramref name="revision"/> was handed to the watchers.</summary>
    public Task WaitDispatchedAsync(long revision, CancellationToken token)
    {
        if (DispatchedRevision >= revision)
        {
            return Task.CompletedTask;
        }

        var waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_dispatchLock)
        {
            if (_dispatchedRevision >= revision)
            {
                return Task.CompletedTask;
            }

            _dispatchWaiters.Add((revision, waiter));
        }

        return waiter.Task.WaitAsync(token);
    }

    private CloseReason? _closedFor;

    /// <summary>Closes every stream (node stopping) and refuses new ones: each learns the revision to resume from.</summary>
    public void CloseAll(CloseReason reason)
    {
        List<Watcher> all;
        lock (_dispatchLock)
        {
            _closedFor = reason;
            all = [.. _watchers.Values];
            foreach (var watcher in all)
            {
                RemoveLocked(watcher);
            }
        }

        foreach (var watcher in all)
        {
            watcher.Close(reason);
            _telemetry.Closed(reason);
        }
    }

    private async Task DispatchLoopAsync()
    {
        var token = _stopping.Token;
        try
        {
            while (true)
            {
                await _pending.WaitAsync(token);
                while (_pending.CurrentCount > 0)
                {
                    _pending.Wait(0); // one pass takes everything appended so far
                }

                Dispatch();
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
        }
    }

    private void Dispatch()
    {
        lock (_dispatchLock)
        {
            long head;
            var lagged = false;
            _batch.Clear();
            lock (_historyLock)
            {
                head = _history.HeadRevision;
                if (_history.HeadSequence > _dispatchedSequence)
                {
                    var start = _history.IndexOfSequence(_dispatchedSequence + 1);
                    if (start < 0)
                    {
                        // The history dropped chunks before they were dispatched: nobody can be
                        // handed them any more, so every stream must resume (from history or anew).
                        lagged = true;
                        start = 0;
                    }

                    for (var i = start; i < _history.Chunks; i++)
                    {
                        _batch.Add(_history[i]);
                    }
                }
            }

            if (lagged)
            {
                foreach (var watcher in _watchers.Values)
                {
                    _overflowed.Add(watcher);
                }
            }

            foreach (var chunk in _batch)
            {
                FanOutLocked(chunk);
                _dispatchedSequence = chunk.Sequence;
            }

            _batch.Clear();
            foreach (var watcher in _overflowed)
            {
                RemoveLocked(watcher);
                watcher.Close(CloseReason.SlowConsumer);
                _telemetry.Closed(CloseReason.SlowConsumer);
            }

            _overflowed.Clear();
            if (head > _dispatchedRevision)
            {
                Volatile.Write(ref _dispatchedRevision, head);
            }

            CompleteDispatchWaitersLocked();
        }
    }

    private void FanOutLocked(EventChunk chunk)
    {
        var sequence = chunk.Sequence;
        var prefixes = _byPrefix.GetAlternateLookup<ReadOnlySpan<char>>();
        foreach (var e in chunk.Events)
        {
            if (_byKey.Count > 0 && _byKey.TryGetValue(e.Key, out var exact))
            {
                HandOver(exact, chunk, sequence);
            }

            foreach (var length in _prefixLengths)
            {
                if (length > e.Key.Length)
                {
                    break;
                }

                if (prefixes.TryGetValue(e.Key.AsSpan(0, length), out var matching))
                {
                    HandOver(matching, chunk, sequence);
                }
            }
        }
    }

    private void HandOver(HashSet<Watcher> watchers, EventChunk chunk, long sequence)
    {
        foreach (var watcher in watchers)
        {
            if (watcher.LastSequence >= sequence)
            {
                continue;
            }

            watcher.LastSequence = sequence;
            if (!watcher.Enqueue(chunk))
            {
                _overflowed.Add(watcher);
            }
        }
    }

    private bool RemoveLocked(Watcher watcher)
    {
        if (!_watchers.Remove(watcher.Id))
        {
            return false;
        }

        if (_perCredential.TryGetValue(watcher.Credential, out var held))
        {
            if (held <= 1)
            {
                _perCredential.Remove(watcher.Credential);
            }
            else
            {
                _perCredential[watcher.Credential] = held - 1;
            }
        }

        foreach (var prefix in watcher.Prefixes)
        {
            Remove(_byPrefix, prefix, watcher);
            if (--_prefixLengthCounts[prefix.Length] == 0)
            {
                _prefixLengthCounts.Remove(prefix.Length);
            }
        }

        foreach (var key in watcher.Keys)
        {
            Remove(_byKey, key, watcher);
        }

        RebuildPrefixLengths();
        return true;
    }

    private void RebuildPrefixLengths()
    {
        var lengths = _prefixLengthCounts.Keys.ToArray();
        Array.Sort(lengths);
        _prefixLengths = lengths;
    }

    private void CompleteDispatchWaitersLocked()
    {
        for (var i = _dispatchWaiters.Count - 1; i >= 0; i--)
        {
            if (_dispatchWaiters[i].Revision <= _dispatchedRevision)
            {
                _dispatchWaiters[i].Waiter.TrySetResult();
                _dispatchWaiters.RemoveAt(i);
            }
        }
    }

    private static void Add(Dictionary<string, HashSet<Watcher>> index, string key, Watcher watcher)
    {
        if (!index.TryGetValue(key, out var set))
        {
            index[key] = set = [];
        }

        set.Add(watcher);
    }

    private static void Remove(Dictionary<string, HashSet<Watcher>> index, string key, Watcher watcher)
    {
        if (index.TryGetValue(key, out var set) && set.Remove(watcher) && set.Count == 0)
        {
            index.Remove(key);
        }
    }

    public void Dispose()
    {
        _stopping.Cancel();
        try
        {
            Task.WaitAll([_dispatcher, _ticker], TimeSpan.FromSeconds(2));
        }
        catch (AggregateException)
        {
        }
    }
}

namespace AspireCache.Node.Watch;

/// <summary>Why a stream was closed by the node (sent as the final <c>event: error</c>).</summary>
public enum CloseReason
{
    /// <summary>The consumer fell further behind than its buffer allows.</summary>
    SlowConsumer,

    /// <summary>This node's state was replaced by a snapshot from the leader: its history restarts.</summary>
    SnapshotInstalled,

    /// <summary>The node is stopping.</summary>
    ShuttingDown,
}

/// <summary>
/// One open watch stream: its filter, the chunks handed to it and not yet written, and what it was
/// asked for. The dispatcher enqueues (never waits); the stream's own request loop writes.
/// </summary>
public sealed class Watcher
{
    private readonly Lock _lock = new();
    private readonly Queue<EventChunk> _queue = new();
    private readonly int _maxEvents;
    private readonly long _maxBytes;
    private readonly CancellationTokenSource _closed = new();
    private TaskCompletionSource? _wake;
    private long _queuedEvents; // live chunks only: what the bound counts
    private long _queuedBytes;
    private int _backlogChunks; // the history queued at registration, ahead of every live chunk and outside the bound
    private long _requestedProgress;

    public Watcher(string id, string[] prefixes, string[] keys, bool values, long position, int maxEvents, long maxBytes)
    {
        Id = id;
        Prefixes = prefixes;
        Keys = keys;
        Values = values;
        Position = position;
        _maxEvents = maxEvents;
        _maxBytes = maxBytes;
    }

    public string Id { get; }

    public string[] Prefixes { get; }

    public string[] Keys { get; }

    /// <summary>Whether events carry values (<c>values=false</c> leaves them out).</summary>
    public bool Values { get; }

    /// <summary>Every matching event up to this revision was written to the stream (only the request loop moves it).</summary>
    public long Position { get; set; }

    /// <summary>
    /// The highest revision this stream has written an <c>id:</c> or a progress event for: what its
    /// client can know it has reached (<see cref="Position"/> may be ahead, over changes it did not match).
    /// Written by the stream's loop, read by progress requests.
    /// </summary>
    public long AnnouncedPosition
    {
        get => Volatile.Read(ref _announced);
        set => Volatile.Write(ref _announced, value);
    }

    private long _announced;

    /// <summary>The name of the credential that opened the stream ("" without authentication): its per-credential count.</summary>
    internal string Credential { get; init; } = "";

    /// <summary>Dispatcher bookkeeping: the last chunk handed to this watcher (one hand-off per chunk).</summary>
    internal long LastSequence { get; set; }

    public CloseReason? Closed { get; private set; }

    /// <summary>Cancelled when the node closes the stream (cuts a write that a consumer does not read).</summary>
    public CancellationToken ClosedToken => _closed.Token;

    public bool Matches(string key)
    {
        foreach (var prefix in Prefixes)
        {
            if (key.StartsWith(prefix, StringComparison.Ordinal))
            {
                return true;
            }
        }

        foreach (var exact in Keys)
        {
            if (string.Equals(key, exact, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Hands a chunk over; <c>false</c> when the buffer is full (the watcher is then closed as slow).</summary>
    internal bool Enqueue(EventChunk chunk)
    {
        lock (_lock)
        {
            if (Closed is not null)
            {
                return true;
            }

            if (_queue.Count > 0 && (_queuedEvents + chunk.Events.Length > _maxEvents || _queuedBytes + chunk.Bytes > _maxBytes))
            {
                return false;
            }

            _queue.Enqueue(chunk);
            _queuedEvents += chunk.Events.Length;
            _queuedBytes += chunk.Bytes;
        }

        Wake();
        return true;
    }

    /// <summary>Queues history on registration, beyond the buffer bound (it is kept by the history anyway).</summary>
    internal void EnqueueBacklog(EventChunk chunk)
    {
        lock (_lock)
        {
            _queue.Enqueue(chunk);
            _backlogChunks++;
        }
    }

    /// <summary>Takes everything queued (the request loop only).</summary>
    internal bool TryDequeue(out EventChunk chunk)
    {
        lock (_lock)
        {
            if (_queue.TryDequeue(out chunk!))
            {
                if (_backlogChunks > 0)
                {
                    // A backlog chunk was never counted: taking it must not uncount a live one (the bound then
                    // held less than the live chunks queued behind it; found by review, session 32).
                    _backlogChunks--;
                }
                else
                {
                    _queuedEvents -= chunk.Events.Length;
                    _queuedBytes -= chunk.Bytes;
                }

                return true;
            }

            return false;
        }
    }

    /// <summary>Asks the loop to send a progress event for <paramref name="revision"/> (leader-confirmed).</summary>
    internal void RequestProgress(long revision)
    {
        lock (_lock)
        {
            _requestedProgress = Math.Max(_requestedProgress, revision);
        }

        Wake();
    }

    internal long TakeProgressRequest()
    {
        lock (_lock)
        {
            var requested = _requestedProgress;
            _requestedProgress = 0;
            return requested;
        }
    }

    internal void Close(CloseReason reason)
    {
        lock (_lock)
        {
            if (Closed is not null)
            {
                return;
            }

            Closed = reason;
            _queue.Clear();
            _queuedEvents = 0;
            _queuedBytes = 0;
        }

        try
        {
            _closed.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }

        Wake();
    }

    /// <summary>How long the stream may stay silent before it gets a progress event.</summary>
    public long ProgressIntervalTicks { get; init; } = long.MaxValue;

    /// <summary>When the stream last wrote anything (<see cref="System.Diagnostics.Stopwatch"/> ticks).</summary>
    public long LastWrite
    {
        get => Volatile.Read(ref _lastWrite);
        set => Volatile.Write(ref _lastWrite, value);
    }

    private long _lastWrite = System.Diagnostics.Stopwatch.GetTimestamp();
    private bool _idle;

    /// <summary>The hub's ticker: wakes the stream if it has been silent for its progress interval.</summary>
    internal void CheckIdle(long now)
    {
        if (now - LastWrite < ProgressIntervalTicks)
        {
            return;
        }

        lock (_lock)
        {
            _idle = true;
        }

        Wake();
    }

    /// <summary>Whether the stream was found silent for its interval (and clears it).</summary>
    internal bool TakeIdle()
    {
        lock (_lock)
        {
            var idle = _idle;
            _idle = false;
            return idle;
        }
    }

    /// <summary>
    /// Completes when there is something to do: chunks, a progress request, idleness, closing, or
    /// <see cref="Wake"/> (the request loop registers it on its cancellation token once). No timer
    /// per wait: the hub's one ticker finds idle streams.
    /// </summary>
    internal Task WaitAsync()
    {
        lock (_lock)
        {
            if (_queue.Count > 0 || _requestedProgress > 0 || _idle || Closed is not null)
            {
                return Task.CompletedTask;
            }

            _wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _wake.Task;
        }
    }

    /// <summary>Wakes the request loop (also used when its request is aborted).</summary>
    internal void Wake()
    {
        TaskCompletionSource? wake;
        lock (_lock)
        {
            wake = _wake;
            _wake = null;
        }

        wake?.TrySetResult();
    }
}

/// <summary>Names and explanations of <see cref="CloseReason"/>s, as streams and metrics show them.</summary>
public static class CloseReasons
{
    public static string Name(CloseReason reason) => reason switch
    {
        CloseReason.SlowConsumer => "slow-consumer",
        CloseReason.SnapshotInstalled => "snapshot-installed",
        _ => "shutting-down",
    };

    public static string Detail(CloseReason reason, long position, WatchOptions options) => reason switch
    {
        CloseReason.SlowConsumer => $"The stream fell more than {options.WatcherBufferEvents} events or {options.WatcherBufferBytes} bytes behind and was closed. Resume with Last-Event-ID: {position}.",
        CloseReason.SnapshotInstalled => $"This node replaced its state with a snapshot from the leader, so its change history restarts. Resume with Last-Event-ID: {position} (another node may still have the history; if the answer is 410, list the keys and watch from the list's revision).",
        _ => $"The node is stopping. Resume on another node with Last-Event-ID: {position}.",
    };
}

using System.Diagnostics;

namespace AspireCache.Node.StateMachine;

/// <summary>
/// Holds back the publication of the state machine's next snapshot while the leader brings a follower
/// back with a long transfer (an InstallSnapshot or a large AppendEntries), for at most the limit
/// (<see cref="StateMachineOptions.SnapshotHoldLimit"/>) from the moment the first of them started.
/// <para>
/// Why: DotNext 6.12 sends a replication request while it holds a read lock on its WAL, and a newly
/// published snapshot makes the WAL compact its log, which waits for every read lock to go, with the
/// WAL's other readers queued behind it: its flusher, its apply loop and the replication to the other
/// followers. A compaction that fell inside a catch-up therefore stopped every write for the rest of the
/// transfer. Held back, the snapshot (already written) is published when the transfers end; and since the
/// leader's log is not compacted under the follower's feet meanwhile, the follower goes on with entries
/// instead of being sent yet another snapshot.
/// </para>
/// The Raft layer enters it (<c>CatchUpTransferHandler</c>); the state machine waits on it.
/// </summary>
public sealed class SnapshotHold(TimeSpan limit)
{
    private readonly Lock _lock = new();
    private int _holders;
    private long _since; // Stopwatch timestamp of the moment the holders went from none to one
    private TaskCompletionSource _released = new(); // replaced by every hold that starts, completed when it ends

    /// <summary>Whether a transfer is in flight and the hold is younger than its limit.</summary>
    public bool IsHeld
    {
        get
        {
            lock (_lock)
            {
                return _holders > 0 && Stopwatch.GetElapsedTime(_since) < limit;
            }
        }
    }

    /// <summary>Holds snapshots back until the returned scope is disposed (once).</summary>
    public Scope Enter()
    {
        lock (_lock)
        {
            if (_holders++ == 0)
            {
                _since = Stopwatch.GetTimestamp();
                _released = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }

        return new Scope(this);
    }

    /// <summary>
    /// Completes when no transfer is in flight (true), or when the hold has lasted its limit (false: the
    /// snapshot is published anyway, so that the log stays bounded).
    /// </summary>
    public async Task<bool> WaitAsync(CancellationToken token)
    {
        Task released;
        TimeSpan left;
        lock (_lock)
        {
            if (_holders == 0)
            {
                return true;
            }

            released = _released.Task;
            left = limit - Stopwatch.GetElapsedTime(_since);
        }

        try
        {
            await released.WaitAsync(left > TimeSpan.Zero ? left : TimeSpan.Zero, token).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    /// <summary>
    /// Raised after the state machine published a snapshot of its own. DotNext's WAL compacts on its
    /// flusher's next round, which runs only when something is appended; until then the compaction is
    /// pending, and a catch-up that started meanwhile would still hold it, with every write behind it, for
    /// the whole transfer. The leader answers with an empty entry (<c>CompactionNudge</c>).
    /// </summary>
    public event Action? Published;

    internal void NotifyPublished() => Published?.Invoke();

    private void Exit()
    {
        lock (_lock)
        {
            if (--_holders == 0)
            {
                _released.TrySetResult();
            }
        }
    }

    public sealed class Scope(SnapshotHold hold) : IDisposable
    {
        private int _disposed;

        /// <summary>
        /// Ends this hold <paramref name="delay"/> from now instead of at once: after a follower was sent a
        /// snapshot, its next round asks for the entries after it, and a newer snapshot published first would
        /// make DotNext send it that snapshot instead (the entries before it compacted or not).
        /// </summary>
        public void EndAfter(TimeSpan delay)
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                _ = Task.Delay(delay).ContinueWith(static (_, h) => ((SnapshotHold)h!).Exit(), hold, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                hold.Exit();
            }
        }
    }
}

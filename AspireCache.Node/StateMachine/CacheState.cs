namespace AspireCache.Node.StateMachine;

/// <summary>
/// The replicated key-value state: a pure function of the commands applied to it, in log order.
/// It knows nothing of HTTP, Raft roles or clocks: time comes from the entry (the leader's clock).
/// The single apply loop publishes a new immutable <see cref="StateView"/> per command; readers
/// take the current view without locks, and a snapshot is a consistent view for free
/// (copy-on-write: persisting it never blocks readers).
/// </summary>
public sealed class CacheState
{
    /// <summary>Accounting overhead per entry (see <see cref="CacheEntry.OverheadBytes"/>).</summary>
    public const long EntryOverheadBytes = CacheEntry.OverheadBytes;

    private readonly Lock _expiryLock = new();
    private readonly SortedSet<(long ExpiresUnixMs, string Key)> _expiries = [];
    private StateView _view = StateView.Empty;
    private long _sizeBytes;

    /// <summary>Advances by one for every command that changed something (etcd's revision).</summary>
    public long Revision => Volatile.Read(ref _view).Revision;

    public int Count => Volatile.Read(ref _view).Count;

    public CacheState()
        : this(IdempotencyLimits.Default)
    {
    }

    /// <param name="idempotency">How much the idempotency table remembers: the same on every replica.</param>
    public CacheState(IdempotencyLimits idempotency) => Idempotency = new IdempotencyTable(idempotency);

    /// <summary>Recorded results of idempotent writes (replicated, snapshotted). Touched only by apply and snapshots.</summary>
    public IdempotencyTable Idempotency { get; private set; }

    /// <summary>
    /// Sets the idempotency table's limits (configuration) before anything was applied or restored;
    /// later restores keep them.
    /// </summary>
    public void UseIdempotencyLimits(IdempotencyLimits limits)
    {
        if (Idempotency.Count > 0 || Revision > 0)
        {
            throw new InvalidOperationException("The idempotency limits are set before the state is applied to or restored.");
        }

        Idempotency = new IdempotencyTable(limits);
    }

    /// <summary>Bytes of keys, values and per-entry overhead currently stored.</summary>
    public long SizeBytes => Volatile.Read(ref _sizeBytes);

    /// <summary>The current immutable view.</summary>
    public StateView Current => Volatile.Read(ref _view);

    /// <summary>The current entries (for snapshots and tests).</summary>
    public EntryMap View => Current.Entries;

    public bool TryGet(string key, out CacheEntry entry)
    {
        if (Current.Entries.TryGetValue(key, out var found))
        {
            entry = found;
            return true;
        }

        entry = null!;
        return false;
    }

    /// <summary>Keys whose TTL has passed at <paramref name="nowUnixMs"/>, with their versions (for the leader to remove).</summary>
    public List<KeyValuePair<string, long>> ExpiredKeys(long nowUnixMs, int limit)
    {
        var expired = new List<KeyValuePair<string, long>>();
        var view = Current;
        lock (_expiryLock)
        {
            foreach (var (expires, key) in _expiries)
            {
                if (expires > nowUnixMs || expired.Count == limit)
                {
                    break;
                }

                if (view.Entries.TryGetValue(key, out var entry) && entry.ExpiresUnixMs == expires)
                {
                    expired.Add(new(key, entry.Version));
                }
            }
        }

        return expired;
    }

    /// <summary>
    /// Applies the commands of one log entry in order; one result per command. Each key changed is
    /// added to <paramref name="changes"/> (when given) with the revision its command produced.
    /// </summary>
    public CommandResult[] Apply(CommandBatch batch, List<Change>? changes = null)
    {
        var results = new CommandResult[batch.Commands.Count];
        for (var i = 0; i < results.Length; i++)
        {
            results[i] = Apply(batch.Commands[i], batch.TimestampUnixMs, changes);
        }

        return results;
    }

    private CommandResult Apply(CacheCommand command, long timestamp, List<Change>? feed)
    {
        if (command.IdempotencyKey is not { } idempotencyKey)
        {
            return ApplyCommand(command, timestamp, feed);
        }

        Idempotency.Expire(timestamp);
        var fingerprint = IdempotencyTable.Fingerprint(command);
        if (Idempotency.TryGet(idempotencyKey, out var recorded))
        {
            return recorded.Fingerprint == fingerprint
                ? recorded.Result with { Replayed = true }
                : new CommandResult(CommandOutcome.IdempotencyConflict, Revision);
        }

        var result = ApplyCommand(command, timestamp, feed);
        Idempotency.Add(idempotencyKey, new IdempotencyTable.Record(fingerprint, result, timestamp));
        return result;
    }

    private CommandResult ApplyCommand(CacheCommand command, long timestamp, List<Change>? feed)
    {
        var view = Current;
        switch (command)
        {
            case SetCommand set:
                {
                    view.Entries.TryGetValue(set.Key, out var current);
                    if (set.ExpectedVersion is { } expected && !ExpectedVersion.Holds(expected, current))
                    {
                        return new(CommandOutcome.PreconditionFailed, current?.Version ?? 0);
                    }

                    var changes = new Changes(view, feed);
                    var revision = view.Revision + 1;
                    changes.Set(set.Key, set.Value, revision, timestamp, set.TtlMs, set.Pinned, set.Writer);
                    Publish(changes, revision);
                    return new(current is null ? CommandOutcome.Created : CommandOutcome.Updated, revision);
                }

            case DeleteCommand delete:
                {
                    view.Entries.TryGetValue(delete.Key, out var current);
                    if (delete.ExpectedVersion is { } expected && !ExpectedVersion.Holds(expected, current))
                    {
                        return new(CommandOutcome.PreconditionFailed, current?.Version ?? 0);
                    }

                    if (current is null)
                    {
                        return new(CommandOutcome.NotFound, view.Revision);
                    }

                    var revision = view.Revision + 1;
                    var changes = new Changes(view, feed);
                    changes.Remove(delete.Key, revision, ChangeType.Delete, delete.Writer);
                    Publish(changes, revision);
                    return new(CommandOutcome.Deleted, revision);
                }

            case BatchCommand { Sets.Count: 0, Deletes.Count: 0 }:
                // A barrier: nothing changes, the revision stays.
                return new(CommandOutcome.BatchApplied, view.Revision);

            case BatchCommand batch:
                {
                    foreach (var (key, expected) in batch.Conditions)
                    {
                        view.Entries.TryGetValue(key, out var current);
                        if (!ExpectedVersion.Holds(expected, current))
                        {
                            return new(CommandOutcome.PreconditionFailed, view.Revision, FailedKey: key);
                        }
                    }

                    var revision = view.Revision + 1;
                    var changes = new Changes(view, feed);
                    foreach (var (key, value) in batch.Sets)
                    {
                        changes.Set(key, value, revision, timestamp, ttlMs: 0, pinned: false, batch.Writer);
                    }

                    foreach (var key in batch.Deletes)
                    {
                        changes.Remove(key, revision, ChangeType.Delete, batch.Writer);
                    }

                    Publish(changes, revision);
                    return new(CommandOutcome.BatchApplied, revision);
                }

            case RemoveCommand remove:
                {
                    var revision = view.Revision + 1;
                    var type = remove.Reason == RemovalReason.Evicted ? ChangeType.Evict : ChangeType.Expire;
                    var changes = new Changes(view, feed);
                    foreach (var (key, version) in remove.Keys)
                    {
                        if (view.Entries.TryGetValue(key, out var current) && current.Version == version)
                        {
                            changes.Remove(key, revision, type);
                        }
                    }

                    if (!changes.Any)
                    {
                        return new(CommandOutcome.Removed, view.Revision);
                    }

                    Publish(changes, revision);
                    return new(CommandOutcome.Removed, revision);
                }

            default:
                throw new CommandFormatException($"Unknown command {command.GetType().Name}.");
        }
    }

    /// <summary>One publication per command: readers never observe half a batch.</summary>
    private void Publish(Changes changes, long revision)
    {
        _sizeBytes += changes.SizeDelta;

        // Only commands that touch a TTL take the expiry index's lock (most commands do not).
        if (changes.AddedExpiries.Count + changes.RemovedExpiries.Count > 0)
        {
            lock (_expiryLock)
            {
                foreach (var removed in changes.RemovedExpiries)
                {
                    _expiries.Remove(removed);
                }

                foreach (var added in changes.AddedExpiries)
                {
                    _expiries.Add(added);
                }
            }
        }

        Volatile.Write(ref _view, new StateView(changes.Entries.ToImmutable(), revision));
    }

    public static long SizeOf(string key, ReadOnlyMemory<byte> value) => CacheEntry.SizeOf(key, value);

    /// <summary>Accumulates one command's changes on builders of the current view.</summary>
    private sealed class Changes(StateView view, List<Change>? feed)
    {
        public EntryMap.Builder Entries { get; } = view.Entries.ToBuilder();

        public long SizeDelta { get; private set; }

        public bool Any { get; private set; }

        public List<(long, string)> AddedExpiries { get; } = [];

        public List<(long, string)> RemovedExpiries { get; } = [];

        public void Set(string key, ReadOnlyMemory<byte> value, long revision, long timestamp, long ttlMs, bool pinned, string? writer)
        {
            var created = !Entries.TryGetValue(key, out var old);
            var entry = new CacheEntry(value, revision, created ? timestamp : old!.CreatedUnixMs, timestamp, ttlMs > 0 ? timestamp + ttlMs : 0, pinned);
            Entries.Set(key, entry);
            if (!created)
            {
                SizeDelta -= SizeOf(key, old!.Value);
                if (old.ExpiresUnixMs != 0)
                {
                    RemovedExpiries.Add((old.ExpiresUnixMs, key));
                }
            }

            if (entry.ExpiresUnixMs != 0)
            {
                AddedExpiries.Add((entry.ExpiresUnixMs, key));
            }

            SizeDelta += SizeOf(key, value);
            Any = true;
            feed?.Add(new Change(ChangeType.Put, key, revision, entry, writer));
        }

        public void Remove(string key, long revision, ChangeType type, string? writer = null)
        {
            if (Entries.TryGetValue(key, out var old))
            {
                feed?.Add(new Change(type, key, revision, null, writer));
                Entries.Remove(key);
                SizeDelta -= SizeOf(key, old.Value);
                if (old.ExpiresUnixMs != 0)
                {
                    RemovedExpiries.Add((old.ExpiresUnixMs, key));
                }

                Any = true;
            }
        }
    }

    /// <summary>Writes a snapshot of <paramref name="view"/> and the idempotency table as it is at the call (<see cref="IdempotencyTable.Snapshot"/>: apply may go on meanwhile).</summary>
    public static ValueTask WriteSnapshotAsync(StateView view, IdempotencyTable? idempotency, Stream output, CancellationToken token) =>
        WriteSnapshotAsync(view, idempotency?.Snapshot() ?? [], output, token);

    /// <summary>
    /// Writes a consistent snapshot (<see cref="SnapshotFormat"/>): the immutable <paramref name="view"/>,
    /// then the idempotency records captured with it. Neither changes while this runs, so applies may go on meanwhile.
    /// </summary>
    public static ValueTask WriteSnapshotAsync(StateView view, IReadOnlyCollection<(string Key, IdempotencyTable.Record Record)> idempotency, Stream output, CancellationToken token) =>
        SnapshotFormat.WriteAsync(view, idempotency, output, token);

    /// <summary>Replaces this state with the snapshot read from <paramref name="input"/> (any version <see cref="SnapshotFormat"/> reads).</summary>
    public async ValueTask RestoreSnapshotAsync(Stream input, CancellationToken token)
    {
        // Everything is read into new objects and swapped in at the end: a restore that fails or is
        // cancelled half-way (an install from the leader) leaves the current state untouched.
        var restored = await SnapshotFormat.ReadAsync(input, Idempotency.Limits, token);
        Idempotency = restored.Idempotency;
        lock (_expiryLock)
        {
            _expiries.Clear();
            _expiries.UnionWith(restored.Expiries);
        }

        Volatile.Write(ref _sizeBytes, restored.SizeBytes);
        Volatile.Write(ref _view, restored.View);
    }
}

namespace AspireCache.Node.StateMachine;

/// <summary>
/// Results of writes that carried an <c>Idempotency-Key</c>, recorded by apply. Part of the
/// replicated state: records are kept for <see cref="IdempotencyLimits.Window"/> of <em>log time</em>
/// (the entries' leader timestamps) within a memory bound in bytes, oldest forgotten first, so every
/// replica (with the same <see cref="Limits"/>) keeps and forgets exactly the same keys. Snapshotted.
/// </summary>
public sealed class IdempotencyTable(IdempotencyLimits limits)
{
    /// <summary>
    /// Accounted bytes per record besides its key's characters: the key string's header, the
    /// dictionary entry (hash, next, key, record: ~60 bytes with its bucket) and the order queue's
    /// slot (16), with headroom for both collections' growth slack.
    /// </summary>
    public const long RecordOverheadBytes = 144;

    /// <summary>Accounted bytes of a string kept only by a record (a batch's failed key): header and characters.</summary>
    private const long StringOverheadBytes = 24;

    private readonly Dictionary<string, Record> _records = new(StringComparer.Ordinal);
    private readonly Queue<(string Key, long RecordedUnixMs)> _order = new();

    public IdempotencyTable()
        : this(IdempotencyLimits.Default)
    {
    }

    /// <summary>What was recorded: a fingerprint of the request and the result it produced.</summary>
    public readonly record struct Record(ulong Fingerprint, CommandResult Result, long RecordedUnixMs);

    public IdempotencyLimits Limits { get; } = limits.MaxBytes > 0 && limits.Window >= TimeSpan.Zero
        ? limits
        : throw new ArgumentOutOfRangeException(nameof(limits), limits, "The idempotency window must not be negative and the byte bound must be positive.");

    public int Count => _records.Count;

    /// <summary>Accounted bytes of the records held (<see cref="SizeOf"/> summed); never above <see cref="IdempotencyLimits.MaxBytes"/> but for a single record.</summary>
    public long SizeBytes { get; private set; }

    /// <summary>
    /// Records the byte bound forced out while still inside their window (since this table was
    /// created or restored): non-zero means the bound is too small for the write rate.
    /// </summary>
    public long EvictedInsideWindow { get; private set; }

    public static long SizeOf(string key, in Record record) =>
        RecordOverheadBytes + (2L * key.Length) + (record.Result.FailedKey is { } failed ? StringOverheadBytes + (2L * failed.Length) : 0);

    public bool TryGet(string key, out Record record) => _records.TryGetValue(key, out record);

    /// <summary>Forgets records older than the window at log time <paramref name="nowUnixMs"/>.</summary>
    public void Expire(long nowUnixMs)
    {
        var horizon = nowUnixMs - Limits.WindowMs;
        while (_order.TryPeek(out var oldest) && oldest.RecordedUnixMs < horizon)
        {
            Forget();
        }
    }

    /// <summary>
    /// Records <paramref name="record"/> under <paramref name="key"/> (replacing any record of that key),
    /// then forgets the oldest records while the byte bound is exceeded.
    /// </summary>
    public void Add(string key, Record record)
    {
        if (_records.TryGetValue(key, out var replaced))
        {
            SizeBytes -= SizeOf(key, replaced); // its queue slot becomes stale and is skipped
        }

        _records[key] = record;
        _order.Enqueue((key, record.RecordedUnixMs));
        SizeBytes += SizeOf(key, record);

        var horizon = record.RecordedUnixMs - Limits.WindowMs;
        while (SizeBytes > Limits.MaxBytes && _records.Count > 1)
        {
            if (Forget() is { } forgotten && forgotten >= horizon)
            {
                EvictedInsideWindow++;
            }
        }
    }

    /// <summary>Entries in insertion order (for snapshots).</summary>
    public IEnumerable<(string Key, Record Record)> Entries()
    {
        foreach (var (key, recorded) in _order)
        {
            if (_records.TryGetValue(key, out var record) && record.RecordedUnixMs == recorded)
            {
                yield return (key, record);
            }
        }
    }

    /// <summary>Drops the oldest queue slot; returns the recorded time of the record it forgot, if any (stale slots forget nothing).</summary>
    private long? Forget()
    {
        var (key, recorded) = _order.Dequeue();
        if (_records.TryGetValue(key, out var record) && record.RecordedUnixMs == recorded)
        {
            _records.Remove(key);
            SizeBytes -= SizeOf(key, record);
            return recorded;
        }

        return null;
    }

    /// <summary>
    /// FNV-1a over a command's encoded body: same request ⇒ same fingerprint on every replica. The
    /// bytes are hashed as the codec writes them (runs on apply for every keyed write: no copy of the
    /// value or of the command). Persisted in snapshots: the hashed bytes must never change.
    /// </summary>
    public static ulong Fingerprint(CacheCommand command)
    {
        // One hasher per thread (apply runs on one at a time): no allocation per keyed write.
        var hasher = t_hasher ??= new HashingWriter();
        hasher.Reset();
        CommandCodec.EncodeKeyless(command, hasher);
        return hasher.Hash;
    }

    [ThreadStatic]
    private static HashingWriter? t_hasher;

    /// <summary>An <see cref="System.Buffers.IBufferWriter{T}"/> that folds what is written into an FNV-1a hash.</summary>
    private sealed class HashingWriter : System.Buffers.IBufferWriter<byte>
    {
        private byte[] _scratch = new byte[256];

        private const ulong Offset = 14695981039346656037UL;

        public ulong Hash { get; private set; } = Offset;

        /// <summary>Starts a new hash; a scratch buffer grown for a large value is not kept.</summary>
        public void Reset()
        {
            Hash = Offset;
            if (_scratch.Length > 64 * 1024)
            {
                _scratch = new byte[256];
            }
        }

        public void Advance(int count)
        {
            var hash = Hash;
            foreach (var b in _scratch.AsSpan(0, count))
            {
                hash = (hash ^ b) * 1099511628211UL;
            }

            Hash = hash;
        }

        public Memory<byte> GetMemory(int sizeHint = 0) => Ensure(sizeHint);

        public Span<byte> GetSpan(int sizeHint = 0) => Ensure(sizeHint);

        private byte[] Ensure(int sizeHint)
        {
            if (sizeHint > _scratch.Length)
            {
                _scratch = new byte[sizeHint];
            }

            return _scratch;
        }
    }
}

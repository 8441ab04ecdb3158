namespace AspireCache.Node.StateMachine;

/// <summary>
/// Results of writes that carried an <c>Idempotency-Key</c>, recorded by apply. Part of the
/// replicated state: bounded by count and by age in <em>log time</em> (the entries' leader
/// timestamps), so every replica keeps and forgets exactly the same keys. Snapshotted.
/// </summary>
public sealed class IdempotencyTable
{
    /// <summary>Most keys remembered. Fixed, not configurable: replicas must agree on it.</summary>
    public const int MaxEntries = 100_000;

    /// <summary>How long (log time) a key is remembered. Fixed for the same reason.</summary>
    public static readonly TimeSpan Retention = TimeSpan.FromMinutes(10);

    private readonly Dictionary<string, Record> _records = new(StringComparer.Ordinal);
    private readonly Queue<(string Key, long RecordedUnixMs)> _order = new();

    /// <summary>What was recorded: a fingerprint of the request and the result it produced.</summary>
    public readonly record struct Record(ulong Fingerprint, CommandResult Result, long RecordedUnixMs);

    public int Count => _records.Count;

    public bool TryGet(string key, out Record record) => _records.TryGetValue(key, out record);

    /// <summary>Forgets keys older than <see cref="Retention"/> at log time <paramref name="nowUnixMs"/>.</summary>
    public void Expire(long nowUnixMs)
    {
        var horizon = nowUnixMs - (long)Retention.TotalMilliseconds;
        while (_order.TryPeek(out var oldest) && oldest.RecordedUnixMs < horizon)
        {
            Forget();
        }
    }

    public void Add(string key, Record record)
    {
        while (_records.Count >= MaxEntries)
        {
            Forget();
        }

        _records[key] = record;
        _order.Enqueue((key, record.RecordedUnixMs));
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

    private void Forget()
    {
        var (key, recorded) = _order.Dequeue();
        if (_records.TryGetValue(key, out var record) && record.RecordedUnixMs == recorded)
        {
            _records.Remove(key);
        }
    }

    /// <summary>
    /// FNV-1a over a command's encoded body: same request ⇒ same fingerprint on every replica. The
    /// bytes are hashed as the codec writes them (runs on apply for every keyed write: no copy of the value).
    /// </summary>
    public static ulong Fingerprint(CacheCommand command)
    {
        var hasher = new HashingWriter();
        CommandCodec.Encode(new CommandBatch(0, [command with { IdempotencyKey = null }]), hasher);
        return hasher.Hash;
    }

    /// <summary>An <see cref="System.Buffers.IBufferWriter{T}"/> that folds what is written into an FNV-1a hash.</summary>
    private sealed class HashingWriter : System.Buffers.IBufferWriter<byte>
    {
        private byte[] _scratch = new byte[256];

        public ulong Hash { get; private set; } = 14695981039346656037UL;

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

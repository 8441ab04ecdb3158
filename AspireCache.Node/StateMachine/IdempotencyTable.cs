namespace AspireCache.Node.StateMachine;

/// <summary>
/// Results of writes that carried an <c>Idempotency-Key</c>, recorded by apply. Part of the
/// replicated state: records are kept for <see cref="IdempotencyLimits.Window"/> of <em>log time</em>
/// (the entries' leader timestamps) within a memory bound in bytes, oldest forgotten first, so every
/// replica (with the same <see cref="Limits"/>) keeps and forgets exactly the same keys. Snapshotted.
/// </summary>
public sealed class IdempotencyTable
{
    /// <summary>
    /// Accounted bytes per record besides its key's characters: in the table's first form the key
    /// string's header, the dictionary entry (hash, next, key, record: ~60 bytes with its bucket) and
    /// the order queue's slot (16), with headroom for growth slack. Kept as it was: it decides which
    /// records every replica forgets (today a record takes ~70 bytes besides its key's characters).
    /// </summary>
    public const long RecordOverheadBytes = 144;

    /// <summary>Accounted bytes of a string kept only by a record (a batch's failed key): header and characters.</summary>
    private const long StringOverheadBytes = 24;

    /// <summary>
    /// Records per storage chunk: 1,024 slots of 48 bytes stay below the large-object heap, and a
    /// snapshot copies one reference per chunk instead of one record per record.
    /// </summary>
    private const int ChunkSize = 1024;

    /// <summary>Characters a chunk's key arena starts with (32-character keys fit; longer ones grow it).</summary>
    private const int ArenaChars = ChunkSize * 40;

    // The records, oldest first, in fixed-size chunks that are only ever appended to: slot `seq` is slot
    // (seq - _baseSeq) % ChunkSize of chunk (seq - _baseSeq) / ChunkSize, its key's characters in that
    // chunk's arena. No record has a heap object of its own: a million records are a few thousand arrays
    // to the GC, not a million strings. Forgetting moves _headSeq and drops a chunk once it is behind it,
    // without touching a slot, so a snapshot (a copy of the chunk list and the head and tail) stays
    // valid while apply goes on. The index holds the live slots, hashed and compared by their keys'
    // characters (KeyComparer); a slot whose key was recorded again later is stale (in _stale) and skipped.
    private readonly HashSet<long> _index;
    private readonly HashSet<long>.AlternateLookup<ReadOnlySpan<char>> _byKey;
    private readonly List<Chunk> _chunks = [];
    private readonly HashSet<long> _stale = [];
    private long _baseSeq;
    private long _headSeq;
    private long _tailSeq;

    private readonly record struct Slot(int KeyStart, int KeyLength, Record Record);

    private sealed class Chunk
    {
        public readonly Slot[] Slots = new Slot[ChunkSize];
        public char[] Arena = new char[ArenaChars];
        public int ArenaUsed;

        public ReadOnlySpan<char> KeyOf(in Slot slot) => Volatile.Read(ref Arena).AsSpan(slot.KeyStart, slot.KeyLength);
    }

    public IdempotencyTable()
        : this(IdempotencyLimits.Default)
    {
    }

    public IdempotencyTable(IdempotencyLimits limits)
    {
        Limits = limits.MaxBytes > 0 && limits.Window >= TimeSpan.Zero
            ? limits
            : throw new ArgumentOutOfRangeException(nameof(limits), limits, "The idempotency window must not be negative and the byte bound must be positive.");
        _index = new HashSet<long>(new KeyComparer(this));
        _byKey = _index.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    /// <summary>What was recorded: a fingerprint of the request and the result it produced.</summary>
    public readonly record struct Record(ulong Fingerprint, CommandResult Result, long RecordedUnixMs);

    public IdempotencyLimits Limits { get; }

    public int Count => _index.Count;

    /// <summary>Accounted bytes of the records held (<see cref="SizeOf"/> summed); never above <see cref="IdempotencyLimits.MaxBytes"/> but for a single record.</summary>
    public long SizeBytes { get; private set; }

    /// <summary>
    /// Records the byte bound forced out while still inside their window (since this table was
    /// created or restored): non-zero means the bound is too small for the write rate.
    /// </summary>
    public long EvictedInsideWindow { get; private set; }

    public static long SizeOf(string key, in Record record)
    {
        ArgumentNullException.ThrowIfNull(key);
        return SizeOf(key.Length, record);
    }

    /// <summary>The accounting is that of the table's first form (a string per key): it decides what every replica forgets, so it never changes.</summary>
    private static long SizeOf(int keyLength, in Record record) =>
        RecordOverheadBytes + (2L * keyLength) + (record.Result.FailedKey is { } failed ? StringOverheadBytes + (2L * failed.Length) : 0);

    public bool TryGet(string key, out Record record)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (_byKey.TryGetValue(key, out var seq))
        {
            record = SlotAt(seq).Record;
            return true;
        }

        record = default;
        return false;
    }

    /// <summary>Forgets records older than the window at log time <paramref name="nowUnixMs"/>.</summary>
    public void Expire(long nowUnixMs)
    {
        var horizon = nowUnixMs - Limits.WindowMs;
        while (_headSeq < _tailSeq && SlotAt(_headSeq).Record.RecordedUnixMs < horizon)
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
        ArgumentNullException.ThrowIfNull(key);
        if (_byKey.TryGetValue(key, out var replaced))
        {
            SizeBytes -= SizeOf(key.Length, SlotAt(replaced).Record);
            _index.Remove(replaced);
            _stale.Add(replaced); // its slot stays, skipped, until forgetting passes it
        }

        _index.Add(Append(key, record));
        SizeBytes += SizeOf(key.Length, record);

        var horizon = record.RecordedUnixMs - Limits.WindowMs;
        while (SizeBytes > Limits.MaxBytes && _index.Count > 1)
        {
            if (Forget() is { } forgotten && forgotten >= horizon)
            {
                EvictedInsideWindow++;
            }
        }
    }

    /// <summary>
    /// The records as they are now, in insertion order, for a snapshot written while apply goes on: it
    /// shares the table's chunks (slots are never changed, only appended after its end), so taking it
    /// costs one reference per 1,024 records, not a copy of every record.
    /// </summary>
    public IReadOnlyCollection<(string Key, Record Record)> Snapshot() =>
        new FrozenView([.. _chunks], _baseSeq, _headSeq, _tailSeq, _stale.Count == 0 ? null : [.. _stale], _index.Count);

    /// <summary>Where slot <paramref name="seq"/> is, in chunks whose first slot is <paramref name="baseSeq"/> (the table's or a snapshot's).</summary>
    private static Chunk Locate(ReadOnlySpan<Chunk> chunks, long baseSeq, long seq, out int index)
    {
        var offset = seq - baseSeq;
        index = (int)(offset % ChunkSize);
        return chunks[(int)(offset / ChunkSize)];
    }

    private Chunk ChunkOf(long seq, out int index) => Locate(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_chunks), _baseSeq, seq, out index);

    private ref readonly Slot SlotAt(long seq) => ref ChunkOf(seq, out var i).Slots[i];

    private ReadOnlySpan<char> KeyAt(long seq)
    {
        var chunk = ChunkOf(seq, out var i);
        return chunk.KeyOf(chunk.Slots[i]);
    }

    private long Append(string key, Record record)
    {
        var offset = _tailSeq - _baseSeq;
        if (offset % ChunkSize == 0 && offset / ChunkSize == _chunks.Count)
        {
            _chunks.Add(new Chunk());
        }

        var chunk = _chunks[(int)(offset / ChunkSize)];
        if (chunk.Arena.Length - chunk.ArenaUsed < key.Length)
        {
            // Copied before it is published: a snapshot's writer reads either arena, both hold every key so far.
            var bigger = new char[Math.Max(chunk.Arena.Length * 2, chunk.ArenaUsed + key.Length)];
            chunk.Arena.AsSpan(0, chunk.ArenaUsed).CopyTo(bigger);
            Volatile.Write(ref chunk.Arena, bigger);
        }

        key.CopyTo(chunk.Arena.AsSpan(chunk.ArenaUsed));
        chunk.Slots[offset % ChunkSize] = new Slot(chunk.ArenaUsed, key.Length, record);
        chunk.ArenaUsed += key.Length;
        return _tailSeq++;
    }

    /// <summary>Drops the oldest slot; returns the recorded time of the record it forgot, if any (stale slots forget nothing).</summary>
    private long? Forget()
    {
        var seq = _headSeq;
        var slot = SlotAt(seq);
        long? forgotten = null;
        if (!_stale.Remove(seq))
        {
            _index.Remove(seq); // while its chunk is still here: the index hashes the slot's key
            SizeBytes -= SizeOf(slot.KeyLength, slot.Record);
            forgotten = slot.Record.RecordedUnixMs;
        }

        _headSeq++;
        while (_headSeq - _baseSeq >= ChunkSize)
        {
            _chunks.RemoveAt(0); // behind the head: only snapshots taken earlier still read it
            _baseSeq += ChunkSize;
        }

        return forgotten;
    }

    /// <summary>The index's view of a slot: its key's characters (ordinal), and lookups by a key's characters.</summary>
    private sealed class KeyComparer(IdempotencyTable table) : IEqualityComparer<long>, IAlternateEqualityComparer<ReadOnlySpan<char>, long>
    {
        public bool Equals(long x, long y) => x == y || table.KeyAt(x).SequenceEqual(table.KeyAt(y));

        public int GetHashCode(long obj) => string.GetHashCode(table.KeyAt(obj));

        public bool Equals(ReadOnlySpan<char> alternate, long other) => alternate.SequenceEqual(table.KeyAt(other));

        public int GetHashCode(ReadOnlySpan<char> alternate) => string.GetHashCode(alternate);

        public long Create(ReadOnlySpan<char> alternate) => throw new NotSupportedException("Slots are added by sequence number.");
    }

    /// <summary>The records between a head and a tail of shared chunks, stale slots skipped.</summary>
    private sealed class FrozenView(Chunk[] chunks, long baseSeq, long headSeq, long tailSeq, HashSet<long>? stale, int count)
        : IReadOnlyCollection<(string Key, Record Record)>
    {
        public int Count => count;

        public IEnumerator<(string Key, Record Record)> GetEnumerator()
        {
            for (var seq = headSeq; seq < tailSeq; seq++)
            {
                if (stale is not null && stale.Contains(seq))
                {
                    continue;
                }

                var chunk = Locate(chunks, baseSeq, seq, out var i);
                var slot = chunk.Slots[i];
                yield return (new string(chunk.KeyOf(slot)), slot.Record);
            }
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
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

using System.Runtime.InteropServices;

namespace AspireCache.Node.StateMachine;

/// <summary>One stored value with its metadata.</summary>
/// <remarks>
/// The value is kept as the whole <c>byte[]</c> it arrived in (a <see cref="ReadOnlyMemory{T}"/> field would
/// add an offset and a length: 8 bytes per entry); one given as a slice of a larger array is copied.
/// 64 bytes per entry with the object header, besides the value's array.
/// </remarks>
public sealed record CacheEntry
{
    /// <summary>
    /// Accounting overhead per entry besides the key's characters and the value's bytes: the key
    /// string's header (22) and the value array's (24), this object (64) and its slot in the
    /// <see cref="EntryMap"/> (16, plus its share of its leaf's headers: 18–19 in all) ≈ 128 before
    /// object alignment. Measured in process with 13-character keys and 256-byte values: 407–411
    /// bytes per entry, i.e. 125–129 of overhead. It was 96 while the state kept an
    /// ImmutableDictionary and an ImmutableSortedSet of the keys, whose nodes alone took 112 bytes per
    /// entry (the real overhead was then ≈ 230: 508–512 bytes per entry measured the same way).
    /// </summary>
    public const long OverheadBytes = 128;

    private readonly byte[] _value;

    /// <param name="Value">The raw value bytes (never mutated after creation).</param>
    /// <param name="Version">The revision of the last write to this key: the key's ETag.</param>
    /// <param name="CreatedUnixMs">Leader timestamp of the write that created the key.</param>
    /// <param name="UpdatedUnixMs">Leader timestamp of the last write.</param>
    /// <param name="ExpiresUnixMs">When the value expires (leader time); 0 = never.</param>
    /// <param name="Pinned">Never evicted under memory pressure.</param>
    public CacheEntry(ReadOnlyMemory<byte> Value, long Version, long CreatedUnixMs, long UpdatedUnixMs, long ExpiresUnixMs = 0, bool Pinned = false)
    {
        _value = WholeArray(Value);
        this.Version = Version;
        this.CreatedUnixMs = CreatedUnixMs;
        this.UpdatedUnixMs = UpdatedUnixMs;
        this.ExpiresUnixMs = ExpiresUnixMs;
        this.Pinned = Pinned;
    }

    /// <summary>The raw value bytes (never mutated after creation).</summary>
    public ReadOnlyMemory<byte> Value
    {
        get => _value;
        init => _value = WholeArray(value);
    }

    /// <summary>The revision of the last write to this key: the key's ETag.</summary>
    public long Version { get; init; }

    /// <summary>Leader timestamp of the write that created the key.</summary>
    public long CreatedUnixMs { get; init; }

    /// <summary>Leader timestamp of the last write.</summary>
    public long UpdatedUnixMs { get; init; }

    /// <summary>When the value expires (leader time); 0 = never.</summary>
    public long ExpiresUnixMs { get; init; }

    /// <summary>Never evicted under memory pressure.</summary>
    public bool Pinned { get; init; }

    public bool IsExpiredAt(long nowUnixMs) => ExpiresUnixMs != 0 && nowUnixMs >= ExpiresUnixMs;

    /// <summary>Accounted bytes of one entry: the key's characters, the value and <see cref="OverheadBytes"/>.</summary>
    public static long SizeOf(string key, ReadOnlyMemory<byte> value) => (key.Length * 2L) + value.Length + OverheadBytes;

    /// <summary>The array behind <paramref name="value"/> when it spans all of it, otherwise a copy.</summary>
    private static byte[] WholeArray(ReadOnlyMemory<byte> value) =>
        MemoryMarshal.TryGetArray(value, out var segment) && segment.Offset == 0 && segment.Count == segment.Array!.Length
            ? segment.Array
            : value.ToArray();
}

/// <summary>
/// An immutable, consistent view of the whole state: the entries in ordinal key order (lookups and
/// prefix listing from one <see cref="EntryMap"/>). Published as one reference, so readers see all of
/// a command or none of it.
/// </summary>
public sealed class StateView(EntryMap entries, long revision)
{
    public static readonly StateView Empty = new(EntryMap.Empty, 0);

    public EntryMap Entries { get; } = entries;

    public long Revision { get; } = revision;

    public int Count => Entries.Count;

    /// <summary>
    /// Up to <paramref name="limit"/> live keys starting with <paramref name="prefix"/>, in ordinal
    /// order, strictly after <paramref name="after"/> (pagination). O(log n + limit).
    /// </summary>
    public List<KeyValuePair<string, CacheEntry>> List(string prefix, string? after, int limit, long nowUnixMs, out bool more)
    {
        var start = after is not null && string.CompareOrdinal(after, prefix) >= 0 ? after : prefix;
        var page = new List<KeyValuePair<string, CacheEntry>>(Math.Min(limit, 256));
        more = false;
        foreach (var (key, entry) in Entries.From(start, inclusive: start != after))
        {
            if (!key.StartsWith(prefix, StringComparison.Ordinal))
            {
                break;
            }

            if (entry.IsExpiredAt(nowUnixMs))
            {
                continue;
            }

            if (page.Count == limit)
            {
                more = true;
                break;
            }

            page.Add(new(key, entry));
        }

        return page;
    }
}

using System.Collections.Immutable;

namespace AspireCache.Node.StateMachine;

/// <summary>One stored value with its metadata.</summary>
/// <param name="Value">The raw value bytes (never mutated after creation).</param>
/// <param name="Version">The revision of the last write to this key: the key's ETag.</param>
/// <param name="CreatedUnixMs">Leader timestamp of the write that created the key.</param>
/// <param name="UpdatedUnixMs">Leader timestamp of the last write.</param>
/// <param name="ExpiresUnixMs">When the value expires (leader time); 0 = never.</param>
/// <param name="Pinned">Never evicted under memory pressure.</param>
public sealed record CacheEntry(ReadOnlyMemory<byte> Value, long Version, long CreatedUnixMs, long UpdatedUnixMs, long ExpiresUnixMs = 0, bool Pinned = false)
{
    /// <summary>Accounting overhead per entry (dictionary node, sorted-set node, metadata).</summary>
    public const long OverheadBytes = 96;

    public bool IsExpiredAt(long nowUnixMs) => ExpiresUnixMs != 0 && nowUnixMs >= ExpiresUnixMs;

    /// <summary>Accounted bytes of one entry: the key's characters, the value and <see cref="OverheadBytes"/>.</summary>
    public static long SizeOf(string key, ReadOnlyMemory<byte> value) => (key.Length * 2L) + value.Length + OverheadBytes;
}

/// <summary>
/// An immutable, consistent view of the whole state: the entries and their keys in ordinal order
/// (for prefix listing). Published as one reference, so readers see all of a command or none of it.
/// </summary>
public sealed class StateView(ImmutableDictionary<string, CacheEntry> entries, ImmutableSortedSet<string> keys, long revision)
{
    public static readonly StateView Empty = new(
        ImmutableDictionary.Create<string, CacheEntry>(StringComparer.Ordinal),
        ImmutableSortedSet.Create<string>(StringComparer.Ordinal),
        0);

    public ImmutableDictionary<string, CacheEntry> Entries { get; } = entries;

    public ImmutableSortedSet<string> Keys { get; } = keys;

    public long Revision { get; } = revision;

    public int Count => Entries.Count;

    /// <summary>
    /// Up to <paramref name="limit"/> live keys starting with <paramref name="prefix"/>, in ordinal
    /// order, strictly after <paramref name="after"/> (pagination). O(limit · log n).
    /// </summary>
    public List<KeyValuePair<string, CacheEntry>> List(string prefix, string? after, int limit, long nowUnixMs, out bool more)
    {
        var start = after is not null && string.CompareOrdinal(after, prefix) >= 0 ? after : prefix;
        var index = Keys.IndexOf(start);
        index = index < 0 ? ~index : (start == after ? index + 1 : index);
        var page = new List<KeyValuePair<string, CacheEntry>>(Math.Min(limit, 256));
        more = false;
        for (; index < Keys.Count; index++)
        {
            var key = Keys[index];
            if (!key.StartsWith(prefix, StringComparison.Ordinal))
            {
                break;
            }

            var entry = Entries[key];
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

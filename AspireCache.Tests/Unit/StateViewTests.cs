using System.Runtime.InteropServices;
using AspireCache.Node.StateMachine;

namespace AspireCache.Tests.Unit;

/// <summary><see cref="StateView.List"/> against a sorted model, and <see cref="CacheEntry"/>'s storage of its value.</summary>
public sealed class StateViewTests
{
    [Fact]
    public void Listing_by_prefix_after_a_key_matches_a_sorted_filter_of_the_live_keys()
    {
        var random = new Random(5);
        var alphabet = new[] { "a", "ab", "b", "a/", "a/b", "é", "\u0000", "Z" };
        string RandomKey() => string.Concat(Enumerable.Range(0, random.Next(1, 5)).Select(_ => alphabet[random.Next(alphabet.Length)]));

        var builder = EntryMap.CreateBuilder();
        for (var i = 0; i < 2_000; i++)
        {
            builder.Set(RandomKey(), new CacheEntry(new byte[] { 1 }, i + 1, 0, 0, ExpiresUnixMs: random.Next(4) == 0 ? 50 : 0));
        }

        var view = new StateView(builder.ToImmutable(), 1);
        var sorted = view.Entries.ToArray();
        for (var query = 0; query < 3_000; query++)
        {
            var prefix = random.Next(6) == 0 ? "" : RandomKey();
            var after = random.Next(3) == 0 ? null : random.Next(2) == 0 ? RandomKey() : prefix + RandomKey();
            var limit = random.Next(1, 20);
            var now = random.Next(2) == 0 ? 10 : 100;
            var live = sorted.Where(p => p.Key.StartsWith(prefix, StringComparison.Ordinal)
                && (after is null || string.CompareOrdinal(p.Key, after) > 0)
                && !p.Value.IsExpiredAt(now)).ToList();

            var page = view.List(prefix, after, limit, now, out var more);

            Assert.Equal(live.Take(limit), page);
            Assert.Equal(live.Count > limit, more);
        }
    }

    [Fact]
    public void Keys_are_the_entries_keys_in_ordinal_order_with_positional_access()
    {
        var builder = EntryMap.CreateBuilder();
        foreach (var key in new[] { "b", "a", "B", "aa", "ä" })
        {
            builder.Set(key, new CacheEntry(new byte[] { 1 }, 1, 0, 0));
        }

        var view = new StateView(builder.ToImmutable(), 1);
        Assert.Equal(["B", "a", "aa", "b", "ä"], view.Entries.Keys);
        Assert.Equal("aa", view.Entries.GetAt(2).Key);
        Assert.Equal(5, view.Entries.Count);
    }

    [Fact]
    public void An_entry_keeps_a_whole_array_as_given_and_copies_a_slice()
    {
        var whole = new byte[] { 1, 2, 3, 4 };
        var entry = new CacheEntry(whole, 1, 2, 3);
        Assert.True(MemoryMarshal.TryGetArray(entry.Value, out var kept));
        Assert.Same(whole, kept.Array);
        Assert.Equal((0, 4), (kept.Offset, kept.Count));

        var sliced = new CacheEntry(whole.AsMemory(1, 2), 1, 2, 3);
        Assert.Equal(new byte[] { 2, 3 }, sliced.Value.ToArray());
        Assert.True(MemoryMarshal.TryGetArray(sliced.Value, out var copy));
        Assert.NotSame(whole, copy.Array);
        Assert.Equal((0, 2), (copy.Offset, copy.Count));

        var replaced = entry with { Value = whole.AsMemory(2) };
        Assert.Equal(new byte[] { 3, 4 }, replaced.Value.ToArray());
        Assert.Equal(new byte[] { 1, 2, 3, 4 }, entry.Value.ToArray());
        Assert.True(new CacheEntry(default, 1, 0, 0).Value.IsEmpty);
        Assert.True(new CacheEntry(Array.Empty<byte>(), 1, 0, 0).Value.IsEmpty);
    }

    [Fact]
    public void Entries_are_equal_when_they_hold_the_same_array_and_metadata()
    {
        var value = new byte[] { 9 };
        var a = new CacheEntry(value, 7, 1, 2, 3, Pinned: true);
        Assert.Equal(a, new CacheEntry(value, 7, 1, 2, 3, Pinned: true));
        Assert.Equal(a.GetHashCode(), new CacheEntry(value, 7, 1, 2, 3, Pinned: true).GetHashCode());
        Assert.NotEqual(a, new CacheEntry(new byte[] { 9 }, 7, 1, 2, 3, Pinned: true)); // another array: as ReadOnlyMemory's equality
        Assert.NotEqual(a, a with { Pinned = false });
        Assert.NotEqual(a, a with { ExpiresUnixMs = 4 });

        Assert.True(MemoryMarshal.TryGetArray(a.Value, out var segment));
        Assert.Same(value, segment.Array);
        Assert.Equal((7L, 1L, 2L, 3L, true), (a.Version, a.CreatedUnixMs, a.UpdatedUnixMs, a.ExpiresUnixMs, a.Pinned));
    }

    [Fact]
    public void The_accounted_size_is_the_key_characters_the_value_and_the_overhead()
    {
        Assert.Equal(128, CacheEntry.OverheadBytes);
        Assert.Equal((2 * 3) + 10 + 128, CacheEntry.SizeOf("abc", new byte[10]));
    }
}

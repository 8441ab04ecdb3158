using AspireCache.Node.StateMachine;

namespace AspireCache.Tests.Unit;

/// <summary>
/// <see cref="EntryMap"/>, the state's persistent B+tree: every operation checked against a
/// <see cref="SortedDictionary{TKey, TValue}"/> with ordinal order, the tree's invariants after each
/// step, and maps handed out earlier never changing.
/// </summary>
public sealed class EntryMapTests
{
    private static CacheEntry Entry(long version) => new(new byte[] { (byte)version }, version, 1, 2);

    private static SortedDictionary<string, CacheEntry> Model() => new(StringComparer.Ordinal);

    private static void AssertSame(SortedDictionary<string, CacheEntry> model, EntryMap map)
    {
        map.Validate();
        Assert.Equal(model.Count, map.Count);
        Assert.Equal(model.ToArray(), map.ToArray());
    }

    [Theory]
    [InlineData(1, 50, 2_000)]
    [InlineData(2, 500, 6_000)]
    [InlineData(3, 5_000, 20_000)]
    public void Random_sets_adds_and_removes_match_a_sorted_dictionary_and_published_maps_never_change(int seed, int keySpace, int steps)
    {
        var random = new Random(seed);
        var model = Model();
        var builder = EntryMap.Empty.ToBuilder();
        var published = new List<(EntryMap Map, KeyValuePair<string, CacheEntry>[] Contents)>();
        for (var step = 0; step < steps; step++)
        {
            var key = "k/" + random.Next(keySpace).ToString("D5", System.Globalization.CultureInfo.InvariantCulture);
            switch (random.Next(10))
            {
                case < 5:
                    var entry = Entry(step);
                    Assert.Equal(!model.ContainsKey(key), builder.Set(key, entry));
                    model[key] = entry;
                    break;
                case < 6:
                    var candidate = Entry(step);
                    Assert.Equal(model.TryAdd(key, candidate), builder.TryAdd(key, candidate));
                    Assert.Same(model[key], builder[key]);
                    break;
                default:
                    Assert.Equal(model.Remove(key), builder.Remove(key));
                    break;
            }

            Assert.Equal(model.Count, builder.Count);
            if (random.Next(50) == 0 || step == steps - 1)
            {
                var map = builder.ToImmutable();
                AssertSame(model, map);
                published.Add((map, model.ToArray()));
            }
        }

        // Drain: everything removed in random order leaves an empty map.
        foreach (var key in model.Keys.OrderBy(_ => random.Next()).ToList())
        {
            Assert.True(builder.Remove(key));
            model.Remove(key);
            if (random.Next(200) == 0)
            {
                AssertSame(model, builder.ToImmutable());
            }
        }

        Assert.Equal(0, builder.Count);
        AssertSame(model, builder.ToImmutable());
        foreach (var (map, contents) in published)
        {
            map.Validate();
            Assert.Equal(contents, map.ToArray());
        }
    }

    [Fact]
    public void Lookups_positions_and_ranges_match_the_sorted_order()
    {
        var random = new Random(7);
        var model = Model();
        var builder = EntryMap.CreateBuilder();
        for (var i = 0; i < 3_000; i++)
        {
            var key = "p" + random.Next(20) + "/" + random.Next(100_000).ToString(System.Globalization.CultureInfo.InvariantCulture);
            model[key] = Entry(i);
            builder.Set(key, model[key]);
        }

        var map = builder.ToImmutable();
        var sorted = model.ToArray();
        for (var i = 0; i < sorted.Length; i++)
        {
            Assert.Equal(sorted[i], map.GetAt(i));
            Assert.True(map.TryGetValue(sorted[i].Key, out var value));
            Assert.Same(sorted[i].Value, value);
            Assert.Same(sorted[i].Value, map[sorted[i].Key]);
            Assert.True(map.ContainsKey(sorted[i].Key));
        }

        Assert.False(map.TryGetValue("absent", out _));
        Assert.Throws<KeyNotFoundException>(() => map["absent"]);
        Assert.Throws<ArgumentOutOfRangeException>(() => map.GetAt(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => map.GetAt(sorted.Length));

        // From: every present key (inclusive and not), keys between present ones, before all and after all.
        var starts = sorted.Select(p => p.Key).Where((_, i) => i % 7 == 0)
            .Concat(sorted.Select(p => p.Key + "\0").Where((_, i) => i % 11 == 0))
            .Concat(["", "p", "p1/", "p19/~", "q", "\uffff"]);
        foreach (var start in starts)
        {
            foreach (var inclusive in new[] { true, false })
            {
                var expected = sorted.Where(p => inclusive ? string.CompareOrdinal(p.Key, start) >= 0 : string.CompareOrdinal(p.Key, start) > 0).Take(40);
                Assert.Equal(expected, map.From(start, inclusive).Take(40));
            }
        }
    }

    [Fact]
    public void The_empty_map_has_nothing_to_give()
    {
        var map = EntryMap.Empty;
        Assert.Empty(map.Keys);
        Assert.Empty(map);
        Assert.Empty(map.From(""));
        Assert.False(map.TryGetValue("a", out _));
        Assert.False(map.TryGetKey("a", out _));
        Assert.Throws<ArgumentOutOfRangeException>(() => map.GetAt(0));
        Assert.False(map.ToBuilder().Remove("a"));
        Assert.Same(EntryMap.Empty, map.ToBuilder().ToImmutable());
    }

    [Fact]
    public void A_replaced_entry_keeps_the_stored_key_instance()
    {
        var builder = EntryMap.CreateBuilder();
        var stored = new string("key".AsSpan());
        builder.Set(stored, Entry(1));
        var other = new string("key".AsSpan());
        Assert.False(builder.Set(other, Entry(2)));

        var map = builder.ToImmutable();
        Assert.True(map.TryGetKey(new string("key".AsSpan()), out var actual));
        Assert.Same(stored, actual);
        Assert.Equal(2, map["key"].Version);
    }

    [Fact]
    public void Changes_after_ToImmutable_copy_instead_of_touching_the_published_map()
    {
        var builder = EntryMap.CreateBuilder();
        for (var i = 0; i < 1_000; i++)
        {
            builder.Set(i.ToString("D4", System.Globalization.CultureInfo.InvariantCulture), Entry(i));
        }

        var first = builder.ToImmutable();
        var firstContents = first.ToArray();
        for (var i = 0; i < 1_000; i += 3)
        {
            builder.Remove(i.ToString("D4", System.Globalization.CultureInfo.InvariantCulture));
        }

        builder.Set("0001", Entry(-1));
        builder.Set("zzzz", Entry(-2));
        var second = builder.ToImmutable();

        first.Validate();
        second.Validate();
        Assert.Equal(firstContents, first.ToArray());
        Assert.Equal(1_000, first.Count);
        Assert.Equal(1_000 - 334 + 1, second.Count);
        Assert.Equal(-1, second["0001"].Version);
        Assert.Equal(1, first["0001"].Version);
    }

    [Fact]
    public void Ascending_inserts_fill_every_leaf_and_random_ones_copy_arrays_at_their_exact_length()
    {
        var builder = EntryMap.CreateBuilder();
        const int Count = 10_000;
        for (var i = 0; i < Count; i++)
        {
            builder.Set("key/" + i.ToString("D6", System.Globalization.CultureInfo.InvariantCulture), Entry(i));
        }

        var ascending = builder.ToImmutable();
        ascending.Validate();
        var (leaves, _, _) = ascending.Shape();
        Assert.Equal((Count + EntryMap.MaxLeaf - 1) / EntryMap.MaxLeaf, leaves);

        // One key per builder session (one write per command): every copied array is exactly full.
        var random = new Random(3);
        var map = EntryMap.Empty;
        for (var i = 0; i < 5_000; i++)
        {
            var single = map.ToBuilder();
            single.Set("r/" + random.Next(1_000_000).ToString(System.Globalization.CultureInfo.InvariantCulture), Entry(i));
            map = single.ToImmutable();
        }

        map.Validate();
        var (randomLeaves, inners, slots) = map.Shape();
        Assert.Equal(map.Count + randomLeaves + inners - 1, slots); // leaf slots = entries; inner slots = child nodes
        Assert.InRange(map.Count / (double)randomLeaves, EntryMap.MaxLeaf / 2.0, EntryMap.MaxLeaf);
    }
}

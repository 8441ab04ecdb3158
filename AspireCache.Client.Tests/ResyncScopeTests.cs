namespace AspireCache.Client.Tests;

/// <summary>
/// What a resync after a 410 lists: every key under one filter only. Listed twice, at two revisions (the prefix
/// "config/" at 100, then "config/orders/" at 101), a key handed out from the first page was taken as listed through
/// 101, so a change to it at 101 was dropped with no gap (a stale near cache).
/// </summary>
public sealed class ResyncScopeTests
{
    [Fact]
    public void Overlapping_prefixes_and_keys_are_listed_by_the_widest_filter_only()
    {
        var (prefixes, keys) = ResyncFilter.ListingScope(
            ["config/orders/", "config/", "users/", "config/", "usersx/"],
            ["config/orders/limit", "flags/dark-mode", "users/7", "flags/dark-mode"]);

        Assert.Equal(["config/", "users/", "usersx/"], prefixes);
        Assert.Equal(["flags/dark-mode"], keys);
    }

    [Fact]
    public void An_empty_prefix_covers_every_other_filter()
    {
        var (prefixes, keys) = ResyncFilter.ListingScope(["a/", "", "b/"], ["k"]);

        Assert.Equal([""], prefixes);
        Assert.Empty(keys);
    }

    [Fact]
    public void A_change_after_the_page_that_listed_its_key_is_delivered()
    {
        // The listing of the scope above: "config/" in one page at revision 100.
        var filter = new ResyncFilter([new ResyncFilter.Segment("config/", null, null, 100), new ResyncFilter.Segment("flags/dark-mode", null, "flags/dark-mode", 101)]);

        Assert.True(filter.AlreadyListed("config/orders/limit", 100));
        Assert.False(filter.AlreadyListed("config/orders/limit", 101)); // no later page of another filter hides it
        Assert.True(filter.AlreadyListed("flags/dark-mode", 101));
    }
}

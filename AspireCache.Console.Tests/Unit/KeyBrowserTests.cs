using AspireCache.Console.Services;
using AspireCache.Console.Tests.Support;

namespace AspireCache.Console.Tests.Unit;

/// <summary>Browsing by prefix: folders, paging, the filter.</summary>
public sealed class KeyBrowserTests
{
    private readonly FakeCluster _cluster = new();

    [Fact]
    public async Task Keys_below_a_prefix_are_grouped_by_their_next_segment()
    {
        foreach (var key in new[] { "config/a", "config/orders/x", "config/orders/y", "config/orders/z/deep", "config/b", "other/c" })
        {
            _cluster.Put(key, "1");
        }

        var page = await KeyBrowser.PageAsync(_cluster, "config/", null, null, pageSize: 10, maxScanPages: 5);

        Assert.Equal(["a", "b", "orders/"], page.Rows.Select(r => r.Name));
        Assert.True(page.Rows.Single(r => r.Name == "orders/").IsFolder);
        Assert.Equal("config/orders/", page.Rows.Single(r => r.IsFolder).Path);
        Assert.Null(page.Next);
    }

    [Fact]
    public async Task A_large_folder_takes_one_row_and_paging_continues_after_it()
    {
        for (var i = 0; i < 30; i++)
        {
            _cluster.Put($"app/big/{i:D3}", "1");
        }

        _cluster.Put("app/c", "1");
        _cluster.Put("app/d", "1");

        var first = await KeyBrowser.PageAsync(_cluster, "app/", null, null, pageSize: 2, maxScanPages: 10);
        Assert.Equal(["big/", "c"], first.Rows.Select(r => r.Name));
        var second = await KeyBrowser.PageAsync(_cluster, "app/", first.Next, null, pageSize: 2, maxScanPages: 10);
        Assert.Equal(["d"], second.Rows.Select(r => r.Name));
        Assert.Null(second.Next);
    }

    [Fact]
    public async Task A_filter_finds_keys_at_any_depth_case_insensitively()
    {
        _cluster.Put("config/orders/Db/Timeout", "1");
        _cluster.Put("config/catalog/PageSize", "1");
        _cluster.Put("config/orders/RetryTimeout", "1");

        var page = await KeyBrowser.PageAsync(_cluster, "config/", null, "timeout", pageSize: 10, maxScanPages: 2);

        Assert.Equal(["orders/Db/Timeout", "orders/RetryTimeout"], page.Rows.Select(r => r.Name));
        Assert.All(page.Rows, r => Assert.False(r.IsFolder));
    }

    [Fact]
    public void The_breadcrumb_names_each_segment_with_its_prefix() =>
        Assert.Equal(
            [("config/", "config/"), ("orders/", "config/orders/"), ("Db/", "config/orders/Db/")],
            KeyBrowser.Breadcrumb("config/orders/Db/"));
}

using AspireCache.Console.Components.Pages;
using Bunit;

namespace AspireCache.Console.Tests.Components;

/// <summary>Recent changes (the node's watch history) and rolling back with compare-and-set.</summary>
public sealed class HistoryTests : ConsoleComponentContext
{
    private const string Key = "config/orders/Retries";

    [Fact]
    public void Recent_changes_say_whose_they_are_and_how_far_back_the_node_keeps_them()
    {
        Cluster.Put(Key, "3", writer: "alice");
        Cluster.Put(Key, "5", writer: "bob");
        NavigateTo("history?prefix=config%2F");

        var page = Render<History>();

        page.WaitForAssertion(() => Assert.Equal(2, page.FindAll("#changes tbody tr").Count));
        Assert.Contains("Changes since revision 0 kept by node1", page.Find("#changes-scope").TextContent, StringComparison.Ordinal);
        Assert.Equal(["bob", "alice"], page.FindAll("#changes td.writer").Select(c => c.TextContent));
        // The newest change of a key is what it holds now: nothing to roll back to there.
        Assert.Empty(page.FindAll("#changes tr[data-revision='2'] .restore"));
        Assert.Single(page.FindAll("#changes tr[data-revision='1'] .restore"));
    }

    [Fact]
    public void Rolling_back_writes_the_old_value_only_if_the_key_is_still_at_the_version_shown()
    {
        Cluster.Put(Key, "3", writer: "alice");
        Cluster.Put(Key, "5", writer: "bob");
        NavigateTo("history?prefix=config%2F");
        var page = Render<History>();
        page.WaitForAssertion(() => Assert.Single(page.FindAll("#changes tr[data-revision='1'] .restore")));

        page.Find("#changes tr[data-revision='1'] .restore").Click();
        page.WaitForAssertion(() => Assert.Equal("5", page.Find("#rollback-values tr.diff-changed td.left").TextContent));
        Assert.Equal("3", page.Find("#rollback-values tr.diff-changed td.right").TextContent);
        page.Find("#rollback-confirm").Click();

        page.WaitForAssertion(() => Assert.Contains("Rolled back", page.Find("#history-message").TextContent, StringComparison.Ordinal));
        Assert.Equal("3", Cluster.Value(Key));
        Assert.Equal(2, Cluster.LastSetOptions?.IfVersion);
    }

    [Fact]
    public void A_roll_back_raced_by_another_writer_is_a_conflict_and_writes_nothing()
    {
        Cluster.Put(Key, "3", writer: "alice");
        Cluster.Put(Key, "5", writer: "bob");
        NavigateTo("history?prefix=config%2F");
        var page = Render<History>();
        page.WaitForAssertion(() => Assert.Single(page.FindAll("#changes tr[data-revision='1'] .restore")));
        page.Find("#changes tr[data-revision='1'] .restore").Click();
        page.WaitForAssertion(() => Assert.NotNull(page.Find("#rollback-confirm")));

        Cluster.Put(Key, "8", writer: "carol");
        page.Find("#rollback-confirm").Click();

        page.WaitForAssertion(() => Assert.NotNull(page.Find("#conflict")));
        Assert.Equal("8", Cluster.Value(Key));
        Assert.Contains("8", page.Find("#conflict-values td.right").TextContent, StringComparison.Ordinal);
    }
}

using System.Text;
using AspireCache.Console.Components.Pages;
using AspireCache.Console.Editing;
using AspireCache.Console.Options;
using Bunit;

namespace AspireCache.Console.Tests.Components;

/// <summary>The publish page: the diff preview, the batch's limits, one revision for all, a refused batch.</summary>
public sealed class PublishTests : ConsoleComponentContext
{
    [Fact]
    public void The_preview_shows_each_staged_change_before_and_after()
    {
        StageUpdate("config/orders/Db/Timeout", "30", "50");
        Stage("config/orders/Retries", "5");

        var page = Render<Publish>();

        var update = page.Find("#diff-0");
        Assert.Contains("Before: version 1", update.TextContent, StringComparison.Ordinal);
        Assert.Equal("30", page.Find("#diff-0 tr.diff-changed td.left").TextContent);
        Assert.Equal("50", page.Find("#diff-0 tr.diff-changed td.right").TextContent);
        Assert.Contains("Before: absent", page.Find("#diff-1").TextContent, StringComparison.Ordinal);
        Assert.Equal("5", page.Find("#diff-1 tr.diff-added td.right").TextContent);
        Assert.Contains("2 of 1,000 keys", page.Find("#batch-hint").TextContent, StringComparison.Ordinal);
        Assert.Contains("still at version 1", page.Find("section[data-key='config/orders/Db/Timeout']").TextContent, StringComparison.Ordinal);
        Assert.Contains("still absent", page.Find("section[data-key='config/orders/Retries']").TextContent, StringComparison.Ordinal);
    }

    [Fact]
    public void Publishing_applies_every_staged_change_at_one_revision()
    {
        StageUpdate("config/orders/Db/Timeout", "30", "50");
        Stage("config/orders/Retries", "5");
        var page = Render<Publish>();

        page.Find("#publish").Click();

        page.WaitForAssertion(() => Assert.Contains("Published 2 changes atomically at revision 2", page.Find("#publish-message").TextContent, StringComparison.Ordinal));
        Assert.Equal(2, Cluster.Version("config/orders/Db/Timeout"));
        Assert.Equal(2, Cluster.Version("config/orders/Retries"));
        Assert.Equal(0, Session.Staging.Count);
    }

    [Fact]
    public void A_batch_with_a_key_that_moved_is_refused_whole_and_shows_that_key_side_by_side()
    {
        StageUpdate("config/orders/Db/Timeout", "30", "50");
        Stage("config/orders/Retries", "5");
        Cluster.Put("config/orders/Db/Timeout", "60"); // another writer, after staging
        var page = Render<Publish>();

        page.Find("#publish").Click();

        page.WaitForAssertion(() => Assert.Contains("Nothing was written", page.Find("#publish-message").TextContent, StringComparison.Ordinal));
        Assert.Null(Cluster.Value("config/orders/Retries"));
        Assert.Equal("60", Cluster.Value("config/orders/Db/Timeout"));
        Assert.Equal(0, Cluster.Batches);
        Assert.Equal("50", page.Find("#conflict-0 tr.diff-changed td.left").TextContent);
        Assert.Equal("60", page.Find("#conflict-0 tr.diff-changed td.right").TextContent);
        Assert.Empty(page.FindAll("#conflict-1"));
        Assert.Equal(2, Session.Staging.Count);
    }

    [Fact]
    public void A_batch_over_the_nodes_key_limit_is_explained_and_cannot_be_published()
    {
        using var context = new LimitedContext(new CacheLimits { MaxBatchKeys = 2 });
        var page = context.RenderWithStaged("a", "b", "c");

        var hint = page.Find("#batch-hint");
        Assert.Contains("hint-over", hint.ClassName, StringComparison.Ordinal);
        Assert.Contains("Cache:Limits:MaxBatchKeys", hint.TextContent, StringComparison.Ordinal);
        Assert.True(page.Find("#publish").HasAttribute("disabled"));
    }

    [Fact]
    public void Staging_a_key_reads_its_current_version_as_the_condition()
    {
        Cluster.Put("config/orders/Retries", "3");
        var page = Render<Publish>();

        page.Find("#stage-key").Input("config/orders/Retries");
        page.Find("#stage-value").Input("5");
        page.Find("#stage-add").Click();

        page.WaitForAssertion(() => Assert.Equal(1, Session.Staging.Count));
        var staged = Session.Staging.Changes[0];
        Assert.Equal(1, staged.BaseVersion);
        Assert.Equal("3", Encoding.UTF8.GetString(staged.BaseValue!.Value.Span));
    }

    private void StageUpdate(string key, string before, string after)
    {
        var version = Cluster.Put(key, before);
        Session.Staging.Stage(new StagedChange(key, ChangeKind.Set, version, Encoding.UTF8.GetBytes(before), Encoding.UTF8.GetBytes(after)));
    }

    private void Stage(string key, string value) =>
        Session.Staging.Stage(new StagedChange(key, ChangeKind.Set, 0, null, Encoding.UTF8.GetBytes(value)));

    private sealed class LimitedContext(CacheLimits limits) : ConsoleComponentContext(limits)
    {
        public IRenderedComponent<Publish> RenderWithStaged(params string[] keys)
        {
            foreach (var key in keys)
            {
                Session.Staging.Stage(new StagedChange(key, ChangeKind.Set, 0, null, Encoding.UTF8.GetBytes("v")));
            }

            return Render<Publish>();
        }
    }
}

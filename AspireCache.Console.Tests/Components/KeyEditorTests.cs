using AspireCache.Console.Components.Pages;
using AspireCache.Console.Options;
using AspireCache.Contracts;
using Bunit;
using Microsoft.Extensions.DependencyInjection;

namespace AspireCache.Console.Tests.Components;

/// <summary>The key page's editor: compare-and-set, conflicts, JSON validation, size limits, TTL.</summary>
public sealed class KeyEditorTests : ConsoleComponentContext
{
    private const string Key = "config/orders/Db/Timeout";

    [Fact]
    public void A_save_after_another_writer_changed_the_key_shows_both_values_and_overwrites_nothing()
    {
        Cluster.Put(Key, "30");
        NavigateTo($"key?key={Uri.EscapeDataString(Key)}");
        var page = Render<KeyPage>();
        page.WaitForAssertion(() => Assert.Equal("1", page.Find("#key-version").TextContent));

        page.Find("#value-editor").Input("45");
        Cluster.Put(Key, "60"); // another writer, meanwhile
        page.Find("#save").Click();

        page.WaitForAssertion(() => Assert.NotNull(page.Find("#conflict")));
        Assert.Contains("45", page.Find("#conflict-values td.left").TextContent, StringComparison.Ordinal);
        Assert.Contains("60", page.Find("#conflict-values td.right").TextContent, StringComparison.Ordinal);
        Assert.Equal("2", page.Find("#conflict-current-version").TextContent);
        Assert.Equal("45", page.Find("#value-editor").GetAttribute("value"));
        Assert.Equal("60", Cluster.Value(Key));
        Assert.Equal(1, Cluster.LastSetOptions?.IfVersion);
    }

    [Fact]
    public void Keeping_my_value_after_a_conflict_saves_it_only_on_top_of_the_version_now_shown()
    {
        Cluster.Put(Key, "30");
        NavigateTo($"key?key={Uri.EscapeDataString(Key)}");
        var page = Render<KeyPage>();
        page.WaitForAssertion(() => Assert.Equal("1", page.Find("#key-version").TextContent));
        page.Find("#value-editor").Input("45");
        Cluster.Put(Key, "60");
        page.Find("#save").Click();
        page.WaitForAssertion(() => Assert.NotNull(page.Find("#conflict")));

        page.Find("#conflict-edit-on-top").Click();
        Assert.Empty(page.FindAll("#conflict"));
        page.Find("#save").Click();

        page.WaitForAssertion(() => Assert.Equal("45", Cluster.Value(Key)));
        Assert.Equal(2, Cluster.LastSetOptions?.IfVersion);
    }

    [Fact]
    public void Creating_a_key_someone_else_created_meanwhile_is_a_conflict_not_an_overwrite()
    {
        NavigateTo("key?new=true&prefix=config%2F");
        var page = Render<KeyPage>();
        page.Find("#key-input").Input("config/new-flag");
        page.Find("#value-editor").Input("on");
        Cluster.Put("config/new-flag", "off");

        page.Find("#save").Click();

        page.WaitForAssertion(() => Assert.NotNull(page.Find("#conflict")));
        Assert.True(Cluster.LastSetOptions?.IfAbsent);
        Assert.Equal("off", Cluster.Value("config/new-flag"));
    }

    [Fact]
    public void Invalid_JSON_is_reported_with_its_position_and_cannot_be_saved()
    {
        Cluster.Put("config/orders/Features", "{\"fastCheckout\":true}");
        NavigateTo("key?key=config%2Forders%2FFeatures");
        var page = Render<KeyPage>();
        page.WaitForAssertion(() => Assert.Contains("Valid JSON", page.Find("#json-check").TextContent, StringComparison.Ordinal));

        page.Find("#value-editor").Input("{\"fastCheckout\":true,\n  \"giftWrap\": }");

        var check = page.Find("#json-check");
        Assert.Contains("Not valid JSON at line 2", check.TextContent, StringComparison.Ordinal);
        Assert.Contains("hint-over", check.ClassName, StringComparison.Ordinal);
        Assert.True(page.Find("#save").HasAttribute("disabled"));
        Assert.Contains("Cannot save yet", page.Find("#save-blocker").TextContent, StringComparison.Ordinal);
        page.Find("#save").Click();
        Assert.Equal(1, Cluster.Version("config/orders/Features"));
    }

    [Fact]
    public void The_editor_explains_the_limit_the_cluster_publishes_not_the_configured_copy()
    {
        using var context = new LimitedContext(new CacheLimits { MaxValueBytes = 100 });
        context.Services.GetRequiredService<LimitsSource>().Observe(new RequestLimits(MaxValueBytes: 50, MaxKeyBytes: 512, MaxBatchKeys: 1000, MaxBatchBytes: 4 << 20, MaxTtlSeconds: 86_400, MaxListLimit: 1000));
        var (page, _) = context.Open(Key, "small");

        page.Find("#value-editor").Input(new string('x', 60));

        var over = page.Find("#size-hint");
        Assert.Contains("hint-over", over.ClassName, StringComparison.Ordinal);
        Assert.Contains("50 B", over.TextContent, StringComparison.Ordinal);
        Assert.True(page.Find("#save").HasAttribute("disabled"));
    }

    [Fact]
    public void A_value_near_or_over_the_nodes_size_limit_is_explained_before_saving()
    {
        using var context = new LimitedContext(new CacheLimits { MaxValueBytes = 100 });
        var (page, cluster) = context.Open(Key, "small");

        page.Find("#value-editor").Input(new string('x', 90));
        var near = page.Find("#size-hint");
        Assert.Contains("hint-near", near.ClassName, StringComparison.Ordinal);
        Assert.Contains("90 B of 100 B", near.TextContent, StringComparison.Ordinal);
        Assert.False(page.Find("#save").HasAttribute("disabled"));

        page.Find("#value-editor").Input(new string('x', 101));
        var over = page.Find("#size-hint");
        Assert.Contains("hint-over", over.ClassName, StringComparison.Ordinal);
        Assert.Contains("413", over.TextContent, StringComparison.Ordinal);
        Assert.Contains("Cache:Limits:MaxValueBytes", over.TextContent, StringComparison.Ordinal);
        Assert.True(page.Find("#save").HasAttribute("disabled"));
        Assert.True(page.Find("#stage").HasAttribute("disabled"));
        Assert.Equal("small", cluster.Value(Key));
    }

    [Fact]
    public void Saving_an_edit_keeps_the_keys_expiry_unless_the_operator_changes_it()
    {
        Cluster.Put("session/42", "token", ttl: TimeSpan.FromHours(1));
        NavigateTo("key?key=session%2F42");
        var page = Render<KeyPage>();
        page.WaitForAssertion(() => Assert.Contains("expires in", page.Find("#key-ttl").TextContent, StringComparison.Ordinal));

        page.Find("#value-editor").Input("token-2");
        page.Find("#save").Click();

        page.WaitForAssertion(() => Assert.Equal("token-2", Cluster.Value("session/42")));
        var ttl = Cluster.LastSetOptions?.Ttl;
        Assert.NotNull(ttl);
        Assert.InRange(ttl.Value, TimeSpan.FromMinutes(59), TimeSpan.FromHours(1));
    }

    [Fact]
    public void Switching_text_to_hex_and_back_keeps_the_bytes()
    {
        Cluster.Put(Key, "héllo");
        NavigateTo($"key?key={Uri.EscapeDataString(Key)}");
        var page = Render<KeyPage>();
        page.WaitForAssertion(() => Assert.Equal("héllo", page.Find("#value-editor").GetAttribute("value")));

        page.Find("#mode-hex").Click();
        Assert.Equal("68 c3 a9 6c 6c 6f", page.Find("#value-editor").GetAttribute("value"));
        page.Find("#mode-text").Click();
        Assert.Equal("héllo", page.Find("#value-editor").GetAttribute("value"));
    }

    /// <summary>A second context with other limits (a context's services are fixed once it renders).</summary>
    private sealed class LimitedContext(CacheLimits limits) : ConsoleComponentContext(limits)
    {
        public (IRenderedComponent<KeyPage> Page, Support.FakeCluster Cluster) Open(string key, string value)
        {
            Cluster.Put(key, value);
            NavigateTo($"key?key={Uri.EscapeDataString(key)}");
            var page = Render<KeyPage>();
            page.WaitForAssertion(() => Assert.Equal("1", page.Find("#key-version").TextContent));
            return (page, Cluster);
        }
    }
}

using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace AspireCache.Console.Tests.Browser;

/// <summary>
/// The console in a real browser (headless Chromium) against a real cluster with authentication on:
/// what an operator does, end to end. Every wait is Playwright's auto-waiting with a deadline.
/// </summary>
public sealed class ConsoleBrowserTests(BrowserFixture fixture) : IClassFixture<BrowserFixture>
{
    private const string Timeout = "config/orders/Db/Timeout";

    static ConsoleBrowserTests() => SetDefaultExpectTimeout(20_000);

    [Fact]
    public async Task An_operator_signs_in_edits_through_a_conflict_publishes_a_batch_and_sees_changes_live()
    {
        await SeedAsync();
        await using var context = await fixture.NewContextAsync();
        var page = await context.NewPageAsync();

        // Anonymous: the console answers with its login page.
        await page.GotoAsync("keys");
        await Expect(page).ToHaveURLAsync(new Regex("/login\\?returnUrl=%2Fkeys$"));
        await Expect(page.Locator("#key")).ToBeVisibleAsync();
        await fixture.ScreenshotAsync(page, "login");

        // A key the cluster does not know is refused, and says so.
        await page.Locator("#key").FillAsync("not-a-key-the-cluster-knows");
        await page.Locator("#sign-in").ClickAsync();
        await Expect(page.Locator("#login-error")).ToContainTextAsync("does not accept");

        // alice signs in with her own key and lands where she was going.
        await page.Locator("#key").FillAsync(fixture.Stack.Alice.Key);
        await page.Locator("#sign-in").ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex("/keys$"));
        await Expect(page.Locator("#keys-table")).ToBeVisibleAsync();
        var session = (await context.CookiesAsync()).Single(c => c.Name == "AspireCache.Console.Session");
        Assert.True(session.HttpOnly);
        Assert.Equal(SameSiteAttribute.Strict, session.SameSite);
        Assert.DoesNotContain(fixture.Stack.Alice.Key, session.Value, StringComparison.Ordinal);

        // Create a key.
        await page.GotoAsync("key?new=true&prefix=config%2Forders%2F");
        await Expect(page.Locator("#key-input")).ToHaveValueAsync("config/orders/");
        await page.Locator("#key-input").FillAsync(Timeout);
        await page.Locator("#value-editor").FillAsync("30");
        await Expect(page.Locator("#size-hint")).ToContainTextAsync("2 B of 1 MiB");
        await page.Locator("#save").ClickAsync();
        await Expect(page.Locator("#key-title")).ToHaveTextAsync(Timeout);
        var created = await VersionShownAsync(page);

        // It is listed: config/orders/ shows the folder Db/, and Db/ the key.
        await page.GotoAsync("keys?prefix=config%2Forders%2F");
        await page.Locator("#keys-table tr.folder a", new() { HasText = "Db/" }).ClickAsync();
        var row = page.Locator($"#keys-table tr[data-key='{Timeout}']");
        await Expect(row).ToContainTextAsync("Timeout");
        await Expect(page.Locator("#breadcrumb")).ToContainTextAsync("Db/");
        await fixture.ScreenshotAsync(page, "keys");

        // Edit it while another writer changes it: a conflict, both values shown, nothing lost.
        await row.Locator("a").ClickAsync();
        await Expect(page.Locator("#key-version")).ToHaveTextAsync(created.ToString());
        await page.Locator("#value-editor").FillAsync("45");
        using (var bob = fixture.Stack.AsBob())
        {
            (await bob.PutAsync("/cache/" + Timeout, new StringContent("60"))).EnsureSuccessStatusCode();
        }

        await page.Locator("#save").ClickAsync();
        var conflict = page.Locator("#conflict");
        await Expect(conflict).ToBeVisibleAsync();
        await Expect(conflict.Locator("#conflict-values td.left")).ToContainTextAsync(["45"]);
        await Expect(conflict.Locator("#conflict-values td.right")).ToContainTextAsync(["60"]);
        await Expect(page.Locator("#value-editor")).ToHaveValueAsync("45");
        Assert.Equal("60", await ReadAsync(Timeout)); // the other writer's value was not overwritten
        await fixture.ScreenshotAsync(page, "conflict");

        // Keeping her value on top of the new version, then saving, is again a compare-and-set.
        await page.Locator("#conflict-edit-on-top").ClickAsync();
        await Expect(page.Locator("#conflict")).ToHaveCountAsync(0);
        await page.Locator("#save").ClickAsync();
        await Expect(page.Locator("#key-message")).ToContainTextAsync("Saved");
        Assert.Equal("45", await ReadAsync(Timeout));

        // A JSON value: shown formatted, edited as JSON (validated), with its own recent changes.
        await page.GotoAsync("key?key=config%2Fflags%2Fnew-checkout");
        await Expect(page.Locator("#current-value pre.value")).ToHaveAttributeAsync("data-view", "json");
        await Expect(page.Locator("#json-check")).ToHaveTextAsync("Valid JSON");
        await page.Locator("#show-history").ClickAsync();
        await Expect(page.Locator("#key-history td.writer")).ToHaveTextAsync(["ops"]);
        await fixture.ScreenshotAsync(page, "key");

        // Publish a batch of three changes with a diff preview: one revision for all of them.
        await page.GotoAsync("publish");
        await StageAsync(page, "config/orders/Retries", "5");
        await StageAsync(page, "config/orders/Features", "{\"fastCheckout\":true,\"giftWrap\":false}");
        await StageAsync(page, Timeout, "50");
        await Expect(page.Locator("#staged section.staged-change")).ToHaveCountAsync(3);
        await Expect(page.Locator("#diff-2 tr.diff-changed td.left")).ToContainTextAsync("45");
        await Expect(page.Locator("#diff-2 tr.diff-changed td.right")).ToContainTextAsync("50");
        await Expect(page.Locator("#batch-hint")).ToContainTextAsync("3 of 1,000 keys");
        await fixture.ScreenshotAsync(page, "publish");
        await page.Locator("#publish").ClickAsync();
        await Expect(page.Locator("#publish-message")).ToContainTextAsync("Published 3 changes atomically at revision");
        var revision = long.Parse(Regex.Match(await page.Locator("#publish-message").InnerTextAsync(), "revision (\\d+)").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        foreach (var key in new[] { "config/orders/Retries", "config/orders/Features", Timeout })
        {
            Assert.Equal(revision, await VersionAsync(key));
        }

        // A change made through the API appears in the live view, with its writer.
        await page.GotoAsync("live?prefix=config%2Forders%2F");
        await Expect(page.Locator("#live-status")).ToHaveAttributeAsync("data-state", "following");
        using (var bob = fixture.Stack.AsBob())
        {
            (await bob.PutAsync("/cache/" + Timeout, new StringContent("90"))).EnsureSuccessStatusCode();
        }

        var live = page.Locator($"#live-events tr[data-key='{Timeout}']");
        await Expect(live).ToContainTextAsync("bob");
        await Expect(live).ToContainTextAsync("90");
        await fixture.ScreenshotAsync(page, "live");

        // Recent changes: the node's history, with who made each change.
        await page.GotoAsync("history?prefix=config%2Forders%2F");
        await Expect(page.Locator("#changes-scope")).ToContainTextAsync("Changes since revision");
        await Expect(page.Locator("#changes")).ToContainTextAsync("alice");
        await Expect(page.Locator("#changes")).ToContainTextAsync("bob");

        // Roll back bob's change to the published value: a compare-and-set on the version now there.
        await page.Locator($"#changes tr[data-key='{Timeout}'][data-revision='{revision}'] .restore").ClickAsync();
        await Expect(page.Locator("#rollback-values tr.diff-changed td.left")).ToHaveTextAsync("90");
        await Expect(page.Locator("#rollback-values tr.diff-changed td.right")).ToHaveTextAsync("50");
        await fixture.ScreenshotAsync(page, "history");
        await page.Locator("#rollback-confirm").ClickAsync();
        await Expect(page.Locator("#history-message")).ToContainTextAsync("Rolled back");
        Assert.Equal("50", await ReadAsync(Timeout));

        // The cluster: three nodes, a leader, and the hottest keys as a chart.
        using (var bob = fixture.Stack.AsBob())
        {
            for (var i = 0; i < 30; i++)
            {
                (await bob.GetAsync("/cache/" + Timeout)).EnsureSuccessStatusCode();
                if (i % 3 == 0)
                {
                    (await bob.GetAsync("/cache/config/orders/Features")).EnsureSuccessStatusCode();
                }
            }
        }

        await page.GotoAsync("cluster");
        await Expect(page.Locator("#nodes tbody tr[data-node]")).ToHaveCountAsync(3);
        await Expect(page.Locator("#nodes tr.leader")).ToHaveCountAsync(1);
        await Expect(page.Locator("#hot-keys-chart")).ToContainTextAsync(Timeout);
        await fixture.ScreenshotAsync(page, "cluster");

        // The key never reaches the browser.
        Assert.DoesNotContain(fixture.Stack.Alice.Key, await page.ContentAsync(), StringComparison.Ordinal);

        // Sign out: the session is gone, pages send to the login page again.
        await page.Locator("#sign-out").ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex("/login"));
        await page.GotoAsync("keys");
        await Expect(page).ToHaveURLAsync(new Regex("/login\\?returnUrl=%2Fkeys$"));
    }

    [Fact]
    public async Task A_value_far_larger_than_a_SignalR_message_can_be_edited_and_saved()
    {
        await using var context = await fixture.NewContextAsync();
        var page = await SignInAsync(context, fixture.Stack.Alice);
        var big = new string('x', 300 * 1024);

        await page.GotoAsync("key?new=true");
        await page.Locator("#key-input").FillAsync("blobs/large");
        await page.Locator("#value-editor").FillAsync(big);
        await Expect(page.Locator("#size-hint")).ToContainTextAsync("300 KiB of 1 MiB");
        await page.Locator("#save").ClickAsync();

        await Expect(page.Locator("#key-size")).ToHaveTextAsync("300 KiB");
        Assert.Equal(big.Length, (await ReadAsync("blobs/large")).Length);
    }

    [Fact]
    public async Task An_anonymous_request_for_a_page_is_redirected_to_the_login_page()
    {
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = fixture.Stack.Console.Url };
        using var response = await http.GetAsync("/cluster?x=1");
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal("/login?returnUrl=%2Fcluster%3Fx%3D1", response.Headers.Location?.OriginalString);

        using var login = await http.GetAsync("/login");
        Assert.Equal(HttpStatusCode.OK, login.StatusCode);
        Assert.Contains("<form", await login.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_key_without_the_read_scope_is_refused_at_sign_in()
    {
        await using var context = await fixture.NewContextAsync();
        var page = await context.NewPageAsync();
        await page.GotoAsync("login");
        await page.Locator("#key").FillAsync(fixture.Stack.WriteOnly.Key);
        await page.Locator("#sign-in").ClickAsync();
        await Expect(page.Locator("#login-error")).ToContainTextAsync("lacks the read scope");
        Assert.DoesNotContain(await context.CookiesAsync(), c => c.Name == "AspireCache.Console.Session");
    }

    [Fact]
    public async Task Sign_out_without_the_antiforgery_token_is_refused()
    {
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = fixture.Stack.Console.Url };
        using var response = await http.PostAsync("/logout", new FormUrlEncodedContent([new("returnUrl", "/keys")]));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    private static async Task<IPage> SignInAsync(IBrowserContext context, TestCredential credential)
    {
        var page = await context.NewPageAsync();
        await page.GotoAsync("login");
        await page.Locator("#key").FillAsync(credential.Key);
        await page.Locator("#sign-in").ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex("/keys$"));
        return page;
    }

    private async Task SeedAsync()
    {
        using var ops = fixture.Stack.AsOps();
        var sets = new Dictionary<string, string>
        {
            ["config/orders/Db/ConnectionString"] = "Host=orders-db;Database=orders",
            ["config/catalog/Catalog/Greeting"] = "Welcome to the catalog",
            ["config/catalog/Catalog/PageSize"] = "5",
            ["config/flags/new-checkout"] = "{\"enabled\":true,\"rollout\":25}",
        };
        using var response = await ops.PostAsJsonAsync("/cache/batch", new { set = sets.ToDictionary(kv => kv.Key, kv => Convert.ToBase64String(Encoding.UTF8.GetBytes(kv.Value))) });
        response.EnsureSuccessStatusCode();
    }

    private static async Task StageAsync(IPage page, string key, string value)
    {
        var before = await page.Locator("#staged section.staged-change").CountAsync();
        await page.Locator("#stage-key").FillAsync(key);
        await page.Locator("#stage-value").FillAsync(value);

        // The button is rendered disabled until the server has the key (and the last stage is done): a
        // click before that re-render is dropped by the browser (seen once on a box loaded to 20+).
        await Expect(page.Locator("#stage-add[disabled]")).ToHaveCountAsync(0);
        await page.Locator("#stage-add").ClickAsync();
        await Expect(page.Locator("#staged section.staged-change")).ToHaveCountAsync(before + 1);
    }

    private static async Task<long> VersionShownAsync(IPage page) =>
        long.Parse(await page.Locator("#key-version").InnerTextAsync(), System.Globalization.CultureInfo.InvariantCulture);

    private async Task<string> ReadAsync(string key)
    {
        using var ops = fixture.Stack.AsOps();
        return await ops.GetStringAsync("/cache/" + key);
    }

    private async Task<long> VersionAsync(string key)
    {
        using var ops = fixture.Stack.AsOps();
        using var response = await ops.GetAsync("/cache/" + key);
        response.EnsureSuccessStatusCode();
        return long.Parse(response.Headers.ETag!.Tag.Trim('"'), System.Globalization.CultureInfo.InvariantCulture);
    }
}

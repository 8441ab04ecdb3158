using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Aspire.Hosting;
using Aspire.Hosting.Testing;

namespace AspireCache.Tests.Integration;

/// <summary>
/// The sample catalog service (<c>catalog</c> in the AppHost) on the running cluster: configuration
/// written through the router reaches its options live; products go through HybridCache onto the cluster.
/// </summary>
[Collection(AspireCollection.Name)]
public sealed class SampleServiceTests(AspireAppFixture fixture)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_PUT_through_the_router_to_config_catalog_reaches_the_catalogs_settings_endpoint()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        using var catalog = await CatalogAsync(cts.Token);
        var greeting = $"Hello from the test {Guid.NewGuid():N}";
        Assert.NotEqual(greeting, (await catalog.GetFromJsonAsync<JsonElement>("/settings", cts.Token)).GetProperty("greeting").GetString()); // and warm

        var elapsed = Stopwatch.StartNew();
        using (var put = await fixture.Router.PutAsync("/cache/config/catalog/Catalog/Greeting", new StringContent(greeting), cts.Token))
        {
            put.EnsureSuccessStatusCode();
        }

        var acknowledged = elapsed.Elapsed;
        JsonElement settings;
        var polls = 0;
        while (true)
        {
            polls++;
            settings = await catalog.GetFromJsonAsync<JsonElement>("/settings", cts.Token);
            if (settings.GetProperty("greeting").GetString() == greeting)
            {
                break;
            }

            Assert.True(elapsed.Elapsed < Deadline, $"the catalog still said {settings} {Deadline} after the PUT");
            await Task.Delay(5, cts.Token);
        }

        Console.WriteLine($"sample: PUT config/catalog/Catalog/Greeting acknowledged after {acknowledged.TotalMilliseconds:0.0} ms; GET /settings on the catalog returned it {elapsed.Elapsed.TotalMilliseconds:0.0} ms after the PUT began ({polls} polls)");
        Assert.NotEqual(JsonValueKind.Null, settings.GetProperty("changedAt").ValueKind);

        // The product pages use the same live options.
        var product = await catalog.GetFromJsonAsync<JsonElement>("/products/1", cts.Token);
        Assert.Equal(greeting, product.GetProperty("greeting").GetString());
    }

    [Fact]
    public async Task Products_are_served_through_HybridCache_with_the_cluster_as_its_L2()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        using var catalog = await CatalogAsync(cts.Token);

        var first = await catalog.GetFromJsonAsync<JsonElement>("/products/7", cts.Token);
        Assert.Equal("Product 7", first.GetProperty("product").GetProperty("name").GetString());

        using (var put = await catalog.PutAsJsonAsync("/products/7", new { name = "Renamed 7", price = 99.5m }, cts.Token))
        {
            put.EnsureSuccessStatusCode();
        }

        var second = await catalog.GetFromJsonAsync<JsonElement>("/products/7", cts.Token);
        Assert.Equal("Renamed 7", second.GetProperty("product").GetProperty("name").GetString());

        // L2 is the cluster: the entry is there under the distributed cache's prefix.
        using var stored = await fixture.Router.GetAsync("/cache/dcache/product/7", cts.Token);
        Assert.True(stored.IsSuccessStatusCode, $"dcache/product/7: {(int)stored.StatusCode}");
        var bytes = await stored.Content.ReadAsByteArrayAsync(cts.Token);
        Assert.True(bytes.AsSpan().IndexOf("Renamed 7"u8) >= 0, "the stored entry does not hold the renamed product");
    }

    private async Task<HttpClient> CatalogAsync(CancellationToken token)
    {
        await fixture.App.ResourceNotifications.WaitForResourceHealthyAsync("catalog", token);
        return new HttpClient { BaseAddress = fixture.App.GetEndpoint("catalog", "http"), Timeout = TimeSpan.FromSeconds(30) };
    }
}

using System.Net;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;

namespace AspireCache.Tests.Integration;

/// <summary>The <c>cache</c> resource (AspireCache.Hosting) as a service that references it sees it, in the running AppHost.</summary>
[Collection(AspireCollection.Name)]
public sealed class AspireCacheResourceTests(AspireAppFixture fixture)
{
    [Fact]
    public async Task Connection_string_is_the_router_endpoint_and_a_plain_http_client_can_put_and_get_through_it()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        var connectionString = await fixture.App.GetConnectionStringAsync("cache", cts.Token);

        Assert.NotNull(connectionString);
        const string prefix = "Endpoint=";
        Assert.StartsWith(prefix, connectionString, StringComparison.Ordinal);
        var endpoint = new Uri(connectionString[prefix.Length..]);
        Assert.Equal(fixture.App.GetEndpoint("router", "http"), endpoint);

        using var client = new HttpClient { BaseAddress = endpoint, Timeout = TimeSpan.FromSeconds(30) };
        var value = $"through-the-connection-string-{Guid.NewGuid():N}";
        using var put = await client.PutAsync("/cache/it/connection-string", new StringContent(value), cts.Token);
        Assert.True(put.IsSuccessStatusCode, $"PUT answered {(int)put.StatusCode}");
        using var get = await client.GetAsync("/cache/it/connection-string", cts.Token);
        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        Assert.Equal(value, await get.Content.ReadAsStringAsync(cts.Token));
    }

    [Fact]
    public async Task The_cache_resource_becomes_healthy_and_groups_the_nodes_and_the_router()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        var healthy = await fixture.App.ResourceNotifications.WaitForResourceHealthyAsync("cache", cts.Token);

        Assert.Equal(KnownResourceStates.Running, healthy.Snapshot.State?.Text);
        Assert.Equal(AspireCacheBuilderExtensions.ResourceType, healthy.Snapshot.ResourceType);
        var report = Assert.Single(healthy.Snapshot.HealthReports);
        Assert.Contains("router 'router'", report.Description);
        foreach (var child in AspireAppFixture.Nodes.Append("router"))
        {
            Assert.True(fixture.App.ResourceNotifications.TryGetCurrentState(child, out var state), child);
            Assert.Equal("cache", state.Snapshot.Properties.Single(p => p.Name == "resource.parentName").Value);
        }
    }
}

using System.Net;
using System.Net.Http.Json;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;

namespace AspireCache.Tests.Integration;

/// <summary>The <c>cache</c> resource (AspireCache.Hosting) as a service that references it sees it, in the running AppHost.</summary>
[Collection(AspireCollection.Name)]
public sealed class AspireCacheResourceTests(AspireAppFixture fixture)
{
    [Fact]
    public async Task Connection_string_is_the_router_endpoint_with_a_key_and_a_plain_http_client_can_put_and_get_through_it()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        var connectionString = await fixture.App.GetConnectionStringAsync("cache", cts.Token);

        Assert.NotNull(connectionString);
        var parts = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connectionString };
        Assert.Equal(["endpoint", "key"], parts.Keys.Cast<string>().Order());
        var endpoint = new Uri((string)parts["Endpoint"]);
        Assert.Equal(fixture.App.GetEndpoint("router", "http"), endpoint);
        var key = (string)parts["Key"];
        Assert.Matches("^[A-Za-z0-9]{32,}$", key); // generated: alphanumeric, nothing to escape in a header

        using var client = new HttpClient { BaseAddress = endpoint, Timeout = TimeSpan.FromSeconds(30) };
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        var value = $"through-the-connection-string-{Guid.NewGuid():N}";
        using var put = await client.PutAsync("/cache/it/connection-string", new StringContent(value), cts.Token);
        Assert.True(put.IsSuccessStatusCode, $"PUT answered {(int)put.StatusCode}");
        using var get = await client.GetAsync("/cache/it/connection-string", cts.Token);
        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        Assert.Equal(value, await get.Content.ReadAsStringAsync(cts.Token));
    }

    [Fact]
    public async Task Without_the_key_requests_through_the_router_and_to_a_node_are_refused_401_and_change_nothing()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        using var anonymous = fixture.NewClient(fixture.App.GetEndpoint("router", "http"), authenticated: false);
        using var wrong = fixture.NewClient(fixture.App.GetEndpoint("router", "http"), authenticated: false);
        wrong.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "not-the-key-0123456789abcdef");
        using var node = fixture.NewClient(fixture.App.GetEndpoint("node1", "http"), authenticated: false);
        var key = $"it/unauthenticated-{Guid.NewGuid():N}";

        foreach (var client in new[] { anonymous, wrong, node })
        {
            using var put = await client.PutAsync($"/cache/{key}", new StringContent("x"), cts.Token);
            Assert.Equal(HttpStatusCode.Unauthorized, put.StatusCode);
            Assert.Equal("Bearer", put.Headers.WwwAuthenticate.Single().Scheme);
            Assert.Equal(ProblemTypes.Base + "unauthenticated", (await put.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>(cts.Token)).GetProperty("type").GetString());
            Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync($"/cache/{key}", cts.Token)).StatusCode);
            Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("/cluster/status", cts.Token)).StatusCode);
        }

        Assert.Equal(HttpStatusCode.OK, (await node.GetAsync("/health", cts.Token)).StatusCode); // health stays anonymous
        Assert.Equal(HttpStatusCode.NotFound, (await fixture.Router.GetAsync($"/cache/{key}", cts.Token)).StatusCode);
    }

    [Fact]
    public void The_keys_are_secret_parameters_the_dashboard_lists()
    {
        foreach (var parameter in new[] { "cache-key", "router-key" })
        {
            Assert.True(fixture.App.ResourceNotifications.TryGetCurrentState(parameter, out var state), parameter);
            Assert.Equal("Parameter", state.Snapshot.ResourceType);
            Assert.False(state.Snapshot.IsHidden);
            var value = state.Snapshot.Properties.Single(p => p.Name == "Value");
            Assert.True(value.IsSensitive); // masked until revealed
            if (parameter == "cache-key")
            {
                Assert.Equal(fixture.Key, value.Value?.ToString()); // the key of the connection string
            }
        }
    }

    [Fact]
    public async Task The_dashboard_commands_present_the_admin_key()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        var leader = await fixture.LeaderAsync(cts.Token);
        var follower = AspireAppFixture.Nodes.First(n => n != leader);

        var snapshot = await fixture.ExecuteAsync(follower, "take-snapshot", cts.Token);
        Assert.True(snapshot.Success, snapshot.Message);
        Assert.Contains("Snapshot at index", snapshot.Message, StringComparison.Ordinal);

        // Step down on a follower: the node itself answers why not (it got past authentication).
        var stepDown = await fixture.ExecuteAsync(follower, "step-down", cts.Token);
        Assert.False(stepDown.Success);
        Assert.Contains("is a follower", stepDown.Message, StringComparison.Ordinal);
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

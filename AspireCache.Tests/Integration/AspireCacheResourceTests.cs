using System.Net;
using System.Net.Http.Json;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using AspireCache.Tests.Watch;

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
        foreach (var parameter in new[] { "cache-key", "router-key", "catalog-cache-key" })
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
    public async Task The_catalog_has_its_own_key_which_writes_as_catalog_under_its_prefixes_and_is_refused_elsewhere_and_for_admin_calls()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await fixture.App.ResourceNotifications.WaitForResourceHealthyAsync("catalog", cts.Token);

        // The connection string the catalog process was started with: the router, and a key that is not the admin key.
        Assert.True(fixture.App.ResourceNotifications.TryGetCurrentState("catalog", out var catalog));
        var connectionString = catalog.Snapshot.EnvironmentVariables.Single(v => v.Name == "ConnectionStrings__cache").Value;
        var parts = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connectionString };
        Assert.Equal(fixture.App.GetEndpoint("router", "http"), new Uri((string)parts["Endpoint"]));
        var key = AspireAppFixture.ParseKey(connectionString);
        Assert.Matches("^[A-Za-z0-9]{32,}$", key);
        Assert.NotEqual(fixture.Key, key);
        Assert.True(fixture.App.ResourceNotifications.TryGetCurrentState("catalog-cache-key", out var parameter));
        Assert.Equal(key, parameter.Snapshot.Properties.Single(p => p.Name == "Value").Value?.ToString());
        Assert.DoesNotContain(catalog.Snapshot.EnvironmentVariables, v => v.Value?.Contains(fixture.Key, StringComparison.Ordinal) == true);

        using var service = fixture.NewClient(fixture.App.GetEndpoint("router", "http"), authenticated: false);
        service.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);

        // A write under its prefix succeeds and is recorded as the catalog's (the watch event's writer).
        var mine = $"config/catalog/it/own-key-{Guid.NewGuid():N}";
        await using (var watch = await SseStream.OpenAsync(fixture.Router, $"/cache/watch?key={Uri.EscapeDataString(mine)}", token: cts.Token))
        {
            Assert.Equal("progress", (await watch.NextAsync(cts.Token))!.Type);
            using var put = await service.PutAsync($"/cache/{mine}", new StringContent("by the catalog"), cts.Token);
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
            var written = (await watch.ReadUntilAsync(e => e.Type == "put", TimeSpan.FromSeconds(30))).Last();
            Assert.Equal(mine, written.Key);
            Assert.Equal("catalog", written.Json.GetProperty("writer").GetString());
        }

        Assert.Equal("by the catalog", await service.GetStringAsync($"/cache/{mine}", cts.Token)); // and it reads its keys
        using (var status = await service.GetAsync("/cluster/status", cts.Token))
        {
            Assert.Equal(HttpStatusCode.OK, status.StatusCode); // read scope: what the client's status polls need
        }

        // Outside its prefixes: 403 and nothing written, through the router and on a node.
        var outside = $"it/outside-{Guid.NewGuid():N}";
        using var node = fixture.NewClient(fixture.App.GetEndpoint("node1", "http"), authenticated: false);
        node.DefaultRequestHeaders.Authorization = service.DefaultRequestHeaders.Authorization;
        foreach (var client in new[] { service, node })
        {
            using var put = await client.PutAsync($"/cache/{outside}", new StringContent("x"), cts.Token);
            Assert.Equal(HttpStatusCode.Forbidden, put.StatusCode);
            Assert.Equal(ProblemTypes.Base + "forbidden", (await put.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>(cts.Token)).GetProperty("type").GetString());
        }

        Assert.Equal(HttpStatusCode.NotFound, (await fixture.Router.GetAsync($"/cache/{outside}", cts.Token)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await service.GetAsync("/cache/config/other-service/x", cts.Token)).StatusCode);

        // Admin calls: 403 (the credential is valid, the scope is missing).
        using var snapshot = await node.PostAsync("/admin/snapshot", null, cts.Token);
        Assert.Equal(HttpStatusCode.Forbidden, snapshot.StatusCode);
        Assert.Contains("insufficient_scope", snapshot.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Each_node_speaks_Raft_on_its_cluster_endpoint_and_tells_clients_its_http_endpoint()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        var http = AspireAppFixture.Nodes.ToDictionary(n => n, n => fixture.App.GetEndpoint(n, "http"));
        var cluster = AspireAppFixture.Nodes.ToDictionary(n => n, n => fixture.App.GetEndpoint(n, AspireCacheBuilderExtensions.ClusterEndpointName));
        Assert.All(AspireAppFixture.Nodes, n => Assert.NotEqual(http[n].Port, cluster[n].Port));

        // The cluster elected a leader over the cluster endpoints; what a client is told are the http endpoints.
        var leader = await fixture.LeaderAsync(cts.Token);
        using var node = fixture.Node("node1");
        var status = await node.GetFromJsonAsync<ClusterStatusResponse>("/cluster/status", cts.Token);
        Assert.Equal(AspireAppFixture.Nodes.Order(), status!.Members.Select(m => m.Id).Order());
        Assert.All(status.Members, m => Assert.Equal(http[m.Id], m.Url));
        if (status.LeaderId == leader)
        {
            Assert.Equal(http[leader], status.LeaderUrl);
        }

        // Kestrel listens on the cluster port, which serves cluster traffic only: a client request there is refused.
        using var onClusterPort = fixture.NewClient(cluster["node1"]);
        using var refused = await onClusterPort.GetAsync("/cache/_fixture/ready", cts.Token);
        Assert.Equal(HttpStatusCode.NotFound, refused.StatusCode);
        Assert.Equal(ProblemTypes.Base + "client-endpoint-only", (await refused.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>(cts.Token)).GetProperty("type").GetString());
        Assert.Equal(HttpStatusCode.OK, (await onClusterPort.GetAsync("/health", cts.Token)).StatusCode);

        // Raft belongs to the cluster endpoint, where it must be signed with the cluster secret: an unsigned
        // Resign is refused there (401) and on the client endpoint (404), and the leader stays.
        using var onClientPort = fixture.Node("node1");
        foreach (var (client, expected) in new[] { (onClusterPort, HttpStatusCode.Unauthorized), (onClientPort, HttpStatusCode.NotFound) })
        {
            using var forged = new HttpRequestMessage(HttpMethod.Post, "/cluster-consensus/raft") { Content = new ByteArrayContent([]) };
            forged.Headers.Add("X-Raft-Message-Type", "Resign");
            forged.Headers.Add("X-Raft-Node-ID", Convert.ToHexString(new byte[28]));
            forged.Headers.Add("X-Request-ID", "forged");
            using var response = await client.SendAsync(forged, cts.Token);
            Assert.Equal(expected, response.StatusCode);
        }

        Assert.Equal(leader, await fixture.LeaderAsync(cts.Token));
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

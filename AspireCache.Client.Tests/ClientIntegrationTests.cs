using System.Net.Http.Headers;
using AspireCache.Client.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace AspireCache.Client.Tests;

/// <summary>builder.AddAspireCacheClient("cache") against the real router: resolution, health, keyed variant, credential.</summary>
[Collection(ClientClusterCollection.Name)]
public sealed class ClientIntegrationTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    [Fact]
    public async Task AddAspireCacheClient_resolves_a_working_client_from_the_connection_string_and_its_health_check_is_healthy()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:cache"] = fixture.ConnectionString,
            ["Aspire:AspireCache:Client:Endpoint"] = "http://127.0.0.1:1", // the connection string wins
        });
        builder.AddAspireCacheClient("cache");
        using var host = builder.Build();

        var client = host.Services.GetRequiredService<IAspireCacheClient>();
        var version = await client.SetAsync("integration/a", "1"u8.ToArray());
        Assert.Equal(version, (await client.GetAsync("integration/a"))!.Version);

        var report = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        Assert.True(report.Status == HealthStatus.Healthy, string.Join("; ", report.Entries.Select(e => $"{e.Key}: {e.Value.Status} {e.Value.Description}")));
        Assert.Contains("AspireCache", report.Entries.Keys);
    }

    [Fact]
    public async Task The_keyed_client_binds_its_named_section_sends_the_Key_as_a_bearer_token_and_its_health_check_can_be_disabled()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Aspire:AspireCache:Client:other:Endpoint"] = fixture.Router.Url.ToString(),
            ["Aspire:AspireCache:Client:other:DisableHealthChecks"] = "true",
            ["ConnectionStrings:other"] = $"Key={fixture.Cluster.Credential}",
        });
        var seen = new List<AuthenticationHeaderValue?>();
        builder.AddKeyedAspireCacheClient("other", configureHttpClient: http => http.AddHttpMessageHandler(() => new Capture(seen)));
        using var host = builder.Build();

        var client = host.Services.GetRequiredKeyedService<IAspireCacheClient>("other");
        await client.SetAsync("integration/keyed", "k"u8.ToArray());
        Assert.Equal("k", System.Text.Encoding.UTF8.GetString((await client.GetAsync("integration/keyed"))!.Value.Span));
        Assert.All(seen, h => Assert.Equal($"Bearer {fixture.Cluster.Credential}", h?.ToString()));
        Assert.NotEmpty(seen);

        // Nothing else registered health checks here, so with ours disabled there is no health service at all.
        Assert.Null(host.Services.GetService<HealthCheckService>());
    }

    [Fact]
    public async Task The_near_cache_and_the_default_consistency_bind_from_configuration()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:cache"] = fixture.ConnectionString,
            ["Aspire:AspireCache:Client:NearCache:Prefixes:0"] = "integration/near/",
            ["Aspire:AspireCache:Client:NearCache:MaxEntries"] = "50",
            ["Aspire:AspireCache:Client:DefaultConsistency"] = "LinearizableNearCache",
        });
        builder.AddAspireCacheClient("cache");
        using var host = builder.Build();

        var client = (AspireCacheClient)host.Services.GetRequiredService<IAspireCacheClient>();
        await client.SetAsync("integration/near/a", "1"u8.ToArray());
        // Until its watch stream is up the near cache sends reads to the cluster; then it keeps them.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        do
        {
            Assert.Equal("1", System.Text.Encoding.UTF8.GetString((await client.GetAsync("integration/near/a"))!.Value.Span));
            Assert.True(DateTime.UtcNow < deadline, "a default read should have used (and filled) the near cache");
        }
        while (!client.NearCache!.Store.TryGet("integration/near/a", out _));

        Assert.True(client.NearCache.InScope("integration/near/b"));
        Assert.False(client.NearCache.InScope("integration/other"));
    }

    [Fact]
    public void A_missing_endpoint_is_a_clear_configuration_error()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        var error = Assert.Throws<InvalidOperationException>(() => builder.AddAspireCacheClient("nothing"));
        Assert.Contains("ConnectionStrings:nothing", error.Message);
    }

    private sealed class Capture(List<AuthenticationHeaderValue?> seen) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            lock (seen)
            {
                seen.Add(request.Headers.Authorization);
            }

            return base.SendAsync(request, cancellationToken);
        }
    }
}

using System.Diagnostics;
using System.Text.Json;

namespace AspireCache.Tests.Integration;

/// <summary>The deployment manifest azd consumes: three nodes with persistent volumes, the router, and the cluster's connection string.</summary>
public sealed class ManifestTests
{
    [Fact]
    public async Task Manifest_has_three_nodes_with_volumes_a_router_that_references_them_and_the_cache_connection_string()
    {
        var output = Path.Combine(Path.GetTempPath(), $"aspirecache-manifest-{Guid.NewGuid():N}.json");
        var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { "run", "--project", Projects.AspireCache_AppHost.ProjectPath, "--no-build", "-c", configuration, "--", "--publisher", "manifest", "--output-path", output },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(3));
        Assert.True(process.ExitCode == 0, $"manifest publisher failed: {await stdout}{await stderr}");

        using var manifest = JsonDocument.Parse(await File.ReadAllTextAsync(output));
        var resources = manifest.RootElement.GetProperty("resources");
        foreach (var node in new[] { "node1", "node2", "node3" })
        {
            var resource = resources.GetProperty(node);
            var volume = Assert.Single(resource.GetProperty("volumes").EnumerateArray());
            Assert.Equal($"{node}-data", volume.GetProperty("name").GetString());
            Assert.Equal("/data", volume.GetProperty("target").GetString());
            var env = resource.GetProperty("env");
            Assert.Equal(node, env.GetProperty("Cluster__NodeId").GetString());
            Assert.Equal("/data", env.GetProperty("Cluster__DataDirectory").GetString());
            foreach (var peer in new[] { "node1", "node2", "node3" })
            {
                // Raft on the cluster endpoint; clients are told the http endpoint.
                Assert.Equal($"{{{peer}.bindings.cluster.url}}", env.GetProperty($"Cluster__Members__{peer}").GetString());
                Assert.Equal($"{{{peer}.bindings.http.url}}", env.GetProperty($"Cluster__ClientUrls__{peer}").GetString());
            }

            // Three endpoints, none external; Kestrel listens on the client and cluster ports (ASPNETCORE_HTTP_PORTS) and on h2.
            var bindings = resource.GetProperty("bindings");
            Assert.Equal(["cluster", "h2", "http"], bindings.EnumerateObject().Select(b => b.Name).Order());
            Assert.Equal(8080, bindings.GetProperty("http").GetProperty("targetPort").GetInt32());
            Assert.Equal(8081, bindings.GetProperty("h2").GetProperty("targetPort").GetInt32());
            Assert.Equal(8082, bindings.GetProperty("cluster").GetProperty("targetPort").GetInt32());
            foreach (var binding in bindings.EnumerateObject())
            {
                Assert.False(binding.Value.TryGetProperty("external", out var external) && external.GetBoolean(), $"{node}'s {binding.Name} endpoint is external");
            }

            Assert.Equal("8080;8082", env.GetProperty("ASPNETCORE_HTTP_PORTS").GetString());
            Assert.Equal("http://+:8081", env.GetProperty("Cluster__Http2Url").GetString());
            Assert.Equal("8082", env.GetProperty("Cluster__PeerPort").GetString());
            Assert.Equal("1", env.GetProperty("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS").GetString()); // deployed as run: inline socket completions
        }

        var router = resources.GetProperty("router");
        Assert.Equal("project.v0", router.GetProperty("type").GetString());
        foreach (var node in new[] { "node1", "node2", "node3" })
        {
            Assert.Equal($"{{{node}.bindings.http.url}}", router.GetProperty("env").GetProperty($"services__{node}__http__0").GetString());
        }

        Assert.DoesNotContain(router.GetProperty("env").EnumerateObject(), v => v.Value.GetString()!.Contains(".bindings.cluster.", StringComparison.Ordinal)); // client traffic only
        Assert.Equal("1", router.GetProperty("env").GetProperty("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS").GetString());

        Assert.True(router.GetProperty("bindings").GetProperty("http").GetProperty("external").GetBoolean());

        // The cluster resource (AspireCache.Hosting): a connection string to the router, nothing to deploy.
        var cache = resources.GetProperty("cache");
        Assert.Equal("value.v0", cache.GetProperty("type").GetString());
        Assert.Equal("Endpoint={router.bindings.http.url};Key={cache-key.value}", cache.GetProperty("connectionString").GetString());
        Assert.Equal(["cache", "cache-cluster-secret", "cache-key", "catalog", "catalog-cache-key", "console", "console-cache-key", "node1", "node2", "node3", "router", "router-key"], resources.EnumerateObject().Select(r => r.Name).Order());

        // The keys are secret parameters the deployment generates (never a value in the manifest).
        foreach (var parameter in new[] { "cache-key", "router-key", "cache-cluster-secret", "catalog-cache-key", "console-cache-key" })
        {
            var resource = resources.GetProperty(parameter);
            Assert.Equal("parameter.v0", resource.GetProperty("type").GetString());
            var input = resource.GetProperty("inputs").GetProperty("value");
            Assert.True(input.GetProperty("secret").GetBoolean());
            Assert.Equal(32, input.GetProperty("default").GetProperty("generate").GetProperty("minLength").GetInt32());
        }

        Assert.Equal("{cache-key.value}", resources.GetProperty("node1").GetProperty("env").GetProperty("Auth__Credentials__0__Key").GetString());
        Assert.Equal("{router-key.value}", router.GetProperty("env").GetProperty("Router__Credential").GetString());

        // The catalog has its own credential: its connection string carries its key, every node accepts it
        // as "catalog" with read and write on its configuration and its HybridCache entries.
        var catalogEnv = resources.GetProperty("catalog").GetProperty("env");
        Assert.Equal("Endpoint={router.bindings.http.url};Key={catalog-cache-key.value}", catalogEnv.GetProperty("ConnectionStrings__cache").GetString());
        Assert.Equal("{catalog-cache-key.value}", catalogEnv.GetProperty("CACHE_KEY").GetString());
        Assert.DoesNotContain(catalogEnv.EnumerateObject(), v => v.Value.GetString()!.Contains("{cache-key.value}", StringComparison.Ordinal));
        foreach (var node in new[] { "node1", "node2", "node3" })
        {
            // Every node signs and checks node-to-node traffic with the same cluster secret.
            var env = resources.GetProperty(node).GetProperty("env");
            Assert.Equal("{cache-cluster-secret.value}", env.GetProperty("Cluster__Secret").GetString());
            Assert.Equal(
                ["catalog", "{catalog-cache-key.value}", "read", "write", "config/catalog/", "dcache/"],
                new[] { "Name", "Key", "Scopes__0", "Scopes__1", "Prefixes__0", "Prefixes__1" }.Select(p => env.GetProperty($"Auth__Credentials__2__{p}").GetString()));
        }

        File.Delete(output);
    }
}

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
                Assert.Equal($"{{{peer}.bindings.http.url}}", env.GetProperty($"Cluster__Members__{peer}").GetString());
            }

            Assert.Equal(8080, resource.GetProperty("bindings").GetProperty("http").GetProperty("targetPort").GetInt32());
        }

        var router = resources.GetProperty("router");
        Assert.Equal("project.v0", router.GetProperty("type").GetString());
        foreach (var node in new[] { "node1", "node2", "node3" })
        {
            Assert.Equal($"{{{node}.bindings.http.url}}", router.GetProperty("env").GetProperty($"services__{node}__http__0").GetString());
        }

        Assert.True(router.GetProperty("bindings").GetProperty("http").GetProperty("external").GetBoolean());

        // The cluster resource (AspireCache.Hosting): a connection string to the router, nothing to deploy.
        var cache = resources.GetProperty("cache");
        Assert.Equal("value.v0", cache.GetProperty("type").GetString());
        Assert.Equal("Endpoint={router.bindings.http.url};Key={cache-key.value}", cache.GetProperty("connectionString").GetString());
        Assert.Equal(["cache", "cache-cluster-secret", "cache-key", "catalog", "node1", "node2", "node3", "router", "router-key"], resources.EnumerateObject().Select(r => r.Name).Order());

        // The keys are secret parameters the deployment generates (never a value in the manifest).
        foreach (var parameter in new[] { "cache-key", "router-key", "cache-cluster-secret" })
        {
            var resource = resources.GetProperty(parameter);
            Assert.Equal("parameter.v0", resource.GetProperty("type").GetString());
            var input = resource.GetProperty("inputs").GetProperty("value");
            Assert.True(input.GetProperty("secret").GetBoolean());
            Assert.Equal(32, input.GetProperty("default").GetProperty("generate").GetProperty("minLength").GetInt32());
        }

        Assert.Equal("{cache-key.value}", resources.GetProperty("node1").GetProperty("env").GetProperty("Auth__Credentials__0__Key").GetString());
        Assert.Equal("{router-key.value}", router.GetProperty("env").GetProperty("Router__Credential").GetString());
        foreach (var node in new[] { "node1", "node2", "node3" })
        {
            // Every node signs and checks node-to-node traffic with the same cluster secret.
            Assert.Equal("{cache-cluster-secret.value}", resources.GetProperty(node).GetProperty("env").GetProperty("Cluster__Secret").GetString());
        }

        File.Delete(output);
    }
}

using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;

namespace AspireCache.Tests.Integration;

/// <summary>The application model AddAspireCache builds (nothing is started).</summary>
public sealed class AspireCacheHostingTests
{
    [Fact]
    public async Task Two_clusters_fit_in_one_AppHost_with_default_resource_names()
    {
        var builder = NewModel();
        var orders = builder.AddAspireCache<Projects.AspireCache_Node, Projects.AspireCache_Router>("orders");
        var sessions = builder.AddAspireCache<Projects.AspireCache_Node, Projects.AspireCache_Router>("sessions", o => o.NodeCount = 5);

        // A service that references a cluster gets its connection string and can wait for it.
        var consumer = builder.AddProject<Projects.AspireCache_Router>("consumer", launchProfileName: null).WithReference(orders).WaitFor(orders);
        Assert.Equal("{orders.connectionString}", (await EnvironmentAsync(consumer.Resource))["ConnectionStrings__orders"]);
        Assert.Contains(consumer.Resource.Annotations.OfType<WaitAnnotation>(), w => w.Resource == orders.Resource && w.WaitType == WaitType.WaitUntilHealthy);

        foreach (var (cache, count) in new[] { (orders.Resource, 3), (sessions.Resource, 5) })
        {
            var nodeNames = Enumerable.Range(1, count).Select(i => $"{cache.Name}-node{i}").ToArray();
            Assert.Equal(nodeNames, cache.Nodes.Select(n => n.Name));
            Assert.Equal($"{cache.Name}-router", cache.Router.Name);
            Assert.Equal($"Endpoint={{{cache.Name}-router.bindings.http.url}};Key={{{cache.Name}-key.value}}", cache.ConnectionStringExpression.ValueExpression);
            foreach (var child in cache.Nodes.Append<IResource>(cache.Router))
            {
                var parent = child.Annotations.OfType<ResourceRelationshipAnnotation>().Single(r => r.Type == "Parent");
                Assert.Same(cache, parent.Resource);
            }

            // The router is told its nodes' names and reaches their client endpoints (http, h2), never their cluster endpoints.
            var routerEnv = await EnvironmentAsync(cache.Router);
            Assert.Equal(nodeNames, Enumerable.Range(0, count).Select(i => routerEnv[$"Router__Nodes__{i}"]));
            Assert.Equal(nodeNames.Select(n => $"{{{n}.bindings.http.url}}"), nodeNames.Select(n => routerEnv[$"services__{n}__http__0"]));
            Assert.DoesNotContain(routerEnv.Values, v => v.Contains(".bindings.cluster.", StringComparison.Ordinal));
            Assert.Equal("true", routerEnv["Router__Http2Streams"]);
            Assert.False(Assert.Single(cache.Router.Annotations.OfType<EndpointAnnotation>()).IsProxied); // no DCP hop in front of the router
            Assert.Equal($"{{{cache.Name}-router-key.value}}", routerEnv["Router__Credential"]);
            foreach (var node in cache.Nodes)
            {
                var env = await EnvironmentAsync(node);
                Assert.Equal(node.Name, env["Cluster__NodeId"]);
                // Raft peers on their cluster endpoints; clients are told the nodes' http endpoints.
                Assert.Equal(nodeNames, env.Keys.Where(k => k.StartsWith("Cluster__Members__", StringComparison.Ordinal)).Select(k => k["Cluster__Members__".Length..]).Order());
                Assert.All(nodeNames, n => Assert.Equal($"{{{n}.bindings.cluster.url}}", env[$"Cluster__Members__{n}"]));
                Assert.All(nodeNames, n => Assert.Equal($"{{{n}.bindings.http.url}}", env[$"Cluster__ClientUrls__{n}"]));
                Assert.Equal(["http", "h2", "cluster"], node.Annotations.OfType<EndpointAnnotation>().Select(e => e.Name));
                var endpoints = node.Annotations.OfType<EndpointAnnotation>().ToArray();
                Assert.All(endpoints, e => Assert.False(e.IsProxied)); // fixed ports: a node's addresses survive its restart
                Assert.Equal(3, endpoints.Select(e => e.Port).Distinct().Count());

                // Client authentication: the cluster's admin key and the router's read-only key, both secret parameters.
                Assert.Equal("true", env["Auth__Enabled"]);
                Assert.Equal(
                    [("admin", $"{{{cache.Name}-key.value}}", "admin"), ("router", $"{{{cache.Name}-router-key.value}}", "read")],
                    Enumerable.Range(0, 2).Select(i => (env[$"Auth__Credentials__{i}__Name"], env[$"Auth__Credentials__{i}__Key"], env[$"Auth__Credentials__{i}__Scopes__0"])));
                Assert.DoesNotContain($"Auth__Credentials__2__Key", env.Keys);

                // Node-to-node authentication: one generated cluster secret for every node.
                Assert.Equal($"{{{cache.Name}-cluster-secret.value}}", env["Cluster__Secret"]);
                Assert.DoesNotContain("Cluster__PreviousSecret", env.Keys);
            }
        }
    }

    [Fact]
    public async Task Keys_are_generated_secret_parameters_and_authentication_can_be_turned_off_or_given_a_previous_key()
    {
        var builder = NewModel();
        var rotating = builder.AddAspireCache<Projects.AspireCache_Node, Projects.AspireCache_Router>("rotating", o =>
        {
            o.PreviousKey = builder.AddParameter("rotating-old-key", secret: true);
            o.PreviousClusterSecret = builder.AddParameter("rotating-old-cluster-secret", secret: true);
        });
        var open = builder.AddAspireCache<Projects.AspireCache_Node, Projects.AspireCache_Router>("open", o =>
        {
            o.EnableAuthentication = false;
            o.EnableClusterAuthentication = false;
        });

        var key = Assert.IsType<ParameterResource>(builder.Resources.Single(r => r.Name == "rotating-key"));
        Assert.True(key.Secret);
        Assert.NotNull(key.Default); // generated (and kept in user secrets in run mode); the manifest test checks what publish generates
        Assert.True(Assert.IsType<ParameterResource>(builder.Resources.Single(r => r.Name == "rotating-router-key")).Secret);
        Assert.Same(key, rotating.Resource.Key);

        var env = await EnvironmentAsync(rotating.Resource.Nodes[0]);
        Assert.Equal(("admin", "{rotating-old-key.value}", "admin"), (env["Auth__Credentials__2__Name"], env["Auth__Credentials__2__Key"], env["Auth__Credentials__2__Scopes__0"]));
        Assert.True(Assert.IsType<ParameterResource>(builder.Resources.Single(r => r.Name == "rotating-cluster-secret")).Secret);
        Assert.Equal(("{rotating-cluster-secret.value}", "{rotating-old-cluster-secret.value}"), (env["Cluster__Secret"], env["Cluster__PreviousSecret"]));

        Assert.Null(open.Resource.Key);
        Assert.Equal("Endpoint={open-router.bindings.http.url}", open.Resource.ConnectionStringExpression.ValueExpression);
        Assert.DoesNotContain(builder.Resources, r => r.Name is "open-key" or "open-router-key" or "open-cluster-secret");
        Assert.DoesNotContain((await EnvironmentAsync(open.Resource.Nodes[0])).Keys, k => k.StartsWith("Cluster__Secret", StringComparison.Ordinal));
        Assert.DoesNotContain((await EnvironmentAsync(open.Resource.Nodes[0])).Keys, k => k.StartsWith("Auth__", StringComparison.Ordinal));
        Assert.DoesNotContain("Router__Credential", (await EnvironmentAsync(open.Resource.Router)).Keys);
    }

    [Fact]
    public async Task A_service_referenced_with_an_access_level_gets_its_own_key_and_every_node_accepts_it_with_its_scopes_and_prefixes()
    {
        var builder = NewModel();
        var cache = builder.AddAspireCache<Projects.AspireCache_Node, Projects.AspireCache_Router>("cache", o => o.PreviousKey = builder.AddParameter("cache-old-key", secret: true));

        // Added after the nodes: the nodes read the credential list when they start.
        var orders = builder.AddProject<Projects.AspireCache_Router>("orders", launchProfileName: null)
            .WithReference(cache, AspireCacheAccess.ReadWrite, prefixes: ["config/orders/", "orders/"]);
        var reports = builder.AddProject<Projects.AspireCache_Router>("reports", launchProfileName: null)
            .WithReference(cache, AspireCacheAccess.Read, connectionName: "cluster-cache");
        var legacy = builder.AddProject<Projects.AspireCache_Router>("legacy", launchProfileName: null).WithReference(cache);

        // Each service's connection string (and Key property) carries its own key, never the admin key.
        var ordersKey = Assert.IsType<ParameterResource>(builder.Resources.Single(r => r.Name == "orders-cache-key"));
        Assert.True(ordersKey.Secret);
        Assert.NotNull(ordersKey.Default); // generated like the cluster's keys (32 letters and digits, kept in user secrets)
        var ordersEnv = await EnvironmentAsync(orders.Resource);
        Assert.Equal("Endpoint={cache-router.bindings.http.url};Key={orders-cache-key.value}", ordersEnv["ConnectionStrings__cache"]);
        Assert.Equal("{orders-cache-key.value}", ordersEnv["CACHE_KEY"]);
        Assert.Equal("{cache-router.bindings.http.url}", ordersEnv["CACHE_URI"]);
        Assert.DoesNotContain(ordersEnv.Values, v => v.Contains("{cache-key.value}", StringComparison.Ordinal) || v.Contains("connectionString", StringComparison.Ordinal));
        Assert.Contains(orders.Resource.Annotations.OfType<ResourceRelationshipAnnotation>(), r => r.Resource == cache.Resource && r.Type == "Reference");

        // A connection name with a hyphen: Aspire's portable alias gets the service's key too.
        var reportsEnv = await EnvironmentAsync(reports.Resource);
        Assert.Equal("Endpoint={cache-router.bindings.http.url};Key={reports-cache-key.value}", reportsEnv["ConnectionStrings__cluster-cache"]);
        Assert.Equal("Endpoint={cache-router.bindings.http.url};Key={reports-cache-key.value}", reportsEnv["ConnectionStrings__cluster_cache"]);
        Assert.DoesNotContain(reportsEnv.Values, v => v.Contains("{cache-key.value}", StringComparison.Ordinal));

        // A plain reference is unchanged: the cluster's connection string, with the admin key.
        Assert.Equal("{cache.connectionString}", (await EnvironmentAsync(legacy.Resource))["ConnectionStrings__cache"]);
        Assert.Equal("{cache-key.value}", (await EnvironmentAsync(legacy.Resource))["CACHE_KEY"]);
        Assert.DoesNotContain(builder.Resources, r => r.Name == "legacy-cache-key");

        Assert.Equal(["admin", "router", "admin", "orders", "reports"], cache.Resource.Credentials.Select(c => c.Name));
        foreach (var node in cache.Resource.Nodes)
        {
            var env = await EnvironmentAsync(node);
            Assert.Equal("orders", env["Auth__Credentials__3__Name"]);
            Assert.Equal("{orders-cache-key.value}", env["Auth__Credentials__3__Key"]);
            Assert.Equal(["read", "write"], [env["Auth__Credentials__3__Scopes__0"], env["Auth__Credentials__3__Scopes__1"]]);
            Assert.Equal(["config/orders/", "orders/"], [env["Auth__Credentials__3__Prefixes__0"], env["Auth__Credentials__3__Prefixes__1"]]);
            Assert.Equal(("reports", "{reports-cache-key.value}", "read"), (env["Auth__Credentials__4__Name"], env["Auth__Credentials__4__Key"], env["Auth__Credentials__4__Scopes__0"]));
            Assert.DoesNotContain(env.Keys, k => k.StartsWith("Auth__Credentials__4__Prefixes", StringComparison.Ordinal) || k.StartsWith("Auth__Credentials__5__", StringComparison.Ordinal));
            Assert.DoesNotContain("Auth__Credentials__4__Scopes__1", env.Keys);
            Assert.Contains(node.Annotations.OfType<ResourceRelationshipAnnotation>(), r => r.Resource == ordersKey);
        }

        // Refused at AppHost build time rather than by a node that will not start.
        Assert.Throws<InvalidOperationException>(() => orders.WithReference(cache, AspireCacheAccess.Read));
        Assert.Throws<ArgumentException>(() => builder.AddProject<Projects.AspireCache_Router>("bad-prefix", launchProfileName: null).WithReference(cache, AspireCacheAccess.Read, prefixes: [""]));
        Assert.Throws<ArgumentException>(() => builder.AddProject<Projects.AspireCache_Router>("admin", launchProfileName: null).WithReference(cache, AspireCacheAccess.Read));
    }

    [Fact]
    public async Task Nodes_and_router_run_with_inline_socket_completions_unless_turned_off()
    {
        var builder = NewModel();
        var inline = builder.AddAspireCache<Projects.AspireCache_Node, Projects.AspireCache_Router>("inline");
        var pooled = builder.AddAspireCache<Projects.AspireCache_Node, Projects.AspireCache_Router>("pooled", o => o.InlineSocketCompletions = false);
        var service = builder.AddProject<Projects.AspireCache_Router>("svc", launchProfileName: null).WithReference(inline);

        foreach (var server in inline.Resource.Nodes.Append<IResource>(inline.Resource.Router))
        {
            Assert.Equal("1", (await EnvironmentAsync(server))[InlineIo.Variable]);
        }

        foreach (var server in pooled.Resource.Nodes.Append<IResource>(pooled.Resource.Router))
        {
            Assert.DoesNotContain(InlineIo.Variable, (await EnvironmentAsync(server)).Keys);
        }

        Assert.DoesNotContain(InlineIo.Variable, (await EnvironmentAsync(service.Resource)).Keys); // the cluster's processes only
    }

    [Fact]
    public async Task With_authentication_off_a_reference_with_an_access_level_is_a_plain_reference()
    {
        var builder = NewModel();
        var open = builder.AddAspireCache<Projects.AspireCache_Node, Projects.AspireCache_Router>("open", o => o.EnableAuthentication = false);
        var service = builder.AddProject<Projects.AspireCache_Router>("svc", launchProfileName: null).WithReference(open, AspireCacheAccess.Read, prefixes: ["svc/"]);

        Assert.Equal("{open.connectionString}", (await EnvironmentAsync(service.Resource))["ConnectionStrings__open"]);
        Assert.Empty(open.Resource.Credentials);
        Assert.DoesNotContain(builder.Resources, r => r.Name == "svc-open-key");
        Assert.DoesNotContain((await EnvironmentAsync(open.Resource.Nodes[0])).Keys, k => k.StartsWith("Auth__", StringComparison.Ordinal));
    }

    [Fact]
    public void Configured_router_nodes_replace_the_default_names_instead_of_adding_to_them()
    {
        static string[] Bind(Dictionary<string, string?> settings) =>
            (new ConfigurationBuilder().AddInMemoryCollection(settings).Build()
                .GetSection(AspireCache.Router.RouterOptions.SectionName).Get<AspireCache.Router.RouterOptions>() ?? new()).WithDefaults().Nodes;

        Assert.Equal(["a-node1", "a-node2"], Bind(new() { ["Router:Nodes:0"] = "a-node1", ["Router:Nodes:1"] = "a-node2" }));
        Assert.Equal(["node1", "node2", "node3"], Bind(new() { ["Router:Zone"] = "west" }));
    }

    /// <summary>An application model to inspect: any AppHost assembly will do as its host; nothing is started.</summary>
    private static IDistributedApplicationBuilder NewModel() => DistributedApplication.CreateBuilder(new DistributedApplicationOptions
    {
        Args = [],
        AssemblyName = typeof(Projects.AspireCache_AppHost).Assembly.GetName().Name,
        DisableDashboard = true,
    });

    /// <summary>The environment as the manifest would carry it (endpoints as expressions: nothing is allocated here).</summary>
    private static async Task<Dictionary<string, string>> EnvironmentAsync(IResource resource)
    {
        var values = new Dictionary<string, object>();
        var context = new EnvironmentCallbackContext(new DistributedApplicationExecutionContext(DistributedApplicationOperation.Publish), resource, values);
        foreach (var callback in resource.Annotations.OfType<EnvironmentCallbackAnnotation>())
        {
            await callback.Callback(context);
        }

        return values.ToDictionary(v => v.Key, v => v.Value switch
        {
            string text => text,
            IManifestExpressionProvider expression => expression.ValueExpression,
            var other => other.ToString() ?? "",
        });
    }
}

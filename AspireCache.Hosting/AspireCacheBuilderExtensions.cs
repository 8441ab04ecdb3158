using System.Globalization;
using System.Text.Json;
using Aspire.Hosting.ApplicationModel;
using AspireCache.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;

namespace Aspire.Hosting;

/// <summary>Adds an AspireCache cluster (Raft nodes + router) to an Aspire AppHost.</summary>
public static partial class AspireCacheBuilderExtensions
{
    /// <summary>The resource type the dashboard shows for the cluster resource.</summary>
    public const string ResourceType = "AspireCache";

    /// <summary>The name of each node's endpoint for Raft RPCs and node-to-node calls.</summary>
    public const string ClusterEndpointName = "cluster";

    // Publish mode: the node container's ports (client API, HTTP/2 watch streams, cluster traffic).
    private const int ContainerHttpPort = 8080;
    private const int ContainerHttp2Port = 8081;
    private const int ContainerClusterPort = 8082;
    private const string InlineSocketCompletionsVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS"; // the servers' InlineIo.Variable

    /// <summary>
    /// Adds an AspireCache cluster named <paramref name="name"/>: <c>NodeCount</c> Raft nodes that know
    /// each other, a router in front of them, and a parent resource <paramref name="name"/> whose
    /// connection string is <c>Endpoint={router url};Key={the cluster's key}</c> (see
    /// <see cref="AspireCacheClusterOptions.EnableAuthentication"/>).
    /// </summary>
    /// <typeparam name="TNode">The AppHost's generated project type of <c>AspireCache.Node</c> (e.g. <c>Projects.AspireCache_Node</c>).</typeparam>
    /// <typeparam name="TRouter">The AppHost's generated project type of <c>AspireCache.Router</c>.</typeparam>
    /// <param name="builder">The AppHost builder.</param>
    /// <param name="name">The cluster resource's name (and the connection string's).</param>
    /// <param name="configure">Resource names, ports, data directory and Raft settings.</param>
    /// <remarks>
    /// <para>Each node has three endpoints: <c>http</c> (the client API, admin endpoints and watch streams; the
    /// URL the cluster reports to clients, <c>Cluster__ClientUrls__{id}</c>), <c>h2</c> (HTTP/2 only, for the
    /// router's multiplexed watch streams) and <c>cluster</c> (Raft RPCs and node-to-node calls: every node's
    /// <c>Cluster__Members__{id}</c>). Run mode: each node is a project on fixed, non-proxied ports (its Raft
    /// address must survive a restart); data lives in <c>{DataRoot}/{node}</c>. Publish mode: each node is a
    /// container built from the node project's <c>Dockerfile</c> (build context: the folder above the node
    /// project) listening on 8080 (<c>http</c>), 8081 (<c>h2</c>) and 8082 (<c>cluster</c>), none of them external,
    /// with a volume <c>{node}-data</c> on <c>/data</c>.</para>
    /// <para>Every node gets the dashboard commands <c>step-down</c> and <c>take-snapshot</c>. The router has external
    /// HTTP endpoints and talks to the nodes' <c>http</c> and <c>h2</c> endpoints only. <c>.WithReference(cache)</c> gives a
    /// service <c>ConnectionStrings__{name}</c> with the cluster's admin key;
    /// <c>.WithReference(cache, AspireCacheAccess.ReadWrite, prefixes: [...])</c> gives it a credential of its own
    /// (see <see cref="WithReference{TDestination}(IResourceBuilder{TDestination}, IResourceBuilder{AspireCacheResource}, AspireCacheAccess, IEnumerable{string}?, string?)"/>);
    /// <c>.WaitFor(cache)</c> waits until the cluster has a leader.</para>
    /// </remarks>
    public static IResourceBuilder<AspireCacheResource> AddAspireCache<TNode, TRouter>(
        this IDistributedApplicationBuilder builder,
        [ResourceName] string name,
        Action<AspireCacheClusterOptions>? configure = null)
        where TNode : IProjectMetadata, new()
        where TRouter : IProjectMetadata, new()
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);

        var options = new AspireCacheClusterOptions();
        configure?.Invoke(options);
        var nodeNames = options.ResolveNodeNames(name);
        var routerName = options.RouterName ?? $"{name}-router";
        var publish = builder.ExecutionContext.IsPublishMode;

        var cache = new AspireCacheResource(name);
        var cacheBuilder = builder.AddResource(cache);

        // Client authentication: the cluster's admin key (the connection string's Key=) and the
        // router's own read-only key, both secret parameters generated for local runs.
        ClusterKeys? keys = null;
        if (options.EnableAuthentication)
        {
            keys = new ClusterKeys(
                options.Key ?? GeneratedKey(builder, $"{name}-key"),
                GeneratedKey(builder, $"{routerName}-key"),
                options.PreviousKey);
            cache.Key = keys.Admin.Resource;

            // Auth:Credentials:{i} on every node, in this order, then one per service referenced with an access level.
            cache.AddCredential(new AspireCacheCredential("admin", keys.Admin.Resource, AspireCacheAccess.Admin, [], service: null));
            cache.AddCredential(new AspireCacheCredential("router", keys.Router.Resource, AspireCacheAccess.Read, [], service: null));
            if (keys.PreviousAdmin is { } previous)
            {
                cache.AddCredential(new AspireCacheCredential("admin", previous.Resource, AspireCacheAccess.Admin, [], service: null));
            }
        }

        // Node-to-node authentication: one cluster secret every node signs its Raft and cluster calls with.
        var clusterSecret = options.EnableClusterAuthentication
            ? options.ClusterSecret ?? GeneratedKey(builder, $"{name}-cluster-secret")
            : null;

        var nodes = new List<IResourceBuilder<IResourceWithEnvironment>>();
        var httpEndpoints = new List<EndpointReference>();    // client traffic: the router, Cluster__ClientUrls
        var streamEndpoints = new List<EndpointReference>();  // HTTP/2-only, for the router's watch streams
        var clusterEndpoints = new List<EndpointReference>(); // Raft and node-to-node calls: Cluster__Members
        for (var i = 0; i < nodeNames.Length; i++)
        {
            var nodeName = nodeNames[i];
            if (publish)
            {
                // Deployed (azd): a container built from the repository, with a persistent volume for WAL and snapshots.
                var nodeProjectDirectory = Path.GetDirectoryName(new TNode().ProjectPath)!;
                var context = Path.GetDirectoryName(nodeProjectDirectory)!;
                // Kestrel listens on ASPNETCORE_HTTP_PORTS (the node turns them into Kestrel endpoints beside
                // the h2 one, see the node's StreamEndpoint): the client port and the cluster port. None of the
                // three endpoints is external: clients come through the router, peers over the internal network.
                // Cluster__PeerPort names the cluster endpoint's local port whatever URL the deployment gives it
                // (a port mapping), so the node keeps Raft and client traffic apart there too.
                var container = builder.AddDockerfile(nodeName, contextPath: context, dockerfilePath: Path.Combine(Path.GetFileName(nodeProjectDirectory), "Dockerfile"))
                    .WithHttpEndpoint(targetPort: ContainerHttpPort)
                    .WithHttpEndpoint(targetPort: ContainerHttp2Port, name: "h2")
                    .WithHttpEndpoint(targetPort: ContainerClusterPort, name: ClusterEndpointName)
                    .WithVolume($"{nodeName}-data", "/data")
                    .WithEnvironment("Cluster__DataDirectory", "/data")
                    .WithEnvironment("ASPNETCORE_HTTP_PORTS", string.Create(CultureInfo.InvariantCulture, $"{ContainerHttpPort};{ContainerClusterPort}"))
                    .WithEnvironment("Cluster__Http2Url", string.Create(CultureInfo.InvariantCulture, $"http://+:{ContainerHttp2Port}"))
                    .WithEnvironment("Cluster__PeerPort", ContainerClusterPort.ToString(CultureInfo.InvariantCulture));
                ConfigureNode(container, nodeName, options, cache, keys, clusterSecret);
                nodes.Add(container);
                httpEndpoints.Add(container.GetEndpoint("http"));
                streamEndpoints.Add(container.GetEndpoint("h2"));
                clusterEndpoints.Add(container.GetEndpoint(ClusterEndpointName));
            }
            else
            {
                // Raft peers address each other by URL, and clients are told each node's URL, so the ports
                // must survive a node restart, and the peer-to-peer path should not cross a proxy: fixed,
                // non-proxied ports per node. Aspire lists every endpoint in ASPNETCORE_URLS, so Kestrel
                // listens on the cluster port too.
                var dataRoot = Path.GetFullPath(options.DataRoot ?? Path.Combine(builder.AppHostDirectory, ".data"));
                var port = options.NodePorts?.ElementAtOrDefault(i) is > 0 and var fixedPort ? fixedPort : LoopbackPorts.Free();
                var clusterPort = options.ClusterPorts?.ElementAtOrDefault(i) is > 0 and var fixedClusterPort ? fixedClusterPort : LoopbackPorts.Free();
                var project = builder.AddProject<TNode>(nodeName, launchProfileName: null)
                    .WithHttpEndpoint(port: port, isProxied: false)
                    .WithHttpEndpoint(port: LoopbackPorts.Free(), name: "h2", isProxied: false)
                    .WithHttpEndpoint(port: clusterPort, name: ClusterEndpointName, isProxied: false)
                    .WithEnvironment("Cluster__DataDirectory", Path.Combine(dataRoot, nodeName));
                project.WithEnvironment("Cluster__Http2Url", project.GetEndpoint("h2"));
                ConfigureNode(project, nodeName, options, cache, keys, clusterSecret);
                nodes.Add(project);
                httpEndpoints.Add(project.GetEndpoint("http"));
                streamEndpoints.Add(project.GetEndpoint("h2"));
                clusterEndpoints.Add(project.GetEndpoint(ClusterEndpointName));
            }
        }

        // Every node gets the same static member list: id → its cluster endpoint (Raft and node-to-node
        // calls), and id → its client endpoint (what /cluster/status, /cluster/watch and Leader-Url report).
        foreach (var node in nodes)
        {
            for (var i = 0; i < nodeNames.Length; i++)
            {
                node.WithEnvironment($"Cluster__Members__{nodeNames[i]}", clusterEndpoints[i]);
                node.WithEnvironment($"Cluster__ClientUrls__{nodeNames[i]}", httpEndpoints[i]);
            }
        }

        var router = builder.AddProject<TRouter>(routerName, launchProfileName: null)
            // Run mode: Kestrel on the port itself, no DCP proxy in front (one router; the proxy was a
            // whole extra TCP hop on every request, measured as the largest cost of a routed read under F5).
            .WithHttpEndpoint(port: publish ? null : options.RouterPort ?? LoopbackPorts.Free(), isProxied: publish)
            .WithExternalHttpEndpoints()
            .WithHttpHealthCheck("/health")
            .WithEnvironment("Router__Http2Streams", "true")
            .WithParentRelationship(cache);
        WithInlineSocketCompletions(router, options);
        if (keys is not null)
        {
            router.WithEnvironment("Router__Credential", keys.Router);
        }

        // The router reaches the nodes' client endpoints only (http, and h2 for watch streams), never their cluster endpoints.
        for (var i = 0; i < nodeNames.Length; i++)
        {
            router.WithEnvironment($"Router__Nodes__{i}", nodeNames[i])
                .WithReference(httpEndpoints[i])
                .WithReference(streamEndpoints[i])
                .WaitFor(nodes[i]);
        }

        cache.Nodes = [.. nodes.Select(n => (IResourceWithEndpoints)n.Resource)];
        cache.Router = router.Resource;

        // The cluster resource has no process: it waits for the router, then is "Running" so that
        // Aspire's health monitor runs its check, which asks the router how the cluster is
        // (as ConnectionStringResource and ExternalServiceResource do).
        var healthCheckKey = $"{name}_cluster_check";
        builder.Services.AddHealthChecks().Add(new HealthCheckRegistration(
            healthCheckKey, _ => new AspireCacheHealthCheck(cache), failureStatus: default, tags: default));

        return cacheBuilder
            .WithInitialState(new CustomResourceSnapshot
            {
                ResourceType = ResourceType,
                State = KnownResourceStates.NotStarted,
                Properties = [],
            })
            .WaitFor(router)
            .WithHealthCheck(healthCheckKey)
            .OnInitializeResource(async (resource, e, token) =>
            {
                try
                {
                    // WaitFor happens here: the state is "Waiting" until the router is healthy.
                    await e.Eventing.PublishAsync(new BeforeResourceStartedEvent(resource, e.Services), token).ConfigureAwait(false);
                    await e.Notifications.PublishUpdateAsync(resource, s => s with
                    {
                        State = KnownResourceStates.Running,
                        StartTimeStamp = DateTime.UtcNow,
                    }).ConfigureAwait(false);
                    await e.Eventing.PublishAsync(new ConnectionStringAvailableEvent(resource, e.Services), token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (token.IsCancellationRequested)
                {
                    // The AppHost is stopping.
                }
                catch (Exception ex)
                {
                    e.Logger.LogError(ex, "AspireCache cluster '{Name}' did not start: {Message}", resource.Name, ex.Message);
                    await e.Notifications.PublishUpdateAsync(resource, s => s with { State = KnownResourceStates.FailedToStart }).ConfigureAwait(false);
                }
            });
    }

    private static void ConfigureNode<T>(IResourceBuilder<T> node, string nodeName, AspireCacheClusterOptions options, AspireCacheResource cache, ClusterKeys? keys, IResourceBuilder<ParameterResource>? clusterSecret)
        where T : IResourceWithEnvironment, IResourceWithEndpoints
    {
        // Health checks and admin commands go to the client endpoint (the cluster endpoint serves only cluster traffic).
        var adminKey = keys?.Admin.Resource;
        node.WithEnvironment("Cluster__NodeId", nodeName)
            .WithHttpHealthCheck("/health", endpointName: "http")
            .WithHttpCommand("/admin/step-down", "Step down", endpointName: "http", commandName: "step-down", commandOptions: AdminCommand("Transfer leadership: this node resigns and the cluster elects a new leader.", "ArrowExit", adminKey))
            .WithHttpCommand("/admin/snapshot", "Take snapshot", endpointName: "http", commandName: "take-snapshot", commandOptions: AdminCommand("Write a snapshot of this node's state now (the WAL can then be compacted).", "Camera", adminKey))
            .WithParentRelationship(cache);
        if (keys is not null)
        {
            // Auth:Credentials:{i}:Name|Key|Scopes:{j}|Prefixes:{j} (AspireCache.Node's AuthOptions); names are
            // what writes record. Read when the node starts (or the manifest is written), so the credentials of
            // services referenced after AddAspireCache are included.
            node.WithEnvironment("Auth__Enabled", "true")
                .WithReferenceRelationship(keys.Admin.Resource)
                .WithReferenceRelationship(keys.Router.Resource);
            if (keys.PreviousAdmin is { } previousAdmin)
            {
                node.WithReferenceRelationship(previousAdmin.Resource);
            }

            node.WithEnvironment(context =>
            {
                for (var i = 0; i < cache.Credentials.Count; i++)
                {
                    var credential = cache.Credentials[i];
                    var prefix = string.Create(CultureInfo.InvariantCulture, $"Auth__Credentials__{i}__");
                    context.EnvironmentVariables[prefix + "Name"] = credential.Name;
                    context.EnvironmentVariables[prefix + "Key"] = credential.Key;
                    var scopes = credential.ScopeNames;
                    for (var j = 0; j < scopes.Length; j++)
                    {
                        context.EnvironmentVariables[string.Create(CultureInfo.InvariantCulture, $"{prefix}Scopes__{j}")] = scopes[j];
                    }

                    for (var j = 0; j < credential.Prefixes.Count; j++)
                    {
                        context.EnvironmentVariables[string.Create(CultureInfo.InvariantCulture, $"{prefix}Prefixes__{j}")] = credential.Prefixes[j];
                    }
                }
            });
        }

        if (clusterSecret is not null)
        {
            // AspireCache.Node's ClusterAuthOptions: sign with Secret, accept Secret and PreviousSecret.
            node.WithEnvironment("Cluster__Secret", clusterSecret);
            if (options.PreviousClusterSecret is { } previousSecret)
            {
                node.WithEnvironment("Cluster__PreviousSecret", previousSecret);
            }
        }

        SetIfGiven(node, "Cluster__SnapshotInterval", options.SnapshotInterval);
        SetIfGiven(node, "Cluster__LowerElectionTimeoutMs", options.LowerElectionTimeoutMs);
        SetIfGiven(node, "Cluster__UpperElectionTimeoutMs", options.UpperElectionTimeoutMs);
        WithInlineSocketCompletions(node, options);
    }

    private static void WithInlineSocketCompletions<T>(IResourceBuilder<T> server, AspireCacheClusterOptions options)
        where T : IResourceWithEnvironment
    {
        if (options.InlineSocketCompletions ?? true)
        {
            server.WithEnvironment(InlineSocketCompletionsVariable, "1");
        }
    }

    private sealed record ClusterKeys(IResourceBuilder<ParameterResource> Admin, IResourceBuilder<ParameterResource> Router, IResourceBuilder<ParameterResource>? PreviousAdmin);

    /// <summary>
    /// A secret parameter <paramref name="parameterName"/>: <c>Parameters:{name}</c> if configured, else 32
    /// random letters and digits (a bearer token needs no escaping), kept in the AppHost's user secrets
    /// in run mode so that a key copied from one F5 session still works in the next.
    /// </summary>
    private static IResourceBuilder<ParameterResource> GeneratedKey(IDistributedApplicationBuilder builder, string parameterName) =>
        builder.AddParameter(
            parameterName,
            new GenerateParameterDefault { MinLength = 32, Lower = true, Upper = true, Numeric = true, Special = false },
            secret: true,
            persist: true);

    private static void SetIfGiven<T, TValue>(IResourceBuilder<T> node, string variable, TValue? value)
        where T : IResourceWithEnvironment
        where TValue : struct, IFormattable
    {
        if (value is { } given)
        {
            node.WithEnvironment(variable, given.ToString(null, CultureInfo.InvariantCulture));
        }
    }

    // Dashboard commands answer with the node's own words: what happened, or why not. With
    // authentication on they present the cluster's admin key.
    private static HttpCommandOptions AdminCommand(string description, string icon, ParameterResource? adminKey) => new()
    {
        Method = HttpMethod.Post,
        Description = description,
        IconName = icon,
        PrepareRequest = async context =>
        {
            if (adminKey is not null)
            {
                var key = await adminKey.GetValueAsync(context.CancellationToken).ConfigureAwait(false);
                context.Request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
            }
        },
        GetCommandResult = async context =>
        {
            using var body = JsonDocument.Parse(await context.Response.Content.ReadAsStringAsync(context.CancellationToken).ConfigureAwait(false));
            var root = body.RootElement;
            return context.Response.IsSuccessStatusCode
                ? CommandResults.Success(root.TryGetProperty("outcome", out var outcome) ? outcome.GetString() ?? "done" : "done")
                : CommandResults.Failure(root.TryGetProperty("detail", out var detail) ? detail.GetString() : $"HTTP {(int)context.Response.StatusCode}");
        },
    };
}

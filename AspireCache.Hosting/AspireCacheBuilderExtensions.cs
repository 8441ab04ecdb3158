using System.Globalization;
using System.Text.Json;
using Aspire.Hosting.ApplicationModel;
using AspireCache.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;

namespace Aspire.Hosting;

/// <summary>Adds an AspireCache cluster (Raft nodes + router) to an Aspire AppHost.</summary>
public static class AspireCacheBuilderExtensions
{
    /// <summary>The resource type the dashboard shows for the cluster resource.</summary>
    public const string ResourceType = "AspireCache";

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
    /// <para>Run mode: each node is a project on a fixed, non-proxied port (its Raft address must survive a
    /// restart) plus an HTTP/2-only <c>h2</c> endpoint for the router's watch streams; data lives in
    /// <c>{DataRoot}/{node}</c>. Publish mode: each node is a container built from the node project's
    /// <c>Dockerfile</c> (build context: the folder above the node project) with a volume <c>{node}-data</c> on <c>/data</c>.</para>
    /// <para>Every node gets the dashboard commands <c>step-down</c> and <c>take-snapshot</c>. The router has external
    /// HTTP endpoints. <c>.WithReference(cache)</c> gives a service <c>ConnectionStrings__{name}</c>;
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
        }

        // Node-to-node authentication: one cluster secret every node signs its Raft and cluster calls with.
        var clusterSecret = options.EnableClusterAuthentication
            ? options.ClusterSecret ?? GeneratedKey(builder, $"{name}-cluster-secret")
            : null;

        var nodes = new List<IResourceBuilder<IResourceWithEnvironment>>();
        var httpEndpoints = new List<EndpointReference>();
        var streamEndpoints = new List<EndpointReference>(); // HTTP/2-only, for the router's watch streams
        for (var i = 0; i < nodeNames.Length; i++)
        {
            var nodeName = nodeNames[i];
            if (publish)
            {
                // Deployed (azd): a container built from the repository, with a persistent volume for WAL and snapshots.
                var nodeProjectDirectory = Path.GetDirectoryName(new TNode().ProjectPath)!;
                var context = Path.GetDirectoryName(nodeProjectDirectory)!;
                var container = builder.AddDockerfile(nodeName, contextPath: context, dockerfilePath: Path.Combine(Path.GetFileName(nodeProjectDirectory), "Dockerfile"))
                    .WithHttpEndpoint(targetPort: 8080)
                    .WithHttpEndpoint(targetPort: 8081, name: "h2")
                    .WithVolume($"{nodeName}-data", "/data")
                    .WithEnvironment("Cluster__DataDirectory", "/data")
                    .WithEnvironment("Cluster__Http2Url", "http://+:8081");
                ConfigureNode(container, nodeName, options, cache, keys, clusterSecret);
                nodes.Add(container);
                httpEndpoints.Add(container.GetEndpoint("http"));
                streamEndpoints.Add(container.GetEndpoint("h2"));
            }
            else
            {
                // Raft peers address each other by URL, so the port must survive a node restart, and the
                // peer-to-peer path should not cross a proxy: a fixed, non-proxied port per node.
                var dataRoot = Path.GetFullPath(options.DataRoot ?? Path.Combine(builder.AppHostDirectory, ".data"));
                var port = options.NodePorts?.ElementAtOrDefault(i) is > 0 and var fixedPort ? fixedPort : LoopbackPorts.Free();
                var project = builder.AddProject<TNode>(nodeName, launchProfileName: null)
                    .WithHttpEndpoint(port: port, isProxied: false)
                    .WithHttpEndpoint(port: LoopbackPorts.Free(), name: "h2", isProxied: false)
                    .WithEnvironment("Cluster__DataDirectory", Path.Combine(dataRoot, nodeName));
                project.WithEnvironment("Cluster__Http2Url", project.GetEndpoint("h2"));
                ConfigureNode(project, nodeName, options, cache, keys, clusterSecret);
                nodes.Add(project);
                httpEndpoints.Add(project.GetEndpoint("http"));
                streamEndpoints.Add(project.GetEndpoint("h2"));
            }
        }

        // Every node gets the same static member list: id → its HTTP endpoint (which also carries Raft).
        foreach (var node in nodes)
        {
            for (var i = 0; i < nodeNames.Length; i++)
            {
                node.WithEnvironment($"Cluster__Members__{nodeNames[i]}", httpEndpoints[i]);
            }
        }

        var router = builder.AddProject<TRouter>(routerName, launchProfileName: null)
            .WithHttpEndpoint(port: publish ? null : options.RouterPort)
            .WithExternalHttpEndpoints()
            .WithHttpHealthCheck("/health")
            .WithEnvironment("Router__Http2Streams", "true")
            .WithParentRelationship(cache);
        if (keys is not null)
        {
            router.WithEnvironment("Router__Credential", keys.Router);
        }

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
        var adminKey = keys?.Admin.Resource;
        node.WithEnvironment("Cluster__NodeId", nodeName)
            .WithHttpHealthCheck("/health")
            .WithHttpCommand("/admin/step-down", "Step down", commandName: "step-down", commandOptions: AdminCommand("Transfer leadership: this node resigns and the cluster elects a new leader.", "ArrowExit", adminKey))
            .WithHttpCommand("/admin/snapshot", "Take snapshot", commandName: "take-snapshot", commandOptions: AdminCommand("Write a snapshot of this node's state now (the WAL can then be compacted).", "Camera", adminKey))
            .WithParentRelationship(cache);
        if (keys is not null)
        {
            // Auth:Credentials:{i}:Name|Key|Scopes (AspireCache.Node's AuthOptions); names are what writes record.
            node.WithEnvironment("Auth__Enabled", "true");
            var i = 0;
            AddCredential(node, i++, "admin", keys.Admin, "admin");
            AddCredential(node, i++, "router", keys.Router, "read");
            if (keys.PreviousAdmin is { } previous)
            {
                AddCredential(node, i, "admin", previous, "admin");
            }
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

    private static void AddCredential<T>(IResourceBuilder<T> node, int index, string name, IResourceBuilder<ParameterResource> key, string scope)
        where T : IResourceWithEnvironment
    {
        node.WithEnvironment($"Auth__Credentials__{index}__Name", name)
            .WithEnvironment($"Auth__Credentials__{index}__Key", key)
            .WithEnvironment($"Auth__Credentials__{index}__Scopes__0", scope);
    }

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

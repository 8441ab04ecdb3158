using AspireCache.AppHost;
using Microsoft.Extensions.Configuration;

// The system diagram, top to bottom: three Raft nodes that know each other, and a router in front.
var builder = DistributedApplication.CreateBuilder(args);
var options = builder.Configuration.GetSection(AppHostOptions.SectionName).Get<AppHostOptions>() ?? new AppHostOptions();
var dataRoot = Path.GetFullPath(options.DataRoot ?? Path.Combine(builder.AppHostDirectory, ".data"));

string[] names = ["node1", "node2", "node3"];
var nodes = new List<IResourceBuilder<IResourceWithEnvironment>>();
var nodeEndpoints = new List<EndpointReference>();
var streamEndpoints = new List<EndpointReference>(); // HTTP/2-only, for the router's watch streams
for (var i = 0; i < names.Length; i++)
{
    if (builder.ExecutionContext.IsPublishMode)
    {
        // Deployed (azd): each node is a container built from the repository with a persistent
        // volume for its WAL and snapshots.
        var container = builder.AddDockerfile(names[i], contextPath: Path.GetFullPath(Path.Combine(builder.AppHostDirectory, "..")), dockerfilePath: "AspireCache.Node/Dockerfile")
            .WithHttpEndpoint(targetPort: 8080)
            .WithHttpEndpoint(targetPort: 8081, name: "h2")
            .WithVolume($"{names[i]}-data", "/data")
            .WithEnvironment("Cluster__DataDirectory", "/data");
        container.WithEnvironment("Cluster__Http2Url", "http://+:8081");
        ConfigureNode(container, names[i]);
        nodes.Add(container);
        nodeEndpoints.Add(container.GetEndpoint("http"));
        streamEndpoints.Add(container.GetEndpoint("h2"));
    }
    else
    {
        // Raft peers address each other by URL, so the port must survive a node restart, and the
        // peer-to-peer path should not cross a proxy: a fixed, non-proxied port per node.
        var port = options.NodePorts.ElementAtOrDefault(i) is > 0 and var fixedPort ? fixedPort : LoopbackPorts.Free();
        var project = builder.AddProject<Projects.AspireCache_Node>(names[i], launchProfileName: null)
            .WithHttpEndpoint(port: port, isProxied: false)
            .WithHttpEndpoint(port: LoopbackPorts.Free(), name: "h2", isProxied: false)
            .WithEnvironment("Cluster__DataDirectory", Path.Combine(dataRoot, names[i]));
        project.WithEnvironment("Cluster__Http2Url", project.GetEndpoint("h2"));
        ConfigureNode(project, names[i]);
        nodes.Add(project);
        nodeEndpoints.Add(project.GetEndpoint("http"));
        streamEndpoints.Add(project.GetEndpoint("h2"));
    }
}

void ConfigureNode<T>(IResourceBuilder<T> node, string name) where T : IResourceWithEnvironment, IResourceWithEndpoints
{
    node.WithEnvironment("Cluster__NodeId", name)
        .WithEnvironment("Cluster__SnapshotInterval", options.SnapshotInterval.ToString(System.Globalization.CultureInfo.InvariantCulture))
        .WithEnvironment("Cluster__LowerElectionTimeoutMs", options.LowerElectionTimeoutMs.ToString(System.Globalization.CultureInfo.InvariantCulture))
        .WithEnvironment("Cluster__UpperElectionTimeoutMs", options.UpperElectionTimeoutMs.ToString(System.Globalization.CultureInfo.InvariantCulture))
        .WithHttpHealthCheck("/health")
        .WithHttpCommand("/admin/step-down", "Step down", commandName: "step-down", commandOptions: AdminCommand("Transfer leadership: this node resigns and the cluster elects a new leader.", "ArrowExit"))
        .WithHttpCommand("/admin/snapshot", "Take snapshot", commandName: "take-snapshot", commandOptions: AdminCommand("Write a snapshot of this node's state now (the WAL can then be compacted).", "Camera"));
}

// Dashboard commands answer with the node's own words: what happened, or why not.
static HttpCommandOptions AdminCommand(string description, string icon) => new()
{
    Method = HttpMethod.Post,
    Description = description,
    IconName = icon,
    GetCommandResult = async context =>
    {
        using var body = System.Text.Json.JsonDocument.Parse(await context.Response.Content.ReadAsStringAsync(context.CancellationToken));
        var root = body.RootElement;
        return context.Response.IsSuccessStatusCode
            ? CommandResults.Success(root.TryGetProperty("outcome", out var outcome) ? outcome.GetString() ?? "done" : "done")
            : CommandResults.Failure(root.TryGetProperty("detail", out var detail) ? detail.GetString() : $"HTTP {(int)context.Response.StatusCode}");
    },
};

// Every node gets the same static member list: id → its HTTP endpoint (which also carries Raft).
foreach (var node in nodes)
{
    for (var i = 0; i < names.Length; i++)
    {
        node.WithEnvironment($"Cluster__Members__{names[i]}", nodeEndpoints[i]);
    }
}

var router = builder.AddProject<Projects.AspireCache_Router>("router", launchProfileName: null)
    .WithHttpEndpoint(port: builder.ExecutionContext.IsPublishMode ? null : options.RouterPort)
    .WithExternalHttpEndpoints()
    .WithHttpHealthCheck("/health")
    .WithEnvironment("Router__Http2Streams", "true");
for (var i = 0; i < names.Length; i++)
{
    router.WithReference(nodeEndpoints[i]).WithReference(streamEndpoints[i]).WaitFor(nodes[i]);
}

builder.Build().Run();

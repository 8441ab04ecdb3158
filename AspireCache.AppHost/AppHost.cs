using System.Net;
using System.Net.Sockets;
using AspireCache.AppHost;
using Microsoft.Extensions.Configuration;

// The system diagram, top to bottom: three Raft nodes that know each other, and a router in front.
var builder = DistributedApplication.CreateBuilder(args);
var options = builder.Configuration.GetSection(AppHostOptions.SectionName).Get<AppHostOptions>() ?? new AppHostOptions();
var dataRoot = Path.GetFullPath(options.DataRoot ?? Path.Combine(builder.AppHostDirectory, ".data"));

string[] names = ["node1", "node2", "node3"];
var nodes = new List<IResourceBuilder<ProjectResource>>();
for (var i = 0; i < names.Length; i++)
{
    var node = builder.AddProject<Projects.AspireCache_Node>(names[i], launchProfileName: null)
        .WithEnvironment("Cluster__NodeId", names[i])
        .WithEnvironment("Cluster__LowerElectionTimeoutMs", options.LowerElectionTimeoutMs.ToString(System.Globalization.CultureInfo.InvariantCulture))
        .WithEnvironment("Cluster__UpperElectionTimeoutMs", options.UpperElectionTimeoutMs.ToString(System.Globalization.CultureInfo.InvariantCulture));

    if (builder.ExecutionContext.IsPublishMode)
    {
        // Deployed: each node is its own container app with a persistent volume for WAL + snapshots.
        node.WithHttpEndpoint(targetPort: 8080)
            .WithEnvironment("Cluster__DataDirectory", "/data")
            .PublishAsDockerFile(container => container.WithVolume($"{names[i]}-data", "/data"));
    }
    else
    {
        // Raft peers address each other by URL, so the port must survive a node restart, and the
        // peer-to-peer path should not cross a proxy: a fixed, non-proxied port per node.
        var port = options.NodePorts.ElementAtOrDefault(i) is > 0 and var fixedPort ? fixedPort : FreePort();
        node.WithHttpEndpoint(port: port, isProxied: false)
            .WithEnvironment("Cluster__DataDirectory", Path.Combine(dataRoot, names[i]));
    }

    nodes.Add(node.WithHttpHealthCheck("/health"));
}

// Every node gets the same static member list: id → its HTTP endpoint (which also carries Raft).
foreach (var node in nodes)
{
    foreach (var peer in nodes)
    {
        node.WithEnvironment($"Cluster__Members__{peer.Resource.Name}", peer.GetEndpoint("http"));
    }
}

var router = builder.AddProject<Projects.AspireCache_Router>("router", launchProfileName: null)
    .WithHttpEndpoint(port: builder.ExecutionContext.IsPublishMode ? null : options.RouterPort)
    .WithExternalHttpEndpoints()
    .WithHttpHealthCheck("/health");
foreach (var node in nodes)
{
    router.WithReference(node).WaitFor(node);
}

builder.Build().Run();

static int FreePort()
{
    using var listener = new TcpListener(IPAddress.Loopback, 0);
    listener.Start();
    return ((IPEndPoint)listener.LocalEndpoint).Port;
}

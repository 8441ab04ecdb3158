using AspireCache.AppHost;
using Microsoft.Extensions.Configuration;

// The system diagram, top to bottom: three Raft nodes that know each other, and a router in front,
// grouped as one resource `cache` (connection string: Endpoint={router url}); see AspireCache.Hosting.
var builder = DistributedApplication.CreateBuilder(args);
var options = builder.Configuration.GetSection(AppHostOptions.SectionName).Get<AppHostOptions>() ?? new AppHostOptions();

builder.AddAspireCache<Projects.AspireCache_Node, Projects.AspireCache_Router>("cache", cluster =>
{
    // Tests, tools and the README address these resources by name.
    cluster.NodeNames = ["node1", "node2", "node3"];
    cluster.RouterName = "router";
    cluster.NodePorts = options.NodePorts;
    cluster.RouterPort = options.RouterPort;
    cluster.DataRoot = options.DataRoot;
    cluster.SnapshotInterval = options.SnapshotInterval;
    cluster.LowerElectionTimeoutMs = options.LowerElectionTimeoutMs;
    cluster.UpperElectionTimeoutMs = options.UpperElectionTimeoutMs;
});

builder.Build().Run();

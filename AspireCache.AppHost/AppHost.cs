using AspireCache.AppHost;
using Microsoft.Extensions.Configuration;

// The system diagram, top to bottom: three Raft nodes that know each other (over their `cluster`
// endpoints), and a router in front (on their `http` endpoints), grouped as one resource `cache`
// (connection string: Endpoint={router url};Key={admin key}); see AspireCache.Hosting.
var builder = DistributedApplication.CreateBuilder(args);
var options = builder.Configuration.GetSection(AppHostOptions.SectionName).Get<AppHostOptions>() ?? new AppHostOptions();

var cache = builder.AddAspireCache<Projects.AspireCache_Node, Projects.AspireCache_Router>("cache", cluster =>
{
    // Tests, tools and the README address these resources by name.
    cluster.NodeNames = ["node1", "node2", "node3"];
    cluster.RouterName = "router";
    cluster.NodePorts = options.NodePorts;
    cluster.ClusterPorts = options.ClusterPorts;
    cluster.RouterPort = options.RouterPort;
    cluster.DataRoot = options.DataRoot;
    cluster.SnapshotInterval = options.SnapshotInterval;
    cluster.LowerElectionTimeoutMs = options.LowerElectionTimeoutMs;
    cluster.UpperElectionTimeoutMs = options.UpperElectionTimeoutMs;
    cluster.InlineSocketCompletions = options.InlineSocketCompletions;
});

// A sample service on the cluster: a catalog API using the client, live configuration (config/catalog/)
// and HybridCache over the cluster. F5 shows a PUT to config/catalog/Catalog/Greeting in GET /settings.
// Its port is fixed beside the router's default (5090) for the README's curl; when the router is moved
// (tests run beside an F5 session) the catalog gets a free port too, unless AspireCache:CatalogPort says.
// It has a credential of its own (parameter catalog-cache-key, writes recorded as "catalog"): read and
// write on its configuration (config/catalog/, read and watched by its configuration provider) and on
// its HybridCache L2 entries (dcache/, the distributed cache's key prefix, watched for L1 invalidation).
// The read scope also covers /cluster/status, /cluster/watch and the hot-key endpoints the client uses.
var catalogPort = builder.Configuration.GetValue<int?>("AspireCache:CatalogPort") ?? (options.RouterPort == 5080 ? 5090 : null);
builder.AddProject<Projects.AspireCache_Sample>("catalog", launchProfileName: null)
    .WithHttpEndpoint(port: catalogPort)
    .WithExternalHttpEndpoints()
    .WithHttpHealthCheck("/health")
    .WithReference(cache, AspireCacheAccess.ReadWrite, prefixes: ["config/catalog/", "dcache/"])
    .WaitFor(cache);

// The web console (issue #14): operators sign in with their own API keys, which stay in the console's
// server-side sessions; its own credential (read) only checks that the cluster is reachable. Fixed at
// 5070 under F5, beside the router's 5080 and the catalog's 5090 (a free port when the router is moved).
var consolePort = builder.Configuration.GetValue<int?>("AspireCache:ConsolePort") ?? (options.RouterPort == 5080 ? 5070 : null);
builder.AddProject<Projects.AspireCache_Console>("console", launchProfileName: null)
    .WithHttpEndpoint(port: consolePort)
    .WithExternalHttpEndpoints()
    .WithHttpHealthCheck("/health")
    .WithReference(cache, AspireCacheAccess.Read)
    .WaitFor(cache);

builder.Build().Run();

using AspireCache.Contracts;
using System.Net;
using System.Net.Http.Json;
using AspireCache.Node;
using AspireCache.Node.Api;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AspireCache.Testing;

/// <summary>
/// Three (or <c>nodes</c>) real nodes (Kestrel + DotNext Raft over HTTP + WAL on disk) in this process, on free
/// loopback ports, with a private data directory. Nodes can be stopped and started again
/// with their data, which is how failover and recovery are exercised without Aspire.
/// </summary>
public sealed class InProcessCluster : IAsyncDisposable
{
    /// <summary>The ids of a three-node cluster's nodes (<see cref="NodeIds"/> of any other size begins with them).</summary>
    public static readonly string[] Ids = ["node1", "node2", "node3"];

    private readonly WebApplication?[] _apps;
    private readonly Dictionary<string, string?> _settings;
    private readonly Action<WebApplicationBuilder>? _configureNode;

    public InProcessCluster(IDictionary<string, string?>? overrides = null, string? credential = null, Action<WebApplicationBuilder>? configureNode = null, bool https = false, int nodes = 3)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(nodes, 1);
        NodeIds = [.. Enumerable.Range(1, nodes).Select(i => $"node{i}")];
        _apps = new WebApplication?[nodes];
        var scheme = https ? "https" : "http";
        Credential = credential;
        _configureNode = configureNode;
        DataRoot = Path.Combine(Path.GetTempPath(), "aspirecache-tests", Guid.NewGuid().ToString("N"));
        Urls = NodeIds.Select(_ => new Uri($"{scheme}://127.0.0.1:{TestPorts.Free()}")).ToArray();
        PeerUrls = NodeIds.Select(_ => new Uri($"{scheme}://127.0.0.1:{TestPorts.Free()}")).ToArray();
        _settings = new Dictionary<string, string?>
        {
            ["Cluster:LowerElectionTimeoutMs"] = "300",
            ["Cluster:UpperElectionTimeoutMs"] = "600",
            ["Logging:LogLevel:Default"] = "Warning",

            // As the AppHost runs them: node-to-node traffic signed with a cluster secret (an override
            // of "Cluster:Secret" to null turns it off).
            ["Cluster:Secret"] = DefaultClusterSecret,
        };
        for (var i = 0; i < NodeIds.Length; i++)
        {
            // As under Aspire: Raft and node-to-node calls on a peer endpoint of their own, clients on Urls.
            _settings[$"Cluster:Members:{NodeIds[i]}"] = PeerUrls[i].ToString();
            _settings[$"Cluster:ClientUrls:{NodeIds[i]}"] = Urls[i].ToString();
        }

        // As the AppHost runs them: client authentication on, with an admin credential (what Client(i)
        // sends) and the router's read-only one. A test that configures any Auth: key configures auth
        // itself: nothing is merged into its settings (configuration merges arrays per index, which
        // would mix its credential list with these), e.g. Auth:Enabled=false for a cluster without auth.
        HasDefaultCredentials = overrides is null || !overrides.Keys.Any(IsAuthKey);
        if (HasDefaultCredentials)
        {
            _settings["Auth:Credentials:0:Name"] = "admin";
            _settings["Auth:Credentials:0:Key"] = DefaultAdminKey;
            _settings["Auth:Credentials:0:Scopes:0"] = "admin";
            _settings["Auth:Credentials:1:Name"] = "router";
            _settings["Auth:Credentials:1:Key"] = DefaultRouterKey;
            _settings["Auth:Credentials:1:Scopes:0"] = "read";
            Credential = credential ?? DefaultAdminKey;
        }

        foreach (var (key, value) in overrides ?? new Dictionary<string, string?>())
        {
            _settings[key] = value;
        }
    }

    private static bool IsAuthKey(string key) =>
        key.Equals("Auth", StringComparison.OrdinalIgnoreCase) || key.StartsWith("Auth:", StringComparison.OrdinalIgnoreCase);

    /// <summary>The admin credential's key of a cluster started with the default credentials (<see cref="HasDefaultCredentials"/>): what <see cref="Client(int)"/> sends.</summary>
    public const string DefaultAdminKey = "in-process-admin-key-0123456789abcdef";

    /// <summary>The read-only <c>router</c> credential's key of a cluster started with the default credentials: the <see cref="InProcessRouter"/>'s <c>Router:Credential</c>.</summary>
    public const string DefaultRouterKey = "in-process-router-key-0123456789abcdef";

    /// <summary>
    /// Configuration that starts a cluster with client authentication off (<c>Auth:Enabled=false</c>),
    /// for tests about behaviour without authentication: <paramref name="overrides"/> plus that switch.
    /// </summary>
    public static Dictionary<string, string?> AuthOff(IDictionary<string, string?>? overrides = null) =>
        new(overrides ?? new Dictionary<string, string?>()) { ["Auth:Enabled"] = "false" };

    /// <summary>
    /// Whether the nodes run with the default credentials (the overrides configured no <c>Auth:</c> key):
    /// <c>admin</c> (<see cref="DefaultAdminKey"/>, scope admin) and <c>router</c> (<see cref="DefaultRouterKey"/>, scope read).
    /// </summary>
    public bool HasDefaultCredentials { get; }

    /// <summary>The cluster secret every in-process cluster signs its Raft and node-to-node calls with, unless overridden.</summary>
    public const string DefaultClusterSecret = "in-process-cluster-secret-0123456789";

    public string DataRoot { get; }

    /// <summary>How many nodes this cluster has (running or not).</summary>
    public int NodeCount => _apps.Length;

    /// <summary>This cluster's node ids, <c>node1</c> … <c>node{n}</c>; index i is node i everywhere else.</summary>
    public string[] NodeIds { get; }

    /// <summary>Each node's client endpoint (the API, admin, watch).</summary>
    public Uri[] Urls { get; }

    /// <summary>Each node's peer endpoint (Raft, read index, access reports): its Raft address.</summary>
    public Uri[] PeerUrls { get; }

    /// <summary>
    /// The API key <see cref="Client(int)"/>, <see cref="Authorize"/> and <see cref="InProcessRouter.Client()"/> send as
    /// <c>Authorization: Bearer</c> (the fixture's own readiness and status calls use it too):
    /// <see cref="DefaultAdminKey"/> with the default credentials, else the <c>credential</c> the test gave (or none).
    /// </summary>
    public string? Credential { get; set; }

    /// <summary>The handler <see cref="Client(int)"/> uses (e.g. one that trusts a test CA); null: the default.</summary>
    public Func<HttpMessageHandler>? ClientHandler { get; set; }

    /// <param name="overrides">
    /// Configuration of every node (e.g. <c>Cluster:SnapshotInterval</c>). Without any <c>Auth:</c> key the
    /// nodes enforce client authentication with the default credentials (see <see cref="HasDefaultCredentials"/>);
    /// with one (<c>Auth:Credentials:0:Key</c>…, or <c>Auth:Enabled=false</c>: see <see cref="AuthOff"/>) the test configures it alone.
    /// </param>
    /// <param name="credential">What <see cref="Client(int)"/> sends as a bearer key (needs read and write when auth is on); default <see cref="DefaultAdminKey"/> with the default credentials.</param>
    /// <param name="configureNode">Called on each node's builder before it is built (e.g. to capture its logs).</param>
    /// <param name="https">HTTPS URLs (the overrides then give Kestrel its certificate and <c>Tls:CaCertificatePath</c>).</param>
    /// <param name="clientHandler">See <see cref="ClientHandler"/>.</param>
    /// <param name="nodes">How many nodes (default 3): <c>node1</c> … <c>node{nodes}</c>.</param>
    public static async Task<InProcessCluster> StartAsync(IDictionary<string, string?>? overrides = null, string? credential = null, Action<WebApplicationBuilder>? configureNode = null, bool https = false, Func<HttpMessageHandler>? clientHandler = null, int nodes = 3)
    {
        var cluster = new InProcessCluster(overrides, credential, configureNode, https, nodes) { ClientHandler = clientHandler };
        await Task.WhenAll(Enumerable.Range(0, nodes).Select(cluster.StartNodeAsync));
        await cluster.WaitUntilWritableAsync(TimeSpan.FromSeconds(30));
        return cluster;
    }

    /// <summary>
    /// Ready = a write was committed. A leader elected a moment ago may still step down: its first
    /// replication round carries its first entry, which every follower now makes durable before it
    /// answers, and on a busy machine that round can outlast the heartbeat (then a 503 and a new
    /// election). Clients retry such a 503; the fixture does it once, here, for every test.
    /// </summary>
    public async Task WaitUntilWritableAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            var leader = await WaitForLeaderAsync(timeout);
            using var client = Client(leader);
            try
            {
                using var response = await client.PutAsync("/cache/_cluster/ready", new StringContent("1"), cts.Token);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(100, cts.Token);
        }
    }

    public bool IsRunning(int index) => _apps[index] is not null;

    /// <summary>The running node's host (a new object after each restart), or null.</summary>
    public WebApplication? AppOf(int index) => _apps[index];

    public T Service<T>(int index) where T : notnull => _apps[index]!.Services.GetRequiredService<T>();

    /// <summary>An HttpClient to node <paramref name="index"/>'s client endpoint that sends <see cref="Credential"/>.</summary>
    public HttpClient Client(int index) => Client(index, Credential);

    /// <summary>An HttpClient to node <paramref name="index"/>'s client endpoint that sends <paramref name="credential"/> (null: none).</summary>
    public HttpClient Client(int index, string? credential)
    {
        var client = ClientHandler is { } handler ? new HttpClient(handler(), disposeHandler: true) : new HttpClient();
        client.BaseAddress = Urls[index];
        client.Timeout = TimeSpan.FromSeconds(30);
        return Authorize(client, credential);
    }

    /// <summary>Makes <paramref name="client"/> send <see cref="Credential"/> (if any) on every request; returns it.</summary>
    public HttpClient Authorize(HttpClient client) => Authorize(client, Credential);

    /// <summary>Makes <paramref name="client"/> send <paramref name="credential"/> (if not null) as <c>Authorization: Bearer</c>; returns it.</summary>
    public static HttpClient Authorize(HttpClient client, string? credential)
    {
        if (credential is { Length: > 0 })
        {
            client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", credential);
        }

        return client;
    }

    /// <summary>
    /// An HttpClient that signs every request as node <paramref name="asNode"/> does (with the cluster
    /// secret, a fresh nonce and time): for tests that send a node-to-node request themselves, e.g. a
    /// captured Raft message delivered again.
    /// </summary>
    public HttpClient PeerClient(int asNode) =>
        new(new AspireCache.Node.Auth.ClusterSigningHandler(Service<AspireCache.Node.Auth.ClusterAuthenticator>(asNode)) { InnerHandler = new SocketsHttpHandler() });

    public async Task StartNodeAsync(int index)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            ApplicationName = typeof(CacheApi).Assembly.GetName().Name,
            EnvironmentName = "Production",
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Configuration.AddInMemoryCollection(_settings);
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Cluster:NodeId"] = NodeIds[index],
            ["Cluster:DataDirectory"] = Path.Combine(DataRoot, NodeIds[index]),
        });
        builder.WebHost.UseUrls(Urls[index].ToString(), PeerUrls[index].ToString());
        builder.Logging.ClearProviders();
        builder.Services.AddHealthChecks();
        _configureNode?.Invoke(builder);
        builder.AddCacheNode();

        var app = builder.Build();
        await app.RestoreCacheStateAsync();
        app.MapCacheNode();
        await app.StartAsync();
        _apps[index] = app;
    }

    public async Task StopNodeAsync(int index)
    {
        if (_apps[index] is { } app)
        {
            _apps[index] = null;
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    public async Task<ClusterStatusResponse> StatusAsync(int index)
    {
        using var client = Client(index);
        return (await client.GetFromJsonAsync<ClusterStatusResponse>("/cluster/status"))!;
    }

    /// <summary>
    /// PUTs <paramref name="value"/> at <paramref name="path"/> on <paramref name="leader"/> as a client would:
    /// a 503 (no leader yet) or a 421 (not the leader any more), which large entries on a loaded 2-core box
    /// can cost, is tried again at whichever node leads then, 20 attempts at most. Returns the node that took it.
    /// </summary>
    public async Task<int> PutToLeaderAsync(int leader, string path, byte[] value)
    {
        for (var attempt = 1; ; attempt++)
        {
            using var client = Client(leader);
            using var response = await client.PutAsync(path, new ByteArrayContent(value));
            if (response.StatusCode is not (HttpStatusCode.ServiceUnavailable or HttpStatusCode.MisdirectedRequest) || attempt == 20)
            {
                response.EnsureSuccessStatusCode();
                return leader;
            }

            leader = await WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        }
    }

    /// <summary>Polls every running node's <c>/cluster/status</c> until its revision reaches <paramref name="revision"/> (a stale read may go to any of them).</summary>
    public async Task WaitUntilAppliedAsync(long revision, TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        for (var node = 0; node < _apps.Length; node++)
        {
            while (IsRunning(node) && (await StatusAsync(node)).Revision < revision)
            {
                await Task.Delay(10, deadline.Token);
            }
        }
    }

    /// <summary>Polls running nodes until they agree on one leader; returns its index.</summary>
    public async Task<int> WaitForLeaderAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            var running = Enumerable.Range(0, _apps.Length).Where(IsRunning).ToArray();
            var statuses = await Task.WhenAll(running.Select(StatusAsync));
            var leaders = statuses.Where(s => s.Role == "leader").ToArray();
            if (leaders.Length == 1 && statuses.All(s => s.LeaderId == leaders[0].NodeId))
            {
                return Array.IndexOf(NodeIds, leaders[0].NodeId);
            }

            await Task.Delay(50, cts.Token);
        }
    }

    public async ValueTask DisposeAsync()
    {
        for (var i = 0; i < _apps.Length; i++)
        {
            await StopNodeAsync(i);
        }

        try
        {
            Directory.Delete(DataRoot, recursive: true);
        }
        catch (IOException)
        {
        }
    }

}

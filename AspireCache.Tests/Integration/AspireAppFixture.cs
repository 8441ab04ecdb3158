using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace AspireCache.Tests.Integration;

/// <summary>
/// The whole system as users run it — the AppHost with node1..node3 and the router as real
/// processes — started once for the collection (starting Aspire apps costs 15–25 s on 2 cores).
/// </summary>
public sealed class AspireAppFixture : IAsyncLifetime
{
    public static readonly string[] Nodes = ["node1", "node2", "node3"];

    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(3);

    private readonly string _dataRoot = Path.Combine(Path.GetTempPath(), "aspirecache-aspire", Guid.NewGuid().ToString("N"));

    public DistributedApplication App { get; private set; } = null!;

    /// <summary>Node data directories live at <c>{DataRoot}/{node}</c>.</summary>
    public string DataRoot => _dataRoot;

    public HttpClient Router { get; private set; } = null!;

    /// <summary>The cluster's key: the <c>Key=</c> of <c>ConnectionStrings:cache</c> (admin scope).</summary>
    public string Key { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        using var cts = new CancellationTokenSource(StartTimeout);
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AspireCache_AppHost>(
            // Frequent snapshots: restarts and kill -9 then exercise snapshot + log recovery.
            [$"--AspireCache:DataRoot={_dataRoot}", $"--AspireCache:RouterPort={TestPorts.Free()}", "--AspireCache:SnapshotInterval=300"],
            (options, _) => options.DisableDashboard = true,
            cts.Token);

        // The dashboard is off, so nothing listens for OTLP: without an endpoint the services
        // register no telemetry at all, instead of recording spans and retrying exports to nowhere
        // on 2 shared cores. (Stopping promptly with an unreachable collector is tested on its own.)
        foreach (var resource in builder.Resources.OfType<ProjectResource>())
        {
            resource.Annotations.Add(new EnvironmentCallbackAnnotation(env => env.Remove("OTEL_EXPORTER_OTLP_ENDPOINT")));
            if (Nodes.Contains(resource.Name))
            {
                // Every applied entry is traced, so tests can compare replicas entry by entry.
                resource.Annotations.Add(new EnvironmentCallbackAnnotation(env => env["Cluster__ApplyTrace"] = "true"));
            }
        }

        App = await builder.BuildAsync(cts.Token);
        StartTailing();
        await App.StartAsync(cts.Token);
        await App.ResourceNotifications.WaitForResourceHealthyAsync("router", cts.Token);

        // Authentication is on in the AppHost: the credential comes with the connection string, as a
        // service that references `cache` gets it.
        Key = ParseKey(await App.GetConnectionStringAsync("cache", cts.Token));
        Router = NewClient(App.GetEndpoint("router", "http"));
        await WaitForLeaderThroughRouterAsync(cts.Token);
    }

    public HttpClient Node(string name) => NewClient(App.GetEndpoint(name, "http"));

    /// <summary>The leader as the router sees it (optionally: a leader other than <paramref name="notThis"/>).</summary>
    public async Task<string> LeaderAsync(CancellationToken token, string? notThis = null)
    {
        while (true)
        {
            using var topology = System.Text.Json.JsonDocument.Parse(await Router.GetStringAsync("/router/topology", token));
            if (topology.RootElement.GetProperty("leaderId").GetString() is { } leader && leader != notThis)
            {
                return leader;
            }

            await Task.Delay(50, token);
        }
    }

    public Task<ExecuteCommandResult> ExecuteAsync(string resource, string command, CancellationToken token) =>
        App.Services.GetRequiredService<ResourceCommandService>().ExecuteCommandAsync(resource, command, token);

    /// <summary>
    /// Starts a stopped (or killed) resource and waits until it is healthy. DCP may refuse the start
    /// while it still processes the exit, or report a start that raced the exit as failed: retry a few
    /// times, and on final failure include the resource's last log lines in the message.
    /// </summary>
    public async Task StartAndWaitHealthyAsync(string resource, CancellationToken token)
    {
        for (var attempt = 1; ; attempt++)
        {
            var started = await ExecuteAsync(resource, KnownResourceCommands.StartCommand, token);
            if (started.Success)
            {
                try
                {
                    await App.ResourceNotifications.WaitForResourceHealthyAsync(resource, token);
                    return;
                }
                catch (DistributedApplicationException) when (attempt < 5)
                {
                    // "failed to start": try again below.
                }
                catch (DistributedApplicationException ex)
                {
                    Assert.Fail($"{resource} did not become healthy: {ex.Message}\n{await RecentLogsAsync(resource)}");
                }
            }
            else if (attempt == 5)
            {
                Assert.Fail($"start of {resource} failed: {started.Message}\n{await RecentLogsAsync(resource)}");
            }

            await Task.Delay(TimeSpan.FromSeconds(2), token);
        }
    }

    /// <summary>Each node's status (or why it gave none) and its recent log: what a failed test should print.</summary>
    public async Task<string> DescribeNodesAsync()
    {
        var text = new System.Text.StringBuilder();
        foreach (var node in Nodes)
        {
            string status;
            try
            {
                using var client = Node(node);
                client.Timeout = TimeSpan.FromSeconds(5);
                status = await client.GetStringAsync("/cluster/status");
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                status = $"no status: {ex.Message}";
            }

            var state = App.ResourceNotifications.TryGetCurrentState(node, out var e) ? e.Snapshot.State?.Text : "?";
            text.Append($"--- {node} ({state}) {status}\n").Append(await RecentLogsAsync(node)).Append('\n');
        }

        return text.ToString();
    }

    /// <summary>
    /// The resource's last log lines, with the times and states the fixture saw. Aspire keeps no log
    /// backlog without a dashboard, so the fixture tails every node from the start.
    /// </summary>
    public Task<string> RecentLogsAsync(string resource)
    {
        if (!_logTails.TryGetValue(resource, out var tail))
        {
            return Task.FromResult(string.Empty);
        }

        lock (tail)
        {
            return Task.FromResult(string.Join('\n', tail));
        }
    }

    private readonly Dictionary<string, Queue<string>> _logTails = Nodes.ToDictionary(n => n, _ => new Queue<string>());
    private readonly CancellationTokenSource _tailing = new();

    private void StartTailing()
    {
        var logs = App.Services.GetRequiredService<ResourceLoggerService>();
        var tailed = new HashSet<string>();
        var lastState = new Dictionary<string, string>();

        void Add(string node, string line)
        {
            var tail = _logTails[node];
            lock (tail)
            {
                tail.Enqueue($"{DateTime.UtcNow:HH:mm:ss.fff} {line}");
                while (tail.Count > 80)
                {
                    tail.Dequeue();
                }
            }
        }

        async Task TailAsync(string node, string resourceId)
        {
            try
            {
                await foreach (var batch in logs.WatchAsync(resourceId).WithCancellation(_tailing.Token))
                {
                    foreach (var line in batch)
                    {
                        Add(node, line.Content);
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }
        }

        _ = Task.Run(async () =>
        {
            try
            {
                await foreach (var e in App.ResourceNotifications.WatchAsync(_tailing.Token))
                {
                    if (!Nodes.Contains(e.Resource.Name))
                    {
                        continue;
                    }

                    if (tailed.Add(e.ResourceId))
                    {
                        _ = Task.Run(() => TailAsync(e.Resource.Name, e.ResourceId));
                    }

                    var state = $"[state] {e.Snapshot.State?.Text} health {e.Snapshot.HealthStatus?.ToString() ?? "-"} pid {e.Snapshot.Properties.FirstOrDefault(p => p.Name == "executable.pid")?.Value}";
                    if (!lastState.TryGetValue(e.ResourceId, out var last) || last != state)
                    {
                        lastState[e.ResourceId] = state;
                        Add(e.Resource.Name, state);
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }
        });
    }

    public async Task DisposeAsync()
    {
        await _tailing.CancelAsync();
        Router?.Dispose();
        if (App is not null)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(1));
            await App.StopAsync(cts.Token);
            await App.DisposeAsync();
        }

        if (Environment.GetEnvironmentVariable("ASPIRECACHE_KEEP_TEST_DATA") == "1")
        {
            return; // investigations: WALs, snapshots and apply traces stay under DataRoot
        }

        try
        {
            Directory.Delete(_dataRoot, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private async Task WaitForLeaderThroughRouterAsync(CancellationToken token)
    {
        while (true)
        {
            var response = await Router.PutAsync("/cache/_fixture/ready", new StringContent("1"), token);
            if (response.IsSuccessStatusCode)
            {
                return;
            }

            await Task.Delay(100, token);
        }
    }

    /// <summary>An HttpClient on <paramref name="baseAddress"/> that sends the cluster's key (none when <paramref name="authenticated"/> is false).</summary>
    public HttpClient NewClient(Uri baseAddress, bool authenticated = true)
    {
        var client = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };
        if (authenticated)
        {
            client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Key);
        }

        return client;
    }

    /// <summary>The <c>Key=</c> of an AspireCache connection string (<c>Endpoint=…;Key=…</c>).</summary>
    public static string ParseKey(string? connectionString)
    {
        var builder = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connectionString };
        return builder.TryGetValue("Key", out var key) && key is string { Length: > 0 } text
            ? text
            : throw new InvalidOperationException("The cache connection string carries no Key= (authentication should be on in the AppHost).");
    }

}

[CollectionDefinition(Name)]
public sealed class AspireCollection : ICollectionFixture<AspireAppFixture>
{
    public const string Name = "aspire app";
}

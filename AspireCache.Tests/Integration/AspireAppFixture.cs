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

    public HttpClient Router { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        using var cts = new CancellationTokenSource(StartTimeout);
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AspireCache_AppHost>(
            // Frequent snapshots: restarts and kill -9 then exercise snapshot + log recovery.
            [$"--AspireCache:DataRoot={_dataRoot}", $"--AspireCache:RouterPort={TestPorts.Free()}", "--AspireCache:SnapshotInterval=300"],
            (options, _) => options.DisableDashboard = true,
            cts.Token);

        App = await builder.BuildAsync(cts.Token);
        await App.StartAsync(cts.Token);
        await App.ResourceNotifications.WaitForResourceHealthyAsync("router", cts.Token);
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

    public async Task<string> RecentLogsAsync(string resource)
    {
        var lines = new List<string>();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        try
        {
            await foreach (var batch in App.Services.GetRequiredService<ResourceLoggerService>().WatchAsync(resource).WithCancellation(cts.Token))
            {
                lines.AddRange(batch.Select(l => l.Content));
            }
        }
        catch (OperationCanceledException)
        {
        }

        return string.Join('\n', lines.TakeLast(40));
    }

    public async Task DisposeAsync()
    {
        Router?.Dispose();
        if (App is not null)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(1));
            await App.StopAsync(cts.Token);
            await App.DisposeAsync();
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

    private static HttpClient NewClient(Uri baseAddress) => new() { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };

}

[CollectionDefinition(Name)]
public sealed class AspireCollection : ICollectionFixture<AspireAppFixture>
{
    public const string Name = "aspire app";
}

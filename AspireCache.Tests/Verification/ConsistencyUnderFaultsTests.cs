using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using AspireCache.Client;
using AspireCache.Tests.InProcess;
using AspireCache.Verification;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace AspireCache.Tests.Verification;

/// <summary>
/// Jepsen-style: concurrent clients (through the router and straight to each node) read, write,
/// compare-and-set and delete a few keys while a nemesis stops nodes and cuts the network; the
/// recorded history must be linearizable, every node must end identical, and applied indexes
/// must never go backwards. CI runs it for <c>JEPSEN_SECONDS</c> (default 25 s);
/// <c>verify/jepsen.sh</c> runs it longer.
/// </summary>
[Collection(InProcessCollection.Name)]
public sealed class ConsistencyUnderFaultsTests(ITestOutputHelper output)
{
    private const int Keys = 4;

    /// <summary>How each written value's call ended (version, or the client's error) — to trace a violation back to its write.</summary>
    internal static readonly ConcurrentDictionary<string, string> WriteOutcomes = new();

    /// <param name="nodes">3, as deployed by default; and 5, whose leader DotNext 6.12 let commit on two nodes
    /// when a follower's snapshot answer was in the round (<c>SnapshotAnswerMiddleware</c>).</param>
    [Theory]
    [InlineData(3)]
    [InlineData(5)]
    public async Task Histories_under_crashes_and_partitions_are_linearizable_and_replicas_converge(int nodes)
    {
        var seconds = int.TryParse(Environment.GetEnvironmentVariable("JEPSEN_SECONDS"), CultureInfo.InvariantCulture, out var s) ? s : 25;
        await using var cluster = await InProcessCluster.StartAsync(new Dictionary<string, string?>(PartitionTests.FaultSettings)
        {
            ["Cluster:SnapshotInterval"] = "50",
        }, nodes: nodes);
        await using var router = await InProcessRouter.StartAsync(cluster, new Dictionary<string, string?> { ["Router:RetryDeadline"] = "00:00:02" });
        await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));

        var prefix = $"jepsen-{Guid.NewGuid():N}/";
        var keys = Enumerable.Range(0, Keys).Select(i => $"{prefix}{i}").ToArray();
        var history = new HistoryRecorder();
        var unknowns = new OutcomeResolver();
        var faults = new ConcurrentQueue<string>();
        var regressions = new ConcurrentQueue<string>();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));

        var clients = new List<Task>();
        for (var c = 0; c < 6; c++)
        {
            // Clients 0–2 go through the router; 3–5 talk to node 0–2 directly.
            var clientId = c;
            Func<HttpClient> connect = c < 3 ? router.Client : () => cluster.Client(clientId - 3);
            clients.Add(Task.Run(() => RunClientAsync(clientId, connect, keys, history, unknowns, stop.Token)));
        }

        var monitor = Task.Run(() => MonitorAppliedIndexesAsync(cluster, regressions, stop.Token));
        await RunNemesisAsync(cluster, faults, stop.Token);
        await Task.WhenAll(clients);
        await monitor;

        // Heal everything, let the router finish any retry (2 s deadline here), then read every key
        // from every node: the final state joins the history.
        await HealAndSettleAsync(cluster);
        using (var resolveClient = router.Client())
        {
            var (replayed, appliedNow, unresolved) = await unknowns.ResolveAsync(resolveClient, history, CancellationToken.None);
            output.WriteLine($"unknown outcomes resolved by idempotent retry: {replayed} had taken effect, {appliedNow} had not; {unresolved} unresolved");
        }

        var finals = new Dictionary<int, List<string?>>();
        for (var node = 0; node < nodes; node++)
        {
            using var client = cluster.Client(node);
            finals[node] = [];
            foreach (var key in keys)
            {
                var handle = history.BeginRead(100 + node, key);
                var (found, value, version) = await ReadWithRetryAsync(client, key);
                history.CompleteRead(handle, found ? value : null, version);
                finals[node].Add(found ? $"{value}@{version}" : null);
            }
        }

        var operations = history.Snapshot();
        var result = LinearizabilityChecker.Check(operations, TimeSpan.FromSeconds(60));
        var unknown = operations.Count(o => !o.Known);
        output.WriteLine($"writes acknowledged: {operations.Count(o => o.Known && o.Kind != OpKind.Read)}, reads: {operations.Count(o => o.Kind == OpKind.Read)}");
        output.WriteLine($"{operations.Count} operations ({unknown} with unknown outcome) over {seconds} s; faults: {string.Join(", ", faults)}");
        output.WriteLine(result.Describe());
        if (result.Outcome == CheckOutcome.Violation)
        {
            output.WriteLine($"full history: {history.Dump("in-process", WriteOutcomes)}");
        }

        Assert.True(result.Outcome == CheckOutcome.Ok, result.Describe()); // "unknown" (search budget spent) is not a pass
        Assert.True(operations.Count(o => o.Known && o.Kind != OpKind.Read) > 20, "too few successful writes to mean anything");
        Assert.Empty(regressions);
        Assert.All(finals.Values, final => Assert.Equal(finals[0], final));
        var statuses = await Task.WhenAll(Enumerable.Range(0, nodes).Select(cluster.StatusAsync));
        Assert.Single(statuses.Select(st => st.Revision).Distinct());
    }

    /// <summary>
    /// One Jepsen client over <paramref name="connect"/>'s HttpClient (the router or one node; it sends the cluster's key), through AspireCache.Client
    /// (<see cref="HistoryWorkload"/>: each operation retries within a 4 s deadline under one Idempotency-Key; a write
    /// to a follower follows its 421 to the leader). Outcomes are recorded as the client reports them
    /// (<see cref="RecordingClient"/>): "outcome unknown" goes to <paramref name="unknowns"/> with the client's key.
    /// </summary>
    internal static async Task RunClientAsync(int clientId, Func<HttpClient> connect, string[] keys, HistoryRecorder history, OutcomeResolver unknowns, CancellationToken stop)
    {
        using var http = connect();
        await HistoryWorkload.RunAsync(clientId, HistoryWorkload.CreateClient(http), keys, history, unknowns, stop, WriteOutcomes);
    }

    /// <summary>
    /// Reads <paramref name="key"/> from the node (or router) behind <paramref name="client"/> through AspireCache.Client,
    /// which retries 503s and lost connections for up to 30 s; on failure the exception names the last answer (status
    /// and problem, or the transport error) so a stuck node explains itself.
    /// </summary>
    internal static async Task<(bool Found, string? Value, long? Version)> ReadWithRetryAsync(HttpClient client, string key, Action<string>? log = null)
    {
        var cache = new AspireCacheClient(client, new AspireCacheClientOptions { Deadline = TimeSpan.FromSeconds(30) });
        try
        {
            var item = await cache.GetAsync(key);
            return item is null ? (false, null, null) : (true, Encoding.UTF8.GetString(item.Value.Span), item.Version);
        }
        catch (AspireCacheException ex)
        {
            log?.Invoke($"GET {client.BaseAddress}cache/{key}: {ex.Message}");
            throw new TimeoutException($"GET {client.BaseAddress}cache/{key}: no 200/404 in 30 s; {ex.Message}", ex);
        }
    }

    /// <summary>After the nemesis: heal the network, start any stopped node, wait for a leader, and give retries 3 s to finish.</summary>
    internal static async Task HealAndSettleAsync(InProcessCluster cluster)
    {
        await PartitionTests.Heal(cluster);
        for (var i = 0; i < cluster.NodeCount; i++)
        {
            if (!cluster.IsRunning(i))
            {
                await cluster.StartNodeAsync(i);
            }
        }

        await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(30));
        await Task.Delay(TimeSpan.FromSeconds(3));
    }

    /// <summary>
    /// One fault at a time, each healed before the next, for a cluster of n nodes that survives f = (n - 1) / 2
    /// failures: leader crash; the leader with f - 1 others cut from the rest (2+1 of three, 3+2 of five); groups
    /// none of which is a majority (1+1+1, 2+2+1); restart of all nodes; f followers crashed.
    /// </summary>
    internal static async Task RunNemesisAsync(InProcessCluster cluster, ConcurrentQueue<string> faults, CancellationToken stop)
    {
        var step = 0;
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(2), stop);
            while (!stop.IsCancellationRequested)
            {
                var leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(20));
                var n = cluster.NodeCount;
                var f = (n - 1) / 2;
                var others = Enumerable.Range(1, n - 1).Select(i => (leader + i) % n).ToArray(); // the others, from the leader's successor on
                switch (step++ % 5)
                {
                    case 0:
                        faults.Enqueue($"stop leader node{leader + 1}");
                        await cluster.StopNodeAsync(leader);
                        await Task.Delay(TimeSpan.FromSeconds(2), CancellationToken.None);
                        await cluster.StartNodeAsync(leader);
                        break;
                    case 1:
                        int[] minority = [leader, .. others[..(f - 1)]];
                        faults.Enqueue($"partition {string.Join("+", minority.Select(i => $"node{i + 1}"))} | rest");
                        await PartitionTests.Partition(cluster, [minority, [.. others[(f - 1)..]]]);
                        await Task.Delay(TimeSpan.FromSeconds(2.5), CancellationToken.None);
                        await PartitionTests.Heal(cluster);
                        break;
                    case 2:
                        var groups = Enumerable.Range(0, n).GroupBy(i => i / f).Select(g => g.ToArray()).ToArray(); // f each: none a majority
                        faults.Enqueue($"partition {string.Join("+", groups.Select(g => g.Length))}");
                        await PartitionTests.Partition(cluster, groups);
                        await Task.Delay(TimeSpan.FromSeconds(1.5), CancellationToken.None);
                        await PartitionTests.Heal(cluster);
                        break;
                    case 3:
                        faults.Enqueue("restart all nodes");
                        await Task.WhenAll(Enumerable.Range(0, n).Select(cluster.StopNodeAsync));
                        await Task.WhenAll(Enumerable.Range(0, n).Select(cluster.StartNodeAsync));
                        break;
                    default:
                        var followers = others[..f];
                        faults.Enqueue($"stop {string.Join(" and ", followers.Select(i => $"follower node{i + 1}"))}");
                        await Task.WhenAll(followers.Select(cluster.StopNodeAsync));
                        await Task.Delay(TimeSpan.FromSeconds(1.5), CancellationToken.None);
                        await Task.WhenAll(followers.Select(cluster.StartNodeAsync));
                        break;
                }

                await Task.Delay(TimeSpan.FromSeconds(1.5), stop);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    /// <summary>Within one process lifetime a node's applied index only moves forward.</summary>
    private static async Task MonitorAppliedIndexesAsync(InProcessCluster cluster, ConcurrentQueue<string> regressions, CancellationToken stop)
    {
        var last = new long[cluster.NodeCount];
        var incarnation = new object?[cluster.NodeCount];
        while (!stop.IsCancellationRequested)
        {
            for (var i = 0; i < cluster.NodeCount; i++)
            {
                var app = cluster.AppOf(i);
                if (app is null)
                {
                    continue;
                }

                if (!ReferenceEquals(app, incarnation[i]))
                {
                    (incarnation[i], last[i]) = (app, 0);
                }

                long applied;
                try
                {
                    applied = app.Services.GetRequiredService<AspireCache.Node.StateMachine.CacheStateMachine>().Applied.Value;
                }
                catch (ObjectDisposedException)
                {
                    continue; // stopped meanwhile
                }

                if (applied < last[i])
                {
                    regressions.Enqueue($"node{i + 1}: applied {last[i]} then {applied}");
                }

                last[i] = applied;
            }

            try
            {
                await Task.Delay(20, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}

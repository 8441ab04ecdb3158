using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using AspireCache.Client;
using AspireCache.Tests.InProcess;
using AspireCache.Verification;
using Xunit.Abstractions;

namespace AspireCache.Tests.Verification;

/// <summary>
/// The near cache's linearizable mode under the same nemesis as <see cref="ConsistencyUnderFaultsTests"/>:
/// writers (with deletes and compare-and-set) change a few keys while near-cache readers read them with
/// <see cref="Consistency.LinearizableNearCache"/>; one reader's near cache holds fewer entries than
/// there are keys (evictions), one reader talks straight to a node that the nemesis cuts off from the
/// leader, and a short watch history turns reconnects into 410 resyncs. The history, near-cache reads
/// included, must be linearizable: the near cache never answers an older value than a linearizable
/// read would. (TTL keys are never kept by the near cache, see NearCacheTests; the checker's model has
/// no TTL, so they are not part of this history.)
/// </summary>
[Collection(InProcessCollection.Name)]
public sealed class NearCacheConsistencyTests(ITestOutputHelper output)
{
    private const int Keys = 4;

    [Fact]
    public async Task Near_cache_reads_under_crashes_partitions_and_resyncs_are_linearizable()
    {
        var seconds = int.TryParse(Environment.GetEnvironmentVariable("JEPSEN_SECONDS"), CultureInfo.InvariantCulture, out var s) ? s : 25;
        await using var cluster = await InProcessCluster.StartAsync(new Dictionary<string, string?>(PartitionTests.FaultSettings)
        {
            ["Cluster:SnapshotInterval"] = "50",
            ["Watch:HistoryMaxEvents"] = "16",
        });
        await using var router = await InProcessRouter.StartAsync(cluster, new Dictionary<string, string?> { ["Router:RetryDeadline"] = "00:00:02" });
        await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));

        var prefix = $"jepsen-near-{Guid.NewGuid():N}/";
        var keys = Enumerable.Range(0, Keys).Select(i => $"{prefix}{i}").ToArray();
        var history = new HistoryRecorder();
        var unknowns = new OutcomeResolver();
        var faults = new ConcurrentQueue<string>();
        var stats = new ConcurrentDictionary<string, int>();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));

        var readers = new List<AspireCacheClient>();
        AspireCacheClient NearReader(Uri baseAddress, int maxEntries)
        {
            var client = new AspireCacheClient(
                new HttpClient { BaseAddress = baseAddress, Timeout = Timeout.InfiniteTimeSpan },
                new AspireCacheClientOptions
                {
                    Deadline = TimeSpan.FromSeconds(3),
                    Credential = cluster.Credential,
                    NearCache = new NearCacheOptions { Prefixes = [prefix], MaxEntries = maxEntries },
                });
            readers.Add(client);
            return client;
        }

        var tasks = new List<Task>();
        for (var c = 0; c < 3; c++)
        {
            var clientId = c;
            tasks.Add(Task.Run(() => ConsistencyUnderFaultsTests.RunClientAsync(clientId, router.Client, keys, history, unknowns, stop.Token)));
        }

        var near = new[]
        {
            NearReader(router.Url, maxEntries: 100),
            NearReader(router.Url, maxEntries: 2),
            NearReader(cluster.Urls[2], maxEntries: 100),
        };
        for (var r = 0; r < near.Length; r++)
        {
            var readerId = 10 + r;
            var client = near[r];
            tasks.Add(Task.Run(() => RunNearReaderAsync(readerId, client, keys, history, stats, stop.Token)));
        }

        await ConsistencyUnderFaultsTests.RunNemesisAsync(cluster, faults, stop.Token);
        await Task.WhenAll(tasks);

        await ConsistencyUnderFaultsTests.HealAndSettleAsync(cluster);
        using (var resolveClient = router.Client())
        {
            await unknowns.ResolveAsync(resolveClient, history, CancellationToken.None);
        }

        var evictions = 0L;
        var hits = 0L;
        var resyncs = 0L;
        foreach (var reader in readers)
        {
            evictions += Interlocked.Read(ref reader.NearCache!.Store.Evictions);
            hits += Interlocked.Read(ref reader.NearCache!.Store.Hits);
            resyncs += Interlocked.Read(ref reader.NearCache!.Store.Resyncs);
            await reader.DisposeAsync();
        }

        var operations = history.Snapshot();
        var result = LinearizabilityChecker.Check(operations, TimeSpan.FromSeconds(60));
        var nearReads = operations.Count(o => o.Kind == OpKind.Read && o.ClientId >= 10);
        output.WriteLine($"{operations.Count} operations, {nearReads} near-cache reads ({string.Join(", ", stats.OrderBy(p => p.Key).Select(p => $"{p.Key} {p.Value}"))}), {hits} answered locally, {evictions} near-cache evictions, {resyncs} resyncs; faults: {string.Join(", ", faults)}");
        output.WriteLine(result.Describe());
        if (result.Outcome == CheckOutcome.Violation)
        {
            output.WriteLine($"full history: {history.Dump("near-cache")}");
        }

        Assert.True(result.Outcome == CheckOutcome.Ok, result.Describe());
        Assert.True(nearReads > 50, "too few near-cache reads to mean anything");
        Assert.True(operations.Count(o => o.Known && o.Kind != OpKind.Read) > 20, "too few successful writes to mean anything");
        Assert.True(evictions > 0, "the small near cache never evicted");
        Assert.True(hits > nearReads / 10, $"only {hits} of {nearReads} near-cache reads were answered locally");
    }

    private static async Task RunNearReaderAsync(int clientId, AspireCacheClient client, string[] keys, HistoryRecorder history, ConcurrentDictionary<string, int> stats, CancellationToken stop)
    {
        var random = new Random(clientId * 104729);
        var read = new ReadOptions { Consistency = Consistency.LinearizableNearCache };
        while (!stop.IsCancellationRequested)
        {
            var key = keys[random.Next(keys.Length)];
            var handle = history.BeginRead(clientId, key);
            try
            {
                var item = await client.GetAsync(key, read, stop);
                history.CompleteRead(handle, item is null ? null : Encoding.UTF8.GetString(item.Value.Span), item?.Version);
                stats.AddOrUpdate("ok", 1, (_, n) => n + 1);
            }
            catch (Exception ex) when (ex is AspireCacheException or OperationCanceledException)
            {
                // A read that failed observed nothing: it leaves the history.
                history.Discard(handle);
                stats.AddOrUpdate(ex.GetType().Name, 1, (_, n) => n + 1);
            }

            await Task.Delay(random.Next(0, 5), CancellationToken.None);
        }
    }
}

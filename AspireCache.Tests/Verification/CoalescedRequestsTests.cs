using System.Globalization;
using System.Net;
using AspireCache.Tests.InProcess;
using AspireCache.Verification;
using Xunit.Abstractions;

namespace AspireCache.Tests.Verification;

/// <summary>
/// The router's read and write coalescing under the linearizability checker: many readers and writers
/// through the router (so that their GETs and PUTs share batches) on a few keys, while the leader is
/// stopped and comes back, and then the new leader is cut off from the other two (it keeps taking
/// batches it can no longer confirm or commit). Every read must be one a single linearizable GET could
/// have given, and every acknowledged write must take effect exactly once (a write whose batch failed
/// goes on alone with its Idempotency-Key: applied twice, its value would reappear).
/// </summary>
[Collection(InProcessCollection.Name)]
public sealed class CoalescedRequestsTests(ITestOutputHelper output)
{
    private const int Readers = 16;
    private const int Writers = 6;

    [Fact]
    public async Task Coalesced_reads_and_writes_through_the_router_are_linearizable_across_a_leader_crash_and_a_partition()
    {
        var seconds = int.TryParse(Environment.GetEnvironmentVariable("COALESCE_SECONDS"), CultureInfo.InvariantCulture, out var s) ? s : 14;
        await using var cluster = await InProcessCluster.StartAsync(PartitionTests.FaultSettings);
        await using var router = await InProcessRouter.StartAsync(cluster, new Dictionary<string, string?> { ["Router:RetryDeadline"] = "00:00:03" });
        var leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        using (var probe = router.Client())
        {
            await RouterFailoverTests.WaitForRouterLeaderAsync(probe);
        }

        var prefix = $"coalesced-{Guid.NewGuid():N}/";
        var keys = Enumerable.Range(0, 3).Select(i => $"{prefix}{i}").ToArray();
        var history = new HistoryRecorder();
        var batchSizes = BatchSizes.Reads(router);
        var writeBatchSizes = BatchSizes.Writes(router);

        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        var clients = new List<Task>();
        for (var c = 0; c < Readers + Writers; c++)
        {
            var clientId = c;
            clients.Add(Task.Run(() => clientId < Writers
                ? WriteAsync(clientId, router, keys, history, stop.Token)
                : ReadAsync(clientId, router, keys, history, stop.Token)));
        }

        // The leader goes away a quarter of the way in and comes back 2 s later; then the leader of
        // that moment is cut off from the other two for 2.5 s (it may still be the router's choice).
        var faults = new List<string>();
        await Task.Delay(TimeSpan.FromSeconds(seconds / 4.0));
        faults.Add($"stop node{leader + 1}");
        await cluster.StopNodeAsync(leader);
        await Task.Delay(TimeSpan.FromSeconds(2));
        await cluster.StartNodeAsync(leader);
        var isolated = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        await Task.Delay(TimeSpan.FromSeconds(1));
        faults.Add($"isolate node{isolated + 1}");
        await PartitionTests.Partition(cluster, [[isolated], [.. Enumerable.Range(0, 3).Where(i => i != isolated)]]);
        await Task.Delay(TimeSpan.FromSeconds(2.5));
        await PartitionTests.Heal(cluster);
        await Task.WhenAll(clients);
        batchSizes.Dispose();
        writeBatchSizes.Dispose();

        var sizes = batchSizes.Snapshot();
        var writeSizes = writeBatchSizes.Snapshot();
        output.WriteLine($"faults: {string.Join(", ", faults)}");
        output.WriteLine($"{sizes.Length} read batches, {sizes.Count(n => n > 1)} of them with several keys (largest {(sizes.Length == 0 ? 0 : sizes.Max())}); " +
            $"{writeSizes.Length} write batches, {writeSizes.Count(n => n > 1)} of them with several writes (largest {(writeSizes.Length == 0 ? 0 : writeSizes.Max())})");
        var (reads, writes) = HistoryCheck.AssertLinearizable(history, output, "coalesced-reads");
        Assert.True(reads > 500 && writes > 20, "too few acknowledged operations to mean anything");
        Assert.True(sizes.Count(n => n > 1) > 10, "the readers' GETs were hardly ever coalesced: the test did not exercise what it checks");
        Assert.True(writeSizes.Count(n => n > 1) > 10, "the writers' PUTs were hardly ever coalesced: the test did not exercise what it checks");
    }

    /// <summary>A reader: plain GETs through the router (the kind it coalesces); a failed one is dropped (reads change nothing).</summary>
    private static async Task ReadAsync(int clientId, InProcessRouter router, string[] keys, HistoryRecorder history, CancellationToken stop)
    {
        using var http = router.Client();
        http.Timeout = TimeSpan.FromSeconds(10);
        var random = new Random(clientId);
        while (!stop.IsCancellationRequested)
        {
            var key = keys[random.Next(keys.Length)];
            var handle = history.BeginRead(clientId, key);
            try
            {
                using var response = await http.GetAsync($"/cache/{key}", CancellationToken.None);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    history.CompleteRead(handle, await response.Content.ReadAsStringAsync(CancellationToken.None), VersionOf(response));
                }
                else if (response.StatusCode == HttpStatusCode.NotFound)
                {
                    history.CompleteRead(handle, null, null);
                }
                else
                {
                    history.Discard(handle);
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                history.Discard(handle);
            }
        }
    }

    /// <summary>A writer: unique values through the router; an answer that is not an acknowledgment leaves the outcome unknown.</summary>
    private static async Task WriteAsync(int clientId, InProcessRouter router, string[] keys, HistoryRecorder history, CancellationToken stop)
    {
        using var http = router.Client();
        http.Timeout = TimeSpan.FromSeconds(10);
        var random = new Random(clientId);
        for (var n = 0; !stop.IsCancellationRequested; n++)
        {
            var key = keys[random.Next(keys.Length)];
            var value = $"c{clientId}-{n}";
            var handle = history.BeginWrite(clientId, key, value);
            try
            {
                using var response = await http.PutAsync($"/cache/{key}", new StringContent(value), CancellationToken.None);
                if (response.IsSuccessStatusCode)
                {
                    history.CompleteWrite(handle, VersionOf(response));
                }
                else
                {
                    history.CompleteUnknown(handle);
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                history.CompleteUnknown(handle);
            }
        }
    }

    private static long? VersionOf(HttpResponseMessage response) =>
        response.Headers.ETag is { } etag ? long.Parse(etag.Tag.Trim('"'), CultureInfo.InvariantCulture) : null;
}

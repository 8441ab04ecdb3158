using System.Globalization;
using System.Net;
using AspireCache.Node.Faults;
using AspireCache.Node.Raft.DotNextShims;
using DotNext.Net.Cluster.Consensus.Raft;
using DotNext.Net.Cluster.Consensus.Raft.StateMachine;

namespace AspireCache.Tests.InProcess;

/// <summary>
/// An AppendEntries whose body breaks part way (its leader died or gave up mid-stream) leaves every entry the follower
/// holds on its way to disk: DotNext 6.12 skipped its flush bookkeeping then, and after a rewrite counted the next
/// entries as flushed before they were (<c>DurableAppendMiddleware</c>).
/// </summary>
[Collection(InProcessCollection.Name)]
public sealed class CutOffAppendTests
{
    [Fact]
    public async Task A_rewrite_cut_off_mid_stream_leaves_the_flush_position_at_the_log_and_everything_it_holds_durable()
    {
        await using var cluster = await InProcessCluster.StartAsync(PartitionTests.FaultSettings);
        var leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        var follower = Enumerable.Range(0, 3).First(i => i != leader);
        var faults = cluster.Service<PartitionState>(leader);
        var log = (WriteAheadLog)cluster.Service<IPersistentState>(follower);
        var flushPosition = WalFlushProbe.Create();
        using var client = cluster.Client(leader);

        // A request carrying several entries the follower missed (copied, not delivered).
        faults.Block([cluster.NodeIds[follower]]);
        var capture = faults.CaptureNextAppendAsync(cluster.NodeIds[follower]);
        for (var i = 0; i < 6; i++)
        {
            (await client.PutAsync($"/cache/cut-off/{i}", new StringContent(new string('x', 200)))).EnsureSuccessStatusCode();
        }

        var request = await capture.WaitAsync(TimeSpan.FromSeconds(10));
        for (var attempt = 0; attempt < 50 && Header(request, "X-Raft-Entries-Count") < 3; attempt++)
        {
            request = await faults.CaptureNextAppendAsync(cluster.NodeIds[follower]).WaitAsync(TimeSpan.FromSeconds(10));
        }

        var end = Header(request, "X-Raft-Preceding-Record-Index") + Header(request, "X-Raft-Entries-Count");
        Assert.True(Header(request, "X-Raft-Entries-Count") >= 3, "no request carried three entries");

        // Delivered whole, with the commit index the follower had (as if the other follower were slow too): the
        // follower holds the entries uncommitted, durably, and its log ends where the request does (no stale one).
        var committed = log.LastCommittedEntryIndex;
        var whole = request with { Headers = [.. request.Headers.Select(h => h.Key == "X-Raft-Commit-Index" ? new KeyValuePair<string, string[]>(h.Key, [committed.ToString(CultureInfo.InvariantCulture)]) : h)] };
        using (var raw = cluster.PeerClient(leader))
        using (var response = await raw.SendAsync(whole.ToRequest()))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        await Until(() => flushPosition(log) > log.LastEntryIndex, "the follower never flushed the entries");
        Assert.Equal(end, log.LastEntryIndex);
        Assert.True(log.LastCommittedEntryIndex < end - 1, $"the entries must be uncommitted on the follower (commit {log.LastCommittedEntryIndex}, end {end})");
        request = whole;

        // The same request again (a leader resending it), its body cut off half way: DotNext rewrites part of it and stops.
        using (var raw = cluster.PeerClient(leader))
        {
            using var cut = request.ToRequest();
            cut.Content = new CutOffContent(request.Body, request.Body.Length / 2, cut.Content!.Headers);
            await Assert.ThrowsAnyAsync<Exception>(() => raw.SendAsync(cut));
        }

        // Whatever it left, the flush position is at the log, and the checkpoint gets to its last entry.
        await Until(
            () => flushPosition(log) == log.LastEntryIndex + 1,
            $"the flush position {flushPosition(log)} stays past the log's last entry {log.LastEntryIndex}: the next entries would count as flushed before they are");
        Assert.True(log.LastEntryIndex < end, $"the cut-off request left the log at {log.LastEntryIndex} (the test needs a partial rewrite)");

        // And the cluster goes on: a new write reaches the follower.
        faults.Heal();
        (await client.PutAsync("/cache/cut-off/after", new StringContent("y"))).EnsureSuccessStatusCode();
        var target = cluster.Service<IPersistentState>(leader).LastCommittedEntryIndex;
        await Until(() => log.LastCommittedEntryIndex >= target, "the follower did not catch up after the cut-off request");
    }

    private static async Task Until(Func<bool> condition, string failure)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, failure);
            await Task.Delay(10);
        }
    }

    private static long Header(CapturedRequest request, string name) =>
        long.Parse(request.Headers.Single(h => h.Key == name).Value[0], CultureInfo.InvariantCulture);

    /// <summary>Sends the first <paramref name="cut"/> bytes of <paramref name="body"/>, announced whole, then breaks the connection.</summary>
    private sealed class CutOffContent : HttpContent
    {
        private readonly byte[] _body;
        private readonly int _cut;

        public CutOffContent(byte[] body, int cut, System.Net.Http.Headers.HttpContentHeaders headers)
        {
            (_body, _cut) = (body, cut);
            foreach (var (name, values) in headers)
            {
                Headers.TryAddWithoutValidation(name, values);
            }

            Headers.ContentLength = body.Length;
        }

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            await stream.WriteAsync(_body.AsMemory(0, _cut));
            await stream.FlushAsync();
            await Task.Delay(200); // the follower reads (and writes) what came
            throw new IOException("the leader's stream broke");
        }

        protected override bool TryComputeLength(out long length)
        {
            length = _body.Length;
            return true;
        }
    }
}

using System.Globalization;
using System.Net;
using AspireCache.Node.Faults;
using AspireCache.Node.Raft.DotNextShims;
using DotNext.Net.Cluster.Consensus.Raft;
using DotNext.Net.Cluster.Consensus.Raft.StateMachine;
using AspireCache.Tests.Watch;

namespace AspireCache.Tests.InProcess;

/// <summary>
/// An AppendEntries whose body breaks part way (its leader died or gave up mid-stream) leaves every entry the follower
/// holds on its way to disk: DotNext 6.12 skipped its flush bookkeeping then, and after a rewrite counted the next
/// entries as flushed before they were (<c>DurableAppendMiddleware</c>).
/// </summary>
[Collection(InProcessCollection.Name)]
public sealed class CutOffAppendTests
{
    /// <summary>
    /// A resend of the request that brought the follower's last entries, cut off half way: DotNext rewrote them and stopped,
    /// dropping the acknowledged entries after the cut. <c>StaleAppendGuardMiddleware</c> now takes such a resend for the
    /// heartbeat it is: nothing is dropped.
    /// </summary>
    [Fact]
    public async Task A_resend_of_the_last_request_cut_off_mid_stream_drops_nothing_the_follower_acknowledged()
    {
        await using var setup = await SetUpAsync();
        await SendCutOffAsync(setup, setup.Request);

        Assert.Equal(setup.End, setup.Log.LastEntryIndex); // was 5 of 8: the entries after the cut were gone
    }

    /// <summary>
    /// A rewrite that is no resend (here the same entries from a newer term's sender), cut off half way: DotNext skipped its
    /// flush bookkeeping, and its flush position stayed past the log's new last entry (<c>DurableAppendMiddleware</c>).
    /// </summary>
    [Fact]
    public async Task A_rewrite_cut_off_mid_stream_leaves_the_flush_position_at_the_log()
    {
        await using var setup = await SetUpAsync();
        var flushPosition = WalFlushProbe.Create();
        await SendCutOffAsync(setup, setup.Request.WithHeader("X-Raft-Term", (Header(setup.Request, "X-Raft-Term") + 1).ToString(CultureInfo.InvariantCulture)));

        Assert.True(setup.Log.LastEntryIndex < setup.End, $"the cut-off request left the log at {setup.Log.LastEntryIndex} (the test needs a partial rewrite)");
        await Poll.UntilAsync(
            () => flushPosition(setup.Log) == setup.Log.LastEntryIndex + 1,
            Timeout,
            () => $"the flush position {flushPosition(setup.Log)} stays past the log's last entry {setup.Log.LastEntryIndex}: the next entries would count as flushed before they are");

        // And the cluster goes on (the follower took a newer term: a new election), and a new write reaches the follower.
        setup.Cluster.Service<PartitionState>(setup.Leader).Heal();
        var leader = await setup.Cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(20));
        await setup.Cluster.PutToLeaderAsync(leader, "/cache/cut-off/after", [1]);
        var target = setup.Cluster.Service<IPersistentState>(await setup.Cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(20))).LastCommittedEntryIndex;
        await Poll.UntilAsync(() => setup.Log.LastCommittedEntryIndex >= target, Timeout, () => "the follower did not catch up after the cut-off request");
    }

    private sealed record Setup(InProcessCluster Cluster, int Leader, WriteAheadLog Log, CapturedRequest Request, long End) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => Cluster.DisposeAsync();
    }

    /// <summary>A follower holding, durably and uncommitted, the entries of a captured request its log ends with.</summary>
    private static async Task<Setup> SetUpAsync()
    {
        var cluster = await InProcessCluster.StartAsync(PartitionTests.FaultSettings);
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
        var whole = request.WithHeader("X-Raft-Commit-Index", committed.ToString(CultureInfo.InvariantCulture));
        using (var raw = cluster.PeerClient(leader))
        using (var response = await raw.SendAsync(whole.ToRequest()))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        await Poll.UntilAsync(() => flushPosition(log) > log.LastEntryIndex, Timeout, () => "the follower never flushed the entries");
        Assert.Equal(end, log.LastEntryIndex);
        Assert.True(log.LastCommittedEntryIndex < end - 1, $"the entries must be uncommitted on the follower (commit {log.LastCommittedEntryIndex}, end {end})");
        return new Setup(cluster, leader, log, whole, end);
    }

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    /// <summary>Sends <paramref name="request"/> to the follower as its leader, the body cut off half way once the follower rewrites.</summary>
    private static async Task SendCutOffAsync(Setup setup, CapturedRequest request)
    {
        using var raw = setup.Cluster.PeerClient(setup.Leader);
        using var cut = request.ToRequest();
        cut.Content = new CutOffContent(request.Body, request.Body.Length / 2, cut.Content!.Headers, () => setup.Log.LastEntryIndex < setup.End);
        await Assert.ThrowsAnyAsync<Exception>(() => raw.SendAsync(cut));
    }

    private static long Header(CapturedRequest request, string name) =>
        long.Parse(request.Headers.Single(h => h.Key == name).Value[0], CultureInfo.InvariantCulture);

    /// <summary>Sends the first <paramref name="cut"/> bytes of <paramref name="body"/>, announced whole, then (once the follower is rewriting, or after 2 s) breaks the connection.</summary>
    private sealed class CutOffContent : HttpContent
    {
        private readonly byte[] _body;
        private readonly int _cut;

        private readonly Func<bool> _rewriting;

        public CutOffContent(byte[] body, int cut, System.Net.Http.Headers.HttpContentHeaders headers, Func<bool> rewriting)
        {
            (_body, _cut, _rewriting) = (body, cut, rewriting);
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
            var deadline = DateTime.UtcNow.AddSeconds(2); // the follower reads, and rewrites, what came
            while (!_rewriting() && DateTime.UtcNow < deadline)
            {
                await Task.Delay(10);
            }

            await Task.Delay(50);
            throw new IOException("the leader's stream broke");
        }

        protected override bool TryComputeLength(out long length)
        {
            length = _body.Length;
            return true;
        }
    }
}

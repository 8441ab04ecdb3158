using System.Diagnostics;
using System.Net;
using AspireCache.Node.Raft;
using AspireCache.Node.Raft.DotNextShims;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace AspireCache.Tests.Unit;

/// <summary>
/// A vote request a member does not answer fails as "unavailable" within the vote deadline, before any
/// voting timeout, so a hung member cannot make every election run out of time; for one RPC timeout after,
/// the member's other Raft requests get the same deadline until it answers (<see cref="VoteDeadlineHandler"/>).
/// </summary>
public sealed class VoteDeadlineHandlerTests
{
    private static readonly ClusterOptions Options50To100 = new() { LowerElectionTimeoutMs = 50, UpperElectionTimeoutMs = 100 };

    [Fact]
    public void The_deadline_is_shorter_than_the_shortest_voting_timeout()
    {
        Assert.Equal(TimeSpan.FromMilliseconds(40), Options50To100.VoteDeadline);
        Assert.True(Options50To100.VoteDeadline < TimeSpan.FromMilliseconds(Options50To100.LowerElectionTimeoutMs));
    }

    [Fact]
    public async Task A_vote_request_to_a_member_that_never_answers_fails_as_unavailable_within_the_deadline()
    {
        using var client = new HttpClient(Handler(new SteppedClock(), new HangingPeer()));

        var elapsed = Stopwatch.StartNew();
        var failure = await Assert.ThrowsAsync<HttpRequestException>(() => client.SendAsync(Message(RaftWire.RequestVote)));

        Assert.InRange(elapsed.Elapsed, TimeSpan.FromMilliseconds(30), TimeSpan.FromSeconds(5)); // generous: a busy box
        Assert.Contains("did not answer a vote request within 40 ms", failure.Message);
    }

    [Fact]
    public async Task Other_messages_and_answered_votes_pass_unchanged()
    {
        using var answering = new HttpClient(Handler(new SteppedClock(), new Answers()));
        using var hanging = new HttpClient(Handler(new SteppedClock(), new HangingPeer()));

        Assert.Equal("True", await (await answering.SendAsync(Message(RaftWire.RequestVote))).Content.ReadAsStringAsync());

        // Pre-votes and appends keep DotNext's own timeout (a live leader's pre-vote veto must not be cut short).
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        var appendOrPreVote = Stopwatch.StartNew();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => hanging.SendAsync(Message(RaftWire.PreVote), cancel.Token));
        Assert.True(appendOrPreVote.Elapsed >= TimeSpan.FromMilliseconds(250), $"a pre-vote was cut after {appendOrPreVote.Elapsed.TotalMilliseconds:0} ms");
    }

    [Fact]
    public async Task After_a_missed_vote_that_members_appends_get_the_deadline_until_it_answers_or_for_one_rpc_timeout()
    {
        var clock = new SteppedClock();
        var peer = new SwitchablePeer { Hangs = true };
        using var client = new HttpClient(Handler(clock, peer));

        // Before any missed vote an append to a hung member waits (here until the caller gives up).
        await AssertWaitsAsync(client, RaftWire.AppendEntries, port: 7003);

        await Assert.ThrowsAsync<HttpRequestException>(() => client.SendAsync(Message(RaftWire.RequestVote, port: 7003)));
        var half = TimeSpan.FromMilliseconds(Options50To100.RaftRpcTimeoutMs / 2);
        clock.Advance(half);
        var cut = await Assert.ThrowsAsync<HttpRequestException>(() => client.SendAsync(Message(RaftWire.AppendEntries, port: 7003)));
        Assert.Contains("missed a vote deadline just before", cut.Message);
        await AssertWaitsAsync(client, RaftWire.PreVote, port: 7003);         // a live leader's veto must arrive, however slow
        await AssertWaitsAsync(client, RaftWire.InstallSnapshot, port: 7003); // a transfer is not cut short
        await AssertWaitsAsync(client, RaftWire.AppendEntries, port: 7004);   // another member: untouched

        // One RPC timeout after the missed vote (the append missed half-way did not extend it), it is waited for again.
        clock.Advance(half);
        await AssertWaitsAsync(client, RaftWire.AppendEntries, port: 7003);

        // A member that answers is waited for again at once.
        await Assert.ThrowsAsync<HttpRequestException>(() => client.SendAsync(Message(RaftWire.RequestVote, port: 7003)));
        peer.Hangs = false;
        Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(Message(RaftWire.AppendEntries, port: 7003))).StatusCode);
        peer.Hangs = true;
        await AssertWaitsAsync(client, RaftWire.AppendEntries, port: 7003);
    }

    private static async Task AssertWaitsAsync(HttpClient client, string type, int port)
    {
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        var waited = Stopwatch.StartNew();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.SendAsync(Message(type, port), cancel.Token));
        Assert.True(waited.Elapsed >= TimeSpan.FromMilliseconds(250), $"a {type} to port {port} was cut after {waited.Elapsed.TotalMilliseconds:0} ms");
    }

    private static VoteDeadlineHandler Handler(SteppedClock clock, HttpMessageHandler? inner = null) =>
        new(Options.Create(Options50To100), new UnresponsivePeers(clock, Options.Create(Options50To100)), NullLogger<VoteDeadlineHandler>.Instance)
        {
            InnerHandler = inner ?? new HangingPeer(),
        };

    private static HttpRequestMessage Message(string type, int port = 7003)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{port}/cluster-consensus/raft");
        request.Headers.Add(RaftWire.MessageTypeHeader, type);
        return request;
    }

    /// <summary>Hangs like <see cref="HangingPeer"/> while <see cref="Hangs"/>, answers at once otherwise.</summary>
    private sealed class SwitchablePeer : HttpMessageHandler
    {
        public volatile bool Hangs;

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (Hangs)
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }

            return new HttpResponseMessage(HttpStatusCode.OK);
        }
    }

    private sealed class Answers : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent("True") });
    }
}

using System.Diagnostics;
using System.Net;
using AspireCache.Node.Raft;
using AspireCache.Node.Raft.DotNextShims;
using Microsoft.Extensions.Options;

namespace AspireCache.Tests.Unit;

/// <summary>
/// A vote request a member does not answer fails as "unavailable" within the vote deadline, before any
/// voting timeout, so a hung member cannot make every election run out of time (<see cref="VoteDeadlineHandler"/>).
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
        using var client = new HttpClient(new VoteDeadlineHandler(Options.Create(Options50To100)) { InnerHandler = new HangingPeer() });

        var elapsed = Stopwatch.StartNew();
        var failure = await Assert.ThrowsAsync<HttpRequestException>(() => client.SendAsync(Message(RaftWire.RequestVote)));

        Assert.InRange(elapsed.Elapsed, TimeSpan.FromMilliseconds(30), TimeSpan.FromSeconds(5)); // generous: a busy box
        Assert.Contains("did not answer a vote request within 40 ms", failure.Message);
    }

    [Fact]
    public async Task Other_messages_and_answered_votes_pass_unchanged()
    {
        using var answering = new HttpClient(new VoteDeadlineHandler(Options.Create(Options50To100)) { InnerHandler = new Answers() });
        using var hanging = new HttpClient(new VoteDeadlineHandler(Options.Create(Options50To100)) { InnerHandler = new HangingPeer() });

        Assert.Equal("True", await (await answering.SendAsync(Message(RaftWire.RequestVote))).Content.ReadAsStringAsync());

        // Pre-votes and appends keep DotNext's own timeout (a live leader's pre-vote veto must not be cut short).
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        var appendOrPreVote = Stopwatch.StartNew();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => hanging.SendAsync(Message(RaftWire.PreVote), cancel.Token));
        Assert.True(appendOrPreVote.Elapsed >= TimeSpan.FromMilliseconds(250), $"a pre-vote was cut after {appendOrPreVote.Elapsed.TotalMilliseconds:0} ms");
    }

    private static HttpRequestMessage Message(string type)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "http://127.0.0.1:7003/cluster-consensus/raft");
        request.Headers.Add(RaftWire.MessageTypeHeader, type);
        return request;
    }

    private sealed class Answers : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent("True") });
    }
}

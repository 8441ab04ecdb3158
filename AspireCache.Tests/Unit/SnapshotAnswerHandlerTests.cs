using System.Net;
using AspireCache.Node.Raft.DotNextShims;

namespace AspireCache.Tests.Unit;

/// <summary>
/// The leader reads a follower's InstallSnapshot answer as contact (<c>Replicated</c>) even when the follower, of an
/// older version, answers <c>ReplicatedWithLeaderTerm</c> (<see cref="SnapshotAnswerHandler"/>; why, <c>CommitQuorumTests</c>).
/// </summary>
public sealed class SnapshotAnswerHandlerTests
{
    [Theory]
    [InlineData("InstallSnapshot", "ReplicatedWithLeaderTerm", "Replicated")]
    [InlineData("InstallSnapshot", "Replicated", "Replicated")]
    [InlineData("InstallSnapshot", "Rejected", "Rejected")]
    [InlineData("AppendEntries", "ReplicatedWithLeaderTerm", "ReplicatedWithLeaderTerm")]
    public async Task Only_a_snapshot_answer_with_the_leaders_term_is_read_as_contact(string message, string answered, string read)
    {
        using var client = new HttpClient(new SnapshotAnswerHandler { InnerHandler = new Answering(answered) });
        using var request = new HttpRequestMessage(HttpMethod.Post, "http://peer/cluster-consensus/raft");
        request.Headers.Add(RaftWire.MessageTypeHeader, message);

        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(read, await response.Content.ReadAsStringAsync());
        Assert.Equal("7", Assert.Single(response.Headers.GetValues(RaftWire.TermHeader))); // the term still reaches DotNext
    }

    private sealed class Answering(string body) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(body) };
            response.Headers.Add(RaftWire.TermHeader, "7");
            return Task.FromResult(response);
        }
    }
}

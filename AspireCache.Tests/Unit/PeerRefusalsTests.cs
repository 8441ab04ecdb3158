using AspireCache.Node.Raft.DotNextShims;
using Microsoft.Extensions.DependencyInjection;

namespace AspireCache.Tests.Unit;

/// <summary>A peer that refused a connection is failed at once for the lower election timeout, then tried on the wire again.</summary>
public sealed class PeerRefusalsTests
{
    [Fact]
    public void After_a_refusal_requests_to_that_peer_fail_at_once_for_the_lower_election_timeout_only()
    {
        var clock = new SteppedClock();
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var refusals = new PeerRefusals(
            clock,
            Microsoft.Extensions.Options.Options.Create(new AspireCache.Node.Raft.ClusterOptions { LowerElectionTimeoutMs = 150 }),
            new AspireCache.Node.Diagnostics.NodeTelemetry(services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>()));

        Assert.False(refusals.Refuses("127.0.0.1:7142"));
        refusals.Refused("127.0.0.1:7142");
        Assert.True(refusals.Refuses("127.0.0.1:7142"));
        Assert.False(refusals.Refuses("127.0.0.1:7143")); // another peer is not affected
        clock.Advance(TimeSpan.FromMilliseconds(149));
        Assert.True(refusals.Refuses("127.0.0.1:7142"));
        clock.Advance(TimeSpan.FromMilliseconds(2));
        Assert.False(refusals.Refuses("127.0.0.1:7142")); // the restarted peer is reached again

        var error = PeerRefusals.Refusal("127.0.0.1:7142");
        Assert.Equal(HttpRequestError.ConnectionError, error.HttpRequestError);
        Assert.Equal(System.Net.Sockets.SocketError.ConnectionRefused, Assert.IsType<System.Net.Sockets.SocketException>(error.InnerException).SocketErrorCode);
    }

    [Fact]
    public void The_Raft_client_handlers_recognise_an_outgoing_message_type_from_its_header()
    {
        using var preVote = new HttpRequestMessage(HttpMethod.Post, "http://127.0.0.1:7142/cluster-consensus/raft");
        preVote.Headers.Add(RaftWire.MessageTypeHeader, RaftWire.PreVote);
        using var append = new HttpRequestMessage(HttpMethod.Post, "http://127.0.0.1:7142/cluster-consensus/raft");
        append.Headers.Add(RaftWire.MessageTypeHeader, RaftWire.AppendEntries);
        using var none = new HttpRequestMessage(HttpMethod.Get, "http://127.0.0.1:7142/health");

        Assert.True(RaftWire.Is(preVote, RaftWire.PreVote));
        Assert.False(RaftWire.Is(append, RaftWire.PreVote));
        Assert.False(RaftWire.Is(none, RaftWire.PreVote));
    }
}

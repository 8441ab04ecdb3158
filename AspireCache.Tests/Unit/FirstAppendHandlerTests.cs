using System.Net;
using AspireCache.Node.Diagnostics;
using AspireCache.Node.Raft;
using AspireCache.Node.Raft.DotNextShims;
using AspireCache.Node.StateMachine;
using DotNext.Net.Cluster.Consensus.Raft;
using DotNext.Net.Cluster.Consensus.Raft.StateMachine;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace AspireCache.Tests.Unit;

/// <summary>
/// A new leader's first AppendEntries to a member, naming an entry of its own term as the preceding one,
/// is answered "Rejected" on the leader with the index before the term's first entry; every other
/// message goes out (<see cref="FirstAppendHandler"/>).
/// </summary>
public sealed class FirstAppendHandlerTests : IAsyncDisposable
{
    private const string Follower = "http://127.0.0.1:7002/cluster-consensus/raft";
    private const string OtherFollower = "http://127.0.0.1:7003/cluster-consensus/raft";
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "aspirecache-first-append-tests", Guid.NewGuid().ToString("N"));
    private readonly WriteAheadLog _wal;
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly Sent _sent = new();

    public FirstAppendHandlerTests()
    {
        var stateMachine = new CacheStateMachine(new DirectoryInfo(Path.Combine(_directory, "snapshots")), 1_000, NullLogger<CacheStateMachine>.Instance);
        _wal = new WriteAheadLog(new WriteAheadLog.Options { Location = Path.Combine(_directory, "wal") }, stateMachine);
    }

    [Fact]
    public async Task The_first_append_of_a_term_naming_that_terms_entry_is_refused_locally_down_to_the_entry_before_the_term()
    {
        // Entries 1–3 of term 1 (the old leader's), then 4 (the no-op) and 5 of term 2 (this leader's).
        await AppendAsync(1, 1, 1, 2, 2);
        long answered = 0;
        using var listener = Measurements.ListenTo("aspirecache.raft.first_appends_answered", (_, n) => Interlocked.Add(ref answered, n), scope: Meters);
        using var client = Client(enabled: true);

        using var first = await client.SendAsync(Append(Follower, term: 2, preceding: 5, precedingTerm: 2));

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal("Rejected", await first.Content.ReadAsStringAsync());
        Assert.Equal("2", Assert.Single(first.Headers.GetValues(RaftWire.TermHeader)));
        Assert.Equal("3", Assert.Single(first.Headers.GetValues(RaftWire.LastIndexHeader)));
        Assert.Empty(_sent.Requests);
        Assert.Equal(1, Interlocked.Read(ref answered));
    }

    [Fact]
    public async Task Once_a_message_of_the_term_went_to_a_member_every_later_one_goes_out_and_a_new_term_starts_over()
    {
        await AppendAsync(1, 1, 1, 2, 2, 3);
        using var client = Client(enabled: true);

        (await client.SendAsync(Append(Follower, term: 2, preceding: 5, precedingTerm: 2))).Dispose(); // local
        (await client.SendAsync(Append(Follower, term: 2, preceding: 3, precedingTerm: 1))).Dispose(); // carries the no-op: out
        (await client.SendAsync(Append(Follower, term: 2, preceding: 5, precedingTerm: 2))).Dispose(); // a later round: out
        (await client.SendAsync(Append(OtherFollower, term: 2, preceding: 5, precedingTerm: 2))).Dispose(); // another member's first: local
        (await client.SendAsync(Append(Follower, term: 3, preceding: 6, precedingTerm: 3))).Dispose(); // a new term's first: local

        Assert.Equal(["7002 prev 3", "7002 prev 5"], _sent.Requests);
    }

    [Fact]
    public async Task A_first_append_naming_an_older_terms_entry_heartbeats_and_other_messages_go_out()
    {
        await AppendAsync(1, 1, 2);
        using var client = Client(enabled: true);

        (await client.SendAsync(Append(Follower, term: 3, preceding: 3, precedingTerm: 2))).Dispose(); // preceding entry of an older term
        (await client.SendAsync(Append(OtherFollower, term: 3, preceding: 0, precedingTerm: 0))).Dispose();
        var vote = new HttpRequestMessage(HttpMethod.Post, OtherFollower);
        vote.Headers.Add(RaftWire.MessageTypeHeader, RaftWire.RequestVote);
        vote.Headers.Add(RaftWire.TermHeader, "3");
        (await client.SendAsync(vote)).Dispose();

        Assert.Equal(["7002 prev 3", "7003 prev 0", "7003 RequestVote"], _sent.Requests);
    }

    [Fact]
    public async Task Switched_off_it_sends_every_message()
    {
        await AppendAsync(1, 2);
        using var client = Client(enabled: false);

        (await client.SendAsync(Append(Follower, term: 2, preceding: 2, precedingTerm: 2))).Dispose();

        Assert.Equal(["7002 prev 2"], _sent.Requests);
    }

    private System.Diagnostics.Metrics.IMeterFactory Meters => _services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>();

    private HttpClient Client(bool enabled) =>
        new(new FirstAppendHandler(
            new FirstAppends(),
            _wal,
            Options.Create(new ClusterOptions { AnswerFirstAppendLocally = enabled }),
            new NodeTelemetry(Meters),
            NullLogger<FirstAppendHandler>.Instance) { InnerHandler = _sent });

    private async Task AppendAsync(params long[] terms)
    {
        await _wal.InitializeAsync();
        foreach (var term in terms)
        {
            await _wal.AppendAsync(new BinaryLogEntry { Content = new byte[] { 1 }, Term = term });
        }
    }

    private static HttpRequestMessage Append(string member, long term, long preceding, long precedingTerm)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, member);
        request.Headers.Add(RaftWire.MessageTypeHeader, RaftWire.AppendEntries);
        request.Headers.Add(RaftWire.TermHeader, term.ToString(System.Globalization.CultureInfo.InvariantCulture));
        request.Headers.Add(RaftWire.PrecedingIndexHeader, preceding.ToString(System.Globalization.CultureInfo.InvariantCulture));
        request.Headers.Add(RaftWire.PrecedingTermHeader, precedingTerm.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return request;
    }

    /// <summary>The network: records what went out and answers "Replicated".</summary>
    private sealed class Sent : HttpMessageHandler
    {
        public List<string> Requests { get; } = [];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var type = request.Headers.GetValues(RaftWire.MessageTypeHeader).Single();
            Requests.Add(type == RaftWire.AppendEntries
                ? $"{request.RequestUri!.Port} prev {request.Headers.GetValues(RaftWire.PrecedingIndexHeader).Single()}"
                : $"{request.RequestUri!.Port} {type}");
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent("Replicated") });
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _wal.DisposeAsync();
        await _services.DisposeAsync();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

using System.Collections.Concurrent;
using AspireCache.Client;
using Xunit.Abstractions;

namespace AspireCache.Verification.Tests;

/// <summary>
/// <see cref="RecordingClient"/> records what AspireCache.Client reported, mapped exactly onto the checker's model, and
/// <see cref="OutcomeResolver"/> learns unknown outcomes under the client's own Idempotency-Key. Against
/// <see cref="FakeCacheServer"/>, whose true effects are known.
/// </summary>
public sealed class RecordingClientTests(ITestOutputHelper output)
{
    private static IAspireCacheClient NewClient(FakeCacheServer server, TimeSpan? deadline = null) =>
        new AspireCacheClient(server.Client(), new AspireCacheClientOptions
        {
            Deadline = deadline ?? TimeSpan.FromMilliseconds(150),
            InitialRetryDelay = TimeSpan.FromMilliseconds(1),
            MaxRetryDelay = TimeSpan.FromMilliseconds(5),
        });

    private static Operation Single(HistoryRecorder history) => Assert.Single(history.Snapshot());

    [Fact]
    public async Task Answers_become_known_operations_with_their_values_and_versions()
    {
        using var server = new FakeCacheServer();
        var history = new HistoryRecorder();
        var client = new RecordingClient(NewClient(server), history, clientId: 7);

        Assert.Equal(new Recorded(RecordedAs.Known), await client.ReadAsync("k"));
        var written = await client.WriteAsync("k", "a");
        Assert.Equal(new Recorded(RecordedAs.Known, Version: 1), written);
        Assert.Equal(new Recorded(RecordedAs.Known, "a", 1), await client.ReadAsync("k"));
        Assert.Equal(new Recorded(RecordedAs.Known, Version: 2, Success: true), await client.CompareAndSetAsync("k", 1, "b"));
        Assert.Equal(new Recorded(RecordedAs.Known, Success: false), await client.CompareAndSetAsync("k", 1, "c"));
        Assert.Equal(new Recorded(RecordedAs.Known, Success: false), await client.CompareAndSetAsync("k", null, "d"));
        Assert.Equal(new Recorded(RecordedAs.Known, Version: 3, Success: true), await client.CompareAndSetAsync("j", null, "e"));
        Assert.Equal(new Recorded(RecordedAs.Known, Version: 4), await client.BatchAsync(new Dictionary<string, string> { ["i"] = "f" }, ["j"]));
        Assert.Equal(new Recorded(RecordedAs.Known, Success: true), await client.DeleteAsync("k"));
        Assert.Equal(new Recorded(RecordedAs.Known, Success: false), await client.DeleteAsync("k"));

        var ops = history.Snapshot();
        Assert.All(ops, o => Assert.True(o.Known));
        Assert.All(ops, o => Assert.Equal(7, o.ClientId));
        Assert.Equal(
            [
                "c7 read(k) -> absent",
                "c7 write(k, \"a\") -> ok @1",
                "c7 read(k) -> \"a\" @1",
                "c7 cas(k, expect @1, \"b\") -> ok @2",
                "c7 cas(k, expect @1, \"c\") -> failed",
                "c7 cas(k, expect absent, \"d\") -> failed",
                "c7 cas(j, expect absent, \"e\") -> ok @3",
                "c7 batch(set {i=\"f\"}, delete [j]) -> ok @4",
                "c7 delete(k) -> found",
                "c7 delete(k) -> not found",
            ],
            ops.Select(o => o.Describe()));
        Assert.Equal(CheckOutcome.Ok, LinearizabilityChecker.Check(ops, TimeSpan.FromSeconds(10)).Outcome);
    }

    [Theory]
    [InlineData(FakeFault.ApplyThenTimeout, true)]
    [InlineData(FakeFault.ApplyThenReset, true)]
    [InlineData(FakeFault.TimeoutWithoutApplying, false)]
    public async Task An_outcome_unknown_write_is_recorded_unknown_and_resolved_under_the_clients_idempotency_key(FakeFault fault, bool applied)
    {
        using var server = new FakeCacheServer { FaultFor = _ => fault };
        var history = new HistoryRecorder();
        var unknowns = new OutcomeResolver();
        var outcomes = new ConcurrentDictionary<string, string>();
        var client = new RecordingClient(NewClient(server), history, 1, unknowns, outcomes);

        Assert.Equal(RecordedAs.Unknown, (await client.WriteAsync("k", "a")).As);
        Assert.False(Single(history).Known);
        Assert.Equal(1, unknowns.Pending);
        Assert.Contains("outcome unknown (Idempotency-Key", outcomes["a"], StringComparison.Ordinal);
        Assert.Equal(applied ? "a" : null, server.ValueOf("k"));

        // Every attempt of the call carried one key, and the resolver sends that key again, with the same request.
        var attempts = server.Requests.ToArray();
        Assert.True(attempts.Length > 1, "the client retried within its deadline");
        var key = Assert.Single(attempts.Select(r => r.IdempotencyKey).Distinct());
        Assert.NotNull(key);

        server.FaultFor = null;
        using var http = server.Client();
        var (replayed, appliedNow, unresolved) = await unknowns.ResolveAsync(http, history, CancellationToken.None);
        Assert.Equal((applied ? 1 : 0, applied ? 0 : 1, 0), (replayed, appliedNow, unresolved));
        var resend = server.Requests.Last();
        Assert.Equal(attempts[0], resend);

        // Either way one known write of "a" remains: the original (replayed) or its retry (applied now).
        var op = Single(history);
        Assert.True(op.Known);
        Assert.Equal("c1 write(k, \"a\") -> ok @1", op.Describe());
        Assert.Equal("a", server.ValueOf("k"));
    }

    [Fact]
    public async Task An_unknown_cas_delete_and_batch_are_resent_identically_and_resolve()
    {
        using var server = new FakeCacheServer();
        var history = new HistoryRecorder();
        var unknowns = new OutcomeResolver();
        var client = new RecordingClient(NewClient(server), history, 1, unknowns);
        await client.WriteAsync("k", "a");

        server.FaultFor = _ => FakeFault.ApplyThenTimeout;
        Assert.Equal(RecordedAs.Unknown, (await client.CompareAndSetAsync("k", 1, "b")).As);
        Assert.Equal(RecordedAs.Unknown, (await client.CompareAndSetAsync("j", null, "c")).As);
        Assert.Equal(RecordedAs.Unknown, (await client.BatchAsync(new Dictionary<string, string> { ["i"] = "d" }, ["j"])).As);
        Assert.Equal(RecordedAs.Unknown, (await client.DeleteAsync("k")).As);
        Assert.Equal(4, unknowns.Pending);

        server.FaultFor = null;
        using var http = server.Client();
        Assert.Equal((4, 0, 0), await unknowns.ResolveAsync(http, history, CancellationToken.None)); // a 422 (different request) would throw

        Assert.Equal(
            [
                "c1 write(k, \"a\") -> ok @1",
                "c1 cas(k, expect @1, \"b\") -> ok @2",
                "c1 cas(j, expect absent, \"c\") -> ok @3",
                "c1 batch(set {i=\"d\"}, delete [j]) -> ok @4",
                "c1 delete(k) -> found @5",
            ],
            history.Snapshot().Select(o => o.Describe()));
    }

    [Fact]
    public async Task Unavailable_mutations_and_failed_reads_are_discarded_and_the_checker_never_sees_them()
    {
        using var server = new FakeCacheServer { FaultFor = _ => FakeFault.Refuse };
        var history = new HistoryRecorder();
        var unknowns = new OutcomeResolver();
        var outcomes = new ConcurrentDictionary<string, string>();
        var client = new RecordingClient(NewClient(server), history, 1, unknowns, outcomes);

        Assert.Equal(RecordedAs.Discarded, (await client.WriteAsync("k", "a")).As);
        Assert.Equal(RecordedAs.Discarded, (await client.CompareAndSetAsync("k", null, "b")).As);
        Assert.Equal(RecordedAs.Discarded, (await client.DeleteAsync("k")).As);
        Assert.Equal(RecordedAs.Discarded, (await client.ReadAsync("k")).As);

        Assert.Empty(history.Snapshot());
        Assert.Equal(0, unknowns.Pending);
        Assert.StartsWith("k: not applied: 503", outcomes["a"], StringComparison.Ordinal);
        Assert.Null(server.ValueOf("k"));
    }

    [Fact]
    public async Task A_write_to_a_follower_that_cannot_reach_the_leader_is_discarded()
    {
        // 421 not-leader without a leader URL to follow: retried through the base address until the deadline,
        // never proposed: the client says "unavailable", never "outcome unknown".
        using var notLeader = new NotLeaderHandler();
        var history = new HistoryRecorder();
        var client = new RecordingClient(
            new AspireCacheClient(new HttpClient(notLeader) { BaseAddress = FakeCacheServer.BaseAddress }, new AspireCacheClientOptions { Deadline = TimeSpan.FromMilliseconds(100), InitialRetryDelay = TimeSpan.FromMilliseconds(1), MaxRetryDelay = TimeSpan.FromMilliseconds(5) }),
            history,
            1);

        Assert.Equal(RecordedAs.Discarded, (await client.WriteAsync("k", "a")).As);
        Assert.True(notLeader.Requests > 1);
        Assert.Empty(history.Snapshot());
    }

    [Fact]
    public async Task A_client_that_says_not_applied_about_an_applied_write_makes_the_history_a_violation()
    {
        // The recorder trusts the client's "certainly not applied" (UnavailableException): if that claim is false,
        // the value shows up later and the checker reports it, so the claim itself is verified.
        using var server = new FakeCacheServer { FaultFor = _ => FakeFault.ApplyThenClaimNotApplied };
        var history = new HistoryRecorder();
        var client = new RecordingClient(NewClient(server), history, 1);

        Assert.Equal(RecordedAs.Discarded, (await client.WriteAsync("k", "a")).As);
        server.FaultFor = null;
        Assert.Equal(new Recorded(RecordedAs.Known, "a", 1), await client.ReadAsync("k"));

        var result = LinearizabilityChecker.Check(history.Snapshot(), TimeSpan.FromSeconds(10));
        output.WriteLine(result.Describe());
        Assert.Equal(CheckOutcome.Violation, result.Outcome);
    }

    [Fact]
    public async Task Concurrent_workloads_under_every_fault_give_a_linearizable_history_with_no_unknown_left()
    {
        // Four clients on three keys; one call in five gets a fault. The fake is linearizable and keeps its
        // idempotency promises, so any violation would be the recorder's or the resolver's.
        using var server = new FakeCacheServer();
        var random = new Random(42);
        var gate = new Lock();
        FakeFault[] faults = [FakeFault.Refuse, FakeFault.ApplyThenTimeout, FakeFault.TimeoutWithoutApplying, FakeFault.ApplyThenReset];
        server.FaultFor = _ =>
        {
            lock (gate)
            {
                return random.Next(5) == 0 ? faults[random.Next(faults.Length)] : FakeFault.None;
            }
        };
        var history = new HistoryRecorder();
        var unknowns = new OutcomeResolver();
        string[] keys = ["x/0", "x/1", "x/2"];

        var issued = await Task.WhenAll(Enumerable.Range(0, 4).Select(c => Task.Run(() =>
            HistoryWorkload.RunAsync(c, NewClient(server, TimeSpan.FromMilliseconds(60)), keys, history, unknowns, CancellationToken.None, maxOperations: 150))));

        var unknownBefore = history.Snapshot().Count(o => !o.Known);
        server.FaultFor = null;
        using var http = server.Client();
        var (replayed, appliedNow, unresolved) = await unknowns.ResolveAsync(http, history, CancellationToken.None);

        // The final state joins the history.
        var final = new RecordingClient(NewClient(server), history, 100);
        foreach (var key in keys)
        {
            Assert.Equal(RecordedAs.Known, (await final.ReadAsync(key)).As);
        }

        var ops = history.Snapshot();
        var result = LinearizabilityChecker.Check(ops, TimeSpan.FromSeconds(30));
        output.WriteLine($"{issued.Sum()} operations issued, {ops.Count} in the history; {unknownBefore} unknown before resolving: {replayed} had taken effect, {appliedNow} had not, {unresolved} unresolved");
        output.WriteLine(result.Describe());
        Assert.Equal(CheckOutcome.Ok, result.Outcome);
        Assert.Equal(0, unresolved);
        Assert.True(replayed > 0 && appliedNow > 0, "both kinds of unknown outcome occurred");
        Assert.DoesNotContain(ops, o => !o.Known);
        Assert.True(ops.Count < issued.Sum() + keys.Length, "refused operations were discarded");
    }

    /// <summary>Always 421 not-leader, without a leader URL.</summary>
    private sealed class NotLeaderHandler : HttpMessageHandler
    {
        public int Requests;

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref Requests);
            return Task.FromResult(new HttpResponseMessage(System.Net.HttpStatusCode.MisdirectedRequest)
            {
                Content = new StringContent($"{{\"type\":\"{AspireCache.Contracts.ProblemTypes.NotLeader}\",\"title\":\"not leader\"}}", System.Text.Encoding.UTF8, "application/problem+json"),
            });
        }
    }
}

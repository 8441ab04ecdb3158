using System.Net;
using System.Security.Cryptography;
using System.Text;
using AspireCache.Node.Auth;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;

namespace AspireCache.Tests.InProcess;

/// <summary>A cluster whose node-to-node traffic is signed with a cluster secret (and accepts a previous one: rotation).</summary>
public sealed class ClusterSecretFixture : IAsyncLifetime
{
    public static readonly string Secret = NewSecret();
    public static readonly string PreviousSecret = NewSecret();

    public CapturingLoggerProvider Logs { get; } = new();

    public InProcessCluster Cluster { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Cluster = await InProcessCluster.StartAsync(
            new Dictionary<string, string?>
            {
                ["Cluster:Secret"] = Secret,
                ["Cluster:PreviousSecret"] = PreviousSecret,
                ["Logging:LogLevel:Default"] = "Trace",
                // Trace logging everywhere slows the nodes: longer timeouts keep spurious elections out of "leader unchanged".
                ["Cluster:LowerElectionTimeoutMs"] = "600",
                ["Cluster:UpperElectionTimeoutMs"] = "1200",
            },
            configureNode: builder =>
            {
                builder.Logging.AddProvider(Logs);
                builder.Logging.SetMinimumLevel(LogLevel.Trace);
            });
    }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();

    public static string NewSecret() => RandomNumberGenerator.GetString("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 32);
}

/// <summary>
/// Issue #13, "cluster traffic authenticated": forged, wrongly signed, replayed and stale Raft
/// messages are refused before DotNext sees them, and leader, term and log stay as they were.
/// </summary>
public sealed class ClusterAuthTests(ClusterSecretFixture fixture) : IClassFixture<ClusterSecretFixture>
{
    private const string RaftPath = "/cluster-consensus/raft";
    private InProcessCluster Cluster => fixture.Cluster;

    [Fact]
    public async Task A_cluster_with_a_secret_elects_a_leader_and_replicates_writes()
    {
        var leader = await Cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(30));
        using (var client = Cluster.Client(leader))
        {
            var put = await client.PutAsync("/cache/secret-cluster/k", new StringContent("v1"));
            Assert.True(put.IsSuccessStatusCode, $"PUT answered {(int)put.StatusCode}");
        }

        // Linearizable reads on the followers go through the signed /cluster/read-index.
        for (var i = 0; i < 3; i++)
        {
            using var client = Cluster.Client(i);
            var get = await client.GetAsync("/cache/secret-cluster/k");
            Assert.Equal(HttpStatusCode.OK, get.StatusCode);
            Assert.Equal("v1", await get.Content.ReadAsStringAsync());
        }
    }

    [Fact]
    public async Task Forged_Resign_RequestVote_and_AppendEntries_to_every_endpoint_of_every_node_are_refused_and_change_nothing()
    {
        var before = await StableAsync();
        string?[] signatures =
        [
            null,                                                                                   // no header at all
            "v1 ts=1;nonce=AAAAAAAAAAAAAAAAAAAAAA;sig=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", // well-formed, wrong
            "Bearer whatever",                                                                      // malformed
        ];
        for (var i = 0; i < 3; i++)
        {
            // The peer endpoint refuses an unauthenticated message (401); the client endpoint does not
            // serve Raft at all (404). Either way DotNext never sees it.
            foreach (var (url, refused) in new[] { (Cluster.PeerUrls[i], HttpStatusCode.Unauthorized), (Cluster.Urls[i], HttpStatusCode.NotFound) })
            {
                using var client = new HttpClient { BaseAddress = url };
                foreach (var signature in signatures)
                {
                    // On DotNext's path and on any other path (the message type decides for DotNext).
                    foreach (var path in new[] { RaftPath, "/cache/x", "/" })
                    {
                        foreach (var (type, term) in new[] { ("Resign", before.Term), ("RequestVote", before.Term + 1000), ("AppendEntries", before.Term + 1000) })
                        {
                            using var forged = RaftRequest(path, type, term);
                            if (signature is not null)
                            {
                                forged.Headers.TryAddWithoutValidation(ClusterSignature.HeaderName, signature);
                            }

                            var response = await client.SendAsync(forged);
                            Assert.Equal(refused, response.StatusCode);
                            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
                        }
                    }
                }

                // The node-to-node endpoints too.
                Assert.Equal(refused, (await client.PostAsync("/cluster/read-index", new StringContent(""))).StatusCode);
                Assert.Equal(refused, (await client.PostAsync("/cluster/access", new StringContent("[\"k\"]", Encoding.UTF8, "application/json"))).StatusCode);
            }
        }

        await AssertUnchangedAsync(before);
        Assert.Contains(fixture.Logs.Lines, l => l.Contains("Refused node-to-node request", StringComparison.Ordinal) && l.Contains("bad_signature", StringComparison.Ordinal));
        Assert.Contains(fixture.Logs.Lines, l => l.Contains("Refused node-to-node request", StringComparison.Ordinal) && l.Contains("missing", StringComparison.Ordinal));
        Assert.Contains(fixture.Logs.Lines, l => l.Contains("Refused node-to-node request", StringComparison.Ordinal) && l.Contains("client endpoint", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_cluster_endpoint_serves_no_client_request_and_the_client_endpoint_reports_client_urls()
    {
        var before = await StableAsync();
        var leader = Array.IndexOf(InProcessCluster.Ids, before.LeaderId);
        using (var peer = new HttpClient { BaseAddress = Cluster.PeerUrls[leader] })
        {
            peer.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "whatever");
            foreach (var path in new[] { "/cache/secret-cluster/k", "/cluster/status", "/admin/snapshot" })
            {
                var response = await peer.GetAsync(path);
                Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
                Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            }

            var put = await peer.PutAsync("/cache/secret-cluster/peer-write", new StringContent("no"));
            Assert.Equal(HttpStatusCode.NotFound, put.StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await peer.GetAsync("/health")).StatusCode);
        }

        // Clients are only ever told the client endpoints: in the status, and in a 421's Leader-Url.
        var status = await Cluster.StatusAsync((leader + 1) % 3);
        Assert.Equal(Cluster.Urls[leader], status.LeaderUrl);
        Assert.All(status.Members, m => Assert.Equal(Cluster.Urls[Array.IndexOf(InProcessCluster.Ids, m.Id)], m.Url));
        await AssertUnchangedAsync(before);
    }

    [Fact]
    public async Task A_replayed_signed_request_is_refused()
    {
        var before = await StableAsync();
        var follower = Enumerable.Range(0, 3).First(i => InProcessCluster.Ids[i] != before.LeaderId);

        // A PreVote changes no state; signed with the secret it is accepted once, never twice.
        using var client = new HttpClient { BaseAddress = Cluster.PeerUrls[follower] };
        var header = Sign(ClusterSecretFixture.Secret, RaftPath, "PreVote", before.Term, DateTimeOffset.UtcNow);
        using (var first = RaftRequest(RaftPath, "PreVote", before.Term))
        {
            first.Headers.TryAddWithoutValidation(ClusterSignature.HeaderName, header);
            var response = await client.SendAsync(first);
            Assert.NotEqual(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        using (var replay = RaftRequest(RaftPath, "PreVote", before.Term))
        {
            replay.Headers.TryAddWithoutValidation(ClusterSignature.HeaderName, header);
            Assert.Equal(HttpStatusCode.Unauthorized, (await client.SendAsync(replay)).StatusCode);
        }

        // The same signature on a different message (a Resign to the leader) does not verify either.
        using (var reused = RaftRequest(RaftPath, "Resign", before.Term))
        {
            reused.Headers.TryAddWithoutValidation(ClusterSignature.HeaderName, header);
            using var toLeader = new HttpClient { BaseAddress = Cluster.PeerUrls[Array.IndexOf(InProcessCluster.Ids, before.LeaderId)] };
            Assert.Equal(HttpStatusCode.Unauthorized, (await toLeader.SendAsync(reused)).StatusCode);
        }

        await AssertUnchangedAsync(before);
        Assert.Contains(fixture.Logs.Lines, l => l.Contains("Refused node-to-node request", StringComparison.Ordinal) && l.Contains("replayed", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_stale_or_future_timestamp_is_refused()
    {
        var before = await StableAsync();
        var follower = Enumerable.Range(0, 3).First(i => InProcessCluster.Ids[i] != before.LeaderId);
        using var client = new HttpClient { BaseAddress = Cluster.PeerUrls[follower] };
        foreach (var offset in new[] { TimeSpan.FromSeconds(-45), TimeSpan.FromSeconds(45) })
        {
            using var request = RaftRequest(RaftPath, "PreVote", before.Term);
            request.Headers.TryAddWithoutValidation(ClusterSignature.HeaderName, Sign(ClusterSecretFixture.Secret, RaftPath, "PreVote", before.Term, DateTimeOffset.UtcNow + offset));
            Assert.Equal(HttpStatusCode.Unauthorized, (await client.SendAsync(request)).StatusCode);
        }

        Assert.Contains(fixture.Logs.Lines, l => l.Contains("Refused node-to-node request", StringComparison.Ordinal) && l.Contains("stale", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Both_secrets_are_valid_during_rotation_and_no_other()
    {
        var before = await StableAsync();
        var follower = Enumerable.Range(0, 3).First(i => InProcessCluster.Ids[i] != before.LeaderId);
        using var client = new HttpClient { BaseAddress = Cluster.PeerUrls[follower] };
        foreach (var (secret, accepted) in new[] { (ClusterSecretFixture.Secret, true), (ClusterSecretFixture.PreviousSecret, true), (ClusterSecretFixture.NewSecret(), false) })
        {
            using var request = RaftRequest(RaftPath, "PreVote", before.Term);
            request.Headers.TryAddWithoutValidation(ClusterSignature.HeaderName, Sign(secret, RaftPath, "PreVote", before.Term, DateTimeOffset.UtcNow));
            var status = (await client.SendAsync(request)).StatusCode;
            if (accepted)
            {
                Assert.NotEqual(HttpStatusCode.Unauthorized, status);
            }
            else
            {
                Assert.Equal(HttpStatusCode.Unauthorized, status);
            }
        }

        // The node-to-node endpoints accept a signed call (an empty access report).
        using var access = new HttpRequestMessage(HttpMethod.Post, "/cluster/access") { Content = new StringContent("[]", Encoding.UTF8, "application/json") };
        access.Headers.TryAddWithoutValidation(ClusterSignature.HeaderName, ClusterSignature.Create(Encoding.UTF8.GetBytes(ClusterSecretFixture.PreviousSecret), "POST", "/cluster/access", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), Nonce(), "2", []));
        Assert.True((await client.SendAsync(access)).IsSuccessStatusCode);
    }

    [Fact]
    public async Task A_node_that_fell_behind_catches_up_by_a_signed_InstallSnapshot()
    {
        // Its own cluster: a follower is stopped while the leader compacts its log, so it needs the
        // snapshot (streamed, never buffered for signing) when it comes back.
        var logs = new CapturingLoggerProvider();
        await using var cluster = await InProcessCluster.StartAsync(
            new Dictionary<string, string?>
            {
                ["Cluster:Secret"] = ClusterSecretFixture.Secret,
                ["Cluster:SnapshotInterval"] = "5",
                ["Logging:LogLevel:Default"] = "Warning",
            },
            configureNode: builder => builder.Logging.AddProvider(logs));
        var leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(30));
        var follower = (leader + 1) % 3;
        await cluster.StopNodeAsync(follower);
        var value = new string('x', 16 * 1024);
        using (var client = cluster.Client(leader))
        {
            for (var i = 0; i < 60; i++)
            {
                (await client.PutAsync($"/cache/snap/{i}", new StringContent(value + i))).EnsureSuccessStatusCode();
            }
        }

        await cluster.StartNodeAsync(follower);
        using var restarted = cluster.Client(follower);
        for (var i = 0; i < 60; i++)
        {
            Assert.Equal(value + i, await restarted.GetStringAsync($"/cache/snap/{i}"));
        }

        Assert.True((await cluster.StatusAsync(follower)).SnapshotIndex > 0);
        Assert.DoesNotContain(logs.Lines, l => l.Contains("Refused node-to-node request", StringComparison.Ordinal));
    }

    [Fact]
    public void No_secret_appears_in_any_log_line()
    {
        Assert.NotEmpty(fixture.Logs.Lines);
        Assert.DoesNotContain(fixture.Logs.Lines, l => l.Contains(ClusterSecretFixture.Secret, StringComparison.Ordinal) || l.Contains(ClusterSecretFixture.PreviousSecret, StringComparison.Ordinal));
    }

    /// <summary>A Raft message as DotNext sends it (headers only; the id is a 28-byte member id in hex).</summary>
    private static HttpRequestMessage RaftRequest(string path, string type, long term) => new(HttpMethod.Post, path)
    {
        Headers =
        {
            { "X-Raft-Message-Type", type },
            { "X-Raft-Node-ID", Convert.ToHexString(new byte[28]) },
            { "X-Request-ID", "forged-" + type },
            { "X-Raft-Term", term.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            { "X-Raft-Record-Index", "1000000" },
            { "X-Raft-Record-Term", term.ToString(System.Globalization.CultureInfo.InvariantCulture) },
        },
        Content = new ByteArrayContent([]),
    };

    private static string Sign(string secret, string path, string type, long term, DateTimeOffset at)
    {
        using var shape = RaftRequest(path, type, term);
        var headers = shape.Headers.Select(h => KeyValuePair.Create(h.Key, string.Join(", ", h.Value)));
        return ClusterSignature.Create(Encoding.UTF8.GetBytes(secret), "POST", path, at.ToUnixTimeMilliseconds(), Nonce(), "0", headers);
    }

    private static string Nonce() => System.Buffers.Text.Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(16));

    private async Task<ClusterStatusResponse> StableAsync()
    {
        var leader = await Cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(30));
        return await Cluster.StatusAsync(leader);
    }

    private async Task AssertUnchangedAsync(ClusterStatusResponse before)
    {
        await Task.Delay(1_500); // a deposed leader would show: no leader yet, or a new term
        for (var i = 0; i < 3; i++)
        {
            var status = await Cluster.StatusAsync(i);
            if (status.LeaderId != before.LeaderId)
            {
                foreach (var line in fixture.Logs.Lines.Where(l => l.Contains("Refused node-to-node", StringComparison.Ordinal) || l.Contains("Leader changed", StringComparison.Ordinal) || l.Contains("Resign", StringComparison.OrdinalIgnoreCase)).Take(60))
                {
                    Console.WriteLine("DBG " + line);
                }
            }

            Assert.Equal(before.LeaderId, status.LeaderId);
            Assert.Equal(before.Term, status.Term);
            Assert.True(status.LastIndex >= before.LastIndex);
        }
    }
}

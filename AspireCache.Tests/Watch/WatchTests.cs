using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using AspireCache.Node.Api;
using AspireCache.Node.Watch;
using AspireCache.Tests.InProcess;

namespace AspireCache.Tests.Watch;

/// <summary>
/// <c>GET /cache/watch</c> over real HTTP on a real cluster: what a consumer replays is the state,
/// the start point is linearizable, progress vouches for acknowledged writes, history has bounds
/// that are told, and a consumer that does not read is cut off without hurting anyone else.
/// </summary>
[Collection(InProcessCollection.Name)]
public sealed class WatchTests(WatchClusterFixture fixture) : IClassFixture<WatchClusterFixture>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private InProcessCluster Cluster => fixture.Cluster;

    private async Task<(HttpClient Leader, HttpClient Follower, int FollowerIndex)> ClientsAsync()
    {
        var leader = await Cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        var follower = (leader + 1) % 3;
        return (Cluster.Client(leader), Cluster.Client(follower), follower);
    }

    private static async Task<long> PutAsync(HttpClient client, string key, string value, string query = "")
    {
        using var response = await client.PutAsync($"/cache/{key}{query}", new StringContent(value));
        Assert.True(response.IsSuccessStatusCode, $"PUT {key}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return long.Parse(response.Headers.ETag!.Tag.Trim('"'), System.Globalization.CultureInfo.InvariantCulture);
    }

    private static async Task<ListResponse> ListAsync(HttpClient client, string prefix)
    {
        var page = await client.GetFromJsonAsync<ListResponse>($"/cache?prefix={Uri.EscapeDataString(prefix)}&limit=1000");
        Assert.Null(page!.Next);
        return page;
    }

    [Fact]
    public async Task A_consumer_replaying_the_stream_onto_a_list_ends_with_exactly_the_state_under_puts_deletes_batches_cas_expiries_and_evictions()
    {
        var (leader, follower, _) = await ClientsAsync();
        using var l = leader;
        using var f = follower;
        const string prefix = "replay/";
        for (var i = 0; i < 5; i++)
        {
            await PutAsync(leader, $"{prefix}seed/{i}", $"seed-{i}");
        }

        // List, then watch from the list's revision, on a follower.
        var listed = await ListAsync(follower, prefix);
        var state = listed.Items.ToDictionary(i => i.Key, i => Convert.FromBase64String(i.Value!));
        await using var stream = await SseStream.OpenAsync(follower, $"/cache/watch?prefix={prefix}&afterRevision={listed.Revision}", token: CancellationToken.None);
        var types = new HashSet<string>();
        var lastRevision = listed.Revision;
        var consumer = Task.Run(async () =>
        {
            while (await stream.NextAsync(CancellationToken.None) is { } e)
            {
                if (e.Type == "progress")
                {
                    continue;
                }

                Assert.True(e.Revision >= lastRevision, $"out of order: {e.Revision} after {lastRevision}");
                Assert.True(e.Revision > listed.Revision, "an event at or below the list's revision was delivered again");
                lastRevision = e.Revision;
                types.Add(e.Type);
                lock (state)
                {
                    if (e.Type == "put")
                    {
                        state[e.Key] = e.Value!;
                    }
                    else
                    {
                        Assert.True(state.Remove(e.Key), $"{e.Type} of {e.Key}, which the consumer never had");
                    }
                }
            }
        });

        var random = new Random(1234);
        var big = new string('b', 30_000); // ~25 of these exceed the 400 kB budget
        for (var op = 0; op < 150; op++)
        {
            var key = $"{prefix}k/{random.Next(20)}";
            switch (random.Next(6))
            {
                case 0:
                    await PutAsync(leader, key, $"v{op}");
                    break;
                case 1:
                    await leader.DeleteAsync($"/cache/{key}");
                    break;
                case 2:
                    var batch = new BatchRequest
                    {
                        Set = new() { [$"{prefix}b/{random.Next(10)}"] = Convert.ToBase64String(Encoding.UTF8.GetBytes($"b{op}")), [$"{prefix}b/{random.Next(10)}"] = Convert.ToBase64String(Encoding.UTF8.GetBytes($"c{op}")) },
                        Delete = [$"{prefix}k/{random.Next(20)}"],
                    };
                    (await leader.PostAsJsonAsync("/cache/batch", batch)).EnsureSuccessStatusCode();
                    break;
                case 3:
                    using (var current = await leader.GetAsync($"/cache/{key}"))
                    {
                        var cas = new HttpRequestMessage(HttpMethod.Put, $"/cache/{key}") { Content = new StringContent($"cas{op}") };
                        if (current.Headers.ETag is { } etag)
                        {
                            cas.Headers.IfMatch.Add(etag);
                        }
                        else
                        {
                            cas.Headers.IfNoneMatch.ParseAdd("*");
                        }

                        await leader.SendAsync(cas);
                    }

                    break;
                case 4:
                    await PutAsync(leader, $"{prefix}ttl/{op}", "short-lived", "?ttl=200ms");
                    break;
                default:
                    await PutAsync(leader, $"{prefix}big/{op}", big); // over the memory budget: the leader evicts
                    break;
            }
        }

        // Quiet: the TTLs pass and the leader removes those keys (and evicts what it must) through the log.
        var deadline = DateTime.UtcNow + Timeout;
        while (true)
        {
            var final = await ListAsync(follower, prefix);
            var progress = await RequestProgressAsync(follower, stream.StreamId);
            await Poll.UntilAsync(() => Volatile.Read(ref lastRevision) >= progress || consumer.IsCompleted, Timeout);
            Dictionary<string, byte[]> snapshot;
            lock (state)
            {
                snapshot = new Dictionary<string, byte[]>(state);
            }

            // A list hides expired keys at once; the consumer drops them when the leader's removal
            // arrives (a near cache hides them at expiresAt, as the list does). Settled = both agree.
            var settled = progress == final.Revision
                && types.Contains("evict")
                && !final.Items.Any(i => i.Key.StartsWith(prefix + "ttl/", StringComparison.Ordinal))
                && !snapshot.Keys.Any(k => k.StartsWith(prefix + "ttl/", StringComparison.Ordinal));
            if (settled || DateTime.UtcNow > deadline)
            {
                Assert.True(settled, "the cluster did not settle (expiries pending)");
                Assert.Equal(final.Items.Select(i => i.Key).Order(StringComparer.Ordinal), snapshot.Keys.Order(StringComparer.Ordinal));
                foreach (var item in final.Items)
                {
                    Assert.Equal(Convert.FromBase64String(item.Value!), snapshot[item.Key]);
                }

                break;
            }

            await Task.Delay(200);
        }

        Assert.Superset(new HashSet<string> { "put", "delete", "expire", "evict" }, types);
    }

    [Fact]
    public async Task The_start_point_is_linearizable_a_write_acknowledged_before_the_watch_is_not_delivered_one_after_it_is()
    {
        var (leader, follower, _) = await ClientsAsync();
        using var l = leader;
        using var f = follower;
        var before = await PutAsync(leader, "start/before", "1");

        await using var stream = await SseStream.OpenAsync(follower, "/cache/watch?prefix=start/");
        var first = await stream.NextAsync(CancellationToken.None);
        Assert.Equal("progress", first!.Type);
        Assert.True(long.Parse(first.Id!, System.Globalization.CultureInfo.InvariantCulture) >= before, "the start revision must cover the write acknowledged before the watch");

        var after = await PutAsync(leader, "start/after", "2");
        var events = await stream.ReadUntilAsync(e => e.Type == "put", Timeout);
        var put = events[^1];
        Assert.Equal("start/after", put.Key);
        Assert.Equal(after, put.Revision);
        Assert.Equal(after.ToString(System.Globalization.CultureInfo.InvariantCulture), put.Id);
        Assert.DoesNotContain(events, e => e.Type == "put" && e.Key == "start/before");
    }

    [Fact]
    public async Task An_on_demand_progress_request_answers_with_a_revision_covering_every_acknowledged_write_and_the_stream_sends_it()
    {
        var (leader, follower, _) = await ClientsAsync();
        using var l = leader;
        using var f = follower;
        await using var stream = await SseStream.OpenAsync(follower, "/cache/watch?prefix=progress/&values=false");
        await stream.NextAsync(CancellationToken.None);
        var written = await PutAsync(leader, "elsewhere/x", "not watched"); // acknowledged, not matching the stream

        var revision = await RequestProgressAsync(follower, stream.StreamId);

        Assert.True(revision >= written);
        var events = await stream.ReadUntilAsync(e => e.Type == "progress" && long.Parse(e.Id!, System.Globalization.CultureInfo.InvariantCulture) >= revision, Timeout);
        Assert.DoesNotContain(events, e => e.Type == "put");
        using var unknown = await follower.PostAsync("/cache/watch/node9.1-1/progress", null);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal("application/problem+json", unknown.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Only_the_last_event_of_a_batch_carries_the_resume_id_and_values_false_leaves_values_out()
    {
        var (leader, follower, _) = await ClientsAsync();
        using var l = leader;
        using var f = follower;
        await using var stream = await SseStream.OpenAsync(follower, "/cache/watch?prefix=batch-ids/&values=false");
        await stream.NextAsync(CancellationToken.None);
        var batch = new BatchRequest { Set = new() { ["batch-ids/a"] = "YQ==", ["batch-ids/b"] = "Yg==", ["batch-ids/c"] = "Yw==" } };
        var answer = await (await leader.PostAsJsonAsync("/cache/batch", batch)).Content.ReadFromJsonAsync<BatchResponse>();

        var events = await stream.ReadUntilAsync(e => e.Id is not null && e.Type == "put", Timeout);

        Assert.Equal(3, events.Count);
        Assert.All(events, e => Assert.Equal(answer!.Version, e.Revision));
        Assert.Equal([null, null, answer!.Version.ToString(System.Globalization.CultureInfo.InvariantCulture)], events.Select(e => e.Id));
        Assert.All(events, e => Assert.False(e.Json.TryGetProperty("value", out _)));
        Assert.All(events, e => Assert.Equal(1, e.Json.GetProperty("size").GetInt32()));
    }

    [Fact]
    public async Task A_resume_point_older_than_the_history_answers_410_with_the_oldest_and_current_revision()
    {
        var (leader, follower, _) = await ClientsAsync();
        using var l = leader;
        using var f = follower;
        var start = (await ListAsync(follower, "gone/")).Revision;
        for (var b = 0; b < 5; b++)
        {
            var batch = new BatchRequest { Set = Enumerable.Range(0, 100).ToDictionary(i => $"gone/{b}/{i}", _ => "eA==") };
            (await leader.PostAsJsonAsync("/cache/batch", batch)).EnsureSuccessStatusCode();
        }

        await RequestProgressAsync(follower, null); // the follower has applied them

        using var response = await follower.GetAsync($"/cache/watch?prefix=gone/&afterRevision={start}");
        Assert.Equal(HttpStatusCode.Gone, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        var oldest = problem.GetProperty("oldestRevision").GetInt64();
        Assert.True(oldest > start);
        Assert.True(problem.GetProperty("currentRevision").GetInt64() >= oldest);

        // The oldest accepted revision itself is served.
        await using var resumed = await SseStream.OpenAsync(follower, $"/cache/watch?prefix=gone/&afterRevision={oldest}");
        Assert.Equal("progress", (await resumed.NextAsync(CancellationToken.None))!.Type);
    }

    [Fact]
    public async Task Bad_watch_requests_get_400_problems()
    {
        var (leader, follower, _) = await ClientsAsync();
        using var l = leader;
        using var f = follower;
        foreach (var query in new[] { "", "?prefix=a&afterRevision=x", "?key=", "?prefix=a&values=maybe", "?prefix=a&progressIntervalMs=1", "?prefix=a&afterRevision=99999999999" })
        {
            using var response = await follower.GetAsync($"/cache/watch{query}");
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{query}: {(int)response.StatusCode}");
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        }

        using var reserved = await leader.PutAsync("/cache/watch", new StringContent("x"));
        Assert.Equal(HttpStatusCode.BadRequest, reserved.StatusCode);
    }

    [Fact]
    public async Task A_consumer_that_never_reads_is_closed_and_the_other_watchers_and_writes_are_unaffected()
    {
        var (leader, follower, followerIndex) = await ClientsAsync();
        using var l = leader;
        using var f = follower;
        var hub = Cluster.Service<WatchHub>(followerIndex);
        var before = hub.Count;
        using var stuckClient = Cluster.Client(followerIndex);
        using var stuck = await stuckClient.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/cache/watch?prefix=slow/"), HttpCompletionOption.ResponseHeadersRead);
        await using var reader = await SseStream.OpenAsync(follower, "/cache/watch?prefix=slow/&values=false");
        await reader.NextAsync(CancellationToken.None);
        Assert.Equal(before + 2, hub.Count);

        // 60 KB a write, one key: the stuck consumer's socket fills, then its buffer.
        var value = new string('s', 60_000);
        long last = 0;
        var elapsed = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; i < 400 && hub.Count > before + 1; i++)
        {
            last = await PutAsync(leader, "slow/x", value);
        }

        Assert.Equal(before + 1, hub.Count); // the stuck one was closed
        var events = await reader.ReadUntilAsync(e => e.Type == "put" && e.Revision == last, Timeout);
        Assert.DoesNotContain(events, e => e.Type == "error");
        Assert.True(elapsed.Elapsed < TimeSpan.FromSeconds(30), $"writes took {elapsed.Elapsed}");
    }

    [Fact]
    public async Task Through_the_router_a_stream_is_served_by_a_node_and_progress_requests_reach_that_node()
    {
        using var router = fixture.Router.Client();
        var (leader, _, _) = await ClientsAsync();
        using var l = leader;
        await using var stream = await SseStream.OpenAsync(router, "/cache/watch?key=routed/x");
        await stream.NextAsync(CancellationToken.None);
        var written = await PutAsync(router, "routed/x", "via router");
        var put = (await stream.ReadUntilAsync(e => e.Type == "put", Timeout))[^1];
        Assert.Equal(written, put.Revision);

        var revision = await RequestProgressAsync(router, stream.StreamId);
        Assert.True(revision >= written);
        await stream.ReadUntilAsync(e => e.Type == "progress" && long.Parse(e.Id!, System.Globalization.CultureInfo.InvariantCulture) >= revision, Timeout);
    }

    [Fact]
    public async Task As_deployed_the_cluster_and_router_enforce_authentication_and_events_name_the_writer()
    {
        // In-process clusters run with client authentication on by default (InProcessCluster.HasDefaultCredentials).
        Assert.True(Cluster.HasDefaultCredentials);
        var leaderIndex = await Cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        using (var anonymous = Cluster.Client(leaderIndex, credential: null))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.PutAsync("/cache/default-auth/anonymous", new StringContent("x"))).StatusCode);
            Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/cache/default-auth/anonymous")).StatusCode);
        }

        using (var anonymous = fixture.Router.Client(credential: null))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/cache/default-auth/anonymous")).StatusCode);
        }

        using (var routerKey = Cluster.Client(leaderIndex, InProcessCluster.DefaultRouterKey))
        {
            Assert.Equal(HttpStatusCode.Forbidden, (await routerKey.PutAsync("/cache/default-auth/router", new StringContent("x"))).StatusCode); // read only
        }

        // The default client sends the admin key: its writes are recorded as "admin".
        using var router = fixture.Router.Client();
        await using var stream = await SseStream.OpenAsync(router, "/cache/watch?key=default-auth/k");
        await stream.NextAsync(CancellationToken.None);
        await PutAsync(router, "default-auth/k", "v");
        var put = (await stream.ReadUntilAsync(e => e.Type == "put", Timeout))[^1];
        Assert.Equal("admin", put.Json.GetProperty("writer").GetString());
    }

    /// <summary>A leader-confirmed revision: on a stream when given, else from a throwaway stream.</summary>
    private static async Task<long> RequestProgressAsync(HttpClient client, string? streamId)
    {
        if (streamId is null)
        {
            await using var probe = await SseStream.OpenAsync(client, "/cache/watch?key=probe");
            return long.Parse((await probe.NextAsync(CancellationToken.None))!.Id!, System.Globalization.CultureInfo.InvariantCulture);
        }

        using var response = await client.PostAsync($"/cache/watch/{streamId}/progress", null);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<ProgressResponse>())!.Revision;
    }
}

using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using AspireCache.Node.Api;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;

namespace AspireCache.Tests.Integration;

/// <summary>What users observe through the router and on each node of the real, Aspire-run cluster.</summary>
[Collection(AspireCollection.Name)]
public sealed class ClusterBehaviourTests(AspireAppFixture fixture)
{
    [Fact]
    public async Task A_write_through_the_router_is_read_at_once_from_every_node_200_times()
    {
        var nodes = AspireAppFixture.Nodes.Select(fixture.Node).ToArray();
        var stale = new List<string>();
        for (var i = 0; i < 200; i++)
        {
            var value = $"value-{i}";
            var put = await fixture.Router.PutAsync("/cache/it/linearizable", new StringContent(value));
            Assert.True(put.IsSuccessStatusCode, $"write {i} failed: {(int)put.StatusCode}");
            for (var n = 0; n < nodes.Length; n++)
            {
                var read = await nodes[n].GetStringAsync("/cache/it/linearizable");
                if (read != value)
                {
                    stale.Add($"write {i}: {AspireAppFixture.Nodes[n]} returned {read}");
                }
            }
        }

        Assert.Empty(stale);
    }

    [Fact]
    public async Task Stale_reads_may_lag_but_never_go_backwards()
    {
        var nodes = AspireAppFixture.Nodes.Select(fixture.Node).ToArray();
        var lastSeen = new long[nodes.Length];
        using var writing = new CancellationTokenSource();
        var writer = Task.Run(async () =>
        {
            for (var i = 1; i <= 100 && !writing.IsCancellationRequested; i++)
            {
                await fixture.Router.PutAsync("/cache/it/monotonic", new StringContent(i.ToString(CultureInfo.InvariantCulture)));
            }
        });

        var backwards = new List<string>();
        while (!writer.IsCompleted)
        {
            for (var n = 0; n < nodes.Length; n++)
            {
                var response = await nodes[n].GetAsync("/cache/it/monotonic?consistent=false");
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    continue;
                }

                Assert.Equal("stale", response.Headers.GetValues(CacheApi.ConsistencyHeader).Single());
                var value = long.Parse(await response.Content.ReadAsStringAsync(), CultureInfo.InvariantCulture);
                if (value < lastSeen[n])
                {
                    backwards.Add($"{AspireAppFixture.Nodes[n]}: {lastSeen[n]} then {value}");
                }

                lastSeen[n] = value;
            }
        }

        await writer;
        Assert.Empty(backwards);
    }

    [Fact]
    public async Task A_batch_applies_all_of_its_changes_or_none()
    {
        (await fixture.Router.PutAsync("/cache/it/batch/old", new StringContent("old"))).EnsureSuccessStatusCode();

        var ok = await fixture.Router.PostAsync("/cache/batch", Json("""{"set":{"it/batch/a":"QQ==","it/batch/b":"Qg=="},"delete":["it/batch/old"]}"""));
        var rejected = await fixture.Router.PostAsync("/cache/batch", Json("""{"set":{"it/batch/c":"Qw==","bad\u0001key":"RA=="}}"""));

        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        var version = (await ok.Content.ReadFromJsonAsync<BatchResponse>())!.Version;
        Assert.Equal(HttpStatusCode.BadRequest, rejected.StatusCode);
        foreach (var node in AspireAppFixture.Nodes.Select(fixture.Node))
        {
            var a = await node.GetAsync("/cache/it/batch/a");
            var b = await node.GetAsync("/cache/it/batch/b");
            Assert.Equal("A", await a.Content.ReadAsStringAsync());
            Assert.Equal("B", await b.Content.ReadAsStringAsync());
            Assert.Equal(CacheApi.ETag(version), a.Headers.ETag!.Tag);
            Assert.Equal(CacheApi.ETag(version), b.Headers.ETag!.Tag);
            Assert.Equal(HttpStatusCode.NotFound, (await node.GetAsync("/cache/it/batch/old")).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await node.GetAsync("/cache/it/batch/c")).StatusCode);
        }
    }

    [Fact]
    public async Task Rejected_requests_get_problem_details_and_change_nothing()
    {
        var before = await RevisionsAsync();

        var invalidKey = await fixture.Router.PutAsync("/cache/bad%01key", new StringContent("x"));
        var longKey = await fixture.Router.PutAsync($"/cache/{new string('k', 513)}", new StringContent("x"));
        var tooLarge = await fixture.Router.PutAsync("/cache/it/too-large", new ByteArrayContent(new byte[(1024 * 1024) + 1]));
        var tooManyKeys = await fixture.Router.PostAsync("/cache/batch", Json(
            "{\"delete\":[" + string.Join(',', Enumerable.Range(0, 1001).Select(i => $"\"k{i}\"")) + "]}"));
        var malformed = await fixture.Router.PostAsync("/cache/batch", Json("{not json"));

        Assert.Equal(HttpStatusCode.BadRequest, invalidKey.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, longKey.StatusCode);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooLarge.StatusCode);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooManyKeys.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, malformed.StatusCode);
        foreach (var response in new[] { invalidKey, longKey, tooLarge, tooManyKeys, malformed })
        {
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            var body = await response.Content.ReadAsStringAsync();
            Assert.DoesNotContain("   at ", body, StringComparison.Ordinal);
        }

        Assert.Equal(before, await RevisionsAsync());
        Assert.Equal(HttpStatusCode.NotFound, (await fixture.Router.GetAsync("/cache/it/too-large")).StatusCode);
    }

    [Fact]
    public async Task A_restarted_node_rejoins_with_its_data_and_catches_up()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        (await fixture.Router.PutAsync("/cache/it/restart/before", new StringContent("before"))).EnsureSuccessStatusCode();
        var victim = "node3";

        // DCP may report a slow stop as failed while the process is in fact going away: judge by
        // what a client sees (the port refuses connections), then start it again.
        await fixture.ExecuteAsync(victim, KnownResourceCommands.StopCommand, timeout.Token);
        await WaitUntilDownAsync(victim, timeout.Token);
        await PutWithRetryAsync("/cache/it/restart/during", "during", timeout.Token);

        await fixture.StartAndWaitHealthyAsync(victim, timeout.Token);

        using var node = fixture.Node(victim);
        Assert.Equal("before", await node.GetStringAsync("/cache/it/restart/before", timeout.Token));
        Assert.Equal("during", await node.GetStringAsync("/cache/it/restart/during", timeout.Token));
    }

    /// <summary>The node's port refuses connections: the process is gone.</summary>
    private async Task WaitUntilDownAsync(string node, CancellationToken token)
    {
        using var client = fixture.Node(node);
        client.Timeout = TimeSpan.FromSeconds(2);
        while (true)
        {
            try
            {
                await client.GetAsync("/alive", token);
            }
            catch (HttpRequestException)
            {
                return;
            }
            catch (TaskCanceledException) when (!token.IsCancellationRequested)
            {
            }

            await Task.Delay(100, token);
        }
    }

    private async Task PutWithRetryAsync(string path, string value, CancellationToken token)
    {
        while (true)
        {
            var response = await fixture.Router.PutAsync(path, new StringContent(value), token);
            if (response.IsSuccessStatusCode)
            {
                return;
            }

            await Task.Delay(100, token);
        }
    }

    private async Task<long[]> RevisionsAsync()
    {
        var revisions = new long[AspireAppFixture.Nodes.Length];
        for (var i = 0; i < revisions.Length; i++)
        {
            using var node = fixture.Node(AspireAppFixture.Nodes[i]);
            // A linearizable read first, so every node has applied everything acknowledged.
            await node.GetAsync("/cache/it/sync");
            revisions[i] = (await node.GetFromJsonAsync<ClusterStatusResponse>("/cluster/status"))!.Revision;
        }

        return revisions;
    }

    [Fact]
    public async Task Unsigned_Raft_messages_are_refused_by_every_node_and_the_leader_and_term_stay()
    {
        // The AppHost gives every node the generated cluster secret; a forger without it is refused before DotNext.
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var leader = await fixture.LeaderAsync(cts.Token);
        using var leaderClient = fixture.Node(leader);
        var before = (await leaderClient.GetFromJsonAsync<ClusterStatusResponse>("/cluster/status", cts.Token))!;
        // Both endpoints of every node: the cluster endpoint refuses an unsigned message (401), the
        // client endpoint does not serve Raft at all (404).
        foreach (var (node, endpoint, withClientKey) in AspireAppFixture.Nodes.SelectMany(n => new[] { (n, "cluster", false), (n, "cluster", true), (n, "http", false), (n, "http", true) }))
        {
            var refused = endpoint == "cluster" ? HttpStatusCode.Unauthorized : HttpStatusCode.NotFound;

            // A client key (even the admin one) is no cluster credential.
            using var client = fixture.NewClient(fixture.App.GetEndpoint(node, endpoint), authenticated: withClientKey);
            foreach (var (type, term) in new[] { ("Resign", before.Term), ("RequestVote", before.Term + 1000), ("AppendEntries", before.Term + 1000) })
            {
                using var forged = new HttpRequestMessage(HttpMethod.Post, "/cluster-consensus/raft") { Content = new ByteArrayContent([]) };
                forged.Headers.Add("X-Raft-Message-Type", type);
                forged.Headers.Add("X-Raft-Node-ID", Convert.ToHexString(new byte[28]));
                forged.Headers.Add("X-Request-ID", "forged");
                forged.Headers.Add("X-Raft-Term", term.ToString(CultureInfo.InvariantCulture));
                forged.Headers.Add("X-Raft-Record-Index", "1000000");
                forged.Headers.Add("X-Raft-Record-Term", term.ToString(CultureInfo.InvariantCulture));
                var response = await client.SendAsync(forged, cts.Token);
                Assert.Equal(refused, response.StatusCode);
            }

            Assert.Equal(refused, (await client.PostAsync("/cluster/read-index", new StringContent(""), cts.Token)).StatusCode);
        }

        await Task.Delay(1_500, cts.Token);
        var after = (await leaderClient.GetFromJsonAsync<ClusterStatusResponse>("/cluster/status", cts.Token))!;
        Assert.Equal((before.LeaderId, before.Term), (after.LeaderId, after.Term));

        // And the cluster, whose own Raft traffic is signed, still takes writes.
        Assert.True((await fixture.Router.PutAsync("/cache/it/after-forgery", new StringContent("ok"), cts.Token)).IsSuccessStatusCode);
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");
}

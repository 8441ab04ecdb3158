using System.Net;
using System.Net.Http.Json;
using AspireCache.Node.Api;

namespace AspireCache.Tests.InProcess;

/// <summary>Compare-and-set, conditional GET, TTL and prefix listing over real HTTP on a real cluster.</summary>
[Collection(InProcessCollection.Name)]
public sealed class CacheFeatureTests(StableClusterFixture fixture) : IClassFixture<StableClusterFixture>
{
    private InProcessCluster Cluster => fixture.Cluster;

    [Fact]
    public async Task Many_clients_racing_a_compare_and_set_produce_exactly_one_winner()
    {
        var leader = await Cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        using var client = Cluster.Client(leader);
        var created = await client.PutAsync("/cache/cas/race", new StringContent("start"));
        var etag = created.Headers.ETag!;

        var attempts = await Task.WhenAll(Enumerable.Range(0, 20).Select(i =>
        {
            var request = new HttpRequestMessage(HttpMethod.Put, "/cache/cas/race") { Content = new StringContent($"winner-{i}") };
            request.Headers.IfMatch.Add(etag);
            return client.SendAsync(request);
        }));

        Assert.Single(attempts, a => a.StatusCode == HttpStatusCode.OK);
        Assert.Equal(19, attempts.Count(a => a.StatusCode == HttpStatusCode.PreconditionFailed));
        var winner = Array.FindIndex(attempts, a => a.StatusCode == HttpStatusCode.OK);
        foreach (var node in Enumerable.Range(0, 3))
        {
            using var reader = Cluster.Client(node);
            Assert.Equal($"winner-{winner}", await reader.GetStringAsync("/cache/cas/race"));
        }
    }

    [Fact]
    public async Task A_new_key_in_any_language_is_created_with_201_and_an_ASCII_Location_and_reads_back()
    {
        var leader = await Cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        using var client = Cluster.Client(leader);
        var key = $"配置/{Guid.NewGuid():N}/é ü";

        using var created = await client.PutAsync("/cache/" + string.Join('/', key.Split('/').Select(Uri.EscapeDataString)), new StringContent("值"));

        Assert.Equal(HttpStatusCode.Created, created.StatusCode); // was 500 after the write had been applied
        Assert.Equal(CacheApi.LocationOf(key), created.Headers.Location!.OriginalString);
        Assert.All(created.Headers.Location.OriginalString, c => Assert.True(c < 128));
        using var read = await client.GetAsync(created.Headers.Location);
        Assert.Equal("值", await read.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Create_only_writes_and_conditional_deletes_answer_412_when_the_condition_fails()
    {
        var leader = await Cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        using var client = Cluster.Client(leader);
        var key = $"/cache/cas/create-{Guid.NewGuid():N}";

        var first = await Send(client, HttpMethod.Put, key, "a", r => r.Headers.IfNoneMatch.ParseAdd("*"));
        var second = await Send(client, HttpMethod.Put, key, "b", r => r.Headers.IfNoneMatch.ParseAdd("*"));
        var wrongDelete = await Send(client, HttpMethod.Delete, key, null, r => r.Headers.IfMatch.ParseAdd("\"1\""));
        var rightDelete = await Send(client, HttpMethod.Delete, key, null, r => r.Headers.IfMatch.Add(first.Headers.ETag!));

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.PreconditionFailed, second.StatusCode);
        Assert.Equal("application/problem+json", second.Content.Headers.ContentType?.MediaType);
        Assert.Equal(first.Headers.ETag, second.Headers.ETag); // 412 tells the current version
        Assert.Equal(HttpStatusCode.PreconditionFailed, wrongDelete.StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, rightDelete.StatusCode);
    }

    [Fact]
    public async Task A_conditional_get_answers_304_while_the_value_is_unchanged()
    {
        var leader = await Cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        using var client = Cluster.Client(leader);
        var put = await client.PutAsync("/cache/config/feature", new StringContent("on"));

        var unchanged = await Send(client, HttpMethod.Get, "/cache/config/feature", null, r => r.Headers.IfNoneMatch.Add(put.Headers.ETag!));
        await client.PutAsync("/cache/config/feature", new StringContent("off"));
        var changed = await Send(client, HttpMethod.Get, "/cache/config/feature", null, r => r.Headers.IfNoneMatch.Add(put.Headers.ETag!));

        Assert.Equal(HttpStatusCode.NotModified, unchanged.StatusCode);
        Assert.Equal(HttpStatusCode.OK, changed.StatusCode);
        Assert.Equal("off", await changed.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_value_with_a_ttl_expires_on_every_node_and_is_never_returned_after_expiry()
    {
        var leader = await Cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        using var client = Cluster.Client(leader);
        var put = await client.PutAsync("/cache/ttl/short?ttl=700ms", new StringContent("soon gone"));
        var expiresAt = DateTimeOffset.UtcNow.AddMilliseconds(700);

        var fresh = await client.GetAsync("/cache/ttl/short");
        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        Assert.Equal(HttpStatusCode.OK, fresh.StatusCode);
        Assert.InRange(long.Parse(fresh.Headers.GetValues(CacheApi.TtlHeader).Single(), System.Globalization.CultureInfo.InvariantCulture), 1, 700);

        // Poll every node, linearizable and stale: once expired, it must stay gone everywhere.
        var clients = Enumerable.Range(0, 3).Select(Cluster.Client).ToArray();
        var deadline = DateTimeOffset.UtcNow.AddSeconds(10);
        var gone = new bool[3];
        while (!gone.All(g => g) && DateTimeOffset.UtcNow < deadline)
        {
            for (var n = 0; n < 3; n++)
            {
                foreach (var path in new[] { "/cache/ttl/short", "/cache/ttl/short?consistent=false" })
                {
                    var response = await clients[n].GetAsync(path);
                    if (response.StatusCode == HttpStatusCode.OK)
                    {
                        Assert.True(DateTimeOffset.UtcNow < expiresAt.AddMilliseconds(100), $"node {n} returned an expired value");
                        Assert.False(gone[n], $"node {n} returned the value after it had reported it gone");
                    }
                    else
                    {
                        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
                        gone[n] = gone[n] || path.Contains("consistent=false", StringComparison.Ordinal);
                    }
                }
            }

            await Task.Delay(50);
        }

        Assert.All(gone, Assert.True);

        // The leader's removal goes through the log: every node converges on the same revision.
        var converged = DateTimeOffset.UtcNow.AddSeconds(10);
        long[] revisions;
        do
        {
            await Task.Delay(100);
            await clients[leader].GetAsync("/cache/ttl/sync");
            revisions = await Task.WhenAll(Enumerable.Range(0, 3).Select(async i => (await Cluster.StatusAsync(i)).Revision));
        }
        while (revisions.Distinct().Count() > 1 && DateTimeOffset.UtcNow < converged);

        Assert.Single(revisions.Distinct());
        foreach (var c in clients)
        {
            c.Dispose();
        }
    }

    [Fact]
    public async Task Prefix_listing_pages_through_keys_in_order()
    {
        var leader = await Cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        using var client = Cluster.Client(leader);
        var prefix = $"list-{Guid.NewGuid():N}/";
        var expected = Enumerable.Range(0, 25).Select(i => $"{prefix}{i:D2}").ToList();
        await Task.WhenAll(expected.Select(k => client.PutAsync($"/cache/{k}", new StringContent(k))));
        await client.PutAsync($"/cache/{prefix[..^1]}x-not-in-prefix", new StringContent("x"));

        var seen = new List<string>();
        string? after = null;
        var pages = 0;
        using var follower = Cluster.Client((leader + 1) % 3);
        do
        {
            var url = $"/cache?prefix={Uri.EscapeDataString(prefix)}&limit=10" + (after is null ? "" : $"&after={Uri.EscapeDataString(after)}");
            var page = (await follower.GetFromJsonAsync<ListResponse>(url))!;
            seen.AddRange(page.Items.Select(i => i.Key));
            Assert.All(page.Items, i => Assert.Equal(i.Key, System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(i.Value!))));
            after = page.Next;
            pages++;
        }
        while (after is not null && pages < 10);

        Assert.Equal(expected, seen);
        Assert.Equal(3, pages);
        Assert.Equal(HttpStatusCode.BadRequest, (await follower.GetAsync("/cache?prefix=x&limit=0")).StatusCode);
    }

    [Fact]
    public async Task Each_node_reports_its_hottest_keys()
    {
        var leader = await Cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        using var writer = Cluster.Client(leader);
        await writer.PutAsync("/cache/hotkeys/very-hot", new StringContent("x"));
        await writer.PutAsync("/cache/hotkeys/lukewarm", new StringContent("x"));
        using var reader = Cluster.Client((leader + 1) % 3);
        for (var i = 0; i < 200; i++)
        {
            await reader.GetAsync(i % 20 == 0 ? "/cache/hotkeys/lukewarm" : "/cache/hotkeys/very-hot?consistent=false");
        }

        var hot = (await reader.GetFromJsonAsync<HotKeysResponse>("/cache/hot?count=5"))!;

        Assert.Equal("hotkeys/very-hot", hot.Keys[0].Key);
        Assert.True(hot.Keys[0].EstimatedReads >= 190);
        Assert.Equal(HttpStatusCode.BadRequest, (await writer.PutAsync("/cache/hot", new StringContent("x"))).StatusCode);
    }

    private static Task<HttpResponseMessage> Send(HttpClient client, HttpMethod method, string path, string? body, Action<HttpRequestMessage> configure)
    {
        var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = new StringContent(body);
        }

        configure(request);
        return client.SendAsync(request);
    }
}

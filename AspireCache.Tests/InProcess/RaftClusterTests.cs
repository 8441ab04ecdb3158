using System.Net;
using System.Net.Http.Json;
using AspireCache.Node.Api;
using AspireCache.Node.Raft;

namespace AspireCache.Tests.InProcess;

[Collection(InProcessCollection.Name)]
public sealed class RaftClusterTests(StableClusterFixture fixture) : IClassFixture<StableClusterFixture>
{
    private InProcessCluster Cluster => fixture.Cluster;

    [Fact]
    public async Task Exactly_one_leader_and_every_node_agrees_on_it()
    {
        var leader = await Cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        var statuses = await Task.WhenAll(Enumerable.Range(0, 3).Select(Cluster.StatusAsync));

        Assert.Single(statuses, s => s.Role == "leader");
        Assert.All(statuses, s => Assert.Equal(InProcessCluster.Ids[leader], s.LeaderId));
        Assert.All(statuses, s => Assert.Equal(3, s.Members.Count));
    }

    [Fact]
    public async Task Linearizable_read_on_every_node_sees_an_acknowledged_write_at_once()
    {
        var leader = await Cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        var clients = Enumerable.Range(0, 3).Select(Cluster.Client).ToArray();
        var stale = 0;
        for (var i = 0; i < 50; i++)
        {
            var value = $"v{i}";
            (await clients[leader].PutAsync("/cache/inproc/linearizable", new StringContent(value))).EnsureSuccessStatusCode();
            foreach (var client in clients)
            {
                if (await client.GetStringAsync("/cache/inproc/linearizable") != value)
                {
                    stale++;
                }
            }
        }

        Assert.Equal(0, stale);
    }

    [Fact]
    public async Task Write_to_a_follower_is_refused_with_the_leaders_identity_and_changes_nothing()
    {
        var leader = await Cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        var follower = (leader + 1) % 3;
        using var client = Cluster.Client(follower);
        var before = (await Cluster.StatusAsync(leader)).Revision;

        var response = await client.PutAsync("/cache/inproc/misdirected", new StringContent("x"));

        Assert.Equal(HttpStatusCode.MisdirectedRequest, response.StatusCode);
        Assert.Equal(InProcessCluster.Ids[leader], response.Headers.GetValues(Problems.LeaderHeader).Single());
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var leaderClient = Cluster.Client(leader);
        Assert.Equal(HttpStatusCode.NotFound, (await leaderClient.GetAsync("/cache/inproc/misdirected")).StatusCode);
        Assert.Equal(before, (await Cluster.StatusAsync(leader)).Revision);
    }

    [Fact]
    public async Task Delete_answers_204_for_an_existing_key_and_404_for_a_missing_one()
    {
        var leader = await Cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        using var client = Cluster.Client(leader);
        (await client.PutAsync("/cache/inproc/to-delete", new StringContent("x"))).EnsureSuccessStatusCode();

        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync("/cache/inproc/to-delete")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.DeleteAsync("/cache/inproc/to-delete")).StatusCode);
    }

    [Fact]
    public async Task Put_answers_201_then_200_with_increasing_etags()
    {
        var leader = await Cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        using var client = Cluster.Client(leader);
        var key = $"/cache/inproc/etag-{Guid.NewGuid():N}";

        var created = await client.PutAsync(key, new StringContent("1"));
        var updated = await client.PutAsync(key, new StringContent("2"));

        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal(HttpStatusCode.OK, updated.StatusCode);
        var v1 = long.Parse(created.Headers.ETag!.Tag.Trim('"'), System.Globalization.CultureInfo.InvariantCulture);
        var v2 = long.Parse(updated.Headers.ETag!.Tag.Trim('"'), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(v2 > v1);
        var read = await client.GetAsync(key);
        Assert.Equal(updated.Headers.ETag, read.Headers.ETag);
    }

    [Fact]
    public async Task Concurrent_linearizable_reads_share_quorum_rounds()
    {
        var leader = await Cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        var readIndex = Cluster.Service<ReadIndexService>(leader);
        using var client = Cluster.Client(leader);
        (await client.PutAsync("/cache/inproc/shared-round", new StringContent("x"))).EnsureSuccessStatusCode();
        var before = readIndex.LeaderRounds;

        var reads = await Task.WhenAll(Enumerable.Range(0, 64).Select(_ => client.GetStringAsync("/cache/inproc/shared-round")));

        Assert.All(reads, r => Assert.Equal("x", r));
        var rounds = readIndex.LeaderRounds - before;
        Assert.InRange(rounds, 1, 63);
    }

    [Fact]
    public async Task Stale_read_says_how_stale_it_may_be()
    {
        var leader = await Cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        using var writer = Cluster.Client(leader);
        (await writer.PutAsync("/cache/inproc/stale", new StringContent("s"))).EnsureSuccessStatusCode();
        using var follower = Cluster.Client((leader + 1) % 3);

        Assert.Equal("s", await follower.GetStringAsync("/cache/inproc/stale")); // linearizable: applied here now

        var response = await follower.GetAsync("/cache/inproc/stale?consistent=false");

        Assert.Equal("stale", response.Headers.GetValues(CacheApi.ConsistencyHeader).Single());
        Assert.Equal("s", await response.Content.ReadAsStringAsync());
        Assert.True(long.Parse(response.Headers.GetValues(CacheApi.AppliedIndexHeader).Single(), System.Globalization.CultureInfo.InvariantCulture) > 0);
        Assert.True(response.Headers.Contains(CacheApi.CommitIndexHeader));
    }

    [Fact]
    public async Task Invalid_consistency_parameter_is_400()
    {
        using var client = Cluster.Client(0);

        var response = await client.GetAsync("/cache/anything?consistent=maybe");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<Microsoft.AspNetCore.Mvc.ProblemDetails>();
        Assert.Equal(400, problem!.Status);
    }

    [Fact]
    public async Task Concurrent_writes_are_group_committed_into_fewer_log_entries_each_with_its_own_result()
    {
        var leader = await Cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        using var client = Cluster.Client(leader);
        var before = await Cluster.StatusAsync(leader);

        var writes = await Task.WhenAll(Enumerable.Range(0, 200).Select(i => client.PutAsync($"/cache/inproc/group/{i}", new StringContent($"{i}"))));

        Assert.All(writes, w => Assert.Equal(HttpStatusCode.Created, w.StatusCode));
        var versions = writes.Select(w => w.Headers.ETag!.Tag).ToHashSet();
        Assert.Equal(200, versions.Count); // every command has its own revision
        var after = await Cluster.StatusAsync(leader);
        Assert.Equal(before.Revision + 200, after.Revision);
        Assert.True(after.LastIndex - before.LastIndex < 200, $"expected fewer than 200 log entries, got {after.LastIndex - before.LastIndex}");
        for (var i = 0; i < 200; i += 37)
        {
            Assert.Equal($"{i}", await client.GetStringAsync($"/cache/inproc/group/{i}"));
        }
    }

    [Fact]
    public async Task A_retried_write_with_the_same_idempotency_key_is_applied_once()
    {
        var leader = await Cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        using var client = Cluster.Client(leader);
        var key = Guid.NewGuid().ToString("N");

        var first = await SendAsync(client, HttpMethod.Put, "/cache/inproc/idem", "one", key);
        var revision = (await Cluster.StatusAsync(leader)).Revision;
        var retry = await SendAsync(client, HttpMethod.Put, "/cache/inproc/idem", "one", key);
        var reused = await SendAsync(client, HttpMethod.Put, "/cache/inproc/idem", "two", key);

        Assert.Equal(first.StatusCode, retry.StatusCode);
        Assert.Equal(first.Headers.ETag, retry.Headers.ETag);
        Assert.Equal("true", retry.Headers.GetValues(CacheApi.ReplayedHeader).Single());
        Assert.Equal(HttpStatusCode.UnprocessableEntity, reused.StatusCode);
        Assert.Equal(revision, (await Cluster.StatusAsync(leader)).Revision);
        Assert.Equal("one", await client.GetStringAsync("/cache/inproc/idem"));
    }

    [Fact]
    public async Task A_retried_failed_condition_replays_its_412_and_says_so()
    {
        var leader = await Cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        using var client = Cluster.Client(leader);
        var key = Guid.NewGuid().ToString("N");
        var stale = $"\"{long.Parse((await client.PutAsync("/cache/inproc/idem-cas", new StringContent("base"))).Headers.ETag!.Tag.Trim('"'), System.Globalization.CultureInfo.InvariantCulture) + 1000}\"";

        HttpRequestMessage Conditional()
        {
            var request = new HttpRequestMessage(HttpMethod.Put, "/cache/inproc/idem-cas") { Content = new StringContent("new") };
            request.Headers.Add(CacheApi.IdempotencyKeyHeader, key);
            request.Headers.IfMatch.Add(new System.Net.Http.Headers.EntityTagHeaderValue(stale));
            return request;
        }

        var first = await client.SendAsync(Conditional());
        var retry = await client.SendAsync(Conditional());

        Assert.Equal(HttpStatusCode.PreconditionFailed, first.StatusCode);
        Assert.False(first.Headers.Contains(CacheApi.ReplayedHeader));
        Assert.Equal(HttpStatusCode.PreconditionFailed, retry.StatusCode);
        Assert.Equal("true", retry.Headers.GetValues(CacheApi.ReplayedHeader).Single());
        Assert.Equal("base", await client.GetStringAsync("/cache/inproc/idem-cas"));
    }

    [Fact]
    public async Task An_invalid_idempotency_key_is_400()
    {
        var leader = await Cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        using var client = Cluster.Client(leader);

        var response = await SendAsync(client, HttpMethod.Put, "/cache/inproc/idem-bad", "x", new string('k', 200));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    private static Task<HttpResponseMessage> SendAsync(HttpClient client, HttpMethod method, string path, string body, string idempotencyKey)
    {
        var request = new HttpRequestMessage(method, path) { Content = new StringContent(body) };
        request.Headers.Add(CacheApi.IdempotencyKeyHeader, idempotencyKey);
        return client.SendAsync(request);
    }

    [Fact]
    public async Task Read_index_endpoint_on_a_follower_is_refused()
    {
        var leader = await Cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        using var follower = new HttpClient { BaseAddress = Cluster.PeerUrls[(leader + 1) % 3] };
        using var request = new HttpRequestMessage(HttpMethod.Post, ReadIndexService.ReadIndexPath);
        request.Headers.TryAddWithoutValidation(
            AspireCache.Node.Auth.ClusterSignature.HeaderName,
            AspireCache.Node.Auth.ClusterSignature.Create(
                System.Text.Encoding.UTF8.GetBytes(InProcessCluster.DefaultClusterSecret), "POST", ReadIndexService.ReadIndexPath,
                DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), System.Buffers.Text.Base64Url.EncodeToString(Guid.NewGuid().ToByteArray()), "0", []));

        var response = await follower.SendAsync(request); // signed as a peer: a follower still refuses

        Assert.Equal(HttpStatusCode.MisdirectedRequest, response.StatusCode);

        // Not on a client endpoint at all: node-to-node calls are served on the peer endpoint only.
        using var client = Cluster.Client(leader);
        Assert.Equal(HttpStatusCode.NotFound, (await client.PostAsync(ReadIndexService.ReadIndexPath, null)).StatusCode);
    }
}

[CollectionDefinition(Name)]
public sealed class InProcessCollection
{
    public const string Name = "in-process cluster";
}

using System.Text;
using System.Text.Json.Serialization;
using AspireCache.Client.Tests.Infrastructure;

namespace AspireCache.Client.Tests;

/// <summary>The client's reads, writes, conditions, batches, listing and typed errors, through the real router.</summary>
[Collection(ClientClusterCollection.Name)]
public sealed class ClientApiTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    private readonly AspireCacheClient _client = fixture.NewClient();

    [Fact]
    public async Task Set_then_get_returns_the_value_and_the_version_from_the_ETag_and_a_missing_key_is_null()
    {
        var version = await _client.SetAsync("api/a b/c%d", Encoding.UTF8.GetBytes("hello"), new SetOptions { Ttl = TimeSpan.FromMinutes(5) });

        var item = await _client.GetAsync("api/a b/c%d");
        Assert.NotNull(item);
        Assert.Equal("hello", Encoding.UTF8.GetString(item.Value.Span));
        Assert.Equal(version, item.Version);
        Assert.NotNull(item.ExpiresAt);
        Assert.InRange(item.ExpiresAt.Value, DateTimeOffset.UtcNow.AddMinutes(4), DateTimeOffset.UtcNow.AddMinutes(6));

        var stale = await _client.GetAsync("api/a b/c%d", new ReadOptions { Consistency = Consistency.Stale });
        // A stale read from a node that may lag: the value if that node has applied the write, never another one.
        Assert.True(stale is null || (stale.Version == version && Encoding.UTF8.GetString(stale.Value.Span) == "hello"));
        Assert.Null(await _client.GetAsync("api/never-written"));
    }

    [Fact]
    public async Task A_non_ASCII_key_can_be_written_and_read()
    {
        var version = await _client.SetAsync("api/ü", "u"u8.ToArray());
        Assert.Equal(version, (await _client.GetAsync("api/ü"))!.Version);
    }

    [Fact]
    public async Task Delete_returns_true_then_false_once_the_key_is_gone()
    {
        await _client.SetAsync("api/del", "x"u8.ToArray());
        Assert.True(await _client.DeleteAsync("api/del"));
        Assert.False(await _client.DeleteAsync("api/del"));
        Assert.Null(await _client.GetAsync("api/del"));
    }

    [Fact]
    public async Task Compare_and_set_succeeds_at_the_current_version_and_otherwise_throws_with_the_current_version()
    {
        var v1 = await _client.SetAsync("api/cas", "1"u8.ToArray());
        var v2 = await _client.SetAsync("api/cas", "2"u8.ToArray(), new SetOptions { IfVersion = v1 });
        Assert.True(v2 > v1);

        var failed = await Assert.ThrowsAsync<PreconditionFailedException>(() => _client.SetAsync("api/cas", "3"u8.ToArray(), new SetOptions { IfVersion = v1 }));
        Assert.Equal(412, failed.Status);
        Assert.Equal(ProblemTypes.PreconditionFailed, failed.Type);
        Assert.Equal(v2, failed.CurrentVersion);

        var created = await _client.SetAsync("api/cas-new", "n"u8.ToArray(), new SetOptions { IfAbsent = true });
        var absent = await Assert.ThrowsAsync<PreconditionFailedException>(() => _client.SetAsync("api/cas-new", "m"u8.ToArray(), new SetOptions { IfAbsent = true }));
        Assert.Equal(created, absent.CurrentVersion);

        var delete = await Assert.ThrowsAsync<PreconditionFailedException>(() => _client.DeleteAsync("api/cas", ifVersion: v1));
        Assert.Equal(v2, delete.CurrentVersion);
        Assert.True(await _client.DeleteAsync("api/cas", ifVersion: v2));
    }

    [Fact]
    public async Task A_batch_applies_sets_and_deletes_at_one_revision_or_fails_whole_on_a_condition()
    {
        await _client.SetAsync("api/batch/old", "o"u8.ToArray());
        var revision = await _client.BatchAsync(
            new Dictionary<string, ReadOnlyMemory<byte>> { ["api/batch/1"] = "a"u8.ToArray(), ["api/batch/2"] = "b"u8.ToArray() },
            ["api/batch/old"]);

        Assert.Equal(revision, (await _client.GetAsync("api/batch/1"))!.Version);
        Assert.Equal(revision, (await _client.GetAsync("api/batch/2"))!.Version);
        Assert.Null(await _client.GetAsync("api/batch/old"));

        await Assert.ThrowsAsync<PreconditionFailedException>(() => _client.BatchAsync(
            new Dictionary<string, ReadOnlyMemory<byte>> { ["api/batch/3"] = "c"u8.ToArray() },
            conditions: new Dictionary<string, long> { ["api/batch/1"] = 0 }));
        Assert.Null(await _client.GetAsync("api/batch/3"));
    }

    [Fact]
    public async Task Listing_follows_next_across_pages_in_key_order_and_the_first_page_has_a_revision()
    {
        var keys = Enumerable.Range(0, 23).Select(i => $"api/list/{i:D3}").ToArray();
        await _client.BatchAsync(keys.ToDictionary(k => k, k => (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes(k)));

        var items = new List<CacheItem>();
        await foreach (var item in _client.ListAsync("api/list/", pageSize: 5))
        {
            items.Add(item);
        }

        Assert.Equal(keys, items.Select(i => i.Key));
        Assert.All(items, i => Assert.Equal(i.Key, Encoding.UTF8.GetString(i.Value.Span)));

        var first = await _client.ListPageAsync("api/list/", limit: 5);
        Assert.Equal(5, first.Items.Count);
        Assert.Equal(keys[4], first.Next);
        Assert.True(first.Revision >= items[0].Version);
    }

    [Fact]
    public async Task Errors_are_typed_from_the_problem_details()
    {
        var tooLarge = await Assert.ThrowsAsync<TooLargeException>(() => _client.SetAsync("api/big", new byte[(1024 * 1024) + 1]));
        Assert.Equal(413, tooLarge.Status);

        var invalid = await Assert.ThrowsAsync<InvalidKeyException>(() => _client.SetAsync("api/bad\u0001key", "x"u8.ToArray()));
        Assert.Equal(400, invalid.Status);
        Assert.Equal(ProblemTypes.InvalidKey, invalid.Type);

        await Assert.ThrowsAsync<InvalidKeyException>(() => _client.SetAsync(new string('k', 600), "x"u8.ToArray()));
        await Assert.ThrowsAsync<InvalidKeyException>(() => _client.GetAsync(""));
    }

    [Fact]
    public async Task Json_values_round_trip_with_source_generated_type_info()
    {
        var version = await _client.SetJsonAsync("api/json", new Settings("dark", 3), TestJson.Default.Settings);
        Assert.Equal(version, (await _client.GetAsync("api/json"))!.Version);
        Assert.Equal("{\"Theme\":\"dark\",\"Level\":3}", Encoding.UTF8.GetString((await _client.GetAsync("api/json"))!.Value.Span));
        Assert.Equal(new Settings("dark", 3), await _client.GetJsonAsync("api/json", TestJson.Default.Settings));
        Assert.Null(await _client.GetJsonAsync("api/json-missing", TestJson.Default.Settings));
    }

    [Fact]
    public async Task A_write_that_cannot_reach_any_node_within_its_deadline_is_unavailable_not_hung()
    {
        // A port nothing listens on: connection refused, so the write certainly was not applied.
        var dead = new AspireCacheClient(
            new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{TestPorts.Free()}") },
            new AspireCacheClientOptions { Deadline = TimeSpan.FromMilliseconds(600) });
        var started = DateTime.UtcNow;
        var error = await Assert.ThrowsAsync<UnavailableException>(() => dead.SetAsync("api/x", "x"u8.ToArray()));
        Assert.InRange(DateTime.UtcNow - started, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(5));
        Assert.IsType<HttpRequestException>(error.InnerException);
    }
}

public sealed record Settings(string Theme, int Level);

[JsonSerializable(typeof(Settings))]
internal sealed partial class TestJson : JsonSerializerContext;

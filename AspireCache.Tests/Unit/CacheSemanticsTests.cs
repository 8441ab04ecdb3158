using AspireCache.Node.Api;
using AspireCache.Node.StateMachine;

namespace AspireCache.Tests.Unit;

public sealed class CacheSemanticsTests
{
    private static CommandResult Apply(CacheState state, CacheCommand command, long timestamp = 1_000) =>
        state.Apply(new CommandBatch(timestamp, [command]))[0];

    [Fact]
    public void Compare_and_set_succeeds_only_on_the_expected_version()
    {
        var state = new CacheState();
        var v1 = Apply(state, new SetCommand("k", new byte[] { 1 })).Revision;

        var stale = Apply(state, new SetCommand("k", new byte[] { 2 }) { ExpectedVersion = v1 + 7 });
        var fresh = Apply(state, new SetCommand("k", new byte[] { 3 }) { ExpectedVersion = v1 });

        Assert.Equal(new CommandResult(CommandOutcome.PreconditionFailed, v1), stale);
        Assert.Equal(CommandOutcome.Updated, fresh.Outcome);
        Assert.True(state.TryGet("k", out var entry));
        Assert.Equal(new byte[] { 3 }, entry.Value.ToArray());
    }

    [Fact]
    public void Create_only_and_must_exist_conditions()
    {
        var state = new CacheState();

        Assert.Equal(CommandOutcome.PreconditionFailed, Apply(state, new SetCommand("k", new byte[] { 1 }) { ExpectedVersion = ExpectedVersion.Any }).Outcome);
        Assert.Equal(CommandOutcome.Created, Apply(state, new SetCommand("k", new byte[] { 1 }) { ExpectedVersion = ExpectedVersion.Absent }).Outcome);
        Assert.Equal(CommandOutcome.PreconditionFailed, Apply(state, new SetCommand("k", new byte[] { 2 }) { ExpectedVersion = ExpectedVersion.Absent }).Outcome);
        Assert.Equal(CommandOutcome.PreconditionFailed, Apply(state, new DeleteCommand("k") { ExpectedVersion = 99 }).Outcome);
        Assert.Equal(CommandOutcome.Deleted, Apply(state, new DeleteCommand("k") { ExpectedVersion = ExpectedVersion.Any }).Outcome);
    }

    [Fact]
    public void A_batch_with_one_failing_condition_applies_nothing()
    {
        var state = new CacheState();
        var a = Apply(state, new SetCommand("a", new byte[] { 1 })).Revision;
        var before = state.Revision;

        var result = Apply(state, new BatchCommand([new("a", new byte[] { 2 }), new("b", new byte[] { 2 })], [])
        {
            Conditions = [new("a", a), new("b", 12345)],
        });

        Assert.Equal(CommandOutcome.PreconditionFailed, result.Outcome);
        Assert.Equal("b", result.FailedKey);
        Assert.Equal(before, state.Revision);
        Assert.False(state.TryGet("b", out _));
    }

    [Fact]
    public void Ttl_is_computed_from_the_entry_timestamp_and_expired_keys_are_listed_with_their_versions()
    {
        var state = new CacheState();
        var v = Apply(state, new SetCommand("short", new byte[] { 1 }) { TtlMs = 500 }, timestamp: 10_000).Revision;
        Apply(state, new SetCommand("forever", new byte[] { 1 }), timestamp: 10_000);

        Assert.True(state.TryGet("short", out var entry));
        Assert.Equal(10_500, entry.ExpiresUnixMs);
        Assert.False(entry.IsExpiredAt(10_499));
        Assert.True(entry.IsExpiredAt(10_500));
        Assert.Empty(state.ExpiredKeys(10_499, 100));
        Assert.Equal([new KeyValuePair<string, long>("short", v)], state.ExpiredKeys(10_500, 100));
    }

    [Fact]
    public void A_removal_at_an_old_version_leaves_a_rewritten_key_alone()
    {
        var state = new CacheState();
        var old = Apply(state, new SetCommand("k", new byte[] { 1 }) { TtlMs = 10 }).Revision;
        Apply(state, new SetCommand("k", new byte[] { 2 }));
        Apply(state, new SetCommand("gone", new byte[] { 1 }));
        state.TryGet("gone", out var gone);

        Apply(state, new RemoveCommand([new("k", old), new("gone", gone.Version)], RemovalReason.Expired));

        Assert.True(state.TryGet("k", out var survivor));
        Assert.Equal(new byte[] { 2 }, survivor.Value.ToArray());
        Assert.Equal(0, survivor.ExpiresUnixMs);
        Assert.False(state.TryGet("gone", out _));
        Assert.Empty(state.ExpiredKeys(long.MaxValue, 100));
    }

    [Fact]
    public void Prefix_listing_is_ordered_paginated_and_skips_expired_keys()
    {
        var state = new CacheState();
        foreach (var key in new[] { "app/c", "app/a", "other/x", "app/b", "ap", "app/d" })
        {
            Apply(state, new SetCommand(key, new byte[] { 1 }) { TtlMs = key == "app/c" ? 1 : 0 }, timestamp: 0);
        }

        var first = state.Current.List("app/", after: null, limit: 2, nowUnixMs: 100, out var more1);
        var second = state.Current.List("app/", after: first[^1].Key, limit: 2, nowUnixMs: 100, out var more2);

        Assert.Equal(["app/a", "app/b"], first.Select(p => p.Key));
        Assert.True(more1);
        Assert.Equal(["app/d"], second.Select(p => p.Key)); // app/c expired
        Assert.False(more2);
    }

    [Fact]
    public async Task Ttl_pinning_and_conditions_survive_snapshot_and_codec()
    {
        var state = new CacheState();
        Apply(state, new SetCommand("k", new byte[] { 1 }) { TtlMs = 5000, Pinned = true }, timestamp: 1);
        using var stream = new MemoryStream();
        await CacheState.WriteSnapshotAsync(state.Current, state.Idempotency, stream, CancellationToken.None);
        stream.Position = 0;
        var restored = new CacheState();
        await restored.RestoreSnapshotAsync(stream, CancellationToken.None);
        var decoded = CommandCodec.Decode(CommandCodec.Encode(new CommandBatch(0, [
            new SetCommand("k", new byte[] { 1 }) { TtlMs = 5000, Pinned = true, ExpectedVersion = ExpectedVersion.Any },
            new DeleteCommand("k") { ExpectedVersion = 42 },
            new BatchCommand([], ["x"]) { Conditions = [new("x", ExpectedVersion.Absent), new("y", 7)] },
            new RemoveCommand([new("a", 1), new("b", 2)], RemovalReason.Evicted),
        ])));

        Assert.Equal(state.View["k"], restored.View["k"] with { Value = state.View["k"].Value });
        Assert.Equal(5001, restored.View["k"].ExpiresUnixMs);
        Assert.True(restored.View["k"].Pinned);
        Assert.Single(restored.ExpiredKeys(6000, 10));
        var set = Assert.IsType<SetCommand>(decoded.Commands[0]);
        Assert.Equal((5000L, true, (long?)ExpectedVersion.Any), (set.TtlMs, set.Pinned, set.ExpectedVersion));
        Assert.Equal(42, Assert.IsType<DeleteCommand>(decoded.Commands[1]).ExpectedVersion);
        Assert.Equal([new KeyValuePair<string, long>("x", 0), new("y", 7)], Assert.IsType<BatchCommand>(decoded.Commands[2]).Conditions);
        var remove = Assert.IsType<RemoveCommand>(decoded.Commands[3]);
        Assert.Equal(RemovalReason.Evicted, remove.Reason);
        Assert.Equal(2, remove.Keys.Count);
    }

    [Theory]
    [InlineData("30", 30_000)]
    [InlineData("500ms", 500)]
    [InlineData("30s", 30_000)]
    [InlineData("5m", 300_000)]
    [InlineData("1h", 3_600_000)]
    [InlineData("2d", 172_800_000)]
    public void Durations_parse(string text, long expected)
    {
        Assert.True(RequestParsing.TryParseDuration(text, out var ms));
        Assert.Equal(expected, ms);
    }

    [Theory]
    [InlineData("")]
    [InlineData("-5")]
    [InlineData("5x")]
    [InlineData("ms")]
    [InlineData("1.5s")]
    public void Bad_durations_are_rejected(string text) => Assert.False(RequestParsing.TryParseDuration(text, out _));
}

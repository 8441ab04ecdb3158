using AspireCache.Node.StateMachine;

namespace AspireCache.Tests.Unit;

public sealed class IdempotencyTests
{
    private static CommandResult Apply(CacheState state, CacheCommand command, long timestamp = 1_000) =>
        state.Apply(new CommandBatch(timestamp, [command]))[0];

    [Fact]
    public void A_repeated_write_returns_the_recorded_result_and_applies_nothing()
    {
        var state = new CacheState();
        var first = Apply(state, new SetCommand("k", new byte[] { 1 }) { IdempotencyKey = "req-1" });
        Apply(state, new SetCommand("other", new byte[] { 9 }));

        var retry = Apply(state, new SetCommand("k", new byte[] { 1 }) { IdempotencyKey = "req-1" });

        Assert.Equal(first with { Replayed = true }, retry);
        Assert.Equal(2, state.Revision);
        Assert.True(state.TryGet("k", out var entry));
        Assert.Equal(first.Revision, entry.Version);
    }

    [Fact]
    public void The_same_key_with_a_different_request_is_a_conflict_and_changes_nothing()
    {
        var state = new CacheState();
        Apply(state, new SetCommand("k", new byte[] { 1 }) { IdempotencyKey = "req-1" });

        var conflict = Apply(state, new SetCommand("k", new byte[] { 2 }) { IdempotencyKey = "req-1" });

        Assert.Equal(CommandOutcome.IdempotencyConflict, conflict.Outcome);
        Assert.True(state.TryGet("k", out var entry));
        Assert.Equal(new byte[] { 1 }, entry.Value.ToArray());
    }

    [Fact]
    public void Keys_expire_by_log_time_not_by_a_replicas_clock()
    {
        var state = new CacheState();
        Apply(state, new DeleteCommand("k") { IdempotencyKey = "old" }, timestamp: 0);
        Apply(state, new SetCommand("k", new byte[] { 1 }), timestamp: 1);

        var later = state.Idempotency.Limits.WindowMs + 10;
        var again = Apply(state, new DeleteCommand("k") { IdempotencyKey = "old" }, timestamp: later);

        Assert.False(again.Replayed);
        Assert.Equal(CommandOutcome.Deleted, again.Outcome);
    }

    [Fact]
    public void The_table_is_bounded_and_forgets_the_oldest_first()
    {
        // The bound is in bytes now: one of 100,000 equally sized records.
        const int MaxEntries = 100_000;
        var record = new IdempotencyTable.Record(0, new CommandResult(CommandOutcome.Created, 0), 0);
        var table = new IdempotencyTable(new IdempotencyLimits(TimeSpan.FromMinutes(10), MaxEntries * IdempotencyTable.SizeOf("k000000", record)));
        for (var i = 0; i < MaxEntries + 10; i++)
        {
            table.Add($"k{i:D6}", record with { Result = new CommandResult(CommandOutcome.Created, i) });
        }

        Assert.Equal(MaxEntries, table.Count);
        Assert.False(table.TryGet("k000000", out _));
        Assert.True(table.TryGet($"k{MaxEntries + 9:D6}", out _));
    }

    [Fact]
    public async Task Recorded_results_survive_a_snapshot_round_trip()
    {
        var state = new CacheState();
        var first = Apply(state, new BatchCommand([new("a", new byte[] { 1 })], []) { IdempotencyKey = "batch-1" });
        using var stream = new MemoryStream();
        await CacheState.WriteSnapshotAsync(state.Current, state.Idempotency, stream, CancellationToken.None);
        stream.Position = 0;
        var restored = new CacheState();
        await restored.RestoreSnapshotAsync(stream, CancellationToken.None);

        var retry = Apply(restored, new BatchCommand([new("a", new byte[] { 1 })], []) { IdempotencyKey = "batch-1" });

        Assert.Equal(first with { Replayed = true }, retry);
        Assert.Equal(state.Revision, restored.Revision);
    }

    [Fact]
    public void Idempotency_keys_round_trip_through_the_codec()
    {
        var decoded = CommandCodec.Decode(CommandCodec.Encode(new CommandBatch(0, [
            new SetCommand("k", new byte[] { 1 }) { IdempotencyKey = "abc" },
            new DeleteCommand("k"),
        ])));

        Assert.Equal("abc", decoded.Commands[0].IdempotencyKey);
        Assert.Null(decoded.Commands[1].IdempotencyKey);
    }
}

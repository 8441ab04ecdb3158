using AspireCache.Node.StateMachine;

namespace AspireCache.Tests.Unit;

public sealed class CacheStateTests
{
    private static CommandResult ApplyOne(CacheState state, CacheCommand command, long timestamp = 1000) =>
        state.Apply(new CommandBatch(timestamp, [command]))[0];

    [Fact]
    public void Set_creates_then_updates_with_increasing_versions()
    {
        var state = new CacheState();

        var created = ApplyOne(state, new SetCommand("k", new byte[] { 1 }), timestamp: 1000);
        var updated = ApplyOne(state, new SetCommand("k", new byte[] { 2 }), timestamp: 2000);

        Assert.Equal(new CommandResult(CommandOutcome.Created, 1), created);
        Assert.Equal(new CommandResult(CommandOutcome.Updated, 2), updated);
        Assert.True(state.TryGet("k", out var entry));
        Assert.Equal(new byte[] { 2 }, entry.Value.ToArray());
        Assert.Equal(2, entry.Version);
        Assert.Equal(1000, entry.CreatedUnixMs);
        Assert.Equal(2000, entry.UpdatedUnixMs);
    }

    [Fact]
    public void Delete_of_absent_key_reports_not_found_and_changes_nothing()
    {
        var state = new CacheState();
        ApplyOne(state, new SetCommand("a", new byte[] { 1 }));

        var result = ApplyOne(state, new DeleteCommand("missing"));

        Assert.Equal(CommandOutcome.NotFound, result.Outcome);
        Assert.Equal(1, state.Revision);
        Assert.Equal(1, state.Count);
    }

    [Fact]
    public void Delete_removes_the_key_and_advances_the_revision()
    {
        var state = new CacheState();
        ApplyOne(state, new SetCommand("a", new byte[] { 1, 2, 3 }));

        var result = ApplyOne(state, new DeleteCommand("a"));

        Assert.Equal(new CommandResult(CommandOutcome.Deleted, 2), result);
        Assert.False(state.TryGet("a", out _));
        Assert.Equal(0, state.SizeBytes);
    }

    [Fact]
    public void Batch_applies_every_change_at_one_revision()
    {
        var state = new CacheState();
        ApplyOne(state, new SetCommand("gone", new byte[] { 0 }));

        var result = ApplyOne(state, new BatchCommand([new("x", new byte[] { 1 }), new("y", new byte[] { 2 })], ["gone", "never-existed"]));

        Assert.Equal(new CommandResult(CommandOutcome.BatchApplied, 2), result);
        Assert.True(state.TryGet("x", out var x));
        Assert.True(state.TryGet("y", out var y));
        Assert.Equal(2, x.Version);
        Assert.Equal(2, y.Version);
        Assert.False(state.TryGet("gone", out _));
    }

    [Fact]
    public void One_entry_with_many_commands_gives_each_its_own_revision()
    {
        var state = new CacheState();

        var results = state.Apply(new CommandBatch(0, [
            new SetCommand("a", new byte[] { 1 }),
            new SetCommand("a", new byte[] { 2 }),
            new DeleteCommand("a"),
            new DeleteCommand("a"),
        ]));

        Assert.Equal([1L, 2L, 3L, 3L], results.Select(r => r.Revision));
        Assert.Equal([CommandOutcome.Created, CommandOutcome.Updated, CommandOutcome.Deleted, CommandOutcome.NotFound], results.Select(r => r.Outcome));
    }

    [Fact]
    public void A_reader_holding_a_view_never_sees_a_later_batch()
    {
        var state = new CacheState();
        ApplyOne(state, new SetCommand("a", new byte[] { 1 }));
        var view = state.View;

        ApplyOne(state, new BatchCommand([new("a", new byte[] { 2 }), new("b", new byte[] { 2 })], []));

        Assert.Equal(new byte[] { 1 }, view["a"].Value.ToArray());
        Assert.False(view.ContainsKey("b"));
    }

    [Fact]
    public async Task A_restore_that_fails_half_way_leaves_the_state_and_its_idempotency_records_untouched()
    {
        var source = new CacheState();
        ApplyOne(source, new SetCommand("s1", new byte[] { 1 }) { IdempotencyKey = "from-leader" }, timestamp: 10);
        using var full = new MemoryStream();
        await CacheState.WriteSnapshotAsync(source.Current, source.Idempotency, full, CancellationToken.None);

        var state = new CacheState();
        ApplyOne(state, new SetCommand("mine", new byte[] { 7 }) { IdempotencyKey = "local" }, timestamp: 5);
        var before = state.Current;

        // Cut inside the idempotency records: the entries were all read, the table not yet.
        var truncated = new MemoryStream(full.ToArray()[..^5]);
        await Assert.ThrowsAnyAsync<EndOfStreamException>(() => state.RestoreSnapshotAsync(truncated, CancellationToken.None).AsTask());

        Assert.Same(before, state.Current);
        Assert.True(state.Idempotency.TryGet("local", out _));
        Assert.False(state.Idempotency.TryGet("from-leader", out _));
    }

    [Fact]
    public async Task Snapshot_then_restore_gives_the_same_state()
    {
        var state = new CacheState();
        ApplyOne(state, new SetCommand("a", new byte[] { 1, 2 }), timestamp: 10);
        ApplyOne(state, new SetCommand("ключ", Array.Empty<byte>()), timestamp: 20);
        ApplyOne(state, new SetCommand("a", new byte[] { 3 }), timestamp: 30);
        ApplyOne(state, new BatchCommand([new("b", new byte[] { 4 })], ["ключ"]), timestamp: 40);
        ApplyOne(state, new SetCommand("empty", Array.Empty<byte>()), timestamp: 50);

        using var stream = new MemoryStream();
        await CacheState.WriteSnapshotAsync(state.Current, state.Idempotency, stream, CancellationToken.None);
        stream.Position = 0;
        var restored = new CacheState();
        await restored.RestoreSnapshotAsync(stream, CancellationToken.None);

        Assert.Equal(state.Revision, restored.Revision);
        Assert.Equal(state.SizeBytes, restored.SizeBytes);
        Assert.Equal(state.View.Count, restored.View.Count);
        foreach (var (key, entry) in state.View)
        {
            var copy = restored.View[key];
            Assert.Equal(entry.Value.ToArray(), copy.Value.ToArray());
            Assert.Equal(entry.Version, copy.Version);
            Assert.Equal(entry.CreatedUnixMs, copy.CreatedUnixMs);
            Assert.Equal(entry.UpdatedUnixMs, copy.UpdatedUnixMs);
        }

        // And the restored state keeps evolving identically.
        Assert.Equal(ApplyOne(state, new SetCommand("c", new byte[] { 9 })), ApplyOne(restored, new SetCommand("c", new byte[] { 9 })));
    }

    [Fact]
    public async Task Corrupt_snapshot_is_a_format_error()
    {
        var header = new byte[13];
        header[0] = 42; // unknown snapshot format version
        using var stream = new MemoryStream(header);

        await Assert.ThrowsAsync<CommandFormatException>(async () => await new CacheState().RestoreSnapshotAsync(stream, CancellationToken.None));
    }
}

using AspireCache.Node.StateMachine;

namespace AspireCache.Tests.Unit;

/// <summary>
/// <see cref="SnapshotHold"/>: a snapshot waits while any catch-up is in flight, and never longer than the limit
/// (the log must stay bounded even if followers are caught up back to back for ever).
/// </summary>
public sealed class SnapshotHoldTests
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(5);

    [Fact]
    public async Task Nothing_waits_without_a_catch_up()
    {
        var hold = new SnapshotHold(Long);
        Assert.False(hold.IsHeld);
        Assert.True(hold.WaitAsync(CancellationToken.None) is { IsCompletedSuccessfully: true, Result: true });

        hold.Enter().Dispose();
        Assert.False(hold.IsHeld);
        Assert.True(await hold.WaitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task A_snapshot_waits_until_the_last_of_overlapping_catch_ups_ends()
    {
        var hold = new SnapshotHold(Long);
        var first = hold.Enter();
        var second = hold.Enter();
        var waiting = hold.WaitAsync(CancellationToken.None);
        Assert.True(hold.IsHeld);

        first.Dispose();
        first.Dispose(); // once only: it must not end the second's hold
        Assert.True(hold.IsHeld);
        Assert.False(waiting.IsCompleted);

        second.Dispose();
        Assert.True(await waiting.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.False(hold.IsHeld);

        // A later catch-up holds again, with its limit counted from its own start.
        using var third = hold.Enter();
        Assert.True(hold.IsHeld);
    }

    [Fact]
    public async Task A_hold_ends_after_its_limit_even_while_catch_ups_go_on()
    {
        var hold = new SnapshotHold(TimeSpan.FromMilliseconds(200));
        using var endless = hold.Enter();
        Assert.False(await hold.WaitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10))); // not released: its limit
    }

    [Fact]
    public async Task After_a_snapshot_was_sent_the_hold_lasts_until_the_followers_next_round()
    {
        var hold = new SnapshotHold(Long);
        var sent = hold.Enter();
        var waiting = hold.WaitAsync(CancellationToken.None);
        sent.EndAfter(TimeSpan.FromSeconds(2));
        sent.Dispose(); // the handler's using: no effect once EndAfter was called
        Assert.True(hold.IsHeld);
        Assert.False(waiting.IsCompleted);
        Assert.True(await waiting.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.False(hold.IsHeld);
    }

    [Fact]
    public async Task A_wait_is_cancelled_with_the_state_machine()
    {
        var hold = new SnapshotHold(Long);
        using var transfer = hold.Enter();
        using var stopping = new CancellationTokenSource();
        var waiting = hold.WaitAsync(stopping.Token);
        await stopping.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
    }
}

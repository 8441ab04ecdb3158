using AspireCache.Node.Raft;
using AspireCache.Node.StateMachine;

namespace AspireCache.Tests.Unit;

/// <summary>Issue #15: the applied-index waiter queue has a bound, and cancelled reads leave it.</summary>
public sealed class ReadWaitersBoundsTests
{
    [Fact]
    public async Task Beyond_the_bound_a_wait_is_refused_as_overloaded()
    {
        var applied = new AppliedIndex { MaxWaiters = 2 };
        var first = applied.WaitForAsync(5, CancellationToken.None);
        var second = applied.WaitForAsync(6, CancellationToken.None);

        var refused = await Assert.ThrowsAsync<ApplyWaitersFullException>(() => applied.WaitForAsync(7, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5)));

        Assert.Contains("waiting", refused.Message, StringComparison.Ordinal);
        Assert.Equal(2, applied.Waiters);
        applied.Advance(6);
        await Task.WhenAll(first, second).WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(0, applied.Waiters);
        await applied.WaitForAsync(6, CancellationToken.None); // below the applied index: never queued
    }

    [Fact]
    public async Task Cancelled_waiters_free_their_slots_while_apply_is_stalled()
    {
        var applied = new AppliedIndex { MaxWaiters = 2 };
        for (var i = 0; i < 100; i++)
        {
            using var cts = new CancellationTokenSource();
            var wait = applied.WaitForAsync(10, cts.Token);
            await cts.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait);
        }

        Assert.Equal(0, applied.Waiters);
        var a = applied.WaitForAsync(10, CancellationToken.None);
        var b = applied.WaitForAsync(10, CancellationToken.None);
        applied.Advance(10);
        await Task.WhenAll(a, b).WaitAsync(TimeSpan.FromSeconds(5));
    }
}

using AspireCache.Node.Raft;
using AspireCache.Node.StateMachine;

namespace AspireCache.Tests.Unit;

public sealed class ReadPathPrimitivesTests
{
    [Fact]
    public async Task Applied_index_waiters_complete_when_apply_reaches_them()
    {
        var applied = new AppliedIndex();
        var early = applied.WaitForAsync(2, CancellationToken.None);
        var late = applied.WaitForAsync(5, CancellationToken.None);

        applied.Advance(3);
        await early.WaitAsync(TimeSpan.FromSeconds(5));

        Assert.False(late.IsCompleted);
        applied.Advance(5);
        await late.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.True(applied.WaitForAsync(4, CancellationToken.None).IsCompleted);
    }

    [Fact]
    public async Task Applied_index_wait_honours_cancellation()
    {
        var applied = new AppliedIndex();
        using var cts = new CancellationTokenSource();
        var wait = applied.WaitForAsync(10, cts.Token);

        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait);
    }

    [Fact]
    public async Task Concurrent_callers_share_rounds_and_never_reuse_a_round_started_before_they_arrived()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = 0;
        var batcher = new RoundBatcher<int>(async _ =>
        {
            var round = Interlocked.Increment(ref started);
            if (round == 1)
            {
                await gate.Task;
            }

            return round;
        });

        var first = batcher.JoinAsync(CancellationToken.None);     // starts round 1
        var waiting = Enumerable.Range(0, 50).Select(_ => batcher.JoinAsync(CancellationToken.None)).ToArray();
        gate.SetResult();

        Assert.Equal(1, await first);
        var answers = await Task.WhenAll(waiting);
        Assert.All(answers, a => Assert.Equal(2, a)); // all joined round 2, which began after they arrived
        Assert.Equal(2, batcher.Rounds);
    }

    [Fact]
    public async Task A_failed_round_fails_its_callers_and_the_next_round_runs()
    {
        var calls = 0;
        var batcher = new RoundBatcher<int>(_ => ++calls == 1 ? throw new InvalidOperationException("boom") : Task.FromResult(calls));

        await Assert.ThrowsAsync<InvalidOperationException>(() => batcher.JoinAsync(CancellationToken.None));
        Assert.Equal(2, await batcher.JoinAsync(CancellationToken.None));
    }
}

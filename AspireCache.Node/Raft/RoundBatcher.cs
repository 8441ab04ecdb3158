namespace AspireCache.Node.Raft;

/// <summary>
/// Lets many concurrent callers share one asynchronous round (a quorum confirmation, a request to
/// the leader). A caller that arrives while a round is running joins the <em>next</em> round, which
/// starts when the current one ends: a round that began before the caller arrived must not answer
/// for it (ReadIndex must be taken after the read arrives).
/// </summary>
public sealed class RoundBatcher<T>(Func<CancellationToken, Task<T>> round)
{
    private readonly Lock _lock = new();
    private bool _running;
    private TaskCompletionSource<T>? _next;

    /// <summary>Rounds started so far (for tests and metrics).</summary>
    public long Rounds => Interlocked.Read(ref _rounds);

    private long _rounds;

    public Task<T> JoinAsync(CancellationToken token)
    {
        Task<T> task;
        lock (_lock)
        {
            if (_running)
            {
                _next ??= new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
                task = _next.Task;
            }
            else
            {
                _running = true;
                var first = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
                task = first.Task;
                _ = RunAsync(first);
            }
        }

        return token.CanBeCanceled ? task.WaitAsync(token) : task;
    }

    private async Task RunAsync(TaskCompletionSource<T> waiters)
    {
        while (true)
        {
            Interlocked.Increment(ref _rounds);
            try
            {
                waiters.TrySetResult(await round(CancellationToken.None));
            }
            catch (Exception ex)
            {
                waiters.TrySetException(ex);
            }

            lock (_lock)
            {
                if (_next is null)
                {
                    _running = false;
                    return;
                }

                waiters = _next;
                _next = null;
            }
        }
    }
}

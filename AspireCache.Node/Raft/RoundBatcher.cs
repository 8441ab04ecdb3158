namespace AspireCache.Node.Raft;

/// <summary>
/// Lets many concurrent callers share one asynchronous round (a quorum confirmation, a request to
/// the leader). A caller that arrives while a round is running joins the <em>next</em> round, which
/// starts when the current one ends: a round that began before the caller arrived must not answer
/// for it (ReadIndex must be taken after the read arrives).
/// </summary>
public sealed class RoundBatcher<T>(Func<CancellationToken, Task<T>> round, string? activityName = null)
{
    private readonly Lock _lock = new();
    private bool _running;
    private TaskCompletionSource<T>? _next;
    private System.Diagnostics.ActivityContext _nextParent;

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
                if (_next is null)
                {
                    _next = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
                    _nextParent = System.Diagnostics.Activity.Current?.Context ?? default;
                }

                task = _next.Task;
            }
            else
            {
                _running = true;
                var first = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
                task = first.Task;
                var parent = System.Diagnostics.Activity.Current?.Context ?? default;

                // The loop outlives this caller: don't let it inherit the caller's ambient context.
                using (ExecutionContext.SuppressFlow())
                {
                    _ = Task.Run(() => RunAsync(first, parent));
                }
            }
        }

        return token.CanBeCanceled ? task.WaitAsync(token) : task;
    }

    private async Task RunAsync(TaskCompletionSource<T> waiters, System.Diagnostics.ActivityContext parent)
    {
        while (true)
        {
            Interlocked.Increment(ref _rounds);

            // Each round is traced under the first caller that waits for it (others share it).
            using (var activity = activityName is null ? null : Diagnostics.NodeTelemetry.Source.StartActivity(activityName, System.Diagnostics.ActivityKind.Internal, parent))
            {
                try
                {
                    waiters.TrySetResult(await round(CancellationToken.None));
                }
                catch (Exception ex)
                {
                    activity?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, ex.Message);
                    waiters.TrySetException(ex);
                }
            }

            lock (_lock)
            {
                if (_next is null)
                {
                    _running = false;
                    return;
                }

                waiters = _next;
                parent = _nextParent;
                _next = null;
            }
        }
    }
}

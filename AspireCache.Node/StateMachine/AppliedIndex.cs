namespace AspireCache.Node.StateMachine;

/// <summary>
/// The index of the last log entry applied to the local state, with an awaitable
/// "wait until applied ≥ i" for the read path. Waiters are completed by the apply loop;
/// nobody polls.
/// </summary>
public sealed class AppliedIndex
{
    private readonly Lock _lock = new();
    private readonly PriorityQueue<TaskCompletionSource, long> _waiters = new();
    private long _value;

    public long Value => Volatile.Read(ref _value);

    /// <summary>Number of readers currently waiting for apply to catch up.</summary>
    public int Waiters
    {
        get
        {
            lock (_lock)
            {
                return _waiters.Count;
            }
        }
    }

    /// <summary>Called by the apply loop after the entry at <paramref name="index"/> is applied.</summary>
    public void Advance(long index)
    {
        if (index <= Volatile.Read(ref _value))
        {
            return;
        }

        List<TaskCompletionSource>? ready = null;
        lock (_lock)
        {
            Volatile.Write(ref _value, index);
            while (_waiters.TryPeek(out var waiter, out var wanted) && wanted <= index)
            {
                _waiters.Dequeue();
                (ready ??= []).Add(waiter);
            }
        }

        // Continuations run on the thread pool (RunContinuationsAsynchronously), never inline in apply.
        if (ready is not null)
        {
            foreach (var waiter in ready)
            {
                waiter.TrySetResult();
            }
        }
    }

    /// <summary>Completes when the applied index reaches <paramref name="index"/>.</summary>
    public Task WaitForAsync(long index, CancellationToken token)
    {
        if (Volatile.Read(ref _value) >= index)
        {
            return Task.CompletedTask;
        }

        var waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            if (_value >= index)
            {
                return Task.CompletedTask;
            }

            _waiters.Enqueue(waiter, index);
        }

        return token.CanBeCanceled ? waiter.Task.WaitAsync(token) : waiter.Task;
    }
}

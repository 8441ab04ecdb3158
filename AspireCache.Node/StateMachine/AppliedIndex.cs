namespace AspireCache.Node.StateMachine;

/// <summary>
/// The index of the last log entry applied to the local state, with an awaitable
/// "wait until applied ≥ i" for the read path. Waiters are completed by the apply loop;
/// nobody polls.
/// <para><b>Bounds.</b> At most <see cref="MaxWaiters"/> waiters are queued; beyond, a wait is refused
/// with <see cref="ApplyWaitersFullException"/> (the read path answers 503 overloaded +
/// Retry-After). A cancelled waiter completes at once and its slot is reclaimed, so reads that
/// timed out while apply stalls do not hold the queue.</para>
/// </summary>
public sealed class AppliedIndex
{
    private readonly Lock _lock = new();
    private readonly PriorityQueue<TaskCompletionSource, long> _waiters = new();
    private long _value;
    private int _cancelled; // queued waiters already cancelled (approximate; reset by compaction)
    private int _maxWaiters = int.MaxValue;

    public long Value => Volatile.Read(ref _value);

    /// <summary>Most readers queued at once (default: unbounded; the read path sets it).</summary>
    public int MaxWaiters
    {
        get => Volatile.Read(ref _maxWaiters);
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            Volatile.Write(ref _maxWaiters, value);
        }
    }

    /// <summary>Number of readers currently waiting for apply to catch up.</summary>
    public int Waiters
    {
        get
        {
            lock (_lock)
            {
                return Math.Max(0, _waiters.Count - _cancelled);
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
                if (waiter.Task.IsCompleted)
                {
                    _cancelled = Math.Max(0, _cancelled - 1);
                    continue;
                }

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

    /// <summary>
    /// Completes when the applied index reaches <paramref name="index"/>. Fails with
    /// <see cref="ApplyWaitersFullException"/> when
    /// <see cref="MaxWaiters"/> readers are already waiting.
    /// </summary>
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

            var max = MaxWaiters;
            if (_waiters.Count >= max)
            {
                RemoveCancelled();
                if (_waiters.Count >= max)
                {
                    return Task.FromException(new ApplyWaitersFullException($"More than {max} reads are waiting for this node to apply the log; retry shortly."));
                }
            }

            _waiters.Enqueue(waiter, index);
        }

        return token.CanBeCanceled ? WaitCancellableAsync(waiter, token) : waiter.Task;
    }

    private async Task WaitCancellableAsync(TaskCompletionSource waiter, CancellationToken token)
    {
        await using (token.Register(Cancel, waiter))
        {
            await waiter.Task;
        }

        void Cancel(object? state)
        {
            if (((TaskCompletionSource)state!).TrySetCanceled(token))
            {
                lock (_lock)
                {
                    _cancelled++;
                    if (_cancelled >= 64 && _cancelled * 2 >= _waiters.Count)
                    {
                        RemoveCancelled();
                    }
                }
            }
        }
    }

    /// <summary>Under the lock: drops waiters that already completed (cancelled).</summary>
    private void RemoveCancelled()
    {
        if (_cancelled == 0)
        {
            return;
        }

        var live = _waiters.UnorderedItems.Where(w => !w.Element.Task.IsCompleted).ToList();
        _waiters.Clear();
        _waiters.EnqueueRange(live);
        _cancelled = 0;
    }
}

/// <summary>More readers wait for apply than <see cref="AppliedIndex.MaxWaiters"/> allows.</summary>
public sealed class ApplyWaitersFullException(string message) : InvalidOperationException(message);

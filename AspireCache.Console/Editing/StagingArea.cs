namespace AspireCache.Console.Editing;

/// <summary>What a staged change does to its key.</summary>
public enum ChangeKind
{
    Set,
    Delete,
}

/// <summary>
/// One staged change: the key as the operator saw it (<see cref="BaseVersion"/>, 0 = absent, with its
/// value) and what it becomes. Published, its condition is "still at <see cref="BaseVersion"/>".
/// </summary>
public sealed record StagedChange(string Key, ChangeKind Kind, long BaseVersion, ReadOnlyMemory<byte>? BaseValue, ReadOnlyMemory<byte>? NewValue, DateTimeOffset? BaseExpiresAt = null)
{
    /// <summary>A change to a key that did not exist when it was staged.</summary>
    public bool IsCreate => BaseVersion == 0;

    /// <summary>The key had a TTL, which a batch write does not carry (batches write without TTL).</summary>
    public bool DropsTtl => Kind == ChangeKind.Set && BaseExpiresAt is not null;
}

/// <summary>The changes an operator staged for one atomic publish (one per key; staging a key again replaces its change). Thread-safe.</summary>
public sealed class StagingArea
{
    private readonly Lock _lock = new();
    private readonly List<StagedChange> _changes = [];

    /// <summary>Raised after every change to the staged set.</summary>
    public event Action? Changed;

    /// <summary>The staged changes, in staging order.</summary>
    public IReadOnlyList<StagedChange> Changes
    {
        get
        {
            lock (_lock)
            {
                return [.. _changes];
            }
        }
    }

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _changes.Count;
            }
        }
    }

    /// <summary>Stages <paramref name="change"/>, replacing an earlier change of the same key.</summary>
    public void Stage(StagedChange change)
    {
        lock (_lock)
        {
            var index = _changes.FindIndex(c => c.Key == change.Key);
            if (index >= 0)
            {
                _changes[index] = change;
            }
            else
            {
                _changes.Add(change);
            }
        }

        Changed?.Invoke();
    }

    public StagedChange? Find(string key)
    {
        lock (_lock)
        {
            return _changes.Find(c => c.Key == key);
        }
    }

    public bool Remove(string key)
    {
        bool removed;
        lock (_lock)
        {
            removed = _changes.RemoveAll(c => c.Key == key) > 0;
        }

        if (removed)
        {
            Changed?.Invoke();
        }

        return removed;
    }

    public void Clear()
    {
        lock (_lock)
        {
            _changes.Clear();
        }

        Changed?.Invoke();
    }
}

using System.Diagnostics;

namespace AspireCache.Verification;

/// <summary>A pending operation of a <see cref="HistoryRecorder"/>; complete it exactly once.</summary>
public sealed class OperationHandle
{
    internal OperationHandle(HistoryRecorder owner, int index, OpKind kind)
    {
        Owner = owner;
        Index = index;
        Kind = kind;
    }

    internal HistoryRecorder Owner { get; }

    /// <summary>Position of the operation in the recorder's history (invoke order).</summary>
    public int Index { get; }

    public OpKind Kind { get; }
}

/// <summary>
/// Thread-safe recorder of a concurrent history. Call a <c>Begin…</c> method immediately before sending a request
/// (it takes the invoke timestamp), then <see cref="Complete"/> (or a typed <c>Complete…</c>) as soon as the response
/// arrives, or <see cref="CompleteUnknown"/> on a timeout / reset connection / 5xx whose effect is unknown.
/// Timestamps are <see cref="Stopwatch.GetTimestamp"/> values (monotonic).
/// </summary>
public sealed class HistoryRecorder
{
    private readonly Lock _gate = new();
    private readonly List<Operation> _operations = [];
    private readonly List<bool> _completed = [];

    /// <summary>Number of operations begun so far.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _operations.Count;
            }
        }
    }

    public OperationHandle BeginRead(int clientId, string key) =>
        Begin(new Operation(clientId, OpKind.Read, Require(key), null, null, null, null, false, null, null, null, 0, long.MaxValue));

    public OperationHandle BeginWrite(int clientId, string key, string value) =>
        Begin(new Operation(clientId, OpKind.Write, Require(key), Require(value), null, null, null, false, null, null, null, 0, long.MaxValue));

    public OperationHandle BeginDelete(int clientId, string key) =>
        Begin(new Operation(clientId, OpKind.Delete, Require(key), null, null, null, null, false, null, null, null, 0, long.MaxValue));

    /// <param name="expectedVersion">The version the key must have; <c>null</c> means "the key must be absent".</param>
    public OperationHandle BeginCompareAndSet(int clientId, string key, long? expectedVersion, string value) =>
        Begin(new Operation(clientId, OpKind.CompareAndSet, Require(key), Require(value), expectedVersion, null, null, false, null, null, null, 0, long.MaxValue));

    public OperationHandle BeginBatch(int clientId, IReadOnlyDictionary<string, string>? set, IReadOnlyList<string>? delete)
    {
        // Copy the inputs: the caller may reuse its collections.
        var setCopy = new Dictionary<string, string>(set ?? new Dictionary<string, string>(), StringComparer.Ordinal);
        var deleteCopy = (delete ?? []).ToArray();
        if (setCopy.Count + deleteCopy.Length == 0)
        {
            throw new ArgumentException("A batch must touch at least one key.");
        }

        return Begin(new Operation(clientId, OpKind.Batch, string.Empty, null, null, setCopy, deleteCopy, false, null, null, null, 0, long.MaxValue));
    }

    /// <summary>Records the response of <paramref name="handle"/>'s operation.</summary>
    public void Complete(OperationHandle handle, OpResult result)
    {
        var now = Stopwatch.GetTimestamp();
        Finish(handle, op => WithResult(op, result, now));
    }

    /// <summary>
    /// A new pending operation with the same inputs as <paramref name="original"/> (invoked now): the same request
    /// sent again under the same Idempotency-Key to learn an unknown outcome (see <c>OutcomeResolver</c> in AspireCache.Tests).
    /// </summary>
    public OperationHandle BeginRetry(OperationHandle original)
    {
        ArgumentNullException.ThrowIfNull(original);
        Operation template;
        lock (_gate)
        {
            template = _operations[original.Index];
        }

        return Begin(template with { Known = false, ReadValue = null, Version = null, Success = null, Complete = long.MaxValue });
    }

    /// <summary>
    /// The outcome of an operation recorded as unknown has been learnt (its idempotent retry replayed the recorded
    /// result): it took effect with <paramref name="result"/> somewhere between its invoke and now.
    /// </summary>
    public void Resolve(OperationHandle handle, OpResult result)
    {
        var now = Stopwatch.GetTimestamp();
        Reopen(handle, op => WithResult(op, result, now));
    }

    /// <summary>An operation recorded as unknown is now known never to have taken effect: drop it.</summary>
    public void Withdraw(OperationHandle handle)
    {
        Reopen(handle, op => op);
        lock (_gate)
        {
            _discarded.Add(handle.Index);
        }
    }

    private static Operation WithResult(Operation op, OpResult result, long now)
    {
        switch (op.Kind)
        {
            case OpKind.Read:
                if (result.Success is not null)
                {
                    throw new ArgumentException("A read has no Success output.", nameof(result));
                }

                return op with { Known = true, ReadValue = result.ReadValue, Version = result.ReadValue is null ? null : result.Version, Complete = now };

            case OpKind.Delete:
            case OpKind.CompareAndSet:
                if (result.Success is not { } success)
                {
                    throw new ArgumentException($"A {op.Kind} needs its Success output.", nameof(result));
                }

                return op with { Known = true, Success = success, Version = success ? result.Version : null, Complete = now };

            default:
                return op with { Known = true, Version = result.Version, Complete = now };
        }
    }

    private void Reopen(OperationHandle handle, Func<Operation, Operation> change)
    {
        ArgumentNullException.ThrowIfNull(handle);
        if (!ReferenceEquals(handle.Owner, this))
        {
            throw new ArgumentException("The handle belongs to another recorder.", nameof(handle));
        }

        lock (_gate)
        {
            var op = _operations[handle.Index];
            if (!_completed[handle.Index] || op.Known || _discarded.Contains(handle.Index))
            {
                throw new InvalidOperationException($"Operation {handle.Index} ({handle.Kind}) is not an operation of unknown outcome.");
            }

            _operations[handle.Index] = change(op);
        }
    }

    public void CompleteRead(OperationHandle handle, string? value, long? version) => Complete(Expect(handle, OpKind.Read), OpResult.ReadOk(value, version));

    public void CompleteWrite(OperationHandle handle, long? version) => Complete(Expect(handle, OpKind.Write), OpResult.Written(version));

    public void CompleteDelete(OperationHandle handle, bool found, long? version = null) => Complete(Expect(handle, OpKind.Delete), OpResult.Deleted(found, version));

    public void CompleteCompareAndSet(OperationHandle handle, bool success, long? newVersion) =>
        Complete(Expect(handle, OpKind.CompareAndSet), OpResult.CompareAndSetDone(success, newVersion));

    public void CompleteBatch(OperationHandle handle, long? version) => Complete(Expect(handle, OpKind.Batch), OpResult.BatchApplied(version));

    /// <summary>The operation's outcome is unknown (it may or may not have taken effect).</summary>
    public void CompleteUnknown(OperationHandle handle) => Finish(handle, op => op with { Known = false, Complete = long.MaxValue });

    /// <summary>The operation definitely did not take effect (rejected before anything was proposed): drop it.</summary>
    public void Discard(OperationHandle handle)
    {
        Finish(handle, op => op with { Known = false, Complete = long.MaxValue });
        lock (_gate)
        {
            _discarded.Add(handle.Index);
        }
    }

    /// <summary>
    /// Writes every operation (discarded ones too, marked) as JSON lines to a file under the temp
    /// directory and returns its path: a violating history can then be re-checked and read offline
    /// (<see cref="HistoryFile.Read"/>).
    /// </summary>
    public string Dump(string name, IReadOnlyDictionary<string, string>? outcomes = null)
    {
        var path = Path.Combine(Path.GetTempPath(), $"aspirecache-history-{name}-{DateTime.UtcNow:yyyyMMdd-HHmmss}.jsonl");
        using var writer = new StreamWriter(path);
        lock (_gate)
        {
            HistoryFile.Write(writer, _operations.Select((op, i) => new HistoryLine(
                i,
                _discarded.Contains(i),
                op,
                op.Value is { } v && outcomes is not null && outcomes.TryGetValue(v, out var o) ? o : null)));
        }

        return path;
    }

    /// <summary>
    /// A copy of the history so far, in invoke order. Operations not completed yet appear with an unknown outcome.
    /// </summary>
    public IReadOnlyList<Operation> Snapshot()
    {
        lock (_gate)
        {
            return _discarded.Count == 0
                ? _operations.ToArray()
                : _operations.Where((_, i) => !_discarded.Contains(i)).ToArray();
        }
    }

    private readonly HashSet<int> _discarded = [];

    private OperationHandle Begin(Operation template)
    {
        lock (_gate)
        {
            // The timestamp is taken under the lock so that list order is invoke order; taking it a little late is
            // harmless since the request is only sent after Begin returns.
            var op = template with { Invoke = Stopwatch.GetTimestamp() };
            _operations.Add(op);
            _completed.Add(false);
            return new OperationHandle(this, _operations.Count - 1, op.Kind);
        }
    }

    private void Finish(OperationHandle handle, Func<Operation, Operation> complete)
    {
        ArgumentNullException.ThrowIfNull(handle);
        if (!ReferenceEquals(handle.Owner, this))
        {
            throw new ArgumentException("The handle belongs to another recorder.", nameof(handle));
        }

        lock (_gate)
        {
            if (_completed[handle.Index])
            {
                throw new InvalidOperationException($"Operation {handle.Index} ({handle.Kind}) was already completed.");
            }

            _operations[handle.Index] = complete(_operations[handle.Index]);
            _completed[handle.Index] = true;
        }
    }

    private static OperationHandle Expect(OperationHandle handle, OpKind kind)
    {
        ArgumentNullException.ThrowIfNull(handle);
        return handle.Kind == kind
            ? handle
            : throw new InvalidOperationException($"Operation {handle.Index} is a {handle.Kind}, not a {kind}.");
    }

    private static string Require(string value, [System.Runtime.CompilerServices.CallerArgumentExpression(nameof(value))] string? name = null)
    {
        ArgumentNullException.ThrowIfNull(value, name);
        return value;
    }
}

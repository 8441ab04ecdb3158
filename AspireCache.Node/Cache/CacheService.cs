using AspireCache.Node.HotKeys;
using System.Diagnostics;
using AspireCache.Node.Diagnostics;
using AspireCache.Node.Eviction;
using AspireCache.Node.Raft;
using AspireCache.Node.StateMachine;
using Microsoft.Extensions.Options;

namespace AspireCache.Node.Cache;

/// <summary>How a read was made consistent: what the answer's headers tell the caller.</summary>
/// <param name="Linearizable">A confirmed read index was applied before reading (else: a stale read).</param>
/// <param name="ReadIndex">The confirmed read index (linearizable only).</param>
/// <param name="AppliedIndex">What this node had applied when it read.</param>
/// <param name="CommitIndex">The commit index this node had heard of (stale reads judge their lag by it).</param>
public readonly record struct ReadPosition(bool Linearizable, long ReadIndex, long AppliedIndex, long CommitIndex);

/// <summary>A key's value as read, or <c>null</c> when absent or expired; <paramref name="NowUnixMs"/> is the clock the expiry was judged by.</summary>
public readonly record struct ReadResult(CacheEntry? Entry, long NowUnixMs, ReadPosition Position, long Revision);

/// <summary>Where a batch of reads was served: the node's clock, its read position and the view's revision.</summary>
public readonly record struct ReadManyResult(long NowUnixMs, ReadPosition Position, long Revision);

/// <summary>One page of a prefix, at one revision of the state.</summary>
public readonly record struct ListResult(List<KeyValuePair<string, CacheEntry>> Page, bool More, long Revision, ReadPosition Position);

/// <summary>Why a write was refused before anything was proposed (memory budget).</summary>
public sealed record MemoryRefusal(bool Never, long NeededBytes, long BudgetBytes);

/// <summary>A write's result, or the memory refusal that kept it from being proposed.</summary>
public readonly record struct WriteResult(CommandResult Result, MemoryRefusal? Refused);

/// <summary>
/// The cache under the HTTP API, as etcd's <c>RaftKV</c>: reads (linearizable through the read
/// index, or stale), prefix listing, and writes through the log, returning outcomes. It owns what
/// every caller needs the same way: the memory-budget check before proposing, hiding expired values,
/// recording reads for LRU and hot-key statistics. Handlers parse, call this, and map to HTTP.
/// </summary>
public sealed class CacheService(
    ReadIndexService readIndex,
    WriteCoordinator writes,
    CacheStateMachine stateMachine,
    ClusterView cluster,
    NodeTelemetry telemetry,
    TimeProvider clock,
    AccessTracker access,
    HotKeyTracker hotKeys,
    IOptions<EvictionOptions> eviction)
{
    private readonly EvictionOptions _eviction = eviction.Value;

    private CacheState State => stateMachine.State;

    /// <summary>Reads one key. An expired value is never returned, even before the leader's removal reaches this node.</summary>
    public async Task<ReadResult> GetAsync(string key, bool linearizable, CancellationToken token)
    {
        using var activity = NodeTelemetry.Source.StartActivity("cache.read");
        activity?.SetTag("cache.consistency", linearizable ? "linearizable" : "stale");
        var position = await EstablishAsync(linearizable, token);
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();

        // One immutable view: the answer is the key's state at exactly view.Revision (near caches rely on it).
        var view = State.Current;
        if (Lookup(view, key, now) is not { } entry)
        {
            activity?.SetTag("cache.hit", false);
            return new ReadResult(null, now, position, view.Revision);
        }

        activity?.SetTag("cache.hit", true);
        activity?.SetTag("cache.version", entry.Version);
        return new ReadResult(entry, now, position, view.Revision);
    }

    /// <summary>A live key's entry in <paramref name="view"/> (null: absent or expired), its read recorded for LRU and hot keys.</summary>
    private CacheEntry? Lookup(StateView view, string key, long now)
    {
        if (!view.Entries.TryGetValue(key, out var entry) || entry.IsExpiredAt(now))
        {
            return null;
        }

        access.Touch(key, now);
        hotKeys.Record(key);
        return entry;
    }

    /// <summary>
    /// Reads several keys from one immutable view — linearizable: under one read index — (the router's
    /// coalesced GETs): each answer is what a GET of that key alone, served at the same moment, would
    /// give. <paramref name="entries"/> gets one entry (or null: absent or expired) per key.
    /// </summary>
    public async Task<ReadManyResult> GetManyAsync(IReadOnlyList<string> keys, CacheEntry?[] entries, bool linearizable, CancellationToken token)
    {
        using var activity = NodeTelemetry.Source.StartActivity("cache.read_batch");
        activity?.SetTag("cache.consistency", linearizable ? "linearizable" : "stale");
        activity?.SetTag("cache.keys", keys.Count);
        var position = await EstablishAsync(linearizable, token);
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var view = State.Current;
        for (var i = 0; i < keys.Count; i++)
        {
            entries[i] = keys[i] is { Length: > 0 } key ? Lookup(view, key, now) : null; // "": a key the caller skips
        }

        return new ReadManyResult(now, position, view.Revision);
    }

    /// <summary>Up to <paramref name="limit"/> live keys under <paramref name="prefix"/> after <paramref name="after"/>, from one immutable view.</summary>
    public async Task<ListResult> ListAsync(string prefix, string? after, int limit, bool linearizable, CancellationToken token)
    {
        using var activity = NodeTelemetry.Source.StartActivity("cache.list");
        var position = await EstablishAsync(linearizable, token);
        var view = State.Current;
        var page = view.List(prefix, after, limit, clock.GetUtcNow().ToUnixTimeMilliseconds(), out var more);
        return new ListResult(page, more, view.Revision, position);
    }

    /// <summary>Writes a key through the log, unless it could not fit the memory budget.</summary>
    public async Task<WriteResult> PutAsync(SetCommand command, CancellationToken token)
    {
        if (CheckMemory(CacheState.SizeOf(command.Key, command.Value)) is { } refused)
        {
            return new WriteResult(default, refused);
        }

        return new WriteResult(await writes.ProposeAsync(command, token), null);
    }

    /// <summary>Deletes a key through the log: existence and conditions are decided at apply time, in log order.</summary>
    public Task<CommandResult> DeleteAsync(DeleteCommand command, CancellationToken token) => writes.ProposeAsync(command, token);

    /// <summary>Applies every set and delete at one revision, or none; refused up front if the sets could not fit the memory budget.</summary>
    public async Task<WriteResult> BatchAsync(BatchCommand command, CancellationToken token)
    {
        long bytes = 0;
        foreach (var (key, value) in command.Sets)
        {
            bytes += CacheState.SizeOf(key, value);
        }

        if (CheckMemory(bytes) is { } refused)
        {
            return new WriteResult(default, refused);
        }

        return new WriteResult(await writes.ProposeAsync(command, token), null);
    }

    /// <summary>
    /// A write that can never fit the budget, or any write that adds bytes while the state is past
    /// the hard limit (eviction behind, or pinned keys fill the budget), is refused: nothing is proposed.
    /// </summary>
    private MemoryRefusal? CheckMemory(long addedBytes)
    {
        var budget = _eviction.ResolveBudget();
        if (addedBytes > budget)
        {
            return new MemoryRefusal(Never: true, addedBytes, budget);
        }

        return State.SizeBytes + addedBytes > budget * _eviction.HardLimitFactor
            ? new MemoryRefusal(Never: false, addedBytes, budget)
            : null;
    }

    /// <summary>Linearizable: wait for a confirmed read index to be applied here. Stale: note how far behind this node may be.</summary>
    private async Task<ReadPosition> EstablishAsync(bool linearizable, CancellationToken token)
    {
        if (linearizable)
        {
            var index = await readIndex.EnsureLinearizableAsync(token);
            return new ReadPosition(true, index, stateMachine.Applied.Value, 0);
        }

        telemetry.StaleRead();
        Activity.Current?.SetTag("cache.commit_index", cluster.CommitIndex);
        return new ReadPosition(false, 0, stateMachine.Applied.Value, cluster.CommitIndex);
    }
}

using AspireCache.Node.HotKeys;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace AspireCache.Node.Diagnostics;

/// <summary>The node's ActivitySource and Meter, both named <c>AspireCache.Node</c>.</summary>
public sealed class NodeTelemetry : IDisposable
{
    public const string Name = "AspireCache.Node";

    public static readonly ActivitySource Source = new(Name);

    private readonly Meter _meter;
    private readonly Histogram<double> _commitLatency;
    private readonly Histogram<double> _readIndexLatency;
    private readonly Counter<long> _proposals;
    private readonly Histogram<int> _entryCommands;
    private readonly Counter<long> _proposalBytes;
    private readonly Counter<long> _staleReads;
    private readonly Counter<long> _rejected;
    private readonly Counter<long> _clusterAuthRejected;
    private readonly Counter<long> _leaderChanges;
    private readonly Histogram<double> _leadershipReady;
    private readonly Histogram<double> _leaderSilence;
    private readonly Counter<long> _peerRefusals;
    private readonly Counter<long> _raftLogSuppressed;
    private readonly Counter<long> _appliedEntries;
    private static readonly KeyValuePair<string, object?>[] Format1 = [new("format", 1)];
    private static readonly KeyValuePair<string, object?>[] Format2 = [new("format", 2)];
    private readonly Histogram<double> _snapshotDuration;
    private readonly Counter<long> _snapshotsHeld;
    private readonly Counter<long> _removed;
    private readonly Histogram<double> _appendFlush;
    private long _term;
    private long _snapshotBytes;
    private Func<long>? _commitIndex;
    private Func<long>? _appliedIndex;

    public NodeTelemetry(IMeterFactory meterFactory)
    {
        _meter = meterFactory.Create(Name);
        _commitLatency = _meter.CreateHistogram<double>("aspirecache.write.commit_latency", "ms", "Propose to commit-and-apply on the leader.");
        _readIndexLatency = _meter.CreateHistogram<double>("aspirecache.read.read_index_latency", "ms", "Obtaining a confirmed read index and waiting for it to be applied.");
        _proposals = _meter.CreateCounter<long>("aspirecache.write.proposals", "{proposal}", "Log entries proposed by this node.");
        _entryCommands = _meter.CreateHistogram<int>("aspirecache.write.commands_per_entry", "{command}", "Client commands coalesced into one log entry (group commit).");
        _proposalBytes = _meter.CreateCounter<long>("aspirecache.write.proposal_bytes", "By", "Bytes of log entries proposed.");
        _staleReads = _meter.CreateCounter<long>("aspirecache.read.stale", "{read}", "Reads served without ReadIndex because the caller asked for consistent=false.");
        _leaderChanges = _meter.CreateCounter<long>("aspirecache.raft.leader_changes", "{change}", "Leader changes seen by this node (including loss of the leader).");
        _leaderSilence = _meter.CreateHistogram<double>("aspirecache.raft.leader_silence", "ms", "Time between two AppendEntries of one term arriving at this follower; an election starts when it exceeds the election timeout.");
        _appliedEntries = _meter.CreateCounter<long>("aspirecache.raft.applied_entries", "{entry}", "Log entries with commands applied to this node's state, by the format the leader wrote them in (format: 1 or 2). During a rolling upgrade with Cluster:LogFormatVersion=1, no format-2 entries may appear until every node runs the new version.");
        _raftLogSuppressed = _meter.CreateCounter<long>("aspirecache.raft.log_suppressed", "{line}", "DotNext's repeated per-request peer warnings (member unavailable, member too far behind) not written to the log: one line per event per peer per 10 s is (event: DotNext's event id).");
        _peerRefusals = _meter.CreateCounter<long>("aspirecache.raft.peer_refusals", "{request}", "Raft requests to a peer that refused connections: on the wire, or failed at once because it refused one just before (outcome).");
        _leadershipReady = _meter.CreateHistogram<double>("aspirecache.raft.leadership_ready", "ms", "From this node's election as leader to its term's first entry committed (it serves linearizable reads from then on; writes it proposes from its election, and they commit with that entry).");
        _meter.CreateObservableGauge("aspirecache.raft.term", () => Volatile.Read(ref _term), "{term}", "The Raft term as of the last leader change.");
        _rejected = _meter.CreateCounter<long>("aspirecache.requests.rejected", "{request}", "Requests refused, by reason.");
        _clusterAuthRejected = _meter.CreateCounter<long>("aspirecache.cluster.auth.rejected", "{request}", "Node-to-node requests (Raft RPCs, read-index, access reports) refused by the cluster-secret check, by reason.");
        _removed = _meter.CreateCounter<long>("aspirecache.keys.removed", "{key}", "Keys the leader removed on its own: TTL expiry or LRU eviction (reason).");
        _appendFlush = _meter.CreateHistogram<double>("aspirecache.raft.append_flush_duration", "ms", "Follower: making appended entries durable before acknowledging them to the leader.");
        _snapshotDuration = _meter.CreateHistogram<double>("aspirecache.snapshot.duration", "ms", "Time to write a snapshot of the state.");
        _snapshotsHeld = _meter.CreateCounter<long>("aspirecache.snapshot.held", "{snapshot}", "Snapshots held back while the leader brought a follower back (its log's compaction would have stopped writes).");
        _meter.CreateObservableGauge("aspirecache.snapshot.size", () => Volatile.Read(ref _snapshotBytes), "By", "Size of the last snapshot.");
        _meter.CreateObservableGauge("aspirecache.raft.commit_index", () => _commitIndex?.Invoke() ?? 0, "{entry}", "Highest log index known to be committed.");
        _meter.CreateObservableGauge("aspirecache.raft.applied_index", () => _appliedIndex?.Invoke() ?? 0, "{entry}", "Highest log index applied to the local state.");
    }

    /// <summary>DotNext meters worth exporting next to ours.</summary>
    public static readonly string[] RaftMeters =
    [
        "DotNext.Net.Cluster.Consensus.Raft.Server",
        "DotNext.Net.Cluster.Consensus.Raft.Client",
        "DotNext.IO.WriteAheadLog",
    ];

    /// <summary>The idempotency table: its records, bytes, and records dropped for the byte bound while still inside the window.</summary>
    public void ObserveIdempotency(Func<long> records, Func<long> bytes, Func<long> evictedInsideWindow)
    {
        _meter.CreateObservableGauge("aspirecache.idempotency.records", records, "{record}", "Idempotency records kept (bounded by Cluster:IdempotencyWindow and Cluster:IdempotencyMaxBytes).");
        _meter.CreateObservableGauge("aspirecache.idempotency.size", bytes, "By", "Bytes held by the idempotency table.");
        _meter.CreateObservableCounter("aspirecache.idempotency.evicted_inside_window", evictedInsideWindow, "{record}", "Records dropped for the byte bound before their window ended: a retry of such a write after that is applied again.");
    }

    public void ObserveMemory(Func<long> sizeBytes, Func<long> budgetBytes, Func<long> keys)
    {
        _meter.CreateObservableGauge("aspirecache.memory.size", sizeBytes, "By", "Bytes of keys, values and per-entry overhead held by the state.");
        _meter.CreateObservableGauge("aspirecache.memory.budget", budgetBytes, "By", "The memory budget that triggers LRU eviction.");
        _meter.CreateObservableGauge("aspirecache.keys", keys, "{key}", "Keys in the state.");
    }

    /// <summary>The five hottest keys' estimated read counts (bounded cardinality: top 5 only).</summary>
    public void ObserveHotKeys(HotKeyTracker tracker) =>
        _meter.CreateObservableGauge(
            "aspirecache.read.hot_keys",
            () => tracker.Top(5).Select(h => new Measurement<long>(h.EstimatedCount, new KeyValuePair<string, object?>("key", h.Key))),
            "{read}",
            "Estimated recent reads of this node's hottest keys (decaying count-min sketch).");

    /// <summary>The LRU access table (<see cref="Eviction.AccessTracker"/>): keys tracked, and keys a follower holds for its next report.</summary>
    public void ObserveAccessTracker(Func<int> trackedKeys, Func<int> unreportedKeys)
    {
        _meter.CreateObservableGauge("aspirecache.eviction.tracked_keys", trackedKeys, "{key}", "Keys in the leader's LRU access table (bounded by Cache:Eviction:MaxTrackedKeys; 0 on followers).");
        _meter.CreateObservableGauge("aspirecache.eviction.unreported_keys", unreportedKeys, "{key}", "Keys a follower read since its last access report (bounded by Cache:Eviction:MaxReportedKeys).");
    }

    /// <summary>Linearizable reads waiting (for a read index, or for it to be applied) and the applied-index waiter queue.</summary>
    public void ObserveReadWaiters(Func<int> waitingReads, Func<int> applyWaiters)
    {
        _meter.CreateObservableGauge("aspirecache.read.waiting", waitingReads, "{read}", "Linearizable reads waiting for a confirmed read index or for it to be applied here (bounded by Cluster:MaxReadWaiters).");
        _meter.CreateObservableGauge("aspirecache.read.apply_waiters", applyWaiters, "{read}", "Reads queued on the applied index, waiting for apply to reach their read index.");
    }

    public void ObserveIndexes(Func<long> commitIndex, Func<long> appliedIndex)
    {
        _commitIndex = commitIndex;
        _appliedIndex = appliedIndex;
    }

    public void SnapshotHeld() => _snapshotsHeld.Add(1);

    public void SnapshotTaken(double milliseconds, long bytes)
    {
        _snapshotDuration.Record(milliseconds);
        Volatile.Write(ref _snapshotBytes, bytes);
    }

    public void Committed(double milliseconds, int commands, int bytes)
    {
        _proposals.Add(1);
        _commitLatency.Record(milliseconds);
        _entryCommands.Record(commands);
        _proposalBytes.Add(bytes);
    }

    public void ReadIndexServed(double milliseconds, bool local) =>
        _readIndexLatency.Record(milliseconds, new KeyValuePair<string, object?>("source", local ? "leader" : "follower"));

    public void StaleRead() => _staleReads.Add(1);

    public void AppendFlushed(double milliseconds) => _appendFlush.Record(milliseconds);

    public void Removed(int keys, StateMachine.RemovalReason reason) =>
        _removed.Add(keys, new KeyValuePair<string, object?>("reason", reason == StateMachine.RemovalReason.Expired ? "expired" : "evicted"));

    public void LeaderChanged(string? leader, long term)
    {
        _leaderChanges.Add(1, new KeyValuePair<string, object?>("leader", leader ?? "none"));
        Volatile.Write(ref _term, term);
    }

    public void LeadershipReady(double milliseconds) => _leadershipReady.Record(milliseconds);

    public void LeaderSilence(double milliseconds) => _leaderSilence.Record(milliseconds);

    /// <summary>Counts an applied entry by its format version byte (the payload's first).</summary>
    public void EntryApplied(byte format)
    {
        if (_appliedEntries.Enabled)
        {
            _appliedEntries.Add(1, format == 1 ? Format1 : Format2);
        }
    }

    public void RaftLogSuppressed(int eventId) => _raftLogSuppressed.Add(1, new KeyValuePair<string, object?>("event", eventId));

    public void PeerRefused(bool fast) => _peerRefusals.Add(1, new KeyValuePair<string, object?>("outcome", fast ? "failed_fast" : "refused"));

    public void ClusterAuthRejected(string reason) => _clusterAuthRejected.Add(1, new KeyValuePair<string, object?>("reason", reason));

    /// <summary>The replay-protection nonce cache of node-to-node authentication: nonces held, and its bound.</summary>
    public void ObserveClusterNonces(Func<int> count, int capacity)
    {
        _meter.CreateObservableGauge("aspirecache.cluster.auth.nonces", count, "{nonce}", "Nonces of accepted node-to-node requests remembered against replay.");
        _meter.CreateObservableGauge("aspirecache.cluster.auth.nonce_capacity", () => capacity, "{nonce}", "Bound of the nonce cache (Cluster:AuthNonceCapacity); when full, requests are refused with 503.");
    }

    public void Rejected(string reason) => _rejected.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void Dispose() => _meter.Dispose();
}
